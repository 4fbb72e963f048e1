/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sshkeys.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "json-util.h"
#include "macros.h"
#include "pubkey.h"

#define HOST_KEY_FILE_MAX (64 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(ssh_key, ssh_key_free);

/* For buffers that held private key material. */
static void erase_and_free(char *p) {
        if (p) {
                explicit_bzero(p, strlen(p));
                free(p);
        }
}
static void erase_and_freep(char **p) {
        erase_and_free(*p);
}
#define _cleanup_erase_ _cleanup_(erase_and_freep)

/* hostd runs as root; accepting our own uid as well lets the tests run
 * unprivileged without weakening anything for the daemon. */
static bool uid_trusted(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

static bool key_type_is_ecdsa(enum ssh_keytypes_e t) {
        return t == SSH_KEYTYPE_ECDSA || t == SSH_KEYTYPE_ECDSA_P256 ||
               t == SSH_KEYTYPE_ECDSA_P384 || t == SSH_KEYTYPE_ECDSA_P521;
}

static const char *const kind_names[_HOST_KEY_KIND_MAX] = {
        [HOST_KEY_ED25519] = "Ed25519",
        [HOST_KEY_RSA] = "RSA",
        [HOST_KEY_ECDSA] = "ECDSA",
};

static bool key_has_kind(const ssh_key key, HostKeyKind kind) {
        enum ssh_keytypes_e t = ssh_key_type(key);

        switch (kind) {
        case HOST_KEY_ED25519:
                return t == SSH_KEYTYPE_ED25519;
        case HOST_KEY_RSA:
                return t == SSH_KEYTYPE_RSA;
        case HOST_KEY_ECDSA:
                return key_type_is_ecdsa(t);
        default:
                return false;
        }
}

static const char *key_type_name(const ssh_key key) {
        enum ssh_keytypes_e t = ssh_key_type(key);

        /* The legacy SSH_KEYTYPE_ECDSA is named "ssh-ecdsa"; the curve name is what OpenSSH uses. */
        if (key_type_is_ecdsa(t))
                return ssh_pki_key_ecdsa_name(key);
        return strempty(ssh_key_type_to_char(t));
}

static int key_public_line(const ssh_key key, char **ret) {
        char *b64 = NULL;
        int r;

        if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || !b64)
                return -EIO;
        r = asprintf(ret, "%s %s", key_type_name(key), b64);
        ssh_string_free_char(b64);
        if (r < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int key_fingerprint(const ssh_key key, char *ret, size_t size) {
        unsigned char *hash = NULL;
        size_t hlen = 0;
        char *fp;
        int r = 0;

        if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK)
                return -EIO;
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
        ssh_clean_pubkey_hash(&hash);
        if (!fp)
                return -ENOMEM;
        if (strlen(fp) >= size)
                r = -ENAMETOOLONG;
        else
                strcpy(ret, fp);
        ssh_string_free_char(fp);
        return r;
}

/* Exported private key text; libssh 0.10 writes Ed25519 in OpenSSH format
 * and RSA and ECDSA as PEM, all of which OpenSSH reads. */
static int key_export_private(const ssh_key key, char **ret) {
        _cleanup_erase_ char *out = NULL;
        char *b64 = NULL;
        size_t l;

        if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &b64) != SSH_OK || !b64)
                return -EIO;
        l = strlen(b64);
        /* OpenSSH tools want the file to end in a newline. */
        if (asprintf(&out, "%s%s", b64, l > 0 && b64[l - 1] == '\n' ? "" : "\n") < 0)
                out = NULL;
        erase_and_free(b64);
        if (!out)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

static int host_key_fill(HostKey *hk, ssh_key *key, HostKeyKind kind, const char *path) {
        _cleanup_free_ char *line = NULL, *p = NULL;
        const char *name = key_type_name(*key);
        int r;

        if (strlen(name) >= sizeof(hk->type))
                return -EINVAL;
        r = key_public_line(*key, &line);
        if (r < 0)
                return r;
        r = key_fingerprint(*key, hk->fingerprint, sizeof(hk->fingerprint));
        if (r < 0)
                return r;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        strcpy(hk->type, name);
        hk->kind = kind;
        hk->public_line = TAKE_PTR(line);
        hk->path = TAKE_PTR(p);
        hk->key = TAKE_PTR(*key);
        return 0;
}

