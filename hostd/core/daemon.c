/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon.h"

#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "capacity.h"
#include "cgroup-kill.h"
#include "fileio.h"
#include "fork-util.h"
#include "health.h"
#include "job-network.h"
#include "list.h"
#include "log.h"
#include "macros.h"
#include "reclaim.h"
#include "rm-rf.h"

struct ReleaseWaiter {
        ReleaseDoneFn fn;
        void *userdata;
        LIST_FIELDS(ReleaseWaiter, waiters);
};

static void answer_waiters(Job *j, bool stopping) {
        while (j->waiters) {
                ReleaseWaiter *w = LIST_REMOVE(waiters, j->waiters, j->waiters);
                w->fn(w->userdata, stopping ? NULL : j);
                free(w);
        }
}

const char *daemon_advertised_host(Daemon *d) {
        static char host[256];
        const char *a = d->policy->advertise_address;

        if (!a && !streq(d->policy->listen_address, "0.0.0.0") && !streq(d->policy->listen_address, "::"))
                a = d->policy->listen_address;
        if (!a) {
                if (gethostname(host, sizeof(host) - 1) < 0)
                        snprintf(host, sizeof(host), "localhost");
                return host;
        }
        /* An IPv6 literal needs brackets in user@[addr]. */
        if (strchr(a, ':') && a[0] != '[') {
                snprintf(host, sizeof(host), "[%s]", a);
                return host;
        }
        return a;
}

uint16_t daemon_advertised_port(Daemon *d) {
        return d->ssh ? d->ssh->port(d->ssh->userdata) : d->policy->listen_port;
}

void daemon_notify_status(Daemon *d) {
        Registry *r = d->registry;
        unsigned used = registry_slots_used(r);

        (void) sd_notifyf(false, "STATUS=%u/%u slots used, %u free; %u active, %u releasing, %u leaked%s%s", used,
                          d->policy->slots, used >= d->policy->slots ? 0 : d->policy->slots - used,
                          registry_count_state(r, JOB_ACTIVE), registry_count_state(r, JOB_RELEASING),
                          registry_count_state(r, JOB_LEAKED), r->host.draining ? "; draining: " : "",
                          r->host.draining ? strempty(r->host.drain_reason) : "");
}

static void record_cleanup_duration(Daemon *d, usec_t started) {
        double sec = (double) (now(CLOCK_MONOTONIC) - started) / (double) USEC_PER_SEC;

        for (size_t i = 0; i < CLEANUP_BUCKETS; i++)
                if (sec <= cleanup_bucket_bounds[i])
                        d->cleanup_buckets[i]++;
        d->cleanup_count++;
        d->cleanup_sum_sec += sec;
}

typedef struct CleanupCtx {
        Daemon *daemon;
        Job *job;
} CleanupCtx;

static int on_cleanup_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        CleanupCtx *c = userdata;
        Daemon *d = c->daemon;
        Job *j = c->job;
        int error = 0, r;
        char detail[128] = "";

        if (si->si_code == CLD_EXITED && si->si_status != 0) {
                /* The cleanup child logged which step failed. */
                error = -si->si_status;
                snprintf(detail, sizeof(detail), "see the log lines of this job before this one");
        } else if (si->si_code != CLD_EXITED) {
                error = -EINTR;
                snprintf(detail, sizeof(detail), "cleanup process killed by signal %d", si->si_status);
        }

        /* Frees c through the destroy callback; d and j are copied above. */
        sd_event_source_disable_unref(s);
        j->cleanup_source = NULL;
        j->cleanup_pid = 0;
        record_cleanup_duration(d, j->cleanup_started);

        r = registry_finish_release(d->registry, j, now(CLOCK_REALTIME), error, detail[0] ? detail : NULL);
        if (r < 0)
                log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot record the end of the cleanup: %m");
        else if (j->state == JOB_RELEASED)
                log_job(LOG_INFO, j->id, j->owner, "Job released (%s); slot free", job_end_to_string(j->ended_by));

        answer_waiters(j, false);
        daemon_update_deadline(d);
        daemon_notify_status(d);
        return 0;
}

