/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The control socket: hostctl's transport.  One JSON request per
 * connection ({"apiVersion":"hostd/v1","argv":[...]}), one JSON answer,
 * then close.  Peers are authorised by SO_PEERCRED/SO_PEERGROUPS. */

#include "daemon.h"
#include "macros.h"

#define CONTROL_REQUEST_MAX (64 * 1024)
#define CONTROL_CONNECTIONS_MAX 64
#define CONTROL_REQUEST_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define CONTROL_WRITE_TIMEOUT_USEC (30 * USEC_PER_SEC)

typedef struct Control Control;

int control_new(Daemon *d, const char *path, const char *group, Control **ret);
Control *control_free(Control *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Control *, control_free);

/* Parses a request body; on failure returns an error answer in *ret_error. */
int control_parse_request(const char *text, size_t size, char ***ret_argv, size_t *ret_argc, json_object **ret_error);
