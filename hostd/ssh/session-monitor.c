/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>

#include "cgroup.h"
#include "fork-util.h"
#include "log.h"
#include "macros.h"
#include "podman-config.h"
#include "job-seccomp.h"
#include "sandbox.h"
#include "session.h"
#include "time-util.h"

typedef struct Spawn {
        int64_t id;      /* the net child's channel id */
        pid_t pid;       /* leader of its own session and process group */
} Spawn;

typedef struct Monitor {
        int main_fd, net_fd, signal_fd, timer_fd;
        pid_t net_pid;
        char source[64];
        char connection[160];
        int64_t max_auth_tries;
        unsigned auth_failures;
        char **accept_env;
        bool authenticated;
        bool controller;
        bool auth_pending;        /* a net child auth query is at the main process */
        bool pending_final;       /* ... and it is the signed one, not a probe */
        char job[32];
        uid_t uid;
        char home[4096];
        Sandbox sandbox;          /* the job's anchor, entered by every spawn */
        char cgroup[512];         /* the job's cgroupfs directory, "" if none */
        char **job_env;           /* podman's variables for this job */
        char **seccomp_extra_deny;
        Spawn spawns[SESSION_CHANNELS_MAX];
        size_t n_spawns;
} Monitor;

static int send_simple(int fd, json_object *o) {
        int r = json_seqpacket_send(fd, o, NULL, 0);
        json_object_put(o);
        return r;
}

