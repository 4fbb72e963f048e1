/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "fork-util.h"
#include "list.h"
#include "login.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "session-messages.h"
#include "source-bucket.h"
#include "sshkeys.h"

#define LISTEN_FDS_MAX 8
/* Sources that fail this many authentications within PENALTY_WINDOW are
 * refused for PENALTY_TIME: a cheap brake on password-spraying style load. */
#define PENALTY_FAILURES 20
#define PENALTY_WINDOW_USEC (60 * USEC_PER_SEC)
#define PENALTY_TIME_USEC (60 * USEC_PER_SEC)
#define PENALTY_SOURCES_MAX 1024
/* With ControllerSources= empty, the addresses the controller logged in
 * from lately may use the reserved ControllerStartups slots.  Addresses,
 * not buckets: a bucket holds the controller's neighbours too, and they
 * could take the reserved slots by staying silent in them. */
#define CONTROLLER_ADDRESSES_MAX 64
#define CONTROLLER_ADDRESS_TTL_USEC (24 * 3600 * USEC_PER_SEC)

typedef struct Session Session;

struct Session {
        Listener *listener;
        LIST_FIELDS(Session, sessions);
        uint64_t serial;
        pid_t pid;
        int fd;
        sd_event_source *io_source, *child_source;
        char source[INET6_ADDRSTRLEN];
        char bucket[SOURCE_BUCKET_MAX]; /* what the per-source caps and penalties count */
        char connection[160];   /* SSH_CONNECTION: "SRC SPORT DST DPORT" */
        bool exempt;            /* from ControllerSources: not counted against caps */
        bool reserved;          /* in a ControllerStartups slot: the controller user only */
        bool authenticated;
        bool controller;
        bool limit_logged;      /* MaxSessionsPerJob refusal logged (a client probes, then signs) */
        char job[JOB_ID_LEN + 1];
};

typedef struct Penalty {
        char source[SOURCE_BUCKET_MAX];         /* a bucket */
        unsigned failures;
        usec_t window_start;
        usec_t until;
} Penalty;

typedef struct ControllerAddress {
        char address[INET6_ADDRSTRLEN];
        usec_t last;
} ControllerAddress;

struct Listener {
        Daemon *daemon;
        int fds[LISTEN_FDS_MAX];
        sd_event_source *sources[LISTEN_FDS_MAX];
        size_t n_fds;
        bool socket_activated;
        Session *sessions;
        uint64_t next_serial;
        Penalty *penalties;
        size_t n_penalties;
        LocalAddresses local;
        ControllerAddress controller_addresses[CONTROLLER_ADDRESSES_MAX];
        size_t n_controller_addresses;
        SshStats stats;
        SshFrontend frontend;           /* registered as the daemon's d->ssh */
        void (*drained)(void *userdata); /* set while stopping */
        void *drained_userdata;
};

/* Unauthenticated connections in the shared pool (MaxStartups), of one
 * bucket or (NULL) of all. */
static unsigned count_unauth(const Listener *l, const char *bucket) {
        unsigned n = 0;
        LIST_FOREACH(sessions, s, l->sessions)
                if (!s->authenticated && !s->exempt && !s->reserved && (!bucket || streq(s->bucket, bucket)))
                        n++;
        return n;
}

static unsigned count_reserved(const Listener *l) {
        unsigned n = 0;
        LIST_FOREACH(sessions, s, l->sessions)
                if (!s->authenticated && s->reserved)
                        n++;
        return n;
}

static unsigned count_job_sessions(const Listener *l, const char *job) {
        unsigned n = 0;
        LIST_FOREACH(sessions, s, l->sessions)
                if (s->authenticated && streq(s->job, job))
                        n++;
        return n;
}

static unsigned sessions_needing_main(const Listener *l) {
        unsigned n = 0;
        LIST_FOREACH(sessions, s, l->sessions)
                if (!s->authenticated || s->controller)
                        n++;
        return n;
}

static void check_drained(Listener *l) {
        if (l->drained && sessions_needing_main(l) == 0) {
                void (*done)(void *) = l->drained;

                l->drained = NULL;
                done(l->drained_userdata);
        }
}

/* ---- the core's view of us (SshFrontend in daemon.h) ---------------------- */

static unsigned frontend_sessions_needing_main(void *userdata) {
        return sessions_needing_main(userdata);
}

