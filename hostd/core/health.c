/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "health.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fork-util.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "parse-util.h"
#include "registry.h"
#include "rm-rf.h"
#include "store.h"

/* The first probe runs this long after start (or ProbeInterval, if
 * shorter): a restart is not the moment to add load. */
#define PROBE_FIRST_DELAY_SEC 60
#define PROBE_OUTPUT_MAX 4096

struct Health {
        Daemon *daemon;
        sd_event_source *disk_timer, *probe_timer, *probe_child, *probe_deadline;
        pid_t probe_pid;
        int probe_out;            /* memfd: the probe's stdout and stderr */
        /* The probe's scratch store, runroot and tmpdir, one per hostd
         * process: podman wants a runroot of at most 50 characters, and its
         * database refuses a store reused with another runroot (a restart). */
        char runroot[64];
        bool probe_timed_out;
        bool disk_low, probe_failed;   /* probe_failed: ProbeFailures reached */
        char disk_problem[256], probe_problem[512];
        uint32_t probe_failures_in_row;   /* since the last success */
        uint64_t probe_failures_total, drains_total;
};

static void drain_for(Health *h, const char *reason) {
        Registry *r = h->daemon->registry;

        /* An operator's drain, or an earlier one, keeps its reason. */
        if (r->host.draining)
                return;
        if (registry_set_drain(r, true, reason) < 0)
                return;
        h->drains_total++;
        daemon_notify_status(h->daemon);
}