/* The job's tree is removed in a child process: a hostile tree can be huge
 * or deep, and the main loop must keep answering while it goes. */
static int start_cleanup(Daemon *d, Job *j) {
        sd_event_source *s = NULL;
        CleanupCtx *c;
        pid_t pid;
        int r;

        /* Our descriptors of the job's disk would keep it mounted. */
        job_sandbox_release_fds(j);
        /* If hostd dies, stop: the restarted hostd redoes the cleanup.  Keep
         * only the jobs dir: other jobs' disk descriptors would pin their
         * filesystems for as long as we run. */
        pid = safe_fork_full(NULL, FORK_DEATHSIG_SIGKILL | FORK_UNBLOCK_SIGNALS | FORK_CLOSE_ALL_FDS,
                             &d->store->jobs_fd, 1);
        if (pid < 0)
                return pid;
        if (pid == 0) {
                r = job_sandbox_destroy(&d->enforcement, d->policy, d->store->jobs_fd, j);
                if (r >= 0) {
                        r = rm_rf_at(d->store->jobs_fd, j->id);
                        if (r < 0)
                                log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot remove the job's tree%s: %m",
                                                   r == -EBUSY ? " (a mount point is inside it)" : "");
                }
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }

        /* Allocated after the fork, so the child owns nothing it would leak. */
        c = malloc(sizeof(CleanupCtx));
        r = c ? sd_event_add_child(d->event, &s, pid, WEXITED, on_cleanup_exit, c) : -ENOMEM;
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                free(c);
                return r;
        }
        *c = (CleanupCtx) { d, j };
        (void) sd_event_source_set_destroy_callback(s, free);
        j->cleanup_pid = pid;
        j->cleanup_source = s;
        j->cleanup_started = now(CLOCK_MONOTONIC);
        log_job(LOG_INFO, j->id, j->owner, "Cleanup started (pid %d)", (int) pid);
        return 0;
}

int daemon_release_job(Daemon *d, Job *j, JobEnd why, ReleaseDoneFn done, void *userdata) {
        int r;

        r = registry_begin_release(d->registry, j, why);
        if (r < 0)
                return r;
        if (j->state == JOB_RELEASED) {
                if (done)
                        done(userdata, j);
                return 0;
        }
        if (done) {
                ReleaseWaiter *w = malloc(sizeof(ReleaseWaiter));
                if (!w)
                        return -ENOMEM;
                *w = (ReleaseWaiter) { .fn = done, .userdata = userdata };
                LIST_PREPEND(waiters, j->waiters, w);
        }
        if (j->cleanup_pid == 0) {
                /* Its SSH sessions end first, so nothing starts new processes. */
                if (d->ssh)
                        d->ssh->terminate_job(d->ssh->userdata, j->id);
                r = start_cleanup(d, j);
                if (r < 0) {
                        /* Could not even start: record it as a failed cleanup. */
                        (void) registry_finish_release(d->registry, j, now(CLOCK_REALTIME), r, "cannot start the cleanup process");
                        answer_waiters(j, false);
                }
        }
        daemon_notify_status(d);
        return 0;
}

/* What job-sandbox.c gets of the daemon, as the policy is now. */
static JobSandboxContext sandbox_context(Daemon *d) {
        return (JobSandboxContext) {
                .event = d->event,
                .enforcement = &d->enforcement,
                .state_dir = d->store->path,
                .jobs_fd = d->store->jobs_fd,
                .network = d->policy->network,
                .allow_emulated = d->policy->allow_emulated,
        };
}

/* Whether this host runs platform for a new job: native, or emulated where
 * binfmt_misc and the policy allow it. */
