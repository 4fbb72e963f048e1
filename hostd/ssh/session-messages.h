/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The vocabulary of the three processes of an SSH connection, in one place:
 *
 *   main (root) ◀── monitor (root, per connection) ◀── net child (unprivileged, libssh)
 *
 * Every message kind, who may send it, and the cap of each of its fields
 * live in the table of session-messages.c.  Each receiver has its own
 * dispatch table of the kinds it takes, in the manner of OpenSSH's
 * monitor.c (struct mon_table): a kind missing from it, a field over its
 * cap, or a kind in the wrong state (before authentication, say) ends the
 * connection.  The transport itself is json-seqpacket.h (common/). */

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json-seqpacket.h"

typedef enum SessionMessage {
        SESSION_MESSAGE_CONFIG,         /* main → monitor, before anything else */
        SESSION_MESSAGE_AUTH,           /* net → monitor → main: a key to check (a probe or the signed one) */
        SESSION_MESSAGE_AUTH_REPLY,     /* main → monitor → net */
        SESSION_MESSAGE_API,            /* net → monitor → main: a controller's command line */
        SESSION_MESSAGE_API_REPLY,      /* main → monitor → net, or monitor → net when main is gone */
        SESSION_MESSAGE_SPAWN,          /* net → monitor: start a job process */
        SESSION_MESSAGE_SPAWN_REPLY,    /* monitor → net, with the process's pipes or pty */
        SESSION_MESSAGE_PTY,            /* spawned child (inside the job) → monitor, with the pty's master */
        SESSION_MESSAGE_SIGNAL,         /* net → monitor: a client's signal request */
        SESSION_MESSAGE_HANGUP,         /* net → monitor: the client closed a running channel */
        SESSION_MESSAGE_REFUSED,        /* net → monitor: a request too large was refused, for the log */
        SESSION_MESSAGE_EXIT,           /* monitor → net: a job process ended */
        _SESSION_MESSAGE_MAX,
        _SESSION_MESSAGE_INVALID = -EINVAL,
} SessionMessage;

/* The processes, as senders and receivers in the table. */
typedef enum SessionPeer {
        SESSION_PEER_MAIN    = 1 << 0,
        SESSION_PEER_MONITOR = 1 << 1,
        SESSION_PEER_NET     = 1 << 2,
        SESSION_PEER_JOB     = 1 << 3,  /* the monitor's child, inside the job, before exec */
} SessionPeer;

/* A command runs as `sh -c COMMAND`, one argument, which the kernel caps
 * at 128 KiB (MAX_ARG_STRLEN); this leaves room for the rest of the spawn
 * message (JSON_SEQPACKET_MAX) with the client's variables.  The same cap
 * holds for a controller's API command line, in every process. */
#define SESSION_COMMAND_MAX (100 * 1024)
/* Variables of one spawn request. */
#define SESSION_ENV_MAX 64

typedef enum SessionFieldType {
        SESSION_FIELD_STRING,           /* max: bytes */
        SESSION_FIELD_INT,              /* min..max */
        SESSION_FIELD_BOOL,
        SESSION_FIELD_STRINGS,          /* an array of strings; max: items, item_max: bytes of each */
} SessionFieldType;

typedef struct SessionField {
        const char *name;
        SessionFieldType type;
        bool required;
        bool truncate;                  /* STRINGS: items past max are ignored rather than refused */
        int64_t min, max;
        size_t item_max;
} SessionField;

#define SESSION_FIELDS_MAX 16

typedef struct SessionMessageInfo {
        const char *name;               /* the JSON "type" */
        SessionPeer from, to;
        SessionField fields[SESSION_FIELDS_MAX];
} SessionMessageInfo;

const SessionMessageInfo *session_message_info(SessionMessage kind);
const char *session_message_to_string(SessionMessage kind);
SessionMessage session_message_from_string(const char *s);

/* A new message of that kind: an object with its "type". */
json_object *session_message_new(SessionMessage kind);

/* The kind of o from its "type": -ENOMSG if there is none or it is unknown. */
int session_message_kind(json_object *o);

/* Checks o as a message of its kind: every field of the table present is
 * of its type and within its cap, every required one is there.  Returns
 * the kind, -ENOMSG (unknown kind) or -EBADMSG (a field). */
int session_message_check(json_object *o);

/* As session_message_check(), and the kind must be want: -ENOMSG otherwise. */
int session_message_expect(json_object *o, SessionMessage want);

/* Fields of a checked message, with the caps of the table: NULL/-EBADMSG
 * when absent, mistyped, over the cap, or not a field of o's kind. */
const char *session_message_string(json_object *o, const char *field);
int session_message_int(json_object *o, const char *field, int64_t *ret);
int session_message_bool(json_object *o, const char *field, bool *ret);
/* The array, and in *ret_n how many of its items to take (at most the cap). */
json_object *session_message_strings(json_object *o, const char *field, size_t *ret_n);

/* ---- dispatch ------------------------------------------------------------------ */

typedef enum SessionDispatchFlags {
        SESSION_PREAUTH    = 1 << 0,    /* only before authentication */
        SESSION_AUTH       = 1 << 1,    /* only after authentication */
        SESSION_CONTROLLER = 1 << 2,    /* only in the authenticated controller's connection */
        SESSION_JOB        = 1 << 3,    /* only in an authenticated job's connection */
        SESSION_REPLY      = 1 << 4,    /* only as the reply the receiver is waiting for */
        SESSION_IDLE       = 1 << 5,    /* only while the receiver waits for no reply */
} SessionDispatchFlags;

/* What the flags are checked against; each receiver fills it in from its own state. */
typedef struct SessionState {
        bool authenticated;
        bool controller;
        SessionMessage awaiting;        /* the reply waited for, or _SESSION_MESSAGE_INVALID */
} SessionState;

/* Handlers take checked messages (session_message_check()); they own no fds. */
typedef void (*SessionHandler)(void *userdata, json_object *m);

typedef struct SessionDispatch {
        SessionMessage kind;
        SessionDispatchFlags flags;
        SessionHandler handler;
} SessionDispatch;

/* Checks m (session_message_check()) and finds its entry in the receiver's
 * table, allowed in state.  Returns the entry, or NULL with *ret_error:
 * -ENOMSG (unknown kind, or not one this receiver takes), -EBADMSG (a
 * field), -EPERM (a kind this receiver takes, but not in this state). */
const SessionDispatch *session_dispatch_lookup(const SessionDispatch *table, size_t n, const SessionState *state,
                                               json_object *m, int *ret_error);