static _noreturn_ void monitor_exit(Monitor *m, int status) {
        /* Whatever the job started in this connection hears the hang-up, as a
         * terminal's processes do; nohup'ed work carries on until release. */
        for (size_t i = 0; i < m->n_spawns; i++) {
                (void) kill(-m->spawns[i].pid, SIGHUP);
                (void) kill(-m->spawns[i].pid, SIGCONT);
        }
        if (m->net_pid > 0) {
                (void) kill(m->net_pid, SIGKILL);
                /* Reaped here: hostd is a subreaper and would inherit a zombie. */
                (void) waitpid(m->net_pid, NULL, 0);
        }
        /* Our spawned children live in the job's pid namespace but are our
         * children: orphaned, they would go to a reaper outside it that never
         * reaps them, and the job's PID 1 could then never finish exiting
         * (it waits for every process of its namespace).  So we wait; one
         * that ignores the hang-up keeps us until release kills the job. */
        for (size_t i = 0; i < m->n_spawns; i++)
                while (waitpid(m->spawns[i].pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        _exit(status);
}

/* A crash of the SSH code must not pass for a disconnect: say so. */
static void log_net_death(Monitor *m, int status) {
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
                log_warning("The SSH process of the connection from %s died of signal %d (%s)", m->source,
                            WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Refused keys are logged by the main process with their reason; a client
 * that offers no key at all (a password, say) would otherwise leave no trace. */
static void log_preauth_end(Monitor *m) {
        if (!m->authenticated)
                log_info("Connection from %s closed before authenticating (%u key(s) refused; only publickey is accepted)",
                         m->source, m->auth_failures);
}

/* The net child closed its socket: it is exiting (or crashed).  Reap it to
 * see which; SIGKILL first, so a child that closed it and hangs cannot block us. */
static void reap_net(Monitor *m) {
        int status;

        if (m->net_pid <= 0)
                return;
        (void) kill(m->net_pid, SIGKILL);
        if (waitpid(m->net_pid, &status, 0) == m->net_pid)
                log_net_death(m, status);
        m->net_pid = 0;
}

static bool env_allowed(Monitor *m, const char *entry) {
        const char *eq = strchr(entry, '=');
        size_t nl;

        if (!eq || eq == entry || strlen(entry) > 8192)
                return false;
        nl = (size_t) (eq - entry);
        if ((nl == 4 && strneq(entry, "LANG", 4)) || (nl > 3 && strneq(entry, "LC_", 3)))
                return true;
        STRV_FOREACH(a, m->accept_env) {
                size_t al = strlen(*a);
                if (al > 0 && (*a)[al - 1] == '*') {
                        if (nl >= al - 1 && strneq(entry, *a, al - 1))
                                return true;
                } else if (al == nl && strneq(entry, *a, nl))
                        return true;
        }
        return false;
}

/* Runs in the forked child (already in the job's pid namespace, because
 * the monitor joined it for its children): into the job's cgroup, its
 * namespaces and its seccomp filter, then exec. */
/* In the job's namespaces: a pty from the job's own devpts, so that tty(1)
 * and friends find it; the slave becomes our controlling terminal and
 * stdio, the master goes back to the monitor through sock. */
static int open_job_pty(int sock, unsigned short cols, unsigned short rows) {
        struct winsize ws = { .ws_row = rows, .ws_col = cols };
        _cleanup_close_ int master = -1, slave = -1;
        json_object *o;
        int r;

        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
                return negative_errno();
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0)
                return negative_errno();
        (void) ioctl(slave, TIOCSWINSZ, &ws);
        if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
                return negative_errno();
        o = session_message_new(SESSION_MESSAGE_PTY);
        r = json_seqpacket_send(sock, o, &master, 1);
        json_object_put(o);
        return r;
}

static _noreturn_ void exec_job(Monitor *m, const char *mode, const char *command, json_object *env, const char *term,
                                int pty_sock, unsigned short cols, unsigned short rows) {
        char *envp[SESSION_ENV_MAX + 32];
        size_t n = 0;
        char buf[8][4200];
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
                signal(s, SIG_DFL);

        {
                /* Into the job's cgroup while still host root. */
                int r = m->cgroup[0] ? cgroup_attach_path(m->cgroup, 0) : 0;
                if (r < 0) {
                        log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot join the job's cgroup %s: %m", m->cgroup);
                        _exit(126);
                }
                r = sandbox_enter(m->sandbox.pidfd, m->sandbox.anchor, m->home);
                if (r < 0) {
                        log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot enter the job's sandbox: %m");
                        _exit(126);
                }
                if (pty_sock >= 0) {
                        r = open_job_pty(pty_sock, cols, rows);
                        if (r < 0) {
                                log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot open a pty in the job: %m");
                                _exit(126);
                        }
                }
                /* Nothing of ours goes with the job: the pidfd was the last use. */
                close_range(3, ~0U, 0);
                r = job_seccomp_install(m->seccomp_extra_deny, false);
                if (r < 0) {
                        log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot install the job's seccomp filter: %m");
                        _exit(126);
                }
        }

        snprintf(buf[0], sizeof(buf[0]), "HOME=%s", m->home);
        /* Inside, the job is root of its own user namespace. */
        snprintf(buf[1], sizeof(buf[1]), "USER=root");
        snprintf(buf[2], sizeof(buf[2]), "LOGNAME=root");
        snprintf(buf[3], sizeof(buf[3]), "SHELL=/bin/sh");
        snprintf(buf[4], sizeof(buf[4]), "PATH=" JOB_DEFAULT_PATH);
        /* The job's own PATH (emulated jobs: podman_config_env()) replaces
         * the default rather than shadowing it: a second PATH= in the
         * environment would be ignored by some programs and not others. */
        STRV_FOREACH(e, m->job_env)
                if (startswith(*e, "PATH="))
                        snprintf(buf[4], sizeof(buf[4]), "%s", *e);
        snprintf(buf[5], sizeof(buf[5]), "SSH_CONNECTION=%s", m->connection);
        {
                /* SSH_CLIENT is "SRC SPORT DPORT". */
                char src[64] = "", sport[16] = "", dport[16] = "";
                (void) sscanf(m->connection, "%63s %15s %*s %15s", src, sport, dport);
                snprintf(buf[7], sizeof(buf[7]), "SSH_CLIENT=%s %s %s", src, sport, dport);
        }
        for (int i = 0; i < 6; i++)
                envp[n++] = buf[i];
        envp[n++] = buf[7];
        if (term) {
                snprintf(buf[6], sizeof(buf[6]), "TERM=%s", term);
                envp[n++] = buf[6];
        }
        STRV_FOREACH(e, m->job_env)
                if (n < ELEMENTSOF(envp) - 1 && !startswith(*e, "PATH="))
                        envp[n++] = *e;
        for (size_t i = 0; env && i < json_object_array_length(env) && n < ELEMENTSOF(envp) - 1; i++) {
                const char *e = json_object_get_string(json_object_array_get_idx(env, i));
                if (e && env_allowed(m, e))
                        envp[n++] = (char *) e;
        }
        envp[n] = NULL;

        if (streq(mode, "sftp")) {
                char *argv[] = { (char *) "sftp-server", NULL };
                execve(SFTP_SERVER_PATH, argv, envp);
        } else if (streq(mode, "shell")) {
                char *argv[] = { (char *) "-sh", NULL };
                execve("/bin/sh", argv, envp);
        } else {
                char *argv[] = { (char *) "sh", (char *) "-c", (char *) command, NULL };
                execve("/bin/sh", argv, envp);
        }
        _exit(127);
}

static void spawn_reply_error(Monitor *m, int64_t id, const char *error) {
        json_object *o = session_message_new(SESSION_MESSAGE_SPAWN_REPLY);
        json_add_int(o, "id", id);
        json_object_object_add(o, "ok", json_object_new_boolean(false));
        json_add_string(o, "error", error);
        (void) send_simple(m->net_fd, o);
}

/* The message was checked by the dispatch: a job's, its fields within their caps. */
static void handle_spawn(void *userdata, json_object *msg) {
        Monitor *m = userdata;
        const char *mode = session_message_string(msg, "mode");
        const char *command = session_message_string(msg, "command");
        const char *term = session_message_string(msg, "term");
        json_object *env, *o;
        int64_t id = 0, cols = 80, rows = 24;
        bool pty = false;
        int child_fds[3] = { -1, -1, -1 }, our_fds[3] = { -1, -1, -1 }, pty_sock = -1;
        size_t n_fds, n_env;
        pid_t pid;

        (void) session_message_int(msg, "id", &id);
        (void) session_message_bool(msg, "pty", &pty);
        env = session_message_strings(msg, "env", &n_env);
        if ((!streq(mode, "exec") && !streq(mode, "shell") && !streq(mode, "sftp")) || (streq(mode, "exec") && !command)) {
                log_warning("Malformed or unauthorised spawn request from the net child of %s", m->source);
                monitor_exit(m, 1);
        }
        if (pty && (session_message_int(msg, "cols", &cols) < 0 || session_message_int(msg, "rows", &rows) < 0))
                monitor_exit(m, 1);
        if (m->n_spawns >= SESSION_CHANNELS_MAX) {
                spawn_reply_error(m, id, "too many processes in this connection");
                return;
        }

        if (pty) {
                /* The child opens the pty inside the job and sends the master. */
                int sv[2];
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                        spawn_reply_error(m, id, "cannot create a socket pair");
                        return;
                }
                pty_sock = sv[0];
                child_fds[0] = sv[1];
                n_fds = 1;
        } else {
                for (int i = 0; i < 3; i++) {
                        int p[2];
                        if (pipe2(p, O_CLOEXEC) < 0) {
                                spawn_reply_error(m, id, "cannot create pipes");
                                goto fail;
                        }
                        /* stdin: the child reads p[0]; stdout/stderr: the child writes p[1]. */
                        child_fds[i] = i == 0 ? p[0] : p[1];
                        our_fds[i] = i == 0 ? p[1] : p[0];
                }
                n_fds = 3;
        }

        pid = fork();
        if (pid < 0) {
                spawn_reply_error(m, id, "cannot fork");
                goto fail;
        }
        if (pid == 0) {
                /* Own session and process group: the hang-up reaches all of it. */
                (void) setsid();
                if (!pty && (dup2(child_fds[0], 0) < 0 || dup2(child_fds[1], 1) < 0 || dup2(child_fds[2], 2) < 0))
                        _exit(126);
                exec_job(m, mode, command, env, pty ? (term ?: "xterm") : NULL, pty ? child_fds[0] : -1,
                         (unsigned short) cols, (unsigned short) rows);
        }
        m->spawns[m->n_spawns++] = (Spawn) { id, pid };
        for (int i = 0; i < 3; i++)
                safe_close(child_fds[i]);
        if (pty) {
                struct pollfd pfd = { .fd = pty_sock, .events = POLLIN };
                json_object *pm = NULL;
                size_t got = 0;

                /* The master comes back once the child is inside the job. */
                if (poll(&pfd, 1, 10000) <= 0 || json_seqpacket_recv(pty_sock, &pm, our_fds, &got) < 0 || got != 1 ||
                    session_message_expect(pm, SESSION_MESSAGE_PTY) < 0) {
                        json_object_put(pm);
                        pty_sock = safe_close(pty_sock);
                        (void) kill(-pid, SIGKILL);
                        m->n_spawns--;   /* reaped without a word to the net child */
                        spawn_reply_error(m, id, "cannot open a pty in the job");
                        goto fail;
                }
                json_object_put(pm);
                pty_sock = safe_close(pty_sock);
        }

        o = session_message_new(SESSION_MESSAGE_SPAWN_REPLY);
        json_add_int(o, "id", id);
        json_object_object_add(o, "ok", json_object_new_boolean(true));
        json_add_int(o, "pid", pid);
        if (json_seqpacket_send(m->net_fd, o, our_fds, n_fds) < 0)
                (void) kill(-pid, SIGKILL);
        json_object_put(o);
        for (int i = 0; i < 3; i++)
                safe_close(our_fds[i]);
        log_job(LOG_DEBUG, m->job, NULL, "Started %s (pid %d) for %s", mode, (int) pid, m->source);
        return;
fail:
        safe_close(pty_sock);
        for (int i = 0; i < 3; i++) {
                safe_close(child_fds[i]);
                safe_close(our_fds[i]);
        }
}

/* A list of a checked message, up to its cap. */
static char **strv_from_json(json_object *o, const char *key) {
        size_t n;
        json_object *a = session_message_strings(o, key, &n);
        char **l;

        if (!a)
                return NULL;
        l = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; l && i < n; i++)
                l[i] = strdup(strempty(json_object_get_string(json_object_array_get_idx(a, i))));
        return l;
}

/* After a job authenticated: find its sandbox and make our children start
 * in its pid namespace. */
static int join_job(Monitor *m, json_object *msg) {
        const char *cg = session_message_string(msg, "cgroup");
        int64_t anchor;
        int r;

        if (session_message_int(msg, "anchor", &anchor) < 0)
                return log_error_errno(EBADMSG, "No sandbox for job %s in the main process's answer", m->job);
        /* Checked again here: a pid is only a number until pinned by a pidfd. */
        r = sandbox_adopt((pid_t) anchor, 0, m->uid, &m->sandbox);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot find the job's sandbox: %m");
        r = sandbox_join_pid_namespace(&m->sandbox);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, m->job, NULL, "Cannot join the job's pid namespace: %m");
        snprintf(m->cgroup, sizeof(m->cgroup), "%s", strempty(cg));
        m->job_env = strv_from_json(msg, "env");
        /* An authenticated job session outlives a restart of hostd. */
        (void) prctl(PR_SET_PDEATHSIG, 0);
        return 0;
}

