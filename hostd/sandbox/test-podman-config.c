/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit test of podman-config.c (needs no podman).
 *
 *   test-podman-config                  the unit test
 *   test-podman-config --write HOME [host|none]
 *                                       writes the config into HOME for the
 *                                       job owning HOME and prints the env, one
 *                                       "K=V" a line: the by-hand integration
 *                                       check of docs/podman-in-jobs.md */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macros.h"
#include "podman-config.h"
#include "test-util.h"

static char base[] = "/tmp/test-podman-config.XXXXXX";
static uid_t job_uid;
static gid_t job_gid;

/* A native job of ours: no shims. */
static int write_cfg(int fd, const char *home, uid_t uid, gid_t gid, JobNetwork network, const char *runtime, char ***env) {
        PodmanJob pj = { .home = home, .uid_base = uid, .platform = "linux/amd64" };

        return podman_config_write(fd, -1, &pj, uid, gid, network, runtime, env);
}

static char *read_at(int dfd, const char *path) {
        char *s = NULL;
        size_t n;

        if (read_file_at(dfd, path, 64 * 1024, 1, &s, &n) < 0)
                return NULL;
        return s;
}

static bool owned_by_job(int dfd, const char *path, mode_t mode) {
        struct stat st;

        if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        return st.st_uid == job_uid && st.st_gid == job_gid && (st.st_mode & 07777) == mode;
}

static bool strv_has(char **l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

/* No ".#tmp-" leftovers in dir. */
static bool no_temporaries(int dfd, const char *dir) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return false;
        }
        while ((de = readdir(d)))
                if (startswith(de->d_name, ATOMIC_TMP_PREFIX))
                        return false;
        return true;
}

/* A fresh job home below base: returns its fd, path in *ret_path. */
static int make_home(const char *name, char **ret_path) {
        _cleanup_free_ char *p = NULL;
        int fd;

        if (asprintf(&p, "%s/%s", base, name) < 0)
                return -ENOMEM;
        if (mkdir(p, 0700) < 0 || chown(p, job_uid, job_gid) < 0)
                return negative_errno();
        fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_path = TAKE_PTR(p);
        return fd;
}

