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
                int run_fd,
                const PodmanJob *job,
                uid_t uid,
                gid_t gid,
                JobNetwork network,
                const char *runtime,
                char ***ret_env) {

        _cleanup_free_ char *containers_conf = NULL, *storage_conf = NULL;
        _cleanup_close_ int conf_fd = -1, tmp_fd = -1;
        const char *home_path = job ? job->home : NULL;
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

        /* XDG_RUNTIME_DIR must exist before podman's first run: without it
         * rootless podman ignores storage.conf's runroot, takes
         * /tmp/containers-user-UID, and records that in its database for
         * good. */
        if (run_fd >= 0) {
                _cleanup_close_ int user_fd = -1, xdg_fd = -1;

                user_fd = open_or_make_path_at(run_fd, "user", 0755, uid, gid);
                if (user_fd < 0)
                        return user_fd;
                xdg_fd = open_or_make_path_at(user_fd, "0", 0700, uid, gid);
                if (xdg_fd < 0)
                        return xdg_fd;
        }

        if (job->emulated && run_fd >= 0) {
                r = podman_platform_shims_write(run_fd, job->platform, uid, gid);
                if (r < 0)
                        return r;
        }

        return ret_env ? podman_config_env(job, ret_env) : 0;
}

static bool platform_text_ok(const char *p) {
        /* Normalized platforms only: they go into a shell script. */
        if (!p || !startswith(p, "linux/") || strlen(p) > 48)
                return false;
        for (const char *c = p; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '/' || *c == '.' || *c == '_' || *c == '-'))
                        return false;
        return true;
}

int podman_config_env(const PodmanJob *job, char ***ret_env) {
        _cleanup_strv_free_ char **env = NULL;
        size_t n = 0;

        if (!job || !home_path_ok(job->home) || streq(job->home, "/") || !platform_text_ok(job->platform))
                return -EINVAL;
        env = calloc(8, sizeof(char *));
        if (!env)
                return -ENOMEM;
#define ADD(...)                                                  \
        do {                                                      \
                if (asprintf(&env[n], __VA_ARGS__) < 0) {         \
                        env[n] = NULL;                            \
                        return -ENOMEM;                           \
                }                                                 \
                n++;                                              \
        } while (0)
        ADD("CONTAINERS_CONF=%s/" PODMAN_CONTAINERS_CONF, job->home);
        ADD("CONTAINERS_STORAGE_CONF=%s/" PODMAN_STORAGE_CONF, job->home);
        /* podman as uid 0 of a namespace someone else set up: work rootless,
         * do not try to create a user namespace (newuidmap, /etc/subuid). */
        ADD("_CONTAINERS_USERNS_CONFIGURED=1");
        /* ... and with a rootless user's paths, not the host's root ones
         * (podman-config.h). */
        ADD("_CONTAINERS_ROOTLESS_UID=%u", (unsigned) job->uid_base);
        ADD("XDG_RUNTIME_DIR=" PODMAN_XDG_RUNTIME_DIR);
        ADD("HOSTD_JOB_PLATFORM=%s", job->platform);
        if (job->emulated)
                ADD("PATH=" PODMAN_SHIM_PATH ":" JOB_DEFAULT_PATH);
#undef ADD

        *ret_env = TAKE_PTR(env);
        return 0;
}

static int find_binary(const char *name, char *buf, size_t size) {
        /* podman's own search list for OCI runtimes, minus the obscure ones. */
        static const char *const dirs[] = { "/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(buf, size, "%s/%s", dirs[i], name);
                if (access(buf, X_OK) >= 0)
                        return 0;
        }
        return -ENOENT;
}

