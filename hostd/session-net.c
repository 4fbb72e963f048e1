/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The net child: the only process that parses SSH.  It runs libssh with
 * no privileges (session-sandbox.c), authenticates through the monitor,
 * and shovels bytes between channels and the pipes of job processes the
 * monitor starts.  Memory per channel is bounded: it reads a process's
 * output only while the client's window has room, and leaves client data
 * in libssh's channel buffer (which stops the client's window) while a
 * process's stdin is full.
 *
 * libssh 0.10 behaviour that shapes this file (docs/ssh.md, Known limits):
 *  - fds may not be added to or removed from an ssh_event inside its
 *    callbacks, so callbacks only set flags and sync_channels() applies them
 *    between polls;
 *  - the write-wontblock callback does not fire on window adjust, so the
 *    window is re-checked after every poll;
 *  - a channel ends in order: process reaped and output drained, then
 *    exit-status/exit-signal, EOF, close, each retried on SSH_AGAIN. */

#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include "log.h"
#include "macros.h"
#include "session-proto.h"
#include "session-sandbox.h"
#include "session.h"

#define IO_CHUNK (64 * 1024)

typedef enum ChannelEnd {
        END_NONE,
        END_STATUS_SENT,
        END_EOF_SENT,
        END_CLOSED,
} ChannelEnd;

typedef struct Net Net;

typedef struct Channel {
        Net *net;
        ssh_channel ch;
        int64_t id;
        struct ssh_channel_callbacks_struct cb;
        bool started;            /* exec/shell/subsystem accepted */
        bool pty;
        char term[64];
        int cols, rows;
        char *env[SESSION_ENV_MAX];
        size_t n_env;
        size_t env_bytes;

        /* Job process pipes; with a pty, in_fd and out_fd are the master. */
        int in_fd, out_fd, err_fd;
        bool in_watch, out_watch, err_watch;   /* registered in the ssh_event */
        bool in_blocked;          /* stdin full: client data waits in libssh */
        char *in_buf;             /* data taken from libssh that stdin did not take yet */
        size_t in_len, in_off, in_size;
        bool out_eof, err_eof;    /* seen in a callback; fds closed at the sync */
        bool client_eof;
        bool exited;
        int status;               /* wait status */

        /* Output that libssh did not take yet: an API answer waiting for
         * window, or process output read before a write came back short.
         * While some is pending, that stream's pipe is not read. */
        bool api;
        char *out_buf;
        size_t out_len, out_off;
        char *err_buf;
        size_t err_len, err_off;

        ChannelEnd end;
        bool client_closed;
        bool dead;                /* freed at the next sync */
} Channel;

struct Net {
        ssh_session session;
        ssh_event event;
        int monitor_fd;
        const char *source;
        bool authenticated;
        bool controller;
        bool auth_probe_ok;
        bool banner_sent;
        int64_t next_id;
        Channel *channels[SESSION_CHANNELS_MAX];
        size_t n_channels;
        bool done;
        bool need_sync;
};

static void net_fatal(Net *n, const char *why) {
        log_debug("Net child for %s ends: %s", n->source, why);
        ssh_disconnect(n->session);
        _exit(0);
}

/* ---- talking to the monitor ---------------------------------------------- */

static void monitor_send(Net *n, json_object *o, const int *fds, size_t n_fds) {
        int r = session_send(n->monitor_fd, o, fds, n_fds);
        json_object_put(o);
        if (r < 0)
                net_fatal(n, "monitor gone");
}

/* Refuses one request the client sized too large (the client sees a
 * failed exec request); the monitor logs why. */
static int refuse_oversized(Net *n, const char *request) {
        json_object *o = json_object_new_object();

        json_add_string(o, "type", "refused");
        json_add_string(o, "request", request);
        monitor_send(n, o, NULL, 0);
        return -EMSGSIZE;
}

/* As monitor_send(), for a request the client sized: one too large for
 * the protocol is not sent, and only that request is refused. */
static int monitor_send_request(Net *n, const char *request, json_object *o) {
        int r = session_send(n->monitor_fd, o, NULL, 0);
        json_object_put(o);
        if (r == -EMSGSIZE)
                return refuse_oversized(n, request);
        if (r < 0)
                net_fatal(n, "monitor gone");
        return r;
}