static void test_write(void) {
        _cleanup_free_ char *home = NULL, *cc = NULL, *sc = NULL, *want = NULL, *cc2 = NULL;
        _cleanup_strv_free_ char **env = NULL, **env2 = NULL;
        _cleanup_close_ int fd = -1;

        fd = make_home("plain", &home);
        CHECK_MSG(fd >= 0, "make_home: %s", strerror(-fd));
        if (fd < 0)
                return;

        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == 0);

        cc = read_at(fd, PODMAN_CONTAINERS_CONF);
        sc = read_at(fd, PODMAN_STORAGE_CONF);
        CHECK(cc && sc);

        CHECK_STR_CONTAINS(sc, "[storage]\n");
        CHECK_STR_CONTAINS(sc, "driver = \"overlay\"\n");
        CHECK(asprintf(&want, "graphroot = \"%s/.local/share/containers/storage\"\n", home) > 0);
        CHECK_STR_CONTAINS(sc, want);
        CHECK_STR_CONTAINS(sc, "runroot = \"/run/user/0/containers\"\n");
        CHECK(!str_contains(sc, "mount_program"));

        CHECK_STR_CONTAINS(cc, "[containers]\n");
        CHECK_STR_CONTAINS(cc, "netns = \"host\"\n");
        CHECK_STR_CONTAINS(cc, "cgroups = \"enabled\"\n");
        CHECK_STR_CONTAINS(cc, "[engine]\n");
        CHECK_STR_CONTAINS(cc, "cgroup_manager = \"cgroupfs\"\n");
        CHECK_STR_CONTAINS(cc, "events_logger = \"file\"\n");
        CHECK_STR_CONTAINS(cc, "runtime = \"runc\"\n");
        CHECK_STR_CONTAINS(cc, "lock_type = \"file\"\n");
        CHECK_STR_CONTAINS(cc, "tmp_dir = \"/run/user/0/libpod/tmp\"\n");
        free(want);
        want = NULL;
        CHECK(asprintf(&want, "static_dir = \"%s/.local/share/containers/storage/libpod\"\n", home) > 0);
        CHECK_STR_CONTAINS(cc, want);
        free(want);
        want = NULL;
        CHECK(asprintf(&want, "image_copy_tmp_dir = \"%s/.local/share/containers/tmp\"\n", home) > 0);
        CHECK_STR_CONTAINS(cc, want);
        /* [containers] keys must come before [engine]. */
        CHECK(cc && strstr(cc, "netns") < strstr(cc, "[engine]"));

        CHECK(owned_by_job(fd, ".config", 0755));
        CHECK(owned_by_job(fd, ".config/containers", 0755));
        CHECK(owned_by_job(fd, PODMAN_CONTAINERS_CONF, 0644));
        CHECK(owned_by_job(fd, PODMAN_STORAGE_CONF, 0644));
        CHECK(owned_by_job(fd, ".local/share/containers", 0700));
        CHECK(owned_by_job(fd, PODMAN_IMAGE_COPY_TMP_DIR, 0700));
        CHECK(no_temporaries(fd, PODMAN_CONFIG_DIR));

        CHECK(strv_length(env) == 6);
        free(want);
        want = NULL;
        CHECK(asprintf(&want, "CONTAINERS_CONF=%s/.config/containers/containers.conf", home) > 0);
        CHECK(strv_has(env, want));
        free(want);
        want = NULL;
        CHECK(asprintf(&want, "CONTAINERS_STORAGE_CONF=%s/.config/containers/storage.conf", home) > 0);
        CHECK(strv_has(env, want));
        CHECK(strv_has(env, "_CONTAINERS_USERNS_CONFIGURED=1"));
        CHECK(strv_has(env, "XDG_RUNTIME_DIR=/run/user/0"));
        free(want);
        want = NULL;
        CHECK(asprintf(&want, "_CONTAINERS_ROOTLESS_UID=%u", (unsigned) job_uid) > 0);
        CHECK(strv_has(env, want));
        CHECK(strv_has(env, "HOSTD_JOB_PLATFORM=linux/amd64"));
        /* A native job keeps the default PATH: no shims. */
        STRV_FOREACH(e, env)
                CHECK(!startswith(*e, "PATH="));

        /* Rewriting (hostd restart) replaces the files in place, with crun now. */
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_NONE, "crun", &env2) == 0);
        cc2 = read_at(fd, PODMAN_CONTAINERS_CONF);
        CHECK_STR_CONTAINS(cc2, "runtime = \"crun\"\n");
        CHECK_STR_CONTAINS(cc2, "cgroups = \"disabled\"\n");
        CHECK_STR_CONTAINS(cc2, "netns = \"host\"\n");
        CHECK(owned_by_job(fd, PODMAN_CONTAINERS_CONF, 0644));
        CHECK(no_temporaries(fd, PODMAN_CONFIG_DIR));

        /* No runtime: podman's default, no env wanted. */
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, NULL, NULL) == 0);
        free(cc2);
        cc2 = read_at(fd, PODMAN_CONTAINERS_CONF);
        CHECK(cc2 && !strstr(cc2, "runtime ="));
}

