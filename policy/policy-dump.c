/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Printing the effective policy in the file format. */
#include <stdio.h>

#include "macros.h"
#include "policy-internal.h"

const char *job_network_to_string(JobNetwork n) {
        switch (n) {
        case JOB_NETWORK_HOST:
                return "host";
        case JOB_NETWORK_NONE:
                return "none";
        case JOB_NETWORK_PRIVATE:
                return "private";
        }
        return NULL;
}

void policy_dump(const Policy *p, FILE *f) {
        const char *section = NULL;
        char buf[64];

        fputs("# The effective hostd policy, merged from:\n", f);
        STRV_FOREACH(s, p->sources)
                fprintf(f, "#   %s\n", *s);

        for (size_t i = 0; i < n_policy_keys; i++) {
                const PolicyKey *k = policy_keys + i;

                if (!section || !streq(section, k->section)) {
                        section = k->section;
                        fprintf(f, "\n[%s]\n", section);
                }
                fprintf(f, "%s=", k->name);
                switch (key_kind(k)) {
                case KIND_STRING:
                        fputs(strempty(*(char *const *) field_const(p, k)), f);
                        break;
                case KIND_LIST: {
                        bool first = true;

                        STRV_FOREACH(e, *(char **const *) field_const(p, k)) {
                                if (!first)
                                        fputc(' ', f);
                                fputs(*e, f);
                                first = false;
                        }
                        break;
                }
                case KIND_NUMBER:
                        fputs(policy_format_number(k, buf, sizeof(buf), policy_get_number(p, k)), f);
                        break;
                case KIND_NETWORK:
                        fputs(strempty(job_network_to_string(p->network)), f);
                        break;
                case KIND_BOOL:
                        fputs(*(const bool *) field_const(p, k) ? "yes" : "no", f);
                        break;
                }
                fputc('\n', f);
        }
}
