/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "control.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"
#include "fileio.h"
#include "list.h"
#include "log.h"
#include "macros.h"

typedef struct Conn Conn;

struct Control {
        Daemon *daemon;
        char *path;
        int fd;
        gid_t gid;            /* (gid_t) -1: root only */
        sd_event_source *accept_source;
        Conn *conns;
        unsigned n_conns;
};

struct Conn {
        Control *control;
        LIST_FIELDS(Conn, conns);
        int fd;
        sd_event_source *io_source, *timer_source;
        char *in;
        size_t in_len;
        char *out;
        size_t out_len, out_off;
        bool replied;       /* the dispatch answered: reading is over */
        bool dispatched;
        bool forbidden;     /* answered with forbidden once its request is in */
        uid_t uid;
        pid_t pid;
};

static void conn_free(Conn *c) {
        Control *ctl = c->control;

        LIST_REMOVE(conns, ctl->conns, c);
        ctl->n_conns--;
        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->timer_source);
        safe_close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

static int conn_flush(Conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return negative_errno();
                }
                c->out_off += (size_t) k;
        }
        return 1;
}

static int conn_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Conn *c = userdata;

        log_debug("Control connection from pid %d timed out", (int) c->pid);
        /* A dispatched request (a release waiting for its cleanup) must stay:
         * its reply callback still points at this connection. */
        if (c->dispatched && !c->replied)
                return 0;
        conn_free(c);
        return 0;
}

static void conn_arm_timer(Conn *c, usec_t timeout) {
        sd_event_source_disable_unref(c->timer_source);
        c->timer_source = NULL;
        (void) sd_event_add_time_relative(sd_event_source_get_event(c->io_source), &c->timer_source, CLOCK_MONOTONIC,
                                          timeout, 0, conn_timeout, c);
}

/* The reply callback of api_dispatch(): queue the answer and write it out. */
static void conn_reply(void *userdata, json_object *answer) {
        Conn *c = userdata;
        const char *text;
        size_t l;
        int r;

        text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        l = text ? strlen(text) : 0;
        c->out = malloc(l + 2);
        if (c->out) {
                memcpy(c->out, text, l);
                c->out[l] = '\n';
                c->out_len = l + 1;
        }
        json_object_put(answer);
        c->replied = true;

        r = c->out ? conn_flush(c) : -ENOMEM;
        if (r != 0) {
                conn_free(c);
                return;
        }
        /* The rest goes out when the socket is writable again. */
        (void) sd_event_source_set_io_events(c->io_source, EPOLLOUT);
        (void) sd_event_source_set_enabled(c->io_source, SD_EVENT_ON);
        conn_arm_timer(c, CONTROL_WRITE_TIMEOUT_USEC);
}

static int string_array(json_object *arr, char ***ret, size_t *ret_n) {
        size_t n = json_object_array_length(arr);
        _cleanup_strv_free_ char **l = NULL;

        if (n > API_ARGS_MAX)
                return -E2BIG;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_bounded(json_object_array_get_idx(arr, i), API_ARG_MAX);

                if (!s)
                        return -EINVAL;
                l[i] = strdup(s);
                if (!l[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

int control_parse_request(const char *text, size_t size, char ***ret_argv, size_t *ret_argc, json_object **ret_error) {
        json_object *o = NULL, *v, *argv;
        const char *error;
        int r;

        if (size > CONTROL_REQUEST_MAX) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST, "request larger than %d bytes", CONTROL_REQUEST_MAX);
                return -E2BIG;
        }
        r = json_parse_buffer(text, size, 16, JSON_PARSE_STRICT | JSON_PARSE_TRAILING_SPACE, &o, &error);
        if (r == -ENOMEM)
                return r;
        if (r == -EUCLEAN) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST, "request has data after its JSON object; "
                                              "send one request per connection");
                return -EINVAL;
        }
        if (r < 0) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST, "request is not valid JSON: %s",
                                              r == -ENODATA ? "truncated" : error);
                return -EINVAL;
        }

        argv = json_get_typed(o, "argv", json_type_array);
        if (!argv) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST,
                                              "request must be a JSON object with an \"argv\" array of strings, "
                                              "e.g. {\"apiVersion\":\"hostd/v1\",\"argv\":[\"capacity\"]}");
                json_object_put(o);
                return -EINVAL;
        }
        if (json_object_object_get_ex(o, "apiVersion", &v) &&
            (!json_object_is_type(v, json_type_string) || !streq(json_object_get_string(v), "hostd/v1"))) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST, "apiVersion must be \"hostd/v1\"");
                json_object_put(o);
                return -EINVAL;
        }
        r = string_array(argv, ret_argv, ret_argc);
        json_object_put(o);
        if (r < 0) {
                *ret_error = api_error_answer(API_ERROR_BAD_REQUEST, r == -E2BIG ? "argv has more than %d elements" :
                                              "argv must contain only strings without NUL, each at most 16 KiB (limit %d)",
                                              API_ARGS_MAX);
                return r;
        }
        return 0;
}

