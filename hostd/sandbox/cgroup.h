/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Job cgroups written directly on the cgroup2 file system ("cgroupfs
 * mode"), for hosts where systemd is not PID 1 (see cgroup-systemd.h for the
 * systemd way).  Each job gets <base>/<job>, where base is
 * <cgroup2 mount>[/<parent>]/hostd.jobs: a sibling of hostd's own cgroup
 * rather than a child of it, so that stopping or restarting hostd never
 * kills jobs.  hostd.jobs itself holds no processes ("no internal
 * processes" rule), only the job cgroups, so controllers can be enabled
 * for them.
 *
 * All functions return a negative errno on failure and log it with the
 * path involved. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "time-util.h"

typedef struct CgroupSupport {
        char root[256];      /* the cgroup2 mount: "/sys/fs/cgroup" (unified) or
                              * "/sys/fs/cgroup/unified" (hybrid); "" if none */
        char base[256];      /* where job cgroups go: <root>[/<parent>]/hostd.jobs; "" if none */
        bool kill;           /* cgroup.kill exists (kernel >= 5.14); tests may clear it
                              * to exercise the fallback */
        bool freeze;         /* cgroup.freeze exists (kernel >= 5.2); likewise */
        bool cpu, memory, pids, io;   /* controllers enabled for job cgroups */
        bool memory_swap;    /* memory.swap.max exists */
} CgroupSupport;

/* Finds the cgroup2 mount in /proc/self/mountinfo and prepares
 * <root>/hostd.jobs (created if missing, controllers enabled on the way
 * down as far as the kernel allows).  No cgroup2 mount is not an error:
 * root and base stay "".  On failure to prepare hostd.jobs, returns the
 * error with root filled in and base "". */
int cgroup_detect(CgroupSupport *ret);

/* Under systemd, which owns the tree: fills root and what jobs' scopes
 * can get (controllers, cgroup.kill) without creating anything; base
 * stays "" (job cgroups come from cgroup-systemd.c). */
int cgroup_detect_under_systemd(CgroupSupport *ret);

/* The same with a configured parent cgroup (relative to the mount, e.g.
 * "/hostd.slice" or "/"; NULL = "/"): base = <root><parent>/hostd.jobs.
 * The parent is created if missing.  Refused (-EINVAL) if that would put
 * hostd.jobs inside hostd's own (non-root) cgroup. */
int cgroup_detect_with_parent(const char *parent, CgroupSupport *ret);

/* Job names are one path component of [A-Za-z0-9_-], 1..64 chars, so
 * they can never collide with a cgroup control file ("cpu.max") nor
 * escape base. */
bool cgroup_job_name_is_valid(const char *job);

typedef struct CgroupLimits {
        uint32_t millicpus;   /* 1000 = one CPU; 0 = no limit */
        uint64_t memory;      /* bytes; 0 = no limit */
        uint64_t swap;        /* bytes; 0 = no limit, unless no_swap */
        bool no_swap;         /* no swap at all (memory.swap.max = 0) */
        uint64_t pids;        /* 0 = no limit */
        uint64_t io_weight;   /* 1..10000; 0 = default (100) */
} CgroupLimits;

/* How deep and how many cgroups a job may create inside its own (podman
 * needs a few levels; a hostile job must not exhaust kernel memory or
 * make removal recurse without bound). */
#define CGROUP_JOB_MAX_DEPTH 16U
#define CGROUP_JOB_MAX_DESCENDANTS 4096U

/* mkdir <base>/<job> (0755, root) and write its limits: cpu.max,
 * memory.max, memory.swap.max, pids.max, io.weight where the controller
 * is enabled (see CgroupSupport for which are), plus cgroup.max.depth and
 * cgroup.max.descendants.  A limit of 0 is written as "max" (or the
 * default weight), so calling this again on an existing cgroup rewrites
 * every limit: it is idempotent. */
int cgroup_job_create(const CgroupSupport *s, const char *job, const CgroupLimits *l);

/* Hands the job's cgroup to uid/gid the way cgroup-v2.rst describes
 * delegation: the directory and its cgroup.procs, cgroup.threads and
 * cgroup.subtree_control, so that podman in the job's user namespace can
 * create and populate child cgroups.  The limit files stay root's. */
int cgroup_job_delegate(const CgroupSupport *s, const char *job, uid_t uid, gid_t gid);

/* The same for any cgroup directory open at fd (path for messages): for a
 * job's systemd scope, whose directory systemd made. */
int cgroup_delegate_at(int fd, const char *path, uid_t uid, gid_t gid);

/* Caps all jobs together: cpu.max, memory.max, memory.swap.max and
 * pids.max of base (hostd.jobs) where the controller is enabled; a limit
 * of 0 is "max".  Nothing to do without a base. */
int cgroup_set_total_limits(const CgroupSupport *s, const CgroupLimits *l);

/* Moves pid (with all its threads) into the job's cgroup. */
int cgroup_job_attach(const CgroupSupport *s, const char *job, pid_t pid);

/* The same for the cgroup directory at an absolute cgroupfs path (a job's
 * systemd scope, or the path a session was handed); pid 0 is the calling
 * process. */
int cgroup_attach_path(const char *path, pid_t pid);

/* "<base>/<job>" into buf; -ENAMETOOLONG if it does not fit. */
int cgroup_job_path(const CgroupSupport *s, const char *job, char *buf, size_t size);

/* Removes the job's cgroup and every cgroup below it, bottom-up, through
 * directory fds only.  A missing cgroup is success; -EBUSY while
 * processes remain. */
int cgroup_job_remove(const CgroupSupport *s, const char *job);

/* 1 if the job's cgroup exists, 0 if not, or a negative errno. */
int cgroup_job_exists(const CgroupSupport *s, const char *job);

/* The names of the job cgroups under base (entries with valid job
 * names), sorted, as a NULL-terminated strv: for reconciling at start. */
int cgroup_list_jobs(const CgroupSupport *s, char ***ret);

typedef struct CgroupUsage {
        uint64_t cpu_usec;    /* cpu.stat usage_usec (present even without the cpu controller) */
        uint64_t memory;      /* memory.current, bytes */
        uint64_t pids;        /* pids.current */
        bool has_cpu, has_memory, has_pids;
} CgroupUsage;

/* Whatever of the above the kernel offers for the job's cgroup; -ENOENT
 * if the cgroup does not exist. */
int cgroup_job_usage(const CgroupSupport *s, const char *job, CgroupUsage *ret);

/* The same for the cgroup directory at an absolute cgroupfs path. */
int cgroup_usage_path(const char *path, CgroupUsage *ret);

/* Building blocks for cgroup-kill.c. */

/* Recursion bound for walking a job's subtree: the kernel stops the job
 * at CGROUP_JOB_MAX_DEPTH, this only guards against a cgroup made before
 * that limit was set. */
#define CGROUP_WALK_MAX_DEPTH 64U

/* Opens <base>/<job> (its path into path); -ENOENT, not logged, if it
 * does not exist. */
int cgroup_job_open(const CgroupSupport *s, const char *job, char *path, size_t size);

/* Writes value to an existing control file of the cgroup open at dirfd;
 * not logged. */
int cgroup_write_at(int dirfd, const char *file, const char *value);

/* The value after "key " among the lines of text (cgroup.events,
 * cpu.stat), or NULL. */
const char *cgroup_find_key(const char *text, const char *key);
