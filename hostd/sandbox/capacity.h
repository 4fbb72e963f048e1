/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPACITY_MAX_EMULATED 16

typedef struct HostPlatform {
        char platform[32];             /* "linux/arm64" */
        bool emulated;
        char handler[64];              /* binfmt_misc entry name: "qemu-aarch64" */
        bool fix_binary;               /* registered with F: works inside containers too */
} HostPlatform;

typedef struct HostMeasurement {
        unsigned cpus;                 /* usable CPUs: sched_getaffinity count */
        uint64_t memory_total, memory_available;  /* /proc/meminfo MemTotal, MemAvailable (bytes) */
        uint64_t disk_total, disk_free;           /* statvfs of the state dir: f_blocks*f_frsize, f_bavail*f_frsize */
        char native_platform[32];      /* "linux/amd64"; unknown machine → "linux/<machine>" */
        HostPlatform emulated[CAPACITY_MAX_EMULATED];  /* sorted by platform */
        size_t n_emulated;
        char boot_id[33];              /* /proc/sys/kernel/random/boot_id without dashes */
        char hostname[256];
} HostMeasurement;

/* Maps a uname machine to an OCI platform: x86_64 → "linux/amd64",
 * aarch64 → "linux/arm64", armv7l → "linux/arm/v7", i686 → "linux/386", ...;
 * unknown → "linux/<machine>". -ENAMETOOLONG if it does not fit. */
int capacity_native_platform(const char *machine, char *buf, size_t size);

/* Maps a binfmt_misc handler name to a platform ("qemu-aarch64" →
 * "linux/arm64"); NULL for handlers we do not offer. */
const char *capacity_handler_platform(const char *handler);

/* Measures this host. state_dir: where job data lives (statvfs).
 * binfmt_dir: NULL means <proc_dir>/sys/fs/binfmt_misc; a missing directory
 * means no emulation, not an error. proc_dir: NULL means "/proc" (tests pass
 * a fake one with meminfo and sys/kernel/random/boot_id).
 * Emulated platforms: enabled "qemu-*" entries with a known mapping, unless
 * the global "status" says disabled; never the native platform, no
 * duplicates, at most CAPACITY_MAX_EMULATED.
 * Returns 0 or a negative errno; *ret is written only on success. */
int capacity_measure(const char *state_dir, const char *binfmt_dir, const char *proc_dir,
                     HostMeasurement *ret);

/* Whether jobs may run on an emulated platform: false with the reason (for
 * capacity's "reason" and allocate's error) when the policy says
 * AllowEmulated=no or when the handler lacks the F flag (podman's RUN
 * steps would fail in it). */
bool capacity_emulated_allowed(const HostPlatform *hp, bool allow_emulated, char *reason, size_t size);

/* Builds the "platforms" array and the "resources" object of the capacity
 * answer (docs/contract.md). Emulated entries get "allowed" from
 * capacity_emulated_allowed() and, when not allowed, "reason".
 * On success the caller owns both (json_object_put); -ENOMEM otherwise,
 * with nothing returned. */
int capacity_to_json(const HostMeasurement *m, bool allow_emulated, const char *state_dir,
                     struct json_object **ret_platforms, struct json_object **ret_resources);
