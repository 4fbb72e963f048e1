/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Canned answers in, text out: the renderers of ctl/format.c. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "test-util.h"
#include "json-util.h"
#include "macros.h"

/* 2026-11-22T02:10:00Z */
#define NOW ((time_t) 1795313400)

static void check(bool ok, const char *what, const char *output) {
        if (ok) {
                test_passed++;
                return;
        }
        test_failed++;
        fprintf(stderr, "FAIL: %s\n", what);
        if (output)
                fprintf(stderr, "--- output ---\n%s--------------\n", output);
}


static json_object *parse(const char *text) {
        json_object *o = json_tokener_parse(text);
        if (!o) {
                fprintf(stderr, "test-format: canned JSON does not parse: %s\n", text);
                exit(EXIT_FAILURE);
        }
        return o;
}

/* Renders the answer and returns the text (caller frees) and the result. */
static char *render(format_func_t format, const char *json, int *ret) {
        _cleanup_json_ json_object *a = parse(json);
        char *text = NULL;
        size_t size = 0;
        const char *bad = NULL;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                exit(EXIT_FAILURE);
        *ret = format(a, NOW, f, &bad);
        fclose(f);
        return text;
}

/* Every needle must appear in the output. */
static void expect(const char *name, format_func_t format, const char *json, int want_r, ...) {
        _cleanup_free_ char *out = NULL;
        char what[256];
        va_list ap;
        int r;

        out = render(format, json, &r);
        snprintf(what, sizeof what, "%s: returns %d (got %d)", name, want_r, r);
        check(r == want_r, what, out);

        va_start(ap, want_r);
        for (const char *needle; (needle = va_arg(ap, const char *));) {
                snprintf(what, sizeof what, "%s: contains \"%s\"", name, needle);
                check(strstr(out, needle), what, out);
        }
        va_end(ap);
}

static void test_durations(void) {
        char buf[32];

        check(streq(format_duration(buf, sizeof buf, 0), "0s"), "duration 0s", NULL);
        check(streq(format_duration(buf, sizeof buf, 59), "59s"), "duration 59s", NULL);
        check(streq(format_duration(buf, sizeof buf, 90), "1m30s"), "duration 1m30s", NULL);
        check(streq(format_duration(buf, sizeof buf, 3600), "1h"), "duration 1h", NULL);
        check(streq(format_duration(buf, sizeof buf, 7199), "1h59m"), "duration 1h59m", NULL);
        check(streq(format_duration(buf, sizeof buf, 2 * 86400 + 3 * 3600 + 59), "2d3h"), "duration 2d3h", NULL);

        check(streq(format_lease_left(buf, sizeof buf, "2026-11-22T02:10:59Z", NOW), "59s"), "lease 59s", NULL);
        check(streq(format_lease_left(buf, sizeof buf, "2026-11-22T04:09:00Z", NOW), "1h59m"), "lease 1h59m", NULL);
        check(streq(format_lease_left(buf, sizeof buf, "2026-11-24T05:10:00Z", NOW), "2d3h"), "lease 2d3h", NULL);
        check(streq(format_lease_left(buf, sizeof buf, "2026-11-22T02:10:00Z", NOW), "expired"), "lease expired now", NULL);
        check(streq(format_lease_left(buf, sizeof buf, "2026-11-22T01:00:00Z", NOW), "expired"), "lease expired", NULL);
        check(streq(format_lease_left(buf, sizeof buf, "tomorrow", NOW), "?"), "lease unparsable", NULL);

        time_t t;
        check(parse_rfc3339("2026-11-22T02:10:00Z", &t) == 0 && t == NOW, "parse_rfc3339", NULL);
        check(parse_rfc3339("2026-11-22T02:10:00+01:00", &t) == -EINVAL, "parse_rfc3339 rejects offsets", NULL);
}

static void test_sizes(void) {
        char buf[32];

        check(streq(format_bytes(buf, sizeof buf, 25769803776ULL), "24.0 GiB"), "bytes 24.0 GiB", NULL);
        check(streq(format_bytes(buf, sizeof buf, 270582939648ULL), "252 GiB"), "bytes 252 GiB", NULL);
        check(streq(format_bytes(buf, sizeof buf, 512), "512 B"), "bytes 512 B", NULL);
        check(streq(format_bytes_short(buf, sizeof buf, 4294967296ULL), "4G"), "short 4G", NULL);
        check(streq(format_bytes_short(buf, sizeof buf, 1610612736ULL), "1.5G"), "short 1.5G", NULL);
}

