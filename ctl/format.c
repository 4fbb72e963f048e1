/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "json-util.h"
#include "macros.h"

#define KEY_WIDTH 16                    /* "Lease expires:" plus two spaces */
#define GAUGE_MAX 32                    /* wider slot counts are scaled down */

/* ---- JSON accessors (json-util.h has the typed ones): false when absent or of another type ---- */

/* Integers, and doubles for numbers that a daemon might send as 2.0. */
static bool get_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;

        if ((v = json_get_typed(o, key, json_type_int))) {
                if (json_object_get_int64(v) < 0)
                        return false;
                *ret = json_object_get_uint64(v);
                return true;
        }
        if ((v = json_get_typed(o, key, json_type_double))) {
                double d = json_object_get_double(v);
                if (!(d >= 0) || d >= 18446744073709551616.0)
                        return false;
                *ret = (uint64_t) d;
                return true;
        }
        return false;
}

static bool get_number(json_object *o, const char *key, double *ret) {
        json_object *v;

        if ((v = json_get_typed(o, key, json_type_int)) || (v = json_get_typed(o, key, json_type_double))) {
                *ret = json_object_get_double(v);
                return true;
        }
        return false;
}

int answer_check(json_object *answer, const char **ret_bad) {
        const char *v;

        if (!answer || !json_object_is_type(answer, json_type_object)) {
                *ret_bad = "the answer is not a JSON object";
                return -EBADMSG;
        }
        v = json_get_string(answer, "apiVersion");
        if (!v) {
                *ret_bad = "no \"apiVersion\"";
                return -EBADMSG;
        }
        if (!streq(v, "hostd/v1")) {
                *ret_bad = "unsupported \"apiVersion\" (expected \"hostd/v1\")";
                return -EBADMSG;
        }
        return 0;
}

int answer_get_error(json_object *answer, const char **ret_code, const char **ret_message) {
        json_object *e;
        const char *code;

        if (!json_object_object_get_ex(answer, "error", &e) || json_object_is_type(e, json_type_null))
                return 0;
        code = json_get_string(e, "code");
        if (!code)
                return -EBADMSG;
        *ret_code = code;
        *ret_message = json_get_string(e, "message");
        return 1;
}

/* ---- units ---- */

char *format_duration(char *buf, size_t size, uint64_t sec) {
        static const struct {
                uint64_t sec;
                char unit;
        } units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
        size_t i = 0;
        uint64_t major, minor = 0;

        if (sec == 0) {
                snprintf(buf, size, "0s");
                return buf;
        }
        while (sec < units[i].sec)
                i++;
        major = sec / units[i].sec;
        if (i + 1 < ELEMENTSOF(units))
                minor = (sec % units[i].sec) / units[i + 1].sec;
        if (minor > 0)
                snprintf(buf, size, "%" PRIu64 "%c%" PRIu64 "%c",
                         major, units[i].unit, minor, units[i + 1].unit);
        else
                snprintf(buf, size, "%" PRIu64 "%c", major, units[i].unit);
        return buf;
}

int parse_rfc3339(const char *s, time_t *ret) {
        struct tm tm = {};
        const char *end;
        time_t t;

        if (!s)
                return -EINVAL;
        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -ERANGE;
        *ret = t;
        return 0;
}

char *format_lease_left(char *buf, size_t size, const char *expires, time_t now) {
        time_t t;

        if (parse_rfc3339(expires, &t) < 0)
                snprintf(buf, size, "?");
        else if (t <= now)
                snprintf(buf, size, "expired");
        else
                format_duration(buf, size, (uint64_t) (t - now));
        return buf;
}

/* How long ago an RFC 3339 time was, "?" if unparsable or in the future
 * by more than clock skew explains. */
static char *format_age(char *buf, size_t size, const char *when, time_t now) {
        time_t t;

        if (parse_rfc3339(when, &t) < 0 || t > now + 60)
                snprintf(buf, size, "?");
        else
                format_duration(buf, size, t >= now ? 0 : (uint64_t) (now - t));
        return buf;
}

