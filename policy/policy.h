/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host policy: an INI file in systemd's style ("[Section]", "Key=Value",
 * '#' or ';' comments), read in this order, later assignments winning:
 *
 *   1. the embedded default policy (policy/default.conf, compiled in);
 *   2. FILE (hostd --policy FILE), if given;
 *   3. FILE.d/ *.conf, if that directory exists, in lexical (strcmp) order;
 *   4. command-line overrides (--state-dir, --listen, ...).
 *
 * Every key is documented with its default and bounds in docs/policy.md. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum JobNetwork {
        JOB_NETWORK_HOST,    /* the host's network namespace (podman --network=host) */
        JOB_NETWORK_NONE,    /* a private network namespace with only loopback */
        JOB_NETWORK_PRIVATE, /* a private network namespace, egress through pasta */
} JobNetwork;

typedef struct JobResources {
        uint32_t millicpus;  /* 1000 = one CPU */
        uint64_t memory;     /* bytes */
        uint64_t pids;
        uint64_t disk;       /* bytes */
        uint64_t lease;      /* seconds */
} JobResources;

typedef struct Policy {
        /* Files merged into this policy, in order, for logs and `policy check`.
         * "(embedded default)" is always first. NULL-terminated. */
        char **sources;

        /* [Listen] */
        char *listen_address;        /* Address=, an IPv4 or IPv6 literal */
        uint16_t listen_port;        /* Port= */
        char *advertise_address;     /* AdvertiseAddress=, NULL = derived at runtime */
        char **controller_sources;   /* ControllerSources=, CIDRs exempt from startup caps */

        /* [SSH] */
        char *host_key_ed25519;      /* HostKeyEd25519=, NULL = <state>/host-keys/ssh_host_ed25519_key */
        char *host_key_rsa;          /* HostKeyRSA=,     NULL = <state>/host-keys/ssh_host_rsa_key */
        char *host_key_ecdsa;        /* HostKeyECDSA=,   NULL = no ECDSA host key */
        char *controller_user;       /* ControllerUser= */
        char *controller_keys;       /* ControllerKeys=, authorized_keys file, NULL = none */
        uint32_t max_startups;       /* MaxStartups= */
        uint32_t per_source_max_startups; /* PerSourceMaxStartups= */
        uint32_t controller_startups; /* ControllerStartups=, on top of MaxStartups, controller only */
        uint32_t source_prefix_ipv4; /* SourcePrefixIPv4=, how IPv4 sources are bucketed */
        uint32_t source_prefix_ipv6; /* SourcePrefixIPv6= */
        bool local_sources_as_one;   /* LocalSourcesAsOne=, loopback and the host's addresses */
        uint64_t login_grace_sec;    /* LoginGraceTime= */
        uint32_t max_auth_tries;     /* MaxAuthTries= */
        uint32_t max_sessions_per_job; /* MaxSessionsPerJob=, authenticated connections */
        char **accept_env;           /* AcceptEnv=, names or NAME_* prefixes beyond LANG and LC_* */

        /* [Control] */
        char *control_socket;        /* Socket= */
        char *control_group;         /* Group=, NULL = root only */

        /* [State] */
        char *state_dir;             /* Directory= */
        uint64_t released_retention_sec; /* ReleasedRetention= */

        /* [Jobs] */
        uint32_t slots;              /* Slots= */
        JobNetwork network;          /* Network= */
        JobResources job_default;    /* DefaultCPUs= DefaultMemory= DefaultPids= DefaultDisk= DefaultLease= */
        JobResources job_max;        /* MaxCPUs= MaxMemory= MaxPids= MaxDisk= MaxLease= */
        JobResources job_total;      /* TotalCPUs= TotalMemory= TotalPids=: the cap of all jobs
                                      * together (the jobs slice); 0 = infinity */

        /* [UIDPool] */
        uint32_t uid_pool_start;     /* Start=, a multiple of 65536 */
        uint32_t uid_pool_ranges;    /* Ranges=, how many 65536-wide ranges */

        /* [Seccomp] */
        char **seccomp_extra_deny;   /* ExtraDeny=, syscall names */

        /* [Platforms] */
        bool allow_emulated;         /* AllowEmulated= */

        /* [Health] */
        uint64_t health_min_free_disk;       /* MinFreeDisk=, bytes; 0 = not checked */
        uint64_t health_check_interval_sec;  /* CheckInterval= */
        uint64_t health_probe_interval_sec;  /* ProbeInterval=, 0 = no podman probe */
        uint64_t health_probe_timeout_sec;   /* ProbeTimeout= */
        uint32_t health_probe_failures;      /* ProbeFailures=, consecutive failed probes that drain the host */
        char *health_podman;                 /* Podman=, NULL = podman from PATH */
} Policy;

typedef struct PolicyOverride {
        const char *section;  /* "State" */
        const char *key;      /* "Directory" */
        const char *value;
        const char *origin;   /* "--state-dir", used in error messages */
} PolicyOverride;

/* Limits on what the parser accepts. */
#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_LINE_MAX 4096
#define POLICY_DROPINS_MAX 256

/* Builds the effective policy: embedded default, then path (may be NULL:
 * embedded default only), then path's drop-ins, then overrides; validates.
 * On failure returns a negative errno and, in *ret_error, a message naming
 * the file and line (or key path) of every problem and how to fix it, one
 * problem per line. */
int policy_load(const char *path, const PolicyOverride *overrides, size_t n_overrides,
                Policy **ret, char **ret_error);

/* Lower-level pieces, for tests and fuzzers. */
int policy_new_default(Policy **ret);   /* the embedded default, already validated */
int policy_parse_text(Policy *p, const char *text, size_t size, const char *filename, char **ret_error);
int policy_validate(const Policy *p, char **ret_error);   /* cross-key checks */

/* Prints the effective policy in the file format, with every key. */
void policy_dump(const Policy *p, FILE *f);

Policy *policy_free(Policy *p);
static inline void policy_freep(Policy **p) {
        if (*p)
                policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))

/* The embedded default policy text. */
extern const char policy_default_text[];

const char *job_network_to_string(JobNetwork n);
