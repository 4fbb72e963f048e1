/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox for real: builds one, enters it the way a session does, and
 * checks from inside what the job can see and do, and from outside what
 * its files look like.  Needs root. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fileio.h"
#include "job-disk.h"
#include "log.h"
#include "rm-rf.h"
#include "sandbox.h"
#include "test-util.h"

/* Far from the default pool, so a running hostd's jobs are not disturbed. */
#define BASE 2999975936U
#define JOB "j0000feedbeef"

static char dir[] = "/tmp/test-sandbox-XXXXXX";
static char state[256], job_dir[512], home[600];

static unsigned count_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Runs inside the sandbox; one line per check on fd out. */
static void inside_checks(int out, bool disk) {
        FILE *f = fdopen(out, "w");
        char buf[256] = "", path[600];
        struct stat st;
        int fd;

#define REPORT(cond, name) fprintf(f, "%s %s\n", (cond) ? "ok" : "FAIL", name)
        REPORT(getuid() == 0 && geteuid() == 0, "uid 0 inside");
        fd = open("/proc/1/comm", O_RDONLY);
        if (fd >= 0) {
                ssize_t k = read(fd, buf, sizeof(buf) - 1);
                buf[k > 0 ? k : 0] = 0;
                close(fd);
        }
        REPORT(strneq(buf, SANDBOX_INIT_COMM, strlen(SANDBOX_INIT_COMM)), "PID 1 is the job's init");
        REPORT(count_entries("/proc") < 80, "own /proc: few entries");
        {
                unsigned pids = 0;
                DIR *d = opendir("/proc");
                struct dirent *de;
                while (d && (de = readdir(d)))
                        if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
                                pids++;
                if (d)
                        closedir(d);
                REPORT(pids <= 3, "sees only its own processes");
        }
        fd = open("/etc/passwd", O_WRONLY);
        REPORT(fd < 0 && (errno == EROFS || errno == EACCES), "host /etc read-only");
        fd = open("/usr/hostd-test-write", O_WRONLY | O_CREAT, 0644);
        REPORT(fd < 0, "cannot write /usr");
        snprintf(path, sizeof(path), "%s/secret", state);
        REPORT(stat(path, &st) < 0 && errno == ENOENT, "state dir hidden");
        snprintf(path, sizeof(path), "%s/jobs", state);
        REPORT(count_entries(path) == 1, "other jobs invisible");
        REPORT(count_entries("/root") == 0, "/root hidden");
        REPORT(getcwd(buf, sizeof(buf)) && streq(buf, home), "cwd is home");
        fd = open("made-inside", O_WRONLY | O_CREAT | O_EXCL, 0644);
        REPORT(fd >= 0 && write(fd, "x", 1) == 1, "home writable");
        safe_close(fd);
        fd = open("/tmp/t", O_WRONLY | O_CREAT, 0644);
        REPORT(fd >= 0, "/tmp writable");
        safe_close(fd);
        fd = open("/var/tmp/t", O_WRONLY | O_CREAT, 0644);
        REPORT(fd >= 0, "/var/tmp writable");
        safe_close(fd);
        fd = open("/dev/null", O_WRONLY);
        REPORT(fd >= 0 && write(fd, "x", 1) == 1, "/dev/null works");
        safe_close(fd);
        REPORT(stat("/dev/sda", &st) < 0 && stat("/dev/vda", &st) < 0 && stat("/dev/mem", &st) < 0, "no disks in /dev");
        REPORT(count_entries("/dev") < 20, "minimal /dev");
        REPORT(gethostname(buf, sizeof(buf)) == 0 && streq(buf, JOB), "hostname is the job id");
        REPORT(umount2(home, 0) < 0 && umount2("/tmp", MNT_DETACH) < 0, "our mounts are locked");
        REPORT(mount("tmpfs", "/mnt", "tmpfs", 0, NULL) == 0, "can mount in its own namespace (podman)");
        REPORT(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0, "can nest namespaces (podman)");
        if (disk) {
                /* Fill the disk: ENOSPC for the job, not the host. */
                char block[65536] = { 0 };
                uint64_t written = 0;
                int e = 0;

                fd = open("fill", O_WRONLY | O_CREAT, 0644);
                for (;;) {
                        ssize_t k = write(fd, block, sizeof(block));
                        if (k <= 0) {
                                e = errno;
                                break;
                        }
                        written += (uint64_t) k;
                        if (written > (512ULL << 20))
                                break;
                }
                close(fd);
                REPORT(e == ENOSPC || e == EDQUOT, "disk full gives ENOSPC");
                REPORT(written < (80ULL << 20), "quota holds near 64 MiB");
        }
        fclose(f);
#undef REPORT
}

