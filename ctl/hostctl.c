/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hostctl: the operators' client of hostd's control socket.
 *
 * It checks little itself (a known verb, its required arguments): the verb
 * and flags go to hostd unchanged as the request's "argv", because the
 * daemon owns the one real parser (docs/contract.md). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fileio.h"
#include "format.h"
#include "json-util.h"
#include "macros.h"
#include "parse-util.h"
#include "policy.h"
#include "time-util.h"

#define DEFAULT_SOCKET "/run/hostd/control.sock"
#define DEFAULT_TIMEOUT_SEC 600         /* release waits for the job's cleanup */
#define REQUEST_MAX (64 * 1024)
#define ANSWER_MAX (16 * 1024 * 1024)
#define API_VERSION "hostd/v1"

/* Verbs return an exit status (>= 0); helpers return negative errno. */

static const char *arg_socket = NULL;
static bool arg_json = false;
static uint64_t arg_timeout_sec = DEFAULT_TIMEOUT_SEC;


DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free)

typedef struct Verb Verb;
struct Verb {
        const char *name;
        const char *synopsis;           /* after "hostctl VERB" */
        const char *summary;            /* one line, for --help */
        const char *required;           /* name of the required positional argument, or NULL */
        const char *value_flags[8];     /* flags that take the next word as value */
        format_func_t format;           /* generic verbs: ask hostd, render with this */
        int (*run)(const Verb *v, int argc, char *argv[]);   /* the others */
};

static int run_status(const Verb *v, int argc, char *argv[]);
static int run_policy(const Verb *v, int argc, char *argv[]);
static int run_help(const Verb *v, int argc, char *argv[]);
static int run_metrics(const Verb *v, int argc, char *argv[]);
static int run_known_hosts(const Verb *v, int argc, char *argv[]);

static const Verb verbs[] = {
        { "status",   "",  "Slot gauge, health and the jobs table", .run = run_status },
        { "capacity", "",  "Slots, platforms, resources, enforcement, health", .format = format_capacity },
        { "jobs",     "",  "Jobs that hold a slot, oldest first", .format = format_jobs },
        { "job",      "ID", "One job, including recently released ones", .required = "ID", .format = format_job },
        { "allocate",
          "--owner NS/TASKRUN --platform linux/ARCH[/VARIANT] [--lease DUR] [--public-key KEY]\n"
          "                  [--cpus N] [--memory SIZE] [--disk SIZE]",
          "Create a job (idempotent per --owner)",
          .value_flags = { "--owner", "--platform", "--lease", "--public-key", "--cpus", "--memory", "--disk" },
          .format = format_allocate },
        { "release",  "ID", "Release a job; waits until it is fully reclaimed", .required = "ID",
          .format = format_release },
        { "renew",    "ID --lease DUR", "Set a job's lease to expire DUR from now", .required = "ID",
          .value_flags = { "--lease" }, .format = format_job },
        { "drain",    "[--reason TEXT]", "Accept no new jobs (persists across restarts)",
          .value_flags = { "--reason" }, .format = format_drain },
        { "resume",   "",  "Accept jobs again", .format = format_resume },
        { "reload",   "",  "Re-read the policy; the old one stays on errors", .format = format_reload },
        { "metrics",  "[--output FILE]",
          "Prometheus metrics text; with --output, replace FILE atomically (node-exporter's textfile collector)",
          .value_flags = { "--output" }, .run = run_metrics, .format = format_metrics },
        { "known-hosts", "ADDRESS [--port N]",
          "hostd's host keys as known_hosts lines for ADDRESS, to pin at enrolment",
          .required = "ADDRESS", .value_flags = { "--port" }, .run = run_known_hosts },
        { "policy",   "check [FILE]", "Validate a policy file locally (no daemon needed)", .run = run_policy },
        { "help",     "[VERB]", "Show this help, or a verb's", .run = run_help },
};

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static void verb_usage(const Verb *v, FILE *f) {
        fprintf(f, "Usage: hostctl [OPTIONS] %s%s%s\n\n%s.\n", v->name, *v->synopsis ? " " : "",
                v->synopsis, v->summary);
        if (streq(v->name, "allocate") || streq(v->name, "renew"))
                fprintf(f, "\nDurations take units (90, 30m, 2h, 1d); sizes take binary suffixes (512M, 4G).\n"
                        "Values above the policy maximum are refused, except --lease, which is clamped.\n");
        if (streq(v->name, "policy"))
                fprintf(f, "\nReads the embedded default, then FILE and FILE.d/*.conf, validates, and prints\n"
                        "the effective policy. Exit status 2 if the policy is invalid.\n");
}

