/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "log.h"
#include "json-util.h"
#include "macros.h"
#include "pubkey.h"
#include "sshkeys.h"
#include "test-util.h"


static char tmpdir[] = "/tmp/test-sshkeys-XXXXXX";

/* Runs a shell command; returns its exit status and, if ret_out, its stdout. */
static int run(char **ret_out, const char *fmt, ...) _printf_(2, 3);
static int run(char **ret_out, const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        size_t size = 0;
        FILE *f, *p;
        char buf[4096];
        va_list ap;
        int r, status;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        p = popen(cmd, "r");
        if (!p)
                abort();
        f = open_memstream(&out, &size);
        if (!f)
                abort();
        while ((r = (int) fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, (size_t) r, f);
        fclose(f);
        status = pclose(p);
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first n blank-separated fields of s. */
static char *fields(const char *s, int n) {
        const char *p = s;

        if (!s)
                return NULL;
        for (int i = 0; i < n && *p; i++) {
                p += strspn(p, " \t");
                p += strcspn(p, " \t\n");
        }
        return strndup(s, (size_t) (p - s));
}

static char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                abort();
        return p;
}

static mode_t file_mode(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return (mode_t) -1;
        return st.st_mode & 07777;
}

static void write_text(const char *path, const char *text, mode_t mode) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text) || fchmod(fd, mode) < 0)
                abort();
}

/* Replace via rename, as editors and config management do: a new inode. */
static void replace_text(const char *path, const char *text, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;

        if (asprintf(&tmp, "%s.new", path) < 0)
                abort();
        write_text(tmp, text, mode);
        if (rename(tmp, path) < 0)
                abort();
}

static char *read_text(const char *path) {
        char *s = NULL;

        if (read_file_at(AT_FDCWD, path, 1024 * 1024, 0, &s, NULL) < 0)
                return NULL;
        return s;
}

/* "TYPE BASE64" of a .pub file written by ssh-keygen. */
static char *pub_of(const char *path) {
        _cleanup_free_ char *pubpath = NULL, *text = NULL;

        if (asprintf(&pubpath, "%s.pub", path) < 0)
                abort();
        text = read_text(pubpath);
        return fields(text, 2);
}

static void keygen(const char *args, const char *path) {
        if (run(NULL, "ssh-keygen -q %s -N '' -C test -f '%s' </dev/null >/dev/null 2>&1", args, path) != 0)
                abort();
}

static void check_fingerprint(const HostKey *hk) {
        _cleanup_free_ char *out = NULL, *fp = NULL, *y = NULL, *yk = NULL, *pub = NULL;
        int r;

        /* ssh-keygen -l: "BITS SHA256:... COMMENT (TYPE)" */
        r = run(&out, "ssh-keygen -l -E sha256 -f '%s.pub' 2>/dev/null", hk->path);
        CHECK(r == 0);
        fp = fields(out, 2);
        CHECK_MSG(fp && streq(fp + strcspn(fp, " ") + 1, hk->fingerprint), "'%s' vs '%s'", str_or_null(fp),
                  hk->fingerprint);

        /* ssh-keygen reads the private key file hostd wrote or loaded. */
        r = run(&y, "ssh-keygen -y -f '%s' 2>/dev/null", hk->path);
        CHECK(r == 0);
        yk = fields(y, 2);
        CHECK_MSG(yk && streq(yk, hk->public_line), "'%s' vs '%s'", str_or_null(yk), hk->public_line);

        pub = pub_of(hk->path);
        CHECK(pub && streq(pub, hk->public_line));
}

static void test_default_paths(void) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        CHECK(host_keys_default_paths("/var/lib/hostd", &a, &b) == 0);
        CHECK(streq_ptr(a, "/var/lib/hostd/host-keys/ssh_host_ed25519_key"));
        CHECK(streq_ptr(b, "/var/lib/hostd/host-keys/ssh_host_rsa_key"));
        CHECK(host_keys_default_paths("", &a, &b) == -EINVAL);
}