static void conn_dispatch(Conn *c) {
        _cleanup_strv_free_ char **argv = NULL;
        json_object *error = NULL;
        size_t argc = 0;
        int r;

        (void) sd_event_source_set_enabled(c->io_source, SD_EVENT_OFF);
        c->dispatched = true;
        if (c->forbidden) {
                conn_reply(c, api_error_answer(API_ERROR_FORBIDDEN,
                                               "uid %u may not use hostd's control socket; use root%s", (unsigned) c->uid,
                                               c->control->gid != (gid_t) -1 ? " or a member of the control group" :
                                               ", or set [Control] Group= in the policy"));
                return;
        }
        r = control_parse_request(c->in, c->in_len, &argv, &argc, &error);
        if (r < 0) {
                conn_reply(c, error ?: api_error_answer(API_ERROR_INTERNAL, "out of memory"));
                return;
        }
        log_debug("Control request from uid %u pid %d: %s", (unsigned) c->uid, (int) c->pid, argc > 0 ? argv[0] : "");
        /* The reply may come later (release); the connection stays until then. */
        api_dispatch(c->control->daemon, API_CALLER_OPERATOR, argv, argc, conn_reply, c);
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Conn *c = userdata;

        if (c->replied) {
                int r = conn_flush(c);
                if (r != 0)
                        conn_free(c);
                return 0;
        }

        for (;;) {
                ssize_t k;
                char *nl;

                if (c->in_len >= CONTROL_REQUEST_MAX + 1) {
                        conn_reply(c, api_error_answer(API_ERROR_BAD_REQUEST,
                                                       "request larger than %d bytes", CONTROL_REQUEST_MAX));
                        return 0;
                }
                k = recv(fd, c->in + c->in_len, CONTROL_REQUEST_MAX + 1 - c->in_len, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        conn_free(c);
                        return 0;
                }
                if (k == 0) {
                        if (c->in_len == 0) {
                                conn_free(c);
                                return 0;
                        }
                        break;
                }
                nl = memchr(c->in + c->in_len, '\n', (size_t) k);
                c->in_len += (size_t) k;
                if (nl) {
                        c->in_len = (size_t) (nl - c->in);
                        break;
                }
        }
        c->in[c->in_len] = 0;
        conn_dispatch(c);
        return 0;
}

static bool peer_authorized(Control *ctl, int fd, struct ucred *cred) {
        gid_t groups[256];
        socklen_t l = sizeof(*cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &l) < 0)
                return false;
        if (cred->uid == 0)
                return true;
        if (ctl->gid == (gid_t) -1)
                return false;
        if (cred->gid == ctl->gid)
                return true;
        l = sizeof(groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &l) < 0)
                return false;
        for (size_t i = 0; i < l / sizeof(gid_t); i++)
                if (groups[i] == ctl->gid)
                        return true;
        return false;
}

