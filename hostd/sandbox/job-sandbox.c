/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "job-sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include "capacity.h"
#include "cgroup-kill.h"
#include "cgroup-systemd.h"
#include "fileio.h"
#include "job-disk.h"
#include "job-network.h"
#include "job-seccomp.h"
#include "log.h"
#include "macros.h"
#include "proc-util.h"
#include "podman-config.h"
#include "reclaim.h"
#include "sandbox.h"

#define DISK_IMAGE "disk.img"
#define KILL_TIMEOUT_USEC (30 * USEC_PER_SEC)

int enforcement_detect(Enforcement *ret) {
        Enforcement e = {};
        int r;

        e.systemd = cgroup_systemd_available();
        /* Under systemd, a cgroup of our own making outside our unit would
         * be a trespass systemd may undo at any time. */
        r = e.systemd ? cgroup_detect_under_systemd(&e.cgroup) : cgroup_detect(&e.cgroup);
        if (r < 0)
                log_warning_errno(r, "Cannot set up job cgroups: %m; jobs run without cgroup limits");
        e.disk_quota = job_disk_supported();
        e.seccomp = job_seccomp_supported();
        e.runtime = podman_pick_runtime();
        e.private_binfmt = sandbox_private_binfmt_supported();
        {
                struct utsname u;

                if (uname(&u) < 0 || capacity_native_platform(u.machine, e.native_platform, sizeof(e.native_platform)) < 0)
                        snprintf(e.native_platform, sizeof(e.native_platform), "unknown");
        }
        /* User namespaces are what the whole sandbox stands on. */
        e.sandbox = access("/proc/self/ns/user", F_OK) == 0;
        log_info("Enforcement: sandbox %s, cgroups %s (cpu %s, memory %s, pids %s, io %s), disk quota %s, seccomp %s, "
                 "podman runtime %s, per-job binfmt_misc %s",
                 e.sandbox ? "yes" : "no", e.systemd ? "via systemd" : e.cgroup.root[0] ? e.cgroup.base : "none",
                 e.cgroup.cpu ? "yes" : "no", e.cgroup.memory ? "yes" : "no", e.cgroup.pids ? "yes" : "no",
                 e.cgroup.io ? "yes" : "no", e.disk_quota ? "yes" : "no", e.seccomp ? "yes" : "no", strempty(e.runtime),
                 e.private_binfmt ? "yes" : "no");
        *ret = e;
        return 0;
}

int job_sandbox_apply_totals(const Enforcement *e, const JobResources *total) {
        CgroupLimits l = {
                .millicpus = total->millicpus,
                .memory = total->memory,
                .pids = total->pids,
        };

        if (e->systemd)
                return cgroup_systemd_set_slice_limits(&l);
        return cgroup_set_total_limits(&e->cgroup, &l);
}

static CgroupLimits limits_of(const Job *j) {
        return (CgroupLimits) {
                .millicpus = j->quota.millicpus,
                .memory = j->quota.memory,
                /* No swap beyond the memory limit: a job that swaps the host
                 * to a crawl hurts every other job. */
                .no_swap = true,
                .pids = j->quota.pids,
                .io_weight = 100,
        };
}

static int start_cgroup(const Enforcement *e, Job *j) {
        CgroupLimits l = limits_of(j);
        char path[512];
        int r;

        if (e->systemd) {
                _cleanup_free_ char *cg = NULL;

                _cleanup_close_ int fd = -1;

                r = cgroup_systemd_start(j->id, j->init_pid, &l, &cg);
                if (r < 0)
                        return r;
                snprintf(path, sizeof(path), CGROUP_SYSTEMD_ROOT "%s", cg);
                /* Delegate=yes keeps systemd out of the subtree; the job's
                 * root (its range's first uid) must also own it, as with
                 * cgroupfs, for podman inside to make cgroups. */
                fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return log_error_errno(negative_errno(), "Failed to open %s: %m", path);
                r = cgroup_delegate_at(fd, path, j->uid_base, j->uid_base);
                if (r < 0)
                        return r;
        } else if (e->cgroup.root[0]) {
                r = cgroup_job_create(&e->cgroup, j->id, &l);
                if (r >= 0)
                        r = cgroup_job_delegate(&e->cgroup, j->id, j->uid_base, j->uid_base);
                if (r >= 0)
                        r = cgroup_job_attach(&e->cgroup, j->id, j->init_pid);
                if (r >= 0)
                        r = cgroup_job_path(&e->cgroup, j->id, path, sizeof(path));
                if (r < 0)
                        return r;
        } else
                return 0;

        /* The anchor was forked before the init joined: move it too. */
        r = cgroup_attach_path(path, j->anchor_pid);
        if (r < 0)
                return r;
        free(j->cgroup_path);
        j->cgroup_path = strdup(path);
        return j->cgroup_path ? 0 : -ENOMEM;
}