static void test_planted_symlinks(void) {
        _cleanup_free_ char *home = NULL, *outside = NULL, *target = NULL, *s = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int fd = -1, ofd = -1;
        struct stat st;

        fd = make_home("planted", &home);
        CHECK(fd >= 0);
        if (fd < 0)
                return;
        /* A directory of "root" the job must not be able to write into. */
        CHECK(asprintf(&outside, "%s/outside", base) > 0);
        CHECK(mkdir(outside, 0755) >= 0);
        ofd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(ofd >= 0);

        /* .config -> outside */
        CHECK(symlinkat(outside, fd, ".config") >= 0);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -ELOOP);
        CHECK(env == NULL);
        CHECK(fstatat(ofd, "containers", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);

        /* .config/containers -> outside */
        CHECK(unlinkat(fd, ".config", 0) >= 0);
        CHECK(mkdirat(fd, ".config", 0755) >= 0);
        CHECK(symlinkat(outside, fd, ".config/containers") >= 0);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", NULL) == -ELOOP);
        CHECK(fstatat(ofd, "containers.conf", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        CHECK(fstatat(ofd, "storage.conf", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);

        /* .local -> outside */
        CHECK(unlinkat(fd, ".config/containers", 0) >= 0);
        CHECK(symlinkat(outside, fd, ".local") >= 0);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", NULL) == -ELOOP);
        CHECK(fstatat(ofd, "share", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        CHECK(unlinkat(fd, ".local", 0) >= 0);

        /* .config/containers/containers.conf -> outside/victim: the link is
         * replaced, the victim untouched. */
        CHECK(asprintf(&target, "%s/victim", outside) > 0);
        CHECK(write_file_atomic_at(ofd, "victim", "precious\n", 9, 0644) >= 0);
        /* (the refused call above already made .config/containers) */
        CHECK(mkdir_safe_at(fd, ".config/containers", 0755) >= 0);
        CHECK(symlinkat(target, fd, PODMAN_CONTAINERS_CONF) >= 0);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", NULL) == 0);
        CHECK(fstatat(fd, PODMAN_CONTAINERS_CONF, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode));
        s = read_at(ofd, "victim");
        CHECK(streq_ptr(s, "precious\n"));
        CHECK(fstatat(ofd, "victim", &st, AT_SYMLINK_NOFOLLOW) >= 0 && st.st_uid == getuid());

        /* A directory in place of a file: refused, nothing else harmed. */
        CHECK(unlinkat(fd, PODMAN_STORAGE_CONF, 0) >= 0);
        CHECK(mkdirat(fd, PODMAN_STORAGE_CONF, 0755) >= 0);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", NULL) < 0);
        CHECK(no_temporaries(fd, PODMAN_CONFIG_DIR));

        /* A file in place of a directory. */
        _cleanup_free_ char *home2 = NULL;
        _cleanup_close_ int fd2 = make_home("file-in-place", &home2);
        CHECK(fd2 >= 0);
        CHECK(write_file_atomic_at(fd2, ".config", "x", 1, 0644) >= 0);
        CHECK(write_cfg(fd2, home2, job_uid, job_gid, JOB_NETWORK_HOST, "runc", NULL) == -ENOTDIR);
}

/* Runs shim (the text) with args through sh, the "real" tool printing its
 * arguments one per line; returns what it printed, joined with '|'. */
static char *run_shim(const char *tool, const char *platform, const char *args) {
        _cleanup_free_ char *real = NULL, *shim_path = NULL, *text = NULL, *cmd = NULL;
        char out[4096] = "", *p = out;
        FILE *f;
        size_t n;

        CHECK(asprintf(&real, "%s/real-tool", base) > 0);
        CHECK(asprintf(&shim_path, "%s/shim-%s", base, tool) > 0);
        f = fopen(real, "we");
        if (!f)
                return NULL;
        fputs("#!/bin/sh\nfor a in \"$@\"; do printf '%s|' \"$a\"; done\n", f);
        fclose(f);
        chmod(real, 0755);
        text = podman_platform_shim(tool, real, platform);
        if (!text)
                return NULL;
        f = fopen(shim_path, "we");
        if (!f)
                return NULL;
        fputs(text, f);
        fclose(f);
        CHECK(asprintf(&cmd, "sh %s %s", shim_path, args) > 0);
        f = popen(cmd, "r");
        if (!f)
                return NULL;
        n = fread(p, 1, sizeof(out) - 1, f);
        out[n] = 0;
        pclose(f);
        return strdup(out);
}

static void check_shim(const char *tool, const char *platform, const char *args, const char *want) {
        _cleanup_free_ char *got = run_shim(tool, platform, args);

        CHECK_MSG(got && streq(got, want), "%s %s: got '%s', want '%s'", tool, args, str_or_null(got), want);
}

static void test_platform_shims(void) {
        _cleanup_close_ int run_fd = -1;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *run = NULL, *home = NULL;
        PodmanJob pj = { .uid_base = 655360, .platform = "linux/arm64", .emulated = true };

        /* The subcommand gets the job's platform; an explicit one wins. */
        check_shim("podman", "linux/arm64", "build -t x .", "build|--platform=linux/arm64|-t|x|.|");
        check_shim("podman", "linux/arm64", "--log-level debug pull img", "--log-level|debug|pull|--platform=linux/arm64|img|");
        check_shim("podman", "linux/arm64", "--root=/r image build .", "--root=/r|image|build|--platform=linux/arm64|.|");
        check_shim("podman", "linux/arm64", "run --rm img sh -c \"'a b'\"", "run|--platform=linux/arm64|--rm|img|sh|-c|'a b'|");
        check_shim("podman", "linux/arm64", "build --platform linux/amd64 .", "build|--platform|linux/amd64|.|");
        check_shim("podman", "linux/arm64", "pull --arch=amd64 img", "pull|--arch=amd64|img|");
        check_shim("podman", "linux/arm64", "images", "images|");
        check_shim("podman", "linux/arm64", "manifest create l", "manifest|create|l|");
        check_shim("buildah", "linux/arm/v7", "bud .", "bud|--platform=linux/arm/v7|.|");
        check_shim("skopeo", "linux/arm64", "inspect docker://x", "--override-os|linux|--override-arch|arm64|inspect|docker://x|");
        check_shim("skopeo", "linux/arm/v7", "copy a b",
                   "--override-os|linux|--override-arch|arm|--override-variant|v7|copy|a|b|");
        check_shim("skopeo", "linux/arm64", "--override-arch amd64 inspect x", "--override-arch|amd64|inspect|x|");
        CHECK(!podman_platform_shim("podman", "/usr/bin/podman", "linux/arm64;reboot"));
        CHECK(!podman_platform_shim("docker", "/usr/bin/docker", "linux/arm64"));

        /* An emulated job: the shims in its /run, PATH with them first. */
        CHECK(asprintf(&run, "%s/shim-run", base) > 0);
        CHECK(asprintf(&home, "%s/shim-home", base) > 0);
        CHECK(mkdir(run, 0755) == 0 && mkdir(home, 0755) == 0);
        run_fd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int home_fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        pj.home = home;
        CHECK(podman_config_write(home_fd, run_fd, &pj, job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == 0);
        CHECK(strv_has(env, "PATH=" PODMAN_SHIM_PATH ":" JOB_DEFAULT_PATH));
        CHECK(strv_has(env, "HOSTD_JOB_PLATFORM=linux/arm64"));
        CHECK(owned_by_job(run_fd, "user/0", 0700));
        if (access("/usr/bin/podman", X_OK) == 0)
                CHECK(owned_by_job(run_fd, PODMAN_SHIM_DIR "/podman", 0755));
        CHECK(no_temporaries(run_fd, PODMAN_SHIM_DIR));
        /* A planted symlink for the shim directory is not followed. */
        CHECK(unlinkat(run_fd, "hostd/bin/podman", 0) == 0 || errno == ENOENT);
        (void) unlinkat(run_fd, "hostd/bin/buildah", 0);
        (void) unlinkat(run_fd, "hostd/bin/skopeo", 0);
        CHECK(unlinkat(run_fd, "hostd/bin", AT_REMOVEDIR) == 0);
        CHECK(symlinkat("/", run_fd, "hostd/bin") == 0);
        CHECK(podman_platform_shims_write(run_fd, "linux/arm64", job_uid, job_gid) == -ELOOP);
}

static void test_bad_arguments(void) {
        _cleanup_free_ char *home = NULL;
        _cleanup_close_ int fd = make_home("bad", &home);
        char **env = NULL;

        CHECK(fd >= 0);
        CHECK(write_cfg(-1, home, job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, NULL, job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "relative/home", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/home/a\"b", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/home/a\\b", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/home/a\nb", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/home/../etc", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, "/home/a/", job_uid, job_gid, JOB_NETWORK_HOST, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, home, job_uid, job_gid, (JobNetwork) 42, "runc", &env) == -EINVAL);
        CHECK(write_cfg(fd, home, job_uid, job_gid, JOB_NETWORK_HOST, "kata", &env) == -EINVAL);
        CHECK(env == NULL);
        /* Nothing written by refused calls. */
        struct stat st;
        CHECK(fstatat(fd, ".config", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
}

static void test_pick_runtime(void) {
        CHECK(streq_ptr(podman_pick_runtime_for(1, 1, 1), "crun"));
        CHECK(streq_ptr(podman_pick_runtime_for(1, 0, 1), "runc"));
        CHECK(streq_ptr(podman_pick_runtime_for(1, 1, 0), "crun"));
        CHECK(streq_ptr(podman_pick_runtime_for(0, 1, 1), "runc"));
        CHECK(streq_ptr(podman_pick_runtime_for(0, 0, 1), "runc"));
        CHECK(streq_ptr(podman_pick_runtime_for(0, 1, 0), "crun"));
        CHECK(podman_pick_runtime_for(0, 0, 0) == NULL);
        CHECK(podman_pick_runtime_for(1, 0, 0) == NULL);
        CHECK(streq(podman_cgroups_mode("crun"), "disabled"));
        CHECK(streq(podman_cgroups_mode("runc"), "enabled"));
        CHECK(streq(podman_cgroups_mode(NULL), "enabled"));

        const char *r = podman_pick_runtime();
        printf("podman_pick_runtime() on this host: %s\n", str_or_null(r));
        if (access("/usr/bin/runc", X_OK) >= 0 || access("/usr/bin/crun", X_OK) >= 0)
                CHECK(r != NULL);
}

static int write_mode(const char *home, const char *net) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int fd = -1;
        const char *runtime;
        struct stat st;
        int r;

        fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: %m\n", home);
                return EXIT_FAILURE;
        }
        runtime = podman_pick_runtime();
        r = write_cfg(fd, home, st.st_uid, st.st_gid,
                                streq_ptr(net, "none")      ? JOB_NETWORK_NONE :
                                streq_ptr(net, "private") ? JOB_NETWORK_PRIVATE : JOB_NETWORK_HOST, runtime, &env);
        if (r < 0) {
                fprintf(stderr, "write_cfg: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        STRV_FOREACH(e, env)
                printf("%s\n", *e);
        return EXIT_SUCCESS;
}

static int rm_base(void) {
        _cleanup_free_ char *cmd = NULL;

        /* base is ours (mkdtemp) and holds only what the test made. */
        if (asprintf(&cmd, "rm -rf --one-file-system -- '%s'", base) < 0)
                return -ENOMEM;
        return system(cmd);
}

int main(int argc, char *argv[]) {
        if (argc >= 3 && streq(argv[1], "--write"))
                return write_mode(argv[2], argc >= 4 ? argv[3] : NULL);

        /* As root, hand the files to a job-like uid (the first job's range);
         * otherwise the ownership checks use our own ids. */
        job_uid = geteuid() == 0 ? 524288 : geteuid();
        job_gid = geteuid() == 0 ? 524288 : getegid();

        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }

        test_write();
        test_planted_symlinks();
        test_bad_arguments();
        test_platform_shims();
        test_pick_runtime();

        (void) rm_base();
        return test_summary("test-podman-config");
}
