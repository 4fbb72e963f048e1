/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building the policy: the embedded default, then the file, its drop-ins
 * and the overrides; and freeing it. */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macros.h"
#include "policy-internal.h"

/* The compiler's dependency tracking does not see .incbin, so the build
 * generates a header carrying a checksum of default.conf: including it
 * makes an edit of default.conf rebuild this file. Optional, so that
 * policy.c also builds outside meson (fuzzers). */
#if defined(__has_include)
#  if __has_include("policy-default-stamp.h")
#    include "policy-default-stamp.h"
#  endif
#endif

#ifndef POLICY_DEFAULT_PATH
#  error "POLICY_DEFAULT_PATH must be the absolute path of policy/default.conf"
#endif

__asm__(".pushsection .rodata\n"
        ".global policy_default_text\n"
        ".type policy_default_text, @object\n"
        "policy_default_text:\n"
        ".incbin \"" POLICY_DEFAULT_PATH "\"\n"
        ".byte 0\n"
        ".size policy_default_text, . - policy_default_text\n"
        ".popsection\n"
        ".pushsection .note.GNU-stack, \"\", @progbits\n"
        ".popsection\n");

#define EMBEDDED_NAME "(embedded default)"
#define COMMAND_LINE_NAME "command line"

static bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);

        return l >= k && streq(s + l - k, suffix);
}

static int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **t;
        char *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        t = reallocarray(*l, n + 2, sizeof(char *));
        if (!t) {
                free(c);
                return -ENOMEM;
        }
        t[n] = c;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

/* ---- loading ----------------------------------------------------------- */

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < n_policy_keys; i++)
                switch (key_kind(policy_keys + i)) {
                case KIND_STRING:
                        free(*(char **) field(p, policy_keys + i));
                        break;
                case KIND_LIST:
                        strv_free(*(char ***) field(p, policy_keys + i));
                        break;
                default:
                        break;
                }
        strv_free(p->sources);
        free(p);
        return NULL;
}

