/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "registry.h"

#include <stdio.h>

#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "parse-util.h"

static int job_created_cmp(const void *a, const void *b) {
        const Job *x = *(Job *const *) a, *y = *(Job *const *) b;
        if (x->created != y->created)
                return x->created < y->created ? -1 : 1;
        return strcmp(x->id, y->id);
}

int registry_new(Store *store, const Policy *policy, usec_t now_usec, Registry **ret) {
        _cleanup_(registry_freep) Registry *r = NULL;
        int k;

        r = calloc(1, sizeof(Registry));
        if (!r)
                return -ENOMEM;
        r->store = store;
        r->policy = policy;

        k = store_load_host(store, &r->host);
        if (k < 0)
                return k;
        k = store_load_jobs(store, &r->jobs, &r->n_jobs);
        if (k < 0)
                return log_error_errno(k, "Cannot load job records from %s/registry: %m", store->path);
        if (r->n_jobs > 0)   /* qsort(NULL, 0) is undefined behaviour */
                qsort(r->jobs, r->n_jobs, sizeof(Job *), job_created_cmp);

        for (size_t i = 0; i < r->n_jobs; i++) {
                Job *j = r->jobs[i];
                char exp[TIMESTAMP_MAX];

                log_job(LOG_INFO, j->id, j->owner, "Restored job: state %s, lease expires %s%s", job_state_to_string(j->state),
                        format_timestamp(exp, sizeof(exp), j->lease_expires),
                        j->state == JOB_ACTIVE && j->lease_expires <= now_usec ? " (already expired)" : "");
                /* An active job must have its tree; recreate it if a crash hit
                 * between writing the record and creating the directory. */
                if (j->state == JOB_ACTIVE && !store_job_dir_exists(store, j->id)) {
                        k = store_make_job_dir(store, j->id, j->uid_base);
                        if (k < 0)
                                return log_job_full_errno(LOG_ERR, k, j->id, j->owner, "Cannot recreate job directory: %m");
                }
        }

        *ret = TAKE_PTR(r);
        return 0;
}

Registry *registry_free(Registry *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_jobs; i++)
                job_free(r->jobs[i]);
        free(r->jobs);
        host_state_done(&r->host);
        free(r);
        return NULL;
}

void registry_set_policy(Registry *r, const Policy *policy) {
        r->policy = policy;
}

Job *registry_find(Registry *r, const char *id) {
        for (size_t i = 0; i < r->n_jobs; i++)
                if (streq(r->jobs[i]->id, id))
                        return r->jobs[i];
        return NULL;
}

unsigned registry_slots_used(const Registry *r) {
        unsigned n = 0;
        for (size_t i = 0; i < r->n_jobs; i++)
                if (job_holds_slot(r->jobs[i]))
                        n++;
        return n;
}

unsigned registry_count_state(const Registry *r, JobState s) {
        unsigned n = 0;
        for (size_t i = 0; i < r->n_jobs; i++)
                if (r->jobs[i]->state == s)
                        n++;
        return n;
}

Job *registry_find_active_owner(Registry *r, const char *owner) {
        for (size_t i = 0; i < r->n_jobs; i++)
                if (r->jobs[i]->state == JOB_ACTIVE && streq(r->jobs[i]->owner, owner))
                        return r->jobs[i];
        return NULL;
}

static int add_job(Registry *r, Job *j) {
        Job **n = realloc(r->jobs, (r->n_jobs + 1) * sizeof(Job *));
        if (!n)
                return -ENOMEM;
        r->jobs = n;
        r->jobs[r->n_jobs++] = j;
        return 0;
}

static void drop_job(Registry *r, Job *j) {
        for (size_t i = 0; i < r->n_jobs; i++)
                if (r->jobs[i] == j) {
                        memmove(r->jobs + i, r->jobs + i + 1, (r->n_jobs - i - 1) * sizeof(Job *));
                        r->n_jobs--;
                        job_free(j);
                        return;
                }
}

static uint64_t clamp_lease(const Policy *p, uint64_t lease_sec) {
        return lease_sec == 0 ? p->job_default.lease : MIN(lease_sec, p->job_max.lease);
}

/* The smallest lease a caller may ask for: below this a job would likely
 * expire during its own setup. */
#define LEASE_MIN_SEC 60