static void handle_async(Net *n, json_object *m, int *fds, size_t n_fds);

/* Waits for the reply of type want to a request just sent, handling any
 * asynchronous message that arrives first. */
static json_object *monitor_wait(Net *n, const char *want, int *fds, size_t *n_fds) {
        for (;;) {
                json_object *m = NULL;
                int got[SESSION_MSG_FDS_MAX];
                size_t n_got = 0;
                int r;

                r = session_recv(n->monitor_fd, &m, got, &n_got);
                if (r < 0)
                        net_fatal(n, "monitor gone");
                if (streq_ptr(session_type(m), want)) {
                        if (fds) {
                                memcpy(fds, got, n_got * sizeof(int));
                                *n_fds = n_got;
                        } else
                                for (size_t i = 0; i < n_got; i++)
                                        close(got[i]);
                        return m;
                }
                handle_async(n, m, got, n_got);
        }
}

/* ---- channels ------------------------------------------------------------ */

static Channel *channel_by_id(Net *n, int64_t id) {
        for (size_t i = 0; i < n->n_channels; i++)
                if (n->channels[i]->id == id && !n->channels[i]->dead)
                        return n->channels[i];
        return NULL;
}

static void close_fd_watch(Net *n, int *fd, bool *watch) {
        if (*fd < 0)
                return;
        if (*watch) {
                ssh_event_remove_fd(n->event, *fd);
                *watch = false;
        }
        *fd = safe_close(*fd);
}

static void channel_release_fds(Channel *c) {
        Net *n = c->net;
        bool same = c->in_fd >= 0 && c->in_fd == c->out_fd;

        close_fd_watch(n, &c->err_fd, &c->err_watch);
        if (same) {
                /* The pty master is one fd in two roles. */
                if (c->in_watch)
                        ssh_event_remove_fd(n->event, c->in_fd);
                c->in_watch = false;
                c->in_fd = -1;
        } else
                close_fd_watch(n, &c->in_fd, &c->in_watch);
        close_fd_watch(n, &c->out_fd, &c->out_watch);
}

static void net_channel_free(Channel *c) {
        channel_release_fds(c);
        for (size_t i = 0; i < c->n_env; i++)
                free(c->env[i]);
        free(c->out_buf);
        free(c->err_buf);
        free(c->in_buf);
        if (c->ch) {
                /* A channel we closed first lives on in libssh until the client's
                 * close arrives, and that runs the channel's callbacks: unhook
                 * them (they point into c) or the client's close is a
                 * use-after-free, which killed the connection under every
                 * ControlMaster client as soon as its first session ended. */
                (void) ssh_remove_channel_callbacks(c->ch, &c->cb);
                ssh_channel_free(c->ch);
        }
        free(c);
}

/* Output of the process (or API answer) is done and the exit is known:
 * status, EOF, close, in that order, each retried later on SSH_AGAIN. */
static void channel_try_end(Channel *c) {
        int r;

        if (c->client_closed || c->dead)
                return;
        if (c->out_fd >= 0 || c->err_fd >= 0 || !c->exited || c->out_off < c->out_len || c->err_off < c->err_len)
                return;

        if (c->end == END_NONE) {
                if (WIFSIGNALED(c->status)) {
                        static const struct {
                                int sig;
                                const char *name;
                        } names[] = { { SIGABRT, "ABRT" }, { SIGALRM, "ALRM" }, { SIGFPE, "FPE" }, { SIGHUP, "HUP" },
                                      { SIGILL, "ILL" },   { SIGINT, "INT" },   { SIGKILL, "KILL" }, { SIGPIPE, "PIPE" },
                                      { SIGQUIT, "QUIT" }, { SIGSEGV, "SEGV" }, { SIGTERM, "TERM" }, { SIGUSR1, "USR1" },
                                      { SIGUSR2, "USR2" } };
                        const char *name = NULL;

                        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                                if (names[i].sig == WTERMSIG(c->status))
                                        name = names[i].name;
                        /* sshd's name for signals RFC 4254 does not list (SIGXCPU, SIGSYS...):
                         * still an exit-signal, so the client knows it was killed (ssh
                         * exits 255), never an exit status that a command could also give. */
                        r = ssh_channel_request_send_exit_signal(c->ch, name ?: "SIG@openssh.com", WCOREDUMP(c->status),
                                                                 "", "");
                } else
                        r = ssh_channel_request_send_exit_status(c->ch, WEXITSTATUS(c->status));
                if (r == SSH_AGAIN)
                        return;
                c->end = END_STATUS_SENT;
        }
        if (c->end == END_STATUS_SENT) {
                r = ssh_channel_send_eof(c->ch);
                if (r == SSH_AGAIN)
                        return;
                c->end = END_EOF_SENT;
        }
        if (c->end == END_EOF_SENT) {
                r = ssh_channel_close(c->ch);
                if (r == SSH_AGAIN)
                        return;
                c->end = END_CLOSED;
        }
}