static void rearm(sd_event_source *s, uint64_t sec) {
        if (!s)
                return;
        if (sec == 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(s, sec * USEC_PER_SEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* ---- free disk ------------------------------------------------------------- */

static void check_disk(Health *h) {
        const Policy *p = h->daemon->policy;
        struct statvfs sv;
        uint64_t avail;
        char min[32];
        bool low;

        if (p->health_min_free_disk == 0 || fstatvfs(h->daemon->store->dir_fd, &sv) < 0) {
                h->disk_low = false;
                return;
        }
        avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        low = avail < p->health_min_free_disk;
        if (low) {
                snprintf(h->disk_problem, sizeof(h->disk_problem),
                         "free disk under %s is %.1f GiB, below [Health] MinFreeDisk=%s", h->daemon->store->path,
                         (double) avail / (1024.0 * 1024 * 1024), format_size(min, sizeof(min), p->health_min_free_disk));
                if (!h->disk_low)
                        log_warning("Health: %s; draining this host until 'hostctl resume'", h->disk_problem);
                drain_for(h, h->disk_problem);
        } else if (h->disk_low)
                log_notice("Health: free disk under %s is back above [Health] MinFreeDisk", h->daemon->store->path);
        h->disk_low = low;
}

static int on_disk_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Health *h = userdata;

        check_disk(h);
        rearm(s, h->daemon->policy->health_check_interval_sec);
        return 0;
}

/* ---- the podman probe -------------------------------------------------------- */

/* The last non-empty line of the probe's output, for the reason. */
static void last_line(int fd, char *buf, size_t size) {
        char out[PROBE_OUTPUT_MAX + 1];
        off_t end = lseek(fd, 0, SEEK_END);
        off_t from = end > PROBE_OUTPUT_MAX ? end - PROBE_OUTPUT_MAX : 0;
        ssize_t n = end > 0 ? pread(fd, out, (size_t) (end - from), from) : 0;
        char *l;

        buf[0] = 0;
        if (n <= 0)
                return;
        out[n] = 0;
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
                out[--n] = 0;
        l = strrchr(out, '\n');
        snprintf(buf, size, "%.*s", (int) size - 1, l ? l + 1 : out);
        /* One line of printable text in the drain reason. */
        for (char *c = buf; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        *c = ' ';
}

static void check_probe_failures(Health *h);

static void probe_finished(Health *h, const siginfo_t *si) {
        char how[64], line[300];

        h->probe_deadline = sd_event_source_disable_unref(h->probe_deadline);
        if (h->probe_timed_out)
                snprintf(how, sizeof(how), "timed out after %llus",
                         (unsigned long long) h->daemon->policy->health_probe_timeout_sec);
        else if (si->si_code == CLD_EXITED)
                snprintf(how, sizeof(how), "exit status %d", si->si_status);
        else
                snprintf(how, sizeof(how), "killed by signal %d", si->si_status);
        last_line(h->probe_out, line, sizeof(line));
        h->probe_out = safe_close(h->probe_out);
        h->probe_pid = 0;

        if (si->si_code == CLD_EXITED && si->si_status == 0 && !h->probe_timed_out) {
                if (h->probe_failed)
                        log_notice("Health: the podman probe passes again (%s)", line);
                else
                        log_debug("Health: podman probe ok (%s)", line);
                h->probe_failed = false;
                h->probe_failures_in_row = 0;
                return;
        }
        h->probe_failures_total++;
        /* Saturates: the policy bounds ProbeFailures at 100. */
        if (h->probe_failures_in_row < UINT32_MAX)
                h->probe_failures_in_row++;
        snprintf(h->probe_problem, sizeof(h->probe_problem), "podman probe failed (%s)%s%s", how, line[0] ? ": " : "", line);
        check_probe_failures(h);
}

/* One slow or failed probe on a busy host is not a broken podman: only
 * ProbeFailures in a row drain the host. */
static void check_probe_failures(Health *h) {
        uint32_t limit = h->daemon->policy->health_probe_failures;

        if (h->probe_failures_in_row == 0)
                return;
        if (h->probe_failures_in_row < limit) {
                log_warning("Health: %s; %" PRIu32 " of [Health] ProbeFailures=%" PRIu32 " in a row before this host drains",
                            h->probe_problem, h->probe_failures_in_row, limit);
                return;
        }
        if (!h->probe_failed)
                log_warning("Health: %s (%" PRIu32 " in a row); draining this host until 'hostctl resume'",
                            h->probe_problem, h->probe_failures_in_row);
        h->probe_failed = true;
        drain_for(h, h->probe_problem);
}

static int on_probe_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Health *h = userdata;

        h->probe_child = sd_event_source_disable_unref(h->probe_child);
        probe_finished(h, si);
        return 0;
}

static int on_probe_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Health *h = userdata;

        /* Its own process group: podman's helpers go with it. */
        if (h->probe_pid > 0) {
                h->probe_timed_out = true;
                (void) kill(-h->probe_pid, SIGKILL);
        }
        return 0;
}

/* `podman info` on a scratch store of its own (vfs: no mounts), so the
 * probe neither touches nor depends on the host's containers storage, but
 * still needs the OCI runtime, conmon and the storage code to work. */
static int start_probe(Health *h) {
        const Policy *p = h->daemon->policy;
        const char *podman = p->health_podman ?: "podman";
        char tmp[128], store[128];
        _cleanup_close_ int out = -1;
        pid_t pid;
        int r;

        if (h->probe_pid > 0)
                return 0;   /* the last one still runs; its deadline deals with it */
        if (!h->runroot[0]) {
                /* Per hostd process: two of them (tests) must not share it. */
                snprintf(h->runroot, sizeof(h->runroot), "/run/hostd-probe.XXXXXX");
                if (!mkdtemp(h->runroot)) {
                        snprintf(h->runroot, sizeof(h->runroot), "/tmp/hostd-probe.XXXXXX");
                        if (!mkdtemp(h->runroot)) {
                                h->runroot[0] = 0;
                                return log_warning_errno(errno, "Health: cannot create the probe's run directory: %m");
                        }
                }
        }
        snprintf(store, sizeof(store), "%s/storage", h->runroot);
        snprintf(tmp, sizeof(tmp), "%s/tmp", h->runroot);
        out = memfd_create("hostd-podman-probe", MFD_CLOEXEC);
        if (out < 0)
                return log_warning_errno(errno, "Health: cannot create the probe's output buffer: %m");

        pid = safe_fork(NULL, FORK_DEATHSIG_SIGKILL | FORK_UNBLOCK_SIGNALS);
        if (pid < 0)
                return log_warning_errno(pid, "Health: cannot start the podman probe: %m");
        if (pid == 0) {
                const char *argv[] = { podman, "--root", store, "--runroot", h->runroot, "--tmpdir", tmp,
                                       "--storage-driver", "vfs", "--events-backend", "file",
                                       "--cgroup-manager", "cgroupfs", "info", "--format",
                                       "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Package}} {{.Store.GraphDriverName}}", NULL };
                char home[128];
                int devnull;

                (void) setpgid(0, 0);
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                        _exit(126);
                close_range(3, ~0U, 0);
                snprintf(home, sizeof(home), "HOME=%s", h->runroot);
                (void) putenv(home);
                (void) unsetenv("NOTIFY_SOCKET");
                (void) unsetenv("LISTEN_FDS");
                (void) unsetenv("LISTEN_PID");
                (void) unsetenv("WATCHDOG_USEC");
                (void) unsetenv("WATCHDOG_PID");
                execvp(podman, (char **) argv);
                fprintf(stderr, "cannot run %s: %s\n", podman, strerror(errno));
                _exit(127);
        }
        (void) setpgid(pid, pid);
        r = sd_event_add_child(h->daemon->event, &h->probe_child, pid, WEXITED, on_probe_exit, h);
        if (r < 0) {
                (void) kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return log_warning_errno(r, "Health: cannot watch the podman probe: %m");
        }
        h->probe_pid = pid;
        h->probe_timed_out = false;
        h->probe_out = TAKE_FD(out);
        (void) sd_event_add_time_relative(h->daemon->event, &h->probe_deadline, CLOCK_MONOTONIC,
                                          p->health_probe_timeout_sec * USEC_PER_SEC, 0, on_probe_deadline, h);
        return 0;
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Health *h = userdata;

        (void) start_probe(h);
        rearm(s, h->daemon->policy->health_probe_interval_sec);
        return 0;
}

/* ---- setup ------------------------------------------------------------------- */

void health_policy_changed(Health *h) {
        const Policy *p = h->daemon->policy;

        check_disk(h);
        rearm(h->disk_timer, p->health_check_interval_sec);
        if (p->health_probe_interval_sec == 0) {
                h->probe_failed = false;
                h->probe_failures_in_row = 0;
        }
        /* A changed ProbeFailures applies to the failures counted so far. */
        if (h->probe_failures_in_row < p->health_probe_failures)
                h->probe_failed = false;
        else if (!h->probe_failed)
                check_probe_failures(h);
        rearm(h->probe_timer, MIN(p->health_probe_interval_sec, (uint64_t) PROBE_FIRST_DELAY_SEC));
}

int health_new(Daemon *d, Health **ret) {
        Health *h;
        int r;

        h = calloc(1, sizeof(Health));
        if (!h)
                return -ENOMEM;
        h->daemon = d;
        h->probe_out = -1;
        r = sd_event_add_time_relative(d->event, &h->disk_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_disk_timer, h);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &h->probe_timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                               on_probe_timer, h);
        if (r < 0) {
                health_free(h);
                return r;
        }
        health_policy_changed(h);
        *ret = h;
        return 0;
}