static void run_inside(const Sandbox *sb, bool disk) {
        int p[2], status;
        pid_t outer;
        char buf[8192];
        ssize_t n = 0, k;

        CHECK(pipe(p) == 0);
        outer = fork();
        if (outer == 0) {
                pid_t inner;

                close(p[0]);
                /* As the monitor does: children go to the job's pid namespace. */
                if (sandbox_join_pid_namespace(sb) < 0)
                        _exit(2);
                inner = fork();
                if (inner == 0) {
                        if (sandbox_enter(sb->pidfd, sb->anchor, home) < 0)
                                _exit(3);
                        inside_checks(p[1], disk);
                        _exit(0);
                }
                _exit(waitpid(inner, &status, 0) == inner && WIFEXITED(status) ? WEXITSTATUS(status) : 4);
        }
        close(p[1]);
        while ((k = read(p[0], buf + n, sizeof(buf) - 1 - (size_t) n)) > 0)
                n += k;
        buf[n > 0 ? n : 0] = 0;
        close(p[0]);
        CHECK(waitpid(outer, &status, 0) == outer && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                CHECK_MSG(startswith(line, "ok "), "%s", line);
                if (startswith(line, "ok "))
                        printf("  %s\n", line);
        }
        CHECK(n > 0);
}

/* Killing the job's PID 1 ends its pid namespace; the anchor, outside it
 * in ours, follows its init. */
static void kill_job(Sandbox *sb) {
        struct pollfd pf = { .fd = sb->pidfd, .events = POLLIN };

        CHECK(kill(sb->init, SIGKILL) == 0);
        CHECK(poll(&pf, 1, 5000) == 1);
        sandbox_close(sb);
}

static SandboxSpec spec(int job_fd, bool disk) {
        return (SandboxSpec) {
                .job = JOB,
                .uid_base = BASE,
                .state_dir = state,
                .job_dir_fd = job_fd,
                .job_dir = job_dir,
                .home = home,
                .disk = disk,
                .network = JOB_NETWORK_HOST,
        };
}

/* The fallback for kernels without mount_setattr(): every mount below the
 * view becomes read-only, nosuid and nodev, the original stays writable,
 * and it works in a user namespace, where the kernel locked the host's
 * noexec (dropping it would fail with EPERM). */
static void test_remount_read_only_fallback(void) {
        char t[512], sub[600], view[512], f[700];
        pid_t pid;
        int status;

        snprintf(t, sizeof(t), "%s/ro-tree", dir);
        snprintf(sub, sizeof(sub), "%s/sub", t);
        snprintf(view, sizeof(view), "%s/ro-view", dir);
        CHECK(mkdir(t, 0755) == 0 && mkdir(view, 0755) == 0);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                struct statvfs sv;
                bool ok;

                ok = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                     mount("tmpfs", t, "tmpfs", 0, "size=1m") == 0 && mkdir(sub, 0755) == 0 &&
                     mount("tmpfs", sub, "tmpfs", MS_NOEXEC, "size=1m") == 0 &&
                     mount(t, view, NULL, MS_BIND | MS_REC, NULL) == 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0;
                if (!ok || sandbox_remount_read_only(view) < 0)
                        _exit(10);
                snprintf(f, sizeof(f), "%s/x", view);
                if (open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) >= 0 || errno != EROFS)
                        _exit(11);
                snprintf(f, sizeof(f), "%s/sub/x", view);
                if (open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) >= 0 || errno != EROFS)
                        _exit(12);
                snprintf(f, sizeof(f), "%s/sub", view);
                if (statvfs(f, &sv) < 0 || !(sv.f_flag & ST_NOEXEC) || !(sv.f_flag & ST_NOSUID) || !(sv.f_flag & ST_NODEV))
                        _exit(13);
                snprintf(f, sizeof(f), "%s/sub/x", t);
                if (open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) < 0)
                        _exit(14);
                _exit(0);
        }
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "remount fallback: child status %d", status);
}