static int platform_check(Daemon *d, const char *platform, ApiError *e) {
        HostMeasurement m;
        char list[512] = "", error[512];
        int r;

        r = capacity_measure(d->store->path, d->binfmt_dir, NULL, &m);
        if (r < 0)
                return api_error_set(e, r, API_ERROR_INTERNAL, "cannot measure the host: %s", strerror(-r));
        if (streq(platform, m.native_platform))
                return 0;
        for (size_t i = 0; i < m.n_emulated; i++)
                if (streq(platform, m.emulated[i].platform)) {
                        char reason[512];

                        if (capacity_emulated_allowed(&m.emulated[i], d->policy->allow_emulated, reason, sizeof(reason)))
                                return 0;
                        return api_error_set(e, -EOPNOTSUPP, API_ERROR_UNSUPPORTED_PLATFORM, "%s", reason);
                }
        snprintf(list, sizeof(list), "%s", m.native_platform);
        for (size_t i = 0; i < m.n_emulated; i++)
                if (capacity_emulated_allowed(&m.emulated[i], d->policy->allow_emulated, error, sizeof(error))) {
                        size_t l = strlen(list);
                        snprintf(list + l, sizeof(list) - l, ", %s", m.emulated[i].platform);
                }
        return api_error_set(e, -EOPNOTSUPP, API_ERROR_UNSUPPORTED_PLATFORM,
                             "this host does not run %s; it runs %s", platform, list);
}

int daemon_allocate_job(Daemon *d, const AllocateRequest *req, Job **ret, ApiError *e) {
        JobSandboxContext sc;
        char error[512];
        Job *j = NULL;
        int r;

        assert(req->public_key);

        /* A retry of an allocate that already succeeded gets its job, even if
         * the platform check or the slots would refuse a new one now. */
        if (!registry_find_active_owner(d->registry, req->owner)) {
                if (!job_network_available(d->policy->network, error, sizeof(error)))
                        return api_error_set(e, -ENONET, API_ERROR_INTERNAL, "%s", error);
                r = platform_check(d, req->platform, e);
                if (r < 0)
                        return r;
        }
        r = registry_allocate(d->registry, req, now(CLOCK_REALTIME), &j, e);
        if (r < 0) {
                if (e->code)
                        log_info("Allocate for %s refused: %s: %s", req->owner, e->code, e->message);
                return r;
        }
        if (r > 0) {
                /* Same job; the key in force is the one of the latest allocate,
                 * so a caller that lost the first answer gets working credentials. */
                if (!streq_ptr(j->public_key, req->public_key)) {
                        r = registry_set_key(d->registry, j, req->public_key, req->key_generated);
                        if (r < 0)
                                return api_error_set(e, r, API_ERROR_INTERNAL, "cannot record the new key: %s", strerror(-r));
                }
                log_job(LOG_INFO, j->id, j->owner, "Allocate retried by %s: answering with the existing job%s", j->owner,
                        req->key_generated ? " and a fresh key pair" : "");
                *ret = j;
                return 1;
        }

        /* The record's second phase: registry_allocate() wrote it before
         * anything existed, so that a crash in between leaves a record for
         * reconcile() to reclaim; now again, with the sandbox's anchor. */
        sc = sandbox_context(d);
        r = job_sandbox_start(&sc, j);
        if (r >= 0)
                r = store_save_job(d->store, j);
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                /* The usual cause on a new host, checked at start but
                 * changeable since (chmod of a parent): say which. */
                (void) daemon_check_job_access(d, j->uid_base, &why);
                /* Never hand out a job that is not confined: take it back. */
                (void) daemon_release_job(d, j, JOB_END_RELEASE, NULL, NULL);
                if (why)
                        return api_error_set(e, r, API_ERROR_INTERNAL, "cannot create the job's sandbox: %s", why);
                if (r == -ENONET)
                        return api_error_set(e, r, API_ERROR_INTERNAL,
                                             "cannot give the job its private network: pasta failed (see hostd's log); "
                                             "install the passt package, or set [Jobs] Network=host or none");
                return api_error_set(e, r, API_ERROR_INTERNAL, "cannot create the job's sandbox: %s; see hostd's log",
                                     strerror(-r));
        }
        log_job(LOG_INFO, j->id, j->owner, "Allocated job for %s, platform %s, lease %llus", j->owner, j->platform,
                (unsigned long long) j->lease_seconds);
        daemon_update_deadline(d);
        daemon_notify_status(d);
        *ret = j;
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        usec_t t = now(CLOCK_REALTIME);
        Job *expired[64];
        size_t n;

        d->deadline_retry_after = 0;
        do {
                n = registry_expired(d->registry, t, expired, ELEMENTSOF(expired));
                for (size_t i = 0; i < n; i++) {
                        Job *j = expired[i];
                        int r;

                        log_job(LOG_NOTICE, j->id, j->owner, "Lease expired; reclaiming the job");
                        r = daemon_release_job(d, j, JOB_END_LEASE_EXPIRED, NULL, NULL);
                        if (r < 0) {
                                log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot start reclaiming: %m; retrying in 10s");
                                /* Leave it active; the timer comes back for it. */
                                d->deadline_retry_after = t + 10 * USEC_PER_SEC;
                                n = 0;
                                break;
                        }
                }
        } while (n == ELEMENTSOF(expired));

        (void) registry_prune(d->registry, t);
        daemon_update_deadline(d);
        return 0;
}