static void frontend_stats(void *userdata, SshStats *ret) {
        const Listener *l = userdata;

        *ret = l->stats;
        ret->sessions = 0;
        LIST_FOREACH(sessions, s, l->sessions)
                ret->sessions++;
        ret->unauthenticated = count_unauth(l, NULL) + count_reserved(l);
}

/* ---- addresses ----------------------------------------------------------- */

static bool is_controller_source(const Policy *p, const char *source) {
        STRV_FOREACH(c, p->controller_sources)
                if (source_in_cidr(source, *c))
                        return true;
        return false;
}

static void source_bucket_of(Listener *l, const char *source, char ret[static SOURCE_BUCKET_MAX]) {
        const Policy *p = l->daemon->policy;
        SourceBucketConfig c = {
                .prefix_ipv4 = p->source_prefix_ipv4,
                .prefix_ipv6 = p->source_prefix_ipv6,
                .local_as_one = p->local_sources_as_one,
                .local = &l->local,
        };

        /* Not an address (cannot happen on a TCP socket): one bucket of its own. */
        if (source_bucket(source, &c, ret) < 0)
                snprintf(ret, SOURCE_BUCKET_MAX, "unknown");
}

static ControllerAddress *controller_address_find(Listener *l, const char *source) {
        usec_t t = now(CLOCK_MONOTONIC);

        for (size_t i = 0; i < l->n_controller_addresses; i++) {
                ControllerAddress *c = &l->controller_addresses[i];
                if (streq(c->address, source) && t - c->last < CONTROLLER_ADDRESS_TTL_USEC)
                        return c;
        }
        return NULL;
}

static void controller_address_remember(Listener *l, const char *source) {
        ControllerAddress *c = NULL;

        for (size_t i = 0; i < l->n_controller_addresses && !c; i++)
                if (streq(l->controller_addresses[i].address, source))
                        c = &l->controller_addresses[i];
        if (!c) {
                /* Bounded: reuse the slot of an expired or the oldest entry. */
                if (l->n_controller_addresses < CONTROLLER_ADDRESSES_MAX)
                        c = &l->controller_addresses[l->n_controller_addresses++];
                else {
                        c = &l->controller_addresses[0];
                        for (size_t i = 1; i < l->n_controller_addresses; i++)
                                if (l->controller_addresses[i].last < c->last)
                                        c = &l->controller_addresses[i];
                }
                snprintf(c->address, sizeof(c->address), "%s", source);
        }
        c->last = now(CLOCK_MONOTONIC);
}

/* May this source use the reserved ControllerStartups slots?  With
 * ControllerSources= set, those are exempt from every cap already. */
static bool is_recent_controller_address(Listener *l, const char *source) {
        const Policy *p = l->daemon->policy;

        if (p->controller_sources && p->controller_sources[0])
                return false;
        return controller_address_find(l, source);
}

static Penalty *penalty_find(Listener *l, const char *source, bool create) {
        Penalty *n;

        for (size_t i = 0; i < l->n_penalties; i++)
                if (streq(l->penalties[i].source, source))
                        return &l->penalties[i];
        if (!create)
                return NULL;
        if (l->n_penalties >= PENALTY_SOURCES_MAX) {
                /* Bounded: forget the oldest entry rather than grow. */
                memmove(l->penalties, l->penalties + 1, (l->n_penalties - 1) * sizeof(Penalty));
                l->n_penalties--;
        }
        n = realloc(l->penalties, (l->n_penalties + 1) * sizeof(Penalty));
        if (!n)
                return NULL;
        l->penalties = n;
        n = &l->penalties[l->n_penalties++];
        *n = (Penalty) {};
        snprintf(n->source, sizeof(n->source), "%s", source);
        return n;
}

static void penalty_record_failure(Listener *l, const char *source) {
        usec_t t = now(CLOCK_MONOTONIC);
        Penalty *p = penalty_find(l, source, true);

        if (!p)
                return;
        if (t - p->window_start > PENALTY_WINDOW_USEC) {
                p->window_start = t;
                p->failures = 0;
        }
        if (++p->failures >= PENALTY_FAILURES && p->until < t) {
                p->until = t + PENALTY_TIME_USEC;
                log_notice("Source %s failed %u authentications within %llus: refusing its connections for %llus",
                           source, p->failures, (unsigned long long) (PENALTY_WINDOW_USEC / USEC_PER_SEC),
                           (unsigned long long) (PENALTY_TIME_USEC / USEC_PER_SEC));
        }
}

