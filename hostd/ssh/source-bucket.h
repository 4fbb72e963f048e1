/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the SSH listener counts as one "source" for its per-source caps
 * (PerSourceMaxStartups) and its penalty table: a bucket of addresses.
 * Loopback (127.0.0.0/8, ::1) and the host's own addresses are one bucket,
 * "local": any process on the host can connect from any of them, so
 * counting them apart would give a job 16 million sources.  Other IPv4
 * addresses count by /SourcePrefixIPv4, IPv6 by /SourcePrefixIPv6 (a single
 * customer typically holds a /64).  IPv4-mapped IPv6 addresses count as
 * the IPv4 address they carry. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "local", "192.0.2.0/24", "2001:db8:1:2::/64" */
#define SOURCE_BUCKET_MAX 64
#define SOURCE_BUCKET_LOCAL "local"
/* Addresses of the host's interfaces kept; more are ignored (and logged). */
#define LOCAL_ADDRESSES_MAX 256

typedef struct SourceAddress {
        int family;             /* AF_INET or AF_INET6 */
        uint8_t bytes[16];      /* 4 used for AF_INET */
} SourceAddress;

typedef struct LocalAddresses {
        SourceAddress addrs[LOCAL_ADDRESSES_MAX];
        size_t n;
} LocalAddresses;

typedef struct SourceBucketConfig {
        unsigned prefix_ipv4;           /* 8..32 */
        unsigned prefix_ipv6;           /* 16..128 */
        bool local_as_one;              /* loopback and the host's addresses are one bucket */
        const LocalAddresses *local;    /* may be NULL: loopback only */
} SourceBucketConfig;

/* Parses an IPv4 or IPv6 literal; an IPv4-mapped IPv6 address becomes
 * the IPv4 address. */
int source_address_parse(const char *s, SourceAddress *ret);

/* Whether ADDRESS is inside CIDR ("ADDRESS/PREFIX"); false for anything
 * malformed or of the other family. */
bool source_in_cidr(const char *address, const char *cidr);

/* Loopback, or one of the addresses in LOCAL. */
bool source_address_is_local(const SourceAddress *a, const LocalAddresses *local);

/* The addresses of the host's interfaces now (getifaddrs()). */
int local_addresses_load(LocalAddresses *ret);

/* The bucket of ADDRESS, as a string for logs and comparison. */
int source_bucket(const char *address, const SourceBucketConfig *c, char ret[static SOURCE_BUCKET_MAX]);