/* Moves process output to the channel while the window has room. */
/* libssh 0.10 in non-blocking mode writes short, even nothing, while a key
 * re-exchange runs or the window is shut; what it did not take is still
 * ours, and dropping it corrupts the stream (OpenSSH rekeys every ~1 GB). */
static size_t channel_send(Channel *c, bool is_stderr, const char *data, size_t size) {
        int w = is_stderr ? ssh_channel_write_stderr(c->ch, data, (uint32_t) size) :
                            ssh_channel_write(c->ch, data, (uint32_t) size);
        if (w < 0)
                net_fatal(c->net, "channel write failed");
        return MIN((size_t) w, size);
}

/* Fresh process output: what libssh does not take now is kept as pending. */
static void send_output(Channel *c, bool is_stderr, const char *data, size_t size) {
        char **buf = is_stderr ? &c->err_buf : &c->out_buf;
        size_t *len = is_stderr ? &c->err_len : &c->out_len, *off = is_stderr ? &c->err_off : &c->out_off;
        size_t w = channel_send(c, is_stderr, data, size);

        if (w == size)
                return;
        if (!*buf && !(*buf = malloc(IO_CHUNK)))
                net_fatal(c->net, "out of memory");
        memcpy(*buf, data + w, size - w);
        *off = 0;
        *len = size - w;
        c->net->need_sync = true;
}

/* Pending output (an API answer, or what a short write left), as the
 * window and libssh allow. */
static void flush_pending(Channel *c, bool is_stderr) {
        char *buf = is_stderr ? c->err_buf : c->out_buf;
        size_t *len = is_stderr ? &c->err_len : &c->out_len, *off = is_stderr ? &c->err_off : &c->out_off;

        while (*off < *len) {
                size_t k = MIN((size_t) ssh_channel_window_size(c->ch), *len - *off), w;

                if (k == 0)
                        return;
                w = channel_send(c, is_stderr, buf + *off, k);
                *off += w;
                if (w < k)
                        return;
        }
}

static int pump_out(Channel *c, int *fd, bool is_stderr) {
        char buf[IO_CHUNK];
        uint32_t win = ssh_channel_window_size(c->ch);
        ssize_t k;

        if (win == 0 || (is_stderr ? c->err_off < c->err_len : c->out_off < c->out_len))
                return 0;
        k = read(*fd, buf, MIN((size_t) win, sizeof(buf)));
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                /* EIO on a pty master: the slave side is gone. */
                k = 0;
        }
        if (k == 0) {
                /* Closing (and unwatching) waits for the sync: not inside a callback. */
                if (is_stderr)
                        c->err_eof = true;
                else
                        c->out_eof = true;
                c->net->need_sync = true;
                return 0;
        }
        send_output(c, is_stderr, buf, (size_t) k);
        return 0;
}

static int on_out(socket_t fd, int revents, void *userdata) {
        Channel *c = userdata;

        if (c->out_fd >= 0 && fd == c->out_fd)
                return pump_out(c, &c->out_fd, false);
        return 0;
}

static int on_err(socket_t fd, int revents, void *userdata) {
        Channel *c = userdata;

        if (c->err_fd >= 0 && fd == c->err_fd)
                return pump_out(c, &c->err_fd, true);
        return 0;
}

