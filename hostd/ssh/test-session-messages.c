/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>

#include "macros.h"
#include "session-messages.h"
#include "test-util.h"

static json_object *parse(const char *text) {
        json_object *o = NULL;

        if (json_seqpacket_parse(text, strlen(text), &o) < 0)
                return NULL;
        return o;
}

static void test_names(void) {
        /* Every kind has a name, a sender and a receiver, and its name finds it again. */
        for (SessionMessage k = 0; k < _SESSION_MESSAGE_MAX; k++) {
                const SessionMessageInfo *i = session_message_info(k);
                _cleanup_json_ json_object *o = session_message_new(k);

                CHECK_MSG(i && i->name && i->from && i->to, "kind %d", (int) k);
                CHECK_MSG(session_message_from_string(session_message_to_string(k)) == k, "kind %d", (int) k);
                CHECK_MSG(session_message_kind(o) == (int) k, "kind %d", (int) k);
                for (SessionMessage j = 0; j < k; j++)
                        CHECK(!streq(session_message_to_string(j), session_message_to_string(k)));
        }
        /* The wire names, which must not change. */
        CHECK(streq(session_message_to_string(SESSION_MESSAGE_AUTH_REPLY), "auth-reply"));
        CHECK(streq(session_message_to_string(SESSION_MESSAGE_SPAWN_REPLY), "spawn-reply"));
        CHECK(streq(session_message_to_string(SESSION_MESSAGE_API), "api"));
        CHECK(session_message_to_string(_SESSION_MESSAGE_MAX) == NULL);
        CHECK(session_message_to_string(_SESSION_MESSAGE_INVALID) == NULL);

        /* Unknown names, the sandbox's own, or no type at all: refused. */
        CHECK(session_message_from_string("map-me") == _SESSION_MESSAGE_INVALID);
        CHECK(session_message_from_string("AUTH") == _SESSION_MESSAGE_INVALID);
        CHECK(session_message_from_string(NULL) == _SESSION_MESSAGE_INVALID);
        {
                _cleanup_json_ json_object *o = parse("{\"type\":\"mapped\"}");
                _cleanup_json_ json_object *none = parse("{\"user\":\"x\"}");
                _cleanup_json_ json_object *num = parse("{\"type\":3}");

                CHECK(o && session_message_check(o) == -ENOMSG);
                CHECK(none && session_message_check(none) == -ENOMSG);
                CHECK(num && session_message_check(num) == -ENOMSG);
        }
}

