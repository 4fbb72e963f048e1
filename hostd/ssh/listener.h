/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The SSH listener in the main process.  It accepts connections, applies
 * the startup caps (MaxStartups, PerSourceMaxStartups per source bucket,
 * ControllerStartups reserved for the controller, ControllerSources
 * exempt) and MaxSessionsPerJob, and hands each connection to a fresh
 * session monitor process (hostd re-executed, see session-monitor.c).  It
 * answers the monitors' questions (is key K valid for user U? asks the
 * core's login_check(); run this API command) but never parses SSH
 * itself.  The core reaches it through the SshFrontend it registers. */

#include "daemon.h"

typedef struct Listener Listener;

/* Registers itself as d->ssh (daemon.h) until freed. */
int listener_new(Daemon *d, Listener **ret);
Listener *listener_free(Listener *l);
static inline void listener_freep(Listener **l) {
        listener_free(*l);
}