static Spawn *find_spawn(Monitor *m, int64_t id) {
        for (size_t i = 0; i < m->n_spawns; i++)
                if (m->spawns[i].id == id)
                        return &m->spawns[i];
        return NULL;
}

/* Checked by the dispatch: after authentication, with an id and a signal name. */
static void handle_signal(Monitor *m, json_object *msg, bool hangup) {
        static const struct {
                const char *name;
                int sig;
        } sigs[] = { { "HUP", SIGHUP }, { "INT", SIGINT }, { "KILL", SIGKILL }, { "TERM", SIGTERM },
                     { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "ALRM", SIGALRM } };
        const char *name = hangup ? "HUP" : session_message_string(msg, "signal");
        int64_t id = 0;
        Spawn *s;

        (void) session_message_int(msg, "id", &id);
        s = find_spawn(m, id);
        if (!s)
                return;
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                if (streq(name, sigs[i].name)) {
                        (void) kill(hangup ? -s->pid : s->pid, sigs[i].sig);
                        if (hangup)
                                (void) kill(-s->pid, SIGCONT);
                }
}

static void handle_signal_request(void *userdata, json_object *msg) {
        handle_signal(userdata, msg, false);
}

static void handle_hangup(void *userdata, json_object *msg) {
        handle_signal(userdata, msg, true);
}

