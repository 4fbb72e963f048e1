/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages between the processes of an SSH connection: the net child that
 * produces them runs libssh on network input and is treated as hostile. */
#include "session-proto.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_object *o = NULL;
        int64_t x;
        bool b;

        if (session_parse((const char *) data, size, &o) < 0)
                return 0;
        /* What the monitor and main process read from a message. */
        (void) session_type(o);
        (void) session_get_string(o, "user", 64);
        (void) session_get_string(o, "key", 16384);
        (void) session_get_string(o, "cmdline", SESSION_COMMAND_MAX);
        (void) session_get_string(o, "request", 16);
        (void) session_get_int(o, "id", 0, INT32_MAX, &x);
        (void) session_get_int(o, "status", INT32_MIN, INT32_MAX, &x);
        (void) session_get_bool(o, "final", &b);
        json_object_put(o);
        return 0;
}
