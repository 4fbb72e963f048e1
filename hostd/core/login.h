/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who may log in over SSH: the decision, apart from the SSH protocol.  The
 * listener asks it for every key a client offers (probe and signature
 * alike); the session monitor enforces the answer. */

#include <stdbool.h>

#include "daemon.h"

typedef struct LoginDecision {
        bool ok;
        bool controller;          /* the controller user, for the API */
        const Job *job;           /* a job's user: its sandbox to enter */
        const char *reason;       /* why not: logged, never told the client */
} LoginDecision;

/* user logs in with the public key line key ("TYPE BASE64").  source_exempt:
 * the connection came from one of [Listen] ControllerSources (or there are
 * none), so the controller may log in from it.  Fails closed: a job without
 * a sandbox, a lease past its end, or controller keys that cannot be read
 * refuse. */
LoginDecision login_check(Daemon *d, const char *user, const char *key, bool source_exempt);