/* The cgroup path of a job that was adopted after a restart. */
static void find_cgroup(const Enforcement *e, Job *j) {
        char path[512];
        int r;

        if (e->systemd)
                r = cgroup_systemd_path(j->id, path, sizeof(path));
        else if (e->cgroup.root[0])
                r = cgroup_job_path(&e->cgroup, j->id, path, sizeof(path));
        else
                return;
        if (r < 0)
                return;
        free(j->cgroup_path);
        j->cgroup_path = strdup(path);
}

static int on_init_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;

        /* Reaped by sd-event; the release that killed it goes on. */
        j->init_source = sd_event_source_disable_unref(j->init_source);
        return 0;
}

static int on_anchor_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;

        j->anchor_source = sd_event_source_disable_unref(j->anchor_source);
        return 0;
}

/* The job's init and anchor became our children when their setup child
 * exited (we are a subreaper): reap them when they die.  After a restart
 * of hostd, an adopted job's are someone else's children and are not
 * watched. */
static void watch_sandbox(sd_event *event, Job *j) {
        sd_event_source *s = NULL;

        if (sd_event_add_child(event, &s, j->init_pid, WEXITED, on_init_exit, j) >= 0)
                j->init_source = s;
        s = NULL;
        if (sd_event_add_child(event, &s, j->anchor_pid, WEXITED, on_anchor_exit, j) >= 0)
                j->anchor_source = s;
}

void job_sandbox_unwatch(Job *j) {
        j->init_source = sd_event_source_disable_unref(j->init_source);
        j->anchor_source = sd_event_source_disable_unref(j->anchor_source);
}

/* The root of an adopted job's disk, from its anchor (never through a path
 * in the job's tree, where the job may have stacked mounts and symlinks),
 * checked to be the filesystem of this job's image.  Fails closed: -1, and
 * the job runs without disk figures. */
static int adopt_disk_fd(const Sandbox *sb, int job_fd, const Job *j) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = sandbox_take_disk_fd(sb);
        if (fd < 0)
                return log_job_full_errno(LOG_WARNING, fd, j->id, j->owner,
                                          "The job's anchor holds no disk (made by an older hostd?); "
                                          "no disk usage figures for it: %m");
        r = job_disk_check_root(fd, job_fd, DISK_IMAGE);
        if (r < 0)
                return log_job_full_errno(LOG_WARNING, r, j->id, j->owner,
                                          "The anchor's disk descriptor is not the job's disk; ignoring it: %m");
        return TAKE_FD(fd);
}

