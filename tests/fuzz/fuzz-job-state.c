/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Job records from the state dir: after a crash or a bad disk they can hold
 * anything, and a restart must never crash on them. */
#include "job.h"
#include "macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_tokener *tok;
        json_object *o;
        Job *j = NULL;
        char error[256];

        if (size > JOB_STATE_FILE_MAX)
                return 0;
        tok = json_tokener_new_ex(32);
        if (!tok)
                return 0;
        o = json_tokener_parse_ex(tok, (const char *) data, (int) size);
        json_tokener_free(tok);
        if (!o)
                return 0;
        if (job_from_state_json(o, &j, error, sizeof(error)) >= 0) {
                json_object *again = NULL;
                /* What we accept we can write back. */
                if (job_to_state_json(j, &again) < 0)
                        abort();
                json_object_put(again);
                job_free(j);
        }
        json_object_put(o);
        return 0;
}
