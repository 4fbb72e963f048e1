/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

static const char *log_ident = "hostd";
static int log_max_level = LOG_INFO;
static bool use_journal = false;

/* systemd sets JOURNAL_STREAM=DEV:INODE for services whose stderr goes to
 * the journal; if our stderr is that stream, log natively instead so the
 * structured fields survive. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(const char *ident, LogTarget target) {
        const char *lvl;

        if (ident)
                log_ident = ident;
        switch (target) {
        case LOG_TARGET_JOURNAL:
                use_journal = true;
                break;
        case LOG_TARGET_STDERR:
                use_journal = false;
                break;
        default:
                use_journal = stderr_is_journal();
        }

        lvl = getenv("HOSTD_LOG_LEVEL");
        if (lvl) {
                if (streq(lvl, "debug"))
                        log_max_level = LOG_DEBUG;
                else if (streq(lvl, "info"))
                        log_max_level = LOG_INFO;
                else if (streq(lvl, "notice"))
                        log_max_level = LOG_NOTICE;
                else if (streq(lvl, "warning"))
                        log_max_level = LOG_WARNING;
                else if (streq(lvl, "err") || streq(lvl, "error"))
                        log_max_level = LOG_ERR;
        }
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

bool log_to_journal(void) {
        return use_journal;
}

static const char *level_name(int level) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level < (int) ELEMENTSOF(names) ? names[level] : "?";
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *job, const char *owner, const char *format, ...) {
        char msg[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;

        if (level > log_max_level)
                goto finish;

        /* %m in the format refers to the error passed in, as in systemd. */
        errno = error;
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (use_journal) {
                char code_file[256], code_line[32], code_func[128], prio[16], errnobuf[32];
                char jobbuf[128], ownerbuf[512], ident[64];
                struct iovec iov[10];
                size_t n = 0;
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "MESSAGE=%s", msg) < 0)
                        goto finish;
#define ADD(buf, ...)                                                   \
                do {                                                    \
                        snprintf(buf, sizeof(buf), __VA_ARGS__);        \
                        iov[n++] = (struct iovec) { buf, strlen(buf) }; \
                } while (0)
                iov[n++] = (struct iovec) { m, strlen(m) };
                ADD(prio, "PRIORITY=%d", level);
                ADD(ident, "SYSLOG_IDENTIFIER=%s", log_ident);
                ADD(code_file, "CODE_FILE=%s", file);
                ADD(code_line, "CODE_LINE=%d", line);
                ADD(code_func, "CODE_FUNC=%s", func);
                if (error > 0)
                        ADD(errnobuf, "ERRNO=%d", error);
                if (job)
                        ADD(jobbuf, "JOB=%s", job);
                if (owner)
                        ADD(ownerbuf, "OWNER=%s", owner);
#undef ADD
                if (sd_journal_sendv(iov, (int) n) >= 0)
                        goto finish;
                /* Journal not reachable: fall through to stderr. */
        }

        if (job)
                fprintf(stderr, "%s[%d]: %s: job %s%s%s: %s\n", log_ident, (int) getpid(),
                        level_name(level), job, owner ? " owner " : "", strempty(owner), msg);
        else
                fprintf(stderr, "%s[%d]: %s: %s\n", log_ident, (int) getpid(), level_name(level), msg);

finish:
        errno = saved;
        return error > 0 ? -error : 0;
}