int job_sandbox_start(const JobSandboxContext *c, Job *j) {
        const Enforcement *e = c->enforcement;
        _cleanup_close_ int job_fd = -1, home_fd = -1, run_fd = -1;
        char job_dir[2048], home[2100];
        Sandbox sb;
        bool adopted = false;
        struct stat st;
        int r;
        PodmanJob pj = {
                .home = home,
                .uid_base = j->uid_base,
                .platform = j->platform,
                .emulated = !streq(j->platform, e->native_platform),
        };

        if (!e->sandbox)
                return log_job_full_errno(LOG_ERR, EOPNOTSUPP, j->id, j->owner,
                                          "This host has no user namespaces: refusing to run the job unconfined");
        if (job_path(job_dir, sizeof(job_dir), c->state_dir, j->id, NULL) < 0 ||
            job_path(home, sizeof(home), c->state_dir, j->id, "home") < 0)
                return log_job_full_errno(LOG_ERR, ENAMETOOLONG, j->id, j->owner, "The job's directory: %m");
        job_fd = openat(c->jobs_fd, j->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (job_fd < 0)
                return log_job_full_errno(LOG_ERR, errno, j->id, j->owner, "Cannot open the job's directory: %m");

        if (j->anchor_pid > 0 && sandbox_adopt(j->anchor_pid, j->init_pid, j->uid_base, &sb) >= 0) {
                adopted = true;
                log_job(LOG_INFO, j->id, j->owner, "Re-adopted the running sandbox (anchor pid %d)", (int) sb.anchor);
        } else {
                SandboxSpec spec = {
                        .job = j->id,
                        .uid_base = j->uid_base,
                        .state_dir = c->state_dir,
                        .job_dir_fd = job_fd,
                        .job_dir = job_dir,
                        .home = home,
                        .disk = e->disk_quota,
                        .network = c->network,
                        .private_binfmt = e->private_binfmt && !c->allow_emulated,
                };

                if (j->anchor_pid > 0)
                        log_job(LOG_NOTICE, j->id, j->owner, "The job's sandbox is gone (reboot?); rebuilding it "
                                "around its files");
                /* A rebuilt sandbox keeps its disk: the job's files are in it. */
                if (e->disk_quota && fstatat(job_fd, DISK_IMAGE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = job_disk_create(job_fd, DISK_IMAGE, MAX(j->quota.disk, JOB_DISK_SIZE_MIN), j->uid_base);
                        if (r < 0)
                                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot create the job's disk: %m");
                }
                r = sandbox_create(&spec, &sb);
                if (r < 0)
                        return r;
        }
        j->anchor_pid = sb.anchor;
        j->init_pid = sb.init;
        safe_close(j->sandbox_pidfd);
        j->sandbox_pidfd = sb.pidfd;
        safe_close(j->disk_fd);
        j->disk_fd = sb.disk_fd;

        j->env = strv_free(j->env);
        if (adopted) {
                if (e->disk_quota && j->disk_fd < 0)
                        j->disk_fd = adopt_disk_fd(&sb, job_fd, j);
                find_cgroup(e, j);
                r = job_network_start(c->event, j, job_fd, job_dir, j->cgroup_path, true);
                if (r < 0)
                        return r;
                /* The job has owned its home since allocate: nothing is
                 * written there, and nothing in it is resolved. */
                r = podman_config_env(&pj, &j->env);
                if (r < 0)
                        return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot set up podman's environment: %m");
                return 0;
        }

        watch_sandbox(c->event, j);
        r = start_cgroup(e, j);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot put the job in its cgroup: %m");
        if (c->network == JOB_NETWORK_PRIVATE) {
                r = job_network_start(c->event, j, job_fd, job_dir, j->cgroup_path, false);
                if (r < 0)
                        return r;
        }
        /* A sandbox rebuilt around an existing disk (after a reboot) has a
         * home the job filled: podman_config_write() opens every component
         * with O_NOFOLLOW from this descriptor, on the disk we mounted. */
        home_fd = openat(j->disk_fd >= 0 ? j->disk_fd : job_fd, "home", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (home_fd < 0)
                return log_job_full_errno(LOG_ERR, errno, j->id, j->owner, "Cannot open the job's home: %m");
        run_fd = openat(j->disk_fd >= 0 ? j->disk_fd : job_fd, "run", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (run_fd < 0)
                return log_job_full_errno(LOG_ERR, errno, j->id, j->owner, "Cannot open the job's /run: %m");
        r = podman_config_write(home_fd, run_fd, &pj, j->uid_base, j->uid_base, c->network, e->runtime, &j->env);
        if (r < 0)
                return log_job_full_errno(LOG_ERR, r, j->id, j->owner, "Cannot write podman's configuration: %m");
        return 0;
}

void job_sandbox_release_fds(Job *j) {
        j->sandbox_pidfd = safe_close(j->sandbox_pidfd);
        j->disk_fd = safe_close(j->disk_fd);
}

static bool is_our_init(pid_t pid) {
        char comm[32];

        return pid > 1 && proc_read_comm(-1, pid, comm, sizeof(comm)) >= 0 && streq(comm, SANDBOX_INIT_COMM);
}

/* The inode of /proc/PID/ns/user if PID is still the process named comm. */
static ino_t userns_of(pid_t pid, const char *comm) {
        char path[64], c[32];
        struct stat st;

        if (pid <= 1 || proc_read_comm(-1, pid, c, sizeof(c)) < 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        return streq(c, comm) && stat(path, &st) >= 0 ? st.st_ino : 0;
}

/* The job's disk is still mounted after its processes died: another job
 * holds a reference (a descriptor passed over a socket, a namespace).
 * End the holders; if the only references left are in flight (a
 * descriptor queued on a socket of another job, which no /proc entry
 * shows), let the disk go with them: the image is unlinked, the loop
 * device detaches by itself when the holder's job ends, and the slot is
 * free now.  Only a holder that is no job process keeps the release from
 * finishing (and the host drains, for an operator to look). */
static int release_held_disk(int job_fd, const ReclaimTarget *t, const Job *j) {
        unsigned killed = 0;
        pid_t other = 0;
        int others, r;

        others = reclaim_kill_holders(t, &killed, &other);
        if (others < 0)
                return log_job_full_errno(LOG_ERR, others, j->id, j->owner, "Cannot look for holders of the job's disk: %m");
        if (killed > 0)
                log_job(LOG_WARNING, j->id, j->owner,
                        "Killed %u process%s of other jobs that held this job's disk or namespaces", killed,
                        killed == 1 ? "" : "es");
        /* The killed holders' references go as they die; with none killed,
         * waiting longer changes nothing. */
        r = job_disk_remove_wait(job_fd, DISK_IMAGE, (killed > 0 ? 60 : 5) * USEC_PER_SEC);
        if (r != -EBUSY)
                return r;
        if (others > 0)
                return log_job_full_errno(LOG_ERR, EBUSY, j->id, j->owner,
                                          "The job's disk is held by pid %d, which is not a job process; "
                                          "left for an operator: %m", (int) other);
        if (unlinkat(job_fd, DISK_IMAGE, 0) < 0)
                return log_job_full_errno(LOG_ERR, errno, j->id, j->owner, "Cannot unlink the job's disk image: %m");
        log_job(LOG_WARNING, j->id, j->owner,
                "The job's disk is still held by a reference in flight between other jobs' processes; it goes "
                "when they do (image unlinked, loop device set to detach)");
        return 0;
}

int job_sandbox_destroy(const Enforcement *e, const Policy *p, int jobs_fd, const Job *j) {
        _cleanup_close_ int job_fd = -1;
        uint32_t base = j->uid_base;
        ReclaimTarget t = {
                .pool_start = p->uid_pool_start,
                .pool_end = (uint64_t) p->uid_pool_start + (uint64_t) p->uid_pool_ranges * 65536,
        };
        struct stat st;
        int r = 0, k;

        job_fd = openat(jobs_fd, j->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (job_fd < 0 && errno != ENOENT)
                return negative_errno();
        /* A record rebuilt from nothing (leaked placeholder) has no range:
         * the owner of its home says which it was. */
        if (base == 0 && job_fd >= 0 && fstatat(job_fd, "home", &st, AT_SYMLINK_NOFOLLOW) >= 0 && st.st_uid >= 65536 &&
            st.st_uid % 65536 == 0)
                base = (uint32_t) st.st_uid;
        /* Before the kill, while they can be named: what other jobs might
         * hold of this one. */
        t.userns[0] = userns_of(j->init_pid, SANDBOX_INIT_COMM);
        t.userns[1] = userns_of(j->anchor_pid, SANDBOX_ANCHOR_COMM);
        if (job_fd >= 0 && job_disk_device(job_fd, DISK_IMAGE, &t.disk) < 0)
                t.disk = 0;

        /* 0. pasta (Network=private): no job process, but it holds the
         * job's namespaces. */
        if (job_fd >= 0) {
                k = job_network_stop(job_fd, j);
                if (k < 0)
                        r = r ?: k;
        }

        /* 1. Every process: the cgroup kills the whole tree at once (a fork
         * bomb cannot outrun cgroup.kill), killing PID 1 ends the pid
         * namespace, and the uid sweep catches anything outside both (the
         * anchor among them). */
        if (e->systemd)
                k = cgroup_systemd_stop(j->id);
        else if (e->cgroup.root[0])
                k = cgroup_job_kill(&e->cgroup, j->id, KILL_TIMEOUT_USEC);
        else
                k = 0;
        if (k < 0)
                r = r ?: k;
        if (is_our_init(j->init_pid))
                (void) kill(j->init_pid, SIGKILL);
        k = reclaim_kill_job_processes(j->id, base);
        if (k < 0)
                return log_job_full_errno(LOG_ERR, k, j->id, j->owner, "Processes of the job's uid range keep coming back: %m");

        /* 2. Mounts: they lived only in the job's namespaces, which died with
         * its last process; the loop device follows a moment later.  Under
         * heavy I/O the last unmount flushes the job's dirty data to the
         * image first; a disk still mounted after a short wait is held by
         * someone else. */
        if (job_fd >= 0) {
                k = job_disk_remove_wait(job_fd, DISK_IMAGE, 5 * USEC_PER_SEC);
                if (k == -EBUSY)
                        k = release_held_disk(job_fd, &t, j);
                if (k < 0)
                        return log_job_full_errno(LOG_ERR, k, j->id, j->owner,
                                                  "The job's disk is still in use after its processes were killed: %m");
        }

        /* 3. The cgroup itself. */
        if (!e->systemd && e->cgroup.root[0]) {
                k = cgroup_job_remove(&e->cgroup, j->id);
                if (k < 0)
                        r = r ?: k;
        }
        return r;
}

void job_sandbox_usage(const Enforcement *e, const Job *j, JobUsage *ret) {
        JobUsage u = {};

        if (j->cgroup_path) {
                CgroupUsage cu;

                if (cgroup_usage_path(j->cgroup_path, &cu) >= 0) {
                        u.has_cpu = cu.has_cpu;
                        u.cpu_usec = cu.cpu_usec;
                        u.has_memory = cu.has_memory;
                        u.memory = cu.memory;
                }
        }
        if (j->disk_fd >= 0)
                u.has_disk = job_disk_usage(j->disk_fd, &u.disk_used, &u.disk_total) >= 0;
        *ret = u;
}