static void test_fields(void) {
        _cleanup_free_ char *big = NULL, *text = NULL;
        _cleanup_json_ json_object *ok = NULL, *over = NULL, *missing = NULL, *mistyped = NULL, *null = NULL;
        _cleanup_json_ json_object *api = NULL, *api_over = NULL, *env = NULL, *env_over = NULL, *cfg = NULL;
        int64_t x;

        ok = parse("{\"type\":\"auth\",\"user\":\"j0123456789ab\",\"key\":\"ssh-ed25519 AAAA\",\"final\":false,\"extra\":1}");
        CHECK(ok && session_message_check(ok) == SESSION_MESSAGE_AUTH);
        CHECK(session_message_expect(ok, SESSION_MESSAGE_AUTH) == SESSION_MESSAGE_AUTH);
        CHECK(session_message_expect(ok, SESSION_MESSAGE_API) == -ENOMSG);
        CHECK(streq_ptr(session_message_string(ok, "user"), "j0123456789ab"));
        /* Only the fields of the kind are read. */
        CHECK(session_message_string(ok, "cmdline") == NULL);
        CHECK(session_message_int(ok, "extra", &x) < 0);

        /* A user name over its cap (64) is refused. */
        over = parse("{\"type\":\"auth\",\"user\":\"u12345678901234567890123456789012345678901234567890123456789012345\","
                     "\"key\":\"k\",\"final\":true}");
        CHECK(over && session_message_check(over) == -EBADMSG);
        missing = parse("{\"type\":\"auth\",\"user\":\"u\",\"final\":true}");
        CHECK(missing && session_message_check(missing) == -EBADMSG);
        mistyped = parse("{\"type\":\"auth\",\"user\":\"u\",\"key\":\"k\",\"final\":\"yes\"}");
        CHECK(mistyped && session_message_check(mistyped) == -EBADMSG);
        /* null is absent: a shell's spawn has no command. */
        null = parse("{\"type\":\"spawn\",\"id\":1,\"mode\":\"shell\",\"command\":null,\"pty\":false,\"env\":[]}");
        CHECK(null && session_message_check(null) == SESSION_MESSAGE_SPAWN);
        CHECK(null && session_message_string(null, "command") == NULL);

        /* The command line: one cap, SESSION_COMMAND_MAX, and a message that fits the transport. */
        big = malloc(SESSION_COMMAND_MAX + 2);
        SETUP(big, "malloc");
        if (!big)
                return;
        memset(big, 'a', SESSION_COMMAND_MAX + 1);
        big[SESSION_COMMAND_MAX + 1] = 0;
        SETUP(asprintf(&text, "{\"type\":\"api\",\"id\":7,\"cmdline\":\"%s\"}", big) >= 0, "asprintf");
        api_over = parse(text);
        CHECK(api_over && session_message_check(api_over) == -EBADMSG);
        free(text);
        text = NULL;
        big[SESSION_COMMAND_MAX] = 0;
        SETUP(asprintf(&text, "{\"type\":\"api\",\"id\":7,\"cmdline\":\"%s\"}", big) >= 0, "asprintf");
        api = parse(text);
        CHECK(api && session_message_check(api) == SESSION_MESSAGE_API);
        CHECK(api && strlen(session_message_string(api, "cmdline")) == SESSION_COMMAND_MAX);
        CHECK(api && session_message_int(api, "id", &x) == 0 && x == 7);

        /* Lists: the net child's variables are refused past the cap; the main
         * process's policy lists are taken up to it. */
        free(text);
        text = NULL;
        {
                char list[SESSION_ENV_MAX * 8 + 16] = "";
                for (int i = 0; i <= SESSION_ENV_MAX; i++)
                        strcat(list, i ? ",\"A=1\"" : "\"A=1\"");
                SETUP(asprintf(&text, "{\"type\":\"spawn\",\"id\":1,\"mode\":\"shell\",\"pty\":false,\"env\":[%s]}", list) >= 0,
                      "asprintf");
                env_over = parse(text);
                CHECK(env_over && session_message_check(env_over) == -EBADMSG);
                free(text);
                text = NULL;
                SETUP(asprintf(&text, "{\"type\":\"config\",\"host_key_ed25519\":\"/k\",\"empty_dir\":\"/e\",\"accept_env\":[%s]}",
                               list) >= 0, "asprintf");
                cfg = parse(text);
                CHECK(cfg && session_message_check(cfg) == SESSION_MESSAGE_CONFIG);
                {
                        size_t n = 0;
                        CHECK(cfg && session_message_strings(cfg, "accept_env", &n) && n == SESSION_ENV_MAX);
                }
        }
        env = parse("{\"type\":\"spawn\",\"id\":1,\"mode\":\"shell\",\"pty\":false,\"env\":[\"A=1\",2]}");
        CHECK(env && session_message_check(env) == -EBADMSG);
}

static void handler(void *userdata, json_object *m) {
        (*(unsigned *) userdata)++;
}