static int check_request(const Policy *p, const AllocateRequest *req, ApiError *e) {
        char a[32], b[32];

        if (req->lease_sec != 0 && req->lease_sec < LEASE_MIN_SEC)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                     "--lease %llu is too short; ask for at least %d seconds",
                                     (unsigned long long) req->lease_sec, LEASE_MIN_SEC);
        if (req->millicpus > p->job_max.millicpus)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                     "--cpus %u.%03u is above this host's maximum of %u.%03u CPUs per job "
                                     "([Jobs] MaxCPUs); ask for less",
                                     req->millicpus / 1000, req->millicpus % 1000, p->job_max.millicpus / 1000,
                                     p->job_max.millicpus % 1000);
        if (req->memory > p->job_max.memory)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                     "--memory %s is above this host's maximum of %s per job ([Jobs] MaxMemory); ask for less",
                                     format_size(a, sizeof(a), req->memory), format_size(b, sizeof(b), p->job_max.memory));
        if (req->disk > p->job_max.disk)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                     "--disk %s is above this host's maximum of %s per job ([Jobs] MaxDisk); ask for less",
                                     format_size(a, sizeof(a), req->disk), format_size(b, sizeof(b), p->job_max.disk));
        return 0;
}

/* The lowest range no job holds.  A released job's range is free: its
 * cleanup killed every process of the range and removed its files. */
static int pick_uid_range(Registry *r, uint32_t *ret) {
        const Policy *p = r->policy;

        for (uint32_t i = 0; i < p->uid_pool_ranges; i++) {
                uint32_t base = p->uid_pool_start + i * 65536U;
                bool taken = false;

                for (size_t k = 0; k < r->n_jobs && !taken; k++)
                        taken = job_holds_slot(r->jobs[k]) && r->jobs[k]->uid_base == base;
                if (!taken) {
                        *ret = base;
                        return 0;
                }
        }
        return -ENOSPC;
}

int registry_set_key(Registry *r, Job *j, const char *public_key, bool generated) {
        char *old = j->public_key;
        bool old_generated = j->key_generated;
        int k;

        j->public_key = strdup(public_key);
        if (!j->public_key) {
                j->public_key = old;
                return -ENOMEM;
        }
        j->key_generated = generated;
        k = store_save_job(r->store, j);
        if (k < 0) {
                free(j->public_key);
                j->public_key = old;
                j->key_generated = old_generated;
                return k;
        }
        free(old);
        return 0;
}

int registry_allocate(Registry *r, const AllocateRequest *req, usec_t now_usec, Job **ret, ApiError *e) {
        const Policy *p = r->policy;
        _cleanup_job_ Job *j = NULL;
        Job *existing;
        unsigned used;
        int k;

        /* Idempotency first: a retry after a lost answer must find its job even
         * when the host has since filled up or started draining. */
        existing = registry_find_active_owner(r, req->owner);
        if (existing) {
                *ret = existing;
                return 1;
        }

        k = check_request(p, req, e);
        if (k < 0)
                return k;

        if (r->host.draining)
                return api_error_set(e, -EBUSY, API_ERROR_DRAINING, "this host is draining (%s); pick another host",
                                     strempty(r->host.drain_reason));
        used = registry_slots_used(r);
        if (used >= p->slots)
                return api_error_set(e, -EBUSY, API_ERROR_NO_CAPACITY,
                                     "all %u slots are in use (%u active, %u releasing, %u leaked); retry later or pick another host",
                                     p->slots, registry_count_state(r, JOB_ACTIVE), registry_count_state(r, JOB_RELEASING),
                                     registry_count_state(r, JOB_LEAKED));

        j = job_new();
        if (!j)
                return -ENOMEM;
        do {
                k = job_id_generate(j->id);
                if (k < 0)
                        return api_error_set(e, k, API_ERROR_INTERNAL, "cannot generate a job id");
        } while (registry_find(r, j->id) || store_job_dir_exists(r->store, j->id));

        j->owner = strdup(req->owner);
        j->platform = strdup(req->platform);
        if (!j->owner || !j->platform)
                return -ENOMEM;
        if (req->public_key) {
                j->public_key = strdup(req->public_key);
                if (!j->public_key)
                        return -ENOMEM;
        }
        j->key_generated = req->key_generated;
        k = pick_uid_range(r, &j->uid_base);
        if (k < 0)
                return api_error_set(e, k, API_ERROR_NO_CAPACITY,
                                     "no free uid range: all %u ranges of [UIDPool] are held by jobs; retry after a release",
                                     p->uid_pool_ranges);
        j->state = JOB_ACTIVE;
        j->created = now_usec;
        j->lease_seconds = clamp_lease(p, req->lease_sec);
        j->lease_expires = now_usec + j->lease_seconds * USEC_PER_SEC;
        j->quota.millicpus = req->millicpus ?: p->job_default.millicpus;
        j->quota.memory = req->memory ?: p->job_default.memory;
        j->quota.pids = p->job_default.pids;
        j->quota.disk = req->disk ?: p->job_default.disk;

        /* Record first, directory second: a crash in between leaves a record
         * whose directory is recreated at start, never an untracked tree. */
        k = store_save_job(r->store, j);
        if (k < 0)
                return api_error_set(e, k, API_ERROR_INTERNAL, "cannot write the job record: %s", strerror(-k));
        k = store_make_job_dir(r->store, j->id, j->uid_base);
        if (k < 0) {
                (void) store_remove_job(r->store, j->id);
                log_job_full_errno(LOG_ERR, k, j->id, j->owner, "Cannot create job directory: %m");
                return api_error_set(e, k, API_ERROR_INTERNAL, "cannot create the job directory: %s", strerror(-k));
        }
        k = add_job(r, j);
        if (k < 0)
                return k;

        r->allocations_total++;
        *ret = TAKE_PTR(j);
        return 0;
}

