/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session-messages.h"

#include "macros.h"

#define STR(n, cap) { .name = n, .type = SESSION_FIELD_STRING, .max = (cap) }
#define STR_REQ(n, cap) { .name = n, .type = SESSION_FIELD_STRING, .required = true, .max = (cap) }
#define INT(n, lo, hi) { .name = n, .type = SESSION_FIELD_INT, .min = (lo), .max = (hi) }
#define INT_REQ(n, lo, hi) { .name = n, .type = SESSION_FIELD_INT, .required = true, .min = (lo), .max = (hi) }
#define BOOL_REQ(n) { .name = n, .type = SESSION_FIELD_BOOL, .required = true }
/* Lists the main process sends from its policy or a job: taken up to the
 * cap, as the policy itself does not bound them. */
#define STRV_UPTO(n, items) { .name = n, .type = SESSION_FIELD_STRINGS, .truncate = true, .max = (items), \
                              .item_max = JSON_SEQPACKET_MAX }
#define ID INT_REQ("id", 0, INT32_MAX)

/* Every cap of the protocol.  A field of a message that is not listed is
 * ignored; one that is listed is refused when mistyped or over its cap.
 * JSON null counts as absent. */
static const SessionMessageInfo messages[_SESSION_MESSAGE_MAX] = {
        [SESSION_MESSAGE_CONFIG] = {
                "config", SESSION_PEER_MAIN, SESSION_PEER_MONITOR, {
                        STR("source", 63),
                        STR("connection", 159),
                        INT("login_grace_usec", 1, INT64_MAX),
                        INT("max_auth_tries", 1, 1000),
                        INT("log_level", 0, 7),
                        STRV_UPTO("accept_env", SESSION_ENV_MAX),
                        STRV_UPTO("seccomp_extra_deny", 256),
                        STR_REQ("host_key_ed25519", 4096),
                        STR("host_key_rsa", 4096),
                        STR("host_key_ecdsa", 4096),
                        STR("controller_user", 64),
                        STR_REQ("empty_dir", 4096),
                },
        },
        [SESSION_MESSAGE_AUTH] = {
                "auth", SESSION_PEER_NET | SESSION_PEER_MONITOR, SESSION_PEER_MONITOR | SESSION_PEER_MAIN, {
                        STR_REQ("user", 64),
                        STR_REQ("key", 16384),
                        BOOL_REQ("final"),
                },
        },
        [SESSION_MESSAGE_AUTH_REPLY] = {
                "auth-reply", SESSION_PEER_MAIN | SESSION_PEER_MONITOR, SESSION_PEER_MONITOR | SESSION_PEER_NET, {
                        BOOL_REQ("ok"),
                        STR("kind", 16),                /* "controller" or "job" */
                        STR("message", 256),            /* why a right key was refused */
                        STR("job", 32),
                        INT("uid", 65536, UINT32_MAX - 1),
                        STR("home", 4000),
                        INT("anchor", 2, INT32_MAX),
                        STR("cgroup", 511),
                        STRV_UPTO("env", 32),
                },
        },
        [SESSION_MESSAGE_API] = {
                "api", SESSION_PEER_NET | SESSION_PEER_MONITOR, SESSION_PEER_MONITOR | SESSION_PEER_MAIN, {
                        ID,
                        STR_REQ("cmdline", SESSION_COMMAND_MAX),
                },
        },
        [SESSION_MESSAGE_API_REPLY] = {
                "api-reply", SESSION_PEER_MAIN | SESSION_PEER_MONITOR, SESSION_PEER_MONITOR | SESSION_PEER_NET, {
                        ID,
                        STR_REQ("answer", JSON_SEQPACKET_MAX),
                        INT_REQ("status", 0, 255),
                },
        },
        [SESSION_MESSAGE_SPAWN] = {
                "spawn", SESSION_PEER_NET, SESSION_PEER_MONITOR, {
                        ID,
                        STR_REQ("mode", 16),            /* "exec", "shell" or "sftp" */
                        STR("command", SESSION_COMMAND_MAX),
                        BOOL_REQ("pty"),
                        STR("term", 64),
                        INT("cols", 1, 10000),
                        INT("rows", 1, 10000),
                        { .name = "env", .type = SESSION_FIELD_STRINGS, .max = SESSION_ENV_MAX, .item_max = 8192 },
                },
        },
        [SESSION_MESSAGE_SPAWN_REPLY] = {
                "spawn-reply", SESSION_PEER_MONITOR, SESSION_PEER_NET, {
                        ID,
                        BOOL_REQ("ok"),
                        STR("error", 256),
                        INT("pid", 1, INT32_MAX),
                },
        },
        [SESSION_MESSAGE_PTY] = {
                "pty", SESSION_PEER_JOB, SESSION_PEER_MONITOR, {},
        },
        [SESSION_MESSAGE_SIGNAL] = {
                "signal", SESSION_PEER_NET, SESSION_PEER_MONITOR, {
                        ID,
                        STR_REQ("signal", 16),
                },
        },
        [SESSION_MESSAGE_HANGUP] = {
                "hangup", SESSION_PEER_NET, SESSION_PEER_MONITOR, {
                        ID,
                },
        },
        [SESSION_MESSAGE_REFUSED] = {
                "refused", SESSION_PEER_NET, SESSION_PEER_MONITOR, {
                        STR_REQ("request", 16),         /* "exec", "api", ... */
                },
        },
        [SESSION_MESSAGE_EXIT] = {
                "exit", SESSION_PEER_MONITOR, SESSION_PEER_NET, {
                        ID,
                        INT_REQ("status", INT32_MIN, INT32_MAX),   /* a wait status */
                },
        },
};

/* Longer than any name above. */
#define SESSION_TYPE_MAX 32

