/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the policy parser. Usage: test-policy [EXAMPLE-POLICY-FILE] */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macros.h"
#include "test-util.h"
#include "policy.h"


/* The error must mention every needle; prints the whole message if not. */
#define CHECK_ERR(err, needle)                                                  \
        CHECK_MSG((err) && strstr((err), (needle)),                                 \
              "expected '%s' in the error message, got:\n%s", (needle), (err) ? (err) : "(null)")

#define CHECK_STR(a, b) \
        CHECK_MSG(streq_ptr((a), (b)), "expected '%s', got '%s'", strempty(b), strempty(a))

static char tmpdir[] = "/tmp/test-policy-XXXXXX";
static unsigned file_counter;

static void write_file(const char *path, const char *data, size_t size) {
        FILE *f = fopen(path, "we");

        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
                fprintf(stderr, "test-policy: cannot write %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
}

static void make_dir(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "test-policy: cannot create %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
}

/* A fresh policy file name, so that tests do not see each other's drop-ins. */
static char *new_path(void) {
        char *p;

        if (asprintf(&p, "%s/policy-%u.conf", tmpdir, ++file_counter) < 0)
                abort();
        return p;
}

/* Writes text to a new file and loads it; returns policy_load's result. */
static int load_text(const char *text, char **ret_path, Policy **ret, char **ret_error) {
        _cleanup_free_ char *path = new_path();
        Policy *p = NULL;
        int r;

        write_file(path, text, strlen(text));
        r = policy_load(path, NULL, 0, &p, ret_error);
        if (ret)
                *ret = p;
        else
                policy_free(p);
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return r;
}

/* Whether one line of err starts with prefix and contains expected. */
static bool error_has(const char *err, const char *prefix, const char *expected) {
        for (const char *l = err; l && *l;) {
                const char *nl = strchrnul(l, '\n');
                _cleanup_free_ char *line = strndup(l, (size_t) (nl - l));

                if (!line)
                        abort();
                if (startswith(line, prefix) && strstr(line, expected))
                        return true;
                l = *nl ? nl + 1 : nl;
        }
        return false;
}

/* Loads text expecting failure, and checks that "FILE:LINE: " + expected
 * (or just expected, for cross-key checks with line 0) is in the message. */
static void expect_error_line(int src_line, const char *text, unsigned line, const char *expected) {
        _cleanup_free_ char *path = NULL, *err = NULL, *needle = NULL;
        Policy *p = NULL;
        int r;

        r = load_text(text, &path, &p, &err);
        if (line > 0) {
                if (asprintf(&needle, "%s:%u: ", path, line) < 0)
                        abort();
        } else if (!(needle = strdup("")))
                abort();
        if (r != -EINVAL || p || !error_has(err, needle, expected)) {
                test_failed++;
                fprintf(stderr, "%s:%d: FAILED: expected -EINVAL and a line starting with '%s' containing\n  %s\ngot r=%d (%s), error:\n%s\n",
                        __FILE__, src_line, needle, expected, r, strerror(-r), strempty(err));
        } else
                test_passed++;
        policy_free(p);
}
#define EXPECT_ERROR(text, line, expected) expect_error_line(__LINE__, (text), (line), (expected))

static char *dump_to_string(const Policy *p) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                abort();
        policy_dump(p, f);
        fclose(f);
        return buf;
}

/* Dumping, then parsing the dump, gives the same policy. */
static void check_dump_roundtrip(const Policy *p) {
        _cleanup_free_ char *a = NULL, *b = NULL, *err = NULL;
        _cleanup_policy_ Policy *q = NULL;
        int r;

        a = dump_to_string(p);
        r = policy_new_default(&q);
        CHECK_MSG(r == 0, "policy_new_default: %s", strerror(-r));
        if (r < 0)
                return;
        r = policy_parse_text(q, a, strlen(a), "(dump)", &err);
        CHECK_MSG(r == 0, "parsing the dump failed: %s\n%s", strempty(err), a);
        q->sources = strv_free(q->sources);
        if (!(q->sources = calloc(1, sizeof(char *))))
                abort();
        b = dump_to_string(q);
        /* Skip the source comments, which differ. */
        CHECK_MSG(streq(strstr(a, "\n[Listen]"), strstr(b, "\n[Listen]")),
              "dump round trip differs:\n%s\n---\n%s", a, b);
}

