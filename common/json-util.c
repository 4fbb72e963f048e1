/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int json_add_string(json_object *o, const char *key, const char *value) {
        return json_object_object_add(o, key, value ? json_object_new_string(value) : NULL) < 0 ? -ENOMEM : 0;
}

int json_add_int(json_object *o, const char *key, int64_t value) {
        return json_object_object_add(o, key, json_object_new_int64(value)) < 0 ? -ENOMEM : 0;
}

int json_add_time(json_object *o, const char *key, usec_t t) {
        char buf[TIMESTAMP_MAX];
        return json_add_string(o, key, t > 0 ? format_timestamp(buf, sizeof(buf), t) : NULL);
}

json_object *json_cpus(uint32_t millicpus) {
        char buf[32];

        if (millicpus % 1000 == 0)
                return json_object_new_int64(millicpus / 1000);
        /* Serialise exactly as written ("1.5", "0.25"), not as %.17g. */
        snprintf(buf, sizeof(buf), "%u.%03u", millicpus / 1000, millicpus % 1000);
        for (size_t l = strlen(buf); buf[l - 1] == '0'; l--)
                buf[l - 1] = 0;
        return json_object_new_double_s(millicpus / 1000.0, buf);
}