/* Relayed to the main process; checked by the dispatch: before
 * authentication, not while another is at the main process. */
static void handle_net_auth(void *userdata, json_object *msg) {
        Monitor *m = userdata;
        const char *user = session_message_string(msg, "user"), *key = session_message_string(msg, "key");
        bool final = false;
        json_object *o;

        (void) session_message_bool(msg, "final", &final);
        o = session_message_new(SESSION_MESSAGE_AUTH);
        json_add_string(o, "user", user);
        json_add_string(o, "key", key);
        json_object_object_add(o, "final", json_object_new_boolean(final));
        if (send_simple(m->main_fd, o) < 0)
                monitor_exit(m, 1);
        m->auth_pending = true;
        m->pending_final = final;
}

/* Relayed to the main process; checked by the dispatch: the controller's. */
static void handle_net_api(void *userdata, json_object *msg) {
        Monitor *m = userdata;
        const char *line = session_message_string(msg, "cmdline");
        int64_t id = 0;
        json_object *o;

        (void) session_message_int(msg, "id", &id);
        o = session_message_new(SESSION_MESSAGE_API);
        json_add_int(o, "id", id);
        json_add_string(o, "cmdline", line);
        if (m->main_fd < 0 || send_simple(m->main_fd, o) < 0) {
                o = session_message_new(SESSION_MESSAGE_API_REPLY);
                json_add_int(o, "id", id);
                json_add_string(o, "answer", "{\"apiVersion\":\"hostd/v1\",\"error\":{\"code\":\"internal\","
                                "\"message\":\"hostd restarted while this connection was open; reconnect and retry\"}}");
                json_add_int(o, "status", 1);
                (void) send_simple(m->net_fd, o);
        }
}

