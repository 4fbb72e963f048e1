/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the policy parser: the input is one policy file,
 * merged over the embedded default, then cross-checked and dumped. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_policy_ Policy *p = NULL;
        char *error = NULL;
        FILE *null;
        int r;

        /* Bigger inputs only hit the size check and slow the fuzzer down. */
        if (size > 64 * 1024)
                return 0;

        if (policy_new_default(&p) < 0)
                abort();    /* the embedded default must always load */

        r = policy_parse_text(p, (const char *) data, size, "fuzz.conf", &error);
        if (r < 0 && r != -EINVAL && r != -ENOMEM)
                abort();
        if (r < 0 && r != -ENOMEM && !error)
                abort();    /* every failure must explain itself */
        free(error);
        error = NULL;

        /* Whatever was accepted must keep the policy well formed. */
        r = policy_validate(p, &error);
        free(error);

        null = fopen("/dev/null", "we");
        if (null) {
                policy_dump(p, null);
                fclose(null);
        }
        return 0;
}
