# SPDX-License-Identifier: LGPL-2.1-or-later
"""An emulator of Konflux's multi-platform-controller (MPC) for a static
host pool, as of konflux-ci/multi-platform-controller c28c4a01
(pkg/reconciler/taskrun/taskrun.go, hostpool.go), driving the real
contrib/multi-platform-controller scripts.

What is reproduced (names are upstream's):
  - Reconcile on a controller-runtime work queue: a key is never reconciled
    by two workers at once, events while it runs re-queue it once,
    MaxConcurrentReconciles workers (upstream default 10), errors re-queued
    with exponential backoff, RequeueAfter.
  - The reconciler reads the TaskRun itself from the API server
    (apiReader) but lists TaskRuns from the informer cache (r.client), which
    lags the API server: HostPool.Allocate counts each host's jobs from that
    list, so concurrent reconcilers race on the count as upstream's do.
  - HostPool.Allocate: hosts of the platform not in the failed-hosts
    annotation, most free slots by the controller's own count (concurrency
    minus assigned TaskRuns), ties in Go map order (random); all failed ->
    ErrAllHostsFailed -> error Secret "Error allocating host: all available
    hosts for the platform have failed: ..."; none free -> the
    waiting-for-platform label and RequeueAfter (a minute upstream, scaled
    here), and no requeue at all once already waiting; else the
    assigned-host label, the finalizer, and the provision TaskRun
    (provision-shared-host: provision-hostd.sh with SECRET_NAME TASKRUN_NAME
    NAMESPACE HOST USER SUDO_COMMANDS RAW_PLATFORM INSTANCE_TAG and the
    host's Secret as SSH_WORKSPACE_PATH), named NAME-prov-md5(addr)[:5]
    (AlreadyExists is "continuing").
  - handleProvisionTask: once per provision TaskRun (provision-task-processed);
    failed -> host appended to failed-hosts, assigned-host removed (the
    update re-triggers allocation); succeeded without a Secret -> error
    Secret "provision task failed to create a secret".
  - handleHostAssigned when the user TaskRun completes: Deallocate (the
    clean TaskRun clean-shared-host, cleanup-hostd.sh, Retries=3, unless one
    with the same labels exists), finalizer and assigned-host removed,
    Secret deleted, handleWaitingTasks: the oldest TaskRun (from the cache)
    with the platform's waiting label gets finished-waiting=true.  An update
    that changes nothing is a no-op on the API server (no watch event), and
    one made from a stale cached object is a conflict: both lose the wake-up
    (counted as lost_wakeups).
  - A completed user TaskRun without assigned host but with the finalizer
    (it got an error Secret) goes through handleHostAssigned too (wakes a
    waiter).

Simplified:
  - One API server object store in memory with merge-on-update (no
    conflicts except the one above); the cache lag is random 0..cache_lag.
  - Tekton: a TaskRun's pod starts at once; the user TaskRun's pod starts
    when its Secret exists (the volume mount) and runs the build callback;
    a clean TaskRun's retries run back to back after retry_delay.
  - A periodic resync of all TaskRuns (controller-runtime's SyncPeriod,
    10 h upstream) every `resync` seconds, so that a lost wake-up costs
    `resync` seconds here instead of hours: the waits measured include it.
"""

import collections
import hashlib
import heapq
import itertools
import os
import random
import subprocess
import threading
import time

ASSIGNED = "build.appstudio.redhat.com/assigned-host"
WAITING = "build.appstudio.redhat.com/waiting-for-platform"
TARGET_PLATFORM = "build.appstudio.redhat.com/target-platform"
FINISHED_WAITING = "build.appstudio.redhat.com/finished-waiting"
FAILED_HOSTS = "build.appstudio.redhat.com/failed-hosts"
TASK_TYPE = "build.appstudio.redhat.com/task-type"
USER_TASK_NAME = "build.appstudio.redhat.com/user-task-name"
USER_TASK_NS = "build.appstudio.redhat.com/user-task-namespace"
PROCESSED = "build.appstudio.redhat.com/provision-task-processed"
SECRET_PREFIX = "multi-platform-ssh-"
ERR_ALL_FAILED = "all available hosts for the platform have failed"