static void handle_refused(void *userdata, json_object *msg) {
        Monitor *m = userdata;

        log_job(LOG_NOTICE, m->job[0] ? m->job : NULL, NULL,
                "Refused an oversized %s request from %s: the command and its variables exceed %d bytes; "
                "large input belongs on stdin or in a file", session_message_string(msg, "request"), m->source,
                JSON_SEQPACKET_MAX);
}

/* What the net child may send us. */
static const SessionDispatch net_dispatch[] = {
        { SESSION_MESSAGE_AUTH,    SESSION_PREAUTH | SESSION_IDLE, handle_net_auth       },
        { SESSION_MESSAGE_API,     SESSION_CONTROLLER,             handle_net_api        },
        { SESSION_MESSAGE_SPAWN,   SESSION_JOB,                    handle_spawn          },
        { SESSION_MESSAGE_SIGNAL,  SESSION_AUTH,                   handle_signal_request },
        { SESSION_MESSAGE_HANGUP,  SESSION_AUTH,                   handle_hangup         },
        { SESSION_MESSAGE_REFUSED, SESSION_AUTH,                   handle_refused        },
};

/* The state both dispatch tables are checked against. */
#define MONITOR_STATE(m) {                                                                              \
                .authenticated = (m)->authenticated,                                                    \
                .controller = (m)->controller,                                                          \
                .awaiting = (m)->auth_pending ? SESSION_MESSAGE_AUTH_REPLY : _SESSION_MESSAGE_INVALID,  \
        }

/* Relays between the net child and the main process. */
static void handle_net_message(Monitor *m) {
        const SessionDispatch *d;
        json_object *msg = NULL;
        int r;

        r = json_seqpacket_recv(m->net_fd, &msg, NULL, NULL);
        if (r == -ECONNRESET || r == -EAGAIN) {
                if (r == -ECONNRESET) {
                        reap_net(m);
                        log_preauth_end(m);
                        monitor_exit(m, 0);
                }
                return;
        }
        if (r < 0) {
                log_warning("Malformed message from the net child of %s; ending the connection", m->source);
                monitor_exit(m, 1);
        }
        d = session_dispatch_lookup(net_dispatch, ELEMENTSOF(net_dispatch), &(SessionState) MONITOR_STATE(m), msg, &r);
        if (!d) {
                if (r == -ENOMSG)
                        log_warning("Unknown message from the net child of %s; ending the connection", m->source);
                else if (r == -EPERM)
                        log_warning("Unexpected %s message from the net child of %s; ending the connection",
                                    session_message_to_string(session_message_kind(msg)), m->source);
                else
                        log_warning("Malformed message from the net child of %s; ending the connection", m->source);
                monitor_exit(m, 1);
        }
        d->handler(m, msg);
        json_object_put(msg);
}

/* The main process's answer to the auth we relayed; checked by the dispatch:
 * one was pending.  Passed on to the net child. */
