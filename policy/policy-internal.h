/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the pieces of the policy code share; not part of the policy API
 * (policy.h). policy-keys.c holds the table of sections and keys,
 * policy-values.c checks and assigns values, policy-parse.c reads the file
 * format, policy-validate.c checks the whole policy, policy-dump.c prints it,
 * policy-problems.c collects the messages, policy.c builds the policy
 * (embedded default, files, drop-ins, overrides). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"
#include "policy.h"

#define PROBLEMS_MAX 50U
#define WHY_MAX 512
#define SHOWN_MAX 100          /* bytes of a value echoed in a message */

#define UID_RANGE_SIZE UINT64_C(65536)
#define UID_POOL_END UINT64_C(0xFFFF0000)
#define SUN_PATH_SIZE 108

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)
#define MINUTE UINT64_C(60)
#define HOUR (MINUTE * 60)
#define DAY (HOUR * 24)

/* ---- problem collection (policy-problems.c) ---------------------------- */

typedef struct Problems {
        char *text;             /* problems joined by '\n' */
        size_t len;
        unsigned n;             /* problems seen (including dropped ones) */
        int error;              /* first read error, returned instead of -EINVAL */
        bool oom;
} Problems;

void policy_problems_done(Problems *pr);
bool policy_problems_full(const Problems *pr);
_printf_(2, 3) void policy_problem(Problems *pr, const char *format, ...);
/* Returns 0, -EINVAL (or the first read error) with the problems in
 * *ret_error, or -ENOMEM; resets pr either way. */
int policy_problems_finish(Problems *pr, char **ret_error);

const char *policy_shorten(const char *s, char buf[static SHOWN_MAX + 4]);

static inline bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

/* ---- the key table (policy-keys.c) ------------------------------------- */

typedef enum KeyType {
        KEY_ADDRESS,     /* IP literal */
        KEY_HOST,        /* host name or IP literal */
        KEY_PATH,        /* absolute file path */
        KEY_SOCKET,      /* absolute path that fits in sun_path */
        KEY_STATE_DIR,   /* absolute directory path, not "/" */
        KEY_USER,        /* user name, not shaped like a job user */
        KEY_GROUP,       /* group name */
        KEY_CIDRS,       /* list of ADDRESS/PREFIX */
        KEY_ENV_NAMES,   /* list of NAME or PREFIX* */
        KEY_SYSCALLS,    /* list of system call names */
        KEY_UINT,
        KEY_UID_START,   /* a multiple of 65536 */
        KEY_SIZE,
        KEY_DURATION,
        KEY_CPUS,
        KEY_NETWORK,
        KEY_BOOL,
} KeyType;

typedef struct PolicyKey {
        const char *section;
        const char *name;
        KeyType type;
        size_t offset;
        size_t size;
        bool optional;   /* string keys: an empty value means NULL */
        bool unlimited;  /* number keys: "infinity" is allowed and stored as 0 */
        uint64_t min, max;
} PolicyKey;

/* The table, in file order, and the section names (policy-keys.c). */
extern const PolicyKey policy_keys[];
extern const size_t n_policy_keys;
extern const char *const policy_sections[];
extern const size_t n_policy_sections;

typedef enum KeyKind {
        KIND_STRING,
        KIND_LIST,
        KIND_NUMBER,
        KIND_NETWORK,
        KIND_BOOL,
} KeyKind;

static inline KeyKind key_kind(const PolicyKey *k) {
        switch (k->type) {
        case KEY_ADDRESS:
        case KEY_HOST:
        case KEY_PATH:
        case KEY_SOCKET:
        case KEY_STATE_DIR:
        case KEY_USER:
        case KEY_GROUP:
                return KIND_STRING;
        case KEY_CIDRS:
        case KEY_ENV_NAMES:
        case KEY_SYSCALLS:
                return KIND_LIST;
        case KEY_NETWORK:
                return KIND_NETWORK;
        case KEY_BOOL:
                return KIND_BOOL;
        default:
                return KIND_NUMBER;
        }
}

const PolicyKey *policy_find_key(const char *section, const char *name);
const char *policy_find_section(const char *name);

static inline void *field(Policy *p, const PolicyKey *k) {
        return (uint8_t *) p + k->offset;
}

static inline const void *field_const(const Policy *p, const PolicyKey *k) {
        return (const uint8_t *) p + k->offset;
}

uint64_t policy_get_number(const Policy *p, const PolicyKey *k);
void policy_set_number(Policy *p, const PolicyKey *k, uint64_t v);
char *policy_format_number(const PolicyKey *k, char *buf, size_t size, uint64_t v);
char *policy_describe_range(const PolicyKey *k, char *buf, size_t size);

/* ---- values (policy-values.c) ------------------------------------------ */

/* Return 0, -EINVAL with the reason in why, or -ENOMEM; with ret, the value
 * in its canonical form. */
int policy_check_string(const PolicyKey *k, const char *v, char **ret, char *why, size_t size);
int policy_check_element(const PolicyKey *k, const char *v, char **ret, char *why, size_t size);
int policy_check_number(const PolicyKey *k, uint64_t v, char *why, size_t size);

/* Sets the key from its text; a bad value is added to pr, and only -ENOMEM
 * is returned. loc is "file:line" or an override's origin. */
int policy_assign(Policy *p, const PolicyKey *k, const char *value, const char *loc, Problems *pr);

/* ---- the file format and cross-key checks ------------------------------ */

int policy_parse_text_internal(Policy *p, const char *text, size_t size, const char *filename, Problems *pr);   /* policy-parse.c */
int policy_validate_internal(const Policy *p, Problems *pr);   /* policy-validate.c */
