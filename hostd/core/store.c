/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macros.h"

#define HOST_STATE_VERSION 1

Store *store_close(Store *s) {
        if (!s)
                return NULL;
        safe_close(s->quarantine_fd);
        safe_close(s->jobs_fd);
        safe_close(s->registry_fd);
        safe_close(s->lock_fd);
        safe_close(s->dir_fd);
        free(s->path);
        free(s);
        return NULL;
}

static int open_subdir(int dir_fd, const char *name, mode_t mode, int *ret) {
        int r, fd;

        r = mkdir_safe_at(dir_fd, name, mode);
        if (r < 0)
                return r;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

int store_open(const char *path, Store **ret) {
        _cleanup_(store_closep) Store *s = NULL;
        struct stat st;
        int r;

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->lock_fd = s->registry_fd = s->jobs_fd = s->quarantine_fd = -1;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        r = mkdir_parents_safe(path, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create state dir %s: %m", path);
        s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return log_error_errno(errno, "Cannot open state dir %s: %m", path);
        if (fstat(s->dir_fd, &st) < 0)
                return negative_errno();
        /* Job trees and records live here: nobody but root may add entries. */
        if (st.st_uid != 0 || (st.st_mode & 0022))
                return log_error_errno(EPERM,
                                       "State dir %s must be owned by root and not group/world-writable "
                                       "(it is uid %u mode %04o); fix with: chown root %s && chmod 0755 %s",
                                       path, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777), path, path);

        s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0)
                return log_error_errno(errno, "Cannot open %s/lock: %m", path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "Another hostd already uses state dir %s; stop it first "
                                               "or pass a different --state-dir", path);
                return log_error_errno(errno, "Cannot lock %s/lock: %m", path);
        }

        if ((r = open_subdir(s->dir_fd, "registry", 0700, &s->registry_fd)) < 0 ||
            (r = open_subdir(s->dir_fd, "jobs", 0711, &s->jobs_fd)) < 0 ||
            (r = open_subdir(s->dir_fd, "quarantine", 0700, &s->quarantine_fd)) < 0)
                return log_error_errno(r, "Cannot set up state dir %s: %m", path);

        *ret = TAKE_PTR(s);
        return 0;
}

/* The index-th ancestor-or-self of an absolute, canonical path into buf
 * (PATH_MAX): "/", "/a", "/a/b", ..., path.  False past the end. */
static bool path_prefix(const char *path, size_t index, char *buf) {
        size_t k = 0;

        for (size_t i = 0;; k++) {
                if (path[k] != '/' && path[k] != 0)
                        continue;
                if (i++ == index)
                        break;
                if (path[k] == 0)
                        return false;
        }
        if (k == 0)
                strcpy(buf, "/");
        else {
                memcpy(buf, path, k);
                buf[k] = 0;
        }
        return true;
}

/* The job's init is root of the job's user namespace only: host
 * directories owned by root are "other" to it, so it needs search
 * permission on every one from / down to jobs/ID, or mounting its root
 * fails with EACCES.  Checked by asking the kernel itself, as such a uid,
 * in a child: access() honours ACLs, which a mode check would not. */
int store_check_traversable(const Store *s, uid_t uid, gid_t gid, char **ret_dir, mode_t *ret_mode) {
        _cleanup_free_ char *real = NULL, *jobs = NULL;
        _cleanup_close_ int rfd = -1, wfd = -1;
        struct { int32_t index, error; } result = { -1, 0 };
        char p[PATH_MAX];
        int pfd[2], status, r;
        ssize_t l;
        pid_t pid;

        real = realpath(s->path, NULL);
        if (!real)
                return negative_errno();
        if (asprintf(&jobs, "%s/jobs", streq(real, "/") ? "" : real) < 0) {
                jobs = NULL;
                return -ENOMEM;
        }
        if (strlen(jobs) >= PATH_MAX)
                return -ENAMETOOLONG;

        if (pipe2(pfd, O_CLOEXEC) < 0)
                return negative_errno();
        rfd = pfd[0];
        wfd = pfd[1];

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                rfd = safe_close(rfd);
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(EXIT_FAILURE);
                for (size_t i = 0; path_prefix(jobs, i, p); i++)
                        if (access(p, X_OK) < 0) {
                                result = (typeof(result)) { (int32_t) i, errno };
                                break;
                        }
                _exit(write(wfd, &result, sizeof(result)) == sizeof(result) ? EXIT_SUCCESS : EXIT_FAILURE);
        }
        wfd = safe_close(wfd);
        l = read(rfd, &result, sizeof(result));
        r = l < 0 ? negative_errno() : 0;
        if (waitpid(pid, &status, 0) < 0)
                return negative_errno();
        if (r < 0)
                return r;
        /* The child could not become uid:gid, or died. */
        if (l != sizeof(result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EPROTO;
        if (result.index < 0)
                return 0;
        if (result.error <= 0 || !path_prefix(jobs, (size_t) result.index, p))
                return -EPROTO;

        if (ret_mode) {
                struct stat st;

                *ret_mode = stat(p, &st) >= 0 ? st.st_mode & 07777 : 0;
        }
        if (ret_dir) {
                *ret_dir = strdup(p);
                if (!*ret_dir)
                        return -ENOMEM;
        }
        return -result.error;
}

static int save_json(int dir_fd, const char *name, json_object *o) {
        const char *text;
        size_t len;

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        {
                _cleanup_free_ char *withnl = malloc(len + 2);
                if (!withnl)
                        return -ENOMEM;
                memcpy(withnl, text, len);
                withnl[len] = '\n';
                return write_file_atomic_at(dir_fd, name, withnl, len + 1, 0600);
        }
}

int store_save_job(Store *s, const Job *j) {
        char name[JOB_ID_LEN + 8];
        json_object *o = NULL;
        int r;

        r = job_to_state_json(j, &o);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "%s.json", j->id);
        r = save_json(s->registry_fd, name, o);
        json_object_put(o);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot write state of job: %m");
        return 0;
}

