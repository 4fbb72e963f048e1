/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The table of sections and keys, and reading, writing and formatting a
 * key's field. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "parse-util.h"
#include "policy-internal.h"

#define FIELD(f) offsetof(Policy, f), sizeof(((Policy *) NULL)->f)

/* In file order; policy_dump and docs/policy.md follow it. */
const PolicyKey policy_keys[] = {
        { "Listen", "Address", KEY_ADDRESS, FIELD(listen_address) },
        { "Listen", "Port", KEY_UINT, FIELD(listen_port), .min = 1, .max = 65535 },
        { "Listen", "AdvertiseAddress", KEY_HOST, FIELD(advertise_address), .optional = true },
        { "Listen", "ControllerSources", KEY_CIDRS, FIELD(controller_sources) },

        { "SSH", "HostKeyEd25519", KEY_PATH, FIELD(host_key_ed25519), .optional = true },
        { "SSH", "HostKeyRSA", KEY_PATH, FIELD(host_key_rsa), .optional = true },
        { "SSH", "HostKeyECDSA", KEY_PATH, FIELD(host_key_ecdsa), .optional = true },
        { "SSH", "ControllerUser", KEY_USER, FIELD(controller_user) },
        { "SSH", "ControllerKeys", KEY_PATH, FIELD(controller_keys), .optional = true },
        { "SSH", "MaxStartups", KEY_UINT, FIELD(max_startups), .min = 1, .max = 10000 },
        { "SSH", "PerSourceMaxStartups", KEY_UINT, FIELD(per_source_max_startups), .min = 1, .max = 10000 },
        { "SSH", "ControllerStartups", KEY_UINT, FIELD(controller_startups), .min = 0, .max = 1000 },
        { "SSH", "SourcePrefixIPv4", KEY_UINT, FIELD(source_prefix_ipv4), .min = 8, .max = 32 },
        { "SSH", "SourcePrefixIPv6", KEY_UINT, FIELD(source_prefix_ipv6), .min = 16, .max = 128 },
        { "SSH", "LocalSourcesAsOne", KEY_BOOL, FIELD(local_sources_as_one) },
        { "SSH", "LoginGraceTime", KEY_DURATION, FIELD(login_grace_sec), .min = 1, .max = 10 * MINUTE },
        { "SSH", "MaxAuthTries", KEY_UINT, FIELD(max_auth_tries), .min = 1, .max = 100 },
        { "SSH", "MaxSessionsPerJob", KEY_UINT, FIELD(max_sessions_per_job), .min = 1, .max = 1024 },
        { "SSH", "AcceptEnv", KEY_ENV_NAMES, FIELD(accept_env) },

        { "Control", "Socket", KEY_SOCKET, FIELD(control_socket) },
        { "Control", "Group", KEY_GROUP, FIELD(control_group), .optional = true },

        { "State", "Directory", KEY_STATE_DIR, FIELD(state_dir) },
        { "State", "ReleasedRetention", KEY_DURATION, FIELD(released_retention_sec), .min = 0, .max = 30 * DAY },

        { "Jobs", "Slots", KEY_UINT, FIELD(slots), .min = 1, .max = 1024 },
        { "Jobs", "Network", KEY_NETWORK, FIELD(network) },
        { "Jobs", "DefaultCPUs", KEY_CPUS, FIELD(job_default.millicpus), .min = 100, .max = 1024000 },
        { "Jobs", "MaxCPUs", KEY_CPUS, FIELD(job_max.millicpus), .min = 100, .max = 1024000 },
        { "Jobs", "DefaultMemory", KEY_SIZE, FIELD(job_default.memory), .min = 64 * MIB, .max = 16 * TIB },
        { "Jobs", "MaxMemory", KEY_SIZE, FIELD(job_max.memory), .min = 64 * MIB, .max = 16 * TIB },
        { "Jobs", "DefaultPids", KEY_UINT, FIELD(job_default.pids), .min = 16, .max = 4194304 },
        { "Jobs", "MaxPids", KEY_UINT, FIELD(job_max.pids), .min = 16, .max = 4194304 },
        { "Jobs", "DefaultDisk", KEY_SIZE, FIELD(job_default.disk), .min = 64 * MIB, .max = 64 * TIB },
        { "Jobs", "MaxDisk", KEY_SIZE, FIELD(job_max.disk), .min = 64 * MIB, .max = 64 * TIB },
        { "Jobs", "DefaultLease", KEY_DURATION, FIELD(job_default.lease), .min = MINUTE, .max = 7 * DAY },
        { "Jobs", "MaxLease", KEY_DURATION, FIELD(job_max.lease), .min = MINUTE, .max = 7 * DAY },
        { "Jobs", "TotalCPUs", KEY_CPUS, FIELD(job_total.millicpus), .min = 100, .max = 1024000, .unlimited = true },
        { "Jobs", "TotalMemory", KEY_SIZE, FIELD(job_total.memory), .min = 64 * MIB, .max = 64 * TIB, .unlimited = true },
        { "Jobs", "TotalPids", KEY_UINT, FIELD(job_total.pids), .min = 16, .max = 4194304, .unlimited = true },

        /* The upper bound leaves room for at least one range below 0xFFFF0000. */
        { "UIDPool", "Start", KEY_UID_START, FIELD(uid_pool_start),
          .min = UID_RANGE_SIZE, .max = UID_POOL_END - UID_RANGE_SIZE },
        { "UIDPool", "Ranges", KEY_UINT, FIELD(uid_pool_ranges), .min = 1, .max = 65536 },

        { "Seccomp", "ExtraDeny", KEY_SYSCALLS, FIELD(seccomp_extra_deny) },

        { "Platforms", "AllowEmulated", KEY_BOOL, FIELD(allow_emulated) },

        { "Health", "MinFreeDisk", KEY_SIZE, FIELD(health_min_free_disk), .min = 0, .max = 64 * TIB },
        { "Health", "CheckInterval", KEY_DURATION, FIELD(health_check_interval_sec), .min = 1, .max = HOUR },
        { "Health", "ProbeInterval", KEY_DURATION, FIELD(health_probe_interval_sec), .min = 0, .max = DAY },
        { "Health", "ProbeTimeout", KEY_DURATION, FIELD(health_probe_timeout_sec), .min = 1, .max = 10 * MINUTE },
        { "Health", "ProbeFailures", KEY_UINT, FIELD(health_probe_failures), .min = 1, .max = 100 },
        { "Health", "Podman", KEY_PATH, FIELD(health_podman), .optional = true },
};

