/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One SSH connection is served by two processes, in the manner of OpenSSH's
 * privilege separation:
 *
 *  - the monitor (session-monitor.c): root, never touches SSH bytes.  It asks
 *    the main process to decide authentication and to run API verbs, counts
 *    auth attempts, enforces the login deadline, and starts job processes
 *    on behalf of the net child, handing back only their pipes.
 *  - the net child (session-net.c): runs libssh with no privileges at all:
 *    an unprivileged uid, no capabilities, chrooted to an empty directory,
 *    under a seccomp allow-list.  A bug in the SSH code lands there.
 *
 * The monitor is hostd re-executed (argv[0] "hostd-session", fd 3 the
 * client, fd 4 the main process), so each connection gets a fresh address
 * space and nothing of the main process's memory. */

#include <json-c/json.h>
#include <stdint.h>

#include "session-messages.h"
#include "sshkeys.h"

#define SESSION_ARGV0 "hostd-session"
#define SESSION_CLIENT_FD 3
#define SESSION_MAIN_FD 4

/* Limits on what one connection may hold (those of messages: session-messages.h). */
#define SESSION_CHANNELS_MAX 64
#define SESSION_ENV_BYTES_MAX (16 * 1024)

/* The unprivileged identity of the net child. */
#define SESSION_NET_UID 65534
#define SESSION_NET_GID 65534

#define SFTP_SERVER_PATH "/usr/lib/openssh/sftp-server"

int session_monitor_main(void);

/* What the net child needs, filled in by the monitor before the fork. */
typedef struct NetConfig {
        int client_fd;
        int monitor_fd;
        HostKeys *host_keys;
        const char *empty_dir;
        const char *source;
        int log_level;
} NetConfig;

_noreturn_ void session_net_main(const NetConfig *c);