static bool penalty_active(Listener *l, const char *source) {
        Penalty *p = penalty_find(l, source, false);
        return p && p->until > now(CLOCK_MONOTONIC);
}

/* ---- sessions ------------------------------------------------------------ */

static void session_free(Session *s) {
        Listener *l = s->listener;

        LIST_REMOVE(sessions, l->sessions, s);
        sd_event_source_disable_unref(s->io_source);
        sd_event_source_disable_unref(s->child_source);
        safe_close(s->fd);
        free(s);
}

static Session *session_by_serial(Listener *l, uint64_t serial) {
        LIST_FOREACH(sessions, s, l->sessions)
                if (s->serial == serial)
                        return s;
        return NULL;
}

static void session_kill(Session *s, const char *why) {
        log_info("Ending SSH session from %s%s%s: %s", s->source, s->job[0] ? " for job " : "", s->job, why);
        (void) kill(s->pid, SIGTERM);
        /* Stop listening to it; its exit is still reaped by the child source. */
        s->io_source = sd_event_source_disable_unref(s->io_source);
        s->fd = safe_close(s->fd);
}

static int send_or_kill(Session *s, json_object *o) {
        int r = s->fd >= 0 ? json_seqpacket_send(s->fd, o, NULL, 0) : -EBADF;
        json_object_put(o);
        if (r < 0 && s->fd >= 0)
                session_kill(s, "its monitor does not take messages");
        return r;
}

static void handle_auth(void *userdata, json_object *m) {
        Session *s = userdata;
        Listener *l = s->listener;
        /* Checked by the dispatch: present, within their caps, before authentication. */
        const char *user = session_message_string(m, "user"), *key = session_message_string(m, "key");
        char message[256] = "";
        json_object *reply;
        LoginDecision a;
        bool final = false, limit = false;

        (void) session_message_bool(m, "final", &final);
        if (s->reserved && !streq(user, l->daemon->policy->controller_user)) {
                /* Admitted only because it came from the controller's address. */
                l->stats.auth_failures_total++;
                penalty_record_failure(l, s->bucket);
                session_kill(s, "it was admitted to a reserved controller slot (ControllerStartups) but logs in as another user");
                return;
        }
        a = login_check(l->daemon, user, key, s->exempt);
        if (a.ok && a.job) {
                unsigned n = count_job_sessions(l, a.job->id), max = l->daemon->policy->max_sessions_per_job;

                /* Refused before the client signs, and not a penalty: the key
                 * is right, the job only has to close a connection. */
                if (n >= max) {
                        snprintf(message, sizeof(message),
                                 "hostd: job %s already has %u SSH connections open, its limit (MaxSessionsPerJob=%u); "
                                 "close one and retry.\r\n", a.job->id, n, max);
                        if (!s->limit_logged)
                                log_job(LOG_NOTICE, a.job->id, a.job->owner,
                                        "Refused an SSH connection from %s: the job has %u SSH connections open (MaxSessionsPerJob=%u)",
                                        s->source, n, max);
                        s->limit_logged = true;
                        l->stats.rejected_per_job_total++;
                        a = (LoginDecision) {};
                        limit = true;
                }
        }
        reply = session_message_new(SESSION_MESSAGE_AUTH_REPLY);
        json_object_object_add(reply, "ok", json_object_new_boolean(a.ok));
        if (a.ok) {
                char home[4096];

                json_add_string(reply, "kind", a.controller ? "controller" : "job");
                if (a.job) {
                        (void) job_path(home, sizeof(home), l->daemon->store->path, a.job->id, "home");
                        json_add_string(reply, "job", a.job->id);
                        json_add_int(reply, "uid", a.job->uid_base);
                        json_add_string(reply, "home", home);
                        json_add_int(reply, "anchor", a.job->anchor_pid);
                        json_add_string(reply, "cgroup", a.job->cgroup_path);
                        {
                                json_object *env = json_object_new_array();
                                STRV_FOREACH(e, a.job->env)
                                        json_object_array_add(env, json_object_new_string(*e));
                                json_object_object_add(reply, "env", env);
                        }
                }
        }
        if (message[0])
                json_add_string(reply, "message", message);
        if (!a.ok && !limit) {
                /* A refused probe counts as much as a refused signature: a
                 * client trying keys is what MaxAuthTries and penalties are for. */
                l->stats.auth_failures_total++;
                penalty_record_failure(l, s->bucket);
                log_notice("Refused SSH key for '%s' from %s: %s", user, s->source, a.reason);
        } else if (a.ok && final) {
                s->authenticated = true;
                s->controller = a.controller;
                if (a.job)
                        snprintf(s->job, sizeof(s->job), "%s", a.job->id);
                l->stats.auth_successes_total++;
                if (a.job)
                        log_job(LOG_INFO, a.job->id, a.job->owner, "SSH session authenticated from %s", s->source);
                else {
                        log_info("Controller authenticated from %s%s", s->source,
                                 s->reserved ? " (in a reserved ControllerStartups slot)" : "");
                        controller_address_remember(l, s->source);
                }
        }
        /* A granted probe decides nothing: only the signed request does. */
        send_or_kill(s, reply);
        /* A job session no longer needs us: a stop may be waiting for it. */
        check_drained(l);
}

