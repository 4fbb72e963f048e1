/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "capacity.h"
#include "health.h"
#include "job-network.h"
#include "job-seccomp.h"
#include "sshkeys.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "parse-util.h"
#include "platform.h"
#include "pubkey.h"

#define API_VERSION "hostd/v1"
#define FLAGS_MAX 8

typedef struct Args {
        const char *positional;
        const char *flags[FLAGS_MAX];   /* values, in the verb's flag order */
} Args;

typedef struct Verb Verb;
typedef void (*VerbFn)(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata);

struct Verb {
        const char *name;
        const char *positional;          /* "JOB", or NULL if none */
        bool positional_optional;
        const char *flags[FLAGS_MAX];    /* "--owner", ... */
        const char *required[FLAGS_MAX];
        bool operator_only;
        VerbFn fn;
};

json_object *api_error_answer(const char *code, const char *format, ...) {
        json_object *o = json_object_new_object(), *e = json_object_new_object();
        char msg[1024];
        va_list ap;

        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        json_add_string(o, "apiVersion", API_VERSION);
        json_add_string(e, "code", code);
        json_add_string(e, "message", msg);
        json_object_object_add(o, "error", e);
        return o;
}

static json_object *error_from(const ApiError *e, int r) {
        if (e->code)
                return api_error_answer(e->code, "%s", e->message);
        return api_error_answer(API_ERROR_INTERNAL, "hostd failed: %s; see its log", strerror(r < 0 ? -r : EIO));
}

int api_answer_status(json_object *answer) {
        json_object *e, *code;

        if (!json_object_object_get_ex(answer, "error", &e))
                return 0;
        if (!json_object_object_get_ex(e, "code", &code))
                return 1;
        return api_code_exit_status(json_object_get_string(code));
}

static json_object *new_answer(void) {
        json_object *o = json_object_new_object();
        json_add_string(o, "apiVersion", API_VERSION);
        return o;
}

static JobAddress job_address(Daemon *d) {
        return (JobAddress) {
                .host = daemon_advertised_host(d),
                .port = daemon_advertised_port(d),
                .jobs_dir = NULL,
        };
}

/* What an active job uses now, measured. */
static json_object *usage_json(Daemon *d, const Job *j) {
        json_object *uo = json_object_new_object();
        JobUsage u;

        job_sandbox_usage(&d->enforcement, j, &u);
        if (u.has_cpu) {
                usec_t age = now(CLOCK_REALTIME) - j->created;
                char rate[32];

                json_object_object_add(uo, "cpu_seconds", json_object_new_double((double) u.cpu_usec / 1e6));
                /* Average CPUs used since the job started, comparable to quota.cpus. */
                snprintf(rate, sizeof(rate), "%.2f", age > 0 ? (double) u.cpu_usec / (double) age : 0.0);
                json_object_object_add(uo, "cpus", json_object_new_double_s(strtod(rate, NULL), rate));
        }
        if (u.has_memory)
                json_add_int(uo, "memory_bytes", (int64_t) u.memory);
        if (u.has_disk) {
                json_add_int(uo, "disk_bytes", (int64_t) u.disk_used);
                json_add_int(uo, "disk_total_bytes", (int64_t) u.disk_total);
        }
        return uo;
}

static json_object *job_answer(Daemon *d, const Job *j) {
        _cleanup_free_ char *known_hosts = NULL;
        char jobs_dir[4096];
        JobAddress a = job_address(d);
        json_object *o = NULL;

        snprintf(jobs_dir, sizeof(jobs_dir), "%s/jobs", d->store->path);
        a.jobs_dir = jobs_dir;
        if (job_to_api_json(j, &a, &o) < 0)
                return api_error_answer(API_ERROR_INTERNAL, "out of memory");
        /* Pins this host's keys for exactly what the client will type. */
        if (host_keys_known_hosts(&d->host_keys, a.host, a.port, &known_hosts) >= 0)
                json_add_string(o, "known_hosts", known_hosts);
        if (j->state == JOB_ACTIVE)
                json_object_object_add(o, "usage", usage_json(d, j));
        return o;
}

/* ---- value checks ------------------------------------------------------ */

