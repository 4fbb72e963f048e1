/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cgroup-systemd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "macros.h"
#include "time-util.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_ERROR_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define SD_ERROR_UNIT_EXISTS "org.freedesktop.systemd1.UnitExists"
#define SD_ERROR_NO_SUCH_PROCESS "org.freedesktop.systemd1.NoSuchProcess"

/* The job (in systemd's sense) we wait for: its object path, set from
 * the reply of the call that queued it, and its result once JobRemoved
 * for it arrived. */
typedef struct JobWait {
        char *path;
        char *result;
} JobWait;

static void job_wait_done(JobWait *w) {
        free(w->path);
        free(w->result);
        *w = (JobWait) {};
}

int cgroup_systemd_unit_name(const char *job, char *buf, size_t size) {
        if (!cgroup_job_name_is_valid(job))
                return -EINVAL;
        if (snprintf(buf, size, CGROUP_SYSTEMD_PREFIX "%s.scope", job) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

int cgroup_systemd_path(const char *job, char *buf, size_t size) {
        char unit[128];
        int r;

        r = cgroup_systemd_unit_name(job, unit, sizeof(unit));
        if (r < 0)
                return r;
        if (snprintf(buf, size, CGROUP_SYSTEMD_ROOT "/hostd.slice/" CGROUP_SYSTEMD_SLICE "/%s", unit) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

static const char *bus_error_text(const sd_bus_error *e, int r) {
        if (e && e->message)
                return e->message;
        return strerror(r < 0 ? -r : r);
}

static int open_bus(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_method_call_timeout(bus, CGROUP_SYSTEMD_TIMEOUT_USEC);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static int match_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        (void) error;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0) {
                log_debug_errno(r, "Failed to parse JobRemoved signal: %m");
                return 0;
        }
        if (!w->path || !streq(path, w->path) || w->result)
                return 0;

        w->result = strdup(isempty(result) ? "unknown" : result);
        if (!w->result)
                return -ENOMEM;
        log_debug("systemd job %s for %s finished: %s", path, unit, result);
        return 0;
}

/* Subscribes to JobRemoved before the call that queues a job, as
 * systemd-run does: the signal may arrive before the call's reply, and
 * sd_bus_call() keeps such messages queued until we process the bus.
 * systemd sends JobRemoved to the client that queued the job even
 * without Subscribe(). */
static int watch_jobs(sd_bus *bus, JobWait *w, sd_bus_slot **ret_slot) {
        return sd_bus_match_signal(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
                                   match_job_removed, w);
}

/* Same mapping of job results to errors as systemd's bus-wait-for-jobs.c. */
static int job_result_to_errno(const char *result) {
        if (streq(result, "done") || streq(result, "skipped"))
                return 0;
        if (streq(result, "canceled") || streq(result, "collected"))
                return -ECANCELED;
        if (streq(result, "timeout"))
                return -ETIME;
        if (streq(result, "dependency"))
                return -EIO;
        if (streq(result, "invalid"))
                return -ENOEXEC;
        if (streq(result, "assert"))
                return -EPROTO;
        if (streq(result, "unsupported"))
                return -EOPNOTSUPP;
        if (streq(result, "once"))
                return -ESTALE;
        return -EIO;   /* "failed", or something newer than us */
}

/* Processes the bus until JobRemoved for w->path arrived, or deadline. */
static int wait_for_job(sd_bus *bus, JobWait *w, const char *unit, usec_t deadline) {
        int r;

        while (!w->result) {
                usec_t n;

                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Lost the system bus while waiting for %s: %m", unit);
                if (r > 0)
                        continue;

                n = now(CLOCK_MONOTONIC);
                if (n >= deadline)
                        return log_error_errno(-ETIMEDOUT, "Timed out waiting for systemd job %s for %s.",
                                               w->path, unit);
                r = sd_bus_wait(bus, deadline - n);
                if (r < 0 && r != -EINTR)
                        return log_error_errno(r, "Failed to wait on the system bus for %s: %m", unit);
        }

        r = job_result_to_errno(w->result);
        if (r < 0)
                return log_error_errno(r, "systemd job for %s finished with result \"%s\".", unit, w->result);
        return 0;
}

/* The job object of a manager method's reply, waited for. */
static int wait_for_reply_job(sd_bus *bus, sd_bus_message *reply, JobWait *w, const char *method, const char *unit,
                              usec_t deadline) {
        const char *job_path;
        int r;

        r = sd_bus_message_read(reply, "o", &job_path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse %s reply for %s: %m", method, unit);
        w->path = strdup(job_path);
        if (!w->path)
                return -ENOMEM;
        return wait_for_job(bus, w, unit, deadline);
}

static int append_limits(sd_bus_message *m, const CgroupLimits *l) {
        int r = 0;

        /* CPUQuotaPerSecUSec is CPU time per wall-clock second: 1000
         * millicpus = 1s/s = one CPU. */
        if (l->millicpus > 0)
                r = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t", (uint64_t) l->millicpus * 1000U);
        if (r >= 0 && l->memory > 0)
                r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", l->memory);
        if (r >= 0 && (l->swap > 0 || l->no_swap))
                r = sd_bus_message_append(m, "(sv)", "MemorySwapMax", "t", l->no_swap ? (uint64_t) 0 : l->swap);
        if (r >= 0 && l->pids > 0)
                r = sd_bus_message_append(m, "(sv)", "TasksMax", "t", l->pids);
        if (r >= 0 && l->io_weight > 0)
                r = sd_bus_message_append(m, "(sv)", "IOWeight", "t",
                                          MIN(MAX(l->io_weight, (uint64_t) 1), (uint64_t) 10000));
        return r;
}

static int get_unit_path(sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *p;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &error, &reply, "s", unit);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_ERROR_NO_SUCH_UNIT))
                        return -ENOENT;
                return log_error_errno(r, "Failed to look up unit %s: %s", unit, bus_error_text(&error, r));
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse GetUnit reply for %s: %m", unit);
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int cgroup_systemd_start(const char *job, pid_t pid, const CgroupLimits *l, char **ret_cgroup_path) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(job_wait_done) JobWait w = {};
        _cleanup_free_ char *unit_path = NULL, *cgroup = NULL;
        char unit[128], description[128];
        usec_t deadline;
        int r;

        r = cgroup_systemd_unit_name(job, unit, sizeof(unit));
        if (r < 0)
                return log_error_errno(r, "Invalid job name \"%s\" for a scope unit.", strempty(job));
        if (pid <= 0)
                return -EINVAL;
        snprintf(description, sizeof(description), "hostd job %s", job);

        r = open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = watch_jobs(bus, &w, &slot);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to systemd's JobRemoved signal: %m");

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StartTransientUnit");
        if (r < 0)
                goto fail_message;
        /* "fail": never replace or cancel anything already queued. */
        r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r < 0)
                goto fail_message;
        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                goto fail_message;
        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)",
                                  "Description", "s", description,
                                  "Slice", "s", CGROUP_SYSTEMD_SLICE,
                                  "PIDs", "au", 1, (uint32_t) pid,
                                  /* podman creates and manages cgroups inside */
                                  "Delegate", "b", 1,
                                  /* a failed scope must not linger and block its name */
                                  "CollectMode", "s", "inactive-or-failed");
        if (r < 0)
                goto fail_message;
        r = append_limits(m, l);
        if (r < 0)
                goto fail_message;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                goto fail_message;
        /* No auxiliary units. */
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                goto fail_message;

        deadline = now(CLOCK_MONOTONIC) + CGROUP_SYSTEMD_TIMEOUT_USEC;
        r = sd_bus_call(bus, m, CGROUP_SYSTEMD_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_ERROR_UNIT_EXISTS))
                        return log_error_errno(-EEXIST, "Unit %s exists already.", unit);
                return log_error_errno(r, "Failed to start transient scope %s: %s",
                                       unit, bus_error_text(&error, r));
        }
        r = wait_for_reply_job(bus, reply, &w, "StartTransientUnit", unit, deadline);
        if (r < 0)
                return r;

        if (ret_cgroup_path) {
                sd_bus_error_free(&error);
                r = get_unit_path(bus, unit, &unit_path);
                if (r == -ENOENT)
                        return log_error_errno(r, "Scope %s vanished right after starting "
                                               "(its process %d exited?).", unit, (int) pid);
                if (r < 0)
                        return r;
                r = sd_bus_get_property_string(bus, SD_DEST, unit_path, "org.freedesktop.systemd1.Scope",
                                               "ControlGroup", &error, &cgroup);
                if (r < 0)
                        return log_error_errno(r, "Failed to get the cgroup of %s: %s",
                                               unit, bus_error_text(&error, r));
                if (isempty(cgroup) || cgroup[0] != '/')
                        return log_error_errno(-EBADMSG, "Scope %s has no cgroup (\"%s\").", unit, strempty(cgroup));
                *ret_cgroup_path = TAKE_PTR(cgroup);
        }

        log_debug("Started %s for process %d.", unit, (int) pid);
        return 0;