static void test_default(void) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *err = NULL, *dump = NULL;
        int r;

        r = policy_new_default(&p);
        CHECK_MSG(r == 0, "policy_new_default: %s", strerror(-r));
        if (r < 0)
                return;
        r = policy_validate(p, &err);
        CHECK_MSG(r == 0 && !err, "default does not validate: %s", strempty(err));

        CHECK_MSG(strv_length(p->sources) == 1, "sources: %zu", strv_length(p->sources));
        CHECK_STR(p->sources[0], "(embedded default)");

        CHECK_STR(p->listen_address, "127.0.0.1");
        CHECK_MSG(p->listen_port == 2222, "port %u", p->listen_port);
        CHECK_MSG(!p->advertise_address, "advertise_address set");
        CHECK_MSG(strv_length(p->controller_sources) == 0, "controller_sources not empty");
        CHECK_MSG(!p->host_key_ed25519 && !p->host_key_rsa && !p->host_key_ecdsa, "host keys set");
        CHECK_STR(p->controller_user, "controller");
        CHECK_MSG(!p->controller_keys, "controller_keys set");
        CHECK_MSG(p->max_startups == 100 && p->per_source_max_startups == 10, "startups %u %u",
              p->max_startups, p->per_source_max_startups);
        CHECK_MSG(p->login_grace_sec == 20, "login grace %llu", (unsigned long long) p->login_grace_sec);
        CHECK_MSG(p->max_auth_tries == 6, "max auth tries %u", p->max_auth_tries);
        CHECK_MSG(p->health_probe_failures == 3, "probe failures %u", p->health_probe_failures);
        CHECK_MSG(p->controller_startups == 10 && p->max_sessions_per_job == 16, "controller startups %u, sessions per job %u",
                  p->controller_startups, p->max_sessions_per_job);
        CHECK_MSG(p->source_prefix_ipv4 == 24 && p->source_prefix_ipv6 == 64 && p->local_sources_as_one,
                  "source buckets /%u /%u %d", p->source_prefix_ipv4, p->source_prefix_ipv6, p->local_sources_as_one);
        CHECK_MSG(strv_length(p->accept_env) == 0, "accept_env not empty");
        CHECK_STR(p->control_socket, "/run/hostd/control.sock");
        CHECK_MSG(!p->control_group, "control_group set");
        CHECK_STR(p->state_dir, "/var/lib/hostd");
        CHECK_MSG(p->released_retention_sec == 3600, "retention %llu", (unsigned long long) p->released_retention_sec);
        CHECK_MSG(p->slots == 4, "slots %u", p->slots);
        CHECK_MSG(p->network == JOB_NETWORK_PRIVATE, "network %d", p->network);
        CHECK_MSG(p->job_default.millicpus == 2000 && p->job_max.millicpus == 64000, "cpus %u %u",
              p->job_default.millicpus, p->job_max.millicpus);
        CHECK_MSG(p->job_default.memory == 4ULL << 30 && p->job_max.memory == 64ULL << 30, "memory");
        CHECK_MSG(p->job_default.pids == 4096 && p->job_max.pids == 65536, "pids");
        CHECK_MSG(p->job_default.disk == 20ULL << 30 && p->job_max.disk == 200ULL << 30, "disk");
        CHECK_MSG(p->job_default.lease == 7200 && p->job_max.lease == 86400, "lease");
        CHECK_MSG(p->uid_pool_start == 524288 && p->uid_pool_ranges == 64, "uid pool %u %u",
              p->uid_pool_start, p->uid_pool_ranges);
        CHECK_MSG(strv_length(p->seccomp_extra_deny) == 0, "extra deny not empty");
        CHECK_MSG(!p->allow_emulated, "allow_emulated");

        /* policy_load without a file is the embedded default. */
        {
                _cleanup_policy_ Policy *q = NULL;
                _cleanup_free_ char *e = NULL;

                r = policy_load(NULL, NULL, 0, &q, &e);
                CHECK_MSG(r == 0 && q && !e, "policy_load(NULL): %d %s", r, strempty(e));
        }

        dump = dump_to_string(p);
        CHECK_MSG(strstr(dump, "# The effective hostd policy, merged from:\n#   (embedded default)\n"), "dump header:\n%s", dump);
        CHECK_MSG(strstr(dump, "\n[Jobs]\nSlots=4\nNetwork=private\nDefaultCPUs=2\nMaxCPUs=64\nDefaultMemory=4G\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nLoginGraceTime=20s\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nReleasedRetention=1h\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nAdvertiseAddress=\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nAllowEmulated=no\n"), "dump:\n%s", dump);
        check_dump_roundtrip(p);

        CHECK_STR(job_network_to_string(JOB_NETWORK_HOST), "host");
        CHECK_STR(job_network_to_string(JOB_NETWORK_NONE), "none");
        CHECK_STR(job_network_to_string(JOB_NETWORK_PRIVATE), "private");
}

static const char full_file[] =
        "# a full policy\n"
        "; another comment\n"
        "\n"
        "[Listen]\n"
        "Address = 2001:db8::7\n"
        "Port=22\n"
        "AdvertiseAddress=builder-07.example.com\n"
        "ControllerSources=10.0.0.0/8   2001:db8::/32\t192.0.2.7/32\n"
        "[SSH]\n"
        "HostKeyEd25519=/etc/hostd//keys/./ed25519\n"
        "HostKeyRSA=/etc/hostd/keys/rsa\n"
        "HostKeyECDSA=/etc/hostd/keys/ecdsa/\n"
        "ControllerUser=ci_ctl\n"
        "ControllerKeys=/etc/hostd/controller.keys\n"
        "MaxStartups=50\n"
        "PerSourceMaxStartups=50\n"
        "LoginGraceTime=2m\n"
        "MaxAuthTries=3\n"
        "AcceptEnv=TERM CI_*\n"
        "\r\n"
        "[Control]\r\n"
        "Socket=/run/hostd/ctl.sock\r\n"
        "Group=hostd-admin\n"
        "[State]\n"
        "Directory=/srv/hostd/\n"
        "ReleasedRetention=90\n"
        "[Jobs]\n"
        "Slots=8\n"
        "Network=none\n"
        "DefaultCPUs=0.5\n"
        "MaxCPUs=1.25\n"
        "DefaultMemory=512M\n"
        "MaxMemory=1536MiB\n"
        "DefaultPids=16\n"
        "MaxPids=4194304\n"
        "DefaultDisk=64M\n"
        "MaxDisk=64T\n"
        "DefaultLease=60\n"
        "MaxLease=7d\n"
        "[UIDPool]\n"
        "Start=65536\n"
        "Ranges=8\n"
        "[Seccomp]\n"
        "ExtraDeny=keyctl add_key\n"
        "[Platforms]\n"
        "AllowEmulated=yes\n";

