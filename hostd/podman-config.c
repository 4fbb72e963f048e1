/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podman-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fileio.h"
#include "macros.h"

/* Opens (creating it if missing) the directory name below dfd, never
 * following a symlink. A directory we create is handed to uid:gid; one that
 * exists is used as it is. Returns the new descriptor or a negative errno. */
static int open_or_make_dir_at(int dfd, const char *name, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -1;
        bool created = false;

        if (mkdirat(dfd, name, mode) >= 0)
                created = true;
        else if (errno != EEXIST)
                return negative_errno();

        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                struct stat st;

                if (errno == ENOTDIR && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                        return -ELOOP;
                return negative_errno();
        }

        if (created) {
                /* Through the descriptor: whatever the job may have renamed in the
                 * meantime, only the directory we made changes owner. */
                if (fchown(fd, uid, gid) < 0)
                        return negative_errno();
                if (fchmod(fd, mode) < 0)
                        return negative_errno();
        }

        return TAKE_FD(fd);
}

/* mkdir -p of a relative path below dfd, component by component. */
static int open_or_make_path_at(int dfd, const char *path, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int cur = -1;
        char *state = NULL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *c = strtok_r(p, "/", &state); c; c = strtok_r(NULL, "/", &state)) {
                int fd;

                if (streq(c, ".") || streq(c, ".."))
                        return -EINVAL;
                fd = open_or_make_dir_at(cur >= 0 ? cur : dfd, c, mode, uid, gid);
                if (fd < 0)
                        return fd;
                safe_close(cur);
                cur = fd;
        }
        if (cur < 0)
                return -EINVAL;
        return TAKE_FD(cur);
}