static const char binary_suffix[] = "KMGTPE";

static char *format_bytes_internal(char *buf, size_t size, uint64_t bytes, bool compact) {
        double v = (double) bytes;
        int i = -1;

        while (v >= 1024 && i + 1 < (int) strlen(binary_suffix)) {
                v /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, size, compact ? "%" PRIu64 : "%" PRIu64 " B", bytes);
        else if (compact && bytes % (1ULL << (10 * (i + 1))) == 0)
                snprintf(buf, size, "%.0f%c", v, binary_suffix[i]);
        else if (v < 99.95)
                snprintf(buf, size, compact ? "%.1f%c" : "%.1f %ciB", v, binary_suffix[i]);
        else
                snprintf(buf, size, compact ? "%.0f%c" : "%.0f %ciB", v, binary_suffix[i]);
        return buf;
}

char *format_bytes(char *buf, size_t size, uint64_t bytes) {
        return format_bytes_internal(buf, size, bytes, false);
}

char *format_bytes_short(char *buf, size_t size, uint64_t bytes) {
        return format_bytes_internal(buf, size, bytes, true);
}

/* CPUs are decimals with up to three fractional digits: "2", "1.5". */
static char *format_cpus(char *buf, size_t size, double cpus) {
        size_t n;

        snprintf(buf, size, "%.3f", cpus);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = 0;
        return buf;
}

/* ---- "Key:   value" lines ---- */

static void field(FILE *f, const char *key, const char *format, ...) _printf_(3, 4);
static void field(FILE *f, const char *key, const char *format, ...) {
        va_list ap;

        if (key)
                fprintf(f, "%s:%*s", key, (int) (KEY_WIDTH - 1 - MIN(strlen(key), (size_t) KEY_WIDTH - 2)), "");
        else
                fprintf(f, "%*s", KEY_WIDTH, "");
        va_start(ap, format);
        vfprintf(f, format, ap);
        va_end(ap);
        fputc('\n', f);
}

/* A time with how far it is from now: "2026-11-22T02:00:00Z (10m ago)". */
static void field_time(FILE *f, const char *key, const char *when, time_t now) {
        char buf[64];
        time_t t;

        if (!when)
                return;
        if (parse_rfc3339(when, &t) < 0)
                field(f, key, "%s", when);
        else if (t <= now)
                field(f, key, "%s (%s ago)", when, format_duration(buf, sizeof buf, (uint64_t) (now - t)));
        else
                field(f, key, "%s (in %s)", when, format_duration(buf, sizeof buf, (uint64_t) (t - now)));
}

/* ---- capacity ---- */

static int check_capacity(json_object *a, const char **ret_bad) {
        json_object *slots = json_get_typed(a, "slots", json_type_object);
        uint64_t u;

        if (!slots || !get_u64(slots, "total", &u) || !get_u64(slots, "used", &u)) {
                *ret_bad = "no \"slots\" object with \"total\" and \"used\"";
                return -EBADMSG;
        }
        return 0;
}

static void print_slots(json_object *a, FILE *f) {
        json_object *slots = json_get_typed(a, "slots", json_type_object);
        uint64_t total = 0, used = 0, free_slots, width, filled;
        char gauge[GAUGE_MAX + 1];

        (void) get_u64(slots, "total", &total);
        (void) get_u64(slots, "used", &used);
        if (!get_u64(slots, "free", &free_slots))
                free_slots = total > used ? total - used : 0;

        width = MIN(total, (uint64_t) GAUGE_MAX);
        filled = total == 0 ? 0 : MIN(width, (used * width + total - 1) / total);
        memset(gauge, '#', filled);
        memset(gauge + filled, '-', width - filled);
        gauge[width] = 0;

        field(f, "Slots", "[%s] %" PRIu64 "/%" PRIu64 " used, %" PRIu64 " free", gauge, used, total, free_slots);
}

