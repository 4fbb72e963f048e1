/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The per-job sandbox.  Each job has a PID 1 (the "init", which holds the
 * job's pid namespace) and one long-lived "anchor" process that holds the
 * job's other namespaces from allocate to release; every SSH session of the
 * job enters them:
 *
 *   user   0..65535 inside = the job's 65536 host uids; the job is root
 *          inside, with capabilities only over its own namespaces
 *   mount  the host read-only (nosuid, nodev), with hostd's state, /root,
 *          /home, /run, /tmp hidden; a minimal /dev; the job's own /proc;
 *          home, /tmp, /var/tmp and /run writable, on the job's disk (quota)
 *   pid, ipc, uts, and net when the policy says Network=none
 *
 * The job's init (PID 1) builds the root as root of the job's user
 * namespace and pivots into it; the anchor joins its namespaces and then
 * moves into a nested user and mount namespace, which makes the kernel lock
 * every mount the init made (MNT_LOCKED): the job can add mounts on top but
 * cannot remove ours to see what is underneath (bubblewrap does the same).
 * The anchor itself stays in hostd's pid namespace, where no job process
 * can see, signal or ptrace it. */

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
        bool private_binfmt;       /* an empty binfmt_misc of the job's own: no host emulator runs its binaries */
} SandboxSpec;

typedef struct Sandbox {
        pid_t init;                /* PID 1 of the job (0 if unknown after adoption) */
        pid_t anchor;              /* sessions enter through it; host pids both */
        int pidfd;
        int disk_fd;               /* root of the job's disk, for usage; -1 without a disk */
} Sandbox;

/* Builds the namespaces and starts the anchor.  Runs in hostd's main
 * process (root); returns when the anchor is ready to be entered. */
int sandbox_create(const SandboxSpec *spec, Sandbox *ret);

/* Whether this kernel gives each user namespace its own binfmt_misc
 * (Linux 6.7): probed once, in a throwaway child. */
bool sandbox_private_binfmt_supported(void);

/* Makes every mount at or below root read-only, nosuid and nodev, one at a
 * time: the fallback where mount_setattr() is missing (ENOSYS). */
int sandbox_remount_read_only(const char *root);

/* Finds a running anchor again (after a restart of hostd, or in a session
 * process): checks that pid is a "hostd-anchor" process in hostd's pid
 * namespace whose user namespace maps uid 0 to uid_base, and opens a pidfd
 * for it.  init (the recorded PID 1, or 0) is kept in ret->init only if it
 * is the init of that anchor's job.  An anchor made by an older hostd, the
 * child of the job's init inside the job's pid namespace, is accepted too. */
int sandbox_adopt(pid_t pid, pid_t init, uint32_t uid_base, Sandbox *ret);

/* Makes the caller's future children start in the job's pid namespace
 * (the anchor's pid_for_children). */
int sandbox_join_pid_namespace(const Sandbox *s);

/* A new descriptor of the root of the job's disk, which the anchor keeps
 * open (pidfd_getfd(2)): -EBADF if it has none (no disk quota, or an
 * anchor of an older hostd).  The caller checks what it got. */
int sandbox_take_disk_fd(const Sandbox *s);

void sandbox_close(Sandbox *s);

/* For the process that will run a job command, after fork and before exec:
 * the caller has already joined the job's cgroup and the job's pid
 * namespace (sandbox_join_pid_namespace() applies to children only, so the
 * parent of this process did that).  Joins the user, mount, ipc, uts and net
 * namespaces, becomes root of the user namespace and changes to home. */
int sandbox_enter(int pidfd, pid_t anchor, const char *home);

#define SANDBOX_ANCHOR_COMM "hostd-anchor"
#define SANDBOX_ANCHOR_DISK_FD 3
#define SANDBOX_INIT_COMM "hostd-init"