Health *health_free(Health *h) {
        if (!h)
                return NULL;
        if (h->probe_pid > 0) {
                (void) kill(-h->probe_pid, SIGKILL);
                (void) waitpid(h->probe_pid, NULL, 0);
        }
        sd_event_source_disable_unref(h->probe_child);
        sd_event_source_disable_unref(h->probe_deadline);
        sd_event_source_disable_unref(h->disk_timer);
        sd_event_source_disable_unref(h->probe_timer);
        safe_close(h->probe_out);
        if (h->runroot[0])
                (void) rm_rf_path(h->runroot);
        free(h);
        return NULL;
}

void health_add_problems(const Health *h, json_object *problems) {
        if (!h)
                return;
        if (h->disk_low)
                json_object_array_add(problems, json_object_new_string(h->disk_problem));
        if (h->probe_failed)
                json_object_array_add(problems, json_object_new_string(h->probe_problem));
}

void health_stats(const Health *h, HealthStats *ret) {
        *ret = (HealthStats) {};
        if (!h)
                return;
        *ret = (HealthStats) {
                .disk_low = h->disk_low,
                .probe_failed = h->probe_failed,
                .probe_failures_in_row = h->probe_failures_in_row,
                .probe_failures_total = h->probe_failures_total,
                .drains_total = h->drains_total,
        };
}

void health_metrics(const Health *h, FILE *f) {
        HealthStats hs;

        health_stats(h, &hs);
        metrics_family(f, "hostd_health_check_failing", "gauge", "1 while a health check fails (the host drains), by check.");
        fprintf(f, "hostd_health_check_failing{check=\"disk\"} %d\n", hs.disk_low ? 1 : 0);
        fprintf(f, "hostd_health_check_failing{check=\"podman\"} %d\n", hs.probe_failed ? 1 : 0);
        metrics_family(f, "hostd_podman_probe_failures_total", "counter", "Podman probes that failed or timed out.");
        fprintf(f, "hostd_podman_probe_failures_total %llu\n", (unsigned long long) hs.probe_failures_total);
        metrics_family(f, "hostd_podman_probe_failures_in_row", "gauge",
               "Podman probes failed in a row; [Health] ProbeFailures of them drain the host.");
        fprintf(f, "hostd_podman_probe_failures_in_row %" PRIu32 "\n", hs.probe_failures_in_row);
        metrics_family(f, "hostd_health_drains_total", "counter", "Times a failing health check drained the host.");
        fprintf(f, "hostd_health_drains_total %llu\n", (unsigned long long) hs.drains_total);
}