static void print_allocatable(json_object *a, FILE *f) {
        const char *reason = json_get_string(a, "not_allocatable_reason");
        bool b;

        if (json_get_bool(a, "allocatable", &b) < 0)
                return;
        if (b)
                field(f, "Allocatable", "yes");
        else if (reason)
                field(f, "Allocatable", "no (%s)", reason);
        else
                field(f, "Allocatable", "no");
}

static void print_draining(json_object *a, FILE *f) {
        const char *reason = json_get_string(a, "drain_reason");
        bool b;

        if (json_get_bool(a, "draining", &b) < 0)
                return;
        if (!b)
                field(f, "Draining", "no");
        else if (reason)
                field(f, "Draining", "yes: %s", reason);
        else
                field(f, "Draining", "yes");
}

static void print_platforms(json_object *a, FILE *f) {
        json_object *l = json_get_typed(a, "platforms", json_type_array);
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *m = NULL;

        if (!l)
                return;
        m = open_memstream(&text, &size);
        if (!m)
                return;
        for (size_t i = 0; i < json_object_array_length(l); i++) {
                json_object *p = json_object_array_get_idx(l, i);
                const char *name = json_get_string(p, "platform");
                bool emulated = false, allowed = true;

                if (!name)
                        continue;
                (void) json_get_bool(p, "emulated", &emulated);
                (void) json_get_bool(p, "allowed", &allowed);
                fprintf(m, "%s%s (%s)", i > 0 ? ", " : "", name,
                        !emulated ? "native" : allowed ? "emulated" : "emulated, not allowed");
        }
        if (fclose(TAKE_PTR(m)) == 0 && text)
                field(f, "Platforms", "%s", *text ? text : "none");
}

static void print_resources(json_object *a, FILE *f) {
        json_object *r = json_get_typed(a, "resources", json_type_object);
        const char *dir = json_get_string(r, "state_dir");
        char x[32], y[32];
        uint64_t total, avail;
        double cpus;

        if (!r)
                return;
        if (get_number(r, "cpus", &cpus))
                field(f, "CPUs", "%s", format_cpus(x, sizeof x, cpus));
        if (get_u64(r, "memory_available_bytes", &avail) && get_u64(r, "memory_total_bytes", &total))
                field(f, "Memory", "%s available of %s",
                      format_bytes(x, sizeof x, avail), format_bytes(y, sizeof y, total));
        if (get_u64(r, "disk_free_bytes", &avail) && get_u64(r, "disk_total_bytes", &total))
                field(f, "Disk", "%s free of %s%s%s",
                      format_bytes(x, sizeof x, avail), format_bytes(y, sizeof y, total),
                      dir ? " under " : "", strempty(dir));
}

/* Appends "name" to the yes or no list; nested objects of booleans
 * ("cgroup") collapse to one word when all agree. */
static void enforcement_item(FILE *yes, FILE *no, const char *name, json_object *v) {
        _cleanup_free_ char *label = strdup(name);

        if (!label)
                return;
        for (char *p = label; *p; p++)
                if (*p == '_')
                        *p = ' ';

        if (json_object_is_type(v, json_type_boolean)) {
                FILE *to = json_object_get_boolean(v) ? yes : no;
                fprintf(to, "%s%s", ftell(to) > 0 ? ", " : "", label);
        } else if (json_object_is_type(v, json_type_object)) {
                size_t n_yes = 0, n_no = 0;

                json_object_object_foreach(v, k, sub) {
                        (void) k;
                        if (!json_object_is_type(sub, json_type_boolean))
                                continue;
                        if (json_object_get_boolean(sub))
                                n_yes++;
                        else
                                n_no++;
                }
                if (n_yes == 0 || n_no == 0) {
                        FILE *to = n_no == 0 ? yes : no;
                        fprintf(to, "%s%s", ftell(to) > 0 ? ", " : "", label);
                        return;
                }
                for (int want = 1; want >= 0; want--) {
                        FILE *to = want ? yes : no;
                        bool first = true;

                        fprintf(to, "%s%s ", ftell(to) > 0 ? ", " : "", label);
                        json_object_object_foreach(v, k2, sub2)
                                if (json_object_is_type(sub2, json_type_boolean) &&
                                    json_object_get_boolean(sub2) == want) {
                                        fprintf(to, "%s%s", first ? "" : "+", k2);
                                        first = false;
                                }
                }
        }
}