static void test_full_file(void) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *dump = NULL;
        int r;

        r = load_text(full_file, &path, &p, &err);
        CHECK_MSG(r == 0 && p, "full file: %d %s", r, strempty(err));
        if (!p)
                return;
        CHECK_MSG(strv_length(p->sources) == 2, "sources %zu", strv_length(p->sources));
        CHECK_STR(p->sources[1], path);
        CHECK_STR(p->listen_address, "2001:db8::7");
        CHECK_MSG(p->listen_port == 22, "port");
        CHECK_STR(p->advertise_address, "builder-07.example.com");
        CHECK_MSG(strv_length(p->controller_sources) == 3, "sources");
        CHECK_STR(p->controller_sources[0], "10.0.0.0/8");
        CHECK_STR(p->controller_sources[1], "2001:db8::/32");
        CHECK_STR(p->controller_sources[2], "192.0.2.7/32");
        CHECK_STR(p->host_key_ed25519, "/etc/hostd/keys/ed25519");
        CHECK_STR(p->host_key_rsa, "/etc/hostd/keys/rsa");
        CHECK_STR(p->host_key_ecdsa, "/etc/hostd/keys/ecdsa");
        CHECK_STR(p->controller_user, "ci_ctl");
        CHECK_STR(p->controller_keys, "/etc/hostd/controller.keys");
        CHECK_MSG(p->max_startups == 50 && p->per_source_max_startups == 50, "startups");
        CHECK_MSG(p->login_grace_sec == 120, "grace");
        CHECK_MSG(p->max_auth_tries == 3, "tries");
        CHECK_MSG(strv_length(p->accept_env) == 2 && streq(p->accept_env[1], "CI_*"), "accept env");
        CHECK_STR(p->control_socket, "/run/hostd/ctl.sock");
        CHECK_STR(p->control_group, "hostd-admin");
        CHECK_STR(p->state_dir, "/srv/hostd");
        CHECK_MSG(p->released_retention_sec == 90, "retention");
        CHECK_MSG(p->slots == 8 && p->network == JOB_NETWORK_NONE, "slots/network");
        CHECK_MSG(p->job_default.millicpus == 500 && p->job_max.millicpus == 1250, "cpus");
        CHECK_MSG(p->job_default.memory == 512ULL << 20 && p->job_max.memory == 1536ULL << 20, "memory");
        CHECK_MSG(p->job_default.pids == 16 && p->job_max.pids == 4194304, "pids");
        CHECK_MSG(p->job_default.disk == 64ULL << 20 && p->job_max.disk == 64ULL << 40, "disk");
        CHECK_MSG(p->job_default.lease == 60 && p->job_max.lease == 7 * 86400, "lease");
        CHECK_MSG(p->uid_pool_start == 65536 && p->uid_pool_ranges == 8, "uid pool");
        CHECK_MSG(strv_length(p->seccomp_extra_deny) == 2 && streq(p->seccomp_extra_deny[0], "keyctl"), "extra deny");
        CHECK_MSG(p->allow_emulated, "allow_emulated");

        dump = dump_to_string(p);
        CHECK_MSG(strstr(dump, "\nDefaultCPUs=0.5\nMaxCPUs=1.25\nDefaultMemory=512M\nMaxMemory=1536M\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nControllerSources=10.0.0.0/8 2001:db8::/32 192.0.2.7/32\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nReleasedRetention=90s\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nDefaultLease=1m\nMaxLease=7d\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nNetwork=none\n"), "dump:\n%s", dump);
        CHECK_MSG(strstr(dump, "\nAllowEmulated=yes\n"), "dump:\n%s", dump);
        check_dump_roundtrip(p);
}

static void test_lists_and_syntax(void) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *err = NULL;
        static const char text[] =
                "\xef\xbb\xbf[SSH]\n"
                "AcceptEnv=A B C\n"
                "AcceptEnv=D\n"
                "[Seccomp]\n"
                "ExtraDeny=keyctl\n"
                "ExtraDeny=\n"
                "  [Jobs]  \n"
                "\tSlots   =   7   \n"
                "Slots=6"; /* no final newline */
        int r;

        r = policy_new_default(&p);
        CHECK_MSG(r == 0, "policy_new_default");
        if (r < 0)
                return;
        r = policy_parse_text(p, text, strlen(text), "t.conf", &err);
        CHECK_MSG(r == 0 && !err, "parse: %s", strempty(err));
        CHECK_MSG(strv_length(p->accept_env) == 1 && streq(p->accept_env[0], "D"), "assignment replaces the list");
        CHECK_MSG(strv_length(p->seccomp_extra_deny) == 0, "empty assignment clears the list");
        CHECK_MSG(p->slots == 6, "last assignment wins: %u", p->slots);

        /* A bad value keeps the previous one; a good one on another line applies. */
        free(err);
        err = NULL;
        r = policy_parse_text(p, "[Jobs]\nSlots=x\nMaxPids=100\n", 26, "u.conf", &err);
        CHECK_MSG(r == -EINVAL, "bad value: %d", r);
        CHECK_ERR(err, "u.conf:2: [Jobs] Slots=x: not a whole number; use a whole number from 1 to 1024");
        CHECK_MSG(p->slots == 6 && p->job_max.pids == 100, "after bad value: slots %u pids %llu",
              p->slots, (unsigned long long) p->job_max.pids);

        r = policy_parse_text(p, NULL, 0, "empty", NULL);
        CHECK_MSG(r == 0, "empty text: %d", r);
        r = policy_parse_text(p, NULL, 1, "null", NULL);
        CHECK_MSG(r == -EINVAL, "NULL text with a size: %d", r);
}

