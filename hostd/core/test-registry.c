/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Registry semantics with a controllable clock: idempotent allocate, slot
 * limits, drain, leases and renew, the release state machine, persistence. */
#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"
#include "registry.h"
#include "rm-rf.h"
#include "test-util.h"

#define T0 ((usec_t) 1800000000ULL * USEC_PER_SEC)

static char state_dir[] = "/tmp/test-registry-XXXXXX";

static bool file_exists(const char *sub) {
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", state_dir, sub);
        return lstat(p, &st) == 0;
}

static AllocateRequest req(const char *owner) {
        return (AllocateRequest) { .owner = owner, .platform = "linux/amd64" };
}

static void test_allocate_and_idempotency(Registry *r) {
        AllocateRequest a = req("ns/run-1");
        ApiError e = {};
        Job *j1 = NULL, *j2 = NULL;
        char path[128];

        CHECK(registry_allocate(r, &a, T0, &j1, &e) == 0);
        CHECK(j1 && j1->state == JOB_ACTIVE);
        CHECK(job_id_is_valid(j1->id));
        CHECK(j1->lease_seconds == r->policy->job_default.lease);
        CHECK(j1->lease_expires == T0 + r->policy->job_default.lease * USEC_PER_SEC);
        CHECK(j1->quota.memory == r->policy->job_default.memory);
        snprintf(path, sizeof(path), "jobs/%s/home", j1->id);
        CHECK(file_exists(path));
        snprintf(path, sizeof(path), "registry/%s.json", j1->id);
        CHECK(file_exists(path));

        /* A retry, even with other values, returns the same job. */
        a.lease_sec = 999999;
        CHECK(registry_allocate(r, &a, T0 + 5 * USEC_PER_SEC, &j2, &e) == 1);
        CHECK(j2 == j1);
        CHECK(registry_slots_used(r) == 1);
        CHECK(r->allocations_total == 1);
}

static void test_slots_and_drain(Registry *r, Policy *p) {
        AllocateRequest a = req("ns/run-2"), b = req("ns/run-3"), c = req("ns/run-1");
        ApiError e = {};
        Job *j = NULL;

        p->slots = 2;
        CHECK(registry_allocate(r, &a, T0, &j, &e) == 0);
        CHECK(registry_allocate(r, &b, T0, &j, &e) < 0);
        CHECK(streq_ptr(e.code, API_ERROR_NO_CAPACITY));
        CHECK_STR_CONTAINS(e.message, "all 2 slots are in use");

        /* A full host still answers a retry with the existing job. */
        CHECK(registry_allocate(r, &c, T0, &j, &e) == 1);

        p->slots = 4;
        CHECK(registry_set_drain(r, true, "kernel update") == 0);
        e = (ApiError) {};
        CHECK(registry_allocate(r, &b, T0, &j, &e) < 0);
        CHECK(streq_ptr(e.code, API_ERROR_DRAINING));
        CHECK_STR_CONTAINS(e.message, "kernel update");
        CHECK(file_exists("host.json"));
        CHECK(registry_set_drain(r, false, NULL) == 0);
        e = (ApiError) {};
        CHECK(registry_allocate(r, &b, T0, &j, &e) == 0);
        CHECK(registry_slots_used(r) == 3);
}

static void test_bounds(Registry *r) {
        AllocateRequest a = req("ns/bounds");
        ApiError e = {};
        Job *j = NULL;

        a.millicpus = r->policy->job_max.millicpus + 1;
        CHECK(registry_allocate(r, &a, T0, &j, &e) < 0);
        CHECK(streq_ptr(e.code, API_ERROR_BAD_REQUEST));
        CHECK_STR_CONTAINS(e.message, "MaxCPUs");

        a = req("ns/bounds");
        a.memory = r->policy->job_max.memory + 1;
        e = (ApiError) {};
        CHECK(registry_allocate(r, &a, T0, &j, &e) < 0);
        CHECK_STR_CONTAINS(e.message, "MaxMemory");

        a = req("ns/bounds");
        a.disk = r->policy->job_max.disk * 2;
        e = (ApiError) {};
        CHECK(registry_allocate(r, &a, T0, &j, &e) < 0);
        CHECK_STR_CONTAINS(e.message, "MaxDisk");

        a = req("ns/bounds");
        a.lease_sec = 10;
        e = (ApiError) {};
        CHECK(registry_allocate(r, &a, T0, &j, &e) < 0);
        CHECK_STR_CONTAINS(e.message, "too short");
}

