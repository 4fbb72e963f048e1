/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The SSH listener in the main process.  It accepts connections, applies
 * the startup caps (MaxStartups, PerSourceMaxStartups per source bucket,
 * ControllerStartups reserved for the controller, ControllerSources
 * exempt) and MaxSessionsPerJob, and hands each connection to a fresh
 * session monitor process (hostd re-executed, see session-monitor.c).  It
 * answers the monitors' questions (is key K valid for user U? run this API
 * command) but never parses SSH itself. */

#include <stdio.h>

#include "daemon.h"

typedef struct Listener Listener;

/* Registers itself as d->ssh (daemon.h) until freed. */
int listener_new(Daemon *d, Listener **ret);
Listener *listener_free(Listener *l);
static inline void listener_freep(Listener **l) {
        listener_free(*l);
}

/* The port clients reach us on: the listening socket's own, which is the
 * one systemd chose under socket activation. */
uint16_t listener_port(const Listener *l);

/* Stopping: accept nothing more (under socket activation the kernel keeps
 * new connections queued for the next hostd), and call done(userdata)
 * once no session needs this process any more: those still
 * authenticating and the controller's.  Authenticated job sessions carry
 * on without us and are not waited for. */
void listener_drain(Listener *l, void (*done)(void *userdata), void *userdata);
unsigned listener_sessions_needing_main(const Listener *l);

/* The policy was reloaded: re-reads the host's addresses (one source with
 * loopback, see source-bucket.h). */
void listener_policy_changed(Listener *l);

/* Ends every SSH session of a job (its release started). */
void listener_terminate_job(Listener *l, const char *job);

void listener_stats(const Listener *l, SshStats *ret);
