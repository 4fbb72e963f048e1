/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The transport between the three processes of an SSH connection:
 *
 *   main (root) ◀── monitor (root, per connection) ◀── net child (unprivileged, libssh)
 *
 * Messages are JSON objects on SOCK_SEQPACKET socketpairs (one message per
 * packet, at most SESSION_MSG_MAX bytes), optionally carrying file
 * descriptors.  Their vocabulary, caps and dispatch are session-messages.h:
 * every receiver checks each message against it; the net child is treated
 * as hostile.  The job sandbox's setup (sandbox.c) has its own messages on
 * this transport. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "json-util.h"

#define SESSION_MSG_MAX (128 * 1024)
#define SESSION_MSG_FDS_MAX 3

/* Sends o (not consumed) with n_fds descriptors. */
int session_send(int sock, json_object *o, const int *fds, size_t n_fds);

/* Receives one message.  Returns 0 and the object, -ECONNRESET on EOF,
 * -EBADMSG on anything malformed (any received fds are closed then).
 * ret_fds may be NULL, in which case passed fds are closed. */
int session_recv(int sock, json_object **ret, int *ret_fds, size_t *ret_n_fds);

/* The parse step of session_recv(): one JSON object, nothing after it,
 * no NUL inside.  Exposed for the fuzzer. */
int session_parse(const char *buf, size_t size, json_object **ret);

/* Field access with type checks; NULL/-EBADMSG when absent or mistyped. */
const char *session_get_string(json_object *o, const char *key, size_t max_len);
int session_get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret);
int session_get_bool(json_object *o, const char *key, bool *ret);