/* PATH.pub for operators to pin; a convenience, so failing to write it is
 * only a warning. */
static void host_key_write_pub(int dfd, const char *base, const HostKey *hk) {
        _cleanup_free_ char *pubname = NULL, *old = NULL, *text = NULL;
        char hostname[HOST_NAME_MAX + 1] = {};
        const char *rest;
        int r;

        if (asprintf(&pubname, "%s.pub", base) < 0) {
                pubname = NULL;
                return;
        }

        r = read_file_at(dfd, pubname, HOST_KEY_FILE_MAX, 1, &old, NULL);
        if (r >= 0 && (rest = startswith(old, hk->public_line)) && (*rest == ' ' || *rest == '\n' || *rest == 0))
                return;

        if (gethostname(hostname, sizeof(hostname) - 1) < 0 || isempty(hostname))
                strcpy(hostname, "localhost");
        if (asprintf(&text, "%s hostd@%s\n", hk->public_line, hostname) < 0) {
                text = NULL;
                return;
        }
        r = write_file_atomic_at(dfd, pubname, text, strlen(text), 0644);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s.pub: %m", hk->path);
}

static int host_key_generate(int dfd, const char *base, const char *path, HostKeyKind kind, HostKey *ret) {
        static const struct { enum ssh_keytypes_e type; int parameter; } how[_HOST_KEY_KIND_MAX] = {
                [HOST_KEY_ED25519] = { SSH_KEYTYPE_ED25519, 0 },
                [HOST_KEY_RSA] = { SSH_KEYTYPE_RSA, HOST_KEY_RSA_BITS },
                [HOST_KEY_ECDSA] = { SSH_KEYTYPE_ECDSA_P256, 256 },
        };
        _cleanup_(ssh_key_freep) ssh_key key = NULL;
        _cleanup_erase_ char *text = NULL;
        HostKey hk = {};
        int r;

        if (ssh_pki_generate(how[kind].type, how[kind].parameter, &key) != SSH_OK || !key)
                return log_error_errno(EIO, "Cannot generate %s host key for %s", kind_names[kind], path);
        r = key_export_private(key, &text);
        if (r < 0)
                return log_error_errno(r, "Cannot export the new host key for %s: %m", path);
        r = write_file_atomic_at(dfd, base, text, strlen(text), 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write host key %s: %m", path);
        r = host_key_fill(&hk, &key, kind, path);
        if (r < 0)
                return log_error_errno(r, "Cannot describe host key %s: %m", path);

        host_key_write_pub(dfd, base, &hk);
        log_info("Generated host key %s %s at %s", hk.type, hk.fingerprint, path);
        *ret = hk;
        return 0;
}

/* An RSA key shorter than HOST_KEY_RSA_BITS is refused, not served:
 * auditors fail it and clients may refuse it. */
static int host_key_check_rsa(const ssh_key key, const char *path) {
        _cleanup_free_ char *line = NULL;
        int r, bits;

        r = key_public_line(key, &line);
        if (r < 0)
                return log_error_errno(r, "Cannot read the public part of host key %s: %m", path);
        bits = pubkey_rsa_bits(line);
        if (bits < 0)
                return log_error_errno(bits, "Cannot tell the size of RSA host key %s: %m", path);
        if (bits < HOST_KEY_RSA_BITS)
                return log_error_errno(EINVAL, "Host key %s is an RSA key of %d bits; hostd serves RSA host keys of "
                                       "at least %d bits. Remove it to have a %d-bit key generated at the next "
                                       "start (clients then need the new pin), or point [SSH] HostKeyRSA= at "
                                       "a key made with: ssh-keygen -t rsa -b %d -N '' -f FILE",
                                       path, bits, HOST_KEY_RSA_BITS, HOST_KEY_RSA_BITS, HOST_KEY_RSA_BITS);
        return bits;
}

static int host_key_load_one(const char *path, HostKeyKind kind, HostKey *ret) {
        _cleanup_(ssh_key_freep) ssh_key key = NULL;
        _cleanup_erase_ char *text = NULL;
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -1;
        const char *slot = kind_names[kind], *base;
        HostKey hk = {};
        struct stat st;
        int r;

        if (isempty(path) || path[0] != '/' || path[strlen(path) - 1] == '/')
                return log_error_errno(EINVAL, "%s host key path '%s' must be an absolute file name",
                                       slot, strempty(path));
        base = strrchr(path, '/') + 1;
        dir = base - 1 == path ? strdup("/") : strndup(path, (size_t) (base - 1 - path));
        if (!dir)
                return -ENOMEM;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT) {
                r = mkdir_parents_safe(dir, 0700);
                if (r < 0)
                        return log_error_errno(r, "Cannot create host key directory %s (symlinked "
                                               "directories are refused): %m", dir);
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (dfd < 0) {
                if (errno == ELOOP || errno == ENOTDIR)
                        return log_error_errno(errno, "Host key directory %s is a symlink or not a directory; "
                                               "hostd refuses symlinked key directories, use the real path", dir);
                return log_error_errno(errno, "Cannot open host key directory %s: %m", dir);
        }
        /* Whoever can write the directory can swap the key between our checks and the read. */
        if (fstat(dfd, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", dir);
        if (!uid_trusted(st.st_uid))
                return log_error_errno(EPERM, "Host key directory %s is not owned by root; fix with: chown root %s",
                                       dir, dir);
        if (st.st_mode & 0022)
                return log_error_errno(EPERM, "Host key directory %s is writable by group or others; "
                                       "fix with: chmod go-w %s", dir, dir);

        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return host_key_generate(dfd, base, path, kind, ret);
                return log_error_errno(errno, "Cannot stat host key %s: %m", path);
        }
        if (S_ISLNK(st.st_mode))
                return log_error_errno(ELOOP, "Host key %s is a symlink; hostd refuses symlinked host keys, "
                                       "put the key file itself there", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EBADFD, "Host key %s is not a regular file", path);
        if (!uid_trusted(st.st_uid))
                return log_error_errno(EPERM, "Host key %s is not owned by root; fix with: chown root %s",
                                       path, path);
        if (st.st_mode & 0077)
                return log_error_errno(EPERM, "Host key %s is accessible by group or others (mode %04o); "
                                       "fix with: chmod 600 %s", path, (unsigned) (st.st_mode & 07777), path);

        r = read_file_at(dfd, base, HOST_KEY_FILE_MAX, 1, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot read host key %s: %m", path);
        if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) != SSH_OK || !key)
                return log_error_errno(EBADMSG, "Host key %s is not an unencrypted private key libssh can read "
                                       "(OpenSSH or PEM format)", path);
        if (!key_has_kind(key, kind))
                return log_error_errno(EINVAL, "Host key %s is configured as the %s host key but holds a key of "
                                       "type %s; point the setting at an %s key, or remove the file to have "
                                       "one generated", path, slot, key_type_name(key), slot);
        if (kind == HOST_KEY_RSA) {
                r = host_key_check_rsa(key, path);
                if (r < 0)
                        return r;
        }

        r = host_key_fill(&hk, &key, kind, path);
        if (r < 0)
                return log_error_errno(r, "Cannot describe host key %s: %m", path);
        host_key_write_pub(dfd, base, &hk);
        log_debug("Loaded host key %s %s from %s", hk.type, hk.fingerprint, path);
        *ret = hk;
        return 0;
}

void host_keys_done(HostKeys *k) {
        if (!k)
                return;
        for (size_t i = 0; i < k->n && i < ELEMENTSOF(k->keys); i++) {
                ssh_key_free(k->keys[i].key);
                free(k->keys[i].public_line);
                free(k->keys[i].path);
        }
        *k = (HostKeys) {};
}

int host_keys_load(const char *ed25519_path, const char *rsa_path, const char *ecdsa_path, HostKeys *ret) {
        _cleanup_(host_keys_done) HostKeys k = {};
        const char *paths[_HOST_KEY_KIND_MAX] = {
                [HOST_KEY_ED25519] = ed25519_path,
                [HOST_KEY_RSA] = rsa_path,
                [HOST_KEY_ECDSA] = ecdsa_path,
        };
        int r;

        if (!ed25519_path)
                return log_error_errno(EINVAL, "No Ed25519 host key path configured");
        for (HostKeyKind a = 0; a < _HOST_KEY_KIND_MAX; a++)
                for (HostKeyKind b = a + 1; b < _HOST_KEY_KIND_MAX; b++)
                        if (paths[a] && streq_ptr(paths[a], paths[b]))
                                return log_error_errno(EINVAL, "The %s and %s host keys are both configured as %s; "
                                                       "they need separate files", kind_names[a], kind_names[b],
                                                       paths[a]);

        /* In this order, which is the order of preference in known_hosts
         * and of the algorithms offered. */
        for (HostKeyKind kind = 0; kind < _HOST_KEY_KIND_MAX; kind++) {
                if (!paths[kind])
                        continue;
                r = host_key_load_one(paths[kind], kind, &k.keys[k.n]);
                if (r < 0)
                        return r;
                k.n++;
        }
        *ret = k;
        k = (HostKeys) {};
        return 0;
}

const char *host_keys_path(const HostKeys *k, HostKeyKind kind) {
        for (size_t i = 0; k && i < k->n; i++)
                if (k->keys[i].kind == kind)
                        return k->keys[i].path;
        return NULL;
}

int host_keys_algorithms(const HostKeys *k, char *buf, size_t size) {
        size_t l = 0;

        if (!k || k->n == 0 || size == 0)
                return -EINVAL;
        buf[0] = 0;
        for (size_t i = 0; i < k->n; i++) {
                /* An RSA key signs with SHA-2 only: ssh-rsa means SHA-1. */
                const char *alg = k->keys[i].kind == HOST_KEY_RSA ? "rsa-sha2-512,rsa-sha2-256" : k->keys[i].type;
                int n = snprintf(buf + l, size - l, "%s%s", l > 0 ? "," : "", alg);

                if (n < 0 || (size_t) n >= size - l)
                        return -ENOBUFS;
                l += (size_t) n;
        }
        return 0;
}

int host_keys_default_paths(const char *state_dir, char **ret_ed25519, char **ret_rsa) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        if (isempty(state_dir))
                return -EINVAL;
        /* asprintf() leaves the pointer undefined on failure. */
        if (asprintf(&a, "%s/host-keys/ssh_host_ed25519_key", state_dir) < 0) {
                a = NULL;
                return -ENOMEM;
        }
        if (asprintf(&b, "%s/host-keys/ssh_host_rsa_key", state_dir) < 0) {
                b = NULL;
                return -ENOMEM;
        }
        *ret_ed25519 = TAKE_PTR(a);
        *ret_rsa = TAKE_PTR(b);
        return 0;
}