static void print_enforcement(json_object *a, FILE *f) {
        json_object *e = json_get_typed(a, "enforcement", json_type_object);
        json_object *notes = json_get_typed(e, "notes", json_type_array);
        _cleanup_free_ char *yes_text = NULL, *no_text = NULL;
        size_t yes_size = 0, no_size = 0;
        _cleanup_fclose_ FILE *yes = NULL, *no = NULL;

        if (!e)
                return;
        yes = open_memstream(&yes_text, &yes_size);
        no = open_memstream(&no_text, &no_size);
        if (!yes || !no)
                return;
        json_object_object_foreach(e, k, v)
                if (!streq(k, "stage") && !streq(k, "notes"))
                        enforcement_item(yes, no, k, v);
        if (fclose(TAKE_PTR(yes)) != 0 || fclose(TAKE_PTR(no)) != 0)
                return;

        field(f, "Enforcement", "%s", json_get_string(e, "stage") ?: "unknown stage");
        field(f, NULL, "enforced: %s", isempty(yes_text) ? "none" : yes_text);
        field(f, NULL, "not enforced: %s", isempty(no_text) ? "none" : no_text);
        for (size_t i = 0; notes && i < json_object_array_length(notes); i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(notes, i));
                if (s)
                        field(f, NULL, "note: %s", s);
        }
}

static void print_health(json_object *a, FILE *f) {
        json_object *h = json_get_typed(a, "health", json_type_object);
        json_object *problems = json_get_typed(h, "problems", json_type_array);
        const char *status = json_get_string(h, "status");
        size_t n = problems ? json_object_array_length(problems) : 0;

        if (!status)
                return;
        if (n == 0) {
                field(f, "Health", "%s", status);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *s = json_object_get_string(json_object_array_get_idx(problems, i));
                if (i == 0)
                        field(f, "Health", "%s: %s", status, strempty(s));
                else
                        field(f, NULL, "%s", strempty(s));
        }
}

/* "host_keys" came later than v1's first draft: print it only if there. */
static void print_host_keys(json_object *a, FILE *f) {
        json_object *l = json_get_typed(a, "host_keys", json_type_array);
        bool first = true;

        for (size_t i = 0; l && i < json_object_array_length(l); i++) {
                json_object *k = json_object_array_get_idx(l, i);
                const char *type = json_get_string(k, "type"), *fp = json_get_string(k, "fingerprint");

                if (!fp)
                        continue;
                field(f, first ? "Host keys" : NULL, "%s %s", type ?: "?", fp);
                first = false;
        }
}

int format_known_hosts(json_object *capacity, const char *address, unsigned port, FILE *f, const char **ret_bad) {
        json_object *l = json_get_typed(capacity, "host_keys", json_type_array);
        size_t n = l ? json_object_array_length(l) : 0, printed = 0;

        /* Letters, digits, '.', '-' and ':' only: a host name or an IPv4 or
         * IPv6 address, nothing that known_hosts would read as a pattern
         * (*, ?, !), a list (,) or a marker (@). */
        if (isempty(address) || strlen(address) > 253 || address[0] == '-' ||
            strspn(address, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(address) ||
            port == 0 || port > 65535)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const char *key = json_get_string(json_object_array_get_idx(l, i), "public_key");

                /* "TYPE BASE64", nothing else on the line. */
                if (!key || strchr(key, '\n') || !strchr(key, ' '))
                        continue;
                if (port == 22)
                        fprintf(f, "%s %s\n", address, key);
                else
                        fprintf(f, "[%s]:%u %s\n", address, port, key);
                printed++;
        }
        if (printed == 0) {
                *ret_bad = "host_keys";
                return -EBADMSG;
        }
        return 0;
}

