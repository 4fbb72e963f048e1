/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* seccomp-probe: installs the job seccomp filter in itself, then makes every
 * denied call with harmless arguments and checks the errno, and makes the
 * calls podman and runc need and checks that they still work.
 *
 *   seccomp-probe [--extra-deny NAME]... [--no-new-privs]
 *
 * Every call is made twice, each time in a forked child: once before the
 * filter is installed (the baseline) and once after.  A denial is
 * conclusive when the baseline gave another answer; when the kernel alone
 * already says EPERM (not root), the call is repeated under a second,
 * stacked filter that returns SECCOMP_RET_TRACE for it: with no tracer that
 * makes the call fail with ENOSYS without running it, unless the job filter
 * says EPERM, which takes precedence.  Names passed with --extra-deny are
 * probed that way only (so an arbitrary name is never actually called),
 * except those the probe knows a harmless call for.
 *
 * The arguments are chosen so that, even as root and even if the filter let
 * the call through, the kernel fails it (EINVAL, EFAULT, EBADF, ...) before
 * it does anything.  Run as root, most denials are conclusive; unprivileged,
 * the probe sets no_new_privs and relies on the guard for them.
 *
 * Build: gcc -Icommon -Ihostd tests/sandbox/seccomp-probe.c hostd/sandbox/job-seccomp.c common/log.c -lseccomp -lsystemd
 * or, static and without libsystemd (log.c's interface then comes from here):
 *        gcc -static -DSECCOMP_PROBE_OWN_LOG -Icommon -Ihostd tests/sandbox/seccomp-probe.c hostd/sandbox/job-seccomp.c -lseccomp
 * With SECCOMP_PROBE_NO_MAIN defined, this file can be #included: it then
 * provides seccomp_probe_run() and no main(). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job-seccomp.h"
#include "log.h"
#include "macros.h"

#define PROBE_CHECKS_MAX 128

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

typedef enum ProbeAbi {
        PROBE_ABI_NATIVE,
        PROBE_ABI_I386,   /* int $0x80 from this 64-bit process */
        PROBE_ABI_X32,    /* the x32 bit in the syscall number */
} ProbeAbi;

typedef struct ProbeResult {
        bool done;    /* false: the child died or said nothing */
        int sig;      /* the signal that killed it, if any */
        long value;   /* >= 0, or -errno */
} ProbeResult;

typedef struct ProbeCheck ProbeCheck;
struct ProbeCheck {
        char label[80];
        const char *name;     /* syscall name, for the guard; NULL for a sequence */
        ProbeAbi abi;
        long nr;              /* in that ABI, when a plain call */
        long args[6];
        long (*fn)(const ProbeCheck *c);   /* runs in a child, returns >= 0 or -errno */
        bool deny;
        int expect;           /* errno when deny */
        bool guard_only;      /* never called without the guard */
        ProbeResult baseline, filtered, guarded;
};

static unsigned probe_passed, probe_failed, probe_skipped;
static uid_t probe_uid;
static gid_t probe_gid;

static void probe_report(bool ok, const char *label, const char *format, ...) _printf_(3, 4);
static void probe_report(bool ok, const char *label, const char *format, ...) {
        va_list ap;

        if (ok)
                probe_passed++;
        else
                probe_failed++;
        printf("%-4s %-44s ", ok ? "ok" : "FAIL", label);
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
}

static void probe_skip(const char *label, const char *why) {
        probe_skipped++;
        printf("%-4s %-44s %s\n", "skip", label, why);
}

static long sys_ret(long r) {
        return r < 0 ? -errno : r;
}

#if defined(__x86_64__)
/* The i386 ABI from a 64-bit process: int $0x80 takes the i386 numbers and
 * the arguments in ebx, ecx, edx, esi, edi, and returns -errno in eax. */
static long int80(long nr, long a1, long a2, long a3, long a4, long a5) {
        long ret;

        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5)
                         : "memory", "cc", "r8", "r9", "r10", "r11");
        return (int) ret;
}
#endif

static long probe_call(const ProbeCheck *c) {
        switch (c->abi) {
#if defined(__x86_64__)
        case PROBE_ABI_I386:
                return int80(c->nr, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4]);
#endif
        case PROBE_ABI_NATIVE:
        case PROBE_ABI_X32:
                return sys_ret(syscall(c->nr, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4],
                                       c->args[5]));
        default:
                return -ENOTSUP;
        }
}

