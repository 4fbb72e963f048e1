/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The job registry: slots, idempotent allocate, leases, and the release
 * state machine, with every change written to the store before it is
 * answered.  It does no I/O besides the store and takes the time as an
 * argument, so tests drive it with a controllable clock.
 *
 *   allocate ──▶ active ──(release | lease expiry)──▶ releasing ──▶ released
 *                                                        │   ▲
 *                                              cleanup failed │ release retries
 *                                                        ▼   │
 *                                                       leaked
 *
 * A job holds its slot until it is released: releasing and leaked jobs
 * count, so a slot is never handed out before its cleanup has finished. */

#include <stdio.h>

#include "api-error.h"
#include "job.h"
#include "policy.h"
#include "store.h"

typedef struct Registry {
        Store *store;
        const Policy *policy;      /* borrowed; replaced on reload */
        Job **jobs;                /* in creation order */
        size_t n_jobs;
        HostState host;

        /* Counters since start, for metrics. */
        uint64_t allocations_total, releases_total, lease_expiries_total, cleanup_failures_total;
} Registry;

typedef struct AllocateRequest {
        const char *owner;
        const char *platform;
        const char *public_key;    /* "TYPE BASE64" */
        bool key_generated;        /* hostd generated the pair */
        uint64_t lease_sec;        /* 0: policy default */
        uint32_t millicpus;        /* 0: policy default */
        uint64_t memory;           /* 0: policy default */
        uint64_t disk;             /* 0: policy default */
} AllocateRequest;

int registry_new(Store *store, const Policy *policy, usec_t now, Registry **ret);
Registry *registry_free(Registry *r);
static inline void registry_freep(Registry **r) {
        if (*r)
                registry_free(*r);
}

void registry_set_policy(Registry *r, const Policy *policy);

Job *registry_find(Registry *r, const char *id);
Job *registry_find_active_owner(Registry *r, const char *owner);
unsigned registry_slots_used(const Registry *r);
unsigned registry_count_state(const Registry *r, JobState s);
/* Its metrics families (metrics.c): slots used, jobs by state, drain, counters. */
void registry_metrics(const Registry *r, FILE *f);

/* Returns 0 and the new job, or 1 and the owner's existing active job. */
int registry_allocate(Registry *r, const AllocateRequest *req, usec_t now, Job **ret, ApiError *e);

/* Replaces the job's public key (a retried allocate that rotates a
 * generated key, or brings another key). */
int registry_set_key(Registry *r, Job *j, const char *public_key, bool generated);

int registry_renew(Registry *r, const char *id, uint64_t lease_sec, usec_t now, Job **ret, ApiError *e);

/* Moves an active or leaked job to releasing.  Returns 1 if the caller must
 * start its cleanup, 0 if a cleanup is already running or the job is
 * already released. */
int registry_begin_release(Registry *r, Job *j, JobEnd why);

/* Records the cleanup's outcome: released (slot free) or leaked (slot kept,
 * host drained with the reason). */
int registry_finish_release(Registry *r, Job *j, usec_t now, int cleanup_error, const char *detail);

/* Records a job tree that has no record as a leaked job, so it is
 * reclaimed like any other. */
int registry_adopt_orphan(Registry *r, const char *id, usec_t now_usec, Job **ret);

/* The next time registry_tick() has work: a lease expiry or a tombstone to
 * prune.  USEC_INFINITY if none. */
usec_t registry_next_deadline(const Registry *r);

/* Active jobs whose lease has run out at now, up to n_buf of them. */
size_t registry_expired(Registry *r, usec_t now, Job **buf, size_t n_buf);

/* Released jobs kept at most, whatever the retention: the oldest go first. */
#define REGISTRY_RELEASED_MAX 1000

/* Forgets released jobs older than the retention, and the oldest beyond
 * REGISTRY_RELEASED_MAX. */
int registry_prune(Registry *r, usec_t now);

int registry_set_drain(Registry *r, bool draining, const char *reason);

/* A job that cannot go on (its sandbox could not be restored): kept as
 * leaked with the reason, slot and files held, host drained, for an
 * operator to look at and release. */
int registry_mark_leaked(Registry *r, Job *j, const char *reason);