static void test_exit_status(void) {
        static const struct {
                const char *code;
                int status;
        } t[] = {
                { "bad-request", 2 }, { "unknown-job", 3 }, { "no-capacity", 4 }, { "draining", 5 },
                { "unsupported-platform", 6 }, { "forbidden", 7 }, { "internal", 1 }, { "teapot", 1 },
        };
        char what[64];

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                snprintf(what, sizeof what, "exit status for %s", t[i].code);
                check(api_code_exit_status(t[i].code) == t[i].status, what, NULL);
        }
        check(api_code_exit_status(NULL) == 1, "exit status for NULL", NULL);

        _cleanup_json_ json_object *e = parse(
                "{\"apiVersion\":\"hostd/v1\",\"error\":{\"code\":\"no-capacity\",\"message\":\"all 4 slots are in use\"}}");
        const char *code = NULL, *message = NULL, *bad = NULL;
        check(answer_check(e, &bad) == 0, "error answer passes answer_check", NULL);
        check(answer_get_error(e, &code, &message) == 1 && streq(code, "no-capacity") &&
              streq(message, "all 4 slots are in use") && api_code_exit_status(code) == 4,
              "error answer → no-capacity, exit 4", NULL);

        _cleanup_json_ json_object *ok = parse("{\"apiVersion\":\"hostd/v1\",\"jobs\":[]}");
        check(answer_get_error(ok, &code, &message) == 0, "no error in a good answer", NULL);

        _cleanup_json_ json_object *nocode = parse("{\"apiVersion\":\"hostd/v1\",\"error\":{\"message\":\"x\"}}");
        check(answer_get_error(nocode, &code, &message) == -EBADMSG, "error without code is malformed", NULL);

        _cleanup_json_ json_object *noapi = parse("{\"jobs\":[]}");
        check(answer_check(noapi, &bad) == -EBADMSG, "missing apiVersion is malformed", NULL);
        _cleanup_json_ json_object *arr = parse("[1]");
        check(answer_check(arr, &bad) == -EBADMSG, "an array is malformed", NULL);
}

#define CAPACITY \
        "{\"apiVersion\":\"hostd/v1\",\"hostname\":\"builder-arm-07\",\"version\":\"0.1.0\"," \
        "\"boot_id\":\"5f0c1f0e2a3b4c5d8e9f00112233aabb\",\"slots\":{\"total\":4,\"used\":1,\"free\":3}," \
        "\"allocatable\":true,\"not_allocatable_reason\":null,\"draining\":false,\"drain_reason\":null," \
        "\"platforms\":[{\"platform\":\"linux/amd64\",\"emulated\":false}," \
        "{\"platform\":\"linux/arm64\",\"emulated\":true,\"handler\":\"qemu-aarch64\",\"allowed\":false}]," \
        "\"resources\":{\"cpus\":2,\"memory_total_bytes\":25769803776,\"memory_available_bytes\":24596061952," \
        "\"disk_total_bytes\":270582939648,\"disk_free_bytes\":85999345920,\"state_dir\":\"/var/lib/hostd\"}," \
        "\"enforcement\":{\"stage\":\"registry-only\",\"job_isolation\":false,\"uid_range\":false," \
        "\"cgroup\":{\"cpu\":false,\"memory\":false,\"pids\":false,\"io\":false},\"seccomp\":false," \
        "\"disk_quota\":false,\"notes\":[\"SSH sessions are not served yet\"]}," \
        "\"jobs_in_use\":1,\"health\":{\"status\":\"ok\",\"problems\":[]}"