/* Writes client data to the process's stdin; returns what it took. */
static size_t feed_stdin(Channel *c, const char *data, size_t len) {
        size_t off = 0;

        while (off < len) {
                ssize_t k = write(c->in_fd, data + off, len - off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                c->in_blocked = true;
                                c->net->need_sync = true;
                                break;
                        }
                        /* The process closed its stdin: discard, as sshd does. */
                        return len;
                }
                off += (size_t) k;
        }
        return off;
}

static int on_in_writable(socket_t fd, int revents, void *userdata) {
        Channel *c = userdata;

        if (c->in_fd < 0 || fd != c->in_fd || !c->in_blocked)
                return 0;
        c->in_blocked = false;
        c->net->need_sync = true;
        /* Drain what we hold, then what libssh kept for us, while the pipe takes it. */
        for (;;) {
                int k;

                if (c->in_off < c->in_len) {
                        c->in_off += feed_stdin(c, c->in_buf + c->in_off, c->in_len - c->in_off);
                        if (c->in_off < c->in_len)
                                return 0;   /* blocked again */
                }
                c->in_off = c->in_len = 0;
                k = ssh_channel_poll(c->ch, 0);
                if (k <= 0)
                        return 0;
                /* Take all libssh holds, in one read: every ssh_channel_read*() with
                 * the window under half re-opens it to full, however much is already
                 * buffered, so reading in small pieces let a client that sends faster
                 * than the process reads grow the buffer without limit.  Read only
                 * when ours is empty, and all at once: what libssh holds is bounded
                 * by the window, and so is this copy of it. */
                if ((size_t) k > c->in_size) {
                        char *b = realloc(c->in_buf, (size_t) k);
                        if (!b)
                                net_fatal(c->net, "out of memory");
                        c->in_buf = b;
                        c->in_size = (size_t) k;
                }
                k = ssh_channel_read_nonblocking(c->ch, c->in_buf, (uint32_t) k, 0);
                if (k <= 0)
                        return 0;
                c->in_len = (size_t) k;
        }
}

static int cb_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *userdata) {
        Channel *c = userdata;

        if (c->in_fd < 0 || c->api)
                return (int) len;          /* nobody reads: discard */
        if (c->in_blocked || c->in_off < c->in_len)
                return 0;                  /* keep it in libssh until stdin drains */
        return (int) feed_stdin(c, data, len);
}

static void cb_eof(ssh_session s, ssh_channel ch, void *userdata) {
        Channel *c = userdata;

        c->client_eof = true;
        c->net->need_sync = true;
}

static void cb_close(ssh_session s, ssh_channel ch, void *userdata) {
        Channel *c = userdata;
        Net *n = c->net;

        c->client_closed = true;
        c->dead = true;
        n->need_sync = true;
        if (c->started && !c->exited && !c->api) {
                /* The client went away from a running command: hang it up. */
                json_object *o = json_object_new_object();
                json_add_string(o, "type", "hangup");
                json_add_int(o, "id", c->id);
                monitor_send(n, o, NULL, 0);
        }
}

static void cb_signal(ssh_session s, ssh_channel ch, const char *sig, void *userdata) {
        Channel *c = userdata;
        json_object *o;

        if (!c->started || c->exited || c->api || !sig || strlen(sig) > 15)
                return;
        o = json_object_new_object();
        json_add_string(o, "type", "signal");
        json_add_int(o, "id", c->id);
        json_add_string(o, "signal", sig);
        monitor_send(c->net, o, NULL, 0);
}

static int cb_env(ssh_session s, ssh_channel ch, const char *name, const char *value, void *userdata) {
        Channel *c = userdata;
        char *e;

        if (c->started || c->n_env >= SESSION_ENV_MAX || strlen(name) > 256 || strlen(value) > 4096 ||
            c->env_bytes + strlen(name) + strlen(value) + 1 > SESSION_ENV_BYTES_MAX)
                return -1;
        if (asprintf(&e, "%s=%s", name, value) < 0)
                return -1;
        c->env_bytes += strlen(e);
        /* The monitor applies LANG, LC_* and AcceptEnv; unknown names are dropped there. */
        c->env[c->n_env++] = e;
        return 0;
}

