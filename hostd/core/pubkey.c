/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pubkey.h"

#include <libssh/libssh.h>
#include <stdio.h>
#include <string.h>

#include "macros.h"

static const char *const accepted_types[] = {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
};

DEFINE_TRIVIAL_CLEANUP_FUNC(ssh_key, ssh_key_free);

/* The key blob, for the RSA modulus size: libssh 0.10 has no public call
 * for a key's size, and its blob export is internal. */
/* Base64 as OpenSSH writes it: the alphabet, then at most two '=', and a
 * length that is a multiple of 4. */
static bool base64_is_strict(const char *s) {
        size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
        size_t pad = strspn(s + n, "=");

        return n > 0 && pad <= 2 && s[n + pad] == 0 && (n + pad) % 4 == 0;
}

static int base64_decode(const char *in, unsigned char **ret, size_t *ret_len) {
        size_t l = strlen(in), n = 0;
        unsigned char *out;
        uint32_t acc = 0;
        int bits = 0;

        out = malloc(l / 4 * 3 + 3);
        if (!out)
                return -ENOMEM;
        for (const char *p = in; *p && *p != '='; p++) {
                const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                const char *pos = strchr(alphabet, *p);

                if (!pos || !*p) {
                        free(out);
                        return -EINVAL;
                }
                acc = (acc << 6) | (uint32_t) (pos - alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (unsigned char) (acc >> bits);
                }
        }
        *ret = out;
        *ret_len = n;
        return 0;
}

static uint32_t be32(const unsigned char *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* RSA public blob: string "ssh-rsa", mpint e, mpint n.  Returns n's bits. */
static int rsa_bits(const unsigned char *blob, size_t len) {
        size_t off = 0;
        uint32_t l;

        for (int field = 0; field < 3; field++) {
                if (len - off < 4)
                        return -EBADMSG;
                l = be32(blob + off);
                off += 4;
                if (l > len - off)
                        return -EBADMSG;
                if (field == 2) {
                        const unsigned char *n = blob + off;
                        while (l > 0 && *n == 0) {
                                n++;
                                l--;
                        }
                        if (l == 0)
                                return 0;
                        return (int) (l * 8) - __builtin_clz((unsigned) *n) + 24;
                }
                off += l;
        }
        return -EBADMSG;
}

int pubkey_rsa_bits(const char *line) {
        _cleanup_free_ unsigned char *blob = NULL;
        _cleanup_free_ char *b64 = NULL;
        const char *p;
        size_t blob_len = 0;
        int bits;

        p = line ? startswith(line, "ssh-rsa ") : NULL;
        if (!p)
                return -EINVAL;
        b64 = strndup(p, strcspn(p, " \t\r\n"));
        if (!b64)
                return -ENOMEM;
        if (!base64_is_strict(b64) || base64_decode(b64, &blob, &blob_len) < 0)
                return -EINVAL;
        bits = rsa_bits(blob, blob_len);
        return bits < 0 ? -EINVAL : bits;
}

int pubkey_normalize(const char *line, char **ret, char *error, size_t error_size) {
        _cleanup_free_ char *copy = NULL, *out = NULL;
        _cleanup_(ssh_key_freep) ssh_key key = NULL;
        _cleanup_free_ unsigned char *blob = NULL;
        size_t blob_len = 0;
        char *type, *b64, *save = NULL;
        bool accepted = false;

        if (!line || strlen(line) > 16384) {
                snprintf(error, error_size, "the public key is missing or longer than 16 KiB");
                return -EINVAL;
        }
        copy = strdup(line);
        if (!copy)
                return -ENOMEM;
        /* Any whitespace separates: a line pasted with its newline (or CRLF)
         * must not keep it in the key. */
        type = strtok_r(copy, " \t\r\n", &save);
        b64 = type ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!type || !b64) {
                snprintf(error, error_size, "expected an OpenSSH public key line 'TYPE BASE64 [COMMENT]', "
                         "as in a .pub file");
                return -EINVAL;
        }
        /* libssh's decoder stops at the first '=', so it would take
         * "KEY=junk" as KEY; the stored line must be exactly what it uses. */
        if (!base64_is_strict(b64)) {
                snprintf(error, error_size, "the %.64s key data is not base64 (only A-Z a-z 0-9 + / and '=' at the end)", type);
                return -EINVAL;
        }
        for (size_t i = 0; i < ELEMENTSOF(accepted_types); i++)
                if (streq(type, accepted_types[i]))
                        accepted = true;
        if (!accepted) {
                snprintf(error, error_size, "key type '%.64s' is not accepted; use ssh-ed25519 (preferred), "
                         "ecdsa-sha2-nistp256/384/521 or ssh-rsa of at least %d bits", type, RSA_MIN_BITS);
                return -EINVAL;
        }
        if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), &key) != SSH_OK || !key) {
                snprintf(error, error_size, "the %s key data is not valid base64 of a %s key", type, type);
                return -EINVAL;
        }
        /* libssh takes the type from the blob; make sure it matches the label. */
        if (!streq_ptr(ssh_key_type_to_char(ssh_key_type(key)), streq(type, "ssh-rsa") ? "ssh-rsa" : type) &&
            !(startswith(type, "ecdsa-") && startswith(strempty(ssh_key_type_to_char(ssh_key_type(key))), "ecdsa"))) {
                snprintf(error, error_size, "the key data is a %s key, not %s", strempty(ssh_key_type_to_char(ssh_key_type(key))), type);
                return -EINVAL;
        }
        if (streq(type, "ssh-rsa")) {
                int bits;

                if (base64_decode(b64, &blob, &blob_len) < 0) {
                        snprintf(error, error_size, "the ssh-rsa key data is not valid base64");
                        return -EINVAL;
                }
                bits = rsa_bits(blob, blob_len);
                if (bits < RSA_MIN_BITS) {
                        snprintf(error, error_size, "the RSA key has %d bits; use at least %d bits, or better ssh-ed25519",
                                 bits < 0 ? 0 : bits, RSA_MIN_BITS);
                        return -EINVAL;
                }
        }
        if (asprintf(&out, "%s %s", type, b64) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}