/* Owners are "namespace/taskrun" in practice; allow what Kubernetes names
 * allow plus a little, and nothing that could confuse a log or a shell. */
static bool owner_is_valid(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > JOB_OWNER_MAX || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._:/-", *p))
                        return false;
        return true;
}

/* ---- verbs ------------------------------------------------------------- */

static void verb_capacity(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata);

/* What this host enforces, measured at start; never pretend. */
static json_object *enforcement_to_json(const Enforcement *e) {
        json_object *enf = json_object_new_object(), *cg = json_object_new_object(), *notes = json_object_new_array();
        bool cgroups = e->systemd || e->cgroup.root[0];
        static const char *const names[] = { "cpu", "memory", "pids", "io" };
        const bool have[] = { e->cgroup.cpu, e->cgroup.memory, e->cgroup.pids, e->cgroup.io };
        char note[512], missing[64] = "";

        json_add_string(enf, "stage", e->sandbox ? "sandbox" : "none");
        json_object_object_add(enf, "job_isolation", json_object_new_boolean(e->sandbox));
        json_object_object_add(enf, "uid_range", json_object_new_boolean(e->sandbox));
        json_object_object_add(enf, "namespaces", json_object_new_boolean(e->sandbox));
        json_add_string(enf, "cgroup_manager", e->systemd ? "systemd" : cgroups ? "cgroupfs" : NULL);
        json_object_object_add(enf, "cgroup_kill", json_object_new_boolean(e->systemd || e->cgroup.kill));
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                /* Under systemd the scope gets every controller the host has. */
                bool on = e->systemd ? true : have[i];
                json_object_object_add(cg, names[i], json_object_new_boolean(on));
                if (!on) {
                        size_t l = strlen(missing);
                        snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? ", " : "", names[i]);
                }
        }
        json_object_object_add(enf, "cgroup", cg);
        json_object_object_add(enf, "seccomp", json_object_new_boolean(e->seccomp));
        if (e->seccomp) {
                json_object *abis = json_object_new_array();

                for (const char *const *a = job_seccomp_abis; *a; a++)
                        json_object_array_add(abis, json_object_new_string(*a));
                json_object_object_add(enf, "seccomp_abis", abis);
        }
        json_object_object_add(enf, "disk_quota", json_object_new_boolean(e->disk_quota));
        json_add_string(enf, "podman_runtime", e->runtime);
        json_add_string(enf, "emulation", e->private_binfmt ? "per-job" : "host-wide");
        if (missing[0]) {
                snprintf(note, sizeof(note), "not enforced here: %s limits (the cgroup v2 hierarchy%s%s has no such "
                         "controller); jobs run without them", missing, e->cgroup.root[0] ? " at " : "",
                         e->cgroup.root);
                json_object_array_add(notes, json_object_new_string(note));
        }
        if (!cgroups)
                json_object_array_add(notes, json_object_new_string(
                        "no cgroup v2 here: a job's processes are found by uid range and pid namespace for release"));
        if (!e->disk_quota)
                json_object_array_add(notes, json_object_new_string(
                        "no disk quota here (no loop devices or mkfs.ext4): a job can fill the state dir's filesystem"));
        if (!e->seccomp)
                json_object_array_add(notes, json_object_new_string("no seccomp in this kernel: the job filter is not applied"));
        if (!e->private_binfmt)
                json_object_array_add(notes, json_object_new_string(
                        "no binfmt_misc per user namespace in this kernel (Linux < 6.7): AllowEmulated=no only stops "
                        "allocating emulated jobs; any job can still run foreign binaries through the host's emulators"));
        json_object_object_add(enf, "notes", notes);
        return enf;
}