static int cb_pty(ssh_session s, ssh_channel ch, const char *term, int cols, int rows, int pxw, int pxh, void *userdata) {
        Channel *c = userdata;

        if (c->started || c->net->controller || !term || strlen(term) >= sizeof(c->term))
                return -1;
        c->pty = true;
        snprintf(c->term, sizeof(c->term), "%s", term);
        c->cols = cols > 0 && cols <= 10000 ? cols : 80;
        c->rows = rows > 0 && rows <= 10000 ? rows : 24;
        return 0;
}

static int cb_window_change(ssh_session s, ssh_channel ch, int cols, int rows, int pxw, int pxh, void *userdata) {
        Channel *c = userdata;
        struct winsize ws = { .ws_row = (unsigned short) MIN(MAX(rows, 1), 10000),
                              .ws_col = (unsigned short) MIN(MAX(cols, 1), 10000) };

        if (!c->pty || c->out_fd < 0)
                return -1;
        return ioctl(c->out_fd, TIOCSWINSZ, &ws) < 0 ? -1 : 0;
}

static int set_nonblock(int fd) {
        int fl = fcntl(fd, F_GETFL);
        return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

static int start_process(Channel *c, const char *mode, const char *command) {
        Net *n = c->net;
        json_object *o, *env, *reply;
        int fds[SESSION_MSG_FDS_MAX];
        size_t n_fds = 0;
        bool ok = false;

        if (c->started || !n->authenticated || n->controller)
                return -1;
        o = json_object_new_object();
        json_add_string(o, "type", "spawn");
        json_add_int(o, "id", c->id);
        json_add_string(o, "mode", mode);
        json_add_string(o, "command", command);
        json_object_object_add(o, "pty", json_object_new_boolean(c->pty));
        if (c->pty) {
                json_add_string(o, "term", c->term);
                json_add_int(o, "cols", c->cols);
                json_add_int(o, "rows", c->rows);
        }
        env = json_object_new_array();
        for (size_t i = 0; i < c->n_env; i++)
                json_object_array_add(env, json_object_new_string(c->env[i]));
        json_object_object_add(o, "env", env);
        if (monitor_send_request(n, mode, o) < 0)
                return -1;

        reply = monitor_wait(n, "spawn-reply", fds, &n_fds);
        (void) session_get_bool(reply, "ok", &ok);
        if (!ok || n_fds != (c->pty ? 1u : 3u)) {
                log_debug("Spawn refused: %s", strempty(session_get_string(reply, "error", 256)));
                for (size_t i = 0; i < n_fds; i++)
                        close(fds[i]);
                json_object_put(reply);
                return -1;
        }
        json_object_put(reply);
        for (size_t i = 0; i < n_fds; i++)
                (void) set_nonblock(fds[i]);
        if (c->pty) {
                c->in_fd = c->out_fd = fds[0];
                c->err_fd = -1;
        } else {
                c->in_fd = fds[0];
                c->out_fd = fds[1];
                c->err_fd = fds[2];
        }
        c->started = true;
        n->need_sync = true;
        return 0;
}

static int cb_exec(ssh_session s, ssh_channel ch, const char *command, void *userdata) {
        Channel *c = userdata;
        Net *n = c->net;

        if (!command)
                return -1;
        if (strlen(command) > SESSION_COMMAND_MAX) {
                (void) refuse_oversized(n, n->controller ? "api" : "exec");
                return -1;
        }
        if (n->controller) {
                json_object *o;

                if (c->started)
                        return -1;
                o = json_object_new_object();
                json_add_string(o, "type", "api");
                json_add_int(o, "id", c->id);
                json_add_string(o, "cmdline", command);
                if (monitor_send_request(n, "api", o) < 0)
                        return -1;
                c->started = c->api = true;
                /* The answer comes asynchronously (a release waits for cleanup). */
                return 0;
        }
        return start_process(c, "exec", command);
}

static int cb_shell(ssh_session s, ssh_channel ch, void *userdata) {
        return start_process(userdata, "shell", NULL);
}

static int cb_subsystem(ssh_session s, ssh_channel ch, const char *subsystem, void *userdata) {
        if (!streq_ptr(subsystem, "sftp"))
                return -1;
        return start_process(userdata, "sftp", NULL);
}

static ssh_channel cb_channel_open(ssh_session s, void *userdata) {
        Net *n = userdata;
        Channel *c;

        if (!n->authenticated || n->n_channels >= SESSION_CHANNELS_MAX)
                return NULL;
        c = calloc(1, sizeof(Channel));
        if (!c)
                return NULL;
        c->ch = ssh_channel_new(s);
        if (!c->ch) {
                free(c);
                return NULL;
        }
        c->net = n;
        c->id = n->next_id++;
        c->in_fd = c->out_fd = c->err_fd = -1;
        c->cb = (struct ssh_channel_callbacks_struct) {
                .userdata = c,
                .channel_data_function = cb_data,
                .channel_eof_function = cb_eof,
                .channel_close_function = cb_close,
                .channel_signal_function = cb_signal,
                .channel_pty_request_function = cb_pty,
                .channel_shell_request_function = cb_shell,
                .channel_pty_window_change_function = cb_window_change,
                .channel_exec_request_function = cb_exec,
                .channel_env_request_function = cb_env,
                .channel_subsystem_request_function = cb_subsystem,
        };
        ssh_callbacks_init(&c->cb);
        ssh_set_channel_callbacks(c->ch, &c->cb);
        n->channels[n->n_channels++] = c;
        return c->ch;
}

/* ---- authentication --------------------------------------------------------- */

/* The stock ssh client shows only "Permission denied" for a refused key; a
 * refusal that is not about the key (MaxSessionsPerJob) says why in a
 * userauth banner, which it prints.  Once per connection. */
static void send_refusal_banner(Net *n, const char *message) {
        ssh_string b;

        if (!message || n->banner_sent)
                return;
        b = ssh_string_from_char(message);
        if (!b)
                return;
        if (ssh_send_issue_banner(n->session, b) == SSH_OK)
                n->banner_sent = true;
        ssh_string_free(b);
}

static int cb_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey, char state, void *userdata) {
        Net *n = userdata;
        _cleanup_free_ char *b64 = NULL, *line = NULL;
        const char *type;
        json_object *o, *reply;
        bool ok = false, final = state == SSH_PUBLICKEY_STATE_VALID;

        if (n->authenticated || !user || strlen(user) > 64)
                return SSH_AUTH_DENIED;
        if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID)
                return SSH_AUTH_DENIED;
        type = ssh_key_type_to_char(ssh_key_type(pubkey));
        if (!type || ssh_pki_export_pubkey_base64(pubkey, &b64) != SSH_OK || asprintf(&line, "%s %s", type, b64) < 0)
                return SSH_AUTH_DENIED;

        o = json_object_new_object();
        json_add_string(o, "type", "auth");
        json_add_string(o, "user", user);
        json_add_string(o, "key", line);
        json_object_object_add(o, "final", json_object_new_boolean(final));
        monitor_send(n, o, NULL, 0);
        reply = monitor_wait(n, "auth-reply", NULL, NULL);
        (void) session_get_bool(reply, "ok", &ok);
        send_refusal_banner(n, session_get_string(reply, "message", 256));
        if (ok && final) {
                n->authenticated = true;
                n->controller = streq_ptr(session_get_string(reply, "kind", 16), "controller");
        }
        json_object_put(reply);
        return ok ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
}