/* A second filter on top of whatever is installed: the call gets
 * SECCOMP_RET_TRACE, which with no tracer fails it with ENOSYS and does not
 * run it.  A job filter's ERRNO outranks TRACE, so EPERM means the job
 * filter denied the call, ENOSYS that it let it through. */
static long probe_guarded(const ProbeCheck *c) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx g = NULL;
        int r;

        /* Only in this child: lets an unprivileged probe stack filters. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -ECHILD;
        g = seccomp_init(SCMP_ACT_ALLOW);
        if (!g)
                return -ECHILD;
#if defined(__x86_64__)
        (void) seccomp_arch_add(g, SCMP_ARCH_X86);
        (void) seccomp_arch_add(g, SCMP_ARCH_X32);
#endif
        r = seccomp_attr_set(g, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
        if (r >= 0)
                r = seccomp_rule_add(g, SCMP_ACT_TRACE(0), seccomp_syscall_resolve_name(c->name), 0);
        if (r >= 0)
                r = seccomp_load(g);
        if (r < 0)
                return -ECHILD;   /* reported as such, never confused with the answers we look for */
        return probe_call(c);
}

/* Sequences podman and runc go through.  Each runs in its own child. */

static int write_file(const char *path, const char *text) {
        _cleanup_close_ int fd = -1;
        size_t l = strlen(text);

        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, text, l) != (ssize_t) l)
                return -errno;
        return 0;
}

/* unshare(CLONE_NEWUSER | flags) and map ourselves to root in it, as
 * podman does (without a mapping nothing can be created in a tmpfs). */
static long enter_userns(int flags) {
        char map[64];
        int r;

        if (unshare(CLONE_NEWUSER | flags) < 0)
                return -errno;
        r = write_file("/proc/self/setgroups", "deny");
        if (r < 0)
                return r;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) probe_uid);
        r = write_file("/proc/self/uid_map", map);
        if (r < 0)
                return r;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) probe_gid);
        return write_file("/proc/self/gid_map", map);
}

static long probe_getpid(_unused_ const ProbeCheck *c) {
        return sys_ret(syscall(SYS_getpid));
}

