/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Durable state: round trip, and every kind of bad record is quarantined
 * and comes back as a leaked job instead of crashing or vanishing. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "rm-rf.h"
#include "store.h"
#include "test-util.h"

static char dir[] = "/tmp/test-store-XXXXXX";

static Job *make_job(const char *id) {
        Job *j = job_new();
        memcpy(j->id, id, JOB_ID_LEN + 1);
        j->owner = strdup("tenant/run");
        j->platform = strdup("linux/amd64");
        j->public_key = strdup("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG");
        j->state = JOB_ACTIVE;
        j->created = 1000 * USEC_PER_SEC;
        j->lease_expires = 8200 * USEC_PER_SEC;
        j->lease_seconds = 7200;
        j->quota = (JobResources) { .millicpus = 1500, .memory = 1ULL << 32, .pids = 4096, .disk = 1ULL << 34 };
        return j;
}

static void put(Store *s, const char *name, const char *text, size_t len) {
        CHECK(write_file_atomic_at(s->registry_fd, name, text, len, 0600) == 0);
}

static Job *find(Job **jobs, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (streq(jobs[i]->id, id))
                        return jobs[i];
        return NULL;
}

static unsigned count_dir(int fd) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        unsigned n = 0;
        if (opendir_at(fd, &d) < 0)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        return n;
}

int main(void) {
        Store *s = NULL;
        Job **jobs = NULL, *j;
        size_t n = 0;
        const char *good_id = "j0123456789ab";
        char valid[4096];
        json_object *o;
        HostState h;

        log_setup("test-store", LOG_TARGET_STDERR);
        log_set_max_level(LOG_CRIT);
        if (!mkdtemp(dir))
                return 1;
        chmod(dir, 0755);
        CHECK(store_open(dir, &s) == 0);

        /* Round trip. */
        j = make_job(good_id);
        CHECK(store_save_job(s, j) == 0);
        CHECK(job_to_state_json(j, &o) == 0);
        snprintf(valid, sizeof(valid), "%s", json_object_to_json_string(o));
        json_object_put(o);
        job_free(j);

        /* Bad records of every kind, each named after a valid id. */
        put(s, "j000000000001.json", "{ not json", 10);
        put(s, "j000000000002.json", valid, strlen(valid) / 2);                  /* torn */
        put(s, "j000000000003.json", "", 0);                                     /* empty */
        put(s, "j000000000004.json", "{\"version\": 99, \"job\": \"j000000000004\"}", 39); /* newer hostd */
        {
                char twice[8192];
                snprintf(twice, sizeof(twice), "%s%s", valid, valid);                /* mixed write */
                put(s, "j000000000005.json", twice, strlen(twice));
        }
        put(s, "j000000000006.json", valid, strlen(valid));                      /* names another job */
        put(s, "j000000000007.json", "{\"version\":1}", 13);                     /* fields missing */
        put(s, "j000000000008.json", "[1,2,3]", 7);
        put(s, "j000000000009.json", "{\"version\":1}\0garbage", 21);            /* NUL inside */
        put(s, ATOMIC_TMP_PREFIX "deadbeef-j00000000000a.json", "partial", 7);   /* interrupted write */
        put(s, "README", "not a record", 12);
        s = store_close(s);

        CHECK(store_open(dir, &s) == 0);
        CHECK(store_load_jobs(s, &jobs, &n) == 0);
        CHECK_MSG(n == 10, "loaded %zu jobs", n);

        j = find(jobs, n, good_id);
        CHECK(j && j->state == JOB_ACTIVE && streq(j->owner, "tenant/run") && j->quota.millicpus == 1500 &&
              j->lease_expires == 8200 * USEC_PER_SEC && j->quota.disk == 1ULL << 34);

        for (int i = 1; i <= 9; i++) {
                char id[JOB_ID_LEN + 1];
                snprintf(id, sizeof(id), "j00000000000%d", i);
                j = find(jobs, n, id);
                CHECK_MSG(j && j->state == JOB_LEAKED && strstr(strempty(j->state_reason), "quarantined"),
                          "bad record %s not kept as leaked", id);
        }
        CHECK_STR_CONTAINS(find(jobs, n, "j000000000002")->state_reason, "truncated");
        CHECK_STR_CONTAINS(find(jobs, n, "j000000000004")->state_reason, "version 99");
        /* Two objects back to back: json-c stops at the second '{'. */
        CHECK(str_contains(find(jobs, n, "j000000000005")->state_reason, "trailing") ||
              str_contains(find(jobs, n, "j000000000005")->state_reason, "unexpected character"));
        CHECK_STR_CONTAINS(find(jobs, n, "j000000000006")->state_reason, "names job");
        CHECK(count_dir(s->quarantine_fd) == 9);
        {
                struct stat st;
                CHECK(fstatat(s->registry_fd, ATOMIC_TMP_PREFIX "deadbeef-j00000000000a.json", &st, 0) < 0);
                CHECK(fstatat(s->registry_fd, "README", &st, 0) == 0);
        }
        for (size_t i = 0; i < n; i++)
                job_free(jobs[i]);
        free(jobs);

        /* The placeholders were persisted: a second start finds the same. */
        s = store_close(s);
        CHECK(store_open(dir, &s) == 0);
        CHECK(store_load_jobs(s, &jobs, &n) == 0);
        CHECK(n == 10);
        CHECK(count_dir(s->quarantine_fd) == 9);
        for (size_t i = 0; i < n; i++)
                job_free(jobs[i]);
        free(jobs);

        /* Host state: round trip, then a corrupt file fails closed (drained). */
        CHECK(store_save_host(s, &(HostState) { .draining = true, .drain_reason = (char *) "maintenance" }) == 0);
        CHECK(store_load_host(s, &h) == 0);
        CHECK(h.draining && streq_ptr(h.drain_reason, "maintenance"));
        host_state_done(&h);
        CHECK(write_file_atomic_at(s->dir_fd, "host.json", "{\"draining\":", 12, 0600) == 0);
        CHECK(store_load_host(s, &h) == 0);
        CHECK(h.draining);
        CHECK_STR_CONTAINS(h.drain_reason, "unreadable");
        host_state_done(&h);

        /* A state dir others can write to is refused. */
        s = store_close(s);
        chmod(dir, 0777);
        CHECK(store_open(dir, &s) == -EPERM);
        chmod(dir, 0755);

        /* Every directory down to jobs/ must be searchable by a job's uid:
         * the first one that is not is named. */
        if (geteuid() == 0) {
                char sub[sizeof(dir) + 16], *bad = NULL;
                mode_t mode = 0;

                snprintf(sub, sizeof(sub), "%s/p/state", dir);
                CHECK(mkdir_parents_safe(sub, 0755) == 0);
                CHECK(store_open(sub, &s) == 0);
                CHECK(store_check_traversable(s, 65534, 65534, &bad, &mode) == 0);
                CHECK(!bad);
                chmod(dir, 0700);
                CHECK(store_check_traversable(s, 65534, 65534, &bad, &mode) == -EACCES);
                CHECK(streq_ptr(bad, dir));
                CHECK(mode == 0700);
                free(bad);
                bad = NULL;
                chmod(dir, 0711);
                CHECK(fchmod(s->jobs_fd, 0700) == 0);
                CHECK(store_check_traversable(s, 65534, 65534, &bad, &mode) == -EACCES);
                CHECK_STR_CONTAINS(bad, "/p/state/jobs");
                free(bad);
                s = store_close(s);
                chmod(dir, 0755);
        }

        CHECK(rm_rf_path(dir) == 0);
        return test_summary("test-store");
}
