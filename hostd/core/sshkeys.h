/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* SSH key material of hostd: the server's host keys (generated on first
 * start, pinned by clients), per-job client key pairs, and the controller's
 * authorized_keys file. */

#include <json-c/json.h>
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"

/* RSA host keys are generated with this many bits, and shorter ones refused. */
#define HOST_KEY_RSA_BITS 3072

typedef enum HostKeyKind {
        HOST_KEY_ED25519,
        HOST_KEY_RSA,             /* served as rsa-sha2-512 and rsa-sha2-256, never ssh-rsa (SHA-1) */
        HOST_KEY_ECDSA,           /* only if configured */
        _HOST_KEY_KIND_MAX,
} HostKeyKind;

typedef struct HostKey {
        ssh_key key;              /* private key, owned: SSH_BIND_OPTIONS_IMPORT_KEY takes
                                   * ownership, so hand libssh ssh_key_dup(key) */
        HostKeyKind kind;
        char type[32];            /* "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256" */
        char *public_line;        /* "TYPE BASE64" */
        char fingerprint[128];    /* "SHA256:..." as ssh-keygen -l prints */
        char *path;               /* the private key file */
} HostKey;

typedef struct HostKeys {
        HostKey keys[_HOST_KEY_KIND_MAX];   /* Ed25519, then RSA and ECDSA if configured */
        size_t n;
} HostKeys;

/* Loads the host keys, generating any that do not exist yet (with PATH.pub
 * next to it, 0644, for operators to pin): Ed25519, RSA of
 * HOST_KEY_RSA_BITS, ECDSA P-256.  An existing key file must be a regular
 * file (not a symlink) owned by root with no group/other access, in a
 * directory only root can write, and hold a key of the slot's type (the
 * ECDSA slot accepts any NIST curve; an RSA key needs HOST_KEY_RSA_BITS or
 * more).  rsa_path and ecdsa_path may be NULL: no such key.  Paths are
 * absolute.  On failure the error has been logged and *ret is untouched. */
int host_keys_load(const char *ed25519_path, const char *rsa_path, const char *ecdsa_path, HostKeys *ret);
void host_keys_done(HostKeys *k);

/* The file of the loaded key of that kind, or NULL. */
const char *host_keys_path(const HostKeys *k, HostKeyKind kind);

/* The host key algorithms to offer for the loaded keys, comma-separated, in
 * their order: "ssh-ed25519,rsa-sha2-512,rsa-sha2-256[,ecdsa-sha2-nistpNNN]". */
int host_keys_algorithms(const HostKeys *k, char *buf, size_t size);

/* "<state_dir>/host-keys/ssh_host_ed25519_key" and "..._rsa_key", for when
 * the policy leaves HostKeyEd25519=/HostKeyRSA= empty.  ECDSA has no
 * default: it is served only when HostKeyECDSA= names a file. */
int host_keys_default_paths(const char *state_dir, char **ret_ed25519, char **ret_rsa);

/* [{"type": "...", "fingerprint": "SHA256:...", "public_key": "TYPE BASE64"}] */
int host_keys_to_json(const HostKeys *k, json_object **ret);

/* known_hosts lines, one per host key, each ending in "\n", that pin the
 * keys for what the client connects to: "HOST TYPE BASE64" for port 22,
 * "[HOST]:PORT TYPE BASE64" otherwise.  host may be a name, an IPv4 or an
 * IPv6 address, with or without brackets.  Refuses (-EINVAL) hosts with
 * whitespace or known_hosts pattern characters. */
int host_keys_known_hosts(const HostKeys *k, const char *host, uint16_t port, char **ret);

/* A fresh Ed25519 key pair, never written to disk.  *ret_private_openssh is
 * the text of an unencrypted id_ed25519 file ("-----BEGIN OPENSSH PRIVATE
 * KEY-----", ending in "\n"); wipe it with explicit_bzero() before free().
 * *ret_public_line is "ssh-ed25519 BASE64". */
int job_key_generate(char **ret_private_openssh, char **ret_public_line);

/* The controller's keys, an OpenSSH authorized_keys file.  Lines with
 * options (from=, command=, no-pty, ...) are refused with a warning, since
 * hostd does not implement them and must not silently drop a restriction;
 * invalid keys are skipped with a warning naming PATH:LINE.  The file may
 * be a symlink but must be owned by root and not writable by group/others.
 * A missing file is -ENOENT (logged). */
typedef struct AuthorizedKeys AuthorizedKeys;

#define AUTHORIZED_KEYS_MAX 1024
#define AUTHORIZED_KEYS_FILE_MAX (1024 * 1024)

int authorized_keys_load(const char *path, AuthorizedKeys **ret);
AuthorizedKeys *authorized_keys_free(AuthorizedKeys *a);
/* public_line must be normalized ("TYPE BASE64", see pubkey_normalize()). */
bool authorized_keys_contains(const AuthorizedKeys *a, const char *public_line);
size_t authorized_keys_count(const AuthorizedKeys *a);

/* Re-reads the file only when its (dev, ino, size, mtime) changed since the
 * last load; loads it if *a is NULL.  Returns 1 if *a was replaced, 0 if
 * unchanged.  On error (file gone, unsafe permissions, too big) *a becomes
 * NULL: nobody may log in with the old keys. */
int authorized_keys_refresh(AuthorizedKeys **a, const char *path);

static inline void authorized_keys_freep(AuthorizedKeys **a) {
        authorized_keys_free(*a);
}
#define _cleanup_authorized_keys_ _cleanup_(authorized_keys_freep)