const SessionMessageInfo *session_message_info(SessionMessage kind) {
        if (kind < 0 || kind >= _SESSION_MESSAGE_MAX)
                return NULL;
        return &messages[kind];
}

const char *session_message_to_string(SessionMessage kind) {
        const SessionMessageInfo *i = session_message_info(kind);
        return i ? i->name : NULL;
}

SessionMessage session_message_from_string(const char *s) {
        if (!s)
                return _SESSION_MESSAGE_INVALID;
        for (SessionMessage k = 0; k < _SESSION_MESSAGE_MAX; k++)
                if (streq(s, messages[k].name))
                        return k;
        return _SESSION_MESSAGE_INVALID;
}

json_object *session_message_new(SessionMessage kind) {
        json_object *o = json_object_new_object();

        if (o)
                json_add_string(o, "type", session_message_to_string(kind));
        return o;
}

int session_message_kind(json_object *o) {
        SessionMessage k = session_message_from_string(json_get_string_bounded(o, "type", SESSION_TYPE_MAX));
        return k < 0 ? -ENOMSG : (int) k;
}

static const SessionField *field_of(json_object *o, const char *name) {
        int k = session_message_kind(o);

        if (k < 0)
                return NULL;
        for (const SessionField *f = messages[k].fields; f < messages[k].fields + SESSION_FIELDS_MAX && f->name; f++)
                if (streq(f->name, name))
                        return f;
        return NULL;
}

static int field_check(json_object *o, const SessionField *f) {
        json_object *v = NULL;
        int64_t x;
        bool b;

        if (!json_object_object_get_ex(o, f->name, &v) || !v)
                return f->required ? -EBADMSG : 0;
        switch (f->type) {
        case SESSION_FIELD_STRING:
                return json_get_string_bounded(o, f->name, (size_t) f->max) ? 0 : -EBADMSG;
        case SESSION_FIELD_INT:
                return json_get_int64(o, f->name, f->min, f->max, &x) < 0 ? -EBADMSG : 0;
        case SESSION_FIELD_BOOL:
                return json_get_bool(o, f->name, &b) < 0 ? -EBADMSG : 0;
        case SESSION_FIELD_STRINGS: {
                size_t n;

                if (!json_object_is_type(v, json_type_array))
                        return -EBADMSG;
                n = json_object_array_length(v);
                if (n > (size_t) f->max) {
                        if (!f->truncate)
                                return -EBADMSG;
                        n = (size_t) f->max;
                }
                for (size_t i = 0; i < n; i++)
                        if (!json_string_bounded(json_object_array_get_idx(v, i), f->item_max))
                                return -EBADMSG;
                return 0;
        }
        }
        return -EBADMSG;
}

int session_message_check(json_object *o) {
        int k = session_message_kind(o);

        if (k < 0)
                return k;
        for (const SessionField *f = messages[k].fields; f < messages[k].fields + SESSION_FIELDS_MAX && f->name; f++)
                if (field_check(o, f) < 0)
                        return -EBADMSG;
        return k;
}

int session_message_expect(json_object *o, SessionMessage want) {
        int k = session_message_check(o);

        if (k < 0)
                return k;
        return k == (int) want ? k : -ENOMSG;
}

const char *session_message_string(json_object *o, const char *field) {
        const SessionField *f = field_of(o, field);

        if (!f || f->type != SESSION_FIELD_STRING)
                return NULL;
        return json_get_string_bounded(o, field, (size_t) f->max);
}

int session_message_int(json_object *o, const char *field, int64_t *ret) {
        const SessionField *f = field_of(o, field);

        if (!f || f->type != SESSION_FIELD_INT)
                return -EBADMSG;
        return json_get_int64(o, field, f->min, f->max, ret) < 0 ? -EBADMSG : 0;
}

int session_message_bool(json_object *o, const char *field, bool *ret) {
        const SessionField *f = field_of(o, field);

        if (!f || f->type != SESSION_FIELD_BOOL)
                return -EBADMSG;
        return json_get_bool(o, field, ret) < 0 ? -EBADMSG : 0;
}

json_object *session_message_strings(json_object *o, const char *field, size_t *ret_n) {
        const SessionField *f = field_of(o, field);
        json_object *v;

        *ret_n = 0;
        if (!f || f->type != SESSION_FIELD_STRINGS || field_check(o, f) < 0 ||
            !json_object_object_get_ex(o, field, &v) || !v)
                return NULL;
        *ret_n = MIN(json_object_array_length(v), (size_t) f->max);
        return v;
}

static bool state_allows(SessionDispatchFlags flags, SessionMessage kind, const SessionState *s) {
        if ((flags & SESSION_PREAUTH) && s->authenticated)
                return false;
        if ((flags & (SESSION_AUTH | SESSION_CONTROLLER | SESSION_JOB)) && !s->authenticated)
                return false;
        if ((flags & SESSION_CONTROLLER) && !s->controller)
                return false;
        if ((flags & SESSION_JOB) && s->controller)
                return false;
        if ((flags & SESSION_REPLY) && s->awaiting != kind)
                return false;
        if ((flags & SESSION_IDLE) && s->awaiting >= 0)
                return false;
        return true;
}

const SessionDispatch *session_dispatch_lookup(const SessionDispatch *table, size_t n, const SessionState *state,
                                               json_object *m, int *ret_error) {
        int k = session_message_check(m);

        if (k < 0) {
                *ret_error = k;
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if ((int) table[i].kind == k) {
                        if (!state_allows(table[i].flags, (SessionMessage) k, state)) {
                                *ret_error = -EPERM;
                                return NULL;
                        }
                        return &table[i];
                }
        *ret_error = -ENOMSG;
        return NULL;
}