static int write_all_fd(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Replaces dfd/name with data, owned by uid:gid: an O_EXCL|O_NOFOLLOW
 * temporary in the same directory, chowned and synced through its
 * descriptor, then renamed over name (rename replaces a planted symlink
 * itself, it never follows it). */
static int write_owned_file_at(int dfd, const char *name, const char *data, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -1;
        char tmp[NAME_MAX + 1];
        uint64_t rnd;
        int r;

        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        r = snprintf(tmp, sizeof(tmp), ATOMIC_TMP_PREFIX "%016llx-%s", (unsigned long long) rnd, name);
        if (r < 0 || (size_t) r >= sizeof(tmp))
                return -ENAMETOOLONG;

        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return negative_errno();

        r = write_all_fd(fd, data, strlen(data));
        if (r >= 0 && fchown(fd, uid, gid) < 0)
                r = negative_errno();
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return 0;
}

/* The paths go into TOML basic strings and into "K=V" environment entries:
 * accept only absolute, normalised paths without quotes, backslashes or
 * control characters. */
static bool home_path_ok(const char *p) {
        if (!p || p[0] != '/' || strlen(p) > PATH_MAX / 2)
                return false;
        for (const char *c = p; *c; c++)
                if (*c == '"' || *c == '\\' || (unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
                return false;
        size_t n = strlen(p);
        if (n > 1 && p[n - 1] == '/')
                return false;
        if ((n >= 2 && streq(p + n - 2, "/.")) || (n >= 3 && streq(p + n - 3, "/..")))
                return false;
        return true;
}

const char *podman_cgroups_mode(const char *runtime) {
        /* crun can run without cgroups: containers stay in the job's own cgroup,
         * which is what the job's limits apply to. runc cannot ("requested OCI
         * runtime runc is not compatible with NoCgroups"); with runc, rootless
         * podman on cgroup v1 creates no cgroups anyway and containers stay in
         * the job's cgroups as well. */
        return streq_ptr(runtime, "crun") ? "disabled" : "enabled";
}

static char *format_containers_conf(const char *home, JobNetwork network, const char *runtime) {
        char *s = NULL;
        int r;

        /* Every policy uses netns "host": it is the job's own network namespace
         * (the host's for JOB_NETWORK_HOST, a loopback-only one hostd made for
         * JOB_NETWORK_NONE, one with pasta's egress for JOB_NETWORK_PRIVATE).
         * A private container netns would need slirp4netns,
         * which cannot open /dev/net/tun (0600 root) in the job's namespace, and
         * podman build takes no netns "none" from containers.conf: with it, every
         * RUN step fails. */
        r = asprintf(&s,
                     "# Written by hostd for this job (%s network); see docs/podman-in-jobs.md.\n"
                     "[containers]\n"
                     "netns = \"host\"\n"
                     "cgroups = \"%s\"\n"
                     "log_driver = \"k8s-file\"\n"
                     "\n"
                     "[engine]\n"
                     "cgroup_manager = \"cgroupfs\"\n"
                     "events_logger = \"file\"\n"
                     "%s%s%s"
                     "lock_type = \"file\"\n"
                     "tmp_dir = \"" PODMAN_TMP_DIR "\"\n"
                     "static_dir = \"%s/" PODMAN_GRAPHROOT "/libpod\"\n"
                     "volume_path = \"%s/" PODMAN_GRAPHROOT "/volumes\"\n"
                     "image_copy_tmp_dir = \"%s/" PODMAN_IMAGE_COPY_TMP_DIR "\"\n",
                     network == JOB_NETWORK_NONE ? "loopback-only" : network == JOB_NETWORK_PRIVATE ? "private" : "host",
                     podman_cgroups_mode(runtime),
                     runtime ? "runtime = \"" : "", strempty(runtime), runtime ? "\"\n" : "",
                     home, home, home);
        return r < 0 ? NULL : s;
}

static char *format_storage_conf(const char *home) {
        char *s = NULL;

        /* Native overlay: works in a user namespace on kernel >= 5.13 (no
         * fuse-overlayfs, no mount_program). */
        if (asprintf(&s,
                     "# Written by hostd for this job; see docs/podman-in-jobs.md.\n"
                     "[storage]\n"
                     "driver = \"overlay\"\n"
                     "graphroot = \"%s/" PODMAN_GRAPHROOT "\"\n"
                     "runroot = \"" PODMAN_RUNROOT "\"\n",
                     home) < 0)
                return NULL;
        return s;
}

int podman_config_write(
                int home_fd,
                const char *home_path,
                uid_t uid,
                gid_t gid,
                JobNetwork network,
                const char *runtime,
                char ***ret_env) {

        _cleanup_free_ char *containers_conf = NULL, *storage_conf = NULL;
        _cleanup_close_ int conf_fd = -1, tmp_fd = -1;
        int r;

        if (home_fd < 0 || !home_path_ok(home_path))
                return -EINVAL;
        if (network != JOB_NETWORK_HOST && network != JOB_NETWORK_NONE && network != JOB_NETWORK_PRIVATE)
                return -EINVAL;
        if (runtime && !streq(runtime, "runc") && !streq(runtime, "crun"))
                return -EINVAL;
        /* "/" as home would give "//.config/...": refuse rather than normalise. */
        if (streq(home_path, "/"))
                return -EINVAL;

        containers_conf = format_containers_conf(home_path, network, runtime);
        storage_conf = format_storage_conf(home_path);
        if (!containers_conf || !storage_conf)
                return -ENOMEM;

        conf_fd = open_or_make_path_at(home_fd, PODMAN_CONFIG_DIR, 0755, uid, gid);
        if (conf_fd < 0)
                return conf_fd;
        /* podman does not create image_copy_tmp_dir; the graphroot it makes itself. */
        tmp_fd = open_or_make_path_at(home_fd, PODMAN_IMAGE_COPY_TMP_DIR, 0700, uid, gid);
        if (tmp_fd < 0)
                return tmp_fd;

        r = write_owned_file_at(conf_fd, "storage.conf", storage_conf, 0644, uid, gid);
        if (r < 0)
                return r;
        r = write_owned_file_at(conf_fd, "containers.conf", containers_conf, 0644, uid, gid);
        if (r < 0)
                return r;
        if (fsync(conf_fd) < 0)
                return negative_errno();

        return ret_env ? podman_config_env(home_path, ret_env) : 0;
}

int podman_config_env(const char *home_path, char ***ret_env) {
        _cleanup_strv_free_ char **env = NULL;

        if (!home_path_ok(home_path) || streq(home_path, "/"))
                return -EINVAL;
        env = calloc(5, sizeof(char *));
        if (!env)
                return -ENOMEM;
        if (asprintf(&env[0], "CONTAINERS_CONF=%s/" PODMAN_CONTAINERS_CONF, home_path) < 0) {
                env[0] = NULL;
                return -ENOMEM;
        }
        if (asprintf(&env[1], "CONTAINERS_STORAGE_CONF=%s/" PODMAN_STORAGE_CONF, home_path) < 0) {
                env[1] = NULL;
                return -ENOMEM;
        }
        /* podman as uid 0 of a namespace someone else set up: work rootless,
         * do not try to create a user namespace (newuidmap, /etc/subuid). */
        env[2] = strdup("_CONTAINERS_USERNS_CONFIGURED=1");
        if (!env[2])
                return -ENOMEM;
        env[3] = strdup("XDG_RUNTIME_DIR=" PODMAN_XDG_RUNTIME_DIR);
        if (!env[3])
                return -ENOMEM;

        *ret_env = TAKE_PTR(env);
        return 0;
}

const char *podman_pick_runtime_for(int unified, int have_crun, int have_runc) {
        if (unified && have_crun)
                return "crun";
        if (have_runc)
                return "runc";
        /* Hybrid or v1 with crun only: crun refuses ("cgroups in hybrid mode not
         * supported"), but it is all there is. */
        if (have_crun)
                return "crun";
        return NULL;
}

static bool have_binary(const char *name) {
        /* podman's own search list for OCI runtimes, minus the obscure ones. */
        static const char *const dirs[] = { "/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin" };
        char p[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(p, sizeof(p), "%s/%s", dirs[i], name);
                if (access(p, X_OK) >= 0)
                        return true;
        }
        return false;
}

const char *podman_pick_runtime(void) {
        struct statfs sfs;
        bool unified;

        unified = statfs("/sys/fs/cgroup", &sfs) >= 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
        return podman_pick_runtime_for(unified, have_binary("crun"), have_binary("runc"));
}
