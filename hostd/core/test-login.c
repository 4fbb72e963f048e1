/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SSH login decision on a daemon core without sockets: the controller's
 * keys and sources, and each reason a job's user is refused. */
#include <signal.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "log.h"
#include "login.h"
#include "rm-rf.h"
#include "sshkeys.h"
#include "test-daemon.h"
#include "test-util.h"

/* Public key lines "TYPE BASE64", made fresh by main(). */
static char *CONTROLLER_KEY, *OTHER_KEY;

static char dir[] = "/tmp/test-login-XXXXXX";

static void write_keys(const char *path, const char *line) {
        FILE *f = fopen(path, "we");

        CHECK(f && fprintf(f, "%s\n", line) > 0);
        if (f)
                CHECK(fclose(f) == 0);
}

static void check_refused(Daemon *d, const char *user, const char *key, bool exempt, const char *reason) {
        LoginDecision a = login_check(d, user, key, exempt);

        CHECK(!a.ok);
        CHECK(streq_ptr(a.reason, reason));
        if (!streq_ptr(a.reason, reason))
                fprintf(stderr, "  %s: got '%s', want '%s'\n", user, strempty(a.reason), reason);
}

static void test_controller(Daemon *d, const char *keys_path) {
        const char *user = d->policy->controller_user;
        LoginDecision a;

        a = login_check(d, user, CONTROLLER_KEY, true);
        CHECK(a.ok && a.controller && !a.job);
        check_refused(d, user, OTHER_KEY, true, "key is not in the controller keys");
        /* From outside [Listen] ControllerSources, even with the right key. */
        check_refused(d, user, CONTROLLER_KEY, false, "source is not in [Listen] ControllerSources");

        /* A key removed from the file is refused at the next login, without a reload. */
        write_keys(keys_path, OTHER_KEY);
        check_refused(d, user, CONTROLLER_KEY, true, "key is not in the controller keys");
        a = login_check(d, user, OTHER_KEY, true);
        CHECK(a.ok && a.controller);
}

static void test_jobs(Daemon *d) {
        AllocateRequest req = { .owner = "ns/login", .platform = "linux/amd64", .public_key = CONTROLLER_KEY };
        ApiError e = {};
        LoginDecision a;
        Job *j = NULL;
        usec_t lease;

        check_refused(d, "root", CONTROLLER_KEY, true, "no such user");
        check_refused(d, "../etc", CONTROLLER_KEY, true, "no such user");
        check_refused(d, "j0123456789ab", CONTROLLER_KEY, true, "no such job");

        /* A record alone, as between the two phases of an allocate: no sandbox yet. */
        CHECK(registry_allocate(d->registry, &req, now(CLOCK_REALTIME), &j, &e) >= 0);
        if (!j)
                return;
        check_refused(d, j->id, OTHER_KEY, true, "key is not this job's key");
        check_refused(d, j->id, CONTROLLER_KEY, true, "the job has no sandbox");

        /* A stand-in sandbox: this process as the anchor. */
        j->anchor_pid = getpid();
        j->sandbox_pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        CHECK(j->sandbox_pidfd >= 0);
        a = login_check(d, j->id, CONTROLLER_KEY, false);
        CHECK(a.ok && !a.controller && a.job == j);

        lease = j->lease_expires;
        j->lease_expires = now(CLOCK_REALTIME) - 1;
        check_refused(d, j->id, CONTROLLER_KEY, true, "job lease expired");
        j->lease_expires = lease;

        j->state = JOB_RELEASING;
        check_refused(d, j->id, CONTROLLER_KEY, true, "job is being released");
        j->state = JOB_RELEASED;
        check_refused(d, j->id, CONTROLLER_KEY, true, "job was released");
        j->state = JOB_ACTIVE;
        j->anchor_pid = 0;
        j->sandbox_pidfd = safe_close(j->sandbox_pidfd);
}

int main(void) {
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_free_ char *keys = NULL;
        static PolicyOverride extra[2];

        if (test_daemon_process("test-login", LOG_ERR, dir) < 0)
                return 1;
        if (asprintf(&keys, "%s/controller-keys", dir) < 0)
                return 1;
        {
                _cleanup_free_ char *priv1 = NULL, *priv2 = NULL;

                if (job_key_generate(&priv1, &CONTROLLER_KEY) < 0 || job_key_generate(&priv2, &OTHER_KEY) < 0)
                        return 1;
        }

        /* Without controller keys nobody is the controller. */
        CHECK(test_daemon_new(dir, &d) == 0);
        if (!d)
                return test_summary("test-login");
        CHECK(!d->ssh);
        check_refused(d, d->policy->controller_user, CONTROLLER_KEY, true,
                      "no controller keys are configured ([SSH] ControllerKeys=)");
        d = daemon_free(d);

        write_keys(keys, CONTROLLER_KEY);
        extra[0] = (PolicyOverride) { "SSH", "ControllerKeys", keys, "test" };
        extra[1] = (PolicyOverride) { "Listen", "ControllerSources", "10.0.0.0/8", "test" };
        CHECK(test_daemon_new_with(dir, extra, 2, &d) == 0);
        if (!d)
                return test_summary("test-login");
        test_controller(d, keys);
        test_jobs(d);

        d = daemon_free(d);
        CHECK(rm_rf_path(dir) == 0);
        free(CONTROLLER_KEY);
        free(OTHER_KEY);
        return test_summary("test-login");
}