static int control_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *ctl = userdata;
        struct ucred cred = {};
        Conn *c;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(errno, "accept() on control socket failed: %m");
                return 0;
        }
        if (ctl->n_conns >= CONTROL_CONNECTIONS_MAX) {
                static const char busy[] = "{\"apiVersion\":\"hostd/v1\",\"error\":{\"code\":\"internal\",\"message\":"
                                           "\"too many control connections; retry in a moment\"}}\n";
                (void) send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                close(cfd);
                return 0;
        }

        c = calloc(1, sizeof(Conn));
        if (!c) {
                close(cfd);
                return 0;
        }
        c->control = ctl;
        c->fd = cfd;
        LIST_PREPEND(conns, ctl->conns, c);
        ctl->n_conns++;

        r = sd_event_add_io(sd_event_source_get_event(s), &c->io_source, cfd, EPOLLIN, conn_io, c);
        if (r < 0) {
                conn_free(c);
                return 0;
        }
        conn_arm_timer(c, CONTROL_REQUEST_TIMEOUT_USEC);

        if (!peer_authorized(ctl, cfd, &cred)) {
                log_notice("Refused control connection from uid %u pid %d: not root%s", (unsigned) cred.uid, (int) cred.pid,
                           ctl->gid != (gid_t) -1 ? " and not in the control group" : "");
                /* Answered once its request is read (within the same size and
                 * time limits, never parsed): closing on unread data would
                 * send a reset, and the client would never see the answer. */
                c->forbidden = true;
        }
        c->uid = cred.uid;
        c->pid = cred.pid;
        c->in = malloc(CONTROL_REQUEST_MAX + 2);
        if (!c->in)
                conn_free(c);
        return 0;
}

/* A stale socket from a crashed hostd is replaced; a live one means another
 * hostd serves it, and we refuse to steal it. */
static int prepare_path(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "%s exists and is not a socket; remove it or choose another "
                                       "[Control] Socket=", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                return log_error_errno(EADDRINUSE, "Another hostd is serving %s; stop it first or use --control-socket", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int control_new(Daemon *d, const char *path, const char *group, Control **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(control_freep) Control *ctl = NULL;
        _cleanup_free_ char *dir = NULL;
        char *slash;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "Control socket path %s is too long", path);

        ctl = calloc(1, sizeof(Control));
        if (!ctl)
                return -ENOMEM;
        ctl->daemon = d;
        ctl->fd = -1;
        ctl->gid = (gid_t) -1;
        ctl->path = strdup(path);
        dir = strdup(path);
        if (!ctl->path || !dir)
                return -ENOMEM;

        if (group) {
                struct group *g = getgrnam(group);
                if (!g)
                        return log_error_errno(ENOENT, "Control group '%s' does not exist; create it (groupadd %s) or "
                                               "clear [Control] Group= to allow root only", group, group);
                ctl->gid = g->gr_gid;
        }

        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_parents_safe(dir, 0755);
                if (r < 0)
                        return log_error_errno(r, "Cannot create %s: %m", dir);
        }
        r = prepare_path(path);
        if (r < 0)
                return r;

        ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (ctl->fd < 0)
                return negative_errno();
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        /* Bind with a umask that keeps the socket private until its final
         * owner and mode are set: no window where anyone may connect. */
        {
                mode_t old = umask(0077);
                r = bind(ctl->fd, (struct sockaddr *) &sa, sizeof(sa));
                umask(old);
        }
        if (r < 0)
                return log_error_errno(errno, "Cannot bind control socket %s: %m", path);
        if (ctl->gid != (gid_t) -1 && (chown(path, 0, ctl->gid) < 0 || chmod(path, 0660) < 0))
                return log_error_errno(errno, "Cannot set owner/mode of %s: %m", path);
        if (listen(ctl->fd, 64) < 0)
                return negative_errno();
        r = sd_event_add_io(d->event, &ctl->accept_source, ctl->fd, EPOLLIN, control_accept, ctl);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ctl);
        return 0;
}

Control *control_free(Control *ctl) {
        if (!ctl)
                return NULL;
        while (ctl->conns)
                conn_free(ctl->conns);
        sd_event_source_disable_unref(ctl->accept_source);
        if (ctl->fd >= 0) {
                safe_close(ctl->fd);
                (void) unlink(ctl->path);
        }
        free(ctl->path);
        free(ctl);
        return NULL;
}