void daemon_update_deadline(Daemon *d) {
        usec_t next = registry_next_deadline(d->registry);
        int r;

        if (next == USEC_INFINITY) {
                if (d->deadline_source)
                        (void) sd_event_source_set_enabled(d->deadline_source, SD_EVENT_OFF);
                return;
        }
        /* A deadline that failed to act (see on_deadline) is retried later,
         * not in a busy loop. */
        next = MAX(next, d->deadline_retry_after);

        if (!d->deadline_source) {
                r = sd_event_add_time(d->event, &d->deadline_source, CLOCK_REALTIME, next, USEC_PER_SEC / 10,
                                      on_deadline, d);
                if (r < 0) {
                        log_error_errno(r, "Cannot arm the lease timer: %m");
                        return;
                }
                (void) sd_event_source_set_description(d->deadline_source, "lease-deadline");
                return;
        }
        (void) sd_event_source_set_time(d->deadline_source, next);
        (void) sd_event_source_set_enabled(d->deadline_source, SD_EVENT_ONESHOT);
}

static void warn_restart_only(const Policy *old, const Policy *new) {
#define msg "%s changed; it takes effect when hostd restarts"
        if (!streq_ptr(old->listen_address, new->listen_address) || old->listen_port != new->listen_port)
                log_warning(msg, "[Listen] Address/Port");
        if (!streq_ptr(old->control_socket, new->control_socket) || !streq_ptr(old->control_group, new->control_group))
                log_warning(msg, "[Control] Socket/Group");
        if (!streq_ptr(old->state_dir, new->state_dir))
                log_warning(msg, "[State] Directory");
        if (!streq_ptr(old->host_key_ed25519, new->host_key_ed25519) || !streq_ptr(old->host_key_rsa, new->host_key_rsa) ||
            !streq_ptr(old->host_key_ecdsa, new->host_key_ecdsa))
                log_warning(msg, "[SSH] HostKey*");
#undef msg
}

