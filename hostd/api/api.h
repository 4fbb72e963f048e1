/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The API verbs of docs/contract.md, one parser for both transports: the
 * control socket sends argv as a JSON array, the SSH front door splits the
 * exec command line into argv (api_split_command_line).  Every answer is a
 * json object; errors carry a code whose exit status api_answer_status()
 * gives. */

#include <json-c/json.h>
#include <stdbool.h>

#include "daemon.h"

typedef enum ApiCaller {
        API_CALLER_CONTROLLER,   /* SSH controller user: contract verbs only */
        API_CALLER_OPERATOR,     /* control socket: contract and operator verbs */
} ApiCaller;

#define API_ARGS_MAX 64
#define API_ARG_MAX 16384

/* Called exactly once per dispatch, maybe before api_dispatch() returns.
 * The callee takes the reference to answer. */
typedef void (*ApiReplyFn)(void *userdata, json_object *answer);

void api_dispatch(Daemon *d, ApiCaller caller, char *const *argv, size_t argc, ApiReplyFn reply, void *userdata);

json_object *api_error_answer(const char *code, const char *format, ...) _printf_(2, 3);

/* 0 for a success answer, else the contract's status for its error code. */
int api_answer_status(json_object *answer);

/* Splits an SSH exec command line with sh-like quoting ('...', "...", \x)
 * into at most API_ARGS_MAX arguments.  No expansion of any kind. */
int api_split_command_line(const char *line, char ***ret, size_t *ret_n, char *error, size_t error_size);