static void test_dispatch(void) {
        static const SessionDispatch table[] = {
                { SESSION_MESSAGE_AUTH,       SESSION_PREAUTH | SESSION_IDLE, handler },
                { SESSION_MESSAGE_API,        SESSION_CONTROLLER,             handler },
                { SESSION_MESSAGE_SPAWN,      SESSION_JOB,                    handler },
                { SESSION_MESSAGE_SIGNAL,     SESSION_AUTH,                   handler },
                { SESSION_MESSAGE_AUTH_REPLY, SESSION_REPLY,                  handler },
        };
        const SessionState preauth = { .awaiting = _SESSION_MESSAGE_INVALID },
                           pending = { .awaiting = SESSION_MESSAGE_AUTH_REPLY },
                           job = { .authenticated = true, .awaiting = _SESSION_MESSAGE_INVALID },
                           controller = { .authenticated = true, .controller = true, .awaiting = _SESSION_MESSAGE_INVALID };
        _cleanup_json_ json_object *auth = parse("{\"type\":\"auth\",\"user\":\"u\",\"key\":\"k\",\"final\":true}");
        _cleanup_json_ json_object *api = parse("{\"type\":\"api\",\"id\":1,\"cmdline\":\"capacity\"}");
        _cleanup_json_ json_object *spawn = parse("{\"type\":\"spawn\",\"id\":1,\"mode\":\"exec\",\"command\":\"id\",\"pty\":false}");
        _cleanup_json_ json_object *sig = parse("{\"type\":\"signal\",\"id\":1,\"signal\":\"INT\"}");
        _cleanup_json_ json_object *reply = parse("{\"type\":\"auth-reply\",\"ok\":false}");
        _cleanup_json_ json_object *exit_ = parse("{\"type\":\"exit\",\"id\":1,\"status\":0}");
        _cleanup_json_ json_object *bad = parse("{\"type\":\"signal\",\"id\":-1,\"signal\":\"INT\"}");
        const SessionDispatch *d;
        unsigned calls = 0;
        int r = 0;

#define LOOKUP(m, state) session_dispatch_lookup(table, ELEMENTSOF(table), &(state), (m), &r)
        /* In the right state: found. */
        d = LOOKUP(auth, preauth);
        CHECK(d && d->kind == SESSION_MESSAGE_AUTH);
        if (d)
                d->handler(&calls, auth);
        CHECK(calls == 1);
        CHECK((d = LOOKUP(api, controller)) && d->kind == SESSION_MESSAGE_API);
        CHECK((d = LOOKUP(spawn, job)) && d->kind == SESSION_MESSAGE_SPAWN);
        CHECK((d = LOOKUP(sig, job)) && LOOKUP(sig, controller));
        CHECK((d = LOOKUP(reply, pending)) && d->kind == SESSION_MESSAGE_AUTH_REPLY);

        /* In the wrong state: refused with -EPERM. */
        CHECK(!LOOKUP(auth, job) && r == -EPERM);               /* after authentication */
        CHECK(!LOOKUP(auth, pending) && r == -EPERM);           /* while another is pending */
        CHECK(!LOOKUP(api, preauth) && r == -EPERM);
        CHECK(!LOOKUP(api, job) && r == -EPERM);                /* a job is not the controller */
        CHECK(!LOOKUP(spawn, controller) && r == -EPERM);       /* nor the controller a job */
        CHECK(!LOOKUP(spawn, preauth) && r == -EPERM);
        CHECK(!LOOKUP(sig, preauth) && r == -EPERM);
        CHECK(!LOOKUP(reply, preauth) && r == -EPERM);          /* a reply nobody waits for */

        /* A kind this receiver does not take, or a malformed one. */
        CHECK(!LOOKUP(exit_, job) && r == -ENOMSG);
        CHECK(!LOOKUP(bad, job) && r == -EBADMSG);
#undef LOOKUP
}

static void test_transport(void) {
        /* A message built from the table goes through the transport unchanged. */
        _cleanup_json_ json_object *o = session_message_new(SESSION_MESSAGE_HANGUP), *got = NULL;
        int sv[2];

        SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %m");
        json_add_int(o, "id", 3);
        CHECK(json_seqpacket_send(sv[0], o, NULL, 0) == 0);
        CHECK(json_seqpacket_recv(sv[1], &got, NULL, NULL) == 0);
        CHECK(session_message_check(got) == SESSION_MESSAGE_HANGUP);
        CHECK(streq(json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN), "{\"type\":\"hangup\",\"id\":3}"));
        close(sv[0]);
        close(sv[1]);
}

int main(void) {
        test_names();
        test_fields();
        test_dispatch();
        test_transport();
        return test_summary("test-session-messages");
}