def platform_label(p):
    return p.replace("/", "-")


def raw_platform(p):
    parts = platform_label(p).split("-")
    return parts[0] if len(parts) == 1 else parts[0] + "-" + parts[-1]


class Host:
    def __init__(self, name, address, port, user, concurrency, platform, workspace):
        self.name, self.address, self.port, self.user = name, address, port, user
        self.concurrency, self.platform, self.workspace = concurrency, platform, workspace


class TaskRun:
    def __init__(self, name, kind, namespace, created):
        self.name, self.kind, self.namespace = name, kind, namespace
        self.labels, self.annotations = {}, {}
        self.finalizer = False
        self.created = created
        self.completed = None          # time
        self.success = None
        self.params = {}
        self.reason = ""
        self.attempts = []             # (start, end, rc, log tail) of each pod run

    def state(self):
        return (dict(self.labels), dict(self.annotations), self.finalizer, self.completed, self.success)


class WorkQueue:
    """client-go's workqueue: dirty/processing sets, AddAfter."""

    def __init__(self):
        self.cv = threading.Condition()
        self.queue = collections.deque()
        self.dirty, self.processing = set(), set()
        self.delayed = []
        self.seq = itertools.count()
        self.closed = False
        threading.Thread(target=self._timer, daemon=True).start()

    def add(self, key):
        with self.cv:
            if key in self.dirty:
                return
            self.dirty.add(key)
            if key not in self.processing:
                self.queue.append(key)
                self.cv.notify_all()

    def add_after(self, key, delay):
        with self.cv:
            heapq.heappush(self.delayed, (time.monotonic() + delay, next(self.seq), key))
            self.cv.notify_all()

    def _timer(self):
        while True:
            with self.cv:
                while not self.closed and (not self.delayed or self.delayed[0][0] > time.monotonic()):
                    self.cv.wait(timeout=(self.delayed[0][0] - time.monotonic()) if self.delayed else 1.0)
                if self.closed:
                    return
                _, _, key = heapq.heappop(self.delayed)
            self.add(key)

    def get(self):
        with self.cv:
            while not self.queue and not self.closed:
                self.cv.wait(timeout=1.0)
            if self.closed:
                return None
            key = self.queue.popleft()
            self.processing.add(key)
            self.dirty.discard(key)
            return key

    def done(self, key):
        with self.cv:
            self.processing.discard(key)
            if key in self.dirty:
                self.queue.append(key)
                self.cv.notify_all()

    def close(self):
        with self.cv:
            self.closed = True
            self.cv.notify_all()


