/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "macros.h"

int read_file_at(int dirfd, const char *path, size_t max_size, int nofollow,
                 char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0, alloc;

        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;

        /* The size may change under us; read until EOF but never past max_size. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n + 1 >= alloc) {
                        char *nb;
                        if (alloc > max_size)
                                return -EFBIG;
                        alloc = MIN(alloc * 2 + 64, max_size + 2);
                        nb = realloc(buf, alloc);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + n, alloc - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
        char tmp[NAME_MAX + 1];
        uint64_t rnd;
        _cleanup_close_ int fd = -1;
        int r;

        if (strchr(name, '/') || strlen(name) + strlen(ATOMIC_TMP_PREFIX) + 17 > NAME_MAX)
                return -EINVAL;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                return -EIO;
        snprintf(tmp, sizeof(tmp), ATOMIC_TMP_PREFIX "%016llx-%s", (unsigned long long) rnd, name);

        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        r = write_all(fd, data, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        /* Make the rename itself durable. */
        if (fsync(dirfd) < 0)
                return negative_errno();
        return 0;
}

int mkdir_safe_at(int dirfd, const char *name, mode_t mode) {
        struct stat st;

        if (mkdirat(dirfd, name, mode) >= 0)
                return 1;
        if (errno != EEXIST)
                return negative_errno();
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        return 0;
}

int opendir_at(int dirfd, DIR **ret) {
        int fd;
        DIR *d;

        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

int mkdir_parents_safe(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (!path || path[0] != '/')
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        r = mkdir_safe_at(AT_FDCWD, p, mode);
                        if (r < 0)
                                return r;
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        return 0;
}
