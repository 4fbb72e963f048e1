/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* What one rm_rf_at_full() call did. mounts_skipped counts the mount points
 * still in place at the end (each one once). */
typedef struct RmRfStats {
        uint64_t files;          /* non-directories unlinked (files, links, FIFOs, sockets, devices) */
        uint64_t dirs;           /* directories removed, the top one included */
        uint64_t mounts_skipped; /* mount points found and left in place */
} RmRfStats;

/* Removes dirfd/name and everything below it. Never follows a symlink, never
 * crosses into another mount (a directory on another st_dev, or a mount point
 * detected with statx STATX_ATTR_MOUNT_ROOT / a different mount id /
 * openat2 RESOLVE_NO_XDEV), never leaves the tree it started in (only *at()
 * calls relative to directory fds it opened and verified; never "..").
 *
 * name must be a single path component (no '/', not "." or ".."), else
 * -EINVAL. If name is a symlink, the link itself is removed and its target
 * left alone, as rm -rf does; any other non-directory is unlinked.
 * If name is itself a mount point (relative to dirfd), nothing is touched
 * and -EBUSY is returned.
 *
 * Returns 0 if removed or already absent, -EBUSY if a mount point was found
 * inside (left in place with the directories above it, logged), other
 * negative errno on failure (everything removable has still been removed).
 * -EBUSY wins over other errors. */
int rm_rf_at(int dirfd, const char *name);

/* rm_rf_at() for an absolute path of a tree we created ourselves (tests,
 * hostd's own scratch dirs): the parent is opened and the last component
 * removed below it. */
int rm_rf_path(const char *path);

/* Same, and fills *ret_stats (may be NULL) even on failure. */
int rm_rf_at_full(int dirfd, const char *name, RmRfStats *ret_stats);