typedef struct ApiCtx {
        Listener *listener;
        uint64_t serial;
        int64_t id;
} ApiCtx;

static void api_reply(void *userdata, json_object *answer) {
        ApiCtx *c = userdata;
        Session *s = session_by_serial(c->listener, c->serial);

        if (s && s->fd >= 0) {
                json_object *m = session_message_new(SESSION_MESSAGE_API_REPLY);
                const char *text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PRETTY |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);

                json_add_int(m, "id", c->id);
                json_add_string(m, "answer", text);
                json_add_int(m, "status", api_answer_status(answer));
                send_or_kill(s, m);
        }
        json_object_put(answer);
        free(c);
}

static void handle_api(void *userdata, json_object *m) {
        Session *s = userdata;
        /* Checked by the dispatch: the controller's, within SESSION_COMMAND_MAX. */
        const char *line = session_message_string(m, "cmdline");
        _cleanup_strv_free_ char **argv = NULL;
        char error[256];
        size_t argc = 0;
        ApiCtx *c;
        int64_t id = 0;

        (void) session_message_int(m, "id", &id);
        c = malloc(sizeof(ApiCtx));
        if (!c)
                return;
        *c = (ApiCtx) { s->listener, s->serial, id };
        if (api_split_command_line(line, &argv, &argc, error, sizeof(error)) < 0) {
                api_reply(c, api_error_answer(API_ERROR_BAD_REQUEST, "cannot parse the command line: %s", error));
                return;
        }
        log_debug("Controller API request from %s: %s", s->source, argc > 0 ? argv[0] : "");
        api_dispatch(s->listener->daemon, API_CALLER_CONTROLLER, argv, argc, api_reply, c);
}

/* What a monitor may send us. */
static const SessionDispatch session_dispatch[] = {
        { SESSION_MESSAGE_AUTH, SESSION_PREAUTH,    handle_auth },
        { SESSION_MESSAGE_API,  SESSION_CONTROLLER, handle_api  },
};

static int on_session_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Session *s = userdata;
        const SessionDispatch *d;
        json_object *m = NULL;
        int r;

        r = json_seqpacket_recv(fd, &m, NULL, NULL);
        if (r == -EAGAIN)
                return 0;
        if (r < 0) {
                /* The monitor closed its end or sent garbage; its exit is reaped separately. */
                if (r != -ECONNRESET)
                        session_kill(s, "malformed message from its monitor");
                else {
                        s->io_source = sd_event_source_disable_unref(s->io_source);
                        s->fd = safe_close(s->fd);
                }
                return 0;
        }
        d = session_dispatch_lookup(session_dispatch, ELEMENTSOF(session_dispatch),
                                    &(SessionState) { .authenticated = s->authenticated, .controller = s->controller,
                                                      .awaiting = _SESSION_MESSAGE_INVALID },
                                    m, &r);
        if (d)
                d->handler(s, m);
        else
                session_kill(s, r == -ENOMSG ? "unknown message from its monitor" :
                                r == -EPERM ? "message from its monitor not allowed in the session's state" :
                                "malformed message from its monitor");
        json_object_put(m);
        return 0;
}

static int on_session_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Session *s = userdata;
        Listener *l = s->listener;

        log_debug("SSH session from %s ended (monitor pid %d)", s->source, (int) s->pid);
        session_free(s);
        check_drained(l);
        return 0;
}

