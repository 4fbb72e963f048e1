/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One job's sandbox as the daemon sees it: the namespaces (sandbox.c), its
 * disk (job-disk.c), its cgroup (cgroup.c, or a systemd scope through
 * cgroup-systemd.c), and podman's configuration in its home (podman-config.c).
 * Created at allocate, re-adopted after a restart, torn down at release. */

#include <systemd/sd-event.h>

#include "cgroup.h"
#include "job.h"

/* What this host can enforce, found once at start. */
typedef struct Enforcement {
        bool sandbox;          /* user/mount/pid namespaces work */
        bool systemd;          /* job cgroups are systemd scopes */
        CgroupSupport cgroup;  /* cgroupfs: where and which controllers */
        bool disk_quota;       /* loop devices and mkfs.ext4 */
        bool seccomp;
        bool private_binfmt;   /* each job can get its own empty binfmt_misc (Linux 6.7) */
        const char *runtime;   /* podman's OCI runtime here */
        char native_platform[32];  /* "linux/amd64": jobs of any other platform are emulated */
} Enforcement;

int enforcement_detect(Enforcement *ret);

/* Caps all jobs together ([Jobs] Total*; 0 = none): the jobs slice under
 * systemd, the hostd.jobs cgroup otherwise. */
int job_sandbox_apply_totals(const Enforcement *e, const JobResources *total);

/* What job_sandbox_start() needs of the daemon, built by its caller. */
typedef struct JobSandboxContext {
        sd_event *event;                  /* watches the job's init, anchor and pasta */
        const Enforcement *enforcement;
        const char *state_dir;            /* the store's directory */
        int jobs_fd;                      /* its jobs/ */
        JobNetwork network;               /* [Jobs] Network= */
        bool allow_emulated;              /* [Jobs] AllowEmulated= */
} JobSandboxContext;

/* Builds the job's sandbox (or re-adopts a running one after a restart,
 * or rebuilds it around the existing disk after a reboot), records the
 * anchor in the job, and fills the job's runtime fields. */
int job_sandbox_start(const JobSandboxContext *c, Job *j);

/* Stops watching the job's init and anchor (hostd is going away). */
void job_sandbox_unwatch(Job *j);

/* Closes the daemon's descriptors of the job's sandbox, before cleanup. */
void job_sandbox_release_fds(Job *j);

/* In the cleanup child: kill everything of the job (cgroup or unit, then
 * its pid namespace and uid range), wait until it is gone, end other jobs'
 * processes that hold its disk or namespaces, then remove the disk image
 * and the cgroup.  Tree removal follows (rm-rf.c). */
int job_sandbox_destroy(const Enforcement *e, const Policy *p, int jobs_fd, const Job *j);

typedef struct JobUsage {
        bool has_cpu, has_memory, has_disk;
        uint64_t cpu_usec, memory, disk_used, disk_total;
} JobUsage;
void job_sandbox_usage(const Enforcement *e, const Job *j, JobUsage *ret);
