/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A job's egress under Network=private: the job has its own network
 * namespace (sandbox.c, as for none), and pasta (from Debian's passt
 * package) attached to it gives it a tap interface with the host's
 * addresses and routes, translating its traffic to sockets of the host.
 * No port is forwarded into the job, none out of it; connections to the
 * gateway address reach the host's loopback (pasta's default mapping).
 *
 * pasta runs as host root joined to the job's user namespace (its
 * capabilities are over the job's namespaces only), in its own detached
 * pid and empty mount namespace with a seccomp filter (its own sandbox),
 * outside the job's pid namespace: no job process can name it.  It writes
 * its pid to STATE/jobs/<id>/pasta.pid, which outlives a restart of hostd
 * and is how the cleanup finds it. */

#include <stdbool.h>
#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "job.h"
#include "policy.h"

#define JOB_NETWORK_PID_FILE "pasta.pid"

/* The pasta binary, or NULL if it is not installed. */
const char *job_network_helper(void);

/* For capacity: what Network= is in force and whether its helper is
 * there; false (and a reason an operator can act on) if allocate would
 * fail for want of the helper. */
bool job_network_available(JobNetwork n, char *why, size_t size);
void job_network_describe(JobNetwork n, json_object *enforcement);

/* Starts pasta for the job (its anchor j->anchor_pid, pidfd
 * j->sandbox_pidfd, already built), in cgroup (absolute cgroupfs path, or
 * NULL), and waits until it has configured the job's interface.  With
 * adopted, finds the running one first and only starts a new one if it is
 * gone (a failure then leaves the job without egress, not failed); an
 * adopted job without a pid file had no private network and is left
 * alone.  Failures are logged with pasta's own words; -ENONET if
 * pasta is missing or failed.  hostd reaps
 * the pasta it starts (a subreaper) through event. */
int job_network_start(sd_event *event, const Job *j, int job_fd, const char *job_dir, const char *cgroup, bool adopted);

/* In the cleanup child: kills the job's pasta, if one is running, and
 * waits until it is gone. */
int job_network_stop(int job_fd, const Job *j);