static void test_leases(Registry *r) {
        AllocateRequest a = req("ns/lease");
        ApiError e = {};
        Job *j = NULL, *buf[8];
        usec_t t = T0 + 100 * USEC_PER_SEC;

        /* Above the maximum: clamped, and the job says what it got. */
        a.lease_sec = r->policy->job_max.lease * 10;
        CHECK(registry_allocate(r, &a, t, &j, &e) == 0);
        CHECK(j->lease_seconds == r->policy->job_max.lease);

        CHECK(registry_renew(r, j->id, 600, t, &j, &e) == 0);
        CHECK(j->lease_expires == t + 600 * USEC_PER_SEC);
        CHECK(registry_next_deadline(r) <= j->lease_expires);

        /* Renew extends from now, up to the maximum. */
        CHECK(registry_renew(r, j->id, 10 * r->policy->job_max.lease, t + USEC_PER_SEC, &j, &e) == 0);
        CHECK(j->lease_expires == t + USEC_PER_SEC + r->policy->job_max.lease * USEC_PER_SEC);
        CHECK(registry_renew(r, j->id, 600, t, &j, &e) == 0);

        CHECK(registry_expired(r, t + 599 * USEC_PER_SEC, buf, 8) == 0 ||
              !streq(buf[0]->id, j->id));
        {
                size_t n = registry_expired(r, t + 600 * USEC_PER_SEC, buf, 8);
                bool found = false;
                for (size_t i = 0; i < n; i++)
                        found = found || buf[i] == j;
                CHECK(found);
        }

        e = (ApiError) {};
        CHECK(registry_renew(r, "j000000000000", 600, t, &j, &e) < 0);
        CHECK(streq_ptr(e.code, API_ERROR_UNKNOWN_JOB));
}

static void test_release(Registry *r, Policy *p) {
        AllocateRequest a = req("ns/rel"), b = req("ns/rel-2");
        ApiError e = {};
        Job *j = NULL, *k = NULL;
        unsigned used;
        char path[128];

        p->slots = 16;
        CHECK(registry_allocate(r, &a, T0, &j, &e) == 0);
        if (!j)
                return;
        used = registry_slots_used(r);
        p->slots = used;

        CHECK(registry_begin_release(r, j, JOB_END_RELEASE) == 1);
        CHECK(j->state == JOB_RELEASING);
        /* Cleanup has not finished: the slot is still taken. */
        CHECK(registry_slots_used(r) == used);
        CHECK(registry_allocate(r, &b, T0, &k, &e) < 0);
        CHECK(streq_ptr(e.code, API_ERROR_NO_CAPACITY));
        /* A second release while cleaning: nothing new to start. */
        CHECK(registry_begin_release(r, j, JOB_END_RELEASE) == 0);

        CHECK(rm_rf_at(r->store->jobs_fd, j->id) == 0);
        CHECK(registry_finish_release(r, j, T0 + USEC_PER_SEC, 0, NULL) == 0);
        CHECK(j->state == JOB_RELEASED);
        CHECK(registry_slots_used(r) == used - 1);
        snprintf(path, sizeof(path), "jobs/%s", j->id);
        CHECK(!file_exists(path));
        /* The owner may allocate again: a released job is not "its" job. */
        e = (ApiError) {};
        CHECK(registry_allocate(r, &a, T0, &k, &e) == 0);
        CHECK(k != j);
        CHECK(registry_begin_release(r, j, JOB_END_RELEASE) == 0);

        /* A failed cleanup leaks the job: slot kept, host drained. */
        CHECK(registry_begin_release(r, k, JOB_END_RELEASE) == 1);
        CHECK(registry_finish_release(r, k, T0, -EBUSY, "mount left") == 0);
        CHECK(k->state == JOB_LEAKED);
        CHECK_STR_CONTAINS(k->state_reason, "mount left");
        CHECK(r->host.draining);
        CHECK_STR_CONTAINS(r->host.drain_reason, k->id);
        CHECK(registry_slots_used(r) == used);
        /* A release retries a leaked job. */
        CHECK(registry_begin_release(r, k, JOB_END_RELEASE) == 1);
        CHECK(rm_rf_at(r->store->jobs_fd, k->id) == 0);
        CHECK(registry_finish_release(r, k, T0, 0, NULL) == 0);
        CHECK(k->state == JOB_RELEASED);
        CHECK(registry_set_drain(r, false, NULL) == 0);
        p->slots = 4;
}

