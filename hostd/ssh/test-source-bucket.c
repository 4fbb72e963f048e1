/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>

#include "macros.h"
#include "source-bucket.h"
#include "test-util.h"

static const char *bucket(const char *address, const SourceBucketConfig *c) {
        static char buf[SOURCE_BUCKET_MAX];

        if (source_bucket(address, c, buf) < 0)
                return "(error)";
        return buf;
}

#define CHECK_BUCKET(address, c, want)                                                                \
        do {                                                                                          \
                const char *_got = bucket((address), (c));                                            \
                CHECK_MSG(streq(_got, (want)), "%s: got %s, want %s", (address), _got, (want));       \
        } while (0)

static void test_default(void) {
        LocalAddresses local = {};
        SourceBucketConfig c = { .prefix_ipv4 = 24, .prefix_ipv6 = 64, .local_as_one = true, .local = &local };

        CHECK(source_address_parse("192.0.2.10", &local.addrs[0]) == 0);
        CHECK(source_address_parse("2001:db8:aa::10", &local.addrs[1]) == 0);
        local.n = 2;

        /* Loopback and the host's own addresses: one source. */
        CHECK_BUCKET("127.0.0.1", &c, "local");
        CHECK_BUCKET("127.0.0.2", &c, "local");
        CHECK_BUCKET("127.255.3.9", &c, "local");
        CHECK_BUCKET("::1", &c, "local");
        CHECK_BUCKET("::ffff:127.0.0.77", &c, "local");
        CHECK_BUCKET("192.0.2.10", &c, "local");
        CHECK_BUCKET("::ffff:192.0.2.10", &c, "local");
        CHECK_BUCKET("2001:db8:aa::10", &c, "local");
        /* A neighbour of the host is not the host. */
        CHECK_BUCKET("192.0.2.11", &c, "192.0.2.0/24");
        CHECK_BUCKET("2001:db8:aa::11", &c, "2001:db8:aa::/64");
        /* Others by /24 and /64; mapped IPv4 as IPv4. */
        CHECK_BUCKET("198.51.100.1", &c, "198.51.100.0/24");
        CHECK_BUCKET("198.51.100.254", &c, "198.51.100.0/24");
        CHECK_BUCKET("::ffff:198.51.100.9", &c, "198.51.100.0/24");
        CHECK_BUCKET("198.51.101.1", &c, "198.51.101.0/24");
        CHECK_BUCKET("2001:db8:1:2:aaaa:bbbb:cccc:dddd", &c, "2001:db8:1:2::/64");
        CHECK_BUCKET("2001:db8:1:2::1", &c, "2001:db8:1:2::/64");
        CHECK_BUCKET("2001:db8:1:3::1", &c, "2001:db8:1:3::/64");
        /* Garbage is refused, not bucketed. */
        CHECK_BUCKET("unknown", &c, "(error)");
        CHECK_BUCKET("", &c, "(error)");
        CHECK_BUCKET("1.2.3.4/24", &c, "(error)");
}

static void test_prefixes(void) {
        SourceBucketConfig c = { .prefix_ipv4 = 32, .prefix_ipv6 = 128, .local_as_one = true };

        CHECK_BUCKET("198.51.100.7", &c, "198.51.100.7/32");
        CHECK_BUCKET("2001:db8::7", &c, "2001:db8::7/128");
        CHECK_BUCKET("127.0.0.5", &c, "local");
        /* No local table: loopback only. */
        CHECK_BUCKET("192.0.2.10", &c, "192.0.2.10/32");

        c = (SourceBucketConfig) { .prefix_ipv4 = 8, .prefix_ipv6 = 16, .local_as_one = true };
        CHECK_BUCKET("10.200.3.4", &c, "10.0.0.0/8");
        CHECK_BUCKET("2001:db8:ffff::1", &c, "2001::/16");

        /* Prefixes that do not end on a byte. */
        c = (SourceBucketConfig) { .prefix_ipv4 = 20, .prefix_ipv6 = 60, .local_as_one = true };
        CHECK_BUCKET("198.51.111.200", &c, "198.51.96.0/20");
        CHECK_BUCKET("2001:db8:0:1f::1", &c, "2001:db8:0:10::/60");

        /* LocalSourcesAsOne=no: loopback is bucketed like any other address. */
        c = (SourceBucketConfig) { .prefix_ipv4 = 24, .prefix_ipv6 = 64, .local_as_one = false };
        CHECK_BUCKET("127.0.0.2", &c, "127.0.0.0/24");
        CHECK_BUCKET("127.0.1.2", &c, "127.0.1.0/24");
        CHECK_BUCKET("::1", &c, "::/64");
}

static void test_cidr(void) {
        CHECK(source_in_cidr("10.1.2.3", "10.0.0.0/8"));
        CHECK(source_in_cidr("10.1.2.3", "10.1.2.3/32"));
        CHECK(!source_in_cidr("10.1.2.4", "10.1.2.3/32"));
        CHECK(source_in_cidr("::ffff:10.1.2.3", "10.1.2.0/24"));
        CHECK(source_in_cidr("2001:db8::5", "2001:db8::/32"));
        CHECK(!source_in_cidr("2001:db9::5", "2001:db8::/32"));
        CHECK(source_in_cidr("1.2.3.4", "0.0.0.0/0"));
        CHECK(!source_in_cidr("1.2.3.4", "::/0"));
        CHECK(!source_in_cidr("1.2.3.4", "1.2.3.4/33"));
        CHECK(!source_in_cidr("1.2.3.4", "1.2.3.4"));
        CHECK(!source_in_cidr("1.2.3.4", "1.2.3.4/x"));
        CHECK(!source_in_cidr("unknown", "0.0.0.0/0"));
        CHECK(source_in_cidr("198.51.111.200", "198.51.96.0/20"));
        CHECK(!source_in_cidr("198.51.112.1", "198.51.96.0/20"));
}

static void test_local_addresses(void) {
        LocalAddresses local = {};
        SourceAddress lo;

        /* Bounded by construction; loopback is never stored (it always counts). */
        CHECK(local_addresses_load(&local) == 0);
        CHECK(local.n <= LOCAL_ADDRESSES_MAX);
        for (size_t i = 0; i < local.n; i++)
                CHECK(!(local.addrs[i].family == AF_INET && local.addrs[i].bytes[0] == 127));
        CHECK(source_address_parse("127.0.0.1", &lo) == 0);
        CHECK(source_address_is_local(&lo, &local));
        CHECK(source_address_parse("::1", &lo) == 0);
        CHECK(source_address_is_local(&lo, NULL));
        CHECK(source_address_parse("198.51.100.1", &lo) == 0 && !source_address_is_local(&lo, NULL));
}

int main(void) {
        test_default();
        test_prefixes();
        test_cidr();
        test_local_addresses();
        return test_summary("test-source-bucket");
}
