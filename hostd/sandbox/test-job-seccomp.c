/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks the job seccomp filter's API, then runs the probe's checks
 * (tests/sandbox/seccomp-probe.c, compiled in here).
 *
 * Everything that loads a filter runs in a re-executed copy of this test
 * ("--kernel"): a filter cannot be taken off again, and valgrind does not
 * emulate seccomp(2) (nor int $0x80, which the probe uses), so under
 * `meson test --wrap=valgrind` that copy runs natively (valgrind does not
 * follow execve by default) while the part without the kernel runs under
 * valgrind. */
#define SECCOMP_PROBE_NO_MAIN 1
#include "../../tests/sandbox/seccomp-probe.c"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif

#include "test-util.h"

#define EXIT_TEST_SKIP 77

/* What podman, runc and crun need; none of it may be on a list. */
static const char *const needed[] = {
        "clone", "clone3", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "mknod", "mknodat",
        "ptrace", "adjtimex", "clock_adjtime", "execve", "fsopen", "fsmount", "move_mount", "open_tree",
        "mount_setattr", "seccomp", "prctl", NULL,
};

static int seccomp_mode(void) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];

        f = fopen("/proc/self/status", "re");
        while (f && fgets(line, sizeof(line), f))
                if (startswith(line, "Seccomp:"))
                        return (int) strtol(line + strlen("Seccomp:"), NULL, 10);
        return -1;
}

static int wait_child(pid_t pid) {
        int status;

        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_lists(void) {
        const char *const *lists[] = { job_seccomp_denied_eperm, job_seccomp_denied_enosys };

        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                bool known = true, not_needed = true, unique = true, disjoint = true;
                size_t n = 0;

                /* NULL-terminated within a sane bound. */
                while (n < 1000 && lists[l][n])
                        n++;
                CHECK(n > 0 && n < 1000);

                for (size_t i = 0; i < n; i++) {
                        const char *name = lists[l][i];

                        if (seccomp_syscall_resolve_name(name) == __NR_SCMP_ERROR) {
                                fprintf(stderr, "libseccomp does not know %s\n", name);
                                known = false;
                        }
                        if (list_has(needed, name)) {
                                fprintf(stderr, "%s is needed by podman\n", name);
                                not_needed = false;
                        }
                        for (size_t j = i + 1; j < n; j++)
                                if (streq(name, lists[l][j])) {
                                        fprintf(stderr, "%s is listed twice\n", name);
                                        unique = false;
                                }
                        if (list_has(lists[1 - l], name)) {
                                fprintf(stderr, "%s is on both lists\n", name);
                                disjoint = false;
                        }
                }
                CHECK(known);
                CHECK(not_needed);
                CHECK(unique);
                CHECK(disjoint);
        }
        CHECK(list_has(job_seccomp_denied_enosys, "keyctl"));
        CHECK(list_has(job_seccomp_denied_eperm, "open_by_handle_at"));
}

static void test_bad_extra_deny(void) {
        char *bogus[] = { (char *) "mincore", (char *) "no_such_syscall", NULL };
        char *empty[] = { (char *) "", NULL };
        /* Known to libseccomp, but a call on no ABI this filter covers. */
        char *foreign[] = { (char *) "spu_run", NULL };

        CHECK(job_seccomp_install(bogus, false) == -EINVAL);
        CHECK(job_seccomp_install(empty, false) == -EINVAL);
#if !defined(__powerpc__) && !defined(__powerpc64__)
        CHECK(job_seccomp_install(foreign, false) == -EINVAL);
#endif
        /* Rejected before anything was loaded. */
        CHECK(seccomp_mode() == 0);
}

static void test_supported(void) {
        CHECK(job_seccomp_supported());
}

static void test_no_new_privs(void) {
        pid_t pid;

        /* Asked for: set. */
        pid = fork();
        if (pid == 0)
                _exit(job_seccomp_install(NULL, true) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 &&
                      seccomp_mode() == 2 ? 0 : 1);
        CHECK(wait_child(pid) == 0);

        if (geteuid() != 0)
                return;

        /* Not asked for, and CAP_SYS_ADMIN is enough: left alone. */
        pid = fork();
        if (pid == 0)
                _exit(job_seccomp_install(NULL, false) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0 &&
                      seccomp_mode() == 2 ? 0 : 1);
        CHECK(wait_child(pid) == 0);

        /* Neither no_new_privs nor CAP_SYS_ADMIN: the kernel refuses. */
        pid = fork();
        if (pid == 0) {
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                _exit(job_seccomp_install(NULL, false) == -EACCES && seccomp_mode() == 0 ? 0 : 1);
        }
        CHECK(wait_child(pid) == 0);
}

static void test_probe(void) {
        char *extra[] = { (char *) "mincore", (char *) "sched_getaffinity", NULL };
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid == 0)
                _exit(seccomp_probe_run(extra, geteuid() != 0));
        CHECK_MSG(wait_child(pid) == 0, "the probe failed, see above");
}

static int run_kernel_part(void) {
#ifdef HAVE_VALGRIND_H
        if (RUNNING_ON_VALGRIND) {
                printf("test-job-seccomp --kernel: skipped under valgrind (no seccomp(2) there)\n");
                return EXIT_TEST_SKIP;
        }
#endif
        test_supported();
        test_no_new_privs();
        test_probe();
        return test_summary("test-job-seccomp --kernel");
}

int main(int argc, char *argv[]) {
        pid_t pid;
        int r;

        log_setup("test-job-seccomp", LOG_TARGET_STDERR);

        if (argc > 1 && streq(argv[1], "--kernel"))
                return run_kernel_part();

        test_lists();
        test_bad_extra_deny();

        if (test_under_qemu_user()) {
                printf("test-job-seccomp --kernel: skipped under qemu-user (it refuses seccomp(2) for its guest)\n");
                return test_summary("test-job-seccomp");
        }
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                /* argv[0], not /proc/self/exe, which under valgrind is valgrind. */
                const char *self = strchr(argv[0], '/') ? argv[0] : "/proc/self/exe";

                execl(self, argv[0], "--kernel", (char *) NULL);
                fprintf(stderr, "Cannot execute %s: %m\n", self);
                _exit(EXIT_FAILURE);
        }
        r = wait_child(pid);
        CHECK_MSG(r == 0 || r == EXIT_TEST_SKIP, "the --kernel part failed (%d), see above", r);

        return test_summary("test-job-seccomp");
}