static void test_dropins(void) {
        _cleanup_free_ char *path = new_path(), *dir = NULL, *fn = NULL, *err = NULL;
        _cleanup_policy_ Policy *p = NULL;
        int r;

        if (asprintf(&dir, "%s.d", path) < 0)
                abort();
        write_file(path, "[Jobs]\nSlots=2\nMaxCPUs=4\n", 25);
        make_dir(dir);

#define DROPIN(name, text)                                              \
        do {                                                            \
                free(fn);                                               \
                if (asprintf(&fn, "%s/%s", dir, name) < 0)              \
                        abort();                                        \
                write_file(fn, text, strlen(text));                     \
        } while (0)

        /* Written out of order: the order comes from sorting the names. */
        DROPIN("20-b.conf", "[Jobs]\nSlots=5\n");
        DROPIN("10-a.conf", "[Jobs]\nSlots=3\nMaxCPUs=8\n");
        DROPIN("30-c.txt", "[Jobs]\nSlots=7\n");
        DROPIN(".40-hidden.conf", "[Jobs]\nSlots=9\n");
        DROPIN("50-broken.conf~", "this is not parsed\n");
        free(fn);
        if (asprintf(&fn, "%s/60-dir.conf", dir) < 0)
                abort();
        make_dir(fn);

        r = policy_load(path, NULL, 0, &p, &err);
        CHECK_MSG(r == 0 && p, "drop-ins: %d %s", r, strempty(err));
        if (!p)
                return;
        CHECK_MSG(p->slots == 5, "20-b.conf must win, got Slots=%u", p->slots);
        CHECK_MSG(p->job_max.millicpus == 8000, "10-a.conf must override FILE, got %u", p->job_max.millicpus);
        CHECK_MSG(strv_length(p->sources) == 4, "sources %zu", strv_length(p->sources));
        if (strv_length(p->sources) == 4) {
                CHECK_STR(p->sources[1], path);
                CHECK_MSG(strstr(p->sources[2], ".d/10-a.conf") != NULL, "source 2: %s", p->sources[2]);
                CHECK_MSG(strstr(p->sources[3], ".d/20-b.conf") != NULL, "source 3: %s", p->sources[3]);
        }

        /* Errors in a drop-in name the drop-in. */
        DROPIN("25-bad.conf", "[Jobs]\n\nSlots=0\n");
        p = policy_free(p);
        free(err);
        err = NULL;
        r = policy_load(path, NULL, 0, &p, &err);
        CHECK_MSG(r == -EINVAL && !p, "bad drop-in: %d", r);
        CHECK_ERR(err, ".d/25-bad.conf:3: [Jobs] Slots=0: out of range; use a whole number from 1 to 1024");

        /* FILE.d that is not a directory cannot be read. */
        {
                _cleanup_free_ char *path2 = new_path(), *dir2 = NULL, *err2 = NULL;
                Policy *q = NULL;

                if (asprintf(&dir2, "%s.d", path2) < 0)
                        abort();
                write_file(path2, "", 0);
                write_file(dir2, "", 0);
                r = policy_load(path2, NULL, 0, &q, &err2);
                CHECK_MSG(r == -ENOTDIR && !q, "FILE.d a file: %d", r);
                CHECK_ERR(err2, ".d: cannot read: Not a directory");
                policy_free(q);
        }
#undef DROPIN
}

static void test_overrides(void) {
        _cleanup_free_ char *path = new_path(), *err = NULL;
        _cleanup_policy_ Policy *p = NULL;
        PolicyOverride o[] = {
                { "State", "Directory", "/srv/from-cli", "--state-dir" },
                { "Listen", "Address", "0.0.0.0", "--listen" },
        };
        PolicyOverride bad[] = {
                { "State", "Directory", "relative", "--state-dir" },
                { "Listen", "Port", "70000", "--port" },
        };
        int r;

        write_file(path, "[State]\nDirectory=/srv/from-file\n", 33);
        r = policy_load(path, o, ELEMENTSOF(o), &p, &err);
        CHECK_MSG(r == 0 && p, "overrides: %d %s", r, strempty(err));
        if (p) {
                CHECK_STR(p->state_dir, "/srv/from-cli");
                CHECK_STR(p->listen_address, "0.0.0.0");
                CHECK_MSG(strv_length(p->sources) == 3 && streq(p->sources[2], "command line"), "sources");
        }

        p = policy_free(p);
        r = policy_load(path, bad, ELEMENTSOF(bad), &p, &err);
        CHECK_MSG(r == -EINVAL && !p, "bad overrides: %d", r);
        CHECK_ERR(err, "--state-dir: [State] Directory=relative: must be an absolute path");
        CHECK_ERR(err, "--port: [Listen] Port=70000: out of range; use a whole number from 1 to 65535");
}