class Controller:
    def __init__(self, hosts, *, contrib, bindir, record_dir, namespace="tenant-a",
                 workers=10, requeue=1.0, resync=10.0, cache_lag=0.05, api_latency=(0.002, 0.02),
                 retry_delay=0.5, script_timeout=120, build=None, log=print, seed=1):
        self.hosts = {h.name: h for h in hosts}
        self.contrib, self.bindir, self.record_dir = contrib, bindir, record_dir
        self.namespace = namespace
        self.workers, self.requeue, self.resync = workers, requeue, resync
        self.cache_lag, self.api_latency = cache_lag, api_latency
        self.retry_delay, self.script_timeout = retry_delay, script_timeout
        self.build = build
        self.log = log
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.lock = threading.RLock()
        self.trs = {}
        self.secrets = {}              # name -> data dict
        self.secret_cv = threading.Condition(self.lock)
        # informer cache: name -> labels, fed from the API server's changes after a lag
        self.cache = {}
        self.cache_pending = []
        self.cache_last_due = {}
        self.cache_seq = itertools.count()
        self.q = WorkQueue()
        self.failures = collections.Counter()
        self.stats = LockedCounter()
        self.events = []               # (time, what, tr, host, detail)
        self.stopping = False
        self.threads = []

    # ---- helpers ----------------------------------------------------------
    def rand(self, a, b):
        with self.rng_lock:
            return self.rng.uniform(a, b)

    def event(self, what, tr, host="", detail=""):
        with self.lock:
            self.events.append((time.monotonic(), what, tr, host, detail))

    def api_sleep(self):
        time.sleep(self.rand(*self.api_latency))

    # ---- API server + informer cache ---------------------------------------
    def _to_cache(self, tr):
        now = time.monotonic()
        due = max(now + self.rand(0, self.cache_lag), self.cache_last_due.get(tr.name, 0))
        self.cache_last_due[tr.name] = due
        heapq.heappush(self.cache_pending, (due, next(self.cache_seq), tr.name,
                                            (dict(tr.labels), tr.kind, tr.created)))

    def _cache_sync(self):
        now = time.monotonic()
        while self.cache_pending and self.cache_pending[0][0] <= now:
            _, _, name, obj = heapq.heappop(self.cache_pending)
            self.cache[name] = obj

    def cached_list(self):
        """r.client.List: the informer cache's (name, labels, kind, created)."""
        with self.lock:
            self._cache_sync()
            return [(n, dict(o[0]), o[1], o[2]) for n, o in self.cache.items()]

    def create(self, tr):
        with self.lock:
            if tr.name in self.trs:
                return False           # AlreadyExists
            self.trs[tr.name] = tr
            self._to_cache(tr)
        self.q.add(tr.name)
        if tr.kind != "user":
            self._start_pod(tr)
        return True

    def get(self, name):
        """apiReader.Get: a copy of the stored object."""
        with self.lock:
            tr = self.trs.get(name)
            if tr is None:
                return None
            c = TaskRun(tr.name, tr.kind, tr.namespace, tr.created)
            c.labels, c.annotations = dict(tr.labels), dict(tr.annotations)
            c.finalizer, c.completed, c.success = tr.finalizer, tr.completed, tr.success
            c.params = dict(tr.params)
            return c

    def update(self, name, mutate):
        """An update (merge of the fields mutate touches); a watch event only
        if something changed.  Returns whether it changed."""
        self.api_sleep()
        with self.lock:
            tr = self.trs[name]
            before = tr.state()
            mutate(tr)
            changed = tr.state() != before
            if changed:
                self._to_cache(tr)
        if changed:
            self.q.add(name)
        return changed

    def secret_get(self, name):
        with self.lock:
            if name not in self.secrets:
                p = os.path.join(self.record_dir, name + ".yaml")
                if os.path.exists(p):
                    self.secrets[name] = parse_secret(p)
                    self.secret_cv.notify_all()
            return self.secrets.get(name)

    def secret_create_error(self, name, msg):
        p = os.path.join(self.record_dir, name + ".yaml")
        with self.lock:
            if self.secret_get(name) is not None:
                return False           # AlreadyExists: ignored upstream
            with open(p, "w") as f:
                f.write("kind: Secret\nmetadata:\n  name: \"%s\"\ndata:\n  error: \"%s\"\n"
                        % (name, _b64(msg)))
            self.secrets[name] = {"error": msg}
            self.secret_cv.notify_all()
            return True

    def secret_delete(self, name):
        with self.lock:
            self.secrets.pop(name, None)
            try:
                os.unlink(os.path.join(self.record_dir, name + ".yaml"))
            except FileNotFoundError:
                pass

    # ---- the reconciler ------------------------------------------------------
    def worker(self):
        while True:
            key = self.q.get()
            if key is None:
                return
            try:
                requeue_after = self.reconcile(key)
                self.failures.pop(key, None)
                if requeue_after:
                    self.q.add_after(key, requeue_after)
            except Exception as e:  # noqa: BLE001 - any error re-queues with backoff
                n = self.failures[key]
                self.failures[key] += 1
                self.stats.incr("reconcile_errors")
                self.event("reconcile-error", key, "", repr(e))
                self.q.add_after(key, min(0.005 * 2 ** n, 2.0))
            finally:
                self.q.done(key)

    def reconcile(self, name):
        self.stats.incr("reconciles")
        tr = self.get(name)
        if tr is None:
            return None
        if tr.kind == "clean":
            if tr.completed is not None and not tr.success:
                self.stats.incr("cleanup_failures_seen")
            return None
        if tr.kind == "provision":
            return self.handle_provision_task(tr)
        return self.handle_user_task(tr)

    def handle_provision_task(self, p):
        if p.completed is None or p.annotations.get(PROCESSED) == "true":
            return None
        assigned = p.labels.get(ASSIGNED, "")
        user = p.labels[USER_TASK_NAME]
        secret_name = p.params["SECRET_NAME"]
        if not p.success:
            self.stats.incr("provision_failures")
            if assigned and self.get(user) is not None:
                def fail_over(u):
                    failed = [h for h in u.annotations.get(FAILED_HOSTS, "").split(",") if h]
                    failed.append(assigned)
                    u.annotations[FAILED_HOSTS] = ",".join(failed)
                    u.labels.pop(ASSIGNED, None)
                self.update(user, fail_over)
                self.event("failover", user, assigned)
        else:
            if self.secret_get(secret_name) is None and self.get(user) is not None:
                self._error_secret(user, secret_name, "provision task failed to create a secret")
        self.update(p.name, lambda t: t.annotations.__setitem__(PROCESSED, "true"))
        return None

    def handle_user_task(self, tr):
        secret_name = SECRET_PREFIX + tr.name
        if tr.labels.get(ASSIGNED):
            return self.handle_host_assigned(tr, secret_name)
        if tr.completed is not None:
            if tr.finalizer:
                return self.handle_host_assigned(tr, secret_name)
            return None
        platform = tr.params["PLATFORM"]
        # handleHostAllocation: an existing Secret (error or not) ends it
        if self.secret_get(secret_name) is not None:
            return None
        try:
            return self.allocate(tr, secret_name, platform)
        except AllocationError as e:
            self._error_secret(tr.name, secret_name, "Error allocating host: " + str(e))
            raise

    def _error_secret(self, name, secret_name, msg):
        self.update(name, lambda t: setattr(t, "finalizer", True))
        if self.secret_create_error(secret_name, msg):
            self.event("error-secret", name, "", msg)

    def allocate(self, tr, secret_name, platform):
        failed = tr.annotations.get(FAILED_HOSTS, "").split(",")
        count = collections.Counter()
        for _, labels, kind, _ in self.cached_list():
            if ASSIGNED in labels and not labels.get(TASK_TYPE):
                count[labels[ASSIGNED]] += 1
        names = list(self.hosts)
        with self.rng_lock:
            self.rng.shuffle(names)    # Go's map order
        selected, free_spots, exists, all_failed = None, 0, False, True
        for n in names:
            h = self.hosts[n]
            if h.platform != platform:
                continue
            exists = True
            if n in failed:
                continue
            all_failed = False
            free = h.concurrency - count[n]
            if free > free_spots:
                selected, free_spots = h, free
        if not exists:
            raise AllocationError("no hosts configured for platform %s" % platform)
        if all_failed:
            raise AllocationError("%s: %s" % (ERR_ALL_FAILED, tr.annotations.get(FAILED_HOSTS, "")))
        if selected is None:
            if tr.labels.get(WAITING) == platform_label(platform):
                self.stats.incr("still_waiting")
                return None
            self.stats.incr("waits")
            self.update(tr.name, lambda t: t.labels.__setitem__(WAITING, platform_label(platform)))
            return self.requeue
        host = selected.name

        def assign(t):
            t.labels[ASSIGNED] = host
            t.labels.pop(WAITING, None)
            t.labels[TARGET_PLATFORM] = platform_label(platform)
            t.finalizer = True
        self.update(tr.name, assign)
        self.event("assigned", tr.name, host, "controller count %d/%d" % (count[host], selected.concurrency))
        self.launch_provisioning_task(tr, secret_name, selected, platform)
        return None

    def launch_provisioning_task(self, tr, secret_name, h, platform):
        p = TaskRun(child_name(tr.name, "-prov-" + md5_5(h.address)), "provision",
                    "multi-platform-controller", time.monotonic())
        p.labels = {TASK_TYPE: "provision", TARGET_PLATFORM: platform_label(platform),
                    USER_TASK_NS: tr.namespace, USER_TASK_NAME: tr.name, ASSIGNED: h.name}
        p.params = {"SECRET_NAME": secret_name, "TASKRUN_NAME": tr.name, "NAMESPACE": tr.namespace,
                    "HOST": h.address, "USER": h.user, "SUDO_COMMANDS": "",
                    "RAW_PLATFORM": raw_platform(platform), "INSTANCE_TAG": ""}
        p.host = h
        self.api_sleep()
        if not self.create(p):
            self.event("provision-exists", tr.name, h.name)

    def handle_host_assigned(self, tr, secret_name):
        if tr.completed is None:
            return None
        assigned = tr.labels.get(ASSIGNED, "")
        self.deallocate(tr, secret_name, assigned)

        def unassign(t):
            t.finalizer = False
            t.labels.pop(ASSIGNED, None)
        self.update(tr.name, unassign)
        self.secret_delete(secret_name)
        self.handle_waiting_tasks(tr.params["PLATFORM"])
        return None

    def deallocate(self, tr, secret_name, assigned):
        h = self.hosts.get(assigned)
        if h is None:
            return
        for n, labels, kind, _ in self.cached_list():
            if (labels.get(TASK_TYPE) == "clean" and labels.get(USER_TASK_NAME) == tr.name
                    and labels.get(USER_TASK_NS) == tr.namespace):
                return                 # "cleanup task already exists"
        c = TaskRun(child_name(tr.name, "-cleanup-" + md5_5(h.address)), "clean",
                    "multi-platform-controller", time.monotonic())
        c.labels = {TASK_TYPE: "clean", USER_TASK_NAME: tr.name, USER_TASK_NS: tr.namespace,
                    TARGET_PLATFORM: platform_label(tr.params["PLATFORM"])}
        c.params = {"SECRET_NAME": secret_name, "TASKRUN_NAME": tr.name, "NAMESPACE": tr.namespace,
                    "HOST": h.address, "USER": h.user}
        c.host = h
        c.retries = 3
        self.api_sleep()
        self.create(c)
        self.event("cleanup-created", tr.name, h.name)

    def handle_waiting_tasks(self, platform):
        oldest = None
        for n, labels, kind, created in self.cached_list():
            if labels.get(WAITING) == platform_label(platform):
                if oldest is None or created < oldest[2]:
                    oldest = (n, labels, created)
        if oldest is None:
            return
        name, cached_labels, _ = oldest
        with self.lock:
            current = dict(self.trs[name].labels)
        if current != cached_labels:
            # r.client.Update of the cached object: a conflict (stale
            # resourceVersion); upstream logs it and the wake-up is lost
            self.stats.incr("lost_wakeups_conflict")
            self.event("wakeup-lost", name, "", "conflict")
            return
        if not self.update(name, lambda t: t.labels.__setitem__(FINISHED_WAITING, "true")):
            self.stats.incr("lost_wakeups_noop")
            self.event("wakeup-lost", name, "", "no-op update")
        else:
            self.stats.incr("wakeups")

    # ---- Tekton ----------------------------------------------------------------
    def _start_pod(self, tr):
        t = threading.Thread(target=self._run_pod, args=(tr,), daemon=True)
        self.threads.append(t)
        t.start()

    def _script_env(self, tr):
        env = {"PATH": self.bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
               "KUBECTL_RECORD": self.record_dir,
               "SSH_WORKSPACE_PATH": tr.host.workspace,
               "HOSTD_MPC_STOCK_SCRIPTS": "/nonexistent"}
        env.update(tr.params)
        return env

    def _run_pod(self, tr):
        script = "provision-hostd.sh" if tr.kind == "provision" else "cleanup-hostd.sh"
        tries = 1 + getattr(tr, "retries", 0)
        ok = False
        for i in range(tries):
            if i:
                time.sleep(self.retry_delay)
            start = time.monotonic()
            try:
                r = subprocess.run(["bash", os.path.join(self.contrib, script)], env=self._script_env(tr),
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=self.script_timeout)
                rc, out = r.returncode, (r.stdout + r.stderr)
            except subprocess.TimeoutExpired as e:
                rc, out = -1, "timed out after %ss: %s" % (self.script_timeout, e.stderr or "")
            with self.lock:
                tr.attempts.append((start, time.monotonic(), rc, out.strip()[-600:]))
            if rc == 0:
                ok = True
                break
        if tr.kind == "provision" and ok:
            self.secret_get(tr.params["SECRET_NAME"])      # the informer sees it
        self.update(tr.name, lambda t: (setattr(t, "completed", time.monotonic()), setattr(t, "success", ok)))

    def _run_user_pod(self, tr):
        secret_name = SECRET_PREFIX + tr.name
        with self.lock:
            while self.secret_get(secret_name) is None and not self.stopping:
                self.secret_cv.wait(timeout=1.0)
            secret = self.secrets.get(secret_name)
            tr.secret_at = time.monotonic()
            tr.assigned_at_secret = self.trs[tr.name].labels.get(ASSIGNED, "")
        if secret is None:
            ok, reason = False, "controller stopped before a Secret came"
        elif "error" in secret:
            ok, reason = False, "error Secret: " + secret["error"].splitlines()[0]
        else:
            ok, reason = self.build(tr, secret)
        tr.build_end = time.monotonic()

        def finish(t):
            t.completed, t.success, t.reason = time.monotonic(), ok, reason
        self.update(tr.name, finish)

    def submit(self, name, platform, **extra):
        tr = TaskRun(name, "user", self.namespace, time.monotonic())
        tr.params = {"PLATFORM": platform}
        tr.secret_at = tr.build_end = None
        tr.__dict__.update(extra)
        self.create(tr)
        t = threading.Thread(target=self._run_user_pod, args=(tr,), daemon=True)
        self.threads.append(t)
        t.start()
        return tr

    # ---- lifecycle ---------------------------------------------------------------
    def _resync(self):
        while not self.stopping:
            time.sleep(self.resync)
            with self.lock:
                names = [n for n, t in self.trs.items() if t.completed is None or t.finalizer]
            for n in names:
                self.q.add(n)

    def start(self):
        for _ in range(self.workers):
            threading.Thread(target=self.worker, daemon=True).start()
        threading.Thread(target=self._resync, daemon=True).start()

    def stop(self):
        self.stopping = True
        with self.lock:
            self.secret_cv.notify_all()
        self.q.close()

    def controller_count(self):
        """The controller's own count of assigned TaskRuns per host (API server)."""
        with self.lock:
            c = collections.Counter(t.labels[ASSIGNED] for t in self.trs.values()
                                    if t.kind == "user" and ASSIGNED in t.labels)
        return c

    def idle(self):
        """Every TaskRun completed, and no user TaskRun still holds a host
        or its finalizer (provision TaskRuns keep their assigned-host label
        for good, as upstream's do)."""
        with self.lock:
            return all(t.completed is not None and
                       (t.kind != "user" or (not t.finalizer and ASSIGNED not in t.labels))
                       for t in self.trs.values())


