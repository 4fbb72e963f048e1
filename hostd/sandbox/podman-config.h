/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Per-job podman configuration (see docs/podman-in-jobs.md for the
 * experiments behind every setting).
 *
 * A job runs stock podman as uid 0 of its user namespace. podman then works
 * "rootless" (because of _CONTAINERS_USERNS_CONFIGURED=1) with:
 *   - storage.conf:    driver overlay (native, no fuse-overlayfs), graphroot in
 *                      the job's home (counted by the job's disk quota, removed
 *                      with the home at release), runroot on the sandbox's
 *                      private /run (per-boot state must die with the job's
 *                      mount namespace, see the notes);
 *   - containers.conf: cgroupfs, file events, the picked OCI runtime,
 *                      netns "host" (= the job's own network namespace),
 *                      file locks under tmp_dir (no /dev/shm needed),
 *                      static_dir/volume_path/image copies in the home.
 *
 * Ownership: hostd calls this as root, before any job process exists, and
 * hands every directory and file it creates to uid:gid with fchown() on the
 * open descriptor. It never follows a symlink: every path component is
 * opened or created relative to the previous directory's descriptor with
 * O_NOFOLLOW, files are written to a fresh O_EXCL temporary and renamed into
 * place. Existing directories are used as they are (not chowned).
 *
 * Sandbox requirements (checked by tests/sandbox/podman-smoke.sh):
 *   - /run is a private tmpfs, writable by the job's root, that lives exactly
 *     as long as the job's mount namespace, shared by all sessions of the job;
 *   - home_path is the same path inside and outside the sandbox;
 *   - the job's uid map covers 65536 ids (0-65535 inside);
 *   - seccomp keeps what runc needs: unshare, clone/clone3, setns, mount,
 *     pivot_root.
 * Not needed: a private /dev/shm (lock_type "file"), /dev/net/tun, newuidmap,
 * /etc/subuid, a writable /sys/fs/cgroup, fuse. */

#include <stdbool.h>
#include <sys/types.h>

#include "policy.h"

/* Relative to the job's home. */
#define PODMAN_CONFIG_DIR          ".config/containers"
#define PODMAN_CONTAINERS_CONF     ".config/containers/containers.conf"
#define PODMAN_STORAGE_CONF        ".config/containers/storage.conf"
#define PODMAN_GRAPHROOT           ".local/share/containers/storage"
#define PODMAN_IMAGE_COPY_TMP_DIR  ".local/share/containers/tmp"

/* Inside the sandbox's private /run (uid 0 of the job's namespace). */
#define PODMAN_XDG_RUNTIME_DIR     "/run/user/0"
#define PODMAN_RUNROOT             "/run/user/0/containers"
#define PODMAN_TMP_DIR             "/run/user/0/libpod/tmp"
/* The platform shims of an emulated job, relative to the job's /run and as
 * the job sees them. */
#define PODMAN_SHIM_DIR            "hostd/bin"
#define PODMAN_SHIM_PATH           "/run/hostd/bin"

/* Every job session's PATH; an emulated job's has PODMAN_SHIM_PATH first. */
#define JOB_DEFAULT_PATH           "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What podman_config_env() needs to know of the job. */
typedef struct PodmanJob {
        const char *home;          /* the job's home, the same path inside and out */
        uid_t uid_base;            /* host uid of the job's root */
        const char *platform;      /* normalized, "linux/arm64" */
        bool emulated;             /* platform is not the host's own */
} PodmanJob;

/* Writes PODMAN_STORAGE_CONF and PODMAN_CONTAINERS_CONF below home_fd (an
 * O_DIRECTORY descriptor of job->home), creating the parent directories and
 * the image copy directory, all owned by uid:gid.  runtime is "runc" or
 * "crun" (podman_pick_runtime()), or NULL to leave podman's default.
 * run_fd (the job's /run, or -1 in tests) gets XDG_RUNTIME_DIR and, for an
 * emulated job, the platform shims (podman_platform_shims_write()).  On success *ret_env (if not NULL) gets
 * podman_config_env()'s list.  Returns 0 or a negative errno: -ELOOP/
 * -ENOTDIR when a component is a symlink or not a directory, -EINVAL on bad
 * arguments. */
int podman_config_write(int home_fd, int run_fd, const PodmanJob *job, uid_t uid, gid_t gid, JobNetwork network,
                        const char *runtime, char ***ret_env);

/* The environment every process of the job gets, a NULL-terminated list of
 * "K=V" (free with strv_free()):
 *   CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: the files above;
 *   _CONTAINERS_USERNS_CONFIGURED=1: podman as uid 0 of a namespace someone
 *     else set up works rootless and makes no user namespace of its own;
 *   _CONTAINERS_ROOTLESS_UID=<uid_base>: what rootless podman sets when it
 *     enters its own namespace.  Without it podman, buildah and skopeo take
 *     uid 0 for real root and use the host's state: signatures under
 *     /var/lib/containers/sigstore (a pull fails with EACCES once any root
 *     podman has made that 0700 directory), the blob cache in
 *     /var/lib/containers/cache, short-name aliases in /var/cache/containers.
 *     With it they use the job's home ($HOME/.local/share/containers/...,
 *     $HOME/.cache/containers) and XDG_RUNTIME_DIR for auth.json;
 *   XDG_RUNTIME_DIR=/run/user/0;
 *   HOSTD_JOB_PLATFORM=<platform>, for build scripts;
 *   PATH with PODMAN_SHIM_PATH first, for an emulated job only.
 * Also used alone for a job whose files were written before (a sandbox
 * re-adopted after a restart: nothing is written into a tree the job had
 * time to prepare). */
int podman_config_env(const PodmanJob *job, char ***ret_env);

/* Writes podman, buildah and skopeo (those installed on the host) into
 * run_fd/PODMAN_SHIM_DIR: shell scripts that give the real tool the job's
 * platform unless the command line names one.  podman 4.3 has no setting
 * for a default platform (containers.conf has none, and its default is the
 * architecture it was compiled for), so without them a linux/arm64 job on
 * an amd64 host builds images labelled amd64 whose RUN steps ran arm64
 * binaries.  Same rules for ownership and symlinks as podman_config_write(). */
int podman_platform_shims_write(int run_fd, const char *platform, uid_t uid, gid_t gid);

/* The text of one shim (exposed for the unit test): tool is "podman",
 * "buildah" or "skopeo", real its path.  NULL on bad arguments or ENOMEM. */
char *podman_platform_shim(const char *tool, const char *real, const char *platform);

/* "crun" on a pure cgroup v2 host (/sys/fs/cgroup is cgroup2) when crun is
 * installed, otherwise "runc" when installed (crun refuses hybrid and v1
 * hosts), otherwise "crun" if installed, otherwise NULL. */
const char *podman_pick_runtime(void);

/* The same decision for tests: unified = /sys/fs/cgroup is cgroup2. */
const char *podman_pick_runtime_for(int unified, int have_crun, int have_runc);

/* The "cgroups" value written for a runtime: "disabled" for crun (the job's
 * cgroup is inherited; crun supports it), "enabled" otherwise. */
const char *podman_cgroups_mode(const char *runtime);