static int send_config(Listener *l, Session *s) {
        const Policy *p = l->daemon->policy;
        json_object *m = session_message_new(SESSION_MESSAGE_CONFIG), *env = json_object_new_array();

        json_add_string(m, "source", s->source);
        json_add_string(m, "connection", s->connection);
        json_add_int(m, "login_grace_usec", (int64_t) (p->login_grace_sec * USEC_PER_SEC));
        json_add_int(m, "max_auth_tries", p->max_auth_tries);
        STRV_FOREACH(e, p->accept_env)
                json_object_array_add(env, json_object_new_string(*e));
        json_object_object_add(m, "accept_env", env);
        env = json_object_new_array();
        STRV_FOREACH(e, p->seccomp_extra_deny)
                json_object_array_add(env, json_object_new_string(*e));
        json_object_object_add(m, "seccomp_extra_deny", env);
        json_add_string(m, "host_key_ed25519", l->daemon->host_keys.keys[0].path);
        json_add_string(m, "host_key_rsa", host_keys_path(&l->daemon->host_keys, HOST_KEY_RSA));
        json_add_string(m, "host_key_ecdsa", host_keys_path(&l->daemon->host_keys, HOST_KEY_ECDSA));
        json_add_string(m, "controller_user", p->controller_user);
        json_add_string(m, "empty_dir", l->daemon->empty_dir);
        json_add_int(m, "log_level", log_get_max_level());
        return send_or_kill(s, m);
}

/* "ADDR PORT" of either end, IPv4-mapped addresses shown as IPv4. */
static void format_endpoint(const struct sockaddr_storage *sa, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "unknown";
        unsigned port = 0;

        if (sa->ss_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, a, sizeof(a));
                port = ntohs(((const struct sockaddr_in *) sa)->sin_port);
        } else if (sa->ss_family == AF_INET6) {
                const struct in6_addr *a6 = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(a6))
                        inet_ntop(AF_INET, &a6->s6_addr[12], a, sizeof(a));
                else
                        inet_ntop(AF_INET6, a6, a, sizeof(a));
                port = ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
        }
        snprintf(buf, size, "%s %u", a, port);
}

