/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks of the whole policy: every key again, and the keys against each other. */
#include <errno.h>
#include <stdio.h>

#include "macros.h"
#include "policy-internal.h"

/* ---- cross-key checks -------------------------------------------------- */

int policy_validate_internal(const Policy *p, Problems *pr) {
        static const char *const pairs[] = { "CPUs", "Memory", "Pids", "Disk", "Lease" };
        char why[WHY_MAX], shown[SHOWN_MAX + 4], a[32], b[32];
        const PolicyKey *k, *k2;
        uint64_t start, ranges, end;
        int r;

        /* Per-key checks again: p may not come from the parser. */
        for (size_t i = 0; i < n_policy_keys; i++) {
                k = policy_keys + i;

                switch (key_kind(k)) {
                case KIND_STRING: {
                        const char *s = *(char *const *) field_const(p, k);

                        if (!s) {
                                if (!k->optional)
                                        policy_problem(pr, "[%s] %s is not set; set it in the policy", k->section, k->name);
                                break;
                        }
                        r = policy_check_string(k, s, NULL, why, sizeof(why));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                policy_problem(pr, "[%s] %s=%s: %s", k->section, k->name, policy_shorten(s, shown), why);
                        break;
                }
                case KIND_LIST:
                        STRV_FOREACH(e, *(char **const *) field_const(p, k)) {
                                r = policy_check_element(k, *e, NULL, why, sizeof(why));
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        policy_problem(pr, "[%s] %s: '%s' %s", k->section, k->name, policy_shorten(*e, shown), why);
                        }
                        break;
                case KIND_NUMBER: {
                        uint64_t v = policy_get_number(p, k);

                        if (policy_check_number(k, v, why, sizeof(why)) < 0)
                                policy_problem(pr, "[%s] %s=%s: %s", k->section, k->name, policy_format_number(k, a, sizeof(a), v), why);
                        break;
                }
                case KIND_NETWORK:
                        if (!job_network_to_string(p->network))
                                policy_problem(pr, "[%s] %s=%d: unknown network mode; use private, host or none", k->section, k->name, (int) p->network);
                        break;
                case KIND_BOOL:
                        break;
                }
        }

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                char dn[32], mn[32];
                uint64_t dv, mv;

                snprintf(dn, sizeof(dn), "Default%s", pairs[i]);
                snprintf(mn, sizeof(mn), "Max%s", pairs[i]);
                k = policy_find_key("Jobs", dn);
                k2 = policy_find_key("Jobs", mn);
                dv = policy_get_number(p, k);
                mv = policy_get_number(p, k2);
                if (dv > mv)
                        policy_problem(pr, "[Jobs] %s=%s is above [Jobs] %s=%s; lower %s or raise %s",
                                dn, policy_format_number(k, a, sizeof(a), dv), mn, policy_format_number(k2, b, sizeof(b), mv), dn, mn);
        }

        /* A job that may ask for more than all jobs together could never get it. */
        for (size_t i = 0; i < 3; i++) {
                char mn[32], tn[32];
                uint64_t mv, tv;

                snprintf(mn, sizeof(mn), "Max%s", pairs[i]);
                snprintf(tn, sizeof(tn), "Total%s", pairs[i]);
                k = policy_find_key("Jobs", mn);
                k2 = policy_find_key("Jobs", tn);
                mv = policy_get_number(p, k);
                tv = policy_get_number(p, k2);
                if (tv != 0 && mv > tv)
                        policy_problem(pr, "[Jobs] %s=%s is above [Jobs] %s=%s, the cap of all jobs together; lower %s or raise %s",
                                mn, policy_format_number(k, a, sizeof(a), mv), tn, policy_format_number(k2, b, sizeof(b), tv), mn, tn);
        }

        if (p->per_source_max_startups > p->max_startups)
                policy_problem(pr, "[SSH] PerSourceMaxStartups=%u is above [SSH] MaxStartups=%u; lower PerSourceMaxStartups or raise MaxStartups",
                        p->per_source_max_startups, p->max_startups);

        if (p->uid_pool_ranges < p->slots)
                policy_problem(pr, "[UIDPool] Ranges=%u is below [Jobs] Slots=%u; every job needs its own UID range, so raise Ranges or lower Slots",
                        p->uid_pool_ranges, p->slots);

        start = p->uid_pool_start;
        ranges = p->uid_pool_ranges;
        end = start + ranges * UID_RANGE_SIZE;
        if (end > UID_POOL_END) {
                uint64_t fit = start < UID_POOL_END ? (UID_POOL_END - start) / UID_RANGE_SIZE : 0;

                policy_problem(pr, "[UIDPool] Start=%llu with Ranges=%llu needs UIDs up to %llu, past the last usable UID %llu; lower Start or use at most Ranges=%llu",
                        (unsigned long long) start, (unsigned long long) ranges, (unsigned long long) (end - 1),
                        (unsigned long long) (UID_POOL_END - 1), (unsigned long long) fit);
        }
        return 0;
}

int policy_validate(const Policy *p, char **ret_error) {
        Problems pr = {};
        int r;

        if (!p) {
                if (ret_error)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = policy_validate_internal(p, &pr);
        if (r < 0) {
                policy_problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        return policy_problems_finish(&pr, ret_error);
}