static void test_known_hosts(const HostKeys *k) {
        static const struct {
                const char *host;
                uint16_t port;
                const char *prefix;   /* expected host field */
                const char *lookup;   /* what ssh-keygen -F is given */
        } cases[] = {
                { "127.0.0.1",       2222, "[127.0.0.1]:2222",       "[127.0.0.1]:2222" },
                { "127.0.0.1",       22,   "127.0.0.1",              "127.0.0.1" },
                { "builder.example", 22,   "builder.example",        "builder.example" },
                { "builder.example", 2022, "[builder.example]:2022", "[builder.example]:2022" },
                { "[::1]",           2222, "[::1]:2222",             "[::1]:2222" },
                { "::1",             2222, "[::1]:2222",             "[::1]:2222" },
                { "[::1]",           22,   "::1",                    "::1" },
                { "fe80::1%eth0",    2222, "[fe80::1%eth0]:2222",    "[fe80::1%eth0]:2222" },
        };
        _cleanup_free_ char *file = path_join(tmpdir, "known_hosts");
        char *s = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *kh = NULL, *expected = NULL, *out = NULL;
                size_t n = 0;

                CHECK(host_keys_known_hosts(k, cases[i].host, cases[i].port, &kh) == 0);
                if (!kh)
                        continue;
                for (size_t j = 0; j < k->n; j++) {
                        char *e;
                        if (asprintf(&e, "%s%s %s\n", strempty(expected), cases[i].prefix, k->keys[j].public_line) < 0)
                                abort();
                        free(expected);
                        expected = e;
                }
                CHECK_MSG(streq(kh, expected), "'%s' vs '%s'", kh, expected);
                write_text(file, kh, 0644);

                CHECK(run(&out, "ssh-keygen -F '%s' -f '%s' 2>/dev/null", cases[i].lookup, file) == 0);
                for (const char *p = out; p && (p = strstr(p, "\n")); p++)
                        n++;
                /* "# Host X found: line N" plus the line, for each key */
                CHECK_MSG(n == 2 * k->n, "ssh-keygen -F %s found %zu lines:\n%s", cases[i].lookup, n, strempty(out));
                for (size_t j = 0; j < k->n; j++)
                        CHECK_STR_CONTAINS(out, k->keys[j].public_line);
        }

        /* The pin is for that port only. */
        CHECK(host_keys_known_hosts(k, "127.0.0.1", 2222, &s) == 0);
        write_text(file, s, 0644);
        free(s);
        CHECK(run(NULL, "ssh-keygen -F 127.0.0.1 -f '%s' >/dev/null 2>&1", file) != 0);
        CHECK(run(NULL, "ssh-keygen -F '[127.0.0.1]:2223' -f '%s' >/dev/null 2>&1", file) != 0);

        s = NULL;
        CHECK(host_keys_known_hosts(k, "a b", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "*", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "a,b", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "!x", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "[]", 22, &s) == -EINVAL);
        CHECK(host_keys_known_hosts(k, "host", 0, &s) == -EINVAL);
        CHECK(s == NULL);
}

static void test_json(const HostKeys *k) {
        _cleanup_(json_object_putp) json_object *j = NULL;

        CHECK(host_keys_to_json(k, &j) == 0);
        CHECK(j && json_object_is_type(j, json_type_array));
        if (!j)
                return;
        CHECK(json_object_array_length(j) == k->n);
        for (size_t i = 0; i < k->n && i < json_object_array_length(j); i++) {
                json_object *o = json_object_array_get_idx(j, i), *v;

                CHECK(json_object_object_get_ex(o, "type", &v) && streq(json_object_get_string(v), k->keys[i].type));
                CHECK(json_object_object_get_ex(o, "fingerprint", &v) &&
                      streq(json_object_get_string(v), k->keys[i].fingerprint));
                CHECK(json_object_object_get_ex(o, "public_key", &v) &&
                      streq(json_object_get_string(v), k->keys[i].public_line));
        }
}

/* The defaults: Ed25519 and RSA-3072, no ECDSA; the algorithms offered
 * follow the keys and never include ssh-rsa (SHA-1 signatures). */
