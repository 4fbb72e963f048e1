/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-util.h"

#include <errno.h>
#include <limits.h>
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


int json_parse_buffer(const char *buf, size_t size, int max_depth, JsonParseFlags flags,
                      json_object **ret, const char **ret_error) {
        json_tokener *tok;
        json_object *o;
        enum json_tokener_error e;
        int r = 0;

        if (size > INT_MAX) {
                *ret_error = "too large";
                return -EBADMSG;
        }
        if ((flags & JSON_PARSE_REFUSE_NUL) && strnlen(buf, size) != size) {
                *ret_error = "contains a NUL byte";
                return -EBADMSG;
        }
        tok = json_tokener_new_ex(max_depth);
        if (!tok)
                return -ENOMEM;
        if (flags & JSON_PARSE_STRICT)
                json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int) size);
        e = json_tokener_get_error(tok);
        if (e != json_tokener_success) {
                *ret_error = e == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(e);
                r = e == json_tokener_continue ? -ENODATA : -EBADMSG;
                goto finish;
        }
        /* A bare "null" parses to NULL with success: nothing any caller takes. */
        if (!o) {
                *ret_error = flags & JSON_PARSE_OBJECT ? "not a JSON object" : "null";
                r = -EBADMSG;
                goto finish;
        }
        /* Trailing bytes mean a torn or mixed write, or a second message.
         * (strchr() finds the terminating NUL too: a NUL is not a space.) */
        for (size_t i = json_tokener_get_parse_end(tok); i < size; i++)
                if (!(flags & JSON_PARSE_TRAILING_SPACE) || buf[i] == '\0' || !strchr(" \t\r\n", buf[i])) {
                        *ret_error = "trailing data after the JSON object";
                        r = -EUCLEAN;
                        goto finish;
                }
        if ((flags & JSON_PARSE_OBJECT) && !json_object_is_type(o, json_type_object)) {
                *ret_error = "not a JSON object";
                r = -EBADMSG;
                goto finish;
        }
        *ret = TAKE_PTR(o);
finish:
        json_object_put(o);
        json_tokener_free(tok);
        return r;
}

json_object *json_get_typed(json_object *o, const char *key, json_type type) {
        json_object *v;

        /* json_object_object_get_ex() is false for NULL and non-objects; a JSON null only has json_type_null. */
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
                return NULL;
        return v;
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v = json_get_typed(o, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

int json_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v = json_get_typed(o, key, json_type_boolean);

        if (!v)
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

int json_get_int64(json_object *o, const char *key, int64_t min, int64_t max, int64_t *ret) {
        json_object *v = json_get_typed(o, key, json_type_int);
        int64_t x;

        if (!v)
                return -EBADMSG;
        x = json_object_get_int64(v);
        if (x < min || x > max)
                return -ERANGE;
        *ret = x;
        return 0;
}

const char *json_string_bounded(json_object *v, size_t max_len) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        if ((size_t) json_object_get_string_len(v) != strlen(s) || strlen(s) > max_len)
                return NULL;
        return s;
}

const char *json_get_string_bounded(json_object *o, const char *key, size_t max_len) {
        return json_string_bounded(json_get_typed(o, key, json_type_string), max_len);
}