int store_remove_job(Store *s, const char *id) {
        char name[JOB_ID_LEN + 8];

        snprintf(name, sizeof(name), "%s.json", id);
        if (unlinkat(s->registry_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        if (fsync(s->registry_fd) < 0)
                return negative_errno();
        return 0;
}

static int parse_json_text(const char *text, size_t size, json_object **ret, char *error, size_t error_size) {
        const char *e;
        int r;

        r = json_parse_buffer(text, size, 32, JSON_PARSE_STRICT | JSON_PARSE_REFUSE_NUL | JSON_PARSE_TRAILING_SPACE,
                              ret, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                snprintf(error, error_size, "%s", e);
                return -EBADMSG;
        }
        return 0;
}

/* Moves a bad record aside, keeping every byte for a person to look at. */
static int quarantine(Store *s, int from_fd, const char *name, char *ret_dest, size_t dest_size) {
        char dest[256];

        snprintf(dest, sizeof(dest), "%s.%llu", name, (unsigned long long) now(CLOCK_REALTIME));
        if (renameat(from_fd, name, s->quarantine_fd, dest) < 0)
                return negative_errno();
        (void) fsync(s->quarantine_fd);
        (void) fsync(from_fd);
        snprintf(ret_dest, dest_size, "%s/quarantine/%s", s->path, dest);
        return 0;
}

static int load_one(Store *s, const char *name, const char *id, Job **ret) {
        _cleanup_free_ char *text = NULL;
        char error[256] = "", dest[512], reason[1024];
        json_object *o = NULL;
        size_t size;
        int r;

        r = read_file_at(s->registry_fd, name, JOB_STATE_FILE_MAX, true, &text, &size);
        if (r == -EFBIG)
                snprintf(error, sizeof(error), "larger than %d bytes", JOB_STATE_FILE_MAX);
        else if (r < 0)
                snprintf(error, sizeof(error), "cannot read: %s", strerror(-r));
        else if (size == 0)
                snprintf(error, sizeof(error), "empty (truncated)");
        else {
                r = parse_json_text(text, size, &o, error, sizeof(error));
                if (r >= 0) {
                        r = job_from_state_json(o, ret, error, sizeof(error));
                        json_object_put(o);
                        if (r >= 0 && !streq((*ret)->id, id)) {
                                snprintf(error, sizeof(error), "names job %s but is stored as %s", (*ret)->id, name);
                                *ret = job_free(*ret);
                                r = -EBADMSG;
                        }
                        if (r >= 0)
                                return 0;
                }
        }

        r = quarantine(s, s->registry_fd, name, dest, sizeof(dest));
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, id, NULL,
                                          "State file %s/registry/%s is bad (%s) and cannot be quarantined: %m",
                                          s->path, name, error);
        snprintf(reason, sizeof(reason), "state file unreadable (%s); quarantined as %s", error, dest);
        log_job(LOG_ERR, id, NULL, "State file %s/registry/%s is bad (%s): quarantined as %s; the job is kept "
                "as leaked so its files are reclaimed by 'hostctl release %s'", s->path, name, error, dest, id);
        r = job_new_placeholder(id, reason, now(CLOCK_REALTIME), ret);
        if (r < 0)
                return r;
        /* Persist the placeholder so the job survives another restart. */
        return store_save_job(s, *ret);
}

int store_load_jobs(Store *s, Job ***ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        Job **jobs = NULL;
        size_t n = 0;
        struct dirent *de;
        int r;

        r = opendir_at(s->registry_fd, &d);
        if (r < 0)
                return r;

        while ((de = readdir(d))) {
                char id[JOB_ID_LEN + 1];
                const char *dot;
                Job *j = NULL, **nj;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (startswith(de->d_name, ATOMIC_TMP_PREFIX)) {
                        /* Left by a write interrupted by a crash; the old record is intact. */
                        log_info("Removing interrupted write %s/registry/%s", s->path, de->d_name);
                        (void) unlinkat(s->registry_fd, de->d_name, 0);
                        continue;
                }
                dot = strrchr(de->d_name, '.');
                if (!dot || !streq(dot, ".json") || (size_t) (dot - de->d_name) != JOB_ID_LEN) {
                        log_warning("Ignoring unexpected file %s/registry/%s", s->path, de->d_name);
                        continue;
                }
                memcpy(id, de->d_name, JOB_ID_LEN);
                id[JOB_ID_LEN] = 0;
                if (!job_id_is_valid(id)) {
                        log_warning("Ignoring unexpected file %s/registry/%s", s->path, de->d_name);
                        continue;
                }
                r = load_one(s, de->d_name, id, &j);
                if (r < 0)
                        goto fail;
                nj = realloc(jobs, (n + 1) * sizeof(Job *));
                if (!nj) {
                        job_free(j);
                        r = -ENOMEM;
                        goto fail;
                }
                jobs = nj;
                jobs[n++] = j;
        }

        *ret = jobs;
        *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                job_free(jobs[i]);
        free(jobs);
        return r;
}

void host_state_done(HostState *h) {
        free(h->drain_reason);
        h->drain_reason = NULL;
}

int store_save_host(Store *s, const HostState *h) {
        json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        json_add_int(o, "version", HOST_STATE_VERSION);
        json_object_object_add(o, "draining", json_object_new_boolean(h->draining));
        json_add_string(o, "drain_reason", h->drain_reason);
        r = save_json(s->dir_fd, "host.json", o);
        json_object_put(o);
        return r;
}

int store_load_host(Store *s, HostState *ret) {
        _cleanup_free_ char *text = NULL;
        char error[256] = "";
        json_object *o = NULL, *v;
        size_t size;
        int r;

        *ret = (HostState) {};
        r = read_file_at(s->dir_fd, "host.json", JOB_STATE_FILE_MAX, true, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = parse_json_text(text, size, &o, error, sizeof(error));
        else
                snprintf(error, sizeof(error), "%s", strerror(-r));
        if (r >= 0) {
                /* json_object_get_int() converts: "1", 1.5 and true pass as version 1, as they always have. */
                if (json_object_object_get_ex(o, "version", &v) && json_object_get_int(v) == HOST_STATE_VERSION &&
                    json_get_bool(o, "draining", &ret->draining) >= 0) {
                        const char *reason = json_get_string(o, "drain_reason");
                        if (reason)
                                ret->drain_reason = strndup(reason, 1024);
                        json_object_put(o);
                        return 0;
                }
                snprintf(error, sizeof(error), "unexpected content or version");
                json_object_put(o);
        }

        /* Fail closed: a host whose drain state is unknown stays drained. */
        {
                char dest[512];
                if (quarantine(s, s->dir_fd, "host.json", dest, sizeof(dest)) < 0)
                        dest[0] = 0;
                log_error("Host state %s/host.json is bad (%s)%s%s; draining until 'hostctl resume'", s->path, error,
                          dest[0] ? ": quarantined as " : "", dest);
        }
        ret->draining = true;
        ret->drain_reason = strdup("host state file was unreadable; check it, then 'hostctl resume'");
        return ret->drain_reason ? 0 : -ENOMEM;
}

int store_make_job_dir(Store *s, const char *id, uid_t uid) {
        _cleanup_close_ int fd = -1, home = -1;
        int r;

        r = mkdir_safe_at(s->jobs_fd, id, 0711);
        if (r < 0)
                return r;
        fd = openat(s->jobs_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = mkdir_safe_at(fd, "home", 0700);
        if (r < 0)
                return r;
        /* Owned through the fd just opened without following links: the
         * job may already have replaced "home" by a symlink if it existed. */
        home = openat(fd, "home", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (home < 0)
                return negative_errno();
        if (uid != 0 && fchown(home, uid, uid) < 0)
                return negative_errno();

        if (fsync(s->jobs_fd) < 0)
                return negative_errno();
        return 0;
}

bool store_job_dir_exists(Store *s, const char *id) {
        struct stat st;
        return fstatat(s->jobs_fd, id, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

int store_list_job_dirs(Store *s, char ***ret) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **l = NULL;
        struct dirent *de;
        size_t n = 0;
        int r;

        r = opendir_at(s->jobs_fd, &d);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while ((de = readdir(d))) {
                char **nl;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n] = strdup(de->d_name);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
