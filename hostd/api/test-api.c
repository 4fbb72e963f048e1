/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verb parser shared by both transports, driven through a real daemon
 * in a temporary state dir: command-line splitting, flags, errors, and the
 * allocate → release cycle including the deferred release answer. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "api.h"
#include "fileio.h"
#include "log.h"
#include "rm-rf.h"
#include "test-daemon.h"
#include "test-util.h"

static char dir[] = "/tmp/test-api-XXXXXX";

typedef struct Answer {
        json_object *o;
        int calls;
} Answer;

static void capture(void *userdata, json_object *answer) {
        Answer *a = userdata;
        json_object_put(a->o);
        a->o = answer;
        a->calls++;
}

static const char *err_code(json_object *o) {
        json_object *e, *c;
        if (!json_object_object_get_ex(o, "error", &e) || !json_object_object_get_ex(e, "code", &c))
                return NULL;
        return json_object_get_string(c);
}

static const char *err_msg(json_object *o) {
        json_object *e, *c;
        if (!json_object_object_get_ex(o, "error", &e) || !json_object_object_get_ex(e, "message", &c))
                return NULL;
        return json_object_get_string(c);
}

static const char *field(json_object *o, const char *k) {
        json_object *v;
        return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* Runs a command line as the SSH transport would. */
static json_object *run(Daemon *d, ApiCaller caller, const char *line) {
        static Answer a;
        char **argv = NULL, error[256];
        size_t argc = 0;

        json_object_put(a.o);
        a = (Answer) {};
        if (api_split_command_line(line, &argv, &argc, error, sizeof(error)) < 0)
                return api_error_answer("bad-request", "%s", error);
        api_dispatch(d, caller, argv, argc, capture, &a);
        strv_free(argv);
        /* A release answers when its cleanup process exits. */
        while (a.calls == 0)
                sd_event_run(d->event, USEC_PER_SEC);
        CHECK(a.calls == 1);
        return a.o;
}

static void test_split(void) {
        char **argv = NULL, error[256];
        size_t n = 0;

        CHECK(api_split_command_line("allocate --owner ns/x --public-key 'ssh-ed25519 AAAA c' --lease=2h", &argv, &n,
                                     error, sizeof(error)) == 0);
        CHECK(n == 6);
        CHECK(n == 6 && streq(argv[4], "ssh-ed25519 AAAA c") && streq(argv[5], "--lease=2h"));
        argv = strv_free(argv);
        CHECK(api_split_command_line("  job \"j0123456789ab\"  ", &argv, &n, error, sizeof(error)) == 0);
        CHECK(n == 2 && streq(argv[1], "j0123456789ab"));
        argv = strv_free(argv);
        CHECK(api_split_command_line("a\\ b", &argv, &n, error, sizeof(error)) == 0);
        CHECK(n == 1 && streq(argv[0], "a b"));
        argv = strv_free(argv);
        CHECK(api_split_command_line("", &argv, &n, error, sizeof(error)) == 0 && n == 0);
        argv = strv_free(argv);
        CHECK(api_split_command_line("capacity; rm -rf /", &argv, &n, error, sizeof(error)) < 0);
        CHECK_STR_CONTAINS(error, "not a shell");
        CHECK(api_split_command_line("job 'j0", &argv, &n, error, sizeof(error)) < 0);
        CHECK_STR_CONTAINS(error, "unterminated");
        CHECK(api_split_command_line("job $(id)", &argv, &n, error, sizeof(error)) < 0);
        {
                char many[1024] = "capacity";
                for (int i = 0; i < 70; i++)
                        strcat(many, " x");
                CHECK(api_split_command_line(many, &argv, &n, error, sizeof(error)) == -E2BIG);
        }
}

static void test_errors(Daemon *d) {
        json_object *o;

        o = run(d, API_CALLER_CONTROLLER, "frobnicate");
        CHECK(streq_ptr(err_code(o), "bad-request"));
        CHECK_STR_CONTAINS(err_msg(o), "unknown verb 'frobnicate'");
        CHECK(api_answer_status(o) == 2);

        o = run(d, API_CALLER_CONTROLLER, "drain");   /* operator verb over SSH */
        CHECK(streq_ptr(err_code(o), "bad-request"));

        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x");
        CHECK_STR_CONTAINS(err_msg(o), "needs --platform");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --colour blue");
        CHECK_STR_CONTAINS(err_msg(o), "unknown flag '--colour'");
        CHECK_STR_CONTAINS(err_msg(o), "--owner");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --owner ns/y --platform linux/amd64");
        CHECK_STR_CONTAINS(err_msg(o), "given twice");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner 'ns/x y' --platform linux/amd64");
        CHECK_STR_CONTAINS(err_msg(o), "--owner");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform windows/amd64");
        CHECK_STR_CONTAINS(err_msg(o), "--platform");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/mips64");
        CHECK(streq_ptr(err_code(o), "unsupported-platform"));
        CHECK(api_answer_status(o) == 6);
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --memory lots");
        CHECK_STR_CONTAINS(err_msg(o), "--memory");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --cpus 0");
        CHECK_STR_CONTAINS(err_msg(o), "--cpus");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --public-key 'ssh-dss AAAA'");
        CHECK_STR_CONTAINS(err_msg(o), "not accepted");
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --public-key 'ssh-ed25519 !!!'");
        CHECK_STR_CONTAINS(err_msg(o), "not base64");
        /* Valid base64 that is not a key. */
        o = run(d, API_CALLER_CONTROLLER, "allocate --owner ns/x --platform linux/amd64 --public-key 'ssh-ed25519 AAAAC3Nz'");
        CHECK_STR_CONTAINS(err_msg(o), "not valid");
        o = run(d, API_CALLER_CONTROLLER, "release");
        CHECK_STR_CONTAINS(err_msg(o), "needs a JOB");
        o = run(d, API_CALLER_CONTROLLER, "release ../../etc");
        CHECK_STR_CONTAINS(err_msg(o), "not a job id");
        o = run(d, API_CALLER_CONTROLLER, "release j0123456789ab");
        CHECK(streq_ptr(err_code(o), "unknown-job"));
        CHECK(api_answer_status(o) == 3);
        o = run(d, API_CALLER_CONTROLLER, "capacity extra");
        CHECK_STR_CONTAINS(err_msg(o), "takes no arguments");
}

static const char *native_platform(void) {
#if defined(__x86_64__)
        return "linux/amd64";
#elif defined(__aarch64__)
        return "linux/arm64";
#else
        return "linux/unknown";
#endif
}

static void test_cycle(Daemon *d) {
        char line[512], id[JOB_ID_LEN + 1] = "", path[256];
        json_object *o, *q, *v;
        struct stat st;

        snprintf(line, sizeof(line),
                 "allocate --owner tenant/build-1 --platform %s --cpus 1.5 --memory 2G --lease 1h "
                 "--public-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdGZ1oWbQ3e5b6hFVtCBHn0XhHFp+tGo4nE3w0b3V7g test'",
                 native_platform());
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK_MSG(!err_code(o), "allocate failed: %s", strempty(err_msg(o)));
        CHECK(streq_ptr(field(o, "apiVersion"), "hostd/v1"));
        snprintf(id, sizeof(id), "%s", strempty(field(o, "job")));
        CHECK(job_id_is_valid(id));
        CHECK(streq_ptr(field(o, "state"), "active"));
        CHECK(streq_ptr(field(o, "lease_seconds"), "3600"));
        CHECK(streq_ptr(field(o, "public_key"),
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdGZ1oWbQ3e5b6hFVtCBHn0XhHFp+tGo4nE3w0b3V7g"));
        CHECK(json_object_object_get_ex(o, "quota", &q) && json_object_object_get_ex(q, "cpus", &v) &&
              streq(json_object_to_json_string(v), "1.5"));
        CHECK(json_object_object_get_ex(q, "memory_bytes", &v) && json_object_get_int64(v) == 2LL << 30);
        snprintf(path, sizeof(path), "%s/jobs/%s/home", dir, id);
        CHECK(streq_ptr(field(o, "user_dir"), path));
        CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

        o = run(d, API_CALLER_CONTROLLER, "capacity");
        CHECK(json_object_object_get_ex(o, "slots", &q) && json_object_object_get_ex(q, "used", &v) &&
              json_object_get_int(v) == 1);
        CHECK(json_object_object_get_ex(o, "enforcement", &q));

        snprintf(line, sizeof(line), "renew %s --lease 2h", id);
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(field(o, "lease_seconds"), "7200"));

        snprintf(line, sizeof(line), "release %s", id);
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK_MSG(streq_ptr(field(o, "state"), "released"), "release: %s", json_object_to_json_string(o));
        CHECK(streq_ptr(field(o, "ended_by"), "release"));
        snprintf(path, sizeof(path), "%s/jobs/%s", dir, id);
        CHECK(stat(path, &st) < 0 && errno == ENOENT);
        /* Idempotent. */
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(field(o, "state"), "released"));
        snprintf(line, sizeof(line), "renew %s --lease 2h", id);
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(err_code(o), "unknown-job"));

        o = run(d, API_CALLER_OPERATOR, "metrics");
        CHECK_STR_CONTAINS(field(o, "text"), "hostd_releases_total 1\n");
        CHECK_STR_CONTAINS(field(o, "text"), "hostd_cleanup_duration_seconds_count 1\n");
}