static json_object *build_capacity(Daemon *d) {
        Registry *r = d->registry;
        const Policy *p = d->policy;
        HostMeasurement m;
        json_object *o, *slots, *platforms = NULL, *resources = NULL, *health, *problems, *keys = NULL;
        unsigned used = registry_slots_used(r);
        const char *why = NULL;
        char whybuf[1200];
        int k;

        k = capacity_measure(d->store->path, d->binfmt_dir, NULL, &m);
        if (k < 0)
                return api_error_answer(API_ERROR_INTERNAL, "cannot measure the host: %s", strerror(-k));
        k = capacity_to_json(&m, p->allow_emulated, d->store->path, &platforms, &resources);
        if (k < 0)
                return api_error_answer(API_ERROR_INTERNAL, "out of memory");

        if (r->host.draining) {
                snprintf(whybuf, sizeof(whybuf), "draining: %s", strempty(r->host.drain_reason));
                why = whybuf;
        } else if (used >= p->slots) {
                snprintf(whybuf, sizeof(whybuf), "all %u slots are in use", p->slots);
                why = whybuf;
        } else if (!job_network_available(p->network, whybuf, sizeof(whybuf)))
                why = whybuf;

        o = new_answer();
        json_add_string(o, "hostname", m.hostname);
        json_add_string(o, "version", HOSTD_VERSION);
        json_add_string(o, "boot_id", m.boot_id);
        slots = json_object_new_object();
        json_add_int(slots, "total", p->slots);
        json_add_int(slots, "used", used);
        json_add_int(slots, "free", used >= p->slots ? 0 : p->slots - used);
        json_object_object_add(o, "slots", slots);
        json_object_object_add(o, "allocatable", json_object_new_boolean(!why));
        json_add_string(o, "not_allocatable_reason", why);
        json_object_object_add(o, "draining", json_object_new_boolean(r->host.draining));
        json_add_string(o, "drain_reason", r->host.draining ? r->host.drain_reason : NULL);
        json_object_object_add(o, "platforms", platforms);
        json_object_object_add(o, "resources", resources);
        if (host_keys_to_json(&d->host_keys, &keys) >= 0)
                json_object_object_add(o, "host_keys", keys);
        {
                SshStats ls;
                json_object *ssh = json_object_new_object();

                daemon_ssh_stats(d, &ls);
                json_add_int(ssh, "port", daemon_advertised_port(d));
                json_add_int(ssh, "sessions", ls.sessions);
                json_add_int(ssh, "unauthenticated", ls.unauthenticated);
                json_object_object_add(ssh, "controller_keys",
                                       json_object_new_int64(d->controller_keys ? (int64_t) authorized_keys_count(d->controller_keys) : 0));
                json_object_object_add(o, "ssh", ssh);
        }

        {
                json_object *enf = enforcement_to_json(&d->enforcement);

                job_network_describe(p->network, enf);
                json_object_object_add(o, "enforcement", enf);
        }

        json_add_int(o, "jobs_in_use", used);
        {
                /* Per job: what it may use and what it uses now. */
                json_object *jobs = json_object_new_array();
                for (size_t i = 0; i < r->n_jobs; i++) {
                        Job *j = r->jobs[i];
                        json_object *x;

                        if (j->state != JOB_ACTIVE)
                                continue;
                        x = json_object_new_object();
                        json_add_string(x, "job", j->id);
                        json_add_string(x, "owner", j->owner);
                        json_object_object_add(x, "quota", quota_to_json(&j->quota));
                        json_object_object_add(x, "usage", usage_json(d, j));
                        json_object_array_add(jobs, x);
                }
                json_object_object_add(o, "job_usage", jobs);
        }

        health = json_object_new_object();
        problems = json_object_new_array();
        for (size_t i = 0; i < r->n_jobs; i++)
                if (r->jobs[i]->state == JOB_LEAKED) {
                        char buf[1200];
                        snprintf(buf, sizeof(buf), "job %s leaked: %s", r->jobs[i]->id, strempty(r->jobs[i]->state_reason));
                        json_object_array_add(problems, json_object_new_string(buf));
                }
        health_add_problems(d->health, problems);
        json_add_string(health, "status", json_object_array_length(problems) > 0 ? "degraded" : "ok");
        json_object_object_add(health, "problems", problems);
        {
                HealthStats hs;

                /* Below [Health] ProbeFailures this is no problem yet, but an
                 * operator watching a flaky podman wants to see it coming. */
                health_stats(d->health, &hs);
                json_add_int(health, "podman_probe_failures", (int64_t) hs.probe_failures_in_row);
        }
        json_object_object_add(o, "health", health);
        return o;
}