static void print_identity(json_object *a, FILE *f) {
        const char *s;

        if ((s = json_get_string(a, "version")))
                field(f, "Version", "%s", s);
        if ((s = json_get_string(a, "boot_id")))
                field(f, "Boot ID", "%s", s);
        if ((s = json_get_string(a, "hostname")))
                field(f, "Hostname", "%s", s);
}

int format_capacity(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        int r = check_capacity(answer, ret_bad);
        if (r < 0)
                return r;

        print_slots(answer, f);
        print_allocatable(answer, f);
        print_draining(answer, f);
        print_platforms(answer, f);
        print_resources(answer, f);
        print_enforcement(answer, f);
        print_health(answer, f);
        print_host_keys(answer, f);
        print_identity(answer, f);
        return 0;
}

int format_drain(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        const char *reason = json_get_string(answer, "drain_reason");
        int r = check_capacity(answer, ret_bad);
        if (r < 0)
                return r;

        fprintf(f, "Draining: %s\n", reason ?: "(no reason given)");
        print_slots(answer, f);
        return 0;
}

int format_resume(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        int r = check_capacity(answer, ret_bad);
        if (r < 0)
                return r;

        fprintf(f, "Resumed: accepting jobs\n");
        print_slots(answer, f);
        return 0;
}

/* ---- jobs ---- */

typedef struct Table {
        size_t n_columns;
        size_t n_cells;
        char **cells;
} Table;

static void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
}

static int table_add(Table *t, const char *s) {
        char **c = reallocarray(t->cells, t->n_cells + 1, sizeof(char *));
        if (!c)
                return -ENOMEM;
        t->cells = c;
        c[t->n_cells] = strdup(s ?: "-");
        if (!c[t->n_cells])
                return -ENOMEM;
        t->n_cells++;
        return 0;
}

static int table_print(const Table *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], strlen(t->cells[i]));
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;

                if (col + 1 == t->n_columns)
                        fprintf(f, "%s\n", t->cells[i]);
                else
                        fprintf(f, "%-*s  ", (int) width[col], t->cells[i]);
        }
        return 0;
}

/* "used/limit" when the job reports usage, else the limit. */
static void format_resource(char *buf, size_t size, json_object *job, const char *key, bool cpus) {
        json_object *quota = json_get_typed(job, "quota", json_type_object);
        json_object *usage = json_get_typed(job, "usage", json_type_object);
        char limit[32], used[32];
        double v;

        if (!get_number(quota, key, &v))
                snprintf(limit, sizeof limit, "-");
        else if (cpus)
                format_cpus(limit, sizeof limit, v);
        else
                format_bytes_short(limit, sizeof limit, (uint64_t) v);

        if (!get_number(usage, key, &v)) {
                snprintf(buf, size, "%s", limit);
                return;
        }
        if (cpus)
                format_cpus(used, sizeof used, v);
        else
                format_bytes_short(used, sizeof used, (uint64_t) v);
        snprintf(buf, size, "%s/%s", used, limit);
}

static int table_add_job(Table *t, json_object *job, time_t now) {
        const char *state = json_get_string(job, "state");
        char age[32], left[32], cpus[64], memory[64], disk[64];
        int r = 0;

        format_age(age, sizeof age, json_get_string(job, "created"), now);
        /* Only an active job's lease means anything; the others are going away. */
        if (streq_ptr(state, "active"))
                format_lease_left(left, sizeof left, json_get_string(job, "lease_expires"), now);
        else
                snprintf(left, sizeof left, "-");
        format_resource(cpus, sizeof cpus, job, "cpus", true);
        format_resource(memory, sizeof memory, job, "memory_bytes", false);
        format_resource(disk, sizeof disk, job, "disk_bytes", false);

        const char *row[] = {
                json_get_string(job, "job"), json_get_string(job, "owner"), state,
                json_get_string(job, "platform"), age, left, cpus, memory, disk,
        };
        for (size_t i = 0; i < ELEMENTSOF(row) && r >= 0; i++)
                r = table_add(t, row[i]);
        return r;
}