static void test_capacity(void) {
        expect("capacity", format_capacity, CAPACITY "}", 0,
               "Slots:", "[#---] 1/4 used, 3 free",
               "Allocatable:    yes", "Draining:       no",
               "linux/amd64 (native), linux/arm64 (emulated, not allowed)",
               "CPUs:           2\n",
               "22.9 GiB available of 24.0 GiB",
               "80.1 GiB free of 252 GiB under /var/lib/hostd",
               "Enforcement:    registry-only", "enforced: none",
               "not enforced: job isolation, uid range, cgroup, seccomp, disk quota",
               "note: SSH sessions are not served yet",
               "Health:         ok", "Version:        0.1.0",
               "Boot ID:        5f0c1f0e2a3b4c5d8e9f00112233aabb", "Hostname:       builder-arm-07", NULL);

        _cleanup_free_ char *out = NULL;
        int r;
        out = render(format_capacity, CAPACITY "}", &r);
        check(!strstr(out, "Host keys"), "capacity without host_keys prints none", out);

        expect("capacity, full and degraded", format_capacity,
               "{\"apiVersion\":\"hostd/v1\",\"slots\":{\"total\":2,\"used\":2,\"free\":0},"
               "\"allocatable\":false,\"not_allocatable_reason\":\"all 2 slots are in use\","
               "\"draining\":true,\"drain_reason\":\"job j000000000002 leaked\","
               "\"enforcement\":{\"stage\":\"cgroup\",\"cgroup\":{\"cpu\":true,\"memory\":true,\"pids\":false}},"
               "\"health\":{\"status\":\"degraded\",\"problems\":[\"job j000000000002 leaked\",\"disk low\"]},"
               "\"host_keys\":[{\"type\":\"ssh-ed25519\",\"fingerprint\":\"SHA256:abc\"},"
               "{\"type\":\"ecdsa-sha2-nistp256\",\"fingerprint\":\"SHA256:def\"}]}", 0,
               "[##] 2/2 used, 0 free", "no (all 2 slots are in use)", "yes: job j000000000002 leaked",
               "enforced: cgroup cpu+memory", "not enforced: cgroup pids",
               "Health:         degraded: job j000000000002 leaked\n                disk low",
               "Host keys:      ssh-ed25519 SHA256:abc\n                ecdsa-sha2-nistp256 SHA256:def", NULL);

        expect("capacity without slots is malformed", format_capacity, "{\"apiVersion\":\"hostd/v1\"}", -EBADMSG, NULL);
}

#define JOB_ACTIVE_BODY \
        "\"job\":\"j7f3a09c2e1d4\",\"owner\":\"tenant-a/build-xyz\",\"state\":\"active\",\"state_reason\":null," \
        "\"user\":\"j7f3a09c2e1d4\",\"host\":\"j7f3a09c2e1d4@192.0.2.10\",\"port\":2222," \
        "\"user_dir\":\"/var/lib/hostd/jobs/j7f3a09c2e1d4/home\",\"platform\":\"linux/amd64\"," \
        "\"created\":\"2026-11-22T02:00:00Z\",\"lease_seconds\":7200,\"lease_expires\":\"2026-11-22T04:00:00Z\"," \
        "\"quota\":{\"cpus\":2,\"memory_bytes\":4294967296,\"pids\":4096,\"disk_bytes\":21474836480}," \
        "\"public_key\":null"
#define JOB_LEAKED_BODY \
        "\"job\":\"j000000000002\",\"owner\":\"tenant-b/a-much-longer-taskrun-name\",\"state\":\"leaked\"," \
        "\"state_reason\":\"umount /var/lib/hostd/jobs/j000000000002: busy\",\"platform\":\"linux/arm64\"," \
        "\"created\":\"2026-11-19T23:00:00Z\",\"lease_seconds\":3600,\"lease_expires\":\"2026-11-20T00:00:00Z\"," \
        "\"quota\":{\"cpus\":1.5,\"memory_bytes\":4294967296,\"pids\":4096,\"disk_bytes\":21474836480}," \
        "\"usage\":{\"cpus\":0.25,\"memory_bytes\":1610612736,\"disk_bytes\":1073741824}"
#define JOB_ACTIVE "{" JOB_ACTIVE_BODY "}"
#define JOB_LEAKED "{" JOB_LEAKED_BODY "}"

