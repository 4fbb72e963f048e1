# SPDX-License-Identifier: LGPL-2.1-or-later
"""The fleet test's driver (run by test-fleet.sh, which owns the cleanup).

A fleet of real hostd instances on loopback addresses 127.0.1.N, each with a
few slots, its own state dir, control socket and uid pool; a pool of them
native linux/amd64, a pool offering linux/arm64 through qemu-user (when
qemu-aarch64 is registered with the F flag), and one pool member whose
address has nothing listening.  mpc_emulator.Controller plays the
multi-platform-controller's allocation loop over them and runs the real
contrib/multi-platform-controller scripts with the stand-in kubectl; each
user TaskRun's "build" logs into its job over SSH with the Secret's key and
known_hosts, writes a token, holds the job for its duration and reads the
token back (arm64 jobs also run an arm64 busybox under qemu).

Faults while it runs: a host drained and resumed by the operator, a host
killed with SIGKILL and restarted on its state dir, the unreachable address,
a job whose cleanup fails (its disk image made immutable), which leaks,
drains its host by itself, and is released and resumed by the operator,
and a few Secret creates the API server fails (the stand-in kubectl), after
hostd made the job.

Checked: no host ever over its slots (every host's capacity and jobs
sampled from its control socket, and the controller's record), every
TaskRun built or got an error Secret with a reason, failover around every
fault, no job left on any host at the end (tools/check-leftovers.sh too).
Printed: the figures, among them the wait for a host (p50/p99) against an
ideal scheduler's (the same arrivals and build times replayed offline on
the pool's slots, FIFO, with perfect knowledge of free slots).

Prints check lines as tests/integration does ("FAIL: ..." on stderr, a
summary "fleet: N passed, M failed"); exit 0 only if every check passed.
"""

import argparse
import collections
import heapq
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpc_emulator as mpc  # noqa: E402

OWNER_NS = "tenant-a"
UID_BASE = 64100          # in 65536-ranges: above tests/integration's pools (64..64064)

passes = 0
failures = 0


def check(what, ok, detail=""):
    global passes, failures
    if ok:
        passes += 1
        print("ok: " + what, flush=True)
    else:
        failures += 1
        print("FAIL: %s%s" % (what, (": " + detail) if detail else ""), file=sys.stderr, flush=True)


def log(msg):
    print("--- %s" % msg, flush=True)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