/* ---- asynchronous messages from the monitor ----------------------------------- */

static void handle_async(Net *n, json_object *m, int *fds, size_t n_fds) {
        const char *type = session_type(m);
        int64_t id, status;
        Channel *c;

        for (size_t i = 0; i < n_fds; i++)
                close(fds[i]);
        if (session_get_int(m, "id", 0, INT32_MAX, &id) < 0)
                goto out;
        c = channel_by_id(n, id);
        if (streq_ptr(type, "exit") && c && session_get_int(m, "status", INT32_MIN, INT32_MAX, &status) >= 0) {
                c->exited = true;
                c->status = (int) status;
                n->need_sync = true;
        } else if (streq_ptr(type, "api-reply") && c && c->api) {
                const char *answer = session_get_string(m, "answer", SESSION_MSG_MAX);
                if (answer && session_get_int(m, "status", 0, 255, &status) >= 0 &&
                    asprintf(&c->out_buf, "%s\n", answer) >= 0) {
                        c->out_len = strlen(c->out_buf);
                        c->exited = true;
                        c->status = (int) status << 8;   /* as a wait status */
                        n->need_sync = true;
                }
        }
out:
        json_object_put(m);
}

static int on_monitor(socket_t fd, int revents, void *userdata) {
        Net *n = userdata;
        json_object *m = NULL;
        int fds[SESSION_MSG_FDS_MAX];
        size_t n_fds = 0;
        int r;

        r = session_recv(fd, &m, fds, &n_fds);
        if (r == -EAGAIN)
                return 0;
        if (r < 0) {
                n->done = true;
                return 0;
        }
        handle_async(n, m, fds, n_fds);
        return 0;
}