static void test_default_set(const char *state) {
        _cleanup_free_ char *ed = NULL, *rsa = NULL, *ec = path_join(state, "host-keys/ssh_host_ecdsa_key"),
                            *out = NULL;
        HostKeys k = {};
        char algs[256];

        CHECK(host_keys_default_paths(state, &ed, &rsa) == 0);
        CHECK(host_keys_load(ed, rsa, NULL, &k) == 0);
        CHECK(k.n == 2);
        CHECK(k.n == 2 && streq(k.keys[0].type, "ssh-ed25519") && k.keys[0].kind == HOST_KEY_ED25519);
        CHECK(k.n == 2 && streq(k.keys[1].type, "ssh-rsa") && k.keys[1].kind == HOST_KEY_RSA);
        CHECK(k.n == 2 && pubkey_rsa_bits(k.keys[1].public_line) == HOST_KEY_RSA_BITS);
        CHECK(file_mode(rsa) == 0600);
        /* What an operator checks: ssh-keygen reads it and says 3072. */
        CHECK(run(&out, "ssh-keygen -l -f '%s' 2>/dev/null", rsa) == 0);
        CHECK_MSG(out && startswith(out, "3072 SHA256:") && strstr(out, "(RSA)"), "ssh-keygen -l: %s", str_or_null(out));
        CHECK(access(ec, F_OK) < 0 && errno == ENOENT);
        CHECK(host_keys_path(&k, HOST_KEY_RSA) && streq(host_keys_path(&k, HOST_KEY_RSA), rsa));
        CHECK(host_keys_path(&k, HOST_KEY_ECDSA) == NULL);
        CHECK(host_keys_algorithms(&k, algs, sizeof(algs)) == 0);
        CHECK_MSG(streq(algs, "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"), "%s", algs);
        CHECK(host_keys_algorithms(&k, algs, 20) == -ENOBUFS);
        host_keys_done(&k);

        /* ECDSA when asked for, last. */
        CHECK(host_keys_load(ed, rsa, ec, &k) == 0);
        CHECK(k.n == 3 && streq(k.keys[2].type, "ecdsa-sha2-nistp256") && k.keys[2].kind == HOST_KEY_ECDSA);
        CHECK(host_keys_algorithms(&k, algs, sizeof(algs)) == 0);
        CHECK_MSG(streq(algs, "ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256"), "%s", algs);
        for (size_t i = 0; i < k.n; i++)
                check_fingerprint(&k.keys[i]);
        host_keys_done(&k);

        /* Without RSA (a caller's choice; hostd always has one). */
        CHECK(host_keys_load(ed, NULL, NULL, &k) == 0);
        CHECK(host_keys_algorithms(&k, algs, sizeof(algs)) == 0);
        CHECK(streq(algs, "ssh-ed25519"));
        host_keys_done(&k);
}

/* An RSA key under HOST_KEY_RSA_BITS is refused, whoever made it. */
static void test_rsa_size(void) {
        _cleanup_free_ char *d = path_join(tmpdir, "rsa-size"), *ed = path_join(d, "ed"), *r2048 = path_join(d, "rsa2048"),
                            *r3072 = path_join(d, "rsa3072"), *r4096 = path_join(d, "rsa4096"), *ec = path_join(d, "ecdsa");
        HostKeys k = {};

        CHECK(mkdir(d, 0700) == 0);
        keygen("-t ed25519", ed);
        keygen("-t rsa -b 2048", r2048);
        keygen("-t rsa -b 3072", r3072);
        keygen("-t rsa -b 4096", r4096);
        keygen("-t ecdsa -b 256", ec);

        CHECK(host_keys_load(ed, r2048, NULL, &k) == -EINVAL);
        CHECK(k.n == 0);
        CHECK(host_keys_load(ed, r3072, NULL, &k) == 0);
        CHECK(k.n == 2 && pubkey_rsa_bits(k.keys[1].public_line) == 3072);
        if (k.n == 2)
                check_fingerprint(&k.keys[1]);
        host_keys_done(&k);
        CHECK(host_keys_load(ed, r4096, NULL, &k) == 0);
        CHECK(k.n == 2 && pubkey_rsa_bits(k.keys[1].public_line) == 4096);
        host_keys_done(&k);
        CHECK(host_keys_load(ed, ec, NULL, &k) == -EINVAL);             /* ECDSA in the RSA slot */
        CHECK(host_keys_load(ed, r3072, r3072, &k) == -EINVAL);         /* one file for two slots */
        CHECK(host_keys_load(ed, NULL, r3072, &k) == -EINVAL);          /* RSA in the ECDSA slot */
        CHECK(k.n == 0);

        CHECK(pubkey_rsa_bits("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG") == -EINVAL);
        CHECK(pubkey_rsa_bits("ssh-rsa !!!!") == -EINVAL);
        CHECK(pubkey_rsa_bits(NULL) == -EINVAL);
}