char *podman_platform_shim(const char *tool, const char *real, const char *platform) {
        char arch[32], variant[32] = "";
        const char *a, *v;
        char *s = NULL;

        if (!tool || !real || !platform_text_ok(platform) || !home_path_ok(real))
                return NULL;

        if (streq(tool, "skopeo")) {
                /* skopeo takes the platform apart, as global options. */
                a = platform + strlen("linux/");
                v = strchr(a, '/');
                snprintf(arch, sizeof(arch), "%.*s", (int) (v ? (size_t) (v - a) : strlen(a)), a);
                if (v)
                        snprintf(variant, sizeof(variant), "%s", v + 1);
                if (asprintf(&s,
                             "#!/bin/sh\n"
                             "# Written by hostd: this job's platform, %s, is skopeo's default here;\n"
                             "# an explicit --override-* wins.  See docs/podman-in-jobs.md.\n"
                             "case \" $* \" in *\" --override-\"*) exec %s \"$@\" ;; esac\n"
                             "exec %s --override-os linux --override-arch %s%s%s \"$@\"\n",
                             platform, real, real, arch, variant[0] ? " --override-variant " : "", variant) < 0)
                        return NULL;
                return s;
        }
        if (!streq(tool, "podman") && !streq(tool, "buildah"))
                return NULL;

        if (asprintf(&s,
                     "#!/bin/sh\n"
                     "# Written by hostd: this job's platform, %s, is %s's default here (podman\n"
                     "# has no setting for it); an explicit --platform, --arch, --os or --variant\n"
                     "# wins.  See docs/podman-in-jobs.md.\n"
                     "real=%s\n"
                     "platform=%s\n"
                     "case \" $* \" in\n"
                     "*\" --platform\"* | *\" --arch\"* | *\" --os\"* | *\" --variant\"* | *\" --override-\"*) exec \"$real\" \"$@\" ;;\n"
                     "esac\n"
                     "# The subcommand: the first word that is neither a global option nor\n"
                     "# the value of one.\n"
                     "n=0 at= skip= group=\n"
                     "for a in \"$@\"; do\n"
                     "        n=$((n + 1))\n"
                     "        if [ -n \"$skip\" ]; then skip=; continue; fi\n"
                     "        case \"$a\" in\n"
                     "        --cgroup-manager | --conmon | --connection | -c | --events-backend | --hooks-dir | --identity | \\\n"
                     "        --log-level | --module | --network-cmd-path | --network-config-dir | --root | --runroot | \\\n"
                     "        --runtime | --runtime-flag | --storage-driver | --storage-opt | --tmpdir | --url | --volumepath | \\\n"
                     "        --ssh | --registries-conf | --registries-conf-dir | --short-name-alias-conf | \\\n"
                     "        --userns-uid-map | --userns-gid-map | --default-mounts-file) skip=1; continue ;;\n"
                     "        -*) continue ;;\n"
                     "        esac\n"
                     "        case \"$group$a\" in\n"
                     "        image | container | buildx) group=$a; continue ;;\n"
                     "        build | bud | pull | run | create | from | imagebuild | imagepull | containerrun | \\\n"
                     "        containercreate | buildxbuild) at=$n ;;\n"
                     "        esac\n"
                     "        break\n"
                     "done\n"
                     "[ -n \"$at\" ] || exec \"$real\" \"$@\"\n"
                     "n=0\n"
                     "for a in \"$@\"; do\n"
                     "        n=$((n + 1))\n"
                     "        set -- \"$@\" \"$a\"\n"
                     "        [ \"$n\" != \"$at\" ] || set -- \"$@\" \"--platform=$platform\"\n"
                     "done\n"
                     "shift \"$n\"\n"
                     "exec \"$real\" \"$@\"\n",
                     platform, tool, real, platform) < 0)
                return NULL;
        return s;
}

int podman_platform_shims_write(int run_fd, const char *platform, uid_t uid, gid_t gid) {
        static const char *const tools[] = { "podman", "buildah", "skopeo" };
        _cleanup_close_ int dir_fd = -1;
        int r;

        if (run_fd < 0 || !platform_text_ok(platform))
                return -EINVAL;
        dir_fd = open_or_make_path_at(run_fd, PODMAN_SHIM_DIR, 0755, uid, gid);
        if (dir_fd < 0)
                return dir_fd;
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                _cleanup_free_ char *text = NULL;
                char real[PATH_MAX];

                if (find_binary(tools[i], real, sizeof(real)) < 0)
                        continue; /* a shim of a missing tool would only confuse */
                text = podman_platform_shim(tools[i], real, platform);
                if (!text)
                        return -ENOMEM;
                r = write_owned_file_at(dir_fd, tools[i], text, 0755, uid, gid);
                if (r < 0)
                        return r;
        }
        return fsync(dir_fd) < 0 ? negative_errno() : 0;
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
        char p[PATH_MAX];

        return find_binary(name, p, sizeof(p)) >= 0;
}

const char *podman_pick_runtime(void) {
        struct statfs sfs;
        bool unified;

        unified = statfs("/sys/fs/cgroup", &sfs) >= 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
        return podman_pick_runtime_for(unified, have_binary("crun"), have_binary("runc"));
}