static void test_errors(void) {
        /* One per class of mistake, each with its file:line and fix. */
        EXPECT_ERROR("[Listen]\nPort=22\n[Jobz]\nSlots=3\n", 3, "unknown section [Jobz]; did you mean [Jobs]?");
        EXPECT_ERROR("[Nope]\n", 1, "unknown section [Nope]; use one of [Listen]");
        EXPECT_ERROR("[Jobs\n", 1, "malformed section header '[Jobs'; write it as [Name]");
        EXPECT_ERROR("[Jobs]\n# x\nSlot=3\n", 3, "unknown key 'Slot' in [Jobs]; did you mean 'Slots'?");
        EXPECT_ERROR("[Jobs]\nslots=3\n", 2, "unknown key 'slots' in [Jobs]; did you mean 'Slots'?");
        EXPECT_ERROR("[Jobs]\nPort=3\n", 2, "unknown key 'Port' in [Jobs]; Port belongs in [Listen]");
        EXPECT_ERROR("[Jobs]\nFrobnicate=3\n", 2, "unknown key 'Frobnicate' in [Jobs]; see docs/policy.md");
        EXPECT_ERROR("[Jobs]\nSlots 3\n", 2, "'Slots 3' has no '='; write Key=Value");
        EXPECT_ERROR("[Jobs]\n=3\n", 2, "'=3' has no key name before '='; write Key=Value");
        EXPECT_ERROR("Slots=3\n[Jobs]\n", 1, "Slots=3 is outside any section; put it below a [Jobs] header");
        EXPECT_ERROR("Bogus=3\n", 1, "Bogus=3 is outside any section; add a [Section] header above it");
        EXPECT_ERROR("[Jobs]\nSlots=four\n", 2, "[Jobs] Slots=four: not a whole number; use a whole number from 1 to 1024");
        EXPECT_ERROR("[Jobs]\nSlots=-1\n", 2, "[Jobs] Slots=-1: not a whole number");
        EXPECT_ERROR("[Jobs]\nSlots=0\n", 2, "[Jobs] Slots=0: out of range; use a whole number from 1 to 1024");
        EXPECT_ERROR("[Jobs]\nSlots=1025\n", 2, "[Jobs] Slots=1025: out of range; use a whole number from 1 to 1024");
        EXPECT_ERROR("[Health]\nProbeFailures=0\n", 2, "[Health] ProbeFailures=0: out of range; use a whole number from 1 to 100");
        EXPECT_ERROR("[Health]\nProbeFailures=101\n", 2, "[Health] ProbeFailures=101: out of range; use a whole number from 1 to 100");
        EXPECT_ERROR("[SSH]\nSourcePrefixIPv4=7\n", 2, "[SSH] SourcePrefixIPv4=7: out of range; use a whole number from 8 to 32");
        EXPECT_ERROR("[SSH]\nSourcePrefixIPv6=129\n", 2, "[SSH] SourcePrefixIPv6=129: out of range; use a whole number from 16 to 128");
        EXPECT_ERROR("[SSH]\nMaxSessionsPerJob=0\n", 2, "[SSH] MaxSessionsPerJob=0: out of range; use a whole number from 1 to 1024");
        EXPECT_ERROR("[SSH]\nControllerStartups=1001\n", 2, "[SSH] ControllerStartups=1001: out of range; use a whole number from 0 to 1000");
        EXPECT_ERROR("[Jobs]\nSlots=99999999999999999999999\n", 2, "out of range; use a whole number from 1 to 1024");
        EXPECT_ERROR("[Jobs]\nSlots=\n", 2, "[Jobs] Slots=: not a whole number");
        EXPECT_ERROR("[Jobs]\nMaxMemory=4X\n", 2, "[Jobs] MaxMemory=4X: not a size; use a size from 64M to 16T, in bytes or with a K, M, G or T suffix (e.g. 4G)");
        EXPECT_ERROR("[Jobs]\nMaxMemory=1M\n", 2, "[Jobs] MaxMemory=1M: out of range; use a size from 64M to 16T");
        EXPECT_ERROR("[Jobs]\nMaxLease=2w\n", 2, "[Jobs] MaxLease=2w: not a duration; use a duration from 1m to 7d, in seconds or with an s, m, h or d suffix");
        EXPECT_ERROR("[Jobs]\nMaxLease=8d\n", 2, "[Jobs] MaxLease=8d: out of range; use a duration from 1m to 7d");
        EXPECT_ERROR("[SSH]\nLoginGraceTime=0\n", 2, "[SSH] LoginGraceTime=0: out of range; use a duration from 1s to 10m");
        EXPECT_ERROR("[Jobs]\nDefaultCPUs=0.05\n", 2, "[Jobs] DefaultCPUs=0.05: out of range; use a number of CPUs from 0.1 to 1024");
        EXPECT_ERROR("[Jobs]\nDefaultCPUs=1.2345\n", 2, "[Jobs] DefaultCPUs=1.2345: not a number of CPUs; use a number of CPUs from 0.1 to 1024, a decimal");
        EXPECT_ERROR("[Jobs]\nNetwork=bridge\n", 2, "[Jobs] Network=bridge: unknown network mode; use private, host or none");
        EXPECT_ERROR("[Platforms]\nAllowEmulated=maybe\n", 2, "[Platforms] AllowEmulated=maybe: not a boolean; use yes or no");
        EXPECT_ERROR("[Listen]\nAddress=localhost\n", 2, "[Listen] Address=localhost: not an IP address; use an IPv4 or IPv6 address");
        EXPECT_ERROR("[Listen]\nAddress=1.2.3.256\n", 2, "[Listen] Address=1.2.3.256: not an IP address");
        EXPECT_ERROR("[Listen]\nAddress=\n", 2, "[Listen] Address=: must not be empty");
        EXPECT_ERROR("[Listen]\nAdvertiseAddress=bad_host!\n", 2, "[Listen] AdvertiseAddress=bad_host!: not a host name or IP address");
        EXPECT_ERROR("[Listen]\nAdvertiseAddress=10.0.0.300\n", 2, "not a host name or IP address");
        EXPECT_ERROR("[Listen]\nControllerSources=10.0.0.0/8 10.0.0.0\n", 2,
                     "[Listen] ControllerSources=10.0.0.0/8 10.0.0.0: '10.0.0.0' has no '/PREFIX'");
        EXPECT_ERROR("[Listen]\nControllerSources=10.0.0.0/33\n", 2, "'10.0.0.0/33' is not a CIDR (bad prefix length); use a prefix length from 0 to 32");
        EXPECT_ERROR("[Listen]\nControllerSources=10.0.0.1/8\n", 2, "'10.0.0.1/8' has bits set after the prefix; did you mean 10.0.0.0/8?");
        EXPECT_ERROR("[Listen]\nControllerSources=2001:db8::1/32\n", 2, "did you mean 2001:db8::/32?");
        EXPECT_ERROR("[Listen]\nControllerSources=nonsense/8\n", 2, "'nonsense/8' is not a CIDR (bad address)");
        EXPECT_ERROR("[SSH]\nHostKeyEd25519=keys/ed25519\n", 2, "[SSH] HostKeyEd25519=keys/ed25519: must be an absolute path; write it starting with '/'");
        EXPECT_ERROR("[SSH]\nControllerKeys=/etc/../keys\n", 2, "[SSH] ControllerKeys=/etc/../keys: must not contain '..'");
        EXPECT_ERROR("[State]\nDirectory=relative\n", 2, "[State] Directory=relative: must be an absolute path");
        EXPECT_ERROR("[State]\nDirectory=//\n", 2, "[State] Directory=//: must not be the root directory; use a dedicated directory");
        EXPECT_ERROR("[State]\nReleasedRetention=31d\n", 2, "out of range; use a duration from 0s to 30d");
        EXPECT_ERROR("[Control]\nSocket=/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n", 2,
                     "too long for a Unix socket; use a path of at most 107 bytes");
        EXPECT_ERROR("[Control]\nGroup=Wheel\n", 2, "[Control] Group=Wheel: not a valid group name");
        EXPECT_ERROR("[SSH]\nControllerUser=Admin\n", 2, "[SSH] ControllerUser=Admin: not a valid user name");
        EXPECT_ERROR("[SSH]\nControllerUser=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2, "not a valid user name");
        EXPECT_ERROR("[SSH]\nControllerUser=j0123456789ab\n", 2, "looks like a job user name");
        EXPECT_ERROR("[SSH]\nAcceptEnv=TERM 1BAD\n", 2, "[SSH] AcceptEnv=TERM 1BAD: '1BAD' is not a variable name");
        EXPECT_ERROR("[SSH]\nAcceptEnv=A*B\n", 2, "'A*B' is not a variable name");
        EXPECT_ERROR("[Seccomp]\nExtraDeny=keyctl frobnicate\n", 2,
                     "[Seccomp] ExtraDeny=keyctl frobnicate: 'frobnicate' is not a known system call; check the spelling");
        EXPECT_ERROR("[UIDPool]\nStart=100000\n", 2, "[UIDPool] Start=100000: not a multiple of 65536; use e.g. 65536");
        EXPECT_ERROR("[UIDPool]\nStart=0\n", 2, "[UIDPool] Start=0: out of range; use a multiple of 65536 from 65536 to 4294836224");

        /* Cross-key checks name both keys and say how to fix. */
        EXPECT_ERROR("[Jobs]\nDefaultMemory=8G\nMaxMemory=4G\n", 0,
                     "[Jobs] DefaultMemory=8G is above [Jobs] MaxMemory=4G; lower DefaultMemory or raise MaxMemory");
        EXPECT_ERROR("[Jobs]\nDefaultCPUs=2.5\nMaxCPUs=2\n", 0, "[Jobs] DefaultCPUs=2.5 is above [Jobs] MaxCPUs=2");
        EXPECT_ERROR("[Jobs]\nDefaultLease=3h\nMaxLease=2h\n", 0, "[Jobs] DefaultLease=3h is above [Jobs] MaxLease=2h");
        EXPECT_ERROR("[Jobs]\nDefaultPids=100\nMaxPids=99\n", 0, "[Jobs] DefaultPids=100 is above [Jobs] MaxPids=99");
        EXPECT_ERROR("[Jobs]\nDefaultDisk=1T\nMaxDisk=100G\n", 0, "[Jobs] DefaultDisk=1T is above [Jobs] MaxDisk=100G");
        EXPECT_ERROR("[SSH]\nPerSourceMaxStartups=20\nMaxStartups=10\n", 0,
                     "[SSH] PerSourceMaxStartups=20 is above [SSH] MaxStartups=10; lower PerSourceMaxStartups or raise MaxStartups");
        EXPECT_ERROR("[Jobs]\nSlots=16\n[UIDPool]\nRanges=8\n", 0,
                     "[UIDPool] Ranges=8 is below [Jobs] Slots=16; every job needs its own UID range, so raise Ranges or lower Slots");
        EXPECT_ERROR("[UIDPool]\nStart=4294836224\nRanges=2\n[Jobs]\nSlots=1\n", 0,
                     "[UIDPool] Start=4294836224 with Ranges=2 needs UIDs up to 4294967295, past the last usable UID 4294901759; "
                     "lower Start or use at most Ranges=1");
        EXPECT_ERROR("[UIDPool]\nStart=4294770688\nRanges=65536\n", 0, "needs UIDs up to 8589737983, past the last usable UID");
        {
                /* The last range may end exactly at the limit. */
                _cleanup_free_ char *e = NULL;
                int r = load_text("[UIDPool]\nStart=4294770688\nRanges=4\n[Jobs]\nSlots=4\n", NULL, NULL, &e);

                CHECK_MSG(r == -EINVAL && e && strstr(e, "Start=4294770688 with Ranges=4"), "UID pool end: %s", strempty(e));
                free(e);
                e = NULL;
                r = load_text("[UIDPool]\nStart=4294639616\nRanges=4\n[Jobs]\nSlots=4\n", NULL, NULL, &e);
                CHECK_MSG(r == 0, "UID pool ending at the limit: %s", strempty(e));
        }
}

static void test_bad_bytes(void) {
        _cleanup_free_ char *long_line = NULL, *text = NULL, *path = NULL, *err = NULL, *needle = NULL;
        _cleanup_free_ char *many = NULL;
        Policy *p = NULL;
        size_t n;
        int r;

        /* A line over POLICY_LINE_MAX. */
        long_line = malloc(POLICY_LINE_MAX + 64);
        if (!long_line)
                abort();
        n = (size_t) snprintf(long_line, 64, "[SSH]\nAcceptEnv=");
        memset(long_line + n, 'A', POLICY_LINE_MAX);
        strcpy(long_line + n + POLICY_LINE_MAX, "\n");
        EXPECT_ERROR(long_line, 2, "line is 4106 bytes long, over the limit of 4096; shorten it");

        /* A line of exactly POLICY_LINE_MAX is fine. */
        long_line[n + POLICY_LINE_MAX - strlen("AcceptEnv=")] = '\n';
        long_line[n + POLICY_LINE_MAX - strlen("AcceptEnv=") + 1] = 0;
        r = load_text(long_line, NULL, NULL, &err);
        CHECK_MSG(r == 0, "a line of exactly %d bytes: %s", POLICY_LINE_MAX, strempty(err));

        /* A NUL byte. */
        path = new_path();
        write_file(path, "[Jobs]\nSlots=4\nSl\0ts=5\n", 23);
        free(err);
        err = NULL;
        r = policy_load(path, NULL, 0, &p, &err);
        CHECK_MSG(r == -EINVAL && !p, "NUL byte: %d", r);
        if (asprintf(&needle, "%s:3: contains a NUL byte", path) < 0)
                abort();
        CHECK_ERR(err, needle);

        EXPECT_ERROR("[Jobs]\nNetwork=h\xc3\x28st\n", 2, "not valid UTF-8; save the file as UTF-8");
        EXPECT_ERROR("[Jobs]\nNetwork=\xc0\xafx\n", 2, "not valid UTF-8");
        EXPECT_ERROR("[Jobs]\nNetwork=\x1b[31m\n", 2, "contains the control character 0x1b; remove it");
        /* UTF-8 is fine where the value allows it... and reported where not. */
        EXPECT_ERROR("# caf\xc3\xa9\n[Control]\nGroup=caf\xc3\xa9\n", 3, "[Control] Group=caf\xc3\xa9: not a valid group name");

        /* Several problems are reported together, in order. */
        free(err);
        err = NULL;
        r = load_text("[Jobs]\nSlots=0\nNetwork=bridge\n[Nope]\nX=1\n[SSH]\nMaxAuthTries=1000\n", &text, &p, &err);
        CHECK_MSG(r == -EINVAL && !p, "multiple: %d", r);
        if (err) {
                char *a = strstr(err, ":2: [Jobs] Slots=0"), *b = strstr(err, ":3: [Jobs] Network=bridge"),
                     *c = strstr(err, ":4: unknown section [Nope]"), *d = strstr(err, ":7: [SSH] MaxAuthTries=1000: out of range");

                CHECK_MSG(a && b && c && d && a < b && b < c && c < d, "all four problems, in order:\n%s", err);
                CHECK_MSG(!strstr(err, ":5:"), "keys of an unknown section are not reported again:\n%s", err);
                CHECK_MSG(strchr(err, '\n') && !strstr(err, "\n\n") && err[strlen(err) - 1] != '\n', "one problem per line:\n%s", err);
        }

        /* At most 50 problems are listed. */
        many = malloc(64 * 16 + 16);
        if (!many)
                abort();
        strcpy(many, "[Jobs]\n");
        for (int i = 0; i < 60; i++)
                strcat(many, "Slots=0\n");
        free(err);
        err = NULL;
        r = load_text(many, NULL, NULL, &err);
        CHECK_MSG(r == -EINVAL, "many: %d", r);
        CHECK_ERR(err, ":51: [Jobs] Slots=0");
        CHECK_MSG(err && !strstr(err, ":52:"), "problem 51 must not be listed");
        CHECK_ERR(err, "(10 more problems not shown; fix the ones above first)");
}

static void test_unreadable(void) {
        _cleanup_free_ char *err = NULL, *path = NULL, *needle = NULL, *big = NULL;
        Policy *p = NULL;
        int r;

        if (asprintf(&path, "%s/does-not-exist.conf", tmpdir) < 0)
                abort();
        r = policy_load(path, NULL, 0, &p, &err);
        CHECK_MSG(r == -ENOENT && !p, "nonexistent: %d", r);
        if (asprintf(&needle, "%s: cannot read: No such file or directory; check the path given to --policy", path) < 0)
                abort();
        CHECK_ERR(err, needle);

        free(err);
        free(needle);
        err = NULL;
        r = policy_load(tmpdir, NULL, 0, &p, &err);
        CHECK_MSG(r == -EISDIR && !p, "directory: %d", r);
        if (asprintf(&needle, "%s: cannot read: Is a directory; check the path given to --policy", tmpdir) < 0)
                abort();
        CHECK_ERR(err, needle);

        /* Too big. */
        free(path);
        path = new_path();
        big = malloc(POLICY_FILE_MAX + 1);
        if (!big)
                abort();
        memset(big, '#', POLICY_FILE_MAX + 1);
        write_file(path, big, POLICY_FILE_MAX + 1);
        free(err);
        err = NULL;
        r = policy_load(path, NULL, 0, &p, &err);
        CHECK_MSG(r == -EFBIG && !p, "too big: %d", r);
        CHECK_ERR(err, "cannot read: larger than the limit of 1048576 bytes");

        /* And the same through policy_parse_text. */
        {
                _cleanup_policy_ Policy *q = NULL;

                free(err);
                err = NULL;
                CHECK_MSG(policy_new_default(&q) == 0, "policy_new_default");
                r = policy_parse_text(q, big, POLICY_FILE_MAX + 1, "big.conf", &err);
                CHECK_MSG(r == -EINVAL, "too big text: %d", r);
                CHECK_ERR(err, "big.conf: is 1048577 bytes, over the limit of 1048576 bytes");
        }

        /* Permission denied only means something when not root. */
        if (geteuid() != 0) {
                free(path);
                path = new_path();
                write_file(path, "", 0);
                chmod(path, 0);
                free(err);
                err = NULL;
                r = policy_load(path, NULL, 0, &p, &err);
                CHECK_MSG(r == -EACCES, "permission denied: %d", r);
                CHECK_ERR(err, "cannot read: Permission denied");
        }
}

static void test_validate_hand_built(void) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        CHECK_MSG(policy_new_default(&p) == 0, "policy_new_default");
        if (!p)
                return;
        p->slots = 0;
        free(p->state_dir);
        p->state_dir = NULL;
        r = policy_validate(p, &err);
        CHECK_MSG(r == -EINVAL, "hand-built: %d", r);
        CHECK_ERR(err, "[Jobs] Slots=0: out of range; use a whole number from 1 to 1024");
        CHECK_ERR(err, "[State] Directory is not set");
}