static int spawn_monitor(Listener *l, int cfd, const char *source, const char *bucket, bool exempt, bool reserved) {
        _cleanup_close_pair_ int sp[2] = { -1, -1 };
        Session *s;
        int r;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return negative_errno();
        pid = safe_fork(NULL, FORK_UNBLOCK_SIGNALS);
        if (pid < 0)
                return pid;
        if (pid == 0) {
                static char *const argv[] = { (char *) "hostd-session", NULL };
                char *envp[4];
                size_t n = 0;

                /* A fresh image per connection: new ASLR layout, nothing of the
                 * main process's memory (registry, policy) in reach. */
                /* fd 5: this binary, close-on-exec, for fexecve() below. */
                if (dup2(cfd, 3) < 0 || dup2(sp[1], 4) < 0 || dup3(l->daemon->exe_fd, 5, O_CLOEXEC) < 0)
                        _exit(127);
                close_range(6, ~0U, 0);
                if (getenv("JOURNAL_STREAM"))
                        envp[n++] = strdupa(getenv("JOURNAL_STREAM") - strlen("JOURNAL_STREAM="));
                if (getenv("HOSTD_LOG_LEVEL"))
                        envp[n++] = strdupa(getenv("HOSTD_LOG_LEVEL") - strlen("HOSTD_LOG_LEVEL="));
                envp[n] = NULL;
                fexecve(5, argv, envp);
                _exit(127);
        }
        sp[1] = safe_close(sp[1]);

        s = calloc(1, sizeof(Session));
        if (!s) {
                (void) kill(pid, SIGKILL);
                return -ENOMEM;
        }
        s->listener = l;
        s->serial = ++l->next_serial;
        s->pid = pid;
        s->fd = TAKE_FD(sp[0]);
        s->exempt = exempt;
        s->reserved = reserved;
        snprintf(s->source, sizeof(s->source), "%s", source);
        snprintf(s->bucket, sizeof(s->bucket), "%s", bucket);
        {
                struct sockaddr_storage peer = {}, local = {};
                socklen_t pl = sizeof(peer), ll = sizeof(local);
                char p[80], lo[80];

                (void) getpeername(cfd, (struct sockaddr *) &peer, &pl);
                (void) getsockname(cfd, (struct sockaddr *) &local, &ll);
                format_endpoint(&peer, p, sizeof(p));
                format_endpoint(&local, lo, sizeof(lo));
                snprintf(s->connection, sizeof(s->connection), "%s %s", p, lo);
        }
        LIST_PREPEND(sessions, l->sessions, s);

        (void) fcntl(s->fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_child(l->daemon->event, &s->child_source, pid, WEXITED, on_session_exit, s);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                session_free(s);
                return r;
        }
        r = sd_event_add_io(l->daemon->event, &s->io_source, s->fd, EPOLLIN, on_session_io, s);
        if (r < 0) {
                session_kill(s, "cannot watch its monitor");
                return r;
        }
        return send_config(l, s);
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;
        const Policy *p = l->daemon->policy;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        char source[INET6_ADDRSTRLEN] = "unknown", bucket[SOURCE_BUCKET_MAX];
        bool exempt, reserved = false;
        int cfd, r;

        cfd = accept4(fd, (struct sockaddr *) &sa, &salen, SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "accept() failed: %m");
                return 0;
        }
        if (sa.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *) &sa)->sin_addr, source, sizeof(source));
        else if (sa.ss_family == AF_INET6) {
                struct in6_addr *a6 = &((struct sockaddr_in6 *) &sa)->sin6_addr;
                /* IPv4 clients on a dual-stack socket: match them as IPv4. */
                if (IN6_IS_ADDR_V4MAPPED(a6))
                        inet_ntop(AF_INET, &a6->s6_addr[12], source, sizeof(source));
                else
                        inet_ntop(AF_INET6, a6, source, sizeof(source));
        }
        l->stats.accepted_total++;

        source_bucket_of(l, source, bucket);
        exempt = is_controller_source(p, source);
        if (!exempt) {
                uint64_t *counter = NULL;

                if (penalty_active(l, bucket)) {
                        counter = &l->stats.rejected_penalty_total;
                        log_debug("Refusing connection from %s: source %s is penalized", source, bucket);
                } else if (count_unauth(l, NULL) >= p->max_startups) {
                        counter = &l->stats.rejected_startups_total;
                        log_debug("Refusing connection from %s: %u unauthenticated connections (MaxStartups)", source,
                                  p->max_startups);
                } else if (count_unauth(l, bucket) >= p->per_source_max_startups) {
                        counter = &l->stats.rejected_per_source_total;
                        log_debug("Refusing connection from %s: PerSourceMaxStartups=%u reached for source %s", source,
                                  p->per_source_max_startups, bucket);
                }
                /* Whoever fills the pool or the controller's own source (which
                 * it may share: loopback is one source), the controller keeps
                 * a way in. */
                if (counter && is_recent_controller_address(l, source) && count_reserved(l) < p->controller_startups) {
                        log_info("Admitting a connection from %s to a reserved controller slot (ControllerStartups=%u)",
                                 source, p->controller_startups);
                        l->stats.admitted_reserved_total++;
                        reserved = true;
                } else if (counter) {
                        (*counter)++;
                        close(cfd);
                        return 0;
                }
        }
        /* libssh sets TCP_NODELAY only on sockets it connects itself; without
         * it the small exit-status/EOF/close packets wait ~40 ms for the
         * client's delayed ACK on every command. */
        (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
        r = spawn_monitor(l, cfd, source, bucket, exempt, reserved);
        close(cfd);
        if (r < 0)
                log_warning_errno(r, "Cannot start a session for %s: %m", source);
        return 0;
}

static int open_socket(const Policy *p, int *ret) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } u = {};
        _cleanup_close_ int fd = -1;
        socklen_t len;
        int one = 1, zero = 0;

        if (inet_pton(AF_INET, p->listen_address, &u.in.sin_addr) == 1) {
                u.in.sin_family = AF_INET;
                u.in.sin_port = htons(p->listen_port);
                len = sizeof(u.in);
        } else if (inet_pton(AF_INET6, p->listen_address, &u.in6.sin6_addr) == 1) {
                u.in6.sin6_family = AF_INET6;
                u.in6.sin6_port = htons(p->listen_port);
                len = sizeof(u.in6);
        } else
                return -EINVAL;

        fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (u.sa.sa_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, &u.sa, len) < 0)
                return negative_errno();
        if (listen(fd, 256) < 0)
                return negative_errno();
        *ret = TAKE_FD(fd);
        return 0;
}

/* The port clients reach us on: the listening socket's own, which is the
 * one systemd chose under socket activation. */