static void test_jobs(void) {
        expect("jobs, empty", format_jobs, "{\"apiVersion\":\"hostd/v1\",\"jobs\":[]}", 0, "No jobs.\n", NULL);

        expect("jobs", format_jobs,
               "{\"apiVersion\":\"hostd/v1\",\"jobs\":[" JOB_ACTIVE "," JOB_LEAKED "]}", 0,
               "JOB            OWNER                                STATE   PLATFORM     AGE   LEASE LEFT  CPUS      MEMORY   DISK\n",
               "j7f3a09c2e1d4  tenant-a/build-xyz                   active  linux/amd64  10m   1h50m       2         4G       20G\n",
               "j000000000002  tenant-b/a-much-longer-taskrun-name  leaked  linux/arm64  2d3h  -",
               "0.25/1.5", "1.5G/4G", "1G/20G",
               "j000000000002 is leaked: umount /var/lib/hostd/jobs/j000000000002: busy\n", NULL);

        expect("jobs, lease expired", format_jobs,
               "{\"apiVersion\":\"hostd/v1\",\"jobs\":[{\"job\":\"j1\",\"state\":\"active\","
               "\"created\":\"2026-11-22T00:00:00Z\",\"lease_expires\":\"2026-11-22T02:00:00Z\"}]}", 0,
               "2h10m", "expired", NULL);

        expect("jobs without array is malformed", format_jobs, "{\"apiVersion\":\"hostd/v1\"}", -EBADMSG, NULL);

        _cleanup_json_ json_object *cap = parse(CAPACITY ",\"host_keys\":[{\"type\":\"ssh-ed25519\",\"fingerprint\":\"SHA256:abc\"}]}");
        _cleanup_json_ json_object *jobs = parse("{\"apiVersion\":\"hostd/v1\",\"jobs\":[" JOB_ACTIVE "]}");
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        const char *bad;
        FILE *f = open_memstream(&out, &size);
        int r = format_status(cap, jobs, NOW, f, &bad);
        fclose(f);
        check(r == 0, "status returns 0", out);
        check(strncmp(out, "Slots:          [#---] 1/4 used, 3 free\n", 40) == 0, "status starts with the gauge", out);
        check(strstr(out, "Host keys:      ssh-ed25519 SHA256:abc"), "status shows host keys", out);
        check(strstr(out, "\n\nJOB ") && strstr(out, "j7f3a09c2e1d4  tenant-a/build-xyz"), "status shows the jobs table", out);
}

static void test_job(void) {
        expect("job", format_job, "{\"apiVersion\":\"hostd/v1\"," JOB_ACTIVE_BODY "}", 0,
               "Job:            j7f3a09c2e1d4\n", "Owner:          tenant-a/build-xyz\n",
               "State:          active\n", "Host:           j7f3a09c2e1d4@192.0.2.10\n", "Port:           2222\n",
               "Created:        2026-11-22T02:00:00Z (10m ago)", "Lease:          2h\n",
               "Lease expires:  2026-11-22T04:00:00Z (in 1h50m)", "Memory:         4.0 GiB",
               "Disk:           20.0 GiB", NULL);

        expect("job, leaked", format_job, "{\"apiVersion\":\"hostd/v1\"," JOB_LEAKED_BODY "}", 0,
               "State:          leaked: umount /var/lib/hostd/jobs/j000000000002: busy\n",
               "CPU use:        0.25/1.5", NULL);

        expect("job, released", format_job,
               "{\"apiVersion\":\"hostd/v1\",\"job\":\"j1\",\"state\":\"released\",\"ended_by\":\"lease-expired\","
               "\"released\":\"2026-11-22T02:00:00Z\"}", 0,
               "Ended by:       lease-expired", "Released:       2026-11-22T02:00:00Z (10m ago)", NULL);

        expect("job without id is malformed", format_job, "{\"apiVersion\":\"hostd/v1\"}", -EBADMSG, NULL);

        expect("allocate with a generated key", format_allocate,
               "{\"apiVersion\":\"hostd/v1\"," JOB_ACTIVE_BODY ",\"private_key\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nAAA\\n"
               "-----END OPENSSH PRIVATE KEY-----\\n\",\"known_hosts\":\"[192.0.2.10]:2222 ssh-ed25519 AAAA\"}", 0,
               "Job:            j7f3a09c2e1d4", "shown only once",
               "Private key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n-----END OPENSSH PRIVATE KEY-----\n",
               "Known hosts:\n[192.0.2.10]:2222 ssh-ed25519 AAAA\n", NULL);

        _cleanup_free_ char *out = NULL;
        int r;
        out = render(format_allocate, "{\"apiVersion\":\"hostd/v1\"," JOB_ACTIVE_BODY "}", &r);
        check(r == 0 && !strstr(out, "shown only once"), "allocate without a key warns of nothing", out);
}