static void verb_capacity(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        reply(userdata, build_capacity(d));
}

static int parse_flag_value(const char *flag, const char *value, int (*parser)(const char *, uint64_t *),
                            const char *what, uint64_t *ret, ApiError *e) {
        int r;

        if (!value) {
                *ret = 0;
                return 0;
        }
        r = parser(value, ret);
        if (r < 0 || *ret == 0)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "%s '%.64s' is not valid; give %s", flag, value, what);
        return 0;
}

static void free_secret(char **s) {
        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
        }
}

static void verb_allocate(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        _cleanup_free_ char *key = NULL;
        _cleanup_(free_secret) char *private_key = NULL;
        json_object *answer;
        AllocateRequest req = {
                .owner = a->flags[0],
                .platform = a->flags[1],
        };
        ApiError e = {};
        Job *j = NULL;
        char error[512], platform[PLATFORM_MAX + 1];
        int r;

        if (!owner_is_valid(req.owner)) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "--owner '%.64s' is not valid; use NAMESPACE/TASKRUN (letters, digits, "
                                                 "'.', '_', ':', '/', '-', at most %d characters)", req.owner, JOB_OWNER_MAX));
                return;
        }
        /* podman's forms (linux/arm64/v8, linux/aarch64) name the same
         * platform as linux/arm64: the job and every answer carry the
         * normalized form. */
        if (platform_normalize(req.platform, platform, sizeof(platform)) < 0) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "--platform '%.64s' is not valid; use linux/ARCH[/VARIANT], e.g. linux/amd64, "
                                                 "linux/arm64 or linux/arm64/v8",
                                                 req.platform));
                return;
        }
        req.platform = platform;
        if ((r = parse_flag_value("--lease", a->flags[2], parse_duration_sec, "seconds or a duration like 2h", &req.lease_sec, &e)) < 0 ||
            (r = parse_flag_value("--memory", a->flags[5], parse_size, "bytes or a size like 4G", &req.memory, &e)) < 0 ||
            (r = parse_flag_value("--disk", a->flags[6], parse_size, "bytes or a size like 20G", &req.disk, &e)) < 0) {
                reply(userdata, error_from(&e, r));
                return;
        }
        if (a->flags[4]) {
                r = parse_millicpus(a->flags[4], &req.millicpus);
                if (r < 0 || req.millicpus == 0) {
                        reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                         "--cpus '%.64s' is not valid; give a number of CPUs like 2 or 1.5",
                                                         a->flags[4]));
                        return;
                }
        }
        if (a->flags[3]) {
                r = pubkey_normalize(a->flags[3], &key, error, sizeof(error));
                if (r < 0) {
                        reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST, "--public-key: %s", error));
                        return;
                }
                req.public_key = key;
        } else {
                /* No key given: make a pair; the private half goes out once, in
                 * this answer, and is never stored. */
                r = job_key_generate(&private_key, &key);
                if (r < 0) {
                        reply(userdata, api_error_answer(API_ERROR_INTERNAL, "cannot generate a key pair: %s", strerror(-r)));
                        return;
                }
                req.public_key = key;
                req.key_generated = true;
        }

        r = daemon_allocate_job(d, &req, &j, &e);
        if (r < 0) {
                reply(userdata, error_from(&e, r));
                return;
        }
        answer = job_answer(d, j);
        if (private_key)
                json_add_string(answer, "private_key", private_key);
        reply(userdata, answer);
}

typedef struct ReleaseCtx {
        Daemon *d;
        ApiReplyFn reply;
        void *userdata;
} ReleaseCtx;

static void release_done(void *userdata, Job *j) {
        ReleaseCtx *c = userdata;

        if (!j)
                c->reply(c->userdata, api_error_answer(API_ERROR_INTERNAL,
                                                       "hostd is stopping before the cleanup finished; it resumes the "
                                                       "cleanup when it starts again: retry the release then"));
        else if (j->state == JOB_RELEASED)
                c->reply(c->userdata, job_answer(c->d, j));
        else
                c->reply(c->userdata, api_error_answer(API_ERROR_INTERNAL,
                                                       "job %s could not be reclaimed (%s); it is kept as leaked, its slot "
                                                       "stays taken and the host drains; an operator can retry with "
                                                       "'hostctl release %s'", j->id, strempty(j->state_reason), j->id));
        free(c);
}

