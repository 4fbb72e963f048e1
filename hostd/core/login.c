/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "login.h"

#include "macros.h"

LoginDecision login_check(Daemon *d, const char *user, const char *key, bool source_exempt) {
        const Policy *p = d->policy;
        Job *j;

        if (streq(user, p->controller_user)) {
                /* The policy in force decides, not what was loaded at start:
                 * a reload may have removed or moved the keys file. */
                if (!p->controller_keys) {
                        d->controller_keys = authorized_keys_free(d->controller_keys);
                        return (LoginDecision) { .reason = "no controller keys are configured ([SSH] ControllerKeys=)" };
                }
                if (authorized_keys_refresh(&d->controller_keys, p->controller_keys) < 0 && !d->controller_keys)
                        return (LoginDecision) { .reason = "the controller keys file cannot be read" };
                if (!authorized_keys_contains(d->controller_keys, key))
                        return (LoginDecision) { .reason = "key is not in the controller keys" };
                if (p->controller_sources && p->controller_sources[0] && !source_exempt)
                        return (LoginDecision) { .reason = "source is not in [Listen] ControllerSources" };
                return (LoginDecision) { .ok = true, .controller = true };
        }
        if (!job_id_is_valid(user))
                return (LoginDecision) { .reason = "no such user" };
        j = registry_find(d->registry, user);
        if (!j)
                return (LoginDecision) { .reason = "no such job" };
        if (j->state != JOB_ACTIVE)
                return (LoginDecision) { .reason = j->state == JOB_RELEASED ? "job was released" : "job is being released" };
        if (j->lease_expires <= now(CLOCK_REALTIME))
                return (LoginDecision) { .reason = "job lease expired" };
        if (!j->public_key || !streq(j->public_key, key))
                return (LoginDecision) { .reason = "key is not this job's key" };
        /* Fail closed: no session outside the job's sandbox. */
        if (j->anchor_pid <= 0 || j->sandbox_pidfd < 0)
                return (LoginDecision) { .reason = "the job has no sandbox" };
        return (LoginDecision) { .ok = true, .job = j };
}