int main(void) {
        _cleanup_close_ int job_fd = -1;
        Sandbox sb;
        struct stat st;
        char path[1024];

        log_setup("test-sandbox", LOG_TARGET_STDERR);
        if (geteuid() != 0) {
                printf("test-sandbox: needs root, skipping\n");
                return 77;
        }
        if (test_under_qemu_user()) {
                printf("test-sandbox: every part needs a user namespace, which qemu-user cannot make; skipping\n");
                return 77;
        }
        if (!mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        test_remount_read_only_fallback();
        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(job_dir, sizeof(job_dir), "%s/jobs/" JOB, state);
        snprintf(home, sizeof(home), "%s/home", job_dir);
        CHECK(mkdir_parents_safe(home, 0755) == 0);
        CHECK(chown(home, BASE, BASE) == 0);
        {
                _cleanup_close_ int sfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                CHECK(write_file_atomic_at(sfd, "secret", "s", 1, 0600) == 0);
        }
        job_fd = open(job_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* Without a disk image: home is the job dir's. */
        {
                SandboxSpec s = spec(job_fd, false);
                CHECK(sandbox_create(&s, &sb) == 0);
                run_inside(&sb, false);
                snprintf(path, sizeof(path), "%s/made-inside", home);
                CHECK_MSG(stat(path, &st) == 0 && st.st_uid == BASE, "file made inside is owned by the job's range");
                kill_job(&sb);
        }

        /* With a 64 MiB disk image: the quota holds. */
        if (job_disk_supported()) {
                SandboxSpec s = spec(job_fd, true);
                CHECK(job_disk_create(job_fd, "disk.img", 64ULL << 20, BASE) == 0);
                CHECK(sandbox_create(&s, &sb) == 0);
                run_inside(&sb, true);
                snprintf(path, sizeof(path), "/proc/%d/root%s/made-inside", (int) sb.anchor, home);
                CHECK_MSG(stat(path, &st) == 0 && st.st_uid == BASE, "file on the disk owned by the job's range");
                /* As after a restart: the anchor, found by its pid, hands
                 * back the disk's root, and the check knows it. */
                {
                        Sandbox again;
                        struct stat a, b;
                        int fd;

                        CHECK(sandbox_adopt(sb.anchor, sb.init, BASE, &again) == 0);
                        CHECK_MSG(again.init == sb.init, "adoption keeps the job's init");
                        fd = sandbox_take_disk_fd(&again);
                        CHECK_MSG(fd >= 0 && fstat(fd, &a) == 0 && fstat(sb.disk_fd, &b) == 0 && a.st_dev == b.st_dev &&
                                  a.st_ino == b.st_ino, "the anchor hands back the disk's root");
                        CHECK(job_disk_check_root(fd, job_fd, "disk.img") == 0);
                        /* Anything else is refused: the job dir, the disk's home. */
                        CHECK(job_disk_check_root(job_fd, job_fd, "disk.img") == -EXDEV);
                        {
                                _cleanup_close_ int h = openat(fd, "home", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                CHECK(h >= 0 && job_disk_check_root(h, job_fd, "disk.img") == -EXDEV);
                        }
                        safe_close(fd);
                        sandbox_close(&again);
                        CHECK_MSG(sandbox_adopt(sb.anchor, getpid(), BASE, &again) == 0 && again.init == 0,
                                  "a wrong init is not kept");
                        sandbox_close(&again);
                        CHECK_MSG(sandbox_adopt(sb.anchor, sb.init, BASE + 65536, &again) == -ESRCH,
                                  "another range's anchor is refused");
                }
                kill_job(&sb);
                /* The namespaces are gone: so is the mount, and the image can go
                 * (the kernel lets go of the mount asynchronously). */
                CHECK(job_disk_remove_wait(job_fd, "disk.img", 5 * USEC_PER_SEC) == 0);
        } else
                printf("test-sandbox: no loop devices here, disk quota not tested\n");

        job_fd = safe_close(job_fd);
        CHECK(rm_rf_path(dir) == 0);
        return test_summary("test-sandbox");
}
