/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* compat-probe: a static 32-bit ARM (EABI, armhf) program for the arm64 VM
 * tier.  On an arm64 kernel with CONFIG_COMPAT and a CPU with AArch32 at
 * EL0 it runs through the compat syscall table; the job filter lists
 * SCMP_ARCH_ARM, so the calls it denies must be denied here too.
 *
 * Every call of the job filter's lists (hostd/sandbox/job-seccomp.c; case-12 checks
 * that none is missing here), with seccomp-probe's arguments: the kernel
 * rejects each before doing anything, even as root (EFAULT, EINVAL,
 * EBADF...), so outside a job none says EPERM or ENOSYS and inside one each
 * must say what the filter says.  One line per call:
 *   NAME ERRNO-NAME     (OK for a success)
 *   NAME absent         (no such call in the ARM EABI: nothing to reach)
 * Build: arm-linux-gnueabihf-gcc -static -O1 -o compat-probe compat-probe.c */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct Call {
        const char *name;
        long nr;   /* -1: not an ARM EABI call */
        long args[6];
} Call;

/* The headers of the ARM EABI decide which calls exist: a name they lack
 * (iopl, stime, vm86...) has no number to make it with. */
#define ABSENT(n) { n, -1, { 0 } }
static const Call calls[] = {
#ifdef SYS_kexec_load
        { "kexec_load", SYS_kexec_load, { 0, 0, 0, 0x8000 /* not a flag: EINVAL */ } },
#else
        ABSENT("kexec_load"),
#endif
#ifdef SYS_kexec_file_load
        { "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, 0x40000000 /* not a flag */ } },
#else
        ABSENT("kexec_file_load"),
#endif
        { "init_module", SYS_init_module, { 0, 0, 0 /* empty image: ENOEXEC */ } },
        { "finit_module", SYS_finit_module, { -1, 0, 0 } },
        { "delete_module", SYS_delete_module, { 0 /* NULL name: EFAULT */ } },
        { "bpf", SYS_bpf, { -1 /* no such command */ } },
        { "perf_event_open", SYS_perf_event_open, { 0 /* NULL attr: EFAULT */, 0, -1, -1, 0 } },
        { "userfaultfd", SYS_userfaultfd, { 0x40000000 /* not a flag */ } },
        { "io_uring_setup", SYS_io_uring_setup, { 0, 0 /* NULL params */ } },
        { "io_uring_enter", SYS_io_uring_enter, { -1 } },
        { "io_uring_register", SYS_io_uring_register, { -1 } },
        { "open_by_handle_at", SYS_open_by_handle_at, { -1, 0 /* NULL handle */ } },
        { "name_to_handle_at", SYS_name_to_handle_at, { -1, 0 /* NULL path */ } },
        { "quotactl", SYS_quotactl, { 0, 0 /* no device: ENODEV */ } },
#ifdef SYS_quotactl_fd
        { "quotactl_fd", SYS_quotactl_fd, { -1 } },
#else
        ABSENT("quotactl_fd"),
#endif
        { "swapon", SYS_swapon, { 0, -1 /* bad flags: EINVAL */ } },
        { "swapoff", SYS_swapoff, { 0 /* NULL path */ } },
        { "acct", SYS_acct, { 1 /* bad pointer; NULL would turn accounting off */ } },
        { "syslog", SYS_syslog, { 10 /* SYSLOG_ACTION_SIZE_BUFFER, a read */ } },
#ifdef SYS_iopl
        { "iopl", SYS_iopl, { 4 /* > 3: EINVAL */ } },
#else
        ABSENT("iopl"),
#endif
#ifdef SYS_ioperm
        { "ioperm", SYS_ioperm, { 0, 0 /* empty range: EINVAL */ } },
#else
        ABSENT("ioperm"),
#endif
        { "reboot", SYS_reboot, { 0, 0 /* wrong magic: EINVAL */ } },
        { "settimeofday", SYS_settimeofday, { 1 /* bad pointer */ } },
        { "clock_settime", SYS_clock_settime, { -1 /* no such clock */ } },
#ifdef SYS_clock_settime64
        { "clock_settime64", SYS_clock_settime64, { -1 } },
#else
        ABSENT("clock_settime64"),
#endif
#ifdef SYS_stime
        { "stime", SYS_stime, { 0 /* NULL */ } },
#else
        ABSENT("stime"),
#endif
#ifdef SYS_lookup_dcookie
        { "lookup_dcookie", SYS_lookup_dcookie, { 0 } },
#else
        ABSENT("lookup_dcookie"),
#endif
#ifdef SYS_nfsservctl
        { "nfsservctl", SYS_nfsservctl, { 0 } },
#else
        ABSENT("nfsservctl"),
#endif
#ifdef SYS_uselib
        { "uselib", SYS_uselib, { 0 /* NULL */ } },
#else
        ABSENT("uselib"),
#endif
#ifdef SYS_vm86
        { "vm86", SYS_vm86, { 0 } },
#else
        ABSENT("vm86"),
#endif
#ifdef SYS_vm86old
        { "vm86old", SYS_vm86old, { 0 } },
#else
        ABSENT("vm86old"),
#endif
        { "add_key", SYS_add_key, { 0 /* NULL type: EFAULT */ } },
        { "request_key", SYS_request_key, { 0 /* NULL type: EFAULT */ } },
        { "keyctl", SYS_keyctl, { -1 /* no such command: EOPNOTSUPP */ } },
        /* Allowed: the filter lets the rest through. */
        { "getppid", SYS_getppid, { 0 } },
};

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("compat-probe: pid %ld, %zu-bit\n", (long) syscall(SYS_getpid), sizeof(long) * 8);
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                const Call *c = &calls[i];
                const char *e;
                long r;

                if (c->nr < 0) {
                        printf("%s absent\n", c->name);
                        continue;
                }
                errno = 0;
                r = syscall(c->nr, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4], c->args[5]);
                e = strerrorname_np(errno);
                printf("%s %s\n", c->name, r >= 0 ? "OK" : e ? e : "?");
        }
        printf("compat-probe: done\n");
        return 0;
}