static void test_persistence_and_prune(Store **store, Registry **r, Policy *p) {
        size_t n = (*r)->n_jobs;
        char ids[32][JOB_ID_LEN + 1];
        JobState states[32];
        usec_t expires[32];

        for (size_t i = 0; i < n && i < 32; i++) {
                memcpy(ids[i], (*r)->jobs[i]->id, sizeof(ids[i]));
                states[i] = (*r)->jobs[i]->state;
                expires[i] = (*r)->jobs[i]->lease_expires;
        }
        *r = registry_free(*r);
        *store = store_close(*store);

        CHECK(store_open(state_dir, store) == 0);
        CHECK(registry_new(*store, p, T0, r) == 0);
        CHECK((*r)->n_jobs == n);
        for (size_t i = 0; i < n && i < 32; i++) {
                Job *j = registry_find(*r, ids[i]);
                CHECK_MSG(j && j->state == states[i] && j->lease_expires == expires[i], "job %s not restored", ids[i]);
        }

        /* Released jobs are forgotten after the retention, records too. */
        p->released_retention_sec = 60;
        CHECK(registry_prune(*r, T0 + 3600 * USEC_PER_SEC) == 0);
        CHECK((*r)->n_jobs == n - 2);
        CHECK(registry_count_state(*r, JOB_RELEASED) == 0);
}

/* However long the retention, at most REGISTRY_RELEASED_MAX released
 * records are kept: a fast-cycling host must not grow without bound. */
static void test_released_cap(Registry *r, Policy *p) {
        char first[JOB_ID_LEN + 1] = "", owner[64], path[128];
        unsigned before = registry_count_state(r, JOB_RELEASED);

        p->slots = 16;
        p->released_retention_sec = 3600;
        for (unsigned i = 0; i < REGISTRY_RELEASED_MAX + 5; i++) {
                AllocateRequest a;
                ApiError e = {};
                Job *j = NULL;

                snprintf(owner, sizeof(owner), "ns/cap-%u", i);
                a = req(owner);
                CHECK(registry_allocate(r, &a, T0 + i, &j, &e) == 0);
                if (i == 0)
                        memcpy(first, j->id, sizeof(first));
                CHECK(registry_begin_release(r, j, JOB_END_RELEASE) == 1);
                CHECK(registry_finish_release(r, j, T0 + i, 0, NULL) == 0);
        }
        CHECK(before <= REGISTRY_RELEASED_MAX);
        CHECK(registry_count_state(r, JOB_RELEASED) == REGISTRY_RELEASED_MAX);
        CHECK(!registry_find(r, first));
        snprintf(path, sizeof(path), "registry/%s.json", first);
        CHECK(!file_exists(path));
}

int main(void) {
        _cleanup_policy_ Policy *p = NULL;
        Store *store = NULL;
        Registry *r = NULL;

        log_setup("test-registry", LOG_TARGET_STDERR);
        log_set_max_level(LOG_WARNING);
        if (!mkdtemp(state_dir))
                return 1;
        chmod(state_dir, 0755);
        if (policy_new_default(&p) < 0 || store_open(state_dir, &store) < 0 || registry_new(store, p, T0, &r) < 0) {
                fprintf(stderr, "setup failed\n");
                return 1;
        }
        {
                Store *second = NULL;
                CHECK(store_open(state_dir, &second) == -EBUSY);
        }

        test_allocate_and_idempotency(r);
        test_slots_and_drain(r, p);
        test_bounds(r);
        test_leases(r);
        test_release(r, p);
        test_persistence_and_prune(&store, &r, p);
        test_released_cap(r, p);

        registry_free(r);
        store_close(store);
        CHECK(rm_rf_path(state_dir) == 0);
        return test_summary("test-registry");
}
