/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Kills every process of a job until none is left: every process with a
 * uid in [uid_base, uid_base + 65536) and the job's session monitors
 * (named "s-<job>").  uid_base 0 means unknown: only monitors are killed.
 * Returns -EBUSY if processes still appear after many rounds (a fork
 * race that only a cgroup can stop). */
int reclaim_kill_job_processes(const char *job, uint32_t uid_base);