static int print_jobs_table(json_object *jobs, time_t now, FILE *f) {
        static const char *const header[] = {
                "JOB", "OWNER", "STATE", "PLATFORM", "AGE", "LEASE LEFT", "CPUS", "MEMORY", "DISK",
        };
        _cleanup_(table_done) Table t = { .n_columns = ELEMENTSOF(header) };
        size_t n = json_object_array_length(jobs);
        int r;

        if (n == 0) {
                fprintf(f, "No jobs.\n");
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(header); i++)
                if ((r = table_add(&t, header[i])) < 0)
                        return r;
        for (size_t i = 0; i < n; i++)
                if ((r = table_add_job(&t, json_object_array_get_idx(jobs, i), now)) < 0)
                        return r;
        r = table_print(&t, f);
        if (r < 0)
                return r;

        /* Reasons do not fit a column; leaked jobs are what operators look for. */
        for (size_t i = 0; i < n; i++) {
                json_object *job = json_object_array_get_idx(jobs, i);
                const char *reason = json_get_string(job, "state_reason");

                if (reason)
                        fprintf(f, "%s is %s: %s\n", strempty(json_get_string(job, "job")),
                                json_get_string(job, "state") ?: "?", reason);
        }
        return 0;
}

static json_object *get_jobs(json_object *answer, const char **ret_bad) {
        json_object *jobs = json_get_typed(answer, "jobs", json_type_array);

        if (!jobs)
                *ret_bad = "no \"jobs\" array";
        return jobs;
}

int format_jobs(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        json_object *jobs = get_jobs(answer, ret_bad);

        if (!jobs)
                return -EBADMSG;
        return print_jobs_table(jobs, now, f);
}

int format_status(json_object *capacity, json_object *jobs_answer, time_t now, FILE *f, const char **ret_bad) {
        json_object *jobs = get_jobs(jobs_answer, ret_bad);
        int r;

        if (!jobs)
                return -EBADMSG;
        r = check_capacity(capacity, ret_bad);
        if (r < 0)
                return r;

        print_slots(capacity, f);
        print_allocatable(capacity, f);
        print_draining(capacity, f);
        print_platforms(capacity, f);
        print_health(capacity, f);
        print_host_keys(capacity, f);
        print_identity(capacity, f);
        fputc('\n', f);
        return print_jobs_table(jobs, now, f);
}

/* ---- one job ---- */

static void print_quota(json_object *job, FILE *f) {
        json_object *q = json_get_typed(job, "quota", json_type_object);
        char cpus[32], memory[32], disk[32];
        double c;
        uint64_t m, d, pids;

        if (!q)
                return;
        if (get_number(q, "cpus", &c))
                field(f, "CPUs", "%s", format_cpus(cpus, sizeof cpus, c));
        if (get_u64(q, "memory_bytes", &m))
                field(f, "Memory", "%s", format_bytes(memory, sizeof memory, m));
        if (get_u64(q, "pids", &pids))
                field(f, "Pids", "%" PRIu64, pids);
        if (get_u64(q, "disk_bytes", &d))
                field(f, "Disk", "%s", format_bytes(disk, sizeof disk, d));
}

static void print_usage(json_object *job, FILE *f) {
        json_object *u = json_get_typed(job, "usage", json_type_object);
        char buf[64];

        if (!u)
                return;
        format_resource(buf, sizeof buf, job, "cpus", true);
        field(f, "CPU use", "%s", buf);
        format_resource(buf, sizeof buf, job, "memory_bytes", false);
        field(f, "Memory use", "%s", buf);
        format_resource(buf, sizeof buf, job, "disk_bytes", false);
        field(f, "Disk use", "%s", buf);
}

