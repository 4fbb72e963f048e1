/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* allocate's --public-key, from the controller: pubkey_normalize() must
 * never crash, and what it accepts must be stable (normalising it again
 * gives the same line) and a single line. */
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "pubkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *line = NULL, *once = NULL, *twice = NULL;
        char error[256];

        /* The API takes one argument of at most a few KiB (an RSA-16384 key
         * line is under 3 KiB); more is refused before this parser. */
        if (size > 16384)
                return 0;
        line = strndup((const char *) data, size);
        if (!line)
                return 0;
        if (pubkey_normalize(line, &once, error, sizeof(error)) < 0) {
                if (error[0] == 0)
                        abort();   /* every refusal says why */
                return 0;
        }
        if (strchr(once, '\n') || strchr(once, '\r'))
                abort();
        if (pubkey_normalize(once, &twice, error, sizeof(error)) < 0 || strcmp(once, twice) != 0)
                abort();
        return 0;
}
