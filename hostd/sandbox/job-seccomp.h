/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The seccomp filter of a job's sandbox: a deny-list with a default of
 * ALLOW, because a build (and the podman, buildah, runc or crun it runs)
 * needs almost every system call, including unshare, clone3, setns, mount
 * and pivot_root.  What it denies is what no build needs and what reaches
 * kernel attack surface or host-wide state: see job-seccomp.c for why each
 * call is on the list. */

#include <stdbool.h>

/* Installs the job filter in the calling process; it is inherited by
 * everything the job runs.  Denied calls fail with EPERM, the keyring calls
 * with ENOSYS (so runc and friends treat the keyring as absent and carry
 * on).  extra_deny: NULL-terminated syscall names from the policy, denied
 * with EPERM; an unknown name is an error (-EINVAL, logged).  Requires
 * no_new_privs or CAP_SYS_ADMIN in the current user namespace (the caller is
 * uid 0 inside its user namespace); set_no_new_privs makes this function set
 * PR_SET_NO_NEW_PRIVS itself, otherwise it is left as it is.  Returns 0 or
 * a negative errno (logged). */
int job_seccomp_install(char *const *extra_deny, bool set_no_new_privs);

/* Whether this kernel supports seccomp filters with the actions the job
 * filter uses (for capacity's "enforcement"). */
bool job_seccomp_supported(void);

/* The ABIs the filter covers by name ("x86_64", "x86", "x32"; "aarch64",
 * "arm"), NULL-terminated, the native one first: the deny-list applies on
 * each, and a call through any other ABI kills the process.  For capacity's
 * "enforcement". */
extern const char *const job_seccomp_abis[];

/* The denied syscall names, for docs and reports.  NULL-terminated.  Some
 * exist only on a compat ABI (vm86, stime, clock_settime64 on i386). */
extern const char *const job_seccomp_denied_eperm[];
extern const char *const job_seccomp_denied_enosys[];