fail_message:
        return log_error_errno(r, "Failed to build StartTransientUnit message for %s: %m", unit);
}

int cgroup_systemd_stop(const char *job) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(job_wait_done) JobWait w = {};
        char unit[128];
        usec_t deadline;
        int r;

        r = cgroup_systemd_unit_name(job, unit, sizeof(unit));
        if (r < 0)
                return log_error_errno(r, "Invalid job name \"%s\" for a scope unit.", strempty(job));

        r = open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");

        /* SIGKILL first: a stop alone would send SIGTERM and give the job
         * TimeoutStopSec= to clean up, which a build does not need. */
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "KillUnit", &error, NULL,
                               "ssi", unit, "all", (int32_t) SIGKILL);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_ERROR_NO_SUCH_UNIT))
                        return 0;
                /* An empty or inactive scope has nothing to kill: still stop it. */
                if (!sd_bus_error_has_name(&error, SD_ERROR_NO_SUCH_PROCESS))
                        log_warning_errno(r, "Failed to kill %s, stopping it anyway: %s",
                                          unit, bus_error_text(&error, r));
                sd_bus_error_free(&error);
        }

        r = watch_jobs(bus, &w, &slot);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to systemd's JobRemoved signal: %m");

        deadline = now(CLOCK_MONOTONIC) + CGROUP_SYSTEMD_STOP_TIMEOUT_USEC;
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit", &error, &reply,
                               "ss", unit, "replace");
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_ERROR_NO_SUCH_UNIT))
                        return 0;   /* already gone: collected once its processes died */
                return log_error_errno(r, "Failed to stop %s: %s", unit, bus_error_text(&error, r));
        }
        r = wait_for_reply_job(bus, reply, &w, "StopUnit", unit, deadline);
        if (r < 0)
                return r;
        log_debug("Stopped %s.", unit);
        return 0;
}

