/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small json-c helpers used wherever answers and messages are built. */

#include <json-c/json.h>
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