static void handle_auth_reply(void *userdata, json_object *msg) {
        Monitor *m = userdata;
        bool ok = false;
        const char *kind = session_message_string(msg, "kind");
        json_object *o = session_message_new(SESSION_MESSAGE_AUTH_REPLY);

        m->auth_pending = false;
        (void) session_message_bool(msg, "ok", &ok);
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        json_add_string(o, "kind", ok ? kind : NULL);
        /* Why a right key was refused (MaxSessionsPerJob), for the client. */
        if (!ok && session_message_string(msg, "message"))
                json_add_string(o, "message", session_message_string(msg, "message"));
        if (!ok && ++m->auth_failures > (unsigned) m->max_auth_tries) {
                log_notice("Too many authentication failures from %s (MaxAuthTries=%lld); disconnecting", m->source,
                           (long long) m->max_auth_tries);
                monitor_exit(m, 0);
        }
        if (ok && m->pending_final) {
                const char *job = session_message_string(msg, "job"), *home = session_message_string(msg, "home");
                int64_t uid = 0;

                m->authenticated = true;
                m->controller = streq_ptr(kind, "controller");
                if (!m->controller) {
                        if (!job || !home || session_message_int(msg, "uid", &uid) < 0)
                                monitor_exit(m, 1);
                        snprintf(m->job, sizeof(m->job), "%s", job);
                        snprintf(m->home, sizeof(m->home), "%s", home);
                        m->uid = (uid_t) uid;
                        if (join_job(m, msg) < 0)
                                monitor_exit(m, 1);
                }
                /* The deadline only applies before authentication. */
                m->timer_fd = safe_close(m->timer_fd);
                {
                        char name[16];
                        snprintf(name, sizeof(name), "s-%.13s", m->controller ? "controller" : m->job);
                        (void) prctl(PR_SET_NAME, name);
                }
        }
        if (send_simple(m->net_fd, o) < 0)
                monitor_exit(m, 1);
}

/* Checked by the dispatch: the controller's.  Passed through as it is; the
 * net child writes it to the channel. */
static void handle_api_reply(void *userdata, json_object *msg) {
        Monitor *m = userdata;

        if (json_seqpacket_send(m->net_fd, msg, NULL, 0) < 0)
                monitor_exit(m, 1);
}

/* What the main process may send us after the config. */
static const SessionDispatch main_dispatch[] = {
        { SESSION_MESSAGE_AUTH_REPLY, SESSION_REPLY,      handle_auth_reply },
        { SESSION_MESSAGE_API_REPLY,  SESSION_CONTROLLER, handle_api_reply  },
};

static void handle_main_message(Monitor *m) {
        const SessionDispatch *d;
        json_object *msg = NULL;
        int r;

        r = json_seqpacket_recv(m->main_fd, &msg, NULL, NULL);
        if (r == -EAGAIN)
                return;
        if (r < 0) {
                /* hostd stopped or restarted.  An authenticated job session carries
                 * on (its build must survive a restart); anything else ends. */
                m->main_fd = safe_close(m->main_fd);
                if (!m->authenticated || m->controller)
                        monitor_exit(m, 0);
                return;
        }
        d = session_dispatch_lookup(main_dispatch, ELEMENTSOF(main_dispatch), &(SessionState) MONITOR_STATE(m), msg, &r);
        if (!d) {
                log_warning("Unexpected message from the main process; ending the connection");
                monitor_exit(m, 1);
        }
        d->handler(m, msg);
        json_object_put(msg);
}

static void handle_signals(Monitor *m) {
        struct signalfd_siginfo si;

        while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                        /* The main process ends us (release, shutdown of the job). */
                        for (size_t i = 0; i < m->n_spawns; i++)
                                (void) kill(-m->spawns[i].pid, SIGKILL);
                        monitor_exit(m, 0);
                }
        }
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);

                if (pid <= 0)
                        break;
                if (pid == m->net_pid) {
                        log_net_death(m, status);
                        m->net_pid = 0;
                        log_preauth_end(m);
                        monitor_exit(m, 0);
                }
                for (size_t i = 0; i < m->n_spawns; i++)
                        if (m->spawns[i].pid == pid) {
                                json_object *o = session_message_new(SESSION_MESSAGE_EXIT);

                                if (WIFSIGNALED(status))
                                        log_job(LOG_DEBUG, m->job, NULL, "Process %d of %s killed by signal %d",
                                                (int) pid, m->source, WTERMSIG(status));
                                json_add_int(o, "id", m->spawns[i].id);
                                json_add_int(o, "status", status);
                                (void) send_simple(m->net_fd, o);
                                m->spawns[i] = m->spawns[--m->n_spawns];
                                break;
                        }
        }
}

