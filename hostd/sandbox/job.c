/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job.h"

#include <ctype.h>
#include <stdio.h>
#include <sys/random.h>

#include "macros.h"

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_ACTIVE] = "active",
        [JOB_RELEASING] = "releasing",
        [JOB_LEAKED] = "leaked",
        [JOB_RELEASED] = "released",
};

static const char *const job_end_table[_JOB_END_MAX] = {
        [JOB_END_NONE] = "none",
        [JOB_END_RELEASE] = "release",
        [JOB_END_LEASE_EXPIRED] = "lease-expired",
};

const char *job_state_to_string(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX ? job_state_table[s] : NULL;
}

int job_state_from_string(const char *s) {
        for (int i = 0; i < _JOB_STATE_MAX; i++)
                if (streq_ptr(s, job_state_table[i]))
                        return i;
        return -EINVAL;
}

const char *job_end_to_string(JobEnd e) {
        return e >= 0 && e < _JOB_END_MAX ? job_end_table[e] : NULL;
}

int job_end_from_string(const char *s) {
        for (int i = 0; i < _JOB_END_MAX; i++)
                if (streq_ptr(s, job_end_table[i]))
                        return i;
        return -EINVAL;
}

Job *job_new(void) {
        Job *j = calloc(1, sizeof(Job));

        if (j)
                j->sandbox_pidfd = j->disk_fd = -1;
        return j;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        free(j->owner);
        free(j->platform);
        free(j->public_key);
        free(j->state_reason);
        safe_close(j->sandbox_pidfd);
        safe_close(j->disk_fd);
        strv_free(j->env);
        free(j->cgroup_path);
        free(j);
        return NULL;
}

