/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Kills every process of a job until none is left: every process with a
 * uid in [uid_base, uid_base + 65536) and the job's session monitors
 * (named "s-<job>").  uid_base 0 means unknown: only monitors are killed.
 * Returns -EBUSY if processes still appear after many rounds (a fork
 * race that only a cgroup can stop). */
int reclaim_kill_job_processes(const char *job, uint32_t uid_base);

/* What a released job leaves that other processes may still hold: its
 * disk (device of the mounted filesystem) and its user namespaces (which
 * own every other namespace the job made, its mount namespaces included). */
typedef struct ReclaimTarget {
        dev_t disk;                /* 0: none */
        ino_t userns[2];           /* the init's and the anchor's; 0: unknown */
        uint32_t pool_start;       /* job uids: [pool_start, pool_end) */
        uint64_t pool_end;
} ReclaimTarget;

/* Two cooperating jobs: one passes the other a descriptor of its disk or a
 * namespace (over a socket), and the holder keeps the released job's disk
 * mounted.  Finds every process holding target's disk (open file, cwd,
 * root, mapping) or a namespace of the job (nsfs descriptor); kills those
 * that run as a job uid (only jobs can have got such a reference) and
 * counts the others.  Returns that count (*ret_other: one of them), or a
 * negative errno; *ret_killed: how many were killed. */
int reclaim_kill_holders(const ReclaimTarget *t, unsigned *ret_killed, pid_t *ret_other);