/* ---- the loop ------------------------------------------------------------- */

static void watch(Net *n, Channel *c, int fd, bool *flag, bool want, short events, ssh_event_callback cb) {
        if (fd < 0 || *flag == want)
                return;
        if (want)
                *flag = ssh_event_add_fd(n->event, fd, events, cb, c) == SSH_OK;
        else {
                ssh_event_remove_fd(n->event, fd);
                *flag = false;
        }
}

static void sync_channel(Net *n, Channel *c) {
        /* EOFs seen by pump_out. */
        if (c->out_eof && c->out_fd >= 0) {
                if (c->pty)
                        channel_release_fds(c);   /* the master is stdin too */
                else
                        close_fd_watch(n, &c->out_fd, &c->out_watch);
        }
        if (c->err_eof && c->err_fd >= 0)
                close_fd_watch(n, &c->err_fd, &c->err_watch);

        if (c->dead) {
                channel_release_fds(c);
                return;
        }

        flush_pending(c, false);
        flush_pending(c, true);

        /* Client EOF: close stdin once libssh holds nothing more for it. */
        if (c->client_eof && c->in_fd >= 0 && !c->in_blocked && c->in_off >= c->in_len &&
            ssh_channel_poll(c->ch, 0) <= 0 && !c->pty) {
                if (c->in_watch)
                        ssh_event_remove_fd(n->event, c->in_fd);
                c->in_watch = false;
                c->in_fd = safe_close(c->in_fd);
        }

        if (c->pty) {
                bool want = c->out_fd >= 0 && ssh_channel_window_size(c->ch) > 0 && c->out_off >= c->out_len;
                /* One fd, both directions. */
                short ev = (short) ((want ? POLLIN : 0) | (c->in_blocked ? POLLOUT : 0));
                if (c->out_watch) {
                        ssh_event_remove_fd(n->event, c->out_fd);
                        c->out_watch = false;
                }
                if (ev && c->out_fd >= 0)
                        c->out_watch = ssh_event_add_fd(n->event, c->out_fd, ev,
                                                        c->in_blocked && !want ? on_in_writable : on_out, c) == SSH_OK;
        } else {
                uint32_t win = ssh_channel_window_size(c->ch);
                watch(n, c, c->out_fd, &c->out_watch, win > 0 && c->out_off >= c->out_len, POLLIN, on_out);
                watch(n, c, c->err_fd, &c->err_watch, win > 0 && c->err_off >= c->err_len, POLLIN, on_err);
                watch(n, c, c->in_fd, &c->in_watch, c->in_blocked, POLLOUT, on_in_writable);
        }

        channel_try_end(c);
}

static void sync_channels(Net *n) {
        for (size_t i = 0; i < n->n_channels;) {
                Channel *c = n->channels[i];

                sync_channel(n, c);
                if (c->dead || c->end == END_CLOSED) {
                        /* Freed only once its process is gone or it never had one. */
                        if (c->dead || !c->started || c->exited) {
                                net_channel_free(c);
                                n->channels[i] = n->channels[--n->n_channels];
                                continue;
                        }
                }
                i++;
        }
        n->need_sync = false;
}

