/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job-seccomp.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

/* The list is a deny-list on purpose: a build runs compilers, package
 * managers and test suites, and podman inside it runs runc or crun, which
 * need unshare, clone/clone3, setns, mount, umount2, pivot_root, chroot and
 * mknod (the user namespace already refuses device nodes).  Everything below
 * is something no build needs, and most of it needs a capability in the
 * initial user namespace that a job never has: denying it anyway keeps the
 * code behind it out of reach should a kernel bug skip that check, which is
 * how most of these became famous.
 *
 * Allowed on purpose:
 *  - ptrace: strace and gdb run in builds.  The job's user and pid
 *    namespaces confine it to the job's own processes, and since Linux 4.8
 *    seccomp re-checks a call after a tracer rewrites it, so ptrace cannot
 *    be used to step around this filter (that bypass is why Docker denied
 *    ptrace on older kernels).
 *  - adjtimex, clock_adjtime: with modes == 0 they only read the clock
 *    state, and glibc implements adjtimex() and ntp_gettime() with
 *    clock_adjtime(CLOCK_REALTIME).  Changing the clock needs CAP_SYS_TIME in
 *    the initial user namespace, and seccomp cannot look at the modes field
 *    (it sits behind a pointer), so the only choice is both or neither.
 *  - personality, modify_ldt, fanotify, the new mount API (fsopen, fsmount,
 *    move_mount, open_tree, mount_setattr): crun and podman use the latter;
 *    the rest are rare but legitimate in builds (setarch, wine, 32-bit
 *    toolchains). */
const char *const job_seccomp_denied_eperm[] = {
        /* Replacing the running kernel, or loading code into it. */
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        /* Unprivileged eBPF and perf events have been the most common way
         * from userspace into kernel memory (verifier bugs such as
         * CVE-2021-3490, perf_swevent_init's CVE-2013-2094), and perf is also
         * a side channel on other tenants. */
        "bpf",
        "perf_event_open",
        /* userfaultfd lets a process stall the kernel in the middle of a
         * copy from user memory: the standard tool for winning a race in an
         * exploit, hence the vm.unprivileged_userfaultfd sysctl (5.2) and
         * UFFD_USER_MODE_ONLY (5.11). */
        "userfaultfd",
        /* io_uring reimplements much of the syscall surface on kernel
         * threads and was the source of a long run of privilege escalations
         * (Google turned it off in ChromeOS, Android and its servers;
         * Docker's default profile blocks it).  libuv and others fall back
         * to plain syscalls when io_uring_setup fails. */
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        /* open_by_handle_at opens an inode by its file handle, ignoring the
         * mount namespace: the 2014 "shocker" escape from Docker brute-forced
         * handles to read the host's /etc/shadow.  Linux 6.10 relaxed its
         * capability check for user namespaces, which makes denying it more
         * important, not less.  name_to_handle_at is the other half and
         * leaks file system and mount ids. */
        "open_by_handle_at",
        "name_to_handle_at",
        /* Disk quota is how hostd bounds a job's disk; reading or changing
         * it is host business. */
        "quotactl",
        "quotactl_fd",
        /* Host-wide state. */
        "swapon",
        "swapoff",
        "acct",
        /* The kernel log holds kernel addresses (a KASLR leak) and other
         * jobs' messages. */
        "syslog",
        /* Raw x86 port I/O. */
        "iopl",
        "ioperm",
        /* In a pid namespace reboot() only kills its init (since 3.4), but a
         * build has no business doing even that; a systemd container inside
         * the job must be stopped with a signal (podman stop does). */
        "reboot",
        /* Setting the wall clock: CLOCK_REALTIME is not namespaced (time
         * namespaces cover only the monotonic and boot clocks).  stime and
         * clock_settime64 exist on the 32-bit ABIs only. */
        "settimeofday",
        "clock_settime",
        "clock_settime64",
        "stime",
        /* Obsolete interfaces that only carry old bugs: lookup_dcookie
         * (oprofile's, since removed from the kernel), nfsservctl (removed
         * in 3.1), uselib (a.out libraries; CVE-2004-1235), vm86 and vm86old
         * (i386 virtual 8086 mode, a rich source of bugs, behind
         * CONFIG_X86_LEGACY_VM86 and off by default since 4.3). */
        "lookup_dcookie",
        "nfsservctl",
        "uselib",
        "vm86",
        "vm86old",
        NULL
};

/* The kernel keyring is shared more widely than a job (user keyrings are
 * per uid, and per user namespace only since 5.3), and
 * join_session_keyring had a refcount overflow to root (CVE-2016-0728).
 * ENOSYS rather than EPERM: it reads as "this kernel has no keyring", which
 * runc, crun and other callers handle by carrying on without one, where
 * EPERM is tolerated less uniformly. */
const char *const job_seccomp_denied_enosys[] = {
        "add_key",
        "request_key",
        "keyctl",
        NULL
};

/* The native ABI first, then every compat ABI the kernel accepts from the
 * same process: a deny-list that covered only the native numbers could be
 * bypassed with int $0x80 (i386 numbers) or the x32 bit.  On other
 * architectures the filter has the native ABI only; a call through an ABI
 * not listed here hits the bad-arch action, which kills, so it is never a
 * way around the list. */
static const uint32_t filter_archs[] = {
#if defined(__x86_64__) || defined(__i386__)
        SCMP_ARCH_X86_64,
        SCMP_ARCH_X86,
        SCMP_ARCH_X32,
#elif defined(__aarch64__)
        SCMP_ARCH_AARCH64,
        SCMP_ARCH_ARM,
#endif
        SCMP_ARCH_NATIVE,
};

