/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Per-job disk quota: each job writes (home, tmp, podman storage) into one
 * ext4 filesystem held in a sparse image file of the quota's size
 * (STATE/jobs/<job>/disk.img), attached to a loop device with autoclear and
 * mounted nosuid,nodev inside the job's own mount namespace. A job that
 * fills it gets ENOSPC from its own filesystem; the host's filesystem only
 * grows by what the job actually wrote, up to the quota.
 *
 * Overcommit: the image is sparse, so creating it costs only the ext4
 * metadata mkfs writes (about 4 MiB for 20 GiB), and the sum of all quotas
 * may exceed the free space of the state filesystem. Nothing here checks
 * free space: the caller must, and capacity must report the overcommit
 * (sum of quotas vs. free space), because if the host filesystem fills
 * first, the job's write() calls still succeed (into its page cache), the
 * loop device then fails the writeback (ENOSPC on the image file), the data
 * is lost, fsync() reports ENOSPC or EROFS, a failed journal write aborts
 * the journal and ext4 remounts read-only (errors=remount-ro); and every
 * job on that disk is hit, not only the one that wrote most. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "time-util.h"

#define JOB_DISK_SIZE_MIN (UINT64_C(64) << 20) /* 64 MiB */
#define JOB_DISK_SIZE_MAX (UINT64_C(64) << 40) /* 64 TiB */

/* Creates dirfd/name (a single path component) as a sparse file of size
 * bytes, mode 0600, owned by root, never replacing or following anything
 * already there (-EEXIST, a symlink included), and formats it ext4 with the
 * root directory owned by owner:owner (the job's uid 0 on the host), a
 * journal (a crash mid-build must not leave a filesystem that fails the next
 * mount), no reserved blocks and 4 KiB blocks. mkfs.ext4 runs as a child
 * with a clean environment; this call blocks until it is done (~30 ms for
 * 20 GiB, at most 60 s, then -ETIMEDOUT). Its output is logged on failure.
 * size must be within JOB_DISK_SIZE_MIN..JOB_DISK_SIZE_MAX, else -ERANGE;
 * the state filesystem may still refuse a size it cannot hold (ext4: -EFBIG
 * above 16 TiB). On failure nothing is left behind. */
int job_disk_create(int dirfd, const char *name, uint64_t size, uid_t owner);

/* Attaches dirfd/name (never following a symlink: -ELOOP) to a free loop
 * device with autoclear and mounts it on target (an absolute path, in the
 * calling thread's mount namespace) with MS_NOSUID|MS_NODEV,
 * errors=remount-ro. The loop device detaches by itself when its last mount
 * goes away, e.g. when the job's mount namespace dies; if the mount fails,
 * it is detached before returning. -EBUSY if the image is attached by an
 * earlier call already (two mounts of one image would corrupt it).
 * *ret_loop_index (may be NULL) receives N of /dev/loopN, for the log. */
int job_disk_mount(int dirfd, const char *name, const char *target, int *ret_loop_index);

/* Bytes used and total of the mounted filesystem whose root (or any file
 * in it) fs_root_fd refers to. total = used + what the job can still
 * write, so used == total when the job gets ENOSPC: ext4's metadata
 * (journal, inode tables: ~2.4% of 20 GiB, ~12% of 64 MiB) and its hidden
 * reserve (min(2%, 16 MiB)) are left out. -EMEDIUMTYPE if fs_root_fd is
 * not on ext4. */
int job_disk_usage(int fs_root_fd, uint64_t *ret_used, uint64_t *ret_total);

/* Whether fs_root_fd is the root directory of the filesystem on the loop
 * device that dirfd/name backs: 0, or -EXDEV (or another negative errno).
 * For a descriptor that came back from somewhere hostd does not control
 * alone (the job's anchor after a restart). */
int job_disk_check_root(int fs_root_fd, int dirfd, const char *name);

/* The device of the loop device dirfd/name is attached to: -ENODEV if
 * none.  The filesystem mounted from it has this st_dev. */
int job_disk_device(int dirfd, const char *name, dev_t *ret);

/* Removes dirfd/name after its mount is gone. A loop device still bound to
 * the image (after a crash, or one attached without autoclear) is detached
 * first. If the image is still mounted somewhere (a mount namespace that is
 * still alive), nothing is removed and -EBUSY is returned: the loop device
 * is then marked autoclear, and a later call succeeds once that namespace
 * is gone. A missing image is success. */
int job_disk_remove(int dirfd, const char *name);

/* job_disk_remove(), retried while the mount is still going away: after the
 * job's last process dies the kernel drops its mount namespace, and with it
 * the loop device, a moment later, with no event to wait for.  Bounded by
 * timeout (-EBUSY after it). */
int job_disk_remove_wait(int dirfd, const char *name, usec_t timeout);

/* Whether this host can enforce disk quotas this way: /dev/loop-control
 * can be opened and mkfs.ext4 exists (for capacity's "enforcement":
 * disk_quota). */
bool job_disk_supported(void);
