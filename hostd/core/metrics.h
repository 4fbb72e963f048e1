/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

/* Only the pointer: the subsystems' hooks include this header. */
typedef struct Daemon Daemon;

/* Prometheus text exposition format (version 0.0.4), with HELP and TYPE
 * for every family. */
int metrics_render(Daemon *d, char **ret);

/* One family's HELP and TYPE lines, for the subsystems' hooks
 * (registry_metrics, health_metrics; the SSH counters come through
 * daemon_ssh_stats()). */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);