class AllocationError(Exception):
    pass


class LockedCounter(collections.Counter):
    """A Counter whose `c[k] += n` is safe from many threads (the workers,
    the pods): a plain Counter's read-modify-write can lose counts."""

    def __init__(self, *a, **kw):
        self._lock = threading.Lock()
        super().__init__(*a, **kw)

    def __setitem__(self, key, value):
        with self._lock:
            super().__setitem__(key, value)

    def incr(self, key, n=1):
        with self._lock:
            super().__setitem__(key, self.get(key, 0) + n)


def md5_5(s):
    return hashlib.md5(s.encode()).hexdigest()[:5]


def child_name(parent, suffix):
    # knative kmeta.ChildName: parent+suffix if it fits in 63 characters
    n = parent + suffix
    if len(n) <= 63:
        return n
    return parent[:63 - len(suffix) - 32] + hashlib.md5(n.encode()).hexdigest() + suffix


def _b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def parse_secret(path):
    import base64
    data, in_data = {}, False
    with open(path) as f:
        for line in f:
            if line.startswith("data:"):
                in_data = True
                continue
            if in_data and line.startswith("  ") and ":" in line:
                k, v = line.strip().split(":", 1)
                data[k] = base64.b64decode(v.strip().strip('"')).decode()
    return data