int daemon_reload(Daemon *d, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        Policy *p = NULL;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now(CLOCK_MONOTONIC));
        r = policy_load(d->policy_path, d->overrides, d->n_overrides, &p, &error);
        if (r < 0) {
                d->reload_failures_total++;
                log_error("Policy reload failed; the old policy stays in force:\n%s", strempty(error));
                (void) sd_notify(false, "READY=1");
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }
        warn_restart_only(d->policy, p);
        policy_free(d->policy);
        d->policy = p;
        registry_set_policy(d->registry, p);
        (void) job_sandbox_apply_totals(&d->enforcement, &p->job_total);
        if (d->health)
                health_policy_changed(d->health);
        if (d->ssh)
                d->ssh->policy_changed(d->ssh->userdata);
        d->reloads_total++;
        log_info("Policy reloaded from %zu source(s)", strv_length(p->sources));
        (void) sd_notify(false, "READY=1");
        daemon_update_deadline(d);
        daemon_notify_status(d);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) daemon_reload(userdata, NULL);
        return 0;
}

/* How long a stop waits for connections that need this process (still
 * authenticating, or the controller's request in flight); well inside the
 * unit's TimeoutStopSec=30s. */
#define STOP_DRAIN_USEC (10 * USEC_PER_SEC)

static void on_sessions_drained(void *userdata) {
        Daemon *d = userdata;
        (void) sd_event_exit(d->event, 0);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        log_warning("%u SSH session(s) still authenticating or talking to the API after %llus; stopping anyway",
                    d->ssh ? d->ssh->sessions_needing_main(d->ssh->userdata) : 0,
                    (unsigned long long) (STOP_DRAIN_USEC / USEC_PER_SEC));
        return sd_event_exit(d->event, 0);
}

/* A stop (and so a restart) first stops accepting: under socket activation
 * new connections wait in the kernel for the next hostd.  Connections that
 * need this process finish first, so a controller's request is answered
 * rather than cut; job sessions do not need us and carry on regardless. */