static Job *lookup_job(Daemon *d, const char *id, bool allow_released, ApiReplyFn reply, void *userdata) {
        Job *j;

        if (!job_id_is_valid(id)) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "'%.64s' is not a job id; job ids look like j0123456789ab", id));
                return NULL;
        }
        j = registry_find(d->registry, id);
        if (!j || (!allow_released && j->state == JOB_RELEASED)) {
                reply(userdata, api_error_answer(API_ERROR_UNKNOWN_JOB, "no job %s on this host%s", id,
                                                 j ? " (it was released)" : ""));
                return NULL;
        }
        return j;
}

static void verb_release(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        ReleaseCtx *c;
        Job *j;
        int r;

        j = lookup_job(d, a->positional, true, reply, userdata);
        if (!j)
                return;
        if (j->state == JOB_RELEASED) {
                reply(userdata, job_answer(d, j));
                return;
        }
        c = malloc(sizeof(ReleaseCtx));
        if (!c) {
                reply(userdata, api_error_answer(API_ERROR_INTERNAL, "out of memory"));
                return;
        }
        *c = (ReleaseCtx) { d, reply, userdata };
        log_job(LOG_INFO, j->id, j->owner, "Release requested");
        r = daemon_release_job(d, j, JOB_END_RELEASE, release_done, c);
        if (r < 0) {
                free(c);
                reply(userdata, api_error_answer(API_ERROR_INTERNAL, "cannot start the release of %s: %s", j->id,
                                                 strerror(-r)));
        }
}

static void verb_renew(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        ApiError e = {};
        uint64_t lease;
        Job *j;
        int r;

        if (!job_id_is_valid(a->positional)) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "'%.64s' is not a job id; job ids look like j0123456789ab", a->positional));
                return;
        }
        r = parse_flag_value("--lease", a->flags[0], parse_duration_sec, "seconds or a duration like 2h", &lease, &e);
        if (r < 0) {
                reply(userdata, error_from(&e, r));
                return;
        }
        r = registry_renew(d->registry, a->positional, lease, now(CLOCK_REALTIME), &j, &e);
        if (r < 0) {
                reply(userdata, error_from(&e, r));
                return;
        }
        log_job(LOG_INFO, j->id, j->owner, "Lease renewed for %llus", (unsigned long long) j->lease_seconds);
        daemon_update_deadline(d);
        reply(userdata, job_answer(d, j));
}

static void verb_jobs(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        json_object *o = new_answer(), *arr = json_object_new_array();

        for (size_t i = 0; i < d->registry->n_jobs; i++) {
                Job *j = d->registry->jobs[i];
                json_object *x;

                if (!job_holds_slot(j))
                        continue;
                x = job_answer(d, j);
                json_object_object_del(x, "apiVersion");
                json_object_array_add(arr, x);
        }
        json_object_object_add(o, "jobs", arr);
        reply(userdata, o);
}

static void verb_job(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        Job *j = lookup_job(d, a->positional, true, reply, userdata);
        if (j)
                reply(userdata, job_answer(d, j));
}

static void verb_drain(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        const char *reason = a->flags[0] ?: "drained by an operator";
        int r;

        if (strlen(reason) > 512) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST, "--reason is longer than 512 characters; shorten it"));
                return;
        }
        r = registry_set_drain(d->registry, true, reason);
        if (r < 0) {
                reply(userdata, api_error_answer(API_ERROR_INTERNAL, "cannot record the drain: %s", strerror(-r)));
                return;
        }
        daemon_notify_status(d);
        reply(userdata, build_capacity(d));
}

static void verb_resume(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        int r = registry_set_drain(d->registry, false, NULL);
        if (r < 0) {
                reply(userdata, api_error_answer(API_ERROR_INTERNAL, "cannot record the resume: %s", strerror(-r)));
                return;
        }
        daemon_notify_status(d);
        reply(userdata, build_capacity(d));
}

