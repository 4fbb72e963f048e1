/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "source-bucket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macros.h"
#include "parse-util.h"

int source_address_parse(const char *s, SourceAddress *ret) {
        SourceAddress a = {};

        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, a.bytes) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, a.bytes) == 1) {
                a.family = AF_INET6;
                if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *) a.bytes)) {
                        a.family = AF_INET;
                        memmove(a.bytes, a.bytes + 12, 4);
                        memset(a.bytes + 4, 0, 12);
                }
        } else
                return -EINVAL;
        *ret = a;
        return 0;
}

static size_t address_len(int family) {
        return family == AF_INET ? 4 : 16;
}

static void mask(SourceAddress *a, unsigned prefix) {
        size_t len = address_len(a->family);

        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned) i : 0;
                a->bytes[i] &= (uint8_t) (0xff00u >> bits);
        }
}

bool source_in_cidr(const char *address, const char *cidr) {
        SourceAddress a, net;
        char buf[INET6_ADDRSTRLEN + 1];
        const char *slash;
        uint32_t prefix;

        slash = cidr ? strchr(cidr, '/') : NULL;
        if (!slash || (size_t) (slash - cidr) >= sizeof(buf))
                return false;
        memcpy(buf, cidr, (size_t) (slash - cidr));
        buf[slash - cidr] = 0;
        if (source_address_parse(address, &a) < 0 || source_address_parse(buf, &net) < 0 || a.family != net.family)
                return false;
        if (parse_u32(slash + 1, &prefix) < 0 || prefix > 8 * address_len(a.family))
                return false;
        mask(&a, prefix);
        mask(&net, prefix);
        return memcmp(a.bytes, net.bytes, address_len(a.family)) == 0;
}

bool source_address_is_local(const SourceAddress *a, const LocalAddresses *local) {
        if (a->family == AF_INET && a->bytes[0] == 127)
                return true;
        if (a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *) a->bytes))
                return true;
        for (size_t i = 0; local && i < local->n; i++)
                if (local->addrs[i].family == a->family &&
                    memcmp(local->addrs[i].bytes, a->bytes, address_len(a->family)) == 0)
                        return true;
        return false;
}

int local_addresses_load(LocalAddresses *ret) {
        struct ifaddrs *ifa = NULL;
        size_t skipped = 0;

        if (getifaddrs(&ifa) < 0)
                return negative_errno();
        ret->n = 0;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                SourceAddress a = {};

                if (!i->ifa_addr)
                        continue;
                if (i->ifa_addr->sa_family == AF_INET) {
                        a.family = AF_INET;
                        memcpy(a.bytes, &((const struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
                } else if (i->ifa_addr->sa_family == AF_INET6) {
                        a.family = AF_INET6;
                        memcpy(a.bytes, &((const struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
                } else
                        continue;
                if (source_address_is_local(&a, ret))
                        continue;
                if (ret->n >= LOCAL_ADDRESSES_MAX) {
                        skipped++;
                        continue;
                }
                ret->addrs[ret->n++] = a;
        }
        freeifaddrs(ifa);
        if (skipped > 0)
                log_warning("This host has more than %d addresses; %zu are counted as separate SSH sources, not as local",
                            LOCAL_ADDRESSES_MAX, skipped);
        return 0;
}

int source_bucket(const char *address, const SourceBucketConfig *c, char ret[static SOURCE_BUCKET_MAX]) {
        char buf[INET6_ADDRSTRLEN];
        SourceAddress a;
        unsigned prefix;
        int r;

        r = source_address_parse(address, &a);
        if (r < 0)
                return r;
        if (c->local_as_one && source_address_is_local(&a, c->local)) {
                snprintf(ret, SOURCE_BUCKET_MAX, "%s", SOURCE_BUCKET_LOCAL);
                return 0;
        }
        prefix = a.family == AF_INET ? MIN(c->prefix_ipv4, 32u) : MIN(c->prefix_ipv6, 128u);
        mask(&a, prefix);
        if (!inet_ntop(a.family, a.bytes, buf, sizeof(buf)))
                return negative_errno();
        snprintf(ret, SOURCE_BUCKET_MAX, "%s/%u", buf, prefix);
        return 0;
}
