/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control socket requests: bytes from any local process in the control group. */
#include "control.h"
#include "macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = malloc(size + 1);
        char **argv = NULL;
        size_t argc = 0;
        json_object *error = NULL;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (control_parse_request(text, size, &argv, &argc, &error) >= 0)
                strv_free(argv);
        json_object_put(error);
        return 0;
}