bool job_id_is_valid(const char *id) {
        if (!id || strlen(id) != JOB_ID_LEN || id[0] != 'j')
                return false;
        for (size_t i = 1; i < JOB_ID_LEN; i++)
                if (!isdigit((unsigned char) id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
                        return false;
        return true;
}

int job_id_generate(char ret[JOB_ID_LEN + 1]) {
        uint8_t rnd[JOB_ID_HEX / 2];

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        ret[0] = 'j';
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(ret + 1 + 2 * i, 3, "%02x", rnd[i]);
        return 0;
}

int job_path(char *buf, size_t size, const char *state_dir, const char *job_id, const char *sub) {
        int n = snprintf(buf, size, "%s/jobs/%s%s%s", state_dir, job_id, sub ? "/" : "", strempty(sub));

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

json_object *quota_to_json(const JobResources *q) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "cpus", json_cpus(q->millicpus));
        json_add_int(o, "memory_bytes", (int64_t) q->memory);
        json_add_int(o, "pids", (int64_t) q->pids);
        json_add_int(o, "disk_bytes", (int64_t) q->disk);
        return o;
}

int job_to_state_json(const Job *j, json_object **ret) {
        json_object *o = json_object_new_object();
        json_object *q;

        if (!o)
                return -ENOMEM;
        json_add_int(o, "version", JOB_STATE_VERSION);
        json_add_string(o, "job", j->id);
        json_add_string(o, "owner", j->owner);
        json_add_string(o, "platform", j->platform);
        json_add_string(o, "public_key", j->public_key);
        json_add_string(o, "state", job_state_to_string(j->state));
        json_add_string(o, "state_reason", j->state_reason);
        json_add_string(o, "ended_by", job_end_to_string(j->ended_by));
        json_add_int(o, "created_usec", (int64_t) j->created);
        json_add_int(o, "lease_expires_usec", (int64_t) j->lease_expires);
        json_add_int(o, "released_usec", (int64_t) j->released);
        json_add_int(o, "lease_seconds", (int64_t) j->lease_seconds);
        json_add_int(o, "uid_base", j->uid_base);
        json_add_int(o, "anchor_pid", j->anchor_pid);
        json_add_int(o, "init_pid", j->init_pid);
        json_object_object_add(o, "key_generated", json_object_new_boolean(j->key_generated));
        q = json_object_new_object();
        json_add_int(q, "millicpus", j->quota.millicpus);
        json_add_int(q, "memory_bytes", (int64_t) j->quota.memory);
        json_add_int(q, "pids", (int64_t) j->quota.pids);
        json_add_int(q, "disk_bytes", (int64_t) j->quota.disk);
        json_object_object_add(o, "quota", q);
        *ret = o;
        return 0;
}

/* Field readers for the state file: each checks presence and type. */
static int get_field(json_object *o, const char *key, json_type type, bool nullable, json_object **ret,
                     char *error, size_t error_size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                snprintf(error, error_size, "field '%s' is missing", key);
                return -EBADMSG;
        }
        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, type)) {
                snprintf(error, error_size, "field '%s' has the wrong type", key);
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static int get_string(json_object *o, const char *key, bool nullable, size_t max, char **ret,
                      char *error, size_t error_size) {
        json_object *v;
        const char *s;
        int r;

        r = get_field(o, key, json_type_string, nullable, &v, error, error_size);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        s = json_string_bounded(v, max);
        if (!s) {
                snprintf(error, error_size, "field '%s' is too long or contains NUL", key);
                return -EBADMSG;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret, char *error, size_t error_size) {
        json_object *v;
        int64_t x;
        int r;

        r = get_field(o, key, json_type_int, false, &v, error, error_size);
        if (r < 0)
                return r;
        errno = 0;
        x = json_object_get_int64(v);
        if (x < 0 || (uint64_t) x > max || errno != 0) {
                snprintf(error, error_size, "field '%s' is out of range", key);
                return -EBADMSG;
        }
        *ret = (uint64_t) x;
        return 0;
}

int job_from_state_json(json_object *o, Job **ret, char *error, size_t error_size) {
        _cleanup_job_ Job *j = NULL;
        _cleanup_free_ char *id = NULL, *state = NULL, *ended = NULL;
        json_object *q;
        uint64_t version, v;
        int r;

        if (!json_object_is_type(o, json_type_object)) {
                snprintf(error, error_size, "not a JSON object");
                return -EBADMSG;
        }
        r = get_u64(o, "version", UINT32_MAX, &version, error, error_size);
        if (r < 0)
                return r;
        if (version != JOB_STATE_VERSION) {
                snprintf(error, error_size, "state version %llu is not supported (this hostd reads version %d)",
                         (unsigned long long) version, JOB_STATE_VERSION);
                return -EPROTO;
        }

        j = job_new();
        if (!j)
                return -ENOMEM;

        if ((r = get_string(o, "job", false, JOB_ID_LEN, &id, error, error_size)) < 0 ||
            (r = get_string(o, "owner", false, JOB_OWNER_MAX, &j->owner, error, error_size)) < 0 ||
            (r = get_string(o, "platform", false, 64, &j->platform, error, error_size)) < 0 ||
            (r = get_string(o, "public_key", true, JOB_PUBLIC_KEY_MAX, &j->public_key, error, error_size)) < 0 ||
            (r = get_string(o, "state", false, 32, &state, error, error_size)) < 0 ||
            (r = get_string(o, "state_reason", true, 4096, &j->state_reason, error, error_size)) < 0 ||
            (r = get_string(o, "ended_by", false, 32, &ended, error, error_size)) < 0 ||
            (r = get_u64(o, "created_usec", INT64_MAX, &j->created, error, error_size)) < 0 ||
            (r = get_u64(o, "lease_expires_usec", INT64_MAX, &j->lease_expires, error, error_size)) < 0 ||
            (r = get_u64(o, "released_usec", INT64_MAX, &j->released, error, error_size)) < 0 ||
            (r = get_u64(o, "lease_seconds", INT64_MAX, &j->lease_seconds, error, error_size)) < 0 ||
            (r = get_field(o, "quota", json_type_object, false, &q, error, error_size)) < 0)
                return r;

        if (!job_id_is_valid(id)) {
                snprintf(error, error_size, "field 'job' is not a valid job id");
                return -EBADMSG;
        }
        memcpy(j->id, id, JOB_ID_LEN + 1);

        r = job_state_from_string(state);
        if (r < 0) {
                snprintf(error, error_size, "field 'state' has unknown value");
                return -EBADMSG;
        }
        j->state = r;
        r = job_end_from_string(ended);
        if (r < 0) {
                snprintf(error, error_size, "field 'ended_by' has unknown value");
                return -EBADMSG;
        }
        j->ended_by = r;

        if ((r = get_u64(o, "uid_base", UINT32_MAX, &v, error, error_size)) < 0)
                return r;
        j->uid_base = (uint32_t) v;
        if ((r = get_u64(o, "anchor_pid", INT32_MAX, &v, error, error_size)) < 0)
                return r;
        j->anchor_pid = (int) v;
        if ((r = get_u64(o, "init_pid", INT32_MAX, &v, error, error_size)) < 0)
                return r;
        j->init_pid = (int) v;
        {
                json_object *kg;
                if ((r = get_field(o, "key_generated", json_type_boolean, false, &kg, error, error_size)) < 0)
                        return r;
                j->key_generated = json_object_get_boolean(kg);
        }
        if ((r = get_u64(q, "millicpus", UINT32_MAX, &v, error, error_size)) < 0)
                return r;
        j->quota.millicpus = (uint32_t) v;
        if ((r = get_u64(q, "memory_bytes", INT64_MAX, &j->quota.memory, error, error_size)) < 0 ||
            (r = get_u64(q, "pids", INT64_MAX, &j->quota.pids, error, error_size)) < 0 ||
            (r = get_u64(q, "disk_bytes", INT64_MAX, &j->quota.disk, error, error_size)) < 0)
                return r;

        *ret = TAKE_PTR(j);
        return 0;
}

int job_to_api_json(const Job *j, const JobAddress *a, json_object **ret) {
        json_object *o = json_object_new_object();
        char buf[512];

        if (!o)
                return -ENOMEM;
        json_add_string(o, "apiVersion", "hostd/v1");
        json_add_string(o, "job", j->id);
        json_add_string(o, "owner", j->owner);
        json_add_string(o, "state", job_state_to_string(j->state));
        json_add_string(o, "state_reason", j->state_reason);
        json_add_string(o, "user", j->id);
        snprintf(buf, sizeof(buf), "%s@%s", j->id, a->host);
        json_add_string(o, "host", buf);
        json_add_int(o, "port", a->port);
        snprintf(buf, sizeof(buf), "%s/%s/home", a->jobs_dir, j->id);
        json_add_string(o, "user_dir", buf);
        json_add_string(o, "platform", j->platform);
        json_add_time(o, "created", j->created);
        json_add_int(o, "lease_seconds", (int64_t) j->lease_seconds);
        json_add_time(o, "lease_expires", j->lease_expires);
        json_object_object_add(o, "quota", quota_to_json(&j->quota));
        json_add_string(o, "public_key", j->public_key);
        if (j->ended_by != JOB_END_NONE)
                json_add_string(o, "ended_by", job_end_to_string(j->ended_by));
        if (j->state == JOB_RELEASED)
                json_add_time(o, "released", j->released);
        *ret = o;
        return 0;
}

int job_new_placeholder(const char *id, const char *reason, usec_t now_usec, Job **ret) {
        _cleanup_job_ Job *j = job_new();

        if (!j)
                return -ENOMEM;
        if (!job_id_is_valid(id))
                return -EINVAL;
        memcpy(j->id, id, JOB_ID_LEN + 1);
        j->owner = strdup("(unknown)");
        j->platform = strdup("unknown");
        j->state_reason = strdup(reason);
        if (!j->owner || !j->platform || !j->state_reason)
                return -ENOMEM;
        j->state = JOB_LEAKED;
        j->created = now_usec;
        *ret = TAKE_PTR(j);
        return 0;
}