int registry_renew(Registry *r, const char *id, uint64_t lease_sec, usec_t now_usec, Job **ret, ApiError *e) {
        Job *j = registry_find(r, id);
        usec_t old;
        int k;

        if (!j || j->state == JOB_RELEASED)
                return api_error_set(e, -ENOENT, API_ERROR_UNKNOWN_JOB, "no job %s on this host%s", id,
                                     j ? " (it was released)" : "");
        if (j->state != JOB_ACTIVE)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "job %s is %s and cannot be renewed", id,
                                     job_state_to_string(j->state));
        if (lease_sec < LEASE_MIN_SEC)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                     "--lease %llu is too short; ask for at least %d seconds",
                                     (unsigned long long) lease_sec, LEASE_MIN_SEC);

        old = j->lease_expires;
        j->lease_seconds = clamp_lease(r->policy, lease_sec);
        j->lease_expires = now_usec + j->lease_seconds * USEC_PER_SEC;
        k = store_save_job(r->store, j);
        if (k < 0) {
                j->lease_expires = old;
                return api_error_set(e, k, API_ERROR_INTERNAL, "cannot write the job record: %s", strerror(-k));
        }
        *ret = j;
        return 0;
}

int registry_begin_release(Registry *r, Job *j, JobEnd why) {
        JobState old = j->state;
        JobEnd old_end = j->ended_by;
        int k;

        switch (j->state) {
        case JOB_RELEASED:
        case JOB_RELEASING:
                return 0;
        case JOB_ACTIVE:
                j->ended_by = why;
                break;
        case JOB_LEAKED:
                if (j->ended_by == JOB_END_NONE)
                        j->ended_by = why;
                break;
        default:
                return -EINVAL;
        }
        j->state = JOB_RELEASING;
        k = store_save_job(r->store, j);
        if (k < 0) {
                j->state = old;
                j->ended_by = old_end;
                return k;
        }
        if (why == JOB_END_LEASE_EXPIRED && old == JOB_ACTIVE)
                r->lease_expiries_total++;
        return 1;
}

/* Forgets the oldest released jobs beyond REGISTRY_RELEASED_MAX: a host
 * cycling fast would otherwise keep a record (in memory and on disk) per
 * cycle for the whole retention. */
static int prune_over_cap(Registry *r) {
        size_t n_released = registry_count_state(r, JOB_RELEASED);

        while (n_released > REGISTRY_RELEASED_MAX) {
                Job *oldest = NULL;
                int k;

                for (size_t i = 0; i < r->n_jobs; i++)
                        if (r->jobs[i]->state == JOB_RELEASED && (!oldest || r->jobs[i]->released < oldest->released))
                                oldest = r->jobs[i];
                k = store_remove_job(r->store, oldest->id);
                if (k < 0)
                        return log_job_full_errno(LOG_ERR, k, oldest->id, oldest->owner,
                                                  "Cannot remove released job record: %m");
                drop_job(r, oldest);
                n_released--;
        }
        return 0;
}

int registry_finish_release(Registry *r, Job *j, usec_t now_usec, int cleanup_error, const char *detail) {
        int k;

        if (j->state != JOB_RELEASING)
                return -EINVAL;

        if (cleanup_error < 0) {
                char reason[1024];

                snprintf(reason, sizeof(reason), "cleanup failed: %s%s%s", strerror(-cleanup_error),
                         detail ? ": " : "", strempty(detail));
                r->cleanup_failures_total++;
                return registry_mark_leaked(r, j, reason);
        }

        j->state = JOB_RELEASED;
        j->released = now_usec;
        free(j->state_reason);
        j->state_reason = NULL;
        k = store_save_job(r->store, j);
        if (k < 0) {
                /* The tree is gone but the record still says releasing; a
                 * restart repeats the (now trivial) cleanup. */
                j->state = JOB_RELEASING;
                return k;
        }
        r->releases_total++;
        /* A failure to forget an old record is logged there; this release
         * itself succeeded. */
        (void) prune_over_cap(r);
        return 0;
}

