/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The per-job sandbox.  Each job has one long-lived "anchor" process,
 * PID 1 of the job's pid namespace, that holds the job's namespaces from
 * allocate to release; every SSH session of the job enters them:
 *
 *   user   0..65535 inside = the job's 65536 host uids; the job is root
 *          inside, with capabilities only over its own namespaces
 *   mount  the host read-only (nosuid, nodev), with hostd's state, /root,
 *          /home, /run, /tmp hidden; a minimal /dev; the job's own /proc;
 *          home, /tmp, /var/tmp and /run writable, on the job's disk (quota)
 *   pid, ipc, uts, and net when the policy says Network=none
 *
 * The job's init (PID 1) builds the root as root of the job's user
 * namespace and pivots into it; the anchor, its child, then moves into a
 * nested user and mount namespace, which makes the kernel lock every mount
 * the init made (MNT_LOCKED): the job can add mounts on top but cannot
 * remove ours to see what is underneath (bubblewrap does the same). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

typedef struct SandboxSpec {
        const char *job;           /* job id */
        uint32_t uid_base;         /* host uid of the job's root */
        const char *state_dir;     /* hidden from the job */
        int job_dir_fd;            /* STATE/jobs/<job> */
        const char *job_dir;       /* its path */
        const char *home;          /* STATE/jobs/<job>/home: user_dir, the same path inside */
        bool disk;                 /* home, /tmp, /var/tmp on the job's disk image (quota) */
        JobNetwork network;
        char *const *hide;         /* more host paths to hide (NULL-terminated, may be NULL) */
} SandboxSpec;

typedef struct Sandbox {
        pid_t init;                /* PID 1 of the job; killing it ends the job */
        pid_t anchor;              /* sessions enter through it; host pids both */
        int pidfd;
        int disk_fd;               /* root of the job's disk, for usage; -1 without a disk */
} Sandbox;

/* Builds the namespaces and starts the anchor.  Runs in hostd's main
 * process (root); returns when the anchor is ready to be entered. */
int sandbox_create(const SandboxSpec *spec, Sandbox *ret);

/* Makes every mount at or below root read-only, nosuid and nodev, one at a
 * time: the fallback where mount_setattr() is missing (ENOSYS). */
int sandbox_remount_read_only(const char *root);

/* Finds a running anchor again (after a restart of hostd): checks that pid
 * is a "hostd-anchor" process whose user namespace maps uid 0 to
 * uid_base, and opens a pidfd for it. */
int sandbox_adopt(pid_t pid, uint32_t uid_base, Sandbox *ret);

void sandbox_close(Sandbox *s);

/* For the process that will run a job command, after fork and before exec:
 * the caller has already joined the job's cgroup and the anchor's pid
 * namespace (setns(CLONE_NEWPID) applies to children only, so the parent
 * of this process did that).  Joins the user, mount, ipc, uts and net
 * namespaces, becomes root of the user namespace and changes to home. */
int sandbox_enter(int pidfd, pid_t anchor, const char *home);

#define SANDBOX_ANCHOR_COMM "hostd-anchor"
#define SANDBOX_INIT_COMM "hostd-init"