static void test_others(void) {
        expect("release", format_release,
               "{\"apiVersion\":\"hostd/v1\",\"job\":\"j7f3a09c2e1d4\",\"state\":\"released\",\"ended_by\":\"release\","
               "\"released\":\"2026-11-22T02:10:00Z\"}", 0,
               "Job j7f3a09c2e1d4 released (ended by release at 2026-11-22T02:10:00Z).\n", NULL);
        expect("release, leaked", format_release,
               "{\"apiVersion\":\"hostd/v1\",\"job\":\"j1\",\"state\":\"leaked\",\"state_reason\":\"umount: busy\"}",
               EXIT_INTERNAL, "Job j1 is leaked: umount: busy.", "hostctl release j1", NULL);

        expect("drain", format_drain,
               CAPACITY ",\"drain_reason\":\"kernel update\"}", 0,
               "Draining: kernel update\n", "Slots:          [#---] 1/4 used, 3 free\n", NULL);
        expect("resume", format_resume, CAPACITY "}", 0,
               "Resumed: accepting jobs\n", "1/4 used, 3 free", NULL);
        expect("reload", format_reload,
               "{\"apiVersion\":\"hostd/v1\",\"reloaded\":true,\"sources\":[\"(embedded default)\",\"/etc/hostd/hostd.conf\"]}",
               0, "Policy reloaded from: (embedded default), /etc/hostd/hostd.conf\n", NULL);
        expect("metrics", format_metrics,
               "{\"apiVersion\":\"hostd/v1\",\"content_type\":\"text/plain; version=0.0.4\",\"text\":\"hostd_slots 4\\n\"}",
               0, "hostd_slots 4\n", NULL);
}

/* format_known_hosts() as a format_func_t, for render(). */
static const char *kh_address;
static unsigned kh_port;
static int format_kh(json_object *a, time_t now, FILE *f, const char **ret_bad) {
        return format_known_hosts(a, kh_address, kh_port, f, ret_bad);
}
static char *known_hosts(const char *json, const char *address, unsigned port, int *ret) {
        kh_address = address;
        kh_port = port;
        return render(format_kh, json, ret);
}

static void test_known_hosts(void) {
        const char *keys = "{\"apiVersion\":\"hostd/v1\",\"host_keys\":["
                "{\"type\":\"ssh-ed25519\",\"fingerprint\":\"SHA256:a\",\"public_key\":\"ssh-ed25519 AAAAE\"},"
                "{\"type\":\"ssh-rsa\",\"fingerprint\":\"SHA256:b\",\"public_key\":\"ssh-rsa AAAAB\"}]}";
        char *out;
        int r;

        out = known_hosts(keys, "192.0.2.21", 22, &r);
        check(r == 0 && streq(out, "192.0.2.21 ssh-ed25519 AAAAE\n192.0.2.21 ssh-rsa AAAAB\n"),
              "known-hosts: port 22 is the plain address, one line per key", out);
        free(out);
        out = known_hosts(keys, "2001:db8::7", 2222, &r);
        check(r == 0 && streq(out, "[2001:db8::7]:2222 ssh-ed25519 AAAAE\n[2001:db8::7]:2222 ssh-rsa AAAAB\n"),
              "known-hosts: another port in brackets", out);
        free(out);
        /* Patterns, lists, markers and option-like names are refused. */
        const char *bad_addresses[] = { "", "*", "a,b", "@revoked", "-oProxyCommand", "host name", "a\nb" };
        for (size_t i = 0; i < ELEMENTSOF(bad_addresses); i++) {
                out = known_hosts(keys, bad_addresses[i], 22, &r);
                check(r == -EINVAL && isempty(out), "known-hosts: a bad address is refused", out);
                free(out);
        }
        out = known_hosts(keys, "h", 0, &r);
        check(r == -EINVAL, "known-hosts: port 0 is refused", out);
        free(out);
        out = known_hosts("{\"apiVersion\":\"hostd/v1\"}", "h", 22, &r);
        check(r == -EBADMSG, "known-hosts: an answer without host keys is malformed", out);
        free(out);
}

int main(void) {
        test_durations();
        test_known_hosts();
        test_sizes();
        test_exit_status();
        test_capacity();
        test_jobs();
        test_job();
        test_others();

        return test_summary("test-format");
}