int cgroup_systemd_set_slice_limits(const CgroupLimits *l) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "SetUnitProperties");
        if (r >= 0)
                /* Runtime only: the policy is the one place the caps are
                 * configured, so nothing may outlive a reboot in /etc. */
                r = sd_bus_message_append(m, "sb", CGROUP_SYSTEMD_SLICE, 1);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        /* Every cap, with UINT64_MAX ("infinity") for none, so that a cap
         * removed from the policy is lifted at the next reload. */
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)(sv)",
                                          "CPUQuotaPerSecUSec", "t",
                                          l->millicpus > 0 ? (uint64_t) l->millicpus * 1000U : UINT64_MAX,
                                          "MemoryMax", "t", l->memory > 0 ? l->memory : UINT64_MAX,
                                          "TasksMax", "t", l->pids > 0 ? l->pids : UINT64_MAX);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build SetUnitProperties message for %s: %m", CGROUP_SYSTEMD_SLICE);
        r = sd_bus_call(bus, m, CGROUP_SYSTEMD_TIMEOUT_USEC, &error, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to set the caps of %s: %s", CGROUP_SYSTEMD_SLICE, bus_error_text(&error, r));
        return 0;
}

int cgroup_systemd_exists(const char *job) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        char unit[128];
        int r;

        r = cgroup_systemd_unit_name(job, unit, sizeof(unit));
        if (r < 0)
                return r;
        r = open_bus(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = get_unit_path(bus, unit, &path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return 1;
}

bool cgroup_systemd_available(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (sd_booted() <= 0)
                return false;
        r = open_bus(&bus);
        if (r < 0) {
                log_debug_errno(r, "systemd is PID 1 but the system bus is not reachable: %m");
                return false;
        }
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, "org.freedesktop.DBus.Peer", "Ping", &error, NULL, "");
        if (r < 0) {
                log_debug_errno(r, "systemd does not answer on the system bus: %s", bus_error_text(&error, r));
                return false;
        }
        return true;
}
