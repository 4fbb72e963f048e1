/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The controller's exec command line, split into API argv. */
#include "api.h"
#include "macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        char **argv = NULL, error[256];
        size_t argc = 0;

        if (size > 1024 * 1024)
                return 0;
        text = strndup((const char *) data, size);
        if (!text)
                return 0;
        if (api_split_command_line(text, &argv, &argc, error, sizeof(error)) >= 0) {
                if (strv_length(argv) != argc)
                        abort();
                strv_free(argv);
        }
        return 0;
}
