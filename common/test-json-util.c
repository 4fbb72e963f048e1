/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json_parse_buffer(): the outcomes its callers tell apart. */
#include <errno.h>
#include <string.h>

#include "json-util.h"
#include "macros.h"
#include "test-util.h"

static int parse(const char *buf, size_t size, JsonParseFlags flags, const char **ret_error) {
        json_object *o = NULL;
        int r;

        *ret_error = NULL;
        r = json_parse_buffer(buf, size, 4, flags, &o, ret_error);
        CHECK((r == 0) == (o != NULL));
        json_object_put(o);
        return r;
}

int main(void) {
        const char *e;

        CHECK(parse("{\"a\":1} \n", 9, JSON_PARSE_TRAILING_SPACE, &e) == 0);
        CHECK(parse("{\"a\":1}x", 8, JSON_PARSE_TRAILING_SPACE, &e) == -EUCLEAN &&
              streq_ptr(e, "trailing data after the JSON object"));
        /* A NUL is not a space, even where spaces may follow. */
        CHECK(parse("{\"a\":1}\n\0", 9, JSON_PARSE_TRAILING_SPACE, &e) == -EUCLEAN);
        CHECK(parse("{\"a\":1}\0", 8, JSON_PARSE_REFUSE_NUL, &e) == -EBADMSG && streq_ptr(e, "contains a NUL byte"));
        CHECK(parse("{\"a\":", 5, 0, &e) == -ENODATA && streq_ptr(e, "truncated JSON"));
        CHECK(parse("[[[[[[1]]]]]]", 13, 0, &e) == -EBADMSG && e);
        CHECK(parse("[1]", 3, JSON_PARSE_OBJECT, &e) == -EBADMSG && streq_ptr(e, "not a JSON object"));
        /* json-c parses a bare null to NULL with "success": refused, and said so. */
        CHECK(parse("null\n", 5, JSON_PARSE_OBJECT, &e) == -EBADMSG && streq_ptr(e, "not a JSON object"));
        CHECK(parse("null ", 5, 0, &e) == -EBADMSG && streq_ptr(e, "null"));
        return test_summary("test-json-util");
}