int host_keys_to_json(const HostKeys *k, json_object **ret) {
        _cleanup_json_ json_object *array = NULL;

        array = json_object_new_array();
        if (!array)
                return -ENOMEM;
        for (size_t i = 0; i < k->n; i++) {
                _cleanup_json_ json_object *o = json_object_new_object();

                if (!o)
                        return -ENOMEM;
                if (json_object_object_add(o, "type", json_object_new_string(k->keys[i].type)) < 0 ||
                    json_object_object_add(o, "fingerprint", json_object_new_string(k->keys[i].fingerprint)) < 0 ||
                    json_object_object_add(o, "public_key", json_object_new_string(k->keys[i].public_line)) < 0)
                        return -ENOMEM;
                if (json_object_array_add(array, o) < 0)
                        return -ENOMEM;
                o = NULL;
        }
        *ret = TAKE_PTR(array);
        return 0;
}

int host_keys_known_hosts(const HostKeys *k, const char *host, uint16_t port, char **ret) {
        _cleanup_free_ char *h = NULL, *out = NULL, *hostpart = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t l, size = 0;

        if (!k || k->n == 0 || isempty(host) || port == 0)
                return -EINVAL;
        l = strlen(host);
        if (host[0] == '[' && l > 2 && host[l - 1] == ']')
                h = strndup(host + 1, l - 2);
        else
                h = strdup(host);
        if (!h)
                return -ENOMEM;
        /* Anything else could be read as a pattern ('*', '?', '!', ','), a
         * marker or a field separator by ssh. */
        if (strlen(h) > 255 || isempty(h) ||
            h[strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%")] != 0)
                return -EINVAL;

        /* OpenSSH writes port 22 bare, IPv6 included, and every other port as [HOST]:PORT. */
        if (port == 22)
                hostpart = TAKE_PTR(h);
        else if (asprintf(&hostpart, "[%s]:%u", h, (unsigned) port) < 0) {
                hostpart = NULL;
                return -ENOMEM;
        }

        f = open_memstream(&out, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < k->n; i++)
                fprintf(f, "%s %s\n", hostpart, k->keys[i].public_line);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(out);
        return 0;
}

int job_key_generate(char **ret_private_openssh, char **ret_public_line) {
        _cleanup_(ssh_key_freep) ssh_key key = NULL;
        _cleanup_erase_ char *priv = NULL;
        _cleanup_free_ char *pub = NULL;
        int r;

        if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key)
                return -EIO;
        r = key_export_private(key, &priv);
        if (r < 0)
                return r;
        /* libssh 0.10 exports Ed25519 in OpenSSH format; make sure a future
         * version switching formats does not go unnoticed. */
        if (!startswith(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n"))
                return -EPROTO;
        r = key_public_line(key, &pub);
        if (r < 0)
                return r;
        *ret_private_openssh = TAKE_PTR(priv);
        *ret_public_line = TAKE_PTR(pub);
        return 0;
}

struct AuthorizedKeys {
        char **keys;               /* normalized "TYPE BASE64" */
        size_t n;
        /* Identity of the file the set was read from, for refresh. */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
};

AuthorizedKeys *authorized_keys_free(AuthorizedKeys *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; i < a->n; i++)
                free(a->keys[i]);
        free(a->keys);
        free(a);
        return NULL;
}

size_t authorized_keys_count(const AuthorizedKeys *a) {
        return a ? a->n : 0;
}

bool authorized_keys_contains(const AuthorizedKeys *a, const char *public_line) {
        if (!a || !public_line)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (streq(a->keys[i], public_line))
                        return true;
        return false;
}

static bool looks_like_key_type(const char *s, size_t l) {
        static const char *const prefixes[] = { "ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", "rsa-sha2-" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (l > strlen(prefixes[i]) && strneq(s, prefixes[i], strlen(prefixes[i])))
                        return true;
        return false;
}

/* Does a field after the first look like a key type?  Then the first
 * field(s) are options, which may contain quoted blanks. */
static bool has_options(const char *line) {
        bool quoted = false, first = true;
        const char *p = line;

        while (*p) {
                const char *start;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                start = p;
                for (; *p && (quoted || (*p != ' ' && *p != '\t')); p++) {
                        if (*p == '\\' && quoted && p[1])
                                p++;
                        else if (*p == '"')
                                quoted = !quoted;
                }
                if (!first && looks_like_key_type(start, (size_t) (p - start)))
                        return true;
                first = false;
        }
        return false;
}

static int authorized_keys_add(AuthorizedKeys *a, char **key) {
        char **n;

        if (authorized_keys_contains(a, *key))
                return 0;
        n = realloc(a->keys, (a->n + 1) * sizeof(char *));
        if (!n)
                return -ENOMEM;
        a->keys = n;
        a->keys[a->n++] = TAKE_PTR(*key);
        return 1;
}

static int authorized_keys_parse(AuthorizedKeys *a, const char *path, char *text) {
        char *save = NULL, *line;
        unsigned lineno = 0;
        bool warned_max = false;
        int r;

        /* strtok_r would merge empty lines and throw the numbering off. */
        for (line = text; line; line = save) {
                const char *p;
                size_t l;

                save = strchr(line, '\n');
                if (save)
                        *save++ = 0;
                lineno++;

                l = strlen(line);
                while (l > 0 && strchr(" \t\r", line[l - 1]))
                        line[--l] = 0;
                p = line + strspn(line, " \t");
                if (*p == 0 || *p == '#')
                        continue;

                if (looks_like_key_type(p, strcspn(p, " \t"))) {
                        _cleanup_free_ char *norm = NULL;
                        char error[256] = {};

                        r = pubkey_normalize(p, &norm, error, sizeof(error));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                log_warning("%s:%u: skipping key: %s", path, lineno, error);
                                continue;
                        }
                        if (a->n >= AUTHORIZED_KEYS_MAX) {
                                if (!warned_max)
                                        log_warning("%s:%u: more than %d keys, ignoring this and all further keys",
                                                    path, lineno, AUTHORIZED_KEYS_MAX);
                                warned_max = true;
                                continue;
                        }
                        r = authorized_keys_add(a, &norm);
                        if (r < 0)
                                return r;
                } else if (has_options(p))
                        log_warning("%s:%u: refusing key with options: hostd does not implement authorized_keys "
                                    "options (from=, command=, no-pty, ...), so it refuses the key rather than "
                                    "ignore a restriction; remove the options or the line", path, lineno);
                else
                        log_warning("%s:%u: skipping line: not an OpenSSH public key line 'TYPE BASE64 [COMMENT]'",
                                    path, lineno);
        }
        return 0;
}

int authorized_keys_load(const char *path, AuthorizedKeys **ret) {
        _cleanup_authorized_keys_ AuthorizedKeys *a = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -1;
        char proc[64];
        struct stat st;
        int r;

        if (isempty(path))
                return -EINVAL;

        /* Check and read the very same inode: a symlink may be swapped between a stat() and an open(). */
        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return log_error_errno(ENOENT, "Controller keys file %s does not exist; create it with the "
                                               "controller's public keys in authorized_keys format", path);
                return log_error_errno(errno, "Cannot open controller keys file %s: %m", path);
        }
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EBADFD, "Controller keys file %s is not a regular file", path);
        /* Anyone who can write the file can become the controller. */
        if (!uid_trusted(st.st_uid))
                return log_error_errno(EPERM, "Controller keys file %s is not owned by root, so its owner could "
                                       "become the controller; fix with: chown root %s", path, path);
        if (st.st_mode & 0022)
                return log_error_errno(EPERM, "Controller keys file %s is writable by group or others, so they "
                                       "could become the controller; fix with: chmod go-w %s", path, path);

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        r = read_file_at(AT_FDCWD, proc, AUTHORIZED_KEYS_FILE_MAX, 0, &text, NULL);
        if (r == -EFBIG)
                return log_error_errno(r, "Controller keys file %s is larger than %d bytes", path,
                                       AUTHORIZED_KEYS_FILE_MAX);
        if (r < 0)
                return log_error_errno(r, "Cannot read controller keys file %s (via /proc/self/fd): %m", path);

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->dev = st.st_dev;
        a->ino = st.st_ino;
        a->size = st.st_size;
        a->mtime = st.st_mtim;

        r = authorized_keys_parse(a, path, text);
        if (r < 0)
                return log_error_errno(r, "Cannot parse %s: %m", path);
        log_debug("Loaded %zu controller keys from %s", a->n, path);
        *ret = TAKE_PTR(a);
        return 0;
}

int authorized_keys_refresh(AuthorizedKeys **a, const char *path) {
        AuthorizedKeys *n = NULL;
        struct stat st;
        int r;

        if (*a) {
                if (stat(path, &st) < 0) {
                        r = log_error_errno(errno, "Cannot stat controller keys file %s: %m; refusing the "
                                            "controller until it is back", path);
                        *a = authorized_keys_free(*a);
                        return r;
                }
                if (st.st_dev == (*a)->dev && st.st_ino == (*a)->ino && st.st_size == (*a)->size &&
                    st.st_mtim.tv_sec == (*a)->mtime.tv_sec && st.st_mtim.tv_nsec == (*a)->mtime.tv_nsec)
                        return 0;
        }

        r = authorized_keys_load(path, &n);
        if (r < 0) {
                /* Fail closed: removing the file, or leaving it writable by
                 * others, must revoke access, not freeze the old keys. */
                if (*a)
                        log_error("Dropping the %zu controller keys loaded from %s until it is valid again",
                                  (*a)->n, path);
                *a = authorized_keys_free(*a);
                return r;
        }
        authorized_keys_free(*a);
        *a = n;
        return 1;
}
