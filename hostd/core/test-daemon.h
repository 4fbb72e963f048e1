/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A real daemon core for unit tests, without its front ends: no SSH
 * listener and no control socket unless a test makes one (test-control.c).
 * State dir, control socket path and SSH port are private to the test, so
 * tests run in parallel. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "daemon.h"
#include "log.h"

/* The process around a test daemon: logs to stderr at level, SIGCHLD
 * blocked as the daemon's sd-event wants it, and dir (a mkdtemp()
 * template) made.  0, or -errno if dir could not be made. */
static inline int test_daemon_process(const char *name, int level, char *dir) {
        sigset_t mask;

        log_setup(name, LOG_TARGET_STDERR);
        log_set_max_level(level);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        return mkdtemp(dir) ? 0 : -errno;
}

/* A port the kernel just handed out: free now, and ephemeral ports are
 * not reused quickly. */
static inline unsigned test_free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        unsigned port = 0;

        if (fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *) &sa, &l) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

/* extra: more policy overrides (at most 4), which must outlive the daemon. */
static inline int test_daemon_new_with(const char *dir, const PolicyOverride *extra, size_t n_extra, Daemon **ret) {
        static char sock[108], port[16];
        static PolicyOverride ov[8];

        chmod(dir, 0755);
        snprintf(sock, sizeof(sock), "%s/control.sock", dir);
        snprintf(port, sizeof(port), "%u", test_free_port());
        ov[0] = (PolicyOverride) { "State", "Directory", dir, "test" };
        ov[1] = (PolicyOverride) { "Control", "Socket", sock, "test" };
        ov[2] = (PolicyOverride) { "Listen", "Address", "127.0.0.1", "test" };
        ov[3] = (PolicyOverride) { "Listen", "Port", port, "test" };
        Daemon *d;
        int r;

        if (n_extra > ELEMENTSOF(ov) - 4)
                return -E2BIG;
        for (size_t i = 0; i < n_extra; i++)
                ov[4 + i] = extra[i];
        r = daemon_new(NULL, ov, 4 + n_extra, &d);
        if (r < 0)
                return r;
        r = daemon_start(d);
        if (r < 0) {
                daemon_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static inline int test_daemon_new(const char *dir, Daemon **ret) {
        return test_daemon_new_with(dir, NULL, 0, ret);
}
