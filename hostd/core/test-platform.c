/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "platform.h"
#include "test-util.h"

static void check_norm(const char *in, int want_r, const char *want) {
        char buf[PLATFORM_MAX + 1] = "";
        int r = platform_normalize(in, buf, sizeof(buf));

        CHECK_MSG(r == want_r, "%s: r=%d, want %d", in, r, want_r);
        if (want)
                CHECK_MSG(r == 0 && strcmp(buf, want) == 0, "%s: got '%s', want '%s'", in, buf, want);
}

int main(void) {
        char arch[16], variant[16], small[8];

        /* What podman, registries and the controller write. */
        check_norm("linux/amd64", 0, "linux/amd64");
        check_norm("linux/arm64", 0, "linux/arm64");
        check_norm("linux/arm64/v8", 0, "linux/arm64");
        check_norm("linux/arm64/8", 0, "linux/arm64");
        check_norm("linux/aarch64", 0, "linux/arm64");
        check_norm("Linux/ARM64/V8", 0, "linux/arm64");
        check_norm("linux/x86_64", 0, "linux/amd64");
        check_norm("linux/amd64/v1", 0, "linux/amd64");
        check_norm("linux/amd64/v3", 0, "linux/amd64/v3");
        check_norm("linux/arm", 0, "linux/arm/v7");
        check_norm("linux/arm/7", 0, "linux/arm/v7");
        check_norm("linux/arm/v6", 0, "linux/arm/v6");
        check_norm("linux/armhf", 0, "linux/arm/v7");
        check_norm("linux/i386", 0, "linux/386");
        check_norm("linux/ppc64le", 0, "linux/ppc64le");
        check_norm("linux/s390x", 0, "linux/s390x");

        /* Refused: the error names the form. */
        check_norm("arm64", -EINVAL, NULL);
        check_norm("windows/amd64", -EINVAL, NULL);
        check_norm("darwin/arm64", -EINVAL, NULL);
        check_norm("linux/", -EINVAL, NULL);
        check_norm("linux//v8", -EINVAL, NULL);
        check_norm("linux/arm64/", -EINVAL, NULL);
        check_norm("linux/arm64/v8/x", -EINVAL, NULL);
        check_norm("linux/arm 64", -EINVAL, NULL);
        check_norm("linux/armhf/v7", -EINVAL, NULL);
        check_norm("linux/../etc", -EINVAL, NULL);
        check_norm("linux/amd64\n", -EINVAL, NULL);
        check_norm("linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -EINVAL, NULL);
        check_norm(NULL, -EINVAL, NULL);
        CHECK(platform_normalize("linux/arm64", small, sizeof(small)) == -ENAMETOOLONG);

        CHECK(platform_split("linux/arm/v7", arch, sizeof(arch), variant, sizeof(variant)) == 0 &&
              strcmp(arch, "arm") == 0 && strcmp(variant, "v7") == 0);
        CHECK(platform_split("linux/arm64", arch, sizeof(arch), variant, sizeof(variant)) == 0 &&
              strcmp(arch, "arm64") == 0 && variant[0] == 0);
        CHECK(platform_split("arm64", arch, sizeof(arch), variant, sizeof(variant)) == -EINVAL);

        return test_summary("test-platform");
}