static void help(FILE *f) {
        fprintf(f, "Usage: hostctl [OPTIONS] VERB [FLAGS]\n\n"
                "Operate hostd, the build host daemon, through its control socket.\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun 'hostctl VERB --help' for a verb's flags.\n\n"
                "Options:\n"
                "  --socket PATH      control socket (default: $HOSTD_CONTROL_SOCKET,\n"
                "                     else " DEFAULT_SOCKET ")\n"
                "  --json             print hostd's JSON answer instead of text\n"
                "  --timeout SECONDS  how long to wait for an answer (default %d; 0 waits forever;\n"
                "                     units allowed: 30s, 10m)\n"
                "  -h --help          show this help\n"
                "  --version          show the version\n\n"
                "Exit status:\n"
                "  0   success\n"
                "  1   internal error in hostd, malformed answer, timeout, or a job left leaked\n"
                "  2   bad request, or a usage error found by hostctl\n"
                "  3   unknown job\n"
                "  4   no capacity: every slot holds a job\n"
                "  5   the host is draining\n"
                "  6   unsupported platform\n"
                "  7   forbidden: not root or in the control group\n"
                "  69  hostd is not running or cannot be reached\n",
                DEFAULT_TIMEOUT_SEC);
}

static int usage_error(const Verb *v, const char *format, ...) _printf_(2, 3);
static int usage_error(const Verb *v, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "hostctl: ");
        if (v)
                fprintf(stderr, "%s: ", v->name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (v)
                verb_usage(v, stderr);
        else
                fprintf(stderr, "Run 'hostctl --help' for usage.\n");
        return EXIT_BAD_REQUEST;
}

/* ---- talking to hostd ---- */