static void configure_bind(ssh_bind b, const NetConfig *cfg) {
        char algorithms[256];
        bool no = false;
        int rsa_min = 3072;

        /* Exactly the loaded keys' algorithms, set explicitly: libssh 0.10
         * would otherwise offer ssh-rsa (SHA-1) beside an RSA key. */
        if (host_keys_algorithms(cfg->host_keys, algorithms, sizeof(algorithms)) < 0)
                _exit(1);

        /* Nothing from /etc/ssh or ~/.ssh: every choice is made here. */
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
        for (size_t i = 0; i < cfg->host_keys->n; i++)
                if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, cfg->host_keys->keys[i].key) < 0)
                        _exit(1);
        /* The bind owns the keys now. */
        for (size_t i = 0; i < cfg->host_keys->n; i++)
                cfg->host_keys->keys[i].key = NULL;
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_KEY_EXCHANGE, "curve25519-sha256,curve25519-sha256@libssh.org");
        /* AES-GCM first (AES-NI makes it the fastest here), then chacha20 for
         * clients without AES-GCM.  The client's order decides (RFC 4253 7.1)
         * and stock OpenSSH lists chacha20 first, where libssh's is ~30%
         * slower than AES-GCM: docs/ssh.md tells clients to put AES-GCM first. */
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_C_S,
                             "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com");
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_S_C,
                             "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com");
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_C_S, "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com");
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_S_C, "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com");
        if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, algorithms) < 0)
                _exit(1);
        /* Without this, libssh checks no signature type at all. */
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES,
                             "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                             "rsa-sha2-512,rsa-sha2-256");
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_RSA_MIN_SIZE, &rsa_min);
        /* "SSH-2.0-hostd": no library name or version for scanners. */
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_BANNER, "hostd");
}

void session_net_main(const NetConfig *cfg) {
        struct ssh_server_callbacks_struct server_cb = {};
        Net n = { .monitor_fd = cfg->monitor_fd, .source = cfg->source };
        ssh_bind b;
        int r;

        log_setup("hostd-session", LOG_TARGET_STDERR);
        log_set_max_level(cfg->log_level);

        b = ssh_bind_new();
        n.session = ssh_new();
        if (!b || !n.session)
                _exit(1);
        configure_bind(b, cfg);
        if (ssh_bind_accept_fd(b, n.session, cfg->client_fd) != SSH_OK) {
                log_debug("Cannot accept the connection from %s: %s", cfg->source, ssh_get_error(b));
                _exit(1);
        }

        server_cb = (struct ssh_server_callbacks_struct) {
                .userdata = &n,
                .auth_pubkey_function = cb_auth_pubkey,
                .channel_open_request_session_function = cb_channel_open,
        };
        ssh_callbacks_init(&server_cb);
        ssh_set_server_callbacks(n.session, &server_cb);

        /* Nothing from the network has been parsed yet: drop everything first. */
        r = session_sandbox_enter(cfg->empty_dir, cfg->monitor_fd);
        if (r < 0) {
                log_error_errno(r, "Cannot confine the SSH process: %m; refusing the connection");
                _exit(1);
        }

        if (ssh_handle_key_exchange(n.session) != SSH_OK) {
                log_debug("Key exchange with %s failed: %s", cfg->source, ssh_get_error(n.session));
                _exit(0);
        }
        ssh_set_auth_methods(n.session, SSH_AUTH_METHOD_PUBLICKEY);

        n.event = ssh_event_new();
        if (!n.event || ssh_event_add_session(n.event, n.session) != SSH_OK ||
            ssh_event_add_fd(n.event, n.monitor_fd, POLLIN, on_monitor, &n) != SSH_OK)
                _exit(1);
        ssh_set_blocking(n.session, 0);

        while (!n.done) {
                r = ssh_event_dopoll(n.event, n.need_sync ? 0 : 1000);
                if (r == SSH_ERROR && !ssh_is_connected(n.session))
                        break;
                if (ssh_get_status(n.session) & (SSH_CLOSED | SSH_CLOSED_ERROR))
                        break;
                sync_channels(&n);
        }
        log_debug("Connection from %s ends (status 0x%x): %s", n.source, (unsigned) ssh_get_status(n.session),
                  ssh_get_error(n.session));
        /* Flush what is queued (final exit statuses) before going. */
        ssh_set_blocking(n.session, 1);
        ssh_blocking_flush(n.session, 2000);
        ssh_disconnect(n.session);
        _exit(0);
}
