/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Job cgroups under systemd: when systemd is PID 1 it owns the cgroup
 * tree, so a job's cgroup is a transient scope unit
 * "hostd-job-<job>.scope" in "hostd-jobs.slice", made with
 * StartTransientUnit over the system bus the way systemd-run --scope
 * does.  The subtree is delegated (Delegate=yes) so that podman can make
 * its own cgroups inside, and the scope is garbage collected once
 * inactive or failed.
 *
 * Every call opens its own system bus connection and blocks until systemd
 * has finished the job it queued (JobRemoved), at most
 * CGROUP_SYSTEMD_TIMEOUT_USEC per bus call and wait.  hostd calls these at
 * allocate and release.
 *
 * Once started, the scope's cgroup (see cgroup_systemd_start()) can be
 * read and killed through cgroupfs like any other. */

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"

#define CGROUP_SYSTEMD_SLICE "hostd-jobs.slice"
#define CGROUP_SYSTEMD_PREFIX "hostd-job-"
#define CGROUP_SYSTEMD_TIMEOUT_USEC (10U * USEC_PER_SEC)
/* How long a stop may take: as long as the cgroupfs backend's kill.  A
 * fork bomb's scope on a loaded host can take over 10 s to empty, and a
 * stop that gives up marks the job leaked and drains the host. */
#define CGROUP_SYSTEMD_STOP_TIMEOUT_USEC (30U * USEC_PER_SEC)
/* Where systemd mounts the cgroup tree; ControlGroup paths are relative to it. */
#define CGROUP_SYSTEMD_ROOT "/sys/fs/cgroup"

/* "hostd-job-<job>.scope" into buf; -EINVAL for an invalid job name,
 * -ENAMETOOLONG if buf is too small. */
int cgroup_systemd_unit_name(const char *job, char *buf, size_t size);

/* The cgroupfs directory systemd gives the job's scope,
 * CGROUP_SYSTEMD_ROOT "/hostd.slice/" CGROUP_SYSTEMD_SLICE "/<unit>", into
 * buf, without asking systemd: for a scope started before a restart of
 * hostd.  Errors as for cgroup_systemd_unit_name(). */
int cgroup_systemd_path(const char *job, char *buf, size_t size);

/* Creates the scope with pid (the job's anchor process) in it and the
 * limits of l (0 = leave systemd's default: unlimited, except TasksMax,
 * which then is DefaultTasksMax=), and waits until it is running.  In
 * *ret_cgroup_path (optional) the scope's ControlGroup property, relative
 * to the cgroup2 mount ("/hostd.slice/hostd-jobs.slice/hostd-job-J.scope").
 * -EEXIST if the unit exists already. */
int cgroup_systemd_start(const char *job, pid_t pid, const CgroupLimits *l, char **ret_cgroup_path);

/* SIGKILLs every process of the scope (KillUnit "all"), then stops it
 * and waits for the stop job.  A unit that does not exist (anymore) is
 * success. */
int cgroup_systemd_stop(const char *job);

/* Caps all jobs together: CPUQuotaPerSecUSec, MemoryMax and TasksMax of
 * CGROUP_SYSTEMD_SLICE as runtime properties (0 = infinity). */
int cgroup_systemd_set_slice_limits(const CgroupLimits *l);

/* 1 if systemd has the unit loaded, 0 if not, or a negative errno. */
int cgroup_systemd_exists(const char *job);

/* systemd is PID 1 (sd_booted() > 0) and answers on the system bus. */
bool cgroup_systemd_available(void);
