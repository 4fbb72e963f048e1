/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging to the journal (structured, with JOB= and OWNER= fields) when
 * running under systemd, and to stderr otherwise.  The *_errno() variants
 * log and return the negative errno in one step, as systemd's do. */

#include <stdbool.h>
#include <syslog.h>

#include "macros.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if stderr is connected to it, else stderr */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
} LogTarget;

void log_setup(const char *ident, LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);
bool log_to_journal(void);

/* Returns -abs(error) if error != 0, else 0. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *job, const char *owner, const char *format, ...) _printf_(8, 9);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, NULL, NULL, __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/* Per-job lines carry JOB= and OWNER= journal fields, so that
 * `journalctl JOB=<id>` finds everything about one job. */
#define log_job_full_errno(level, error, job, owner, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, (job), (owner), __VA_ARGS__)
#define log_job(level, job, owner, ...) log_job_full_errno((level), 0, (job), (owner), __VA_ARGS__)
