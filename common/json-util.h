/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small json-c helpers used wherever answers and messages are built. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"
#include "time-util.h"

/* _cleanup_json_: json_object_put() when the variable goes out of scope. */
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

int json_add_string(json_object *o, const char *key, const char *value);   /* NULL -> null */
int json_add_int(json_object *o, const char *key, int64_t value);
int json_add_time(json_object *o, const char *key, usec_t t);              /* 0 -> null */
json_object *json_cpus(uint32_t millicpus);                                 /* 1500 -> 1.5 */

/* Parsing untrusted text: exactly one JSON value in buf[0..size). */
typedef enum JsonParseFlags {
        JSON_PARSE_STRICT         = 1 << 0,     /* json-c's JSON_TOKENER_STRICT (RFC 8259 only) */
        JSON_PARSE_REFUSE_NUL     = 1 << 1,     /* a NUL byte anywhere in buf is an error */
        JSON_PARSE_TRAILING_SPACE = 1 << 2,     /* " \t\r\n" may follow the value (a NUL may not) */
        JSON_PARSE_OBJECT         = 1 << 3,     /* the value must be an object */
} JsonParseFlags;

/* max_depth as for json_tokener_new_ex().  Returns 0, -ENOMEM, or with *ret_error (static text) set:
 *   -ENODATA  buf ends inside the value ("truncated JSON")
 *   -EBADMSG  a NUL byte, a syntax error, nesting deeper than max_depth (json-c's description),
 *             a bare null ("null"), or not an object ("not a JSON object")
 *   -EUCLEAN  something else follows the value ("trailing data after the JSON object")
 * Size limits stay with the callers: they differ per source. */
int json_parse_buffer(const char *buf, size_t size, int max_depth, JsonParseFlags flags,
                      json_object **ret, const char **ret_error);

/* Member access: NULL or negative when o is NULL or not an object, or key is absent or of another type. */
json_object *json_get_typed(json_object *o, const char *key, json_type type);
const char *json_get_string(json_object *o, const char *key);
int json_get_bool(json_object *o, const char *key, bool *ret);                          /* -EBADMSG */
int json_get_int64(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret); /* -EBADMSG, -ERANGE */

/* For text that becomes a C string: v is a JSON string without NUL of at most max_len bytes, else NULL. */
const char *json_string_bounded(json_object *v, size_t max_len);
const char *json_get_string_bounded(json_object *o, const char *key, size_t max_len);
