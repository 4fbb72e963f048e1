/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The net child's state, shared by its two halves: session-net.c (the
 * connection: key exchange, authentication, the monitor, the loop) and
 * session-channel.c (channels: their job processes' pipes, flow control
 * and orderly end).  Only the net child includes this. */

#include <json-c/json.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdint.h>

#include "macros.h"
#include "session.h"

#define IO_CHUNK (64 * 1024)

typedef enum ChannelEnd {
        END_NONE,
        END_STATUS_SENT,
        END_EOF_SENT,
        END_CLOSED,
} ChannelEnd;

typedef struct Net Net;

typedef struct Channel {
        Net *net;
        ssh_channel ch;
        int64_t id;
        struct ssh_channel_callbacks_struct cb;
        bool started;            /* exec/shell/subsystem accepted */
        bool pty;
        char term[64];
        int cols, rows;
        char *env[SESSION_ENV_MAX];
        size_t n_env;
        size_t env_bytes;

        /* Job process pipes; with a pty, in_fd and out_fd are the master. */
        int in_fd, out_fd, err_fd;
        bool in_watch, out_watch, err_watch;   /* registered in the ssh_event */
        bool in_blocked;          /* stdin full: client data waits in libssh */
        char *in_buf;             /* data taken from libssh that stdin did not take yet */
        size_t in_len, in_off, in_size;
        bool out_eof, err_eof;    /* seen in a callback; fds closed at the sync */
        bool client_eof;
        bool exited;
        int status;               /* wait status */

        /* Output that libssh did not take yet: an API answer waiting for
         * window, or process output read before a write came back short.
         * While some is pending, that stream's pipe is not read. */
        bool api;
        char *out_buf;
        size_t out_len, out_off;
        char *err_buf;
        size_t err_len, err_off;

        ChannelEnd end;
        bool client_closed;
        bool dead;                /* freed at the next sync */
} Channel;

struct Net {
        ssh_session session;
        ssh_event event;
        int monitor_fd;
        const char *source;
        bool authenticated;
        bool controller;
        bool auth_probe_ok;
        bool banner_sent;
        int64_t next_id;
        Channel *channels[SESSION_CHANNELS_MAX];
        size_t n_channels;
        bool done;
        bool need_sync;
};

/* session-net.c */
_noreturn_ void net_fatal(Net *n, const char *why);
/* Sends o (consumed) to the monitor; a monitor gone ends the net child. */
void net_monitor_send(Net *n, json_object *o, const int *fds, size_t n_fds);
/* Refuses one request the client sized too large; returns -EMSGSIZE. */
int net_refuse_oversized(Net *n, const char *request);
/* As net_monitor_send(), for a request the client sized: one too large
 * for the protocol is not sent, and only that request is refused. */
int net_monitor_send_request(Net *n, const char *request, json_object *o);
/* Waits for the reply of type want, handling asynchronous messages first. */
json_object *net_monitor_wait(Net *n, SessionMessage want, int *fds, size_t *n_fds);

/* session-channel.c */
Channel *net_channel_by_id(Net *n, int64_t id);
/* libssh's callback for a new session channel. */
ssh_channel net_channel_open(ssh_session s, void *userdata);
/* Applies what callbacks flagged: fd watches, flushes, ends, frees. */
void net_sync_channels(Net *n);
