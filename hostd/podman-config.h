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

/* Writes PODMAN_STORAGE_CONF and PODMAN_CONTAINERS_CONF below home_fd (an
 * O_DIRECTORY descriptor of the job's home, whose path inside the sandbox is
 * home_path), creating the parent directories and the image copy directory.
 * runtime is "runc" or "crun" (podman_pick_runtime()), or NULL to leave
 * podman's default. On success *ret_env (if not NULL) gets a NULL-terminated
 * list of "K=V" strings to add to every job process's environment; free it
 * with strv_free(). Returns 0 or a negative errno: -ELOOP/-ENOTDIR when a
 * component is a symlink or not a directory, -EINVAL on bad arguments. */
int podman_config_write(
                int home_fd,
                const char *home_path,
                uid_t uid,
                gid_t gid,
                JobNetwork network,
                const char *runtime,
                char ***ret_env);

/* Only the environment podman_config_write() gives, for a job whose files
 * were written before (a sandbox re-adopted after a restart: the job owns
 * its home and its copy of the files by then, so rewriting them protects
 * nothing, and hostd must not write into a tree the job had time to
 * prepare). */
int podman_config_env(const char *home_path, char ***ret_env);

/* "crun" on a pure cgroup v2 host (/sys/fs/cgroup is cgroup2) when crun is
 * installed, otherwise "runc" when installed (crun refuses hybrid and v1
 * hosts), otherwise "crun" if installed, otherwise NULL. */
const char *podman_pick_runtime(void);

/* The same decision for tests: unified = /sys/fs/cgroup is cgroup2. */
const char *podman_pick_runtime_for(int unified, int have_crun, int have_runc);

/* The "cgroups" value written for a runtime: "disabled" for crun (the job's
 * cgroup is inherited; crun supports it), "enabled" otherwise. */
const char *podman_cgroups_mode(const char *runtime);
