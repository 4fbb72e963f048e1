/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The net child's channels: a job process per exec/shell/sftp channel,
 * started through the monitor, and the bytes between the channel and the
 * process's pipes, with flow control both ways (see session-net.c for the
 * libssh 0.10 rules this follows). */

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
#include "session-net.h"
#include "session.h"

/* ---- channels ------------------------------------------------------------ */

Channel *net_channel_by_id(Net *n, int64_t id) {
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
                json_object *o = session_message_new(SESSION_MESSAGE_HANGUP);
                json_add_int(o, "id", c->id);
                net_monitor_send(n, o, NULL, 0);
        }
}

static void cb_signal(ssh_session s, ssh_channel ch, const char *sig, void *userdata) {
        Channel *c = userdata;
        json_object *o;

        if (!c->started || c->exited || c->api || !sig || strlen(sig) > 15)
                return;
        o = session_message_new(SESSION_MESSAGE_SIGNAL);
        json_add_int(o, "id", c->id);
        json_add_string(o, "signal", sig);
        net_monitor_send(c->net, o, NULL, 0);
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
        int fds[JSON_SEQPACKET_FDS_MAX];
        size_t n_fds = 0;
        bool ok = false;

        if (c->started || !n->authenticated || n->controller)
                return -1;
        o = session_message_new(SESSION_MESSAGE_SPAWN);
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
        if (net_monitor_send_request(n, mode, o) < 0)
                return -1;

        reply = net_monitor_wait(n, SESSION_MESSAGE_SPAWN_REPLY, fds, &n_fds);
        (void) session_message_bool(reply, "ok", &ok);
        if (!ok || n_fds != (c->pty ? 1u : 3u)) {
                log_debug("Spawn refused: %s", strempty(session_message_string(reply, "error")));
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
                (void) net_refuse_oversized(n, n->controller ? "api" : "exec");
                return -1;
        }
        if (n->controller) {
                json_object *o;

                if (c->started)
                        return -1;
                o = session_message_new(SESSION_MESSAGE_API);
                json_add_int(o, "id", c->id);
                json_add_string(o, "cmdline", command);
                if (net_monitor_send_request(n, "api", o) < 0)
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

ssh_channel net_channel_open(ssh_session s, void *userdata) {
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

void net_sync_channels(Net *n) {
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
