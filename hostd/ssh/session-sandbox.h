/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Confines the net child before it reads a single byte from the network:
 * chroot into an empty directory, an unprivileged uid/gid with no
 * supplementary groups and no capabilities, no_new_privs, not dumpable,
 * small rlimits, and a seccomp allow-list of what libssh and OpenSSL need
 * to talk over already-open descriptors.  Everything else fails with
 * EACCES; the calls that would let it reach anything new (open, socket,
 * exec, kill of others, ptrace) are among them. */

int session_sandbox_enter(const char *empty_dir, int monitor_fd);
