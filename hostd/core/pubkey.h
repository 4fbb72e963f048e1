/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* The key types a job or controller key may have.  RSA must be at least
 * RSA_MIN_BITS: shorter keys are within reach of well-funded attackers. */
#define RSA_MIN_BITS 3072

/* Checks an OpenSSH public key line "TYPE BASE64 [COMMENT]": an accepted
 * type, a key libssh can parse whose blob type matches TYPE, and for RSA a
 * modulus of at least RSA_MIN_BITS.  On success *ret is "TYPE BASE64"
 * (comment dropped).  On failure error names what is wrong. */
int pubkey_normalize(const char *line, char **ret, char *error, size_t error_size);

/* Bits of the modulus of an "ssh-rsa BASE64" line (libssh 0.10 has no
 * public call for a key's size); -EINVAL if it is not one. */
int pubkey_rsa_bits(const char *line);