const char *const policy_sections[] = {
        "Listen", "SSH", "Control", "State", "Jobs", "UIDPool", "Seccomp", "Platforms", "Health",
};

const size_t n_policy_keys = ELEMENTSOF(policy_keys);
const size_t n_policy_sections = ELEMENTSOF(policy_sections);

const PolicyKey *policy_find_key(const char *section, const char *name) {
        for (size_t i = 0; i < n_policy_keys; i++)
                if (streq(policy_keys[i].section, section) && streq(policy_keys[i].name, name))
                        return policy_keys + i;
        return NULL;
}

const char *policy_find_section(const char *name) {
        for (size_t i = 0; i < n_policy_sections; i++)
                if (streq(policy_sections[i], name))
                        return policy_sections[i];
        return NULL;
}

uint64_t policy_get_number(const Policy *p, const PolicyKey *k) {
        const void *f = field_const(p, k);

        switch (k->size) {
        case sizeof(uint16_t): {
                uint16_t v;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        case sizeof(uint32_t): {
                uint32_t v;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        default: {
                uint64_t v = 0;
                memcpy(&v, f, sizeof(v));
                return v;
        }
        }
}

/* Callers have range-checked v against k->max, which fits the field. */
void policy_set_number(Policy *p, const PolicyKey *k, uint64_t v) {
        void *f = field(p, k);

        switch (k->size) {
        case sizeof(uint16_t): {
                uint16_t x = (uint16_t) v;
                memcpy(f, &x, sizeof(x));
                break;
        }
        case sizeof(uint32_t): {
                uint32_t x = (uint32_t) v;
                memcpy(f, &x, sizeof(x));
                break;
        }
        default:
                memcpy(f, &v, sizeof(v));
        }
}

/* ---- formatting -------------------------------------------------------- */

static char *format_duration(char *buf, size_t size, uint64_t sec) {
        if (sec > 0 && sec % DAY == 0)
                snprintf(buf, size, "%llud", (unsigned long long) (sec / DAY));
        else if (sec > 0 && sec % HOUR == 0)
                snprintf(buf, size, "%lluh", (unsigned long long) (sec / HOUR));
        else if (sec > 0 && sec % MINUTE == 0)
                snprintf(buf, size, "%llum", (unsigned long long) (sec / MINUTE));
        else
                snprintf(buf, size, "%llus", (unsigned long long) sec);
        return buf;
}

static char *format_cpus(char *buf, size_t size, uint64_t millicpus) {
        uint64_t whole = millicpus / 1000, frac = millicpus % 1000;

        if (frac == 0)
                snprintf(buf, size, "%llu", (unsigned long long) whole);
        else if (frac % 100 == 0)
                snprintf(buf, size, "%llu.%llu", (unsigned long long) whole, (unsigned long long) (frac / 100));
        else if (frac % 10 == 0)
                snprintf(buf, size, "%llu.%02llu", (unsigned long long) whole, (unsigned long long) (frac / 10));
        else
                snprintf(buf, size, "%llu.%03llu", (unsigned long long) whole, (unsigned long long) frac);
        return buf;
}

char *policy_format_number(const PolicyKey *k, char *buf, size_t size, uint64_t v) {
        if (k->unlimited && v == 0) {
                snprintf(buf, size, "infinity");
                return buf;
        }
        switch (k->type) {
        case KEY_SIZE:
                return format_size(buf, size, v);
        case KEY_DURATION:
                return format_duration(buf, size, v);
        case KEY_CPUS:
                return format_cpus(buf, size, v);
        default:
                snprintf(buf, size, "%llu", (unsigned long long) v);
                return buf;
        }
}

/* "a whole number from 1 to 1024", for "use ..." hints. */
char *policy_describe_range(const PolicyKey *k, char *buf, size_t size) {
        char a[32], b[32];
        const char *what;

        switch (k->type) {
        case KEY_SIZE:
                what = "a size";
                break;
        case KEY_DURATION:
                what = "a duration";
                break;
        case KEY_CPUS:
                what = "a number of CPUs";
                break;
        case KEY_UID_START:
                what = "a multiple of 65536";
                break;
        default:
                what = "a whole number";
        }
        snprintf(buf, size, "%s from %s to %s", what,
                 policy_format_number(k, a, sizeof(a), k->min), policy_format_number(k, b, sizeof(b), k->max));
        return buf;
}