static void verb_reload(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        _cleanup_free_ char *error = NULL;
        json_object *o, *sources;
        int r;

        r = daemon_reload(d, &error);
        if (r < 0) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "the new policy is invalid; the old one stays in force:\n%s",
                                                 strempty(error)));
                return;
        }
        o = new_answer();
        json_object_object_add(o, "reloaded", json_object_new_boolean(true));
        sources = json_object_new_array();
        STRV_FOREACH(s, d->policy->sources)
                json_object_array_add(sources, json_object_new_string(*s));
        json_object_object_add(o, "sources", sources);
        reply(userdata, o);
}

static void verb_metrics(Daemon *d, const Args *a, ApiReplyFn reply, void *userdata) {
        _cleanup_free_ char *text = NULL;
        json_object *o;
        int r;

        r = metrics_render(d, &text);
        if (r < 0) {
                reply(userdata, api_error_answer(API_ERROR_INTERNAL, "cannot render metrics: %s", strerror(-r)));
                return;
        }
        o = new_answer();
        json_add_string(o, "content_type", "text/plain; version=0.0.4");
        json_add_string(o, "text", text);
        reply(userdata, o);
}

static const Verb verbs[] = {
        { .name = "capacity", .fn = verb_capacity },
        { .name = "allocate",
          .flags = { "--owner", "--platform", "--lease", "--public-key", "--cpus", "--memory", "--disk" },
          .required = { "--owner", "--platform" },
          .fn = verb_allocate },
        { .name = "release", .positional = "JOB", .fn = verb_release },
        { .name = "renew", .positional = "JOB", .flags = { "--lease" }, .required = { "--lease" }, .fn = verb_renew },
        { .name = "jobs", .fn = verb_jobs },
        { .name = "job", .positional = "JOB", .fn = verb_job },
        { .name = "drain", .flags = { "--reason" }, .operator_only = true, .fn = verb_drain },
        { .name = "resume", .operator_only = true, .fn = verb_resume },
        { .name = "reload", .operator_only = true, .fn = verb_reload },
        { .name = "metrics", .operator_only = true, .fn = verb_metrics },
};

static void list_flags(const Verb *v, char *buf, size_t size) {
        buf[0] = 0;
        for (size_t i = 0; i < FLAGS_MAX && v->flags[i]; i++) {
                size_t l = strlen(buf);
                snprintf(buf + l, size - l, "%s%s", i ? ", " : "", v->flags[i]);
        }
        if (!buf[0])
                snprintf(buf, size, "none");
}

static int parse_args(const Verb *v, char *const *argv, size_t argc, Args *ret, ApiError *e) {
        char allowed[256];

        *ret = (Args) {};
        for (size_t i = 1; i < argc; i++) {
                const char *arg = argv[i], *value = NULL, *eq;
                size_t namelen;
                int idx = -1;

                if (strlen(arg) > API_ARG_MAX)
                        return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                             "argument %zu is longer than %d bytes", i, API_ARG_MAX);
                if (!startswith(arg, "--")) {
                        if (!v->positional)
                                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                                     "'%s' takes no arguments, got '%.64s'", v->name, arg);
                        if (ret->positional)
                                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                                     "'%s' takes one %s, got a second one '%.64s'", v->name,
                                                     v->positional, arg);
                        ret->positional = arg;
                        continue;
                }
                eq = strchr(arg, '=');
                namelen = eq ? (size_t) (eq - arg) : strlen(arg);
                for (size_t f = 0; f < FLAGS_MAX && v->flags[f]; f++)
                        if (strlen(v->flags[f]) == namelen && strneq(v->flags[f], arg, namelen))
                                idx = (int) f;
                if (idx < 0) {
                        list_flags(v, allowed, sizeof(allowed));
                        return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST,
                                             "unknown flag '%.*s' for '%s'; its flags are: %s", (int) MIN(namelen, 64),
                                             arg, v->name, allowed);
                }
                if (eq)
                        value = eq + 1;
                else if (i + 1 < argc)
                        value = argv[++i];
                else
                        return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "flag %s needs a value",
                                             v->flags[idx]);
                if (ret->flags[idx])
                        return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "flag %s is given twice",
                                             v->flags[idx]);
                ret->flags[idx] = value;
        }

        if (v->positional && !ret->positional && !v->positional_optional)
                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "'%s' needs a %s argument: %s %s",
                                     v->name, v->positional, v->name, v->positional);
        for (size_t q = 0; q < FLAGS_MAX && v->required[q]; q++)
                for (size_t f = 0; f < FLAGS_MAX && v->flags[f]; f++)
                        if (streq(v->flags[f], v->required[q]) && !ret->flags[f])
                                return api_error_set(e, -EINVAL, API_ERROR_BAD_REQUEST, "'%s' needs %s",
                                                     v->name, v->required[q]);
        return 0;
}

