/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "health.h"
#include "job-sandbox.h"
#include "macros.h"

const double cleanup_bucket_bounds[CLEANUP_BUCKETS] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300 };

void metrics_family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The SSH listener's families, from its counters (all zero without a
 * listener).  A row with a type starts a family. */
static void ssh_metrics(Daemon *d, FILE *f) {
        SshStats s;

        daemon_ssh_stats(d, &s);
        const struct {
                const char *name, *type, *help, *label;
                uint64_t value;
        } rows[] = {
                { "hostd_ssh_sessions", "gauge", "SSH connections open now, by authentication state.",
                  "state=\"authenticated\"", s.sessions - s.unauthenticated },
                { "hostd_ssh_sessions", NULL, NULL, "state=\"unauthenticated\"", s.unauthenticated },
                { "hostd_ssh_connections_total", "counter", "SSH connections accepted by the listener.", NULL, s.accepted_total },
                { "hostd_ssh_rejected_total", "counter", "SSH connections closed before any SSH byte, by reason.",
                  "reason=\"max-startups\"", s.rejected_startups_total },
                { "hostd_ssh_rejected_total", NULL, NULL, "reason=\"per-source-max-startups\"", s.rejected_per_source_total },
                { "hostd_ssh_rejected_total", NULL, NULL, "reason=\"penalty\"", s.rejected_penalty_total },
                { "hostd_ssh_authentications_total", "counter", "Completed SSH authentication decisions, by result.",
                  "result=\"success\"", s.auth_successes_total },
                { "hostd_ssh_authentications_total", NULL, NULL, "result=\"failure\"", s.auth_failures_total },
                { "hostd_ssh_authentications_total", NULL, NULL, "result=\"max-sessions-per-job\"", s.rejected_per_job_total },
                { "hostd_ssh_controller_reserved_total", "counter",
                  "SSH connections admitted to a slot reserved for the controller (ControllerStartups).", NULL,
                  s.admitted_reserved_total },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                if (rows[i].type)
                        metrics_family(f, rows[i].name, rows[i].type, rows[i].help);
                fprintf(f, "%s%s%s%s %llu\n", rows[i].name, rows[i].label ? "{" : "", strempty(rows[i].label),
                        rows[i].label ? "}" : "", (unsigned long long) rows[i].value);
        }
}

/* The daemon's own families and, in a fixed order, each subsystem's
 * (its *_metrics() hook). */
int metrics_render(Daemon *d, char **ret) {
        _cleanup_free_ char *buf = NULL;
        Registry *r = d->registry;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        metrics_family(f, "hostd_info", "gauge", "Version of the running hostd.");
        fprintf(f, "hostd_info{version=\"%s\"} 1\n", HOSTD_VERSION);

        metrics_family(f, "hostd_start_time_seconds", "gauge", "When hostd started, in seconds since the epoch.");
        fprintf(f, "hostd_start_time_seconds %llu\n", (unsigned long long) (d->started_realtime / USEC_PER_SEC));

        metrics_family(f, "hostd_slots", "gauge", "Job slots this host offers, from the policy.");
        fprintf(f, "hostd_slots %u\n", d->policy->slots);
        registry_metrics(r, f);

        metrics_family(f, "hostd_policy_reloads_total", "counter", "Policy reloads, by result.");
        fprintf(f, "hostd_policy_reloads_total{result=\"ok\"} %llu\n", (unsigned long long) d->reloads_total);
        fprintf(f, "hostd_policy_reloads_total{result=\"failed\"} %llu\n", (unsigned long long) d->reload_failures_total);

        ssh_metrics(d, f);
        health_metrics(d->health, f);

        /* Per active job, where this host can measure it (capacity's
         * enforcement says which).  Labels are safe as they are: job ids are
         * hex, owners are checked at allocate ([A-Za-z0-9._:/-]). */
        {
                static const struct {
                        const char *name, *type, *help;
                } fams[] = {
                        { "hostd_job_cpu_seconds_total", "counter", "CPU time used by an active job's processes." },
                        { "hostd_job_memory_bytes", "gauge", "Memory used by an active job (its cgroup's memory.current)." },
                        { "hostd_job_disk_used_bytes", "gauge", "Bytes used on an active job's disk." },
                        { "hostd_job_disk_size_bytes", "gauge", "Size of an active job's disk (its quota)." },
                };
                JobUsage *u = calloc(MAX(r->n_jobs, 1u), sizeof(JobUsage));

                if (!u) {
                        fclose(f);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < r->n_jobs; i++)
                        if (r->jobs[i]->state == JOB_ACTIVE)
                                job_sandbox_usage(&d->enforcement, r->jobs[i], &u[i]);
                for (size_t k = 0; k < ELEMENTSOF(fams); k++) {
                        metrics_family(f, fams[k].name, fams[k].type, fams[k].help);
                        for (size_t i = 0; i < r->n_jobs; i++) {
                                const Job *j = r->jobs[i];
                                bool has = k == 0 ? u[i].has_cpu : k == 1 ? u[i].has_memory : u[i].has_disk;

                                if (j->state != JOB_ACTIVE || !has)
                                        continue;
                                fprintf(f, "%s{job=\"%s\",owner=\"%s\"} ", fams[k].name, j->id, j->owner);
                                if (k == 0)
                                        fprintf(f, "%.6f\n", (double) u[i].cpu_usec / 1e6);
                                else
                                        fprintf(f, "%llu\n", (unsigned long long) (k == 1 ? u[i].memory :
                                                                                    k == 2 ? u[i].disk_used : u[i].disk_total));
                        }
                }
                free(u);
        }

        metrics_family(f, "hostd_cleanup_duration_seconds", "histogram", "Time from release to a reclaimed (or leaked) job.");
        for (size_t i = 0; i < CLEANUP_BUCKETS; i++)
                fprintf(f, "hostd_cleanup_duration_seconds_bucket{le=\"%g\"} %llu\n", cleanup_bucket_bounds[i],
                        (unsigned long long) d->cleanup_buckets[i]);
        fprintf(f, "hostd_cleanup_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long) d->cleanup_count);
        fprintf(f, "hostd_cleanup_duration_seconds_sum %.6f\n", d->cleanup_sum_sec);
        fprintf(f, "hostd_cleanup_duration_seconds_count %llu\n", (unsigned long long) d->cleanup_count);

        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}