int registry_adopt_orphan(Registry *r, const char *id, usec_t now_usec, Job **ret) {
        _cleanup_job_ Job *j = NULL;
        int k;

        k = job_new_placeholder(id, "job directory found without a record", now_usec, &j);
        if (k < 0)
                return k;
        k = store_save_job(r->store, j);
        if (k < 0)
                return k;
        k = add_job(r, j);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(j);
        return 0;
}

usec_t registry_next_deadline(const Registry *r) {
        usec_t next = USEC_INFINITY;

        for (size_t i = 0; i < r->n_jobs; i++) {
                const Job *j = r->jobs[i];
                if (j->state == JOB_ACTIVE)
                        next = MIN(next, j->lease_expires);
                else if (j->state == JOB_RELEASED)
                        next = MIN(next, j->released + r->policy->released_retention_sec * USEC_PER_SEC);
        }
        return next;
}

size_t registry_expired(Registry *r, usec_t now_usec, Job **buf, size_t n_buf) {
        size_t n = 0;

        for (size_t i = 0; i < r->n_jobs && n < n_buf; i++)
                if (r->jobs[i]->state == JOB_ACTIVE && r->jobs[i]->lease_expires <= now_usec)
                        buf[n++] = r->jobs[i];
        return n;
}

int registry_prune(Registry *r, usec_t now_usec) {
        usec_t keep = r->policy->released_retention_sec * USEC_PER_SEC;

        for (size_t i = r->n_jobs; i > 0; i--) {
                Job *j = r->jobs[i - 1];
                int k;

                if (j->state != JOB_RELEASED || j->released + keep > now_usec)
                        continue;
                k = store_remove_job(r->store, j->id);
                if (k < 0)
                        return log_job_full_errno(LOG_ERR, k, j->id, j->owner, "Cannot remove released job record: %m");
                drop_job(r, j);
        }
        return prune_over_cap(r);
}

int registry_mark_leaked(Registry *r, Job *j, const char *reason) {
        char drain[1100];
        int k;

        free(j->state_reason);
        j->state_reason = strdup(reason);
        j->state = JOB_LEAKED;
        log_job(LOG_ERR, j->id, j->owner, "Job leaked: %s; draining this host", reason);
        k = store_save_job(r->store, j);
        if (k < 0)
                return k;
        snprintf(drain, sizeof(drain), "job %s leaked: %s", j->id, reason);
        return registry_set_drain(r, true, drain);
}

int registry_set_drain(Registry *r, bool draining, const char *reason) {
        HostState old = r->host;
        int k;

        r->host.draining = draining;
        r->host.drain_reason = NULL;
        if (draining) {
                r->host.drain_reason = strdup(reason ?: "drained by an operator");
                if (!r->host.drain_reason) {
                        r->host = old;
                        return -ENOMEM;
                }
        }
        k = store_save_host(r->store, &r->host);
        if (k < 0) {
                free(r->host.drain_reason);
                r->host = old;
                return log_error_errno(k, "Cannot write host state: %m");
        }
        free(old.drain_reason);
        log_notice("%s%s%s", draining ? "Draining: " : "Resumed: accepting jobs", draining ? r->host.drain_reason : "", "");
        return 0;
}

void registry_metrics(const Registry *r, FILE *f) {
        metrics_family(f, "hostd_slots_used", "gauge", "Slots held by a job (active, releasing or leaked).");
        fprintf(f, "hostd_slots_used %u\n", registry_slots_used(r));

        metrics_family(f, "hostd_jobs", "gauge", "Jobs by state; released jobs are kept for a while as tombstones.");
        for (int s = 0; s < _JOB_STATE_MAX; s++)
                fprintf(f, "hostd_jobs{state=\"%s\"} %u\n", job_state_to_string(s), registry_count_state(r, s));

        metrics_family(f, "hostd_draining", "gauge", "1 if the host accepts no new jobs.");
        fprintf(f, "hostd_draining %d\n", r->host.draining ? 1 : 0);

        metrics_family(f, "hostd_allocations_total", "counter", "Jobs allocated since hostd started (retries not counted).");
        fprintf(f, "hostd_allocations_total %llu\n", (unsigned long long) r->allocations_total);
        metrics_family(f, "hostd_releases_total", "counter", "Jobs fully reclaimed since hostd started.");
        fprintf(f, "hostd_releases_total %llu\n", (unsigned long long) r->releases_total);
        metrics_family(f, "hostd_lease_expiries_total", "counter", "Jobs reclaimed because their lease ran out.");
        fprintf(f, "hostd_lease_expiries_total %llu\n", (unsigned long long) r->lease_expiries_total);
        metrics_family(f, "hostd_cleanup_failures_total", "counter", "Cleanups that failed and left a job leaked.");
        fprintf(f, "hostd_cleanup_failures_total %llu\n", (unsigned long long) r->cleanup_failures_total);
}
