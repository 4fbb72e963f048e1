/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* A process's name, /proc/PID/comm (at most 15 characters), without the
 * newline.  pid_dir_fd: an open /proc/PID directory (pid unused), or -1 to
 * open /proc/PID/comm by pid.  0, or a negative errno (-ESRCH: gone or
 * empty).  Names can be set by the process itself: compare, never trust. */
int proc_read_comm(int pid_dir_fd, pid_t pid, char *buf, size_t size);