static void test_generated_keys(Daemon *d) {
        char line[256], first_key[512] = "", id[JOB_ID_LEN + 1] = "";
        json_object *o, *v;
        Job *j;

        snprintf(line, sizeof(line), "allocate --owner tenant/keys --platform %s", native_platform());
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK_MSG(!err_code(o), "allocate failed: %s", strempty(err_msg(o)));
        snprintf(id, sizeof(id), "%s", strempty(field(o, "job")));
        CHECK(str_contains(field(o, "private_key"), "-----BEGIN OPENSSH PRIVATE KEY-----"));
        CHECK(str_contains(field(o, "known_hosts"), "ssh-ed25519 "));
        j = registry_find(d->registry, id);
        CHECK(j && j->key_generated && startswith(strempty(j->public_key), "ssh-ed25519 "));
        if (j)
                snprintf(first_key, sizeof(first_key), "%s", j->public_key);
        /* The private key is never stored. */
        {
                char path[512];
                _cleanup_free_ char *text = NULL;
                snprintf(path, sizeof(path), "%s/registry/%s.json", dir, id);
                CHECK(read_file_at(AT_FDCWD, path, 1 << 20, true, &text, NULL) == 0 && !strstr(text, "PRIVATE"));
        }

        /* A retry gets the same job with a fresh pair; the old key stops working. */
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(field(o, "job"), id));
        CHECK(str_contains(field(o, "private_key"), "-----BEGIN OPENSSH PRIVATE KEY-----"));
        CHECK(j && !streq(j->public_key, first_key));

        /* A caller's own key: no private key in the answer. */
        snprintf(line, sizeof(line),
                 "allocate --owner tenant/keys --platform %s "
                 "--public-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdGZ1oWbQ3e5b6hFVtCBHn0XhHFp+tGo4nE3w0b3V7g'",
                 native_platform());
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(field(o, "job"), id));
        CHECK(!json_object_object_get_ex(o, "private_key", &v));
        CHECK(j && !j->key_generated);

        o = run(d, API_CALLER_CONTROLLER, "capacity");
        CHECK(json_object_object_get_ex(o, "host_keys", &v) && json_object_array_length(v) == 2);
        snprintf(line, sizeof(line), "release %s", id);
        o = run(d, API_CALLER_CONTROLLER, line);
        CHECK(streq_ptr(field(o, "state"), "released"));
}

int main(void) {
        _cleanup_(daemon_freep) Daemon *d = NULL;

        if (test_daemon_process("test-api", LOG_WARNING, dir) < 0)
                return 1;
        if (test_daemon_new(dir, &d) < 0) {
                fprintf(stderr, "daemon_new failed\n");
                return 1;
        }

        test_split();
        test_errors(d);
        if (test_under_qemu_user())
                printf("test-api: allocate/release cycles skipped under qemu-user (no user namespace for the sandbox)\n");
        else {
                test_cycle(d);
                test_generated_keys(d);
        }

        d = daemon_free(d);
        CHECK(rm_rf_path(dir) == 0);
        return test_summary("test-api");
}
