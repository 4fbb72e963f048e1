/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Durable state under the state dir:
 *
 *   STATE/lock               flock()ed while a hostd owns this state dir
 *   STATE/host.json          host-wide state (drain)
 *   STATE/registry/ID.json   one record per job, written atomically
 *   STATE/jobs/ID/           the job's tree (home at jobs/ID/home)
 *   STATE/quarantine/        state files that could not be read, kept for people
 *
 * Every write is temp file + fsync + rename + fsync(dir), so a crash leaves
 * either the old or the new record.  A record that cannot be read is moved
 * to quarantine/ with a log line and its job comes back as "leaked", so it is
 * never silently dropped and its files are still reclaimed by a release. */

#include <stdbool.h>

#include "job.h"

typedef struct Store {
        char *path;
        int dir_fd;
        int lock_fd;
        int registry_fd;
        int jobs_fd;
        int quarantine_fd;
} Store;

/* Creates the layout if missing and takes the lock (-EBUSY if another hostd
 * holds it). */
int store_open(const char *path, Store **ret);
Store *store_close(Store *s);
static inline void store_closep(Store **s) {
        if (*s)
                store_close(*s);
}

int store_save_job(Store *s, const Job *j);
int store_remove_job(Store *s, const char *id);

/* Loads every record.  Corrupt, truncated and unknown-version records are
 * quarantined and returned as leaked jobs carrying the reason. */
int store_load_jobs(Store *s, Job ***ret, size_t *ret_n);

typedef struct HostState {
        bool draining;
        char *drain_reason;
} HostState;
int store_save_host(Store *s, const HostState *h);
int store_load_host(Store *s, HostState *ret);   /* missing file: not draining */
void host_state_done(HostState *h);

/* Job trees. */
/* jobs/ID (root, 0711: the job may pass through, not list) and
 * jobs/ID/home (the job's uid, 0700). */
int store_make_job_dir(Store *s, const char *id, uid_t uid);
bool store_job_dir_exists(Store *s, const char *id);
/* Whether uid:gid (a job's uid, no supplementary groups) may search every
 * directory from / down to STATE/jobs, as a job's init must to mount its
 * root there.  0 if so; otherwise the error access() gave (-EACCES) with
 * *ret_dir (if not NULL) the first directory it may not search and
 * *ret_mode its mode.  -EPROTO if the check itself could not run. */
int store_check_traversable(const Store *s, uid_t uid, gid_t gid, char **ret_dir, mode_t *ret_mode);
/* Names of job directories with no record: orphans to reclaim. */
int store_list_job_dirs(Store *s, char ***ret);