static void test_host_keys(void) {
        _cleanup_free_ char *state = path_join(tmpdir, "state"), *ed = NULL, *ec = NULL, *dir = NULL,
                            *pubtext = NULL, *edpub = NULL, *rsa_default = NULL;
        HostKeys k = {}, k2 = {};

        CHECK(host_keys_default_paths(state, &ed, &rsa_default) == 0);
        ec = path_join(state, "host-keys/ssh_host_ecdsa_key");
        dir = path_join(state, "host-keys");

        /* First start: Ed25519 and, configured here, ECDSA generated. */
        CHECK(host_keys_load(ed, NULL, ec, &k) == 0);
        CHECK(k.n == 2);
        CHECK(file_mode(dir) == 0700);
        CHECK(file_mode(ed) == 0600);
        CHECK(file_mode(ec) == 0600);
        if (asprintf(&edpub, "%s.pub", ed) < 0)
                abort();
        CHECK(file_mode(edpub) == 0644);
        CHECK(streq(k.keys[0].type, "ssh-ed25519"));
        CHECK(streq(k.keys[1].type, "ecdsa-sha2-nistp256"));
        CHECK(streq_ptr(k.keys[0].path, ed));
        CHECK(streq_ptr(k.keys[1].path, ec));
        for (size_t i = 0; i < k.n; i++) {
                char error[256];
                _cleanup_free_ char *norm = NULL;

                CHECK(k.keys[i].key != NULL);
                CHECK(startswith(k.keys[i].fingerprint, "SHA256:") != NULL);
                CHECK(startswith(k.keys[i].public_line, k.keys[i].type) != NULL);
                CHECK(pubkey_normalize(k.keys[i].public_line, &norm, error, sizeof(error)) == 0);
                CHECK(streq_ptr(norm, k.keys[i].public_line));
                check_fingerprint(&k.keys[i]);
        }
        pubtext = read_text(edpub);
        CHECK_STR_CONTAINS(pubtext, " hostd@");
        CHECK(pubtext && pubtext[strlen(pubtext) - 1] == '\n');

        /* Second start: the same keys. */
        CHECK(host_keys_load(ed, NULL, ec, &k2) == 0);
        CHECK(k2.n == 2);
        for (size_t i = 0; i < 2 && i < k2.n; i++) {
                CHECK(streq(k.keys[i].fingerprint, k2.keys[i].fingerprint));
                CHECK(streq(k.keys[i].public_line, k2.keys[i].public_line));
        }
        host_keys_done(&k2);

        /* A lost .pub is written again. */
        CHECK(unlink(edpub) == 0);
        CHECK(host_keys_load(ed, NULL, NULL, &k2) == 0);
        CHECK(k2.n == 1);
        CHECK(file_mode(edpub) == 0644);
        host_keys_done(&k2);

        test_json(&k);
        test_known_hosts(&k);

        /* Refusals. */
        CHECK(chmod(ed, 0644) == 0);
        CHECK(host_keys_load(ed, NULL, ec, &k2) == -EPERM);
        CHECK(chmod(ed, 0640) == 0);
        CHECK(host_keys_load(ed, NULL, ec, &k2) == -EPERM);
        CHECK(chmod(ed, 0600) == 0);
        CHECK(chmod(ec, 0604) == 0);
        CHECK(host_keys_load(ed, NULL, ec, &k2) == -EPERM);
        CHECK(chmod(ec, 0600) == 0);

        CHECK(chmod(dir, 0770) == 0);
        CHECK(host_keys_load(ed, NULL, ec, &k2) == -EPERM);
        CHECK(chmod(dir, 0700) == 0);

        CHECK(host_keys_load(ed, NULL, ed, &k2) == -EINVAL);                  /* one file for both */
        CHECK(host_keys_load(ec, NULL, NULL, &k2) == -EINVAL);                /* ECDSA in the Ed25519 slot */
        CHECK(host_keys_load(ed, NULL, ed, &k2) == -EINVAL);
        CHECK(host_keys_load("relative/key", NULL, NULL, &k2) == -EINVAL);
        CHECK(host_keys_load(NULL, NULL, NULL, &k2) == -EINVAL);
        CHECK(k2.n == 0);

        {
                _cleanup_free_ char *sdir = path_join(tmpdir, "sym"), *slink = path_join(sdir, "ssh_host_ed25519_key");

                CHECK(mkdir(sdir, 0700) == 0);
                CHECK(symlink(ed, slink) == 0);
                CHECK(host_keys_load(slink, NULL, NULL, &k2) == -ELOOP);
        }
        {
                _cleanup_free_ char *ldir = path_join(tmpdir, "linkdir"), *lkey = path_join(ldir, "ssh_host_ed25519_key");
                int r;

                CHECK(symlink(dir, ldir) == 0);
                r = host_keys_load(lkey, NULL, NULL, &k2);
                CHECK_MSG(r == -ELOOP || r == -ENOTDIR, "r=%d", r);
        }
        {
                /* Missing directories under a symlinked one are refused too. */
                _cleanup_free_ char *deep = path_join(tmpdir, "linkdir/sub/ssh_host_ed25519_key");
                CHECK(host_keys_load(deep, NULL, NULL, &k2) == -ENOTDIR);
        }
        {
                _cleanup_free_ char *wdir = path_join(tmpdir, "wrong"), *rsa = path_join(wdir, "rsa_key"),
                                    *edk = path_join(wdir, "ed_key"), *ecdk = path_join(wdir, "ecdsa384_key");

                CHECK(mkdir(wdir, 0700) == 0);
                keygen("-t rsa -b 3072", rsa);
                keygen("-t ed25519", edk);
                keygen("-t ecdsa -b 384", ecdk);
                CHECK(host_keys_load(rsa, NULL, NULL, &k2) == -EINVAL); /* RSA in the Ed25519 slot */
                CHECK(host_keys_load(edk, NULL, rsa, &k2) == -EINVAL);  /* RSA in the ECDSA slot */
                CHECK(host_keys_load(edk, NULL, edk, &k2) == -EINVAL);
                CHECK(k2.n == 0);

                /* Keys made by ssh-keygen (OpenSSH format) load, fingerprints agree. */
                CHECK(host_keys_load(edk, NULL, ecdk, &k2) == 0);
                CHECK(k2.n == 2);
                if (k2.n == 2) {
                        CHECK(streq(k2.keys[1].type, "ecdsa-sha2-nistp384"));
                        check_fingerprint(&k2.keys[0]);
                        check_fingerprint(&k2.keys[1]);
                }
                host_keys_done(&k2);

                /* Not a key at all. */
                write_text(edk, "hello\n", 0600);
                CHECK(host_keys_load(edk, NULL, NULL, &k2) == -EBADMSG);
        }

        host_keys_done(&k);
        CHECK(k.n == 0);
        host_keys_done(&k);     /* idempotent */

        {
                _cleanup_free_ char *fresh = path_join(tmpdir, "state-default");
                test_default_set(fresh);
        }
}