static int poll_timeout_ms(usec_t deadline) {
        usec_t n;

        if (deadline == USEC_INFINITY)
                return -1;
        n = now(CLOCK_MONOTONIC);
        if (n >= deadline)
                return 0;
        return (int) MIN((deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
}

static int wait_fd(int fd, short events, usec_t deadline) {
        struct pollfd p = { .fd = fd, .events = events };
        int r;

        for (;;) {
                r = poll(&p, 1, poll_timeout_ms(deadline));
                if (r > 0)
                        return 0;
                if (r == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

static int connect_socket(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int send_all(int fd, const char *buf, size_t size, usec_t deadline) {
        while (size > 0) {
                ssize_t n;
                int r;

                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                /* MSG_NOSIGNAL: a daemon that hangs up must not kill us with SIGPIPE. */
                n = send(fd, buf, size, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                buf += n;
                size -= (size_t) n;
        }
        return 0;
}

static int receive_all(int fd, usec_t deadline, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;
                int r;

                if (allocated - size < 4096) {
                        size_t a = MAX(allocated * 2, (size_t) 16384);
                        char *p = realloc(buf, a + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = a;
                }
                r = wait_fd(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                n = recv(fd, buf + size, allocated - size, 0);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > ANSWER_MAX)
                        return -EMSGSIZE;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int build_request(int argc, char *argv[], char **ret) {
        _cleanup_json_ json_object *req = json_object_new_object();
        json_object *a = json_object_new_array();
        const char *s;

        if (!req || !a) {
                json_object_put(a);
                return -ENOMEM;
        }
        if (json_object_object_add(req, "apiVersion", json_object_new_string(API_VERSION)) < 0 ||
            json_object_object_add(req, "argv", a) < 0) {
                json_object_put(a);
                return -ENOMEM;
        }
        for (int i = 0; i < argc; i++)
                if (json_object_array_add(a, json_object_new_string(argv[i])) < 0)
                        return -ENOMEM;

        s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        if (strlen(s) + 1 > REQUEST_MAX)
                return -E2BIG;
        if (asprintf(ret, "%s\n", s) < 0)
                return -ENOMEM;
        return 0;
}

static int parse_answer(const char *buf, size_t size, json_object **ret, const char **ret_bad) {
        _cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
        json_object *o;
        enum json_tokener_error e;

        if (!tok)
                return -ENOMEM;
        if (size == 0) {
                *ret_bad = "empty answer (hostd closed the connection)";
                return -EBADMSG;
        }
        o = json_tokener_parse_ex(tok, buf, (int) size);
        e = json_tokener_get_error(tok);
        if (e != json_tokener_success) {
                json_object_put(o);
                *ret_bad = e == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(e);
                return -EBADMSG;
        }
        for (size_t i = json_tokener_get_parse_end(tok); i < size; i++)
                if (!strchr(" \t\r\n", buf[i])) {
                        json_object_put(o);
                        *ret_bad = "trailing data after the JSON object";
                        return -EBADMSG;
                }
        *ret = o;
        return 0;
}

static int malformed(const char *what) {
        fprintf(stderr, "hostctl: malformed answer from hostd: %s\n", what);
        return EXIT_INTERNAL;
}

/* The exit status after rendering an answer (r from a format_*() call). */
static int shown(int r, const char *bad) {
        if (r == -EBADMSG)
                return malformed(bad);
        if (r < 0) {
                fprintf(stderr, "hostctl: cannot show the answer: %s\n", strerror(-r));
                return EXIT_INTERNAL;
        }
        return r;
}

static int connect_error(int r) {
        switch (r) {
        case -ENOENT:
        case -ECONNREFUSED:
                fprintf(stderr, "hostctl: hostd is not running (%s %s); start it with 'systemctl start hostd' "
                        "or run 'hostd', or point --socket at its socket\n",
                        r == -ENOENT ? "no control socket at" : "nothing listens on", arg_socket);
                return EXIT_UNAVAILABLE;
        case -EACCES:
        case -EPERM:
                fprintf(stderr, "hostctl: permission denied on %s: only root and members of hostd's control "
                        "group ([Control] Group=) may use it\n", arg_socket);
                return EXIT_FORBIDDEN;
        case -ENAMETOOLONG:
                fprintf(stderr, "hostctl: socket path too long: %s\n", arg_socket);
                return EXIT_BAD_REQUEST;
        default:
                fprintf(stderr, "hostctl: cannot connect to hostd at %s: %s\n", arg_socket, strerror(-r));
                return EXIT_UNAVAILABLE;
        }
}

/* Sends argv as one request and returns hostd's answer, parsed but not
 * yet checked. Returns 0, or an exit status after saying what failed. */
static int call_hostd(int argc, char *argv[], json_object **ret) {
        usec_t deadline = arg_timeout_sec == 0 ? USEC_INFINITY :
                now(CLOCK_MONOTONIC) + arg_timeout_sec * USEC_PER_SEC;
        _cleanup_free_ char *req = NULL, *answer = NULL;
        _cleanup_close_ int fd = -1;
        const char *bad;
        size_t size = 0;
        int r;

        r = build_request(argc, argv, &req);
        if (r == -E2BIG) {
                fprintf(stderr, "hostctl: request larger than %d KiB\n", REQUEST_MAX / 1024);
                return EXIT_BAD_REQUEST;
        }
        if (r < 0) {
                fprintf(stderr, "hostctl: cannot build the request: %s\n", strerror(-r));
                return EXIT_INTERNAL;
        }

        r = connect_socket(arg_socket, &fd);
        if (r < 0)
                return connect_error(r);

        r = send_all(fd, req, strlen(req), deadline);
        /* The end of our side tells hostd the request is complete. */
        if (r >= 0 && shutdown(fd, SHUT_WR) < 0)
                r = -errno;
        if (r >= 0)
                r = receive_all(fd, deadline, &answer, &size);
        if (r == -ETIMEDOUT) {
                fprintf(stderr, "hostctl: no answer from hostd within %llu s (--timeout); "
                        "the request may still complete\n", (unsigned long long) arg_timeout_sec);
                return EXIT_INTERNAL;
        }
        if (r == -EMSGSIZE)
                return malformed("larger than 16 MiB");
        if (r < 0) {
                fprintf(stderr, "hostctl: lost the connection to hostd: %s\n", strerror(-r));
                return EXIT_INTERNAL;
        }

        r = parse_answer(answer, size, ret, &bad);
        if (r == -EBADMSG)
                return malformed(bad);
        if (r < 0) {
                fprintf(stderr, "hostctl: cannot parse the answer: %s\n", strerror(-r));
                return EXIT_INTERNAL;
        }
        return 0;
}

static void print_json(json_object *o) {
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Validates the answer and reports an error answer. Returns 0 for a good
 * answer, or the exit status. */
static int check_answer(json_object *a) {
        const char *bad, *code, *message;
        int r;

        if (answer_check(a, &bad) < 0)
                return malformed(bad);
        r = answer_get_error(a, &code, &message);
        if (r < 0)
                return malformed("\"error\" without a \"code\"");
        if (r == 0)
                return 0;

        fprintf(stderr, "hostctl: %s: %s\n", code, message ?: "(no message)");
        if (arg_json)
                print_json(a);
        return api_code_exit_status(code);
}

static int render(format_func_t format, json_object *a) {
        const char *bad = NULL;
        int r;

        if (arg_json) {
                print_json(a);
                return 0;
        }
        r = format(a, time(NULL), stdout, &bad);
        return shown(r, bad);
}

static int run_remote(const Verb *v, int argc, char *argv[]) {
        _cleanup_json_ json_object *a = NULL;
        int r;

        r = call_hostd(argc, argv, &a);
        if (r != 0)
                return r;
        r = check_answer(a);
        if (r != 0)
                return r;
        return render(v->format, a);
}

/* ---- verbs that are not one request ---- */

static int run_status(const Verb *v, int argc, char *argv[]) {
        _cleanup_json_ json_object *cap = NULL, *jobs = NULL;
        char *capacity_argv[] = { (char *) "capacity" }, *jobs_argv[] = { (char *) "jobs" };
        const char *bad = NULL;
        int r;

        if (argc > 1)
                return usage_error(v, "unexpected argument '%s'", argv[1]);

        r = call_hostd(1, capacity_argv, &cap);
        if (r == 0)
                r = check_answer(cap);
        if (r != 0)
                return r;
        r = call_hostd(1, jobs_argv, &jobs);
        if (r == 0)
                r = check_answer(jobs);
        if (r != 0)
                return r;

        if (arg_json) {
                /* Two answers; one object keeps the output a single JSON document. */
                _cleanup_json_ json_object *o = json_object_new_object();
                if (!o ||
                    json_object_object_add(o, "apiVersion", json_object_new_string(API_VERSION)) < 0 ||
                    json_object_object_add(o, "capacity", json_object_get(cap)) < 0 ||
                    json_object_object_add(o, "jobs", json_object_get(jobs)) < 0) {
                        fprintf(stderr, "hostctl: out of memory\n");
                        return EXIT_INTERNAL;
                }
                print_json(o);
                return 0;
        }

        /* Two statements: the call must fill in bad before it is read. */
        r = format_status(cap, jobs, time(NULL), stdout, &bad);
        return shown(r, bad);
}

static int run_metrics(const Verb *v, int argc, char *argv[]) {
        _cleanup_json_ json_object *a = NULL;
        _cleanup_close_ int dir_fd = -1;
        _cleanup_free_ char *dir = NULL;
        char *metrics_argv[] = { (char *) "metrics" };
        const char *output, *name, *text;
        int r;

        if (argc == 1)
                return run_remote(v, argc, argv);
        if (argc != 3 || !streq(argv[1], "--output"))
                return usage_error(v, "unexpected argument '%s'", argv[argc > 3 ? 3 : 1]);
        output = argv[2];
        name = strrchr(output, '/');
        name = name ? name + 1 : output;
        if (isempty(name) || streq(name, ".") || streq(name, ".."))
                return usage_error(v, "--output needs a file name, not '%s'", output);
        dir = name == output ? strdup(".") : strndup(output, (size_t) (name - output));
        if (!dir) {
                fprintf(stderr, "hostctl: out of memory\n");
                return EXIT_INTERNAL;
        }

        r = call_hostd(1, metrics_argv, &a);
        if (r == 0)
                r = check_answer(a);
        if (r != 0)
                return r;
        text = json_get_string(a, "text");
        if (!text) {
                fprintf(stderr, "hostctl: hostd's metrics answer has no text\n");
                return EXIT_INTERNAL;
        }

        dir_fd = open(isempty(dir) ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                fprintf(stderr, "hostctl: cannot open the directory of %s: %s; create it first\n", output, strerror(errno));
                return EXIT_INTERNAL;
        }
        r = write_file_atomic_at(dir_fd, name, text, strlen(text), 0644);
        if (r < 0) {
                fprintf(stderr, "hostctl: cannot write %s: %s\n", output, strerror(-r));
                return EXIT_INTERNAL;
        }
        return 0;
}

/* The lines a client pins for ADDRESS, from the keys hostd serves (not the
 * .pub files, which may hold a key no longer served).  Run it on the
 * builder, over a channel you trust: that is what makes the pin worth it. */
static int run_known_hosts(const Verb *v, int argc, char *argv[]) {
        _cleanup_json_ json_object *cap = NULL;
        char *capacity_argv[] = { (char *) "capacity" };
        const char *address = NULL, *bad = NULL;
        uint64_t port = 22;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--port")) {
                        if (i + 1 >= argc)
                                return usage_error(v, "--port needs a value");
                        if (parse_u64(argv[++i], &port) < 0 || port == 0 || port > 65535)
                                return usage_error(v, "--port '%s' is not a port number (1-65535)", argv[i]);
                } else if (!address && argv[i][0] != '-')
                        address = argv[i];
                else
                        return usage_error(v, "unexpected argument '%s'", argv[i]);
        }
        if (!address)
                return usage_error(v, "missing argument ADDRESS");

        r = call_hostd(1, capacity_argv, &cap);
        if (r == 0)
                r = check_answer(cap);
        if (r != 0)
                return r;
        if (arg_json) {
                print_json(cap);
                return 0;
        }
        r = format_known_hosts(cap, address, (unsigned) port, stdout, &bad);
        if (r == -EINVAL)
                return usage_error(v, "'%s' is not an IP address or host name (letters, digits, '.', '-', ':')", address);
        return shown(r, bad);
}

static int run_policy(const Verb *v, int argc, char *argv[]) {
        _cleanup_policy_ Policy *p = NULL;
        _cleanup_free_ char *error = NULL;
        const char *file;
        int r;

        if (argc < 2)
                return usage_error(v, "missing subcommand %s", "check");
        if (!streq(argv[1], "check"))
                return usage_error(v, "unknown subcommand '%s'", argv[1]);
        if (argc > 3)
                return usage_error(v, "unexpected argument '%s'", argv[3]);
        file = argc == 3 ? argv[2] : NULL;

        r = policy_load(file, NULL, 0, &p, &error);
        if (r < 0) {
                /* The message already names file:line and the fix. */
                if (error)
                        fprintf(stderr, "%s%s", error, error[strlen(error) - 1] == '\n' ? "" : "\n");
                else
                        fprintf(stderr, "hostctl: cannot load policy %s: %s\n",
                                file ?: "(embedded default)", strerror(-r));
                return EXIT_BAD_REQUEST;
        }

        printf("policy OK: ");
        STRV_FOREACH(s, p->sources)
                printf("%s%s", s == p->sources ? "" : ", ", *s);
        printf("\n");
        policy_dump(p, stdout);
        return 0;
}

static int run_help(const Verb *v, int argc, char *argv[]) {
        const Verb *w;

        if (argc < 2) {
                help(stdout);
                return 0;
        }
        w = find_verb(argv[1]);
        if (!w)
                return usage_error(NULL, "unknown verb '%s'", argv[1]);
        verb_usage(w, stdout);
        return 0;
}

/* ---- command line ---- */

static bool is_value_flag(const Verb *v, const char *arg) {
        for (size_t i = 0; i < ELEMENTSOF(v->value_flags) && v->value_flags[i]; i++)
                if (streq(v->value_flags[i], arg))
                        return true;
        return false;
}

/* Counts positional arguments after the verb and spots --help, skipping
 * the values of flags so that "--reason --help" is a reason. */
static void scan_verb_args(const Verb *v, int argc, char *argv[], int *ret_positional, bool *ret_help) {
        bool dashdash = false;

        *ret_positional = 0;
        *ret_help = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (dashdash || a[0] != '-' || a[1] == 0)
                        (*ret_positional)++;
                else if (streq(a, "--"))
                        dashdash = true;
                else if (streq(a, "--help") || streq(a, "-h"))
                        *ret_help = true;
                else if (is_value_flag(v, a))
                        i++;
        }
}

static int dispatch(int argc, char *argv[]) {
        const Verb *v;
        int positional;
        bool want_help;

        if (argc < 1)
                return usage_error(NULL, "missing verb");
        v = find_verb(argv[0]);
        if (!v)
                return usage_error(NULL, "unknown verb '%s'", argv[0]);

        scan_verb_args(v, argc, argv, &positional, &want_help);
        if (want_help) {
                verb_usage(v, stdout);
                return 0;
        }
        if (v->required && positional < 1)
                return usage_error(v, "missing argument %s", v->required);

        if (v->run)
                return v->run(v, argc, argv);
        return run_remote(v, argc, argv);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_SOCKET = 0x100, ARG_JSON, ARG_TIMEOUT, ARG_VERSION };
        static const struct option options[] = {
                { "socket",  required_argument, NULL, ARG_SOCKET },
                { "json",    no_argument,       NULL, ARG_JSON },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                {}
        };
        const char *e = getenv("HOSTD_CONTROL_SOCKET");
        int c;

        arg_socket = isempty(e) ? DEFAULT_SOCKET : e;

        /* "+": global options only before the verb; the rest is the verb's. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SOCKET:
                        if (isempty(optarg)) {
                                (void) usage_error(NULL, "--socket needs a path");
                                return -EINVAL;
                        }
                        arg_socket = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_TIMEOUT:
                        if (parse_duration_sec(optarg, &arg_timeout_sec) < 0 ||
                            arg_timeout_sec > UINT64_MAX / USEC_PER_SEC / 2) {
                                (void) usage_error(NULL, "invalid --timeout '%s' (seconds, or 30s, 10m)", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("hostctl %s\n", HOSTD_VERSION);
                        return 0;
                default:
                        /* getopt said what was wrong. */
                        fprintf(stderr, "Run 'hostctl --help' for usage.\n");
                        return -EINVAL;
                }
        return 1;
}

int main(int argc, char *argv[]) {
        int r;

        /* parse_argv: < 0 usage error, 0 done (--help), > 0 go on with the verb. */
        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_BAD_REQUEST;
        if (r > 0)
                r = dispatch(argc - optind, argv + optind);

        if (fflush(stdout) != 0 && r == 0) {
                fprintf(stderr, "hostctl: cannot write the output: %s\n", strerror(errno));
                r = EXIT_INTERNAL;
        }
        return r;
}