static int new_default(Policy **ret, Problems *pr) {
        _cleanup_policy_ Policy *p = NULL;
        unsigned before = pr->n;
        int r;

        p = calloc(1, sizeof(Policy));
        if (!p)
                return -ENOMEM;
        r = strv_extend(&p->sources, EMBEDDED_NAME);
        if (r < 0)
                return r;
        r = policy_parse_text_internal(p, policy_default_text, strlen(policy_default_text), EMBEDDED_NAME, pr);
        if (r < 0)
                return r;
        r = policy_validate_internal(p, pr);
        if (r < 0)
                return r;
        if (pr->n != before) {
                /* A broken default.conf is a build bug, not the admin's. */
                policy_problem(pr, "%s: the compiled-in default policy is invalid; this is a bug in the hostd build", EMBEDDED_NAME);
                return -EINVAL;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_new_default(Policy **ret) {
        Problems pr = {};
        int r;

        if (!ret)
                return -EINVAL;
        r = new_default(ret, &pr);
        policy_problems_done(&pr);
        return r;
}

static void read_problem(Problems *pr, const char *path, int error, const char *fix) {
        char shown[SHOWN_MAX + 4];
        const char *what;

        switch (error) {
        case -EFBIG:
                policy_problem(pr, "%s: cannot read: larger than the limit of %d bytes; split it into drop-ins or shorten it",
                        path, POLICY_FILE_MAX);
                break;
        case -EBADFD:
                policy_problem(pr, "%s: cannot read: not a regular file; %s", path, fix);
                break;
        default:
                what = strerror(-error);
                policy_problem(pr, "%s: cannot read: %s; %s", path, policy_shorten(what, shown), fix);
        }
        if (pr->error == 0)
                pr->error = error;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int load_dropins(Policy *p, const char *path, Problems *pr) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, total = 0;
        int r;

        if (asprintf(&dir, "%s.d", path) < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                read_problem(pr, dir, negative_errno(), "fix the drop-in directory or remove it");
                return 0;
        }

        names = calloc(POLICY_DROPINS_MAX + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (;;) {
                struct dirent *de;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                read_problem(pr, dir, negative_errno(), "fix the drop-in directory");
                        break;
                }
                if (de->d_name[0] == '.' || !endswith(de->d_name, ".conf"))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                        _cleanup_free_ char *fn = NULL;

                        if (asprintf(&fn, "%s/%s", dir, de->d_name) < 0) {
                                fn = NULL;
                                return -ENOMEM;
                        }
                        read_problem(pr, fn, negative_errno(), "fix the drop-in or remove it");
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                total++;
                if (n >= POLICY_DROPINS_MAX)
                        continue;
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                n++;
        }
        if (total > POLICY_DROPINS_MAX) {
                policy_problem(pr, "%s: has %zu drop-ins, over the limit of %d; merge some of them",
                        dir, total, POLICY_DROPINS_MAX);
                return 0;
        }
        qsort(names, n, sizeof(char *), cmp_strp);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *fn = NULL, *text = NULL;
                size_t size = 0;

                if (asprintf(&fn, "%s/%s", dir, names[i]) < 0) {
                        fn = NULL;
                        return -ENOMEM;
                }
                r = read_file_at(dirfd(d), names[i], POLICY_FILE_MAX, 0, &text, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        read_problem(pr, fn, r, "fix the drop-in or remove it");
                        continue;
                }
                r = strv_extend(&p->sources, fn);
                if (r < 0)
                        return r;
                r = policy_parse_text_internal(p, text, size, fn, pr);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_overrides(Policy *p, const PolicyOverride *overrides, size_t n_overrides, Problems *pr) {
        int r;

        for (size_t i = 0; i < n_overrides; i++) {
                const PolicyOverride *o = overrides + i;
                const char *origin = o->origin ?: COMMAND_LINE_NAME;
                const PolicyKey *k;

                if (!o->section || !o->key) {
                        policy_problem(pr, "%s: override without section or key; this is a bug in the caller", origin);
                        continue;
                }
                k = policy_find_key(o->section, o->key);
                if (!k) {
                        char s1[SHOWN_MAX + 4], s2[SHOWN_MAX + 4];

                        policy_problem(pr, "%s: unknown key [%s] %s; see docs/policy.md for the sections and keys",
                                origin, policy_shorten(o->section, s1), policy_shorten(o->key, s2));
                        continue;
                }
                r = policy_assign(p, k, o->value ?: "", origin, pr);
                if (r < 0)
                        return r;
        }
        if (n_overrides > 0)
                return strv_extend(&p->sources, COMMAND_LINE_NAME);
        return 0;
}

static int load_internal(const char *path, const PolicyOverride *overrides, size_t n_overrides,
                         Policy **ret, Problems *pr) {
        _cleanup_policy_ Policy *p = NULL;
        int r;

        r = new_default(&p, pr);
        if (r < 0)
                return r;

        if (path) {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;

                r = read_file_at(AT_FDCWD, path, POLICY_FILE_MAX, 0, &text, &size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* Nothing else is worth reading without the main file. */
                        read_problem(pr, path, r, "check the path given to --policy");
                        return 0;
                }
                r = strv_extend(&p->sources, path);
                if (r < 0)
                        return r;
                r = policy_parse_text_internal(p, text, size, path, pr);
                if (r < 0)
                        return r;
                r = load_dropins(p, path, pr);
                if (r < 0)
                        return r;
        }

        r = load_overrides(p, overrides, n_overrides, pr);
        if (r < 0)
                return r;

        if (pr->error == 0) {
                r = policy_validate_internal(p, pr);
                if (r < 0)
                        return r;
        }
        if (pr->n == 0)
                *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, const PolicyOverride *overrides, size_t n_overrides,
                Policy **ret, char **ret_error) {
        Policy *p = NULL;
        Problems pr = {};
        int r;

        if (!ret || (!overrides && n_overrides > 0)) {
                if (ret_error)
                        *ret_error = NULL;
                return -EINVAL;
        }
        r = load_internal(path, overrides, n_overrides, &p, &pr);
        if (r < 0) {
                /* Keep the messages: a broken default explains itself. */
                if (r != -ENOMEM && pr.n > 0 && !pr.oom)
                        return policy_problems_finish(&pr, ret_error);
                policy_problems_done(&pr);
                if (ret_error)
                        *ret_error = NULL;
                return r;
        }
        r = policy_problems_finish(&pr, ret_error);
        if (r < 0) {
                policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}
