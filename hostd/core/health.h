/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host health checks that drain the host, with the reason, before jobs
 * start failing on it:
 *   - free disk under the state directory below [Health] MinFreeDisk
 *     (every CheckInterval);
 *   - the podman probe failing ProbeFailures times in a row (one every
 *     ProbeInterval): `podman info` on a scratch store, which needs the OCI
 *     runtime, conmon and the storage driver to work.
 * (A failed cleanup drains the host too; that is the registry's.)
 * A drain stops new allocations only.  `hostctl resume` clears it; a
 * problem that is still there drains the host again at its next check.
 * An operator's own drain is never overwritten. */

#include <stdio.h>
#include <json-c/json.h>
#include "daemon.h"

typedef struct Health Health;

int health_new(Daemon *d, Health **ret);
Health *health_free(Health *h);

/* The policy changed (reload): intervals and thresholds are re-read. */
void health_policy_changed(Health *h);

/* Adds a line per failing check to a JSON array (capacity's
 * health.problems). */
void health_add_problems(const Health *h, json_object *problems);

typedef struct HealthStats {
        bool disk_low, probe_failed;
        uint32_t probe_failures_in_row;   /* consecutive failed probes; 0 after a success */
        uint64_t probe_failures_total, drains_total;
} HealthStats;
void health_stats(const Health *h, HealthStats *ret);
/* Its metrics families (metrics.c). */
void health_metrics(const Health *h, FILE *f);