const char *const job_seccomp_abis[] = {
#if defined(__x86_64__) || defined(__i386__)
        "x86_64",
        "x86",
        "x32",
#elif defined(__aarch64__)
        "aarch64",
        "arm",  /* AArch32 binaries, on CPUs and kernels that run them */
#else
        "native",
#endif
        NULL
};

static bool strv_contains_const(const char *const *l, const char *s) {
        for (; *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* Whether name is a system call on at least one ABI of the filter.  libseccomp
 * knows every architecture's names; one that is not a call on a given ABI
 * resolves there to a negative pseudo-number. */
static bool syscall_in_filter_archs(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(filter_archs); i++) {
                uint32_t arch = filter_archs[i] == SCMP_ARCH_NATIVE ? seccomp_arch_native() : filter_archs[i];

                if (seccomp_syscall_resolve_name_arch(arch, name) >= 0)
                        return true;
        }
        return false;
}

static int deny(scmp_filter_ctx ctx, const char *name, int error) {
        int nr, r;

        nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR || !syscall_in_filter_archs(name)) {
                /* Not a call here (iopl on arm64), or too new for this
                 * libseccomp: the kernel has no such call to reach, or a
                 * newer libseccomp is needed to name it. */
                log_debug("System call %s does not exist on this architecture, not denying it.", name);
                return 0;
        }

        /* With the native number or pseudo-number libseccomp adds the rule on
         * every ABI of the filter where the call exists, by that ABI's
         * number. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), nr, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot add seccomp rule for %s: %m", name);
        return 0;
}

static int validate_extra_deny(char *const *extra_deny) {
        int r = 0;

        STRV_FOREACH(name, extra_deny)
                if (isempty(*name) || seccomp_syscall_resolve_name(*name) == __NR_SCMP_ERROR ||
                    !syscall_in_filter_archs(*name))
                        /* Log every bad name, not only the first, so the policy
                         * can be fixed in one go. */
                        r = log_error_errno(EINVAL, "[Seccomp] ExtraDeny=: \"%s\" is not a system call on this host.",
                                            *name);
        return r;
}

int job_seccomp_install(char *const *extra_deny, bool set_no_new_privs) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        r = validate_extra_deny(extra_deny);
        if (r < 0)
                return r;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return log_error_errno(ENOMEM, "Cannot allocate seccomp filter: %m");

        for (size_t i = 0; i < ELEMENTSOF(filter_archs); i++) {
                if (filter_archs[i] == SCMP_ARCH_NATIVE)
                        continue;
                r = seccomp_arch_add(ctx, filter_archs[i]);
                if (r < 0 && r != -EEXIST)  /* the native one is in already */
                        return log_error_errno(r, "Cannot add architecture 0x%08" PRIx32 " to the seccomp filter: %m",
                                               filter_archs[i]);
        }

        /* A call through an ABI we did not list: kill the whole process, not
         * just the thread, so that nothing half-dead is left behind. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r < 0)
                return log_error_errno(r, "Cannot set the seccomp bad-architecture action: %m");
        /* libseccomp sets no_new_privs by default; that is the caller's
         * decision, done explicitly below. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot configure the seccomp filter: %m");
        /* All threads, so that the filter covers the calling process as
         * documented even if it has threads. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r < 0)
                return log_error_errno(r, "Cannot configure the seccomp filter: %m");
        /* The kernel's errno from seccomp_load() (EACCES: neither
         * no_new_privs nor CAP_SYS_ADMIN), not libseccomp's -ECANCELED. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        if (r < 0)
                return log_error_errno(r, "Cannot configure the seccomp filter: %m");

        for (const char *const *name = job_seccomp_denied_eperm; *name; name++) {
                r = deny(ctx, *name, EPERM);
                if (r < 0)
                        return r;
        }
        for (const char *const *name = job_seccomp_denied_enosys; *name; name++) {
                r = deny(ctx, *name, ENOSYS);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(name, extra_deny) {
                /* Already denied: keep the built-in errno (ENOSYS for the
                 * keyring matters to runc). */
                if (strv_contains_const(job_seccomp_denied_eperm, *name) ||
                    strv_contains_const(job_seccomp_denied_enosys, *name))
                        continue;
                r = deny(ctx, *name, EPERM);
                if (r < 0)
                        return r;
        }

        if (set_no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "Cannot set no_new_privs: %m");

        r = seccomp_load(ctx);
        if (r == -EACCES)
                return log_error_errno(r, "Cannot load the job seccomp filter: needs no_new_privs or CAP_SYS_ADMIN: %m");
        if (r < 0)
                return log_error_errno(r, "Cannot load the job seccomp filter: %m");
        return 0;
}

bool job_seccomp_supported(void) {
        static const uint32_t actions[] = { SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO };

        /* Filter mode: with a NULL program the kernel gets as far as copying
         * it (EFAULT); without CONFIG_SECCOMP_FILTER it says EINVAL before
         * that, and without CONFIG_SECCOMP prctl() itself does. */
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) >= 0 || errno != EFAULT)
                return false;

        /* The actions we use: KILL_PROCESS is from 4.14, as is this query;
         * TSYNC needs the seccomp() call itself (3.17). */
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                uint32_t action = actions[i];

                if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
                        return false;
        }
        return true;
}
