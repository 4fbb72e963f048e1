/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The net child: the only process that parses SSH.  It runs libssh with
 * no privileges (session-sandbox.c), authenticates through the monitor,
 * and shovels bytes between channels and the pipes of job processes the
 * monitor starts.  Memory per channel is bounded: it reads a process's
 * output only while the client's window has room, and leaves client data
 * in libssh's channel buffer (which stops the client's window) while a
 * process's stdin is full.
 *
 * libssh 0.10 behaviour that shapes this file and session-channel.c
 * (docs/ssh.md, Known limits):
 *  - fds may not be added to or removed from an ssh_event inside its
 *    callbacks, so callbacks only set flags and net_sync_channels()
 *    applies them between polls;
 *  - the write-wontblock callback does not fire on window adjust, so the
 *    window is re-checked after every poll;
 *  - a channel ends in order: process reaped and output drained, then
 *    exit-status/exit-signal, EOF, close, each retried on SSH_AGAIN. */

#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>

#include "log.h"
#include "macros.h"
#include "session-sandbox.h"
#include "session-net.h"
#include "session.h"

_noreturn_ void net_fatal(Net *n, const char *why) {
        log_debug("Net child for %s ends: %s", n->source, why);
        ssh_disconnect(n->session);
        _exit(0);
}

/* ---- talking to the monitor ---------------------------------------------- */

void net_monitor_send(Net *n, json_object *o, const int *fds, size_t n_fds) {
        int r = json_seqpacket_send(n->monitor_fd, o, fds, n_fds);
        json_object_put(o);
        if (r < 0)
                net_fatal(n, "monitor gone");
}

/* Refuses one request the client sized too large (the client sees a
 * failed exec request); the monitor logs why. */
int net_refuse_oversized(Net *n, const char *request) {
        json_object *o = session_message_new(SESSION_MESSAGE_REFUSED);

        json_add_string(o, "request", request);
        net_monitor_send(n, o, NULL, 0);
        return -EMSGSIZE;
}

/* As net_monitor_send(), for a request the client sized: one too large for
 * the protocol is not sent, and only that request is refused. */
int net_monitor_send_request(Net *n, const char *request, json_object *o) {
        int r = json_seqpacket_send(n->monitor_fd, o, NULL, 0);
        json_object_put(o);
        if (r == -EMSGSIZE)
                return net_refuse_oversized(n, request);
        if (r < 0)
                net_fatal(n, "monitor gone");
        return r;
}

static json_object *dispatch_monitor_message(Net *n, json_object *m, SessionMessage awaiting, int *fds, size_t n_fds);

/* Waits for the reply want to a request just sent, handling any
 * asynchronous message that arrives first. */
json_object *net_monitor_wait(Net *n, SessionMessage want, int *fds, size_t *n_fds) {
        for (;;) {
                json_object *m = NULL;
                int got[JSON_SEQPACKET_FDS_MAX];
                size_t n_got = 0;
                int r;

                r = json_seqpacket_recv(n->monitor_fd, &m, got, &n_got);
                if (r < 0)
                        net_fatal(n, "monitor gone");
                m = dispatch_monitor_message(n, m, want, got, n_got);
                if (m) {
                        if (fds) {
                                memcpy(fds, got, n_got * sizeof(int));
                                *n_fds = n_got;
                        } else
                                for (size_t i = 0; i < n_got; i++)
                                        close(got[i]);
                        return m;
                }
        }
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

        o = session_message_new(SESSION_MESSAGE_AUTH);
        json_add_string(o, "user", user);
        json_add_string(o, "key", line);
        json_object_object_add(o, "final", json_object_new_boolean(final));
        net_monitor_send(n, o, NULL, 0);
        reply = net_monitor_wait(n, SESSION_MESSAGE_AUTH_REPLY, NULL, NULL);
        (void) session_message_bool(reply, "ok", &ok);
        send_refusal_banner(n, session_message_string(reply, "message"));
        if (ok && final) {
                n->authenticated = true;
                n->controller = streq_ptr(session_message_string(reply, "kind"), "controller");
        }
        json_object_put(reply);
        return ok ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
}

/* ---- asynchronous messages from the monitor ----------------------------------- */

static void handle_exit(void *userdata, json_object *m) {
        Net *n = userdata;
        int64_t id = 0, status = 0;
        Channel *c;

        (void) session_message_int(m, "id", &id);
        (void) session_message_int(m, "status", &status);
        c = net_channel_by_id(n, id);
        if (c) {
                c->exited = true;
                c->status = (int) status;
                n->need_sync = true;
        }
}

static void handle_api_reply(void *userdata, json_object *m) {
        Net *n = userdata;
        const char *answer = session_message_string(m, "answer");
        int64_t id = 0, status = 0;
        Channel *c;

        (void) session_message_int(m, "id", &id);
        (void) session_message_int(m, "status", &status);
        c = net_channel_by_id(n, id);
        if (c && c->api && asprintf(&c->out_buf, "%s\n", answer) >= 0) {
                c->out_len = strlen(c->out_buf);
                c->exited = true;
                c->status = (int) status << 8;   /* as a wait status */
                n->need_sync = true;
        }
}

/* What the monitor may send us.  Replies go to net_monitor_wait(), and
 * only while it waits for them. */
static const SessionDispatch monitor_dispatch[] = {
        { SESSION_MESSAGE_AUTH_REPLY,  SESSION_REPLY,      NULL             },
        { SESSION_MESSAGE_SPAWN_REPLY, SESSION_REPLY,      NULL             },
        { SESSION_MESSAGE_EXIT,        SESSION_JOB,        handle_exit      },
        { SESSION_MESSAGE_API_REPLY,   SESSION_CONTROLLER, handle_api_reply },
};

/* Handles m (consumed), or returns it if it is the reply awaited, the fds
 * then left to the caller. */
static json_object *dispatch_monitor_message(Net *n, json_object *m, SessionMessage awaiting, int *fds, size_t n_fds) {
        const SessionDispatch *d;
        int r;

        d = session_dispatch_lookup(monitor_dispatch, ELEMENTSOF(monitor_dispatch),
                                    &(SessionState) { .authenticated = n->authenticated, .controller = n->controller,
                                                      .awaiting = awaiting },
                                    m, &r);
        if (d && d->kind == awaiting)
                return m;
        for (size_t i = 0; i < n_fds; i++)
                close(fds[i]);
        if (!d) {
                json_object_put(m);
                net_fatal(n, "unexpected message from the monitor");
        }
        d->handler(n, m);
        json_object_put(m);
        return NULL;
}

static int on_monitor(socket_t fd, int revents, void *userdata) {
        Net *n = userdata;
        json_object *m = NULL;
        int fds[JSON_SEQPACKET_FDS_MAX];
        size_t n_fds = 0;
        int r;

        r = json_seqpacket_recv(fd, &m, fds, &n_fds);
        if (r == -EAGAIN)
                return 0;
        if (r < 0) {
                n->done = true;
                return 0;
        }
        (void) dispatch_monitor_message(n, m, _SESSION_MESSAGE_INVALID, fds, n_fds);
        return 0;
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
                .channel_open_request_session_function = net_channel_open,
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
                net_sync_channels(&n);
        }
        log_debug("Connection from %s ends (status 0x%x): %s", n.source, (unsigned) ssh_get_status(n.session),
                  ssh_get_error(n.session));
        /* Flush what is queued (final exit statuses) before going. */
        ssh_set_blocking(n.session, 1);
        ssh_blocking_flush(n.session, 2000);
        ssh_disconnect(n.session);
        _exit(0);
}
