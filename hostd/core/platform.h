/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* OCI platform names as podman and registries write them:
 * OS/ARCH[/VARIANT]. */

#include <stddef.h>

#define PLATFORM_MAX 48

/* Parses "OS/ARCH[/VARIANT]" and writes the normalized form into buf, the
 * way containerd and podman normalize it: lower case; aarch64 → arm64,
 * x86_64 / x86-64 → amd64, i386 / i686 → 386, armhf → arm/v7, armel →
 * arm/v6; the default variant is dropped (arm64/v8 → arm64, amd64/v1 →
 * amd64) and a bare arm gets v7.  Only "linux" is accepted as the OS (hostd
 * runs Linux jobs).  Returns 0, -EINVAL on a malformed or non-Linux
 * platform, -ENAMETOOLONG if buf is too small. */
int platform_normalize(const char *in, char *buf, size_t size);

/* The architecture part of a normalized platform ("linux/arm/v7" → "arm")
 * and its variant ("v7", or "" without one), for tools that take them
 * apart (skopeo --override-arch / --override-variant). */
int platform_split(const char *platform, char *arch, size_t arch_size, char *variant, size_t variant_size);
