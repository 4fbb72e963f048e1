/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One job: a slot given to one owner (a Tekton TaskRun) for a lease.
 * This file holds the record and its two JSON forms: the durable state
 * file (job_to_state_json/job_from_state_json) and the API answer. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "json-util.h"
#include "policy.h"
#include "time-util.h"

#define JOB_ID_HEX 12
#define JOB_ID_LEN (1 + JOB_ID_HEX)   /* "j" + 12 hex digits */
#define JOB_OWNER_MAX 253
#define JOB_PUBLIC_KEY_MAX 16384
#define JOB_STATE_VERSION 1
#define JOB_STATE_FILE_MAX (64 * 1024)

typedef enum JobState {
        JOB_ACTIVE,      /* holds a slot, sessions allowed */
        JOB_RELEASING,   /* cleanup running; still holds its slot */
        JOB_LEAKED,      /* cleanup failed; holds its slot until a release succeeds */
        JOB_RELEASED,    /* fully reclaimed; kept as a tombstone for idempotent release */
        _JOB_STATE_MAX,
} JobState;

typedef enum JobEnd {
        JOB_END_NONE,
        JOB_END_RELEASE,
        JOB_END_LEASE_EXPIRED,
        _JOB_END_MAX,
} JobEnd;

typedef struct ReleaseWaiter ReleaseWaiter;

typedef struct Job {
        char id[JOB_ID_LEN + 1];
        char *owner;
        char *platform;
        char *public_key;       /* NULL if none */
        JobState state;
        char *state_reason;     /* why leaked, for instance */
        JobEnd ended_by;        /* set once release starts */
        usec_t created;         /* CLOCK_REALTIME */
        usec_t lease_expires;
        usec_t released;
        uint64_t lease_seconds;
        JobResources quota;     /* .lease unused: see lease_seconds */
        uint32_t uid_base;      /* host uid of the job's root (first of its range) */
        bool key_generated;     /* hostd made the key pair (and forgot the private half) */
        int anchor_pid;         /* the sandbox's entry process and PID 1 (host pids), 0 = none */
        int init_pid;

        /* Runtime only, never persisted. */
        pid_t cleanup_pid;
        usec_t cleanup_started;  /* CLOCK_MONOTONIC */
        void *cleanup_source;   /* sd_event_source* */
        ReleaseWaiter *waiters;
        int sandbox_pidfd;      /* the anchor's */
        int disk_fd;            /* the job's disk, for usage */
        char **env;             /* podman's environment for job processes */
        char *cgroup_path;      /* cgroupfs directory of the job, NULL without cgroups */
        void *init_source;      /* sd_event_source* reaping the job's init */
        void *anchor_source;    /* and its anchor */
} Job;

Job *job_new(void);
Job *job_free(Job *j);
static inline void job_freep(Job **j) {
        if (*j)
                job_free(*j);
}
#define _cleanup_job_ __attribute__((cleanup(job_freep)))

const char *job_state_to_string(JobState s);
int job_state_from_string(const char *s);
const char *job_end_to_string(JobEnd e);
int job_end_from_string(const char *s);

/* Whether the job occupies a slot. */
static inline bool job_holds_slot(const Job *j) {
        return j->state != JOB_RELEASED;
}

/* A leaked record for a job whose own record is lost (unreadable state
 * file, or a tree with no record): it holds a slot until released. */
int job_new_placeholder(const char *id, const char *reason, usec_t now_usec, Job **ret);

bool job_id_is_valid(const char *id);
int job_id_generate(char ret[JOB_ID_LEN + 1]);

/* STATE_DIR/jobs/JOB_ID, or STATE_DIR/jobs/JOB_ID/SUB if sub is not NULL,
 * into buf: the one place that knows the layout of a job's tree.  An
 * empty state_dir gives the suffix "/jobs/JOB_ID[/SUB]".  0, or
 * -ENAMETOOLONG (buf holds a truncated path). */
int job_path(char *buf, size_t size, const char *state_dir, const char *job_id, const char *sub);

/* Durable form.  job_from_state_json() accepts only what job_to_state_json()
 * writes, checks every field, and returns -EPROTO for a well-formed file of
 * another version. */
int job_to_state_json(const Job *j, json_object **ret);
int job_from_state_json(json_object *o, Job **ret, char *error, size_t error_size);

/* The API answer's job object (docs/contract.md). */
typedef struct JobAddress {
        const char *host;     /* advertised address */
        uint16_t port;
        const char *jobs_dir; /* <state>/jobs */
} JobAddress;
int job_to_api_json(const Job *j, const JobAddress *a, json_object **ret);

/* {"cpus", "memory_bytes", "pids", "disk_bytes"}, as in job answers. */
json_object *quota_to_json(const JobResources *q);