static void test_job_key(void) {
        _cleanup_free_ char *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL, *file = path_join(tmpdir, "id_job"),
                            *out = NULL, *yk = NULL, *norm = NULL;
        char error[256];

        CHECK(job_key_generate(&priv, &pub) == 0);
        CHECK(startswith(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n") != NULL);
        CHECK_STR_CONTAINS(priv, "-----END OPENSSH PRIVATE KEY-----\n");
        CHECK(priv[strlen(priv) - 1] == '\n');
        CHECK(startswith(pub, "ssh-ed25519 ") != NULL);
        CHECK(strchr(pub, '\n') == NULL);
        CHECK(pubkey_normalize(pub, &norm, error, sizeof(error)) == 0 && streq(norm, pub));

        write_text(file, priv, 0600);
        CHECK(run(&out, "ssh-keygen -y -f '%s' 2>/dev/null", file) == 0);
        yk = fields(out, 2);
        CHECK_MSG(streq_ptr(yk, pub), "'%s' vs '%s'", str_or_null(yk), pub);

        CHECK(job_key_generate(&priv2, &pub2) == 0);
        CHECK(!streq(pub, pub2));
        CHECK(!streq(priv, priv2));
        explicit_bzero(priv, strlen(priv));
        explicit_bzero(priv2, strlen(priv2));
}

static void test_authorized_keys(void) {
        _cleanup_free_ char *adir = path_join(tmpdir, "ak"), *file = NULL, *ed = NULL, *ec = NULL, *rsa3 = NULL,
                            *rsa2 = NULL, *edp = NULL, *ecp = NULL, *rsa3p = NULL, *rsa2p = NULL, *text = NULL,
                            *jpriv = NULL, *jpub = NULL, *link = NULL, *big = NULL, *edline = NULL;
        _cleanup_authorized_keys_ AuthorizedKeys *a = NULL, *b = NULL;
        AuthorizedKeys *old;
        struct timespec ts[2];
        struct stat st;

        CHECK(mkdir(adir, 0700) == 0);
        file = path_join(adir, "controller_keys");
        ed = path_join(adir, "ed");
        ec = path_join(adir, "ec");
        rsa3 = path_join(adir, "rsa3072");
        rsa2 = path_join(adir, "rsa2048");
        keygen("-t ed25519", ed);
        keygen("-t ecdsa -b 256", ec);
        keygen("-t rsa -b 3072", rsa3);
        keygen("-t rsa -b 2048", rsa2);
        edp = pub_of(ed);
        ecp = pub_of(ec);
        rsa3p = pub_of(rsa3);
        rsa2p = pub_of(rsa2);
        {
                _cleanup_free_ char *edpubfile = NULL;
                if (asprintf(&edpubfile, "%s.pub", ed) < 0)
                        abort();
                edline = read_text(edpubfile);  /* "ssh-ed25519 BASE64 test\n" */
        }
        CHECK(job_key_generate(&jpriv, &jpub) == 0);
        explicit_bzero(jpriv, strlen(jpriv));

        if (asprintf(&text,
                     "# hostd controller keys\n"
                     "\n"
                     "%s"                                       /* with comment */
                     "   %s comment with spaces\r\n"            /* leading blanks, CRLF */
                     "from=\"10.0.0.1\",no-pty %s\n"            /* options: refused */
                     "command=\"echo hi there\" %s\n"           /* options with quoted blanks */
                     "no-pty %s\n"
                     "%s\n"                                     /* RSA 3072 */
                     "%s\n"                                     /* RSA 2048: too short */
                     "this is garbage\n"
                     "ssh-ed25519 !!!notbase64\n"
                     "ssh-dss AAAAB3NzaC1kc3MAAACBAP\n"
                     "ssh-ed25519\n"
                     "%s\n"                                     /* duplicate */
                     "   \t  \n"
                     "    # indented comment\n",
                     edline, ecp, jpub, jpub, jpub, rsa3p, rsa2p, edp) < 0)
                abort();
        write_text(file, text, 0644);

        CHECK(authorized_keys_load(file, &a) == 0);
        CHECK_MSG(authorized_keys_count(a) == 3, "count %zu", authorized_keys_count(a));
        CHECK(authorized_keys_contains(a, edp));
        CHECK(authorized_keys_contains(a, ecp));
        CHECK(authorized_keys_contains(a, rsa3p));
        CHECK(!authorized_keys_contains(a, rsa2p));
        CHECK(!authorized_keys_contains(a, jpub));
        CHECK(!authorized_keys_contains(a, NULL));
        CHECK(!authorized_keys_contains(NULL, edp));
        CHECK(authorized_keys_count(NULL) == 0);
        {
                _cleanup_free_ char *withc = NULL;
                if (asprintf(&withc, "%s test", edp) < 0)
                        abort();
                CHECK(!authorized_keys_contains(a, withc));      /* exact, normalized compare */
        }

        /* Writable by others: refused. */
        CHECK(chmod(file, 0664) == 0);
        CHECK(authorized_keys_load(file, &b) == -EPERM);
        CHECK(chmod(file, 0646) == 0);
        CHECK(authorized_keys_load(file, &b) == -EPERM);
        CHECK(chmod(file, 0640) == 0);
        CHECK(b == NULL);

        /* A symlink to a good file is fine (root's config may be one). */
        link = path_join(adir, "link");
        CHECK(symlink(file, link) == 0);
        CHECK(authorized_keys_load(link, &b) == 0);
        CHECK(authorized_keys_count(b) == 3);
        b = authorized_keys_free(b);

        /* Missing file. */
        {
                _cleanup_free_ char *missing = path_join(adir, "missing");
                CHECK(authorized_keys_load(missing, &b) == -ENOENT);
                CHECK(authorized_keys_refresh(&b, missing) == -ENOENT);
                CHECK(b == NULL);
        }
        CHECK(authorized_keys_load(adir, &b) == -EBADFD);

        /* Refresh: nothing changed. */
        old = a;
        CHECK(authorized_keys_refresh(&a, file) == 0);
        CHECK(a == old);

        /* Same size, same mtime: not re-read (only stat is compared). */
        CHECK(stat(file, &st) == 0);
        {
                _cleanup_free_ char *same = strdup(text);
                char *c = strstr(same, "hostd controller");
                c[0] = 'H';
                write_text(file, same, 0640);
        }
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        CHECK(utimensat(AT_FDCWD, file, ts, 0) == 0);
        CHECK(authorized_keys_refresh(&a, file) == 0);
        CHECK(a == old);

        /* Changed: re-read. */
        {
                _cleanup_free_ char *t2 = NULL;
                if (asprintf(&t2, "%s%s\n", text, jpub) < 0)
                        abort();
                replace_text(file, t2, 0644);
        }
        CHECK(authorized_keys_refresh(&a, file) == 1);
        CHECK(authorized_keys_count(a) == 4);
        CHECK(authorized_keys_contains(a, jpub));
        CHECK(authorized_keys_refresh(&a, file) == 0);

        /* Only the mtime changed: re-read too. */
        ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
        ts[1].tv_sec = 1000000000;
        ts[1].tv_nsec = 0;
        CHECK(utimensat(AT_FDCWD, file, ts, 0) == 0);
        CHECK(authorized_keys_refresh(&a, file) == 1);
        CHECK(authorized_keys_count(a) == 4);

        /* A bad new file revokes the old set (fail closed). */
        old = a;
        replace_text(file, text, 0666);
        CHECK(authorized_keys_refresh(&a, file) == -EPERM);
        CHECK(a == NULL);
        CHECK(authorized_keys_count(a) == 0);
        replace_text(file, text, 0644);
        CHECK(authorized_keys_refresh(&a, file) == 1);
        CHECK(authorized_keys_count(a) == 3);
        CHECK(unlink(file) == 0);
        CHECK(authorized_keys_refresh(&a, file) == -ENOENT);
        CHECK(a == NULL);
        {
                _cleanup_free_ char *huge = malloc(AUTHORIZED_KEYS_FILE_MAX + 2);
                memset(huge, '#', AUTHORIZED_KEYS_FILE_MAX + 1);
                huge[AUTHORIZED_KEYS_FILE_MAX + 1] = 0;
                replace_text(file, huge, 0644);
        }
        CHECK(authorized_keys_refresh(&a, file) == -EFBIG);
        CHECK(a == NULL);

        /* A good file again. */
        replace_text(file, text, 0644);
        CHECK(authorized_keys_refresh(&a, file) == 1);
        CHECK(authorized_keys_count(a) == 3);

        /* NULL set: loads. */
        CHECK(authorized_keys_refresh(&b, file) == 1);
        CHECK(authorized_keys_count(b) == 3);

        /* At most AUTHORIZED_KEYS_MAX keys. */
        {
                FILE *f;
                size_t size = 0;
                _cleanup_free_ char *bigfile = path_join(adir, "big");

                f = open_memstream(&big, &size);
                for (int i = 0; i < AUTHORIZED_KEYS_MAX + 5; i++) {
                        _cleanup_free_ char *p = NULL, *q = NULL;
                        CHECK(job_key_generate(&q, &p) == 0);
                        explicit_bzero(q, strlen(q));
                        fprintf(f, "%s key%d\n", p, i);
                }
                fclose(f);
                write_text(bigfile, big, 0644);
                b = authorized_keys_free(b);
                CHECK(authorized_keys_load(bigfile, &b) == 0);
                CHECK(authorized_keys_count(b) == AUTHORIZED_KEYS_MAX);
        }
}

int main(void) {
        if (run(NULL, "command -v ssh-keygen >/dev/null 2>&1") != 0) {
                printf("test-sshkeys: ssh-keygen not installed, skipping\n");
                return 77;
        }
        log_setup("test-sshkeys", LOG_TARGET_STDERR);
        if (!mkdtemp(tmpdir))
                return EXIT_FAILURE;

        test_default_paths();
        test_host_keys();
        test_rsa_size();
        test_job_key();
        test_authorized_keys();

        (void) run(NULL, "rm -rf '%s'", tmpdir);
        return test_summary("test-sshkeys");
}
