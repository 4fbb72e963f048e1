/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages between the processes of an SSH connection: the net child that
 * produces them runs libssh on network input and is treated as hostile. */
#include "session-messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const SessionDispatch table[] = {
                { SESSION_MESSAGE_AUTH, SESSION_PREAUTH | SESSION_IDLE },
                { SESSION_MESSAGE_API, SESSION_CONTROLLER },
                { SESSION_MESSAGE_SPAWN, SESSION_JOB },
                { SESSION_MESSAGE_AUTH_REPLY, SESSION_REPLY },
        };
        const SessionMessageInfo *info;
        json_object *o = NULL;
        int k, r;

        if (json_seqpacket_parse((const char *) data, size, &o) < 0)
                return 0;
        /* What every receiver does with a message: the kind, the table's
         * checks, its dispatch, then the fields of its kind. */
        k = session_message_kind(o);
        (void) session_dispatch_lookup(table, ELEMENTSOF(table),
                                       &(SessionState) { .authenticated = size % 2, .controller = size % 3 == 0,
                                                         .awaiting = SESSION_MESSAGE_AUTH_REPLY },
                                       o, &r);
        info = session_message_info(k);
        if (info && session_message_check(o) == k)
                for (const SessionField *f = info->fields; f < info->fields + SESSION_FIELDS_MAX && f->name; f++) {
                        int64_t x;
                        size_t n;
                        bool b;

                        (void) session_message_string(o, f->name);
                        (void) session_message_int(o, f->name, &x);
                        (void) session_message_bool(o, f->name, &b);
                        (void) session_message_strings(o, f->name, &n);
                }
        json_object_put(o);
        return 0;
}
