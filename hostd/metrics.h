/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "daemon.h"

/* Prometheus text exposition format (version 0.0.4), with HELP and TYPE
 * for every family. */
int metrics_render(Daemon *d, char **ret);