static void test_example(const char *example) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = policy_load(example, NULL, 0, &p, &err);
        CHECK_MSG(r == 0 && p, "%s: %s", example, strempty(err));
        if (!p)
                return;
        CHECK_MSG(p->listen_port == 22, "example port %u", p->listen_port);
        CHECK_MSG(p->slots == 8, "example slots %u", p->slots);
        CHECK_MSG(p->controller_keys != NULL, "example controller keys");
        CHECK_MSG(strv_length(p->sources) == 3, "example: main file and one drop-in, got %zu sources", strv_length(p->sources));
        CHECK_MSG(p->job_max.memory == 128ULL << 30, "example drop-in raises MaxMemory: %llu",
              (unsigned long long) p->job_max.memory);
        check_dump_roundtrip(p);
}

static void rm_rf(const char *path) {
        _cleanup_free_ char *cmd = NULL;

        if (asprintf(&cmd, "rm -rf -- '%s'", path) < 0 || system(cmd) != 0)
                fprintf(stderr, "test-policy: cannot remove %s\n", path);
}

int main(int argc, char *argv[]) {
        const char *example = argc > 1 ? argv[1] : POLICY_SOURCE_DIR "/examples/policy.conf";

        if (!mkdtemp(tmpdir)) {
                fprintf(stderr, "test-policy: mkdtemp: %m\n");
                return EXIT_FAILURE;
        }

        test_default();
        test_full_file();
        test_lists_and_syntax();
        test_dropins();
        test_overrides();
        test_errors();
        test_bad_bytes();
        test_unreadable();
        test_validate_hand_built();
        test_example(example);

        rm_rf(tmpdir);
        return test_summary("test-policy");
}