int format_job(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        const char *id = json_get_string(answer, "job"), *state = json_get_string(answer, "state"), *s;
        char buf[64];
        uint64_t u;
        time_t t;

        if (!id || !state) {
                *ret_bad = "no \"job\" or \"state\" string";
                return -EBADMSG;
        }

        field(f, "Job", "%s", id);
        if ((s = json_get_string(answer, "owner")))
                field(f, "Owner", "%s", s);
        if ((s = json_get_string(answer, "state_reason")))
                field(f, "State", "%s: %s", state, s);
        else
                field(f, "State", "%s", state);
        if ((s = json_get_string(answer, "platform")))
                field(f, "Platform", "%s", s);
        if ((s = json_get_string(answer, "user")))
                field(f, "User", "%s", s);
        if ((s = json_get_string(answer, "host")))
                field(f, "Host", "%s", s);
        if (get_u64(answer, "port", &u))
                field(f, "Port", "%" PRIu64, u);
        if ((s = json_get_string(answer, "user_dir")))
                field(f, "User dir", "%s", s);
        field_time(f, "Created", json_get_string(answer, "created"), now);
        if (get_u64(answer, "lease_seconds", &u))
                field(f, "Lease", "%s", format_duration(buf, sizeof buf, u));
        if (streq(state, "active") && (s = json_get_string(answer, "lease_expires")))
                field(f, "Lease expires", "%s (%s%s)", s,
                      parse_rfc3339(s, &t) >= 0 && t > now ? "in " : "",
                      format_lease_left(buf, sizeof buf, s, now));
        print_quota(answer, f);
        print_usage(answer, f);
        if ((s = json_get_string(answer, "public_key")))
                field(f, "Public key", "%s", s);
        if ((s = json_get_string(answer, "ended_by")))
                field(f, "Ended by", "%s", s);
        field_time(f, "Released", json_get_string(answer, "released"), now);
        return 0;
}

/* Prints a multi-line field verbatim, with a final newline. */
static void print_verbatim(FILE *f, const char *title, const char *text) {
        size_t n = strlen(text);

        fprintf(f, "%s:\n%s%s", title, text, n > 0 && text[n - 1] == '\n' ? "" : "\n");
}

int format_allocate(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        const char *key = json_get_string(answer, "private_key");
        const char *known_hosts = json_get_string(answer, "known_hosts");
        int r;

        r = format_job(answer, now, f, ret_bad);
        if (r < 0)
                return r;
        if (key) {
                fprintf(f, "\nWarning: the private key is shown only once; hostd does not keep it. Store it now.\n");
                print_verbatim(f, "Private key", key);
        }
        if (known_hosts) {
                fputc('\n', f);
                print_verbatim(f, "Known hosts", known_hosts);
        }
        return 0;
}

int format_release(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        const char *id = json_get_string(answer, "job"), *state = json_get_string(answer, "state");
        const char *ended_by = json_get_string(answer, "ended_by");
        const char *released = json_get_string(answer, "released");
        const char *reason = json_get_string(answer, "state_reason");

        if (!id || !state) {
                *ret_bad = "no \"job\" or \"state\" string";
                return -EBADMSG;
        }

        if (streq(state, "released")) {
                if (ended_by && released)
                        fprintf(f, "Job %s released (ended by %s at %s).\n", id, ended_by, released);
                else
                        fprintf(f, "Job %s released.\n", id);
                return 0;
        }

        /* The job still holds its slot: the operator must know it failed. */
        fprintf(f, "Job %s is %s%s%s.\n", id, state, reason ? ": " : "", strempty(reason));
        if (streq(state, "leaked"))
                fprintf(f, "Its cleanup failed and the host drains itself; run 'hostctl release %s' again to retry.\n", id);
        return EXIT_INTERNAL;
}

int format_reload(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        json_object *sources = json_get_typed(answer, "sources", json_type_array);

        if (!sources) {
                *ret_bad = "no \"sources\" array";
                return -EBADMSG;
        }
        fprintf(f, "Policy reloaded from: ");
        for (size_t i = 0; i < json_object_array_length(sources); i++)
                fprintf(f, "%s%s", i > 0 ? ", " : "",
                        strempty(json_object_get_string(json_object_array_get_idx(sources, i))));
        fputc('\n', f);
        return 0;
}

int format_metrics(json_object *answer, time_t now, FILE *f, const char **ret_bad) {
        const char *text = json_get_string(answer, "text");

        if (!text) {
                *ret_bad = "no \"text\" string";
                return -EBADMSG;
        }
        fputs(text, f);
        return 0;
}