static long probe_openat(_unused_ const ProbeCheck *c) {
        int fd = openat(AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static long probe_unshare_user(_unused_ const ProbeCheck *c) {
        return sys_ret(unshare(CLONE_NEWUSER));
}

static long probe_clone3(_unused_ const ProbeCheck *c) {
        /* struct clone_args, CLONE_ARGS_SIZE_VER0: flags, pidfd, child_tid,
         * parent_tid, exit_signal, stack, stack_size, tls. */
        uint64_t args[8] = { [4] = SIGCHLD };
        long pid;
        int status;

        pid = syscall(SYS_clone3, args, sizeof(args));
        if (pid < 0)
                return -errno;
        if (pid == 0)
                syscall(SYS_exit_group, 0);
        if (waitpid((pid_t) pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static long probe_setns(_unused_ const ProbeCheck *c) {
        _cleanup_close_ int fd = -1;
        long r;

        r = enter_userns(CLONE_NEWUTS);
        if (r < 0)
                return r;
        fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (unshare(CLONE_NEWUTS) < 0)
                return -errno;
        return sys_ret(setns(fd, CLONE_NEWUTS));
}

static long mount_private_tmp(void) {
        long r;

        r = enter_userns(CLONE_NEWNS);
        if (r < 0)
                return r;
        /* The new mount namespace gets slave copies of shared mounts; make
         * them private anyway so nothing can leak out. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        return sys_ret(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"));
}

static long probe_mount(_unused_ const ProbeCheck *c) {
        return mount_private_tmp();
}

static long probe_mknod_fifo(_unused_ const ProbeCheck *c) {
        long r = mount_private_tmp();

        if (r < 0)
                return r;
        return sys_ret(mknodat(AT_FDCWD, "/tmp/fifo", S_IFIFO | 0600, 0));
}

static long probe_pivot_root(_unused_ const ProbeCheck *c) {
        long r = mount_private_tmp();

        if (r < 0)
                return r;
        if (mkdir("/tmp/old", 0755) < 0 || chdir("/tmp") < 0)
                return -errno;
        if (syscall(SYS_pivot_root, ".", "old") < 0)
                return -errno;
        if (chdir("/") < 0)
                return -errno;
        if (umount2("/old", MNT_DETACH) < 0)
                return -errno;
        return sys_ret(chroot("."));
}

static long probe_ptrace(_unused_ const ProbeCheck *c) {
        return sys_ret(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static long probe_adjtimex(_unused_ const ProbeCheck *c) {
        struct timex tx = { .modes = 0 };

        return sys_ret(syscall(SYS_adjtimex, &tx));
}

static long probe_clock_adjtime(_unused_ const ProbeCheck *c) {
        struct timex tx = { .modes = 0 };

        return sys_ret(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
}

static long probe_personality(_unused_ const ProbeCheck *c) {
        return sys_ret(personality(0xffffffff));
}

static long probe_socket(_unused_ const ProbeCheck *c) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static long probe_mincore(_unused_ const ProbeCheck *c) {
        unsigned char vec[1];
        long page = sysconf(_SC_PAGESIZE);
        void *p;
        long r;

        p = mmap(NULL, (size_t) page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        r = sys_ret(syscall(SYS_mincore, p, (size_t) page, vec));
        munmap(p, (size_t) page);
        return r;
}

/* The filter must survive execve(): look at a fresh program's own status. */
static long probe_exec_inherits(_unused_ const ProbeCheck *c) {
        pid_t pid;
        int status;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execl("/bin/sh", "sh", "-c", "exec grep -q '^Seccomp:[[:space:]]*2' /proc/self/status", (char *) NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs c's call (or, guarded, under the TRACE guard) in a child. */
static ProbeResult probe_run(const ProbeCheck *c, bool guarded) {
        ProbeResult res = {};
        int fds[2], status;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return res;
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return res;
        }
        if (pid == 0) {
                long v;

                close(fds[0]);
                v = guarded ? probe_guarded(c) : c->fn ? c->fn(c) : probe_call(c);
                (void) !write(fds[1], &v, sizeof(v));
                _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], &res.value, sizeof(res.value)) == (ssize_t) sizeof(res.value))
                res.done = true;
        close(fds[0]);
        if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status)) {
                res.done = false;
                res.sig = WTERMSIG(status);
        }
        return res;
}

static const char *errno_name(int e) {
        const char *n = strerrorname_np(e);

        return n ?: "E?";
}

static const char *result_str(const ProbeResult *r, char *buf, size_t size) {
        if (r->sig > 0)
                snprintf(buf, size, "killed by SIG%s", sigabbrev_np(r->sig) ?: "?");
        else if (!r->done)
                snprintf(buf, size, "no answer");
        else if (r->value < 0)
                snprintf(buf, size, "%s", errno_name((int) -r->value));
        else
                snprintf(buf, size, "%ld", r->value);
        return buf;
}

static bool same_outcome(const ProbeResult *a, const ProbeResult *b) {
        if (!a->done || !b->done)
                return !a->done && !b->done && a->sig == b->sig;
        return (a->value >= 0 && b->value >= 0) || a->value == b->value;
}

static bool is_errno(const ProbeResult *r, int e) {
        return r->done && r->value == -e;
}

static bool strv_has(char *const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

static bool list_has(const char *const *l, const char *s) {
        for (; *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* The denied calls with arguments the kernel rejects before doing anything,
 * even as root.  i386: also try it through int $0x80 (its arguments are
 * plain numbers, which survive the truncation to 32 bits). */
typedef struct DenyCall {
        const char *name;
        bool i386;
        long args[6];
} DenyCall;

static const DenyCall deny_calls[] = {
        { "kexec_load",        true,  { 0, 0, 0, 0x8000 /* not a flag: EINVAL */ } },
        { "kexec_file_load",   false, { -1, -1, 0, 0, 0x40000000 /* not a flag */ } },
        { "init_module",       true,  { 0, 0, 0 /* empty image: ENOEXEC */ } },
        { "finit_module",      true,  { -1, 0, 0 } },
        { "delete_module",     false, { 0 /* NULL name: EFAULT */, 0 } },
        { "bpf",               true,  { -1 /* no such command */, 0, 0 } },
        { "perf_event_open",   false, { 0 /* NULL attr: EFAULT */, 0, -1, -1, 0 } },
        { "userfaultfd",       false, { 0x40000000 /* not a flag */ } },
        { "io_uring_setup",    true,  { 0, 0 /* NULL params */ } },
        { "io_uring_enter",    false, { -1, 0, 0, 0, 0, 0 } },
        { "io_uring_register", false, { -1, 0, 0, 0 } },
        { "open_by_handle_at", true,  { -1, 0 /* NULL handle */, 0 } },
        { "name_to_handle_at", false, { -1, 0 /* NULL path */, 0, 0, 0 } },
        { "quotactl",          false, { 0, 0 /* no device: ENODEV */, 0, 0 } },
        { "quotactl_fd",       false, { -1, 0, 0, 0 } },
        { "swapon",            false, { 0, -1 /* bad flags: EINVAL */ } },
        { "swapoff",           false, { 0 /* NULL path */ } },
        { "acct",              false, { 1 /* bad pointer; NULL would turn accounting off */ } },
        { "syslog",            false, { 10 /* SYSLOG_ACTION_SIZE_BUFFER, a read */, 0, 0 } },
        { "iopl",              false, { 4 /* > 3: EINVAL */ } },
        { "ioperm",            false, { 0, 0 /* empty range: EINVAL */, 0 } },
        { "reboot",            false, { 0, 0 /* wrong magic: EINVAL */, 0, 0 } },
        { "settimeofday",      true,  { 1 /* bad pointer */, 0 } },
        { "clock_settime",     false, { -1 /* no such clock */, 0 } },
        { "clock_settime64",   true,  { -1, 0 } },
        { "stime",             true,  { 0 /* NULL */ } },
        { "lookup_dcookie",    false, { 0, 0, 0 } },
        { "nfsservctl",        false, { 0, 0, 0 } },
        { "uselib",            false, { 0 /* NULL */ } },
        { "vm86",              true,  { 0, 0 } },
        { "vm86old",           true,  { 0 } },
        { "add_key",           false, { 0 /* NULL type */, 0, 0, 0, 0 } },
        { "request_key",       false, { 0, 0, 0, 0 } },
        { "keyctl",            true,  { -1 /* no such operation */ } },
};

typedef struct AllowCall {
        const char *label;
        const char *name;   /* when the probe is the call of that name */
        long (*fn)(const ProbeCheck *c);
} AllowCall;

static const AllowCall allow_calls[] = {
        { "getpid",                               "getpid",        probe_getpid },
        { "openat /proc/self/status",             "openat",        probe_openat },
        { "socket(AF_UNIX)",                      "socket",        probe_socket },
        { "unshare(CLONE_NEWUSER)",               "unshare",       probe_unshare_user },
        { "clone3",                               "clone3",        probe_clone3 },
        { "setns(CLONE_NEWUTS) in a userns",      "setns",         probe_setns },
        { "mount tmpfs in a user+mount ns",       "mount",         probe_mount },
        { "mknodat FIFO in that tmpfs",           "mknodat",       probe_mknod_fifo },
        { "pivot_root+umount2+chroot in a userns", "pivot_root",   probe_pivot_root },
        { "ptrace(PTRACE_TRACEME)",               "ptrace",        probe_ptrace },
        { "adjtimex (read)",                      "adjtimex",      probe_adjtimex },
        { "clock_adjtime (read)",                 "clock_adjtime", probe_clock_adjtime },
        { "personality (query)",                  "personality",   probe_personality },
        { "mincore",                              "mincore",       probe_mincore },
};

static ProbeCheck probe_checks[PROBE_CHECKS_MAX];
static size_t probe_n_checks;

static ProbeCheck *probe_add(const char *label_prefix, const char *name) {
        ProbeCheck *c;

        if (probe_n_checks >= ELEMENTSOF(probe_checks))
                return NULL;
        c = &probe_checks[probe_n_checks++];
        *c = (ProbeCheck) { .name = name };
        snprintf(c->label, sizeof(c->label), "%s%s", label_prefix, name);
        return c;
}

static bool i386_available(void) {
#if defined(__x86_64__)
        /* A kernel without IA32 emulation (or booted with
         * ia32_emulation=0) answers int $0x80 with SIGSEGV, so try it in a
         * child: getpid, i386 number 20. */
        ProbeCheck c = { .abi = PROBE_ABI_I386, .nr = 20 };
        ProbeResult r = probe_run(&c, false);

        return r.done && r.value > 0;
#else
        return false;
#endif
}

static void add_deny_checks(char *const *extra_deny, bool have_i386) {
        ProbeCheck *c;

        for (size_t i = 0; i < ELEMENTSOF(deny_calls); i++) {
                const DenyCall *d = &deny_calls[i];
                int expect = list_has(job_seccomp_denied_enosys, d->name) ? ENOSYS : EPERM;
                int nr = seccomp_syscall_resolve_name(d->name);

                if (nr >= 0) {
                        c = probe_add("deny ", d->name);
                        if (!c)
                                return;
                        c->abi = PROBE_ABI_NATIVE;
                        c->nr = nr;
                        memcpy(c->args, d->args, sizeof(c->args));
                        c->deny = true;
                        c->expect = expect;
                }
#if defined(__x86_64__)
                if (d->i386) {
                        nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, d->name);
                        if (!have_i386 || nr < 0) {
                                char label[80];

                                snprintf(label, sizeof(label), "deny i386 %s", d->name);
                                probe_skip(label, nr < 0 ? "not an i386 call" : "no IA32 emulation (int $0x80)");
                                continue;
                        }
                        c = probe_add("deny i386 ", d->name);
                        if (!c)
                                return;
                        c->abi = PROBE_ABI_I386;
                        c->nr = nr;
                        memcpy(c->args, d->args, sizeof(c->args));
                        c->deny = true;
                        c->expect = expect;
                }
#endif
        }

#if defined(__x86_64__)
        /* x32: numbers with bit 30 set.  Most kernels are built without it
         * (ENOSYS), but a deny-list that ignored the bit would be bypassable
         * on those that are.  (Not keyctl: its ENOSYS would prove nothing on
         * a kernel without x32.) */
        static const char *const x32[] = { "kexec_load", "init_module", "bpf" };
        for (size_t i = 0; i < ELEMENTSOF(x32); i++) {
                const DenyCall *d = NULL;

                for (size_t j = 0; j < ELEMENTSOF(deny_calls); j++)
                        if (streq(deny_calls[j].name, x32[i]))
                                d = &deny_calls[j];
                if (!d)
                        continue;
                c = probe_add("deny x32 ", d->name);
                if (!c)
                        return;
                c->abi = PROBE_ABI_X32;
                c->nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X32, d->name);
                memcpy(c->args, d->args, sizeof(c->args));
                c->deny = true;
                c->expect = list_has(job_seccomp_denied_enosys, d->name) ? ENOSYS : EPERM;
        }
#endif

        /* Extra names without a known harmless call: through the guard
         * only, so they are never actually made. */
        STRV_FOREACH(name, extra_deny) {
                bool known = false;
                int nr;

                for (size_t i = 0; i < ELEMENTSOF(allow_calls); i++)
                        if (streq(allow_calls[i].name, *name))
                                known = true;
                if (known || list_has(job_seccomp_denied_eperm, *name) || list_has(job_seccomp_denied_enosys, *name))
                        continue;

                c = probe_add("deny extra (guarded) ", *name);
                if (!c)
                        return;
                nr = seccomp_syscall_resolve_name(*name);
                c->abi = PROBE_ABI_NATIVE;
#if defined(__x86_64__)
                if (nr < 0 && have_i386) {
                        nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, *name);
                        c->abi = PROBE_ABI_I386;
                }
#endif
                if (nr < 0) {
                        probe_n_checks--;
                        probe_skip(*name, "no ABI here to call it through");
                        continue;
                }
                c->nr = nr;
                c->deny = true;
                c->expect = EPERM;
                c->guard_only = true;
        }
}

static void add_allow_checks(char *const *extra_deny, bool have_i386) {
        ProbeCheck *c;

        for (size_t i = 0; i < ELEMENTSOF(allow_calls); i++) {
                const AllowCall *a = &allow_calls[i];
                bool extra = strv_has(extra_deny, a->name);

                c = probe_add(extra ? "deny extra " : "allow ", a->label);
                if (!c)
                        return;
                c->name = a->name;
                c->fn = a->fn;
                c->deny = extra;
                c->expect = EPERM;
        }
#if defined(__x86_64__)
        if (have_i386 && !strv_has(extra_deny, "getpid")) {
                c = probe_add("allow i386 ", "getpid");
                if (c) {
                        c->abi = PROBE_ABI_I386;
                        c->nr = 20;
                }
        }
#endif
}

static void probe_verdict(ProbeCheck *c) {
        char b[64], f[64], g[64];

        if (!c->deny) {
                /* Same outcome as without the filter (a pid is a pid). */
                probe_report(same_outcome(&c->baseline, &c->filtered), c->label, "%s, without the filter %s%s",
                             result_str(&c->filtered, f, sizeof(f)), result_str(&c->baseline, b, sizeof(b)),
                             c->baseline.done && c->baseline.value < 0 ? " (the kernel refuses it anyway)" : "");
                return;
        }

        if (c->guard_only) {
                /* Baseline: the guard alone, ENOSYS; filtered: EPERM. */
                probe_report(is_errno(&c->filtered, EPERM) && is_errno(&c->baseline, ENOSYS), c->label,
                             "%s under the guard, without the job filter %s", result_str(&c->filtered, f, sizeof(f)),
                             result_str(&c->baseline, b, sizeof(b)));
                return;
        }

        if (!is_errno(&c->filtered, c->expect)) {
                probe_report(false, c->label, "%s, expected %s (without the filter %s)",
                             result_str(&c->filtered, f, sizeof(f)), errno_name(c->expect),
                             result_str(&c->baseline, b, sizeof(b)));
                return;
        }
        if (!is_errno(&c->baseline, c->expect)) {
                probe_report(true, c->label, "%s, without the filter %s", result_str(&c->filtered, f, sizeof(f)),
                             result_str(&c->baseline, b, sizeof(b)));
                return;
        }
        if (c->expect == EPERM && c->name) {
                probe_report(is_errno(&c->guarded, EPERM), c->label,
                             "%s, without the filter %s too; under the guard %s (ENOSYS would mean let through)",
                             result_str(&c->filtered, f, sizeof(f)), result_str(&c->baseline, b, sizeof(b)),
                             result_str(&c->guarded, g, sizeof(g)));
                return;
        }
        probe_report(true, c->label, "%s, without the filter %s too (inconclusive)",
                     result_str(&c->filtered, f, sizeof(f)), result_str(&c->baseline, b, sizeof(b)));
}

/* Installs the job filter in the calling process: call it in a child, or
 * as the last thing a process does.  Returns the exit status. */
static int seccomp_probe_run(char *const *extra_deny, bool no_new_privs) {
        _cleanup_fclose_ FILE *f = NULL;
        bool have_i386, status_ok = false;
        ProbeCheck exec_check = { .label = "filter inherited across execve", .fn = probe_exec_inherits };
        char line[256];
        int r;

        probe_uid = geteuid();
        probe_gid = getegid();
        probe_passed = probe_failed = probe_skipped = probe_n_checks = 0;
        setvbuf(stdout, NULL, _IOLBF, 0);

        /* Every denied name must have a probe, so a name added to the list
         * without one fails here rather than going untested. */
        for (size_t l = 0; l < 2; l++)
                for (const char *const *n = l == 0 ? job_seccomp_denied_eperm : job_seccomp_denied_enosys; *n; n++) {
                        bool found = false;

                        for (size_t i = 0; i < ELEMENTSOF(deny_calls); i++)
                                if (streq(deny_calls[i].name, *n))
                                        found = true;
                        if (!found)
                                probe_report(false, *n, "in the deny list but the probe has no call for it");
                }

        have_i386 = i386_available();
        add_deny_checks(extra_deny, have_i386);
        add_allow_checks(extra_deny, have_i386);

        for (size_t i = 0; i < probe_n_checks; i++)
                probe_checks[i].baseline = probe_run(&probe_checks[i], probe_checks[i].guard_only);

        r = job_seccomp_install(extra_deny, no_new_privs);
        probe_report(r == 0, "job_seccomp_install()", "%s", r == 0 ? "0" : errno_name(-r));
        if (r < 0) {
                printf("seccomp-probe: %u passed, %u failed\n", probe_passed, probe_failed);
                return EXIT_FAILURE;
        }

        f = fopen("/proc/self/status", "re");
        while (f && fgets(line, sizeof(line), f))
                if (startswith(line, "Seccomp:"))
                        status_ok = strtol(line + strlen("Seccomp:"), NULL, 10) == 2;
        probe_report(status_ok, "/proc/self/status", "Seccomp: %s", status_ok ? "2 (filter)" : "not 2");

        for (size_t i = 0; i < probe_n_checks; i++) {
                ProbeCheck *c = &probe_checks[i];

                c->filtered = probe_run(c, c->guard_only);
                if (c->deny && !c->guard_only && c->expect == EPERM && is_errno(&c->baseline, EPERM) && c->name)
                        c->guarded = probe_run(c, true);
                probe_verdict(c);
        }

        exec_check.filtered = probe_run(&exec_check, false);
        probe_report(exec_check.filtered.done && exec_check.filtered.value == 0, exec_check.label,
                     "grep in a fresh sh %s Seccomp: 2",
                     exec_check.filtered.done && exec_check.filtered.value == 0 ? "sees" : "does not see");

        if (probe_skipped > 0)
                printf("seccomp-probe: %u skipped\n", probe_skipped);
        printf("seccomp-probe: %u passed, %u failed\n", probe_passed, probe_failed);
        return probe_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#ifdef SECCOMP_PROBE_OWN_LOG
/* log.c's interface, to stderr only, for a static build without
 * libsystemd. */
void log_setup(_unused_ const char *ident, _unused_ LogTarget target) {
}

int log_internal(int level, int error, _unused_ const char *file, _unused_ int line, _unused_ const char *func,
                 _unused_ const char *job, _unused_ const char *owner, const char *format, ...) {
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level <= LOG_INFO) {
                errno = error;   /* for %m */
                fputs("seccomp-probe: ", stderr);
                va_start(ap, format);
                vfprintf(stderr, format, ap);
                va_end(ap);
                fputc('\n', stderr);
        }
        errno = saved;
        return error > 0 ? -error : 0;
}
#endif

#ifndef SECCOMP_PROBE_NO_MAIN
/* Inside a job, where hostd installed the filter: make every denied call
 * and check it fails as the filter says.  Some calls the kernel refuses to
 * a user namespace's root anyway (EPERM); the keyring (ENOSYS) and
 * io_uring answers come only from the filter, and Seccomp: 2 shows it is
 * there at all. */
static int seccomp_probe_in_job(void) {
        _cleanup_fclose_ FILE *f = NULL;
        bool status_ok = false;
        char line[256], b[64];

        probe_uid = geteuid();
        probe_gid = getegid();
        setvbuf(stdout, NULL, _IOLBF, 0);
        f = fopen("/proc/self/status", "re");
        while (f && fgets(line, sizeof(line), f))
                if (startswith(line, "Seccomp:"))
                        status_ok = strtol(line + strlen("Seccomp:"), NULL, 10) == 2;
        probe_report(status_ok, "/proc/self/status", "Seccomp: %s", status_ok ? "2 (filter)" : "not 2");

        add_deny_checks(NULL, i386_available());
        for (size_t i = 0; i < probe_n_checks; i++) {
                ProbeCheck *c = &probe_checks[i];

                if (!c->deny || c->guard_only)
                        continue;
                c->filtered = probe_run(c, false);
                probe_report(is_errno(&c->filtered, c->expect), c->label, "%s, expected %s",
                             result_str(&c->filtered, b, sizeof(b)), errno_name(c->expect));
        }
        printf("seccomp-probe: %u passed, %u failed\n", probe_passed, probe_failed);
        return probe_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static void help(void) {
        printf("Usage: seccomp-probe [--extra-deny NAME]... [--no-new-privs]\n"
               "       seccomp-probe --in-job    (in a hostd job: check the filter it already has)\n"
               "Installs the hostd job seccomp filter in itself and checks what it denies and allows.\n"
               "Sets no_new_privs itself when not run as root, or with --no-new-privs.\n");
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char **extra = NULL;
        bool nnp = geteuid() != 0;
        size_t n = 0;

        log_setup("seccomp-probe", LOG_TARGET_STDERR);

        extra = calloc((size_t) argc, sizeof(char *));
        if (!extra)
                return EXIT_FAILURE;
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--extra-deny") && i + 1 < argc)
                        extra[n++] = argv[++i];
                else if (startswith(argv[i], "--extra-deny="))
                        extra[n++] = argv[i] + strlen("--extra-deny=");
                else if (streq(argv[i], "--no-new-privs"))
                        nnp = true;
                else if (streq(argv[i], "--in-job"))
                        return seccomp_probe_in_job();
                else if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
                        help();
                        return EXIT_SUCCESS;
                } else {
                        fprintf(stderr, "seccomp-probe: unknown argument '%s'\n", argv[i]);
                        help();
                        return EXIT_FAILURE;
                }
        }

        return seccomp_probe_run(extra, nnp);
}
#endif