static uint16_t frontend_port(void *userdata) {
        const Listener *l = userdata;

        struct sockaddr_storage sa = {};
        socklen_t len = sizeof(sa);

        if (l->n_fds == 0 || getsockname(l->fds[0], (struct sockaddr *) &sa, &len) < 0)
                return l->daemon->policy->listen_port;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &sa)->sin_port);
        if (sa.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &sa)->sin6_port);
        return l->daemon->policy->listen_port;
}

/* Stopping: accept nothing more (under socket activation the kernel keeps
 * new connections queued for the next hostd), and call done once no
 * session needs this process any more: those still authenticating and the
 * controller's.  Authenticated job sessions carry on without us. */
static void frontend_drain(void *userdata, void (*done)(void *done_userdata), void *done_userdata) {
        Listener *l = userdata;

        for (size_t i = 0; i < l->n_fds; i++)
                (void) sd_event_source_set_enabled(l->sources[i], SD_EVENT_OFF);
        l->drained = done;
        l->drained_userdata = done_userdata;
        check_drained(l);
}

/* The policy was reloaded: re-reads the host's addresses (one source with
 * loopback, see source-bucket.h). */
static void frontend_policy_changed(void *userdata) {
        Listener *l = userdata;
        int r = local_addresses_load(&l->local);

        if (r < 0)
                log_warning_errno(r, "Cannot list this host's addresses, keeping the previous list: %m");
}

/* Ends every SSH session of a job (its release started). */
static void frontend_terminate_job(void *userdata, const char *job) {
        Listener *l = userdata;

        LIST_FOREACH(sessions, s, l->sessions)
                if (streq(s->job, job))
                        session_kill(s, "its job is being released");
}

int listener_new(Daemon *d, Listener **ret) {
        Listener *l;
        int n, r;

        l = calloc(1, sizeof(Listener));
        if (!l)
                return -ENOMEM;
        l->daemon = d;
        /* Without the list, only loopback counts as local: the host's other
         * addresses are then ordinary sources, which is not fatal. */
        r = local_addresses_load(&l->local);
        if (r < 0)
                log_warning_errno(r, "Cannot list this host's addresses; only loopback counts as one local source: %m");

        /* hostd.socket (socket activation) wins over the policy's address. */
        n = sd_listen_fds(true);
        if (n < 0) {
                free(l);
                return log_error_errno(n, "Cannot read the sockets systemd passed: %m");
        }
        if (n > 0) {
                for (int i = 0; i < n && l->n_fds < LISTEN_FDS_MAX; i++) {
                        int fd = SD_LISTEN_FDS_START + i;
                        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                                log_warning("Ignoring passed fd %d: not a listening stream socket", fd);
                                continue;
                        }
                        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                        l->fds[l->n_fds++] = fd;
                }
                l->socket_activated = true;
                log_info("Serving SSH on %zu socket(s) passed by systemd", l->n_fds);
        } else {
                r = open_socket(d->policy, &l->fds[0]);
                if (r < 0) {
                        free(l);
                        return log_error_errno(r, "Cannot listen on %s port %u: %m; is another sshd or hostd on it? "
                                               "Change [Listen] Address/Port or --listen",
                                               d->policy->listen_address, d->policy->listen_port);
                }
                l->n_fds = 1;
        }
        for (size_t i = 0; i < l->n_fds; i++) {
                r = sd_event_add_io(d->event, &l->sources[i], l->fds[i], EPOLLIN, on_accept, l);
                if (r < 0) {
                        listener_free(l);
                        return r;
                }
        }
        l->frontend = (SshFrontend) {
                .userdata = l,
                .port = frontend_port,
                .sessions_needing_main = frontend_sessions_needing_main,
                .drain = frontend_drain,
                .policy_changed = frontend_policy_changed,
                .terminate_job = frontend_terminate_job,
                .stats = frontend_stats,
        };
        d->ssh = &l->frontend;
        *ret = l;
        return 0;
}

Listener *listener_free(Listener *l) {
        if (!l)
                return NULL;
        if (l->daemon->ssh == &l->frontend)
                l->daemon->ssh = NULL;
        /* Established sessions outlive a restart of hostd: monitors see their
         * socket to us close and carry on; unauthenticated ones give up. */
        while (l->sessions)
                session_free(l->sessions);
        for (size_t i = 0; i < l->n_fds; i++) {
                sd_event_source_disable_unref(l->sources[i]);
                safe_close(l->fds[i]);
        }
        free(l->penalties);
        free(l);
        return NULL;
}
