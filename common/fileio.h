/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

/* Read a whole regular file relative to dirfd (AT_FDCWD for a path), refusing
 * files larger than max_size (-EFBIG) and, with nofollow, symlinks (-ELOOP).
 * The result is NUL-terminated; *ret_size excludes the NUL. */
int read_file_at(int dirfd, const char *path, size_t max_size, int nofollow,
                 char **ret, size_t *ret_size);

/* Durably replace dirfd/name with data: write a temporary file in the same
 * directory, fsync it, rename it over the target, fsync the directory.
 * A crash at any point leaves either the old or the new file, never a mix. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* Temporary files of write_file_atomic_at() start with this prefix, so a
 * restart can recognise and remove those of an interrupted write. */
#define ATOMIC_TMP_PREFIX ".#tmp-"

/* Create a directory if missing (mode applies only on creation); refuses
 * a symlink or non-directory in its place with -ENOTDIR. */
int mkdir_safe_at(int dirfd, const char *name, mode_t mode);

/* A DIR* over dirfd's directory, from a fresh descriptor so that dirfd
 * stays usable and the caller's closedir() does not close it. */
int opendir_at(int dirfd, DIR **ret);

/* mkdir -p for an absolute path owned by root (hostd's own dirs). */
int mkdir_parents_safe(const char *path, mode_t mode);
