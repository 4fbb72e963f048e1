/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Killing everything in a job's cgroup (cgroupfs mode, see cgroup.h). */

#include "cgroup.h"
#include "time-util.h"

/* Kills every process in the job's cgroup subtree and returns once it is
 * empty (cgroup.events says "populated 0"), or -ETIMEDOUT after timeout
 * (USEC_INFINITY = no limit).  Uses cgroup.kill when s->kill (atomic over
 * the subtree, even against a fork bomb); otherwise rounds of freeze (when
 * s->freeze), SIGKILL to every pid of every descendant, thaw.  Waiting is
 * event driven (poll on cgroup.events).  A missing cgroup is success. */
int cgroup_job_kill(const CgroupSupport *s, const char *job, usec_t timeout);