# ---- one hostd --------------------------------------------------------------
class Hostd:
    def __init__(self, idx, work, args, platform, slots):
        self.idx, self.args = idx, args
        self.name = "hostd-%s-%02d" % (platform.split("/")[1], idx)
        self.address = "127.0.1.%d" % idx
        self.platform, self.slots = platform, slots
        self.dir = os.path.join(work, "h%02d" % idx)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "control.sock")
        self.logf = os.path.join(self.dir, "hostd.log")
        self.ws = os.path.join(self.dir, "ws")
        self.uid_start = 65536 * (UID_BASE + idx * 8)
        self.port = 22
        self.proc = None
        os.makedirs(self.ws, exist_ok=True)
        os.chmod(self.dir, 0o755)

    def cmd(self):
        c = [self.args.hostd, "--state-dir", self.state, "--control-socket", self.sock,
             "--listen", "%s:%d" % (self.address, self.port),
             "--controller-keys", self.args.controller_keys,
             "--set", "UIDPool.Start=%d" % self.uid_start, "--set", "UIDPool.Ranges=%d" % self.slots,
             "--set", "Jobs.Slots=%d" % self.slots, "--set", "Jobs.Network=none",
             "--set", "Jobs.DefaultDisk=512M", "--set", "Health.ProbeInterval=0",
             "--log-target", "stderr"]
        if self.platform != self.args.native:
            c += ["--set", "Platforms.AllowEmulated=yes"]
        return c

    def start(self):
        f = open(self.logf, "a")
        self.proc = subprocess.Popen(self.cmd(), stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        f.close()
        with open(os.path.join(self.dir, "pid"), "w") as p:
            p.write("%d\n" % self.proc.pid)

    def wait_up(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            if query(self.sock, "capacity", timeout=2) is not None:
                return True
            time.sleep(0.1)
        return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def hostctl(self, *argv):
        r = subprocess.run([self.args.hostctl, "--socket", self.sock, "--json"] + list(argv),
                           capture_output=True, text=True, timeout=120)
        try:
            ans = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            ans = None
        return r.returncode, ans, r.stderr.strip()


def query(sock, *argv, timeout=5):
    """One request on a control socket (docs/contract.md, "Control socket
    protocol"): cheaper than a hostctl process for the samplers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.sendall(json.dumps({"apiVersion": "hostd/v1", "argv": list(argv)}).encode() + b"\n")
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
        return json.loads(buf)
    except (OSError, ValueError):
        return None
    finally:
        s.close()


# ---- the build a user TaskRun runs on its Secret -------------------------------
class Builder:
    def __init__(self, args, work, ports, arm_busybox):
        self.args, self.ports, self.arm_busybox = args, ports, arm_busybox
        self.dir = os.path.join(work, "builds")
        os.makedirs(self.dir, exist_ok=True)

    def ssh(self, d, host, script, stdin_path=None, timeout=120):
        addr = host.split("@", 1)[1]
        cmd = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", "IdentityAgent=none", "-o", "StrictHostKeyChecking=yes",
               "-o", "UserKnownHostsFile=" + os.path.join(d, "known_hosts"),
               "-o", "ConnectTimeout=20", "-i", os.path.join(d, "id_rsa")]
        if self.ports.get(addr, 22) != 22:
            cmd += ["-p", str(self.ports[addr])]
        cmd += [host, script]
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            r = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout)
            return r.returncode, r.stdout.decode(errors="replace").strip(), r.stderr.decode(errors="replace").strip()
        except subprocess.TimeoutExpired:
            return -1, "", "timed out"
        finally:
            if stdin_path:
                stdin.close()

    def step(self, tr, d, host, script, stdin_path=None):
        """An SSH step; a connection cut by the host's crash (ssh exits 255)
        is retried for up to 30 s: the job outlives hostd, the session not
        necessarily (tests/integration/test-crash-points.sh)."""
        end = time.monotonic() + 30
        while True:
            rc, out, err = self.ssh(d, host, script, stdin_path)
            if rc != 255 or time.monotonic() > end:
                return rc, out, err
            tr.step_retries += 1
            time.sleep(1)

    def __call__(self, tr, secret):
        d = os.path.join(self.dir, tr.name)
        os.makedirs(d, exist_ok=True)
        for k in ("id_rsa", "known_hosts", "host", "user-dir"):
            if k not in secret:
                return False, "Secret without " + k
        with open(os.path.join(d, "id_rsa"), "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
            f.write(secret["id_rsa"])
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write(secret["known_hosts"])
        host = secret["host"]
        tr.job_host = host
        token = "%s-%08x" % (tr.name, random.getrandbits(32))
        arch = "aarch64" if tr.params["PLATFORM"].endswith("arm64") else "x86_64"
        if arch == "aarch64" and self.arm_busybox:
            rc, out, err = self.step(tr, d, host, "cat >busybox && chmod +x busybox && echo %s >proof && ./busybox uname -m" % token,
                                     self.arm_busybox)
        else:
            rc, out, err = self.step(tr, d, host, "echo %s >proof && uname -m" % token)
            arch = "x86_64"       # the job's own tools are the host's
        if rc != 0 or out != arch:
            return False, "build step 1 on %s: rc %d, out %r, %s" % (host, rc, out, err[-200:])
        rc, out, err = self.step(tr, d, host, "sleep %.2f && cat proof" % tr.duration)
        if rc != 0 or out != token:
            return False, "build step 2 on %s: rc %d, out %r, %s" % (host, rc, out, err[-200:])
        shutil.rmtree(d, ignore_errors=True)
        return True, "built on " + host


# ---- samplers ----------------------------------------------------------------
class Sampler:
    """Every host's capacity and jobs, from its control socket, every
    `interval` s: slots used never above total, jobs never above Slots."""

    def __init__(self, hosts, interval=0.5):
        self.hosts, self.interval = hosts, interval
        self.samples = 0
        self.violations = []
        self.peak = collections.Counter()
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            for h in self.hosts:
                cap = query(h.sock, "capacity", timeout=3)
                jobs = query(h.sock, "jobs", timeout=3)
                if cap is None or jobs is None or "slots" not in cap or "jobs" not in jobs:
                    continue            # down (a fault): nothing to sample
                self.samples += 1
                n = len(jobs["jobs"])
                used, total = cap["slots"]["used"], cap["slots"]["total"]
                self.peak[h.name] = max(self.peak[h.name], n, used)
                if used > total or n > h.slots or total != h.slots:
                    self.violations.append((time.monotonic(), h.name, used, total, n))
            time.sleep(self.interval)


def max_overlap(intervals):
    ev = []
    for a, b in intervals:
        ev.append((a, 1))
        ev.append((b, -1))
    ev.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def ideal_waits(arrivals, slots):
    """FIFO on `slots` interchangeable slots with perfect knowledge: a
    TaskRun starts as soon as a slot is free, holds it for its build only
    (no provision, no cleanup)."""
    free = [0.0] * slots
    heapq.heapify(free)
    waits = []
    for t, hold in sorted(arrivals):
        f = heapq.heappop(free)
        start = max(t, f)
        waits.append(start - t)
        heapq.heappush(free, start + hold)
    return waits


# ---- main --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--hostd", required=True)
    ap.add_argument("--hostctl", required=True)
    ap.add_argument("--contrib", required=True)
    ap.add_argument("--hosts", type=int, default=24)
    ap.add_argument("--arm-hosts", type=int, default=8)
    ap.add_argument("--taskruns", type=int, default=300)
    ap.add_argument("--span", type=float, default=150.0, help="seconds over which TaskRuns arrive")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FLEET_SEED", "16")))
    ap.add_argument("--arm-busybox", default="")
    ap.add_argument("--tools", required=True, help="the source tree's tools/ (check-leftovers.sh)")
    args = ap.parse_args()
    args.native = "linux/amd64"
    rng = random.Random(args.seed)
    random.seed(args.seed)
    t_begin = time.monotonic()
    work = args.work
    log("seed %d, %d hosts (%d arm64), %d TaskRuns over %.0f s" %
        (args.seed, args.hosts, args.arm_hosts, args.taskruns, args.span))

    # The controller's key, enrolled on every host.
    ck = os.path.join(work, "controller_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-controller", "-f", ck], check=True)
    args.controller_keys = os.path.join(work, "controller.keys")
    shutil.copy(ck + ".pub", args.controller_keys)
    os.chmod(args.controller_keys, 0o600)

    arm = args.arm_hosts > 0 and os.path.exists("/proc/sys/fs/binfmt_misc/qemu-aarch64") and \
        "F" in open("/proc/sys/fs/binfmt_misc/qemu-aarch64").read().split("flags:")[1].split("\n")[0]
    if not arm:
        log("qemu-aarch64 is not registered with the F flag: every host is linux/amd64, one pool")
        args.arm_hosts = 0
    hosts = []
    for i in range(1, args.hosts + 1):
        is_arm = i > args.hosts - args.arm_hosts
        plat = "linux/arm64" if is_arm else "linux/amd64"
        slots = 2 if is_arm else (3 if i % 4 == 1 else 2)
        hosts.append(Hostd(i, work, args, plat, slots))
    # Port 22 on each address, as buildah-remote needs; another port each
    # where 22 is taken (then the Secret's host has no port: the build is
    # told the port, as the task cannot be).
    for h in hosts:
        s = socket.socket()
        try:
            s.bind((h.address, 22))
        except OSError:
            s2 = socket.socket()
            s2.bind((h.address, 0))
            h.port = s2.getsockname()[1]
            s2.close()
        finally:
            s.close()
    for h in hosts:
        h.start()
    up = [h for h in hosts if h.wait_up()]
    check("all %d hostd instances answer on their control sockets" % len(hosts), len(up) == len(hosts),
          ", ".join(h.name for h in hosts if h not in up))
    if len(up) != len(hosts):
        for h in hosts:
            os.system("tail -5 %s >&2" % h.logf)
        return 1
    for h in hosts:
        cap = query(h.sock, "capacity")
        offered = {p["platform"]: p for p in cap["platforms"]}
        p = offered.get(h.platform, {})
        ok = p and (not p.get("emulated") or p.get("allowed")) and cap["slots"]["total"] == h.slots
        check("%s offers %s (%s) with %d slots" % (h.name, h.platform,
              "emulated" if p.get("emulated") else "native", h.slots), bool(ok), json.dumps(p))
        # Enrolment: the controller key and `hostctl known-hosts`.
        shutil.copy(ck, os.path.join(h.ws, "id_rsa"))
        os.chmod(os.path.join(h.ws, "id_rsa"), 0o400)
        kh = subprocess.run([args.hostctl, "--socket", h.sock, "known-hosts", h.address] +
                            (["--port", str(h.port)] if h.port != 22 else []),
                            capture_output=True, text=True, check=True).stdout
        with open(os.path.join(h.ws, "known_hosts"), "w") as f:
            f.write(kh)
        with open(os.path.join(h.ws, "hostd-lease"), "w") as f:
            f.write("90s\n")
        if h.port != 22:
            with open(os.path.join(h.ws, "hostd-port"), "w") as f:
                f.write("%d\n" % h.port)
    ports = {h.address: h.port for h in hosts}

    # A pool member whose hostd is down for good: nothing listens on its
    # address.  Enrolled like the others (its known_hosts from before).
    dead_addr = "127.0.1.%d" % (args.hosts + 1)
    dead_ws = os.path.join(work, "dead-ws")
    os.makedirs(dead_ws)
    shutil.copy(ck, os.path.join(dead_ws, "id_rsa"))
    os.chmod(os.path.join(dead_ws, "id_rsa"), 0o400)
    with open(os.path.join(hosts[0].ws, "known_hosts")) as f, open(os.path.join(dead_ws, "known_hosts"), "w") as g:
        g.write(f.read().replace(hosts[0].address, dead_addr))
    dead_name = "hostd-amd64-dead"

    pool = [mpc.Host(h.name, h.address, h.port, "controller", h.slots, h.platform, h.ws) for h in hosts]
    pool.append(mpc.Host(dead_name, dead_addr, 22, "controller", 2, "linux/amd64", dead_ws))
    record = os.path.join(work, "secrets")
    os.makedirs(record)
    builder = Builder(args, work, ports, args.arm_busybox if arm else "")
    ctl = mpc.Controller(pool, contrib=args.contrib, bindir=os.path.dirname(os.path.abspath(__file__)),
                         record_dir=record, namespace=OWNER_NS, workers=10, requeue=1.0, resync=10.0,
                         cache_lag=0.05, retry_delay=2.0, script_timeout=90, build=builder, seed=args.seed)
    ctl.start()
    sampler = Sampler(hosts)
    sampler.t.start()

    # Arrivals: a Poisson background and three bursts (a PipelineRun's
    # fan-out), 2/3 amd64, 1/3 arm64; builds hold their job 2..15 s.  A
    # burst fills a pool: TaskRuns wait for a host.
    n_burst = args.taskruns // 2
    n_bg = args.taskruns - n_burst
    times = sorted(rng.uniform(0, args.span) for _ in range(n_bg))
    for b in range(3):
        at = args.span * (0.2 + 0.3 * b)
        times += [at + rng.uniform(0, 1.0) for _ in range(n_burst // 3 + (1 if b < n_burst % 3 else 0))]
    times.sort()
    plan = []
    for i, t in enumerate(times):
        plat = "linux/arm64" if (arm and rng.random() < 0.34) else "linux/amd64"
        plan.append((t, "build-%03d" % i, plat, rng.uniform(2.0, 15.0)))

    # The API server fails the Secret's create for a few TaskRuns, once:
    # their provision step fails after hostd made the job.
    kube_fail = [name for t, name, plat, _ in plan if 0.05 * args.span < t < 0.15 * args.span][:4]
    for name in kube_fail:
        open(os.path.join(record, ".fail-" + mpc.SECRET_PREFIX + name), "w").close()

    amd = [h for h in hosts if h.platform == "linux/amd64"]
    arms = [h for h in hosts if h.platform == "linux/arm64"]
    h_drain = arms[0] if arms else amd[0]
    h_kill_candidates = amd[:4]   # the one with the most active jobs at the time
    h_kill = amd[2]
    h_leak_candidates = amd[4:]
    faults = {}                  # name -> dict(host, start, end, ...)
    t0 = time.monotonic()
    op_errors = []

    def at(t):
        d = t0 + t - time.monotonic()
        if d > 0:
            time.sleep(d)

    def fault_drain():
        at(0.12 * args.span)
        rc, ans, err = h_drain.hostctl("drain", "--reason", "fleet: operator drain")
        faults["drain"] = {"host": h_drain.name, "start": time.monotonic(), "rc": rc}
        log("drained %s (rc %d)" % (h_drain.name, rc))
        at(0.45 * args.span)
        rc2, _, _ = h_drain.hostctl("resume")
        faults["drain"]["end"] = time.monotonic()
        faults["drain"]["resume_rc"] = rc2
        log("resumed %s" % h_drain.name)

    def fault_kill():
        nonlocal h_kill
        at(0.5 * args.span - 1.0)      # just before the second burst
        # The busiest that still has a free slot: the burst will pick it.
        most = -1
        for h in h_kill_candidates:
            js = query(h.sock, "jobs") or {"jobs": []}
            n = sum(1 for j in js["jobs"] if j["state"] == "active")
            if most < n < h.slots:
                h_kill, most = h, n
        before = query(h_kill.sock, "jobs") or {"jobs": []}
        h_kill.kill9()
        f = {"host": h_kill.name, "start": time.monotonic(),
             "jobs_before": sorted(j["job"] for j in before["jobs"] if j["state"] == "active")}
        faults["kill"] = f
        log("killed %s with SIGKILL, %d active jobs" % (h_kill.name, len(f["jobs_before"])))
        time.sleep(3.0)
        h_kill.start()
        f["up"] = h_kill.wait_up()
        f["end"] = time.monotonic()
        after = query(h_kill.sock, "jobs") or {"jobs": []}
        f["jobs_after"] = {j["job"]: j["state"] for j in after["jobs"]}
        log("restarted %s: %d jobs" % (h_kill.name, len(f["jobs_after"])))

    def fault_leak():
        at(0.55 * args.span)
        # A job whose build has just begun on a host with no other fault:
        # its disk image made immutable, so that its release fails.
        victim = None
        end = time.monotonic() + 30
        while victim is None and time.monotonic() < end:
            for h in h_leak_candidates:
                js = query(h.sock, "jobs") or {"jobs": []}
                for j in js["jobs"]:
                    if j["state"] != "active":
                        continue
                    with ctl.lock:
                        tr = ctl.trs.get(j["owner"].split("/", 1)[1])
                    if tr is not None and getattr(tr, "secret_at", None) and tr.completed is None \
                            and getattr(tr, "job_host", "").startswith(j["job"] + "@"):
                        victim = (h, j["job"], tr)
                        break
                if victim:
                    break
            time.sleep(0.2)
        if victim is None:
            op_errors.append("no job to make leak")
            return
        h, job, tr = victim
        img = os.path.join(h.state, "jobs", job, "disk.img")
        subprocess.run(["chattr", "+i", img], check=True)
        f = {"host": h.name, "job": job, "owner": tr.name, "start": time.monotonic(), "img": img}
        faults["leak"] = f
        log("made %s's disk image immutable (job %s of %s on %s)" % (job, job, tr.name, h.name))
        # The operator: waits for the leak and for the controller's cleanup
        # TaskRun (3 retries) to have given up, then looks.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            j = query(h.sock, "job", job) or {}
            with ctl.lock:
                clean = [c for c in ctl.trs.values() if c.kind == "clean" and c.params.get("TASKRUN_NAME") == tr.name]
            if j.get("state") == "leaked" and clean and clean[0].completed is not None:
                f["clean_ok"] = clean[0].success
                f["clean_attempts"] = len(clean[0].attempts)
                break
            time.sleep(0.3)
        cap = query(h.sock, "capacity") or {}
        f["state_seen"] = (query(h.sock, "job", job) or {}).get("state")
        f["draining"], f["drain_reason"] = cap.get("draining"), cap.get("drain_reason") or ""
        f["leaked_at"] = time.monotonic()
        time.sleep(8)
        subprocess.run(["chattr", "-i", img], check=True)
        rc, ans, err = h.hostctl("release", job)
        f["release_rc"], f["release_state"] = rc, (ans or {}).get("state")
        rc2, _, _ = h.hostctl("resume")
        f["resume_rc"] = rc2
        f["end"] = time.monotonic()
        log("operator released %s (%s) and resumed %s" % (job, f["release_state"], h.name))

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                op_errors.append("%s: %r" % (fn.__name__, e))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    fault_threads = [guarded(fault_drain), guarded(fault_kill), guarded(fault_leak)]

    for t, name, plat, dur in plan:
        at(t)
        ctl.submit(name, plat, duration=dur, step_retries=0, job_host="")
    log("all %d TaskRuns submitted after %.0f s" % (len(plan), time.monotonic() - t0))
    for t in fault_threads:
        t.join(timeout=240)

    # Every TaskRun completes and the controller winds down (its cleanups).
    end = time.monotonic() + 240
    while time.monotonic() < end and not ctl.idle():
        time.sleep(0.5)
    idle = ctl.idle()
    t_done = time.monotonic()
    sampler.stop = True
    sampler.t.join()
    check("the controller has finished every TaskRun and its cleanups", idle)
    if not idle:
        with ctl.lock:
            busy = [t.name for t in ctl.trs.values() if t.completed is None or (t.kind == "user" and t.finalizer)]
        log("not finished: %s" % " ".join(busy[:20]))
    check("the operator's fault actions ran", not op_errors, "; ".join(op_errors))

    with ctl.lock:
        trs = list(ctl.trs.values())
    users = [t for t in trs if t.kind == "user"]
    provs = [t for t in trs if t.kind == "provision"]
    cleans = [t for t in trs if t.kind == "clean"]
    by_name = {t.name: t for t in users}

    # The record, for a look afterwards (HOSTD_TEST_KEEP keeps it).
    with open(os.path.join(work, "record.json"), "w") as f:
        json.dump([{"name": t.name, "kind": t.kind, "created": t.created - t0, "labels": t.labels,
                    "annotations": t.annotations, "params": t.params, "success": t.success,
                    "completed": (t.completed - t0) if t.completed else None, "reason": t.reason,
                    "secret_at": (t.secret_at - t0) if getattr(t, "secret_at", None) else None,
                    "build_end": (t.build_end - t0) if getattr(t, "build_end", None) else None,
                    "attempts": [(a - t0, b - t0, rc, out) for a, b, rc, out in t.attempts]}
                   for t in trs], f, indent=1)

    # ---- every TaskRun built, or failed fast with an error Secret's reason ----
    built = [t for t in users if t.success]
    failed = [t for t in users if t.completed is not None and not t.success]
    err_secret = [t for t in failed if t.reason.startswith("error Secret: ")]
    other = [t for t in failed if t not in err_secret]
    check("all %d TaskRuns completed" % len(users), all(t.completed is not None for t in users))
    check("every TaskRun built or got an error Secret with the reason (%d built, %d error Secrets)"
          % (len(built), len(err_secret)), not other,
          "; ".join("%s: %s" % (t.name, t.reason) for t in other[:5]))
    check("every error Secret names a reason", all(len(t.reason) > len("error Secret: ") + 10 for t in err_secret))
    for t in err_secret[:10]:
        log("%s: %s (failed hosts: %s)" % (t.name, t.reason, t.annotations.get(mpc.FAILED_HOSTS, "")))
    fast = [t.completed - t.created for t in err_secret]
    if fast:
        log("error Secrets came %.1f s (median) after the TaskRun" % pct(fast, 50))
    check("most TaskRuns built (at least 95%%): %d of %d" % (len(built), len(users)),
          len(built) >= 0.95 * len(users))

    # ---- no host over its slots ----------------------------------------------
    check("sampled every host's capacity and jobs (%d samples), never over its slots" % sampler.samples,
          sampler.samples > 10 * len(hosts) and not sampler.violations, repr(sampler.violations[:5]))
    # The emulator's record: on each host, from the end of a provision that
    # made a job to the start of its cleanup, the job certainly existed.
    held = collections.defaultdict(list)
    clean_of = {}
    for c in cleans:
        clean_of[c.params["TASKRUN_NAME"]] = c
    for p in provs:
        ok_attempts = [a for a in p.attempts if a[2] == 0]
        if not ok_attempts:
            continue
        u = p.labels[mpc.USER_TASK_NAME]
        c = clean_of.get(u)
        end_t = c.attempts[0][0] if c is not None and c.attempts else t_done
        held[p.labels[mpc.ASSIGNED]].append((ok_attempts[0][1], end_t))
    over = {h.name: max_overlap(held[h.name]) for h in hosts if max_overlap(held[h.name]) > h.slots}
    check("the controller's record: no host held more jobs than its slots", not over, repr(over))
    peak_ctl = {h.name: max_overlap(held[h.name]) for h in hosts}

    # ---- failover around every fault ---------------------------------------------
    def failed_prov_on(host, t_from=None, t_to=None):
        out = []
        for p in provs:
            if p.labels[mpc.ASSIGNED] != host or p.success is not False or not p.attempts:
                continue
            st = p.attempts[0][0]
            if t_from is not None and (st < t_from - 1 or st > t_to + 1):
                continue
            out.append(p)
        return out

    def failover_check(label, host, provs_failed, reason_re=None):
        # With a reason: only the failures of this fault (a full host in
        # the same window fails with no-capacity: a count race, below).
        if reason_re:
            provs_failed = [p for p in provs_failed if p.attempts and reason_re in p.attempts[-1][3]]
        us = [by_name[p.labels[mpc.USER_TASK_NAME]] for p in provs_failed]
        elsewhere = [u for u in us if u.success and not u.job_host.endswith("@" + addr_of[host])]
        check("%s: %d provisions failed on %s%s, the controller failed over" %
              (label, len(us), host, " with '%s'" % reason_re if reason_re else ""), len(us) > 0)
        check("%s: every TaskRun that hit %s built on another host (%d of %d)" % (label, host, len(elsewhere), len(us)),
              len(elsewhere) == len(us),
              "; ".join("%s: %s" % (u.name, u.reason) for u in us if u not in elsewhere))
        return len(us)

    addr_of = {h.name: h.address for h in hosts}
    addr_of[dead_name] = dead_addr
    figures = {}
    figures["unreachable"] = failover_check("unreachable", dead_name, failed_prov_on(dead_name))
    if "drain" in faults and "end" in faults["drain"]:
        f = faults["drain"]
        check("drain and resume of %s by hostctl" % f["host"], f["rc"] == 0 and f["resume_rc"] == 0)
        figures["drain"] = failover_check("drain", f["host"], failed_prov_on(f["host"], f["start"], f["end"]),
                                          "draining: ")
    else:
        check("the drain fault ran", False)
    if "kill" in faults and "end" in faults["kill"]:
        f = faults["kill"]
        check("%s restarted on its state dir after SIGKILL" % f["host"], f["up"])
        lost = [j for j in f["jobs_before"] if j not in f["jobs_after"]]
        # A job released in between (its cleanup ran after the restart) is
        # not in the list any more: it must be released, not gone.
        gone = []
        for j in lost:
            rec = query(hosts[[h.name for h in hosts].index(f["host"])].sock, "job", j) or {}
            if rec.get("state") != "released":
                gone.append((j, rec.get("state")))
        check("its %d active jobs came back after the restart" % len(f["jobs_before"]), not gone, repr(gone))
        kp = failed_prov_on(f["host"], f["start"], f["end"] + 2)
        figures["kill"] = failover_check("kill -9", f["host"], kp)
        on_host = [u for u in users if u.job_host.endswith("@" + addr_of[f["host"]])]
        in_flight = [u for u in on_host if u.secret_at and u.secret_at < f["start"] and
                     (u.build_end is None or u.build_end > f["start"])]
        figures["kill_in_flight"] = len(in_flight)
        check("builds in flight on %s at the crash finished in their jobs (%d)" % (f["host"], len(in_flight)),
              all(u.success for u in in_flight), ", ".join(u.name + ": " + u.reason for u in in_flight if not u.success))
        retried = [u for u in on_host if u.step_retries]
        figures["kill_build_reconnects"] = len(retried)
        check("builds on %s across the crash finished in their jobs (%d reconnected)" % (f["host"], len(retried)),
              all(u.success for u in retried))
    else:
        check("the kill fault ran", False)
    if "leak" in faults and "end" in faults["leak"]:
        f = faults["leak"]
        check("leak: the controller's cleanup of %s failed (%s attempts)" % (f["owner"], f.get("clean_attempts")),
              f.get("clean_ok") is False)
        check("leak: the job was left leaked, holding its slot", f.get("state_seen") == "leaked", repr(f.get("state_seen")))
        check("leak: %s drained itself with the reason" % f["host"], f.get("draining") is True and "leaked" in f["drain_reason"],
              f["drain_reason"])
        check("leak: the operator's release after the fix released it", f["release_rc"] == 0 and f["release_state"] == "released",
              "rc %s state %s" % (f["release_rc"], f["release_state"]))
        check("leak: resume", f["resume_rc"] == 0)
        lp = failed_prov_on(f["host"], f["start"], f["end"])
        figures["leak"] = failover_check("leak", f["host"], lp, "draining: ")
    else:
        check("the leak fault ran", False)

    # The Secret that could not be created: the controller failed over, and
    # the host where the provision failed keeps no job for the TaskRun.
    kp = [p for p in provs if p.labels[mpc.USER_TASK_NAME] in kube_fail and p.success is False
          and p.attempts and "injected by the fleet test" in p.attempts[-1][3]]
    log("Secret create failures injected for %s; hit by %s" %
        (" ".join(kube_fail), " ".join(sorted(p.labels[mpc.USER_TASK_NAME] for p in kp))))
    figures["kubectl"] = len(kp)
    check("Secret create failed: %d provisions failed so, the controller failed over" % len(kp), len(kp) > 0)
    bad = [p.labels[mpc.USER_TASK_NAME] for p in kp
           if not by_name[p.labels[mpc.USER_TASK_NAME]].success
           or by_name[p.labels[mpc.USER_TASK_NAME]].job_host.endswith("@" + addr_of[p.labels[mpc.ASSIGNED]])]
    check("Secret create failed: each of those TaskRuns built on another host", not bad, ", ".join(bad))
    stuck = []
    for p in kp:
        h = next(h for h in hosts if h.name == p.labels[mpc.ASSIGNED])
        js = query(h.sock, "jobs") or {"jobs": []}
        stuck += ["%s on %s" % (j["owner"], h.name) for j in js["jobs"]
                  if j["owner"] == OWNER_NS + "/" + p.labels[mpc.USER_TASK_NAME]]
    check("Secret create failed: no job kept for those TaskRuns where their provision failed", not stuck,
          ", ".join(stuck))

    # ---- no job lost or leaked: every host ends with zero jobs ------------------
    # A provision cut by the SIGKILL after hostd made the job (its answer
    # lost) leaves a job the controller never cleans (it cleans only the
    # host a TaskRun ended on): hostd's lease reclaims it.  Counted apart.
    def leftovers():
        out = {}
        for h in hosts:
            js = query(h.sock, "jobs") or {"jobs": [{"job": "?", "owner": "?", "state": "unanswered"}]}
            if js["jobs"]:
                out[h.name] = js["jobs"]
        return out

    left = leftovers()
    orphans = []
    leaks = []
    for hn, js in left.items():
        for j in js:
            u = by_name.get(j["owner"].split("/", 1)[-1])
            if u is not None and u.completed is not None and not u.job_host.endswith("@" + addr_of[hn]) \
                    and hn == faults.get("kill", {}).get("host") \
                    and hn in u.annotations.get(mpc.FAILED_HOSTS, "").split(","):
                orphans.append((hn, j["job"], j["owner"], j["state"]))
            else:
                leaks.append((hn, j["job"], j["owner"], j["state"]))
    figures["orphans"] = len(orphans)
    if orphans:
        log("orphaned by a fault (the host failed this TaskRun's provision after making its job): %r" % orphans)
        end = time.monotonic() + 150
        while time.monotonic() < end and any(
                (query(addr_host.sock, "job", j) or {}).get("state") != "released"
                for addr_host, j in [(next(h for h in hosts if h.name == o[0]), o[1]) for o in orphans]):
            time.sleep(1)
    check("no job leaked: the controller's cleanups left every host with no job", not leaks, repr(leaks[:5]))
    left = leftovers()
    check("every host has zero jobs at the end", not left, repr(left)[:400])
    for h in hosts:
        r = subprocess.run([os.path.join(args.tools, "check-leftovers.sh"), h.state, str(h.uid_start), str(h.slots)],
                           capture_output=True, text=True)
        check("check-leftovers.sh finds nothing of %s" % h.name, r.returncode == 0, r.stdout.strip()[:300])
    crashed = []
    for h in hosts:
        with open(h.logf, errors="replace") as f:
            for line in f:
                if "died of signal" in line:
                    crashed.append("%s: %s" % (h.name, line.strip()))
    check("no SSH process of any hostd crashed", not crashed, "; ".join(crashed[:3]))

    # ---- the figures ---------------------------------------------------------------
    print("=== fleet figures (seed %d) ===" % args.seed)
    print("hosts: %d amd64 (%d slots), %d arm64 emulated (%d slots), 1 unreachable address in the amd64 pool"
          % (len(amd), sum(h.slots for h in amd), len(arms), sum(h.slots for h in arms)))
    print("TaskRuns: %d: %d built, %d error Secret, %d other failures" % (len(users), len(built), len(err_secret), len(other)))
    fo_total = sum(1 for p in provs if p.success is False)
    nocap = sum(1 for p in provs if p.success is False and "no-capacity" in (p.attempts[-1][3] if p.attempts else ""))
    print("provisions: %d, failed %d (failovers): unreachable %d, drain %s, kill -9 %s, leak/self-drain %s, "
          "no-capacity races %d" % (len(provs), fo_total, figures.get("unreachable", 0), figures.get("drain"),
                                    figures.get("kill"), figures.get("leak"), nocap))
    print("kill -9: builds in flight across the crash %s (reconnected %s); orphaned jobs reclaimed by lease %d"
          % (figures.get("kill_in_flight"), figures.get("kill_build_reconnects"), figures["orphans"]))
    print("Secret create failed (injected): %s failovers" % figures.get("kubectl"))
    print("cleanups: %d, failed %d" % (len(cleans), sum(1 for c in cleans if c.success is False)))
    st = dict(ctl.stats)
    print("controller: %s" % ", ".join("%s %d" % kv for kv in sorted(st.items())))
    for plat in sorted({t.params["PLATFORM"] for t in users}):
        us = [t for t in users if t.params["PLATFORM"] == plat and t.success]
        real = [t.secret_at - t.created for t in us]
        slots = sum(h.slots for h in hosts if h.platform == plat)
        ideal = ideal_waits([(t.created, t.build_end - t.secret_at) for t in us], slots)
        print("%s (%d slots, %d built): wait for a host (TaskRun to Secret) p50 %.2f s p99 %.2f s max %.2f s; "
              "ideal scheduler p50 %.2f s p99 %.2f s max %.2f s"
              % (plat, slots, len(us), pct(real, 50), pct(real, 99), max(real or [0]),
                 pct(ideal, 50), pct(ideal, 99), max(ideal or [0])))
        # Of which: until the provision that made the Secret started (the
        # controller's queueing and failovers), and that provision itself.
        q, pv = [], []
        for t in us:
            ok = [p for p in provs if p.labels[mpc.USER_TASK_NAME] == t.name and p.success]
            if ok:
                q.append(ok[0].created - t.created)
                pv.append(t.secret_at - ok[0].created)
        print("    of which until the successful provision started p50 %.2f s p99 %.2f s; provision p50 %.2f s p99 %.2f s"
              % (pct(q, 50), pct(q, 99), pct(pv, 50), pct(pv, 99)))
    allreal = [t.secret_at - t.created for t in built]
    print("all: wait p50 %.2f s p99 %.2f s" % (pct(allreal, 50), pct(allreal, 99)))
    print("peak jobs per host (sampled / controller's record): %s" %
          " ".join("%s=%d/%d" % (h.name.replace("hostd-", ""), sampler.peak[h.name], peak_ctl[h.name]) for h in hosts))
    print("wall: %.0f s (TaskRuns %.0f s, after the last arrival %.0f s)" %
          (time.monotonic() - t_begin, t_done - t0, t_done - t0 - plan[-1][0]))

    ctl.stop()
    for h in hosts:
        rc = h.stop()
        check("%s stops cleanly" % h.name, rc == 0, "exit %s" % rc)
    print("fleet: %d passed, %d failed" % (passes, failures), flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
