/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON messages on a SOCK_SEQPACKET socket: one object per packet, at
 * most JSON_SEQPACKET_MAX bytes, optionally carrying file descriptors.
 * The transport of the SSH processes (main, monitor, net child), whose
 * vocabulary, caps and dispatch are hostd/ssh/session-messages.h, and of
 * the sandbox's setup (hostd/sandbox/sandbox.c), which has messages of its
 * own.  A receiver checks every field it uses: the peer may be hostile. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "json-util.h"

#define JSON_SEQPACKET_MAX (128 * 1024)
#define JSON_SEQPACKET_FDS_MAX 3

/* Sends o (not consumed) with n_fds descriptors. */
int json_seqpacket_send(int sock, json_object *o, const int *fds, size_t n_fds);

/* Receives one message.  Returns 0 and the object, -ECONNRESET on EOF,
 * -EBADMSG on anything malformed (any received fds are closed then).
 * ret_fds may be NULL, in which case passed fds are closed. */
int json_seqpacket_recv(int sock, json_object **ret, int *ret_fds, size_t *ret_n_fds);

/* The parse step of json_seqpacket_recv(): one JSON object, nothing after it,
 * no NUL inside.  Exposed for the fuzzer. */
int json_seqpacket_parse(const char *buf, size_t size, json_object **ret);