static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        unsigned n;

        if (d->stopping) {
                log_info("Received %s again; stopping now", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                return sd_event_exit(d->event, 0);
        }
        d->stopping = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        n = d->ssh ? d->ssh->sessions_needing_main(d->ssh->userdata) : 0;
        if (n == 0) {
                log_info("Received %s; stopping", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                return sd_event_exit(d->event, 0);
        }
        log_info("Received %s; stopping after %u SSH session(s) that need hostd finish (at most %llus)",
                 si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", n, (unsigned long long) (STOP_DRAIN_USEC / USEC_PER_SEC));
        (void) sd_event_add_time_relative(d->event, NULL, CLOCK_MONOTONIC, STOP_DRAIN_USEC, 0, on_stop_timeout, d);
        d->ssh->drain(d->ssh->userdata, on_sessions_drained, d);
        return 0;
}

/* Makes the state on disk and the running system agree after a start:
 * resumes interrupted cleanups and reclaims job trees no record knows. */
static int reconcile(Daemon *d) {
        _cleanup_strv_free_ char **dirs = NULL;
        Registry *reg = d->registry;
        int r;

        r = store_list_job_dirs(d->store, &dirs);
        if (r < 0)
                return log_error_errno(r, "Cannot list %s/jobs: %m", d->store->path);
        STRV_FOREACH(name, dirs) {
                Job *j;

                if (registry_find(reg, *name) && registry_find(reg, *name)->state != JOB_RELEASED)
                        continue;
                if (!job_id_is_valid(*name)) {
                        log_warning("Unexpected entry %s/jobs/%s: not a job; leaving it alone", d->store->path, *name);
                        continue;
                }
                j = registry_find(reg, *name);
                if (!j) {
                        r = registry_adopt_orphan(reg, *name, now(CLOCK_REALTIME), &j);
                        if (r < 0)
                                return log_error_errno(r, "Cannot adopt orphan job directory %s: %m", *name);
                        log_job(LOG_WARNING, j->id, NULL, "Job directory without a record: reclaiming it");
                } else {
                        /* A released job whose tree came back (or was never
                         * removed): reclaim it again. */
                        log_job(LOG_WARNING, j->id, j->owner, "Released job still has a directory: reclaiming it");
                        j->state = JOB_LEAKED;
                }
                r = daemon_release_job(d, j, JOB_END_RELEASE, NULL, NULL);
                if (r < 0)
                        return r;
        }

        /* Job cgroups of jobs we released (a crash between the end of the
         * cleanup and the cgroup's removal): kill and remove.  Only ours: a
         * cgroup no record of ours names may belong to another hostd on
         * this machine (another state dir), and is none of our business. */
        if (!d->enforcement.systemd && d->enforcement.cgroup.root[0]) {
                _cleanup_strv_free_ char **cgs = NULL;

                if (cgroup_list_jobs(&d->enforcement.cgroup, &cgs) >= 0)
                        STRV_FOREACH(name, cgs) {
                                Job *j = registry_find(reg, *name);
                                if (!j || j->state != JOB_RELEASED)
                                        continue;
                                log_warning("Job cgroup %s outlived its released job: killing what is in it and removing it", *name);
                                (void) cgroup_job_kill(&d->enforcement.cgroup, *name, 10 * USEC_PER_SEC);
                                (void) cgroup_job_remove(&d->enforcement.cgroup, *name);
                        }
        }

        for (size_t i = 0; i < reg->n_jobs; i++) {
                Job *j = reg->jobs[i];

                /* An allocate that never answered: its record is written before
                 * the sandbox exists and again (with the anchor) just before
                 * the answer.  Nobody got its credentials, and its disk may be
                 * half made: reclaim it like a release; the controller's retry
                 * makes a new job. */
                if (j->state == JOB_ACTIVE && j->anchor_pid == 0) {
                        log_job(LOG_NOTICE, j->id, j->owner, "Allocate was interrupted before it answered; reclaiming "
                                "the job (a retried allocate makes a new one)");
                        r = daemon_release_job(d, j, JOB_END_RELEASE, NULL, NULL);
                        if (r < 0)
                                (void) registry_mark_leaked(reg, j, "its interrupted allocate could not be reclaimed");
                        continue;
                }

                /* Live jobs: re-adopt their sandbox (a restart of hostd), or
                 * rebuild it around their files (a reboot). */
                if (j->state == JOB_ACTIVE) {
                        JobSandboxContext sc = sandbox_context(d);

                        r = job_sandbox_start(&sc, j);
                        if (r < 0) {
                                char why[256];
                                snprintf(why, sizeof(why), "its sandbox could not be restored at start: %s", strerror(-r));
                                (void) registry_mark_leaked(reg, j, why);
                        } else
                                (void) store_save_job(d->store, j);
                }

                if (j->state == JOB_RELEASING && j->cleanup_pid == 0) {
                        log_job(LOG_INFO, j->id, j->owner, "Resuming interrupted cleanup");
                        r = start_cleanup(d, j);
                        if (r < 0)
                                (void) registry_finish_release(reg, j, now(CLOCK_REALTIME), r, "cannot start the cleanup process");
                }
        }
        return 0;
}

int daemon_check_job_access(Daemon *d, uint32_t uid, char **ret_message) {
        _cleanup_free_ char *dir = NULL, *msg = NULL;
        mode_t mode = 0;
        int r;

        r = store_check_traversable(d->store, (uid_t) uid, (gid_t) uid, &dir, &mode);
        if (r == -EACCES || r == -EPERM || r == -ENOENT || r == -ENOTDIR || r == -ELOOP) {
                if (asprintf(&msg, "jobs cannot reach the state directory %s: %s (mode %04o) may not be searched "
                             "by the jobs' uids (%s, checked as uid %u); fix with: chmod o+x %s, or choose another "
                             "--state-dir ([State] Directory=) whose every parent directory is searchable by others",
                             d->store->path, dir, (unsigned) mode, strerror(-r), (unsigned) uid, dir) < 0)
                        return -ENOMEM;
                log_error("%s", msg);
                if (ret_message)
                        *ret_message = TAKE_PTR(msg);
                return r;
        }
        if (r < 0)
                log_warning_errno(r, "Cannot check whether jobs can reach the state directory %s: %m", d->store->path);
        return 0;
}

/* A uid range no job holds, to check as a job would without sharing a uid
 * with a running one (which could signal the checker). */
static uint32_t unused_uid_base(Daemon *d) {
        const Policy *p = d->policy;

        for (uint32_t i = p->uid_pool_ranges; i > 0; i--) {
                uint32_t base = p->uid_pool_start + (i - 1) * 65536u;
                bool used = false;

                for (size_t k = 0; k < d->registry->n_jobs && !used; k++)
                        used = d->registry->jobs[k]->uid_base == base;
                if (!used)
                        return base;
        }
        return p->uid_pool_start;
}

/* Host keys, controller keys and the empty chroot of the unprivileged SSH
 * processes. */
static int setup_ssh(Daemon *d) {
        const Policy *p = d->policy;
        _cleanup_free_ char *ed = NULL, *rsa = NULL;
        struct stat st;
        int r;

        d->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (d->exe_fd < 0)
                return log_error_errno(errno, "Cannot open /proc/self/exe: %m");

        if (asprintf(&d->empty_dir, "%s/empty", d->store->path) < 0)
                return -ENOMEM;
        r = mkdir_safe_at(d->store->dir_fd, "empty", 0555);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", d->empty_dir);
        if (fstatat(d->store->dir_fd, "empty", &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        /* It must stay empty and unwritable: it is the net child's whole world. */
        if (st.st_uid != 0 || (st.st_mode & 0222) || st.st_nlink > 2)
                return log_error_errno(EPERM, "%s must be an empty directory owned by root with mode 0555; "
                                       "fix it with: rm -rf %s && hostd recreates it", d->empty_dir, d->empty_dir);

        r = host_keys_default_paths(d->store->path, &ed, &rsa);
        if (r < 0)
                return r;
        /* ECDSA (NIST P-256) only when asked for: auditors fail it, and
         * Ed25519 plus RSA (for FIPS-mode clients) serve every client. */
        r = host_keys_load(p->host_key_ed25519 ?: ed, p->host_key_rsa ?: rsa, p->host_key_ecdsa, &d->host_keys);
        /* A key of the wrong type or size, or unsafe permissions, stays so
         * at every restart: EX_CONFIG, so that systemd stops trying. */
        if (r == -EINVAL || r == -EPERM || r == -ELOOP || r == -ENOTDIR || r == -EBADMSG || r == -EBADFD)
                return -ENOTRECOVERABLE;
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->host_keys.n; i++)
                log_info("Serving host key %s %s from %s", d->host_keys.keys[i].type, d->host_keys.keys[i].fingerprint,
                         d->host_keys.keys[i].path);

        if (p->controller_keys) {
                r = authorized_keys_load(p->controller_keys, &d->controller_keys);
                if (r < 0)
                        return log_error_errno(r, "Cannot use the controller keys %s ([SSH] ControllerKeys= or "
                                               "--controller-keys): %m; put the controller's public key there",
                                               p->controller_keys);
                log_info("Controller user '%s' may log in with %zu key(s) from %s", p->controller_user,
                         authorized_keys_count(d->controller_keys), p->controller_keys);
        } else
                log_notice("No controller keys configured ([SSH] ControllerKeys=): the controller cannot log in over SSH");
        return 0;
}

int daemon_new(const char *policy_path, PolicyOverride *overrides, size_t n_overrides, Daemon **ret) {
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_free_ char *error = NULL;
        sigset_t mask;
        int r;

        d = calloc(1, sizeof(Daemon));
        if (!d)
                return -ENOMEM;
        d->started_realtime = now(CLOCK_REALTIME);
        d->exe_fd = -1;
        d->overrides = overrides;
        d->n_overrides = n_overrides;
        if (policy_path) {
                d->policy_path = strdup(policy_path);
                if (!d->policy_path)
                        return -ENOMEM;
        }
        d->binfmt_dir = getenv("HOSTD_TEST_BINFMT_DIR");

        r = policy_load(policy_path, overrides, n_overrides, &d->policy, &error);
        if (r < 0) {
                log_error("Invalid policy; refusing to start:\n%s", strempty(error));
                return -ENOTRECOVERABLE;
        }

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        /* Pings systemd's watchdog from the loop itself when WATCHDOG_USEC is set:
         * a loop that hangs stops the pings and systemd restarts us. */
        (void) sd_event_set_watchdog(d->event, true);

        (void) enforcement_detect(&d->enforcement);
        /* Logged; jobs still run, under the per-job limits. */
        (void) job_sandbox_apply_totals(&d->enforcement, &d->policy->job_total);

        r = store_open(d->policy->state_dir, &d->store);
        if (r < 0)
                return r;
        r = registry_new(d->store, d->policy, now(CLOCK_REALTIME), &d->registry);
        if (r < 0)
                return r;
        /* Refused at start rather than as an "internal" error at every
         * allocate.  [State] Directory= only changes at a restart, so a
         * reload need not check again. */
        r = daemon_check_job_access(d, unused_uid_base(d), NULL);
        if (r < 0) {
                log_error("Refusing to start: no job could be created");
                return -ENOTRECOVERABLE;
        }

        /* The jobs' init processes outlive their setup child; as a subreaper
         * we inherit them and reap them (job-sandbox.c), instead of relying
         * on PID 1 to do it. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);

        /* sd-event takes these through signalfd and child pidfds; they must be
         * blocked before any child is forked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();

        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_sigterm, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_sigterm, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m");

        r = setup_ssh(d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

int daemon_start(Daemon *d) {
        int r;

        r = reconcile(d);
        if (r < 0)
                return r;
        daemon_update_deadline(d);

        r = health_new(d, &d->health);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the health checks: %m");
        return 0;
}

void daemon_ssh_stats(Daemon *d, SshStats *ret) {
        *ret = (SshStats) {};
        if (d->ssh)
                d->ssh->stats(d->ssh->userdata, ret);
}

int daemon_run(Daemon *d) {
        int r;

        log_info("hostd %s ready: %u slots, state in %s, control socket %s, policy from %s%s", HOSTD_VERSION,
                 d->policy->slots, d->store->path, d->policy->control_socket,
                 d->policy_path ?: "the embedded default", d->policy_path ? " (+ drop-ins)" : "");
        (void) sd_notify(false, "READY=1");
        daemon_notify_status(d);
        r = sd_event_loop(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

void daemon_shutdown(Daemon *d) {
        if (d->registry)
                for (size_t i = 0; i < d->registry->n_jobs; i++) {
                        Job *j = d->registry->jobs[i];

                        /* Release callers learn that we stop; the cleanup child
                         * dies with us (PDEATHSIG) and is redone at start. */
                        answer_waiters(j, true);
                        job_sandbox_unwatch(j);
                        j->cleanup_source = sd_event_source_disable_unref(j->cleanup_source);
                        if (j->cleanup_pid > 0) {
                                (void) kill(j->cleanup_pid, SIGKILL);
                                (void) waitpid(j->cleanup_pid, NULL, 0);
                                j->cleanup_pid = 0;
                        }
                }
}

Daemon *daemon_free(Daemon *d) {
        if (!d)
                return NULL;
        daemon_shutdown(d);
        health_free(d->health);
        host_keys_done(&d->host_keys);
        authorized_keys_free(d->controller_keys);
        safe_close(d->exe_fd);
        free(d->empty_dir);
        sd_event_source_disable_unref(d->deadline_source);
        registry_free(d->registry);
        store_close(d->store);
        policy_free(d->policy);
        free(d->policy_path);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}