void api_dispatch(Daemon *d, ApiCaller caller, char *const *argv, size_t argc, ApiReplyFn reply, void *userdata) {
        ApiError e = {};
        Args a;
        int r;

        if (argc == 0 || !argv[0]) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST,
                                                 "no verb given; verbs: capacity, allocate, release, renew, jobs, job"));
                return;
        }
        if (argc > API_ARGS_MAX) {
                reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST, "more than %d arguments", API_ARGS_MAX));
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = &verbs[i];

                if (!streq(argv[0], v->name))
                        continue;
                if (v->operator_only && caller != API_CALLER_OPERATOR)
                        break;
                r = parse_args(v, argv, argc, &a, &e);
                if (r < 0) {
                        reply(userdata, error_from(&e, r));
                        return;
                }
                v->fn(d, &a, reply, userdata);
                return;
        }
        reply(userdata, api_error_answer(API_ERROR_BAD_REQUEST, "unknown verb '%.64s'; verbs: capacity, allocate, release, "
                                         "renew, jobs, job%s", argv[0],
                                         caller == API_CALLER_OPERATOR ? ", drain, resume, reload, metrics" : ""));
}

int api_split_command_line(const char *line, char ***ret, size_t *ret_n, char *error, size_t error_size) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *cur = NULL;
        size_t n = 0, len = 0, linelen;
        bool in_word = false;
        char quote = 0;

        linelen = strlen(line);
        if (linelen > API_ARGS_MAX * (size_t) API_ARG_MAX) {
                snprintf(error, error_size, "command line is too long");
                return -E2BIG;
        }
        l = calloc(API_ARGS_MAX + 1, sizeof(char *));
        cur = malloc(linelen + 1);
        if (!l || !cur)
                return -ENOMEM;

        for (const char *p = line;; p++) {
                char c = *p;

                if (c == 0 || (!quote && isspace((unsigned char) c))) {
                        if (quote) {
                                snprintf(error, error_size, "unterminated %c quote", quote);
                                return -EINVAL;
                        }
                        if (in_word) {
                                if (n >= API_ARGS_MAX) {
                                        snprintf(error, error_size, "more than %d arguments", API_ARGS_MAX);
                                        return -E2BIG;
                                }
                                l[n] = strndup(cur, len);
                                if (!l[n])
                                        return -ENOMEM;
                                n++;
                                len = 0;
                                in_word = false;
                        }
                        if (c == 0)
                                break;
                        continue;
                }
                in_word = true;
                if (quote == '\'') {
                        if (c == '\'')
                                quote = 0;
                        else
                                cur[len++] = c;
                } else if (c == '\\' && quote != '\'') {
                        if (p[1] == 0) {
                                snprintf(error, error_size, "trailing backslash");
                                return -EINVAL;
                        }
                        cur[len++] = *++p;
                } else if (quote == '"') {
                        if (c == '"')
                                quote = 0;
                        else
                                cur[len++] = c;
                } else if (c == '\'' || c == '"')
                        quote = c;
                else if (strchr("|&;<>()$`*?[]{}~#", c)) {
                        /* Not a shell: refuse what a shell would interpret rather than guess. */
                        snprintf(error, error_size, "unquoted '%c': this is not a shell; quote the argument", c);
                        return -EINVAL;
                } else
                        cur[len++] = c;
        }

        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}
