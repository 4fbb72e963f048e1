/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small json-c helpers used wherever answers and messages are built. */

#include <json-c/json.h>
#include <stdint.h>

#include "time-util.h"

int json_add_string(json_object *o, const char *key, const char *value);   /* NULL -> null */
int json_add_int(json_object *o, const char *key, int64_t value);
int json_add_time(json_object *o, const char *key, usec_t t);              /* 0 -> null */
json_object *json_cpus(uint32_t millicpus);                                 /* 1500 -> 1.5 */
