/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A minimal test harness: CHECK() records and reports each failure with
 * its location, and test_summary() prints "NAME: N passed, M failed" and
 * gives the exit status. */

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned test_passed, test_failed;

#define CHECK(cond)                                                                           \
        do {                                                                                  \
                if (cond)                                                                     \
                        test_passed++;                                                        \
                else {                                                                        \
                        test_failed++;                                                        \
                        fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
                }                                                                             \
        } while (0)

/* For setup steps: a failure counts, success does not. */
#define SETUP(cond, ...)                                                                      \
        do {                                                                                  \
                if (!(cond))                                                                  \
                        CHECK_MSG(false && (cond), __VA_ARGS__);                              \
        } while (0)

#define CHECK_MSG(cond, ...)                                                                  \
        do {                                                                                  \
                if (cond)                                                                     \
                        test_passed++;                                                        \
                else {                                                                        \
                        test_failed++;                                                        \
                        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
                        fprintf(stderr, __VA_ARGS__);                                         \
                        fputc('\n', stderr);                                                  \
                }                                                                             \
        } while (0)

static inline int str_contains(const char *hay, const char *needle) {
        return hay && strstr(hay, needle);
}
static inline const char *str_or_null(const char *s) {
        return s ? s : "(null)";
}
#define CHECK_STR_CONTAINS(hay, needle) \
        CHECK_MSG(str_contains((hay), (needle)), "'%s' does not contain '%s'", str_or_null(hay), (needle))

/* Open descriptors of this process, to catch leaks. */
static inline unsigned test_count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        if (!d)
                return 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Set by the exe_wrapper of the cross files (tools/cross/): the test runs
 * under qemu-user, which cannot give a guest what needs the kernel's
 * process model.  qemu's own threads make unshare(CLONE_NEWUSER) fail (the
 * caller must be single-threaded), and qemu 7.2 refuses seccomp(2) and
 * PR_SET_CHILD_SUBREAPER for its guest.  Tests skip those parts there and
 * say so; the aarch64 VM tier runs them on a real arm64 kernel. */
/* A fresh directory from tmpl (…XXXXXX, rewritten), its name copied to
 * base, opened: the fd, or -1 with the reason on stderr. */
static inline int test_mkdtemp(char *tmpl, char *base, size_t size) {
        int fd;

        if (!mkdtemp(tmpl)) {
                fprintf(stderr, "mkdtemp: %m\n");
                return -1;
        }
        snprintf(base, size, "%s", tmpl);
        fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                fprintf(stderr, "open %s: %m\n", base);
        return fd;
}

static inline bool test_under_qemu_user(void) {
        const char *e = getenv("HOSTD_TEST_QEMU_USER");

        return e && strcmp(e, "1") == 0;
}

static inline int test_summary(const char *name) {
        printf("%s: %u passed, %u failed\n", name, test_passed, test_failed);
        return test_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