int session_monitor_main(void) {
        Monitor m = {
                .main_fd = SESSION_MAIN_FD,
                .net_fd = -1,
                .signal_fd = -1,
                .timer_fd = -1,
                .max_auth_tries = 6,
                .sandbox = { .pidfd = -1, .disk_fd = -1 },
        };
        HostKeys keys = {};
        json_object *config = NULL;
        const char *ed25519, *rsa, *ecdsa, *empty;
        int64_t grace = 20 * USEC_PER_SEC, level = LOG_INFO;
        sigset_t mask;
        int sp[2], r;

        log_setup(SESSION_ARGV0, LOG_TARGET_AUTO);
        (void) prctl(PR_SET_NAME, "s-preauth");
        /* If the main process dies before authentication, so do we. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);

        r = json_seqpacket_recv(m.main_fd, &config, NULL, NULL);
        if (r >= 0)
                r = session_message_expect(config, SESSION_MESSAGE_CONFIG);
        if (r < 0)
                return log_error_errno(r, "No configuration from the main process: %m"), 1;
        snprintf(m.source, sizeof(m.source), "%s", strempty(session_message_string(config, "source")));
        snprintf(m.connection, sizeof(m.connection), "%s", strempty(session_message_string(config, "connection")));
        (void) session_message_int(config, "login_grace_usec", &grace);
        (void) session_message_int(config, "max_auth_tries", &m.max_auth_tries);
        (void) session_message_int(config, "log_level", &level);
        log_set_max_level((int) level);
        m.seccomp_extra_deny = strv_from_json(config, "seccomp_extra_deny");
        ed25519 = session_message_string(config, "host_key_ed25519");
        rsa = session_message_string(config, "host_key_rsa");
        ecdsa = session_message_string(config, "host_key_ecdsa");
        empty = session_message_string(config, "empty_dir");
        m.accept_env = strv_from_json(config, "accept_env");
        if (!ed25519 || !empty)
                return log_error("Incomplete configuration from the main process"), 1;
        r = host_keys_load(ed25519, rsa, ecdsa, &keys);
        if (r < 0)
                return log_error_errno(r, "Cannot load host keys: %m"), 1;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        m.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        m.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (m.signal_fd < 0 || m.timer_fd < 0)
                return log_error_errno(errno, "Cannot set up the monitor: %m"), 1;
        {
                struct itimerspec its = { .it_value = { .tv_sec = (time_t) (grace / USEC_PER_SEC),
                                                        .tv_nsec = (long) (grace % USEC_PER_SEC) * 1000 } };
                (void) timerfd_settime(m.timer_fd, 0, &its, NULL);
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return log_error_errno(errno, "socketpair: %m"), 1;
        /* The monitor's mask was empty before it blocked these. */
        m.net_pid = safe_fork(NULL, FORK_UNBLOCK_SIGNALS);
        if (m.net_pid < 0)
                return log_error_errno(m.net_pid, "fork: %m"), 1;
        if (m.net_pid == 0) {
                NetConfig nc = {
                        .client_fd = SESSION_CLIENT_FD,
                        .monitor_fd = sp[1],
                        .host_keys = &keys,
                        .empty_dir = empty,
                        .source = m.source,
                        .log_level = (int) level,
                };
                close(sp[0]);
                close(m.main_fd);
                close(m.signal_fd);
                close(m.timer_fd);
                session_net_main(&nc);
        }
        close(sp[1]);
        close(SESSION_CLIENT_FD);
        host_keys_done(&keys);
        m.net_fd = sp[0];

        for (;;) {
                struct pollfd p[4] = {
                        { .fd = m.main_fd, .events = POLLIN },
                        { .fd = m.net_fd, .events = POLLIN },
                        { .fd = m.signal_fd, .events = POLLIN },
                        { .fd = m.timer_fd, .events = POLLIN },
                };

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        monitor_exit(&m, 1);
                }
                if (p[2].revents)
                        handle_signals(&m);
                if (p[3].revents && m.timer_fd >= 0) {
                        log_notice("Connection from %s did not authenticate within %llds (LoginGraceTime); closing it",
                                   m.source, (long long) (grace / USEC_PER_SEC));
                        monitor_exit(&m, 0);
                }
                if (p[1].revents)
                        handle_net_message(&m);
                if (m.main_fd >= 0 && p[0].revents)
                        handle_main_message(&m);
        }
}
