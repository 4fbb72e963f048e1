/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict number parsers: no leading/trailing junk, no sign surprises,
 * overflow is -ERANGE.  Shared by the policy parser and the API's flags. */

int parse_u64(const char *s, uint64_t *ret);
int parse_u32(const char *s, uint32_t *ret);

/* Bytes with an optional binary suffix: K, M, G, T (powers of 1024),
 * optionally followed by "iB" or "B": "512M", "4GiB", "1073741824". */
int parse_size(const char *s, uint64_t *ret);

/* Seconds with an optional unit: s, m/min, h, d: "90", "30m", "2h". */
int parse_duration_sec(const char *s, uint64_t *ret);

/* CPUs as a decimal with up to three fractional digits, in milli-CPUs:
 * "2" -> 2000, "0.5" -> 500. */
int parse_millicpus(const char *s, uint32_t *ret);

/* "yes/no/true/false/on/off/1/0". */
int parse_boolean(const char *s, bool *ret);

/* Undoes, in place, the octal escapes (\040 for a space, ...) the kernel
 * writes in /proc/self/mountinfo paths. */
void mountinfo_unescape(char *s);

/* Formats bytes with a binary suffix when exact ("4G"), for messages. */
char *format_size(char *buf, size_t size, uint64_t bytes);
