/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "platform.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macros.h"

static bool token_ok(const char *s, size_t n) {
        if (n == 0 || n > 16 || !isalnum((unsigned char) s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
                        return false;
        return true;
}

int platform_normalize(const char *in, char *buf, size_t size) {
        char os[17], arch[17], variant[17] = "";
        const char *a, *v;
        int n;

        if (!in || strlen(in) > PLATFORM_MAX)
                return -EINVAL;
        a = strchr(in, '/');
        if (!a || !token_ok(in, (size_t) (a - in)))
                return -EINVAL;
        a++;
        v = strchr(a, '/');
        if (!token_ok(a, v ? (size_t) (v - a) : strlen(a)))
                return -EINVAL;
        if (v && !token_ok(v + 1, strlen(v + 1)))
                return -EINVAL;

        snprintf(os, sizeof(os), "%.*s", (int) (a - 1 - in), in);
        snprintf(arch, sizeof(arch), "%.*s", (int) (v ? (size_t) (v - a) : strlen(a)), a);
        if (v)
                snprintf(variant, sizeof(variant), "%s", v + 1);
        for (char *p = os; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        for (char *p = arch; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        for (char *p = variant; *p; p++)
                *p = (char) tolower((unsigned char) *p);

        if (!streq(os, "linux"))
                return -EINVAL;

        /* containerd's normalizeArch(), which podman's platform matching
         * follows. */
        if (streq(arch, "aarch64") || streq(arch, "arm64")) {
                snprintf(arch, sizeof(arch), "arm64");
                if (streq(variant, "8") || streq(variant, "v8") || streq(variant, "v8.0"))
                        variant[0] = 0;
        } else if (streq(arch, "x86_64") || streq(arch, "x86-64") || streq(arch, "amd64")) {
                snprintf(arch, sizeof(arch), "amd64");
                if (streq(variant, "v1"))
                        variant[0] = 0;
        } else if (streq(arch, "i386") || streq(arch, "i686")) {
                snprintf(arch, sizeof(arch), "386");
        } else if (streq(arch, "armhf")) {
                if (variant[0])
                        return -EINVAL;
                snprintf(arch, sizeof(arch), "arm");
                snprintf(variant, sizeof(variant), "v7");
        } else if (streq(arch, "armel")) {
                if (variant[0])
                        return -EINVAL;
                snprintf(arch, sizeof(arch), "arm");
                snprintf(variant, sizeof(variant), "v6");
        } else if (streq(arch, "arm")) {
                if (!variant[0] || streq(variant, "7"))
                        snprintf(variant, sizeof(variant), "v7");
                else if (streq(variant, "5") || streq(variant, "6") || streq(variant, "8")) {
                        char d = variant[0];
                        snprintf(variant, sizeof(variant), "v%c", d);
                }
        }

        n = variant[0] ? snprintf(buf, size, "linux/%s/%s", arch, variant) : snprintf(buf, size, "linux/%s", arch);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int platform_split(const char *platform, char *arch, size_t arch_size, char *variant, size_t variant_size) {
        const char *a = startswith(platform, "linux/"), *v;
        int n;

        if (!a || !*a)
                return -EINVAL;
        v = strchr(a, '/');
        n = snprintf(arch, arch_size, "%.*s", (int) (v ? (size_t) (v - a) : strlen(a)), a);
        if (n < 0 || (size_t) n >= arch_size)
                return -ENAMETOOLONG;
        n = snprintf(variant, variant_size, "%s", v ? v + 1 : "");
        return n < 0 || (size_t) n >= variant_size ? -ENAMETOOLONG : 0;
}
