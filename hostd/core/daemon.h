/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The main process: one sd-event loop owning the policy, the registry, the
 * control socket, lease timers and job cleanups. */

#include <systemd/sd-event.h>

#include "job-sandbox.h"
#include "policy.h"
#include "registry.h"
#include "sshkeys.h"
#include "store.h"

typedef struct Health Health;

/* The SSH listener's counters, for capacity and metrics. */
typedef struct SshStats {
        unsigned sessions, unauthenticated;
        uint64_t accepted_total;
        uint64_t rejected_startups_total, rejected_per_source_total, rejected_penalty_total;
        uint64_t auth_failures_total, auth_successes_total;
        uint64_t admitted_reserved_total, rejected_per_job_total;
} SshStats;

/* What the core asks of the SSH listener.  The listener (a layer above)
 * registers it in listener_new(), so that the core never includes it and
 * runs without it: in unit tests, and before the listener starts. */
typedef struct SshFrontend {
        void *userdata;
        uint16_t (*port)(void *userdata);
        /* Connections still authenticating or talking to the API. */
        unsigned (*sessions_needing_main)(void *userdata);
        void (*drain)(void *userdata, void (*done)(void *done_userdata), void *done_userdata);
        void (*policy_changed)(void *userdata);
        void (*terminate_job)(void *userdata, const char *job);
        void (*stats)(void *userdata, SshStats *ret);
} SshFrontend;

/* Upper bounds of the cleanup-duration histogram, in seconds. */
#define CLEANUP_BUCKETS 10
extern const double cleanup_bucket_bounds[CLEANUP_BUCKETS];

typedef struct Daemon {
        sd_event *event;

        /* How the policy was built, kept for reloads. */
        char *policy_path;
        PolicyOverride *overrides;
        size_t n_overrides;
        Policy *policy;

        Store *store;
        Registry *registry;
        const SshFrontend *ssh;            /* NULL: no SSH listener (yet) */
        Health *health;
        Enforcement enforcement;
        HostKeys host_keys;
        AuthorizedKeys *controller_keys;   /* NULL: no controller access */
        int exe_fd;                        /* this binary, re-executed per connection */
        char *empty_dir;                   /* chroot of the unprivileged SSH processes */
        sd_event_source *deadline_source;
        usec_t deadline_retry_after;   /* back-off after a failed expiry */
        bool stopping;                 /* SIGTERM seen: draining sessions */

        usec_t started_realtime;
        uint64_t reloads_total, reload_failures_total;
        uint64_t cleanup_buckets[CLEANUP_BUCKETS];   /* cumulative counts per bound */
        uint64_t cleanup_count;
        double cleanup_sum_sec;
        /* Overrides for tests: where binfmt_misc lives. */
        const char *binfmt_dir;
} Daemon;

/* -ENOTRECOVERABLE: the policy is invalid (logged with file and line), or
 * jobs could not reach the state dir (logged with the directory and the fix);
 * main exits with EXIT_CONFIG so that systemd does not restart in a loop. */
#define EXIT_CONFIG 78   /* sysexits.h EX_CONFIG */
/* The core: policy, event loop, signals, state, registry, host and
 * controller keys.  The front ends (control.c, listener.c) are made next,
 * by main.c, and then daemon_start() reconciles the state on disk with the
 * system and arms the timers. */
int daemon_new(const char *policy_path, PolicyOverride *overrides, size_t n_overrides, Daemon **ret);
int daemon_start(Daemon *d);
/* Tells release waiters that hostd stops and ends cleanup children (they
 * are redone at the next start).  Before the front ends are freed: the
 * waiters answer through them. */
void daemon_shutdown(Daemon *d);
Daemon *daemon_free(Daemon *d);
static inline void daemon_freep(Daemon **d) {
        if (*d)
                daemon_free(*d);
}
int daemon_run(Daemon *d);

/* The SSH listener's counters; all zero without a listener. */
void daemon_ssh_stats(Daemon *d, SshStats *ret);

/* Re-reads the policy; on failure keeps the old one and returns the errors. */
int daemon_reload(Daemon *d, char **ret_error);

/* Starts (or joins) the release of a job.  The waiter, if any, is answered
 * when the job is released or leaked. */
typedef void (*ReleaseDoneFn)(void *userdata, Job *j);
int daemon_release_job(Daemon *d, Job *j, JobEnd why, ReleaseDoneFn done, void *userdata);

/* Allocates a job for req (its key already made or checked): the record,
 * the sandbox, the record again with the sandbox's anchor, the lease timer.
 * A retry by the owner of an active job gets that job, with req's key now
 * in force.  Returns 0 (a new job) or 1 (the owner's job) with *ret set, or
 * a negative errno with *e naming the refusal and its fix (no-capacity,
 * draining, unsupported-platform, internal). */
int daemon_allocate_job(Daemon *d, const AllocateRequest *req, Job **ret, ApiError *e);
/* Re-arms the single timer at the registry's next deadline. */
void daemon_update_deadline(Daemon *d);

/* "slots 1/4 used" etc. to systemd's STATUS=. */
void daemon_notify_status(Daemon *d);

/* Whether a job with host uid (and gid) uid may search every directory down
 * to STATE/jobs.  0 if so or if it cannot be told (logged); -EACCES etc.
 * with *ret_message (if not NULL) naming the directory, its mode and the fix,
 * which is also logged. */
int daemon_check_job_access(Daemon *d, uint32_t uid, char **ret_message);

/* The address and port put in allocate answers. */
const char *daemon_advertised_host(Daemon *d);
uint16_t daemon_advertised_port(Daemon *d);
