/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"
#include "test-util.h"
#include "rm-rf.h"



static char base[64];
static int base_fd = -1;

static bool exists_at(int dfd, const char *path) {
        struct stat st;
        return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

static void mkdir_p(const char *path, mode_t mode) {
        SETUP(mkdirat(base_fd, path, mode) >= 0, "mkdir %s: %m", path);
}

static void touch(const char *path, const char *content) {
        _cleanup_close_ int fd = openat(base_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        SETUP(fd >= 0, "create %s: %m", path);
        if (fd >= 0 && content)
                SETUP(write(fd, content, strlen(content)) == (ssize_t) strlen(content), "write %s", path);
}

static bool file_has(const char *path, const char *content) {
        char buf[256];
        _cleanup_close_ int fd = openat(base_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return false;
        buf[n] = 0;
        return streq(buf, content);
}

static void abs_path(char *buf, size_t size, const char *rel) {
        snprintf(buf, size, "%s/%s", base, rel);
}

static void test_normal_tree(void) {
        RmRfStats st;
        int r;

        mkdir_p("outside", 0755);
        touch("outside/linked", "keep");
        mkdir_p("t1", 0755);
        mkdir_p("t1/a", 0755);
        mkdir_p("t1/a/b", 0755);
        touch("t1/f", "x");
        touch("t1/a/g", "y");
        touch("t1/a/b/h", NULL);
        CHECK_MSG(mkfifoat(base_fd, "t1/a/fifo", 0600) >= 0, "mkfifo: %m");
        CHECK_MSG(mknodat(base_fd, "t1/a/sock", S_IFSOCK | 0600, 0) >= 0, "mknod sock: %m");
        CHECK_MSG(mknodat(base_fd, "t1/a/b/null", S_IFCHR | 0666, makedev(1, 3)) >= 0, "mknod chr: %m");
        CHECK_MSG(linkat(base_fd, "outside/linked", base_fd, "t1/a/hardlink", 0) >= 0, "link: %m");
        CHECK_MSG(symlinkat("/etc/passwd", base_fd, "t1/dangling-ish") >= 0, "symlink: %m");

        r = rm_rf_at_full(base_fd, "t1", &st);
        CHECK_MSG(r == 0, "r=%d", r);
        CHECK_MSG(!exists_at(base_fd, "t1"), "t1 still there");
        CHECK_MSG(st.files == 8 && st.dirs == 3 && st.mounts_skipped == 0,
              "files=%llu dirs=%llu mounts=%llu", (unsigned long long) st.files,
              (unsigned long long) st.dirs, (unsigned long long) st.mounts_skipped);
        CHECK_MSG(file_has("outside/linked", "keep"), "hard link target lost");
        CHECK_MSG(access("/etc/passwd", F_OK) >= 0, "symlink target lost");
}

static void test_symlinks_out(void) {
        int r;

        mkdir_p("outdir", 0755);
        touch("outdir/precious", "p");
        mkdir_p("outdir/sub", 0755);
        touch("outdir/sub/precious2", "q");
        touch("outfile", "o");

        mkdir_p("t2", 0755);
        mkdir_p("t2/d", 0755);
        CHECK_MSG(symlinkat("../../outdir", base_fd, "t2/d/to-dir") >= 0, "symlink: %m");
        CHECK_MSG(symlinkat("../outfile", base_fd, "t2/to-file") >= 0, "symlink: %m");
        {
                char target[PATH_MAX];
                abs_path(target, sizeof(target), "outdir");
                CHECK_MSG(symlinkat(target, base_fd, "t2/abs-to-dir") >= 0, "symlink: %m");
        }

        r = rm_rf_at(base_fd, "t2");
        CHECK_MSG(r == 0, "r=%d", r);
        CHECK_MSG(!exists_at(base_fd, "t2"), "t2 still there");
        CHECK_MSG(file_has("outdir/precious", "p"), "outside dir content lost");
        CHECK_MSG(file_has("outdir/sub/precious2", "q"), "outside dir content lost");
        CHECK_MSG(file_has("outfile", "o"), "outside file lost");
}

static void test_readonly_dirs(void) {
        RmRfStats st;
        int r;

        mkdir_p("t3", 0755);
        mkdir_p("t3/ro", 0755);
        mkdir_p("t3/none", 0755);
        mkdir_p("t3/none/inner", 0755);
        touch("t3/ro/f", "1");
        touch("t3/none/inner/f", "2");
        touch("t3/none/g", "3");
        CHECK_MSG(fchmodat(base_fd, "t3/none/inner", 0000, 0) >= 0, "chmod: %m");
        CHECK_MSG(fchmodat(base_fd, "t3/ro", 0500, 0) >= 0, "chmod: %m");
        CHECK_MSG(fchmodat(base_fd, "t3/none", 0000, 0) >= 0, "chmod: %m");
        CHECK_MSG(fchmodat(base_fd, "t3", 0500, 0) >= 0, "chmod: %m");

        r = rm_rf_at_full(base_fd, "t3", &st);
        CHECK_MSG(r == 0, "r=%d", r);
        CHECK_MSG(!exists_at(base_fd, "t3"), "t3 still there");
        CHECK_MSG(st.files == 3 && st.dirs == 4, "files=%llu dirs=%llu",
              (unsigned long long) st.files, (unsigned long long) st.dirs);
}

static void make_deep(const char *top, unsigned levels) {
        _cleanup_close_ int fd = -1;

        mkdir_p(top, 0755);
        fd = openat(base_fd, top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                CHECK_MSG(false, "open %s: %m", top);
        for (unsigned i = 0; fd >= 0 && i < levels; i++) {
                int nfd;

                if (i % 100 == 0) {
                        int ffd = openat(fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                        if (ffd >= 0)
                                close(ffd);
                }
                if (mkdirat(fd, "d", 0755) < 0) {
                        CHECK_MSG(false, "mkdir level %u: %m", i);
                        return;
                }
                nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (nfd < 0)
                        CHECK_MSG(false, "open level %u: %m", i);
                close(fd);
                fd = nfd;
        }
}

static void test_deep(const char *name, unsigned levels) {
        unsigned fds_before = test_count_fds();
        RmRfStats st;
        int r;

        make_deep(name, levels);
        r = rm_rf_at_full(base_fd, name, &st);
        CHECK_MSG(r == 0, "%s: r=%d", name, r);
        CHECK_MSG(!exists_at(base_fd, name), "%s still there", name);
        CHECK_MSG(st.dirs == levels + 1, "%s: dirs=%llu", name, (unsigned long long) st.dirs);
        CHECK_MSG(st.files == (levels + 99) / 100, "%s: files=%llu", name, (unsigned long long) st.files);
        CHECK_MSG(test_count_fds() == fds_before, "%s: fd leak %u -> %u", name, fds_before, test_count_fds());
}

static void test_absent_and_invalid(void) {
        CHECK_MSG(rm_rf_at(base_fd, "does-not-exist") == 0, "absent");
        CHECK_MSG(rm_rf_at(base_fd, "") == -EINVAL, "empty");
        CHECK_MSG(rm_rf_at(base_fd, ".") == -EINVAL, ".");
        CHECK_MSG(rm_rf_at(base_fd, "..") == -EINVAL, "..");
        CHECK_MSG(rm_rf_at(base_fd, "outdir/sub") == -EINVAL, "slash");
        CHECK_MSG(file_has("outdir/sub/precious2", "q"), "slash name removed something");
}

static void test_bind_mounts(void) {
        char src[PATH_MAX], dst[PATH_MAX];
        RmRfStats st;
        int r;

        mkdir_p("bindsrc", 0755);
        touch("bindsrc/precious", "b");
        touch("bindfile", "bf");
        mkdir_p("t4", 0755);
        mkdir_p("t4/x", 0755);
        mkdir_p("t4/x/mnt", 0755);
        touch("t4/x/mnt/hidden", NULL);
        mkdir_p("t4/y", 0755);
        touch("t4/y/z", NULL);

        abs_path(src, sizeof(src), "bindsrc");
        abs_path(dst, sizeof(dst), "t4/x/mnt");
        r = mount(src, dst, "none", MS_BIND, NULL);
        CHECK_MSG(r >= 0, "bind mount: %m");
        if (r < 0)
                return;

        r = rm_rf_at_full(base_fd, "t4", &st);
        CHECK_MSG(r == -EBUSY, "r=%d", r);
        CHECK_MSG(st.mounts_skipped == 1, "mounts=%llu", (unsigned long long) st.mounts_skipped);
        CHECK_MSG(file_has("bindsrc/precious", "b"), "bind source content lost");
        CHECK_MSG(file_has("t4/x/mnt/precious", "b"), "mount point gone");
        CHECK_MSG(!exists_at(base_fd, "t4/y"), "sibling of mount not removed");

        /* A bind-mounted file is a mount point too. */
        abs_path(src, sizeof(src), "bindfile");
        abs_path(dst, sizeof(dst), "t4/x/filemnt");
        touch("t4/x/filemnt", NULL);
        CHECK_MSG(mount(src, dst, "none", MS_BIND, NULL) >= 0, "file bind mount: %m");
        r = rm_rf_at_full(base_fd, "t4", &st);
        CHECK_MSG(r == -EBUSY && st.mounts_skipped == 2, "r=%d mounts=%llu", r,
              (unsigned long long) st.mounts_skipped);
        CHECK_MSG(file_has("bindfile", "bf"), "bind file lost");
        CHECK_MSG(umount2(dst, 0) >= 0, "umount file: %m");

        /* The top itself a mount point: nothing below it is touched. */
        abs_path(src, sizeof(src), "bindsrc");
        abs_path(dst, sizeof(dst), "t4/x/mnt");
        CHECK_MSG(rm_rf_at_full(base_fd, "mnt", &st) == 0, "absent");
        {
                _cleanup_close_ int xfd = openat(base_fd, "t4/x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                CHECK_MSG(xfd >= 0, "open t4/x: %m");
                r = rm_rf_at_full(xfd, "mnt", &st);
                CHECK_MSG(r == -EBUSY && st.mounts_skipped == 1 && st.files == 0, "top mount: r=%d", r);
                CHECK_MSG(file_has("bindsrc/precious", "b"), "bind source content lost via top");
        }

        CHECK_MSG(umount2(dst, 0) >= 0, "umount: %m");
        r = rm_rf_at_full(base_fd, "t4", &st);
        CHECK_MSG(r == 0 && st.mounts_skipped == 0, "after umount r=%d", r);
        CHECK_MSG(!exists_at(base_fd, "t4"), "t4 still there");
        CHECK_MSG(file_has("bindsrc/precious", "b"), "bind source content lost");
}

static void test_other_fs(void) {
        char dst[PATH_MAX];
        RmRfStats st;
        int r;

        mkdir_p("t5", 0755);
        mkdir_p("t5/tmpfs", 0755);
        abs_path(dst, sizeof(dst), "t5/tmpfs");
        r = mount("tmpfs", dst, "tmpfs", 0, "size=1m");
        CHECK_MSG(r >= 0, "tmpfs: %m");
        if (r < 0)
                return;
        touch("t5/tmpfs/keep", "k");
        r = rm_rf_at_full(base_fd, "t5", &st);
        CHECK_MSG(r == -EBUSY && st.mounts_skipped == 1, "r=%d", r);
        CHECK_MSG(file_has("t5/tmpfs/keep", "k"), "tmpfs content lost");
        CHECK_MSG(umount2(dst, 0) >= 0, "umount: %m");
        CHECK_MSG(rm_rf_at(base_fd, "t5") == 0, "t5 after umount");
}

static void test_top_symlink(void) {
        RmRfStats st;
        int r;

        CHECK_MSG(symlinkat("outdir", base_fd, "t6") >= 0, "symlink: %m");
        r = rm_rf_at_full(base_fd, "t6", &st);
        CHECK_MSG(r == 0 && st.files == 1 && st.dirs == 0, "r=%d", r);
        CHECK_MSG(!exists_at(base_fd, "t6"), "link still there");
        CHECK_MSG(file_has("outdir/precious", "p"), "top symlink followed");

        touch("t7", "plain");
        CHECK_MSG(rm_rf_at(base_fd, "t7") == 0 && !exists_at(base_fd, "t7"), "plain file top");
}

/* A hostile job renaming directories out of the tree and swapping in
 * symlinks while we delete: nothing outside the tree may be lost. */
static void test_race(void) {
        pid_t pid;
        int r;

        mkdir_p("racer-out", 0755);
        touch("racer-out/sentinel", "s");
        mkdir_p("t8", 0755);
        for (int i = 0; i < 200; i++) {
                char p[64];
                snprintf(p, sizeof(p), "t8/d%d", i);
                mkdir_p(p, 0755);
                for (int j = 0; j < 20; j++) {
                        char q[80];
                        snprintf(q, sizeof(q), "%s/f%d", p, j);
                        touch(q, NULL);
                }
        }

        pid = fork();
        if (pid == 0) {
                for (unsigned i = 0;; i++) {
                        char p[64];
                        snprintf(p, sizeof(p), "t8/d%u", i % 200);
                        (void) renameat(base_fd, p, base_fd, "racer-out/moved");
                        if (symlinkat("../racer-out", base_fd, p) < 0)
                                continue;
                        (void) unlinkat(base_fd, p, 0);
                        (void) renameat(base_fd, "racer-out/moved", base_fd, p);
                }
        }
        CHECK_MSG(pid > 0, "fork: %m");
        if (pid < 0)
                return;
        for (int i = 0; i < 20; i++)
                (void) rm_rf_at(base_fd, "t8");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);

        CHECK_MSG(file_has("racer-out/sentinel", "s"), "sentinel lost in race");
        r = rm_rf_at(base_fd, "t8");
        CHECK_MSG(r == 0, "after race r=%d", r);
        CHECK_MSG(rm_rf_at(base_fd, "racer-out") == 0, "racer-out");
}

int main(void) {
        char tmpl[] = "/tmp/test-rm-rf.XXXXXX";
        unsigned fds_before;
        int r;

        log_setup("test-rm-rf", LOG_TARGET_STDERR);
        if (geteuid() != 0) {
                fprintf(stderr, "test-rm-rf: needs root, skipping\n");
                return 77;
        }
        /* Our own mount namespace, so no mount outlives a crashed test. */
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
                fprintf(stderr, "test-rm-rf: no private mount namespace (%m), continuing\n");

        base_fd = test_mkdtemp(tmpl, base, sizeof(base));
        if (base_fd < 0)
                return 1;
        fds_before = test_count_fds();

        test_normal_tree();
        test_symlinks_out();
        test_readonly_dirs();
        test_deep("deep5000", 5000);
        test_deep("deep10000", 10000);
        test_deep("deep256", 256);
        test_deep("deep257", 257);
        test_absent_and_invalid();
        test_bind_mounts();
        test_other_fs();
        test_top_symlink();
        test_race();

        CHECK_MSG(test_count_fds() == fds_before, "fd leak %u -> %u", fds_before, test_count_fds());

        r = rm_rf_at(AT_FDCWD, base);
        CHECK_MSG(r == -EINVAL, "absolute path name must be refused, r=%d", r);
        {
                _cleanup_close_ int tfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = rm_rf_at(tfd, base + strlen("/tmp/"));
                CHECK_MSG(r == 0, "final cleanup r=%d", r);
                CHECK_MSG(!exists_at(tfd, base + strlen("/tmp/")), "base left behind");
        }
        base_fd = safe_close(base_fd);

        return test_summary("test-rm-rf");
}
