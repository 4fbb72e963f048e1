#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A bounded pre-authentication load generator, for loopback only.

    preauth-load.py --port P --stall N --garbage N --auth-fail N
                    --ssh-args 'ARGS' --user U --out FILE --stop FILE

Three kinds of client, all at once, each kind from its own loopback
sources (so that per-source limits and penalties can be told apart):

  stall      127.0.1.x   sends its banner, then nothing; held until --stop
                         appears (or the time limit)
  garbage    127.0.3.x   sends a banner, then 16 KiB of random bytes;
                         records how long until the server hangs up
  auth-fail  127.0.2.x   the stock ssh client with a key the server does
                         not know, again and again; records whether the
                         server refused the key or cut the connection
                         before its banner (a penalty)

Writes a JSON report to --out once every client but the held stalls is
done (the stalls are counted then too), then waits for --stop.  Bounds:
at most 2000 connections, 16 ssh clients at once, 300 s in all; only
127.0.0.0/8 is ever connected to.
"""
import argparse
import concurrent.futures
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import time

MAX_CONNECTIONS = 2000
SSH_CONCURRENCY = 16
TIME_LIMIT = 300
TARGET = "127.0.0.1"


def connect(src, port):
    s = socket.socket()
    s.settimeout(20)
    s.bind((src, 0))
    s.connect((TARGET, port))
    return s


def read_banner(s):
    try:
        return s.recv(256).startswith(b"SSH-2.0-")
    except OSError:
        return False


def stall(args, socks):
    admitted = refused = 0
    for i in range(args.stall):
        src = "127.0.1.%d" % (1 + i % args.stall_sources)
        try:
            s = connect(src, args.port)
            s.sendall(b"SSH-2.0-stall\r\n")
        except OSError:
            refused += 1
            continue
        socks.append(s)
    for s in socks:
        if read_banner(s):
            admitted += 1
        else:
            refused += 1
    return {"admitted": admitted, "refused": refused}


def garbage(args):
    rng = random.Random(7)
    out = {"closed": 0, "not_closed": 0, "worst_close_ms": 0}
    for i in range(args.garbage):
        src = "127.0.3.%d" % (1 + i % 20)
        try:
            s = connect(src, args.port)
        except OSError:
            out["closed"] += 1
            continue
        t0 = time.monotonic()
        try:
            s.sendall(b"SSH-2.0-garbage\r\n" + rng.randbytes(16384))
            s.settimeout(10)
            while s.recv(65536):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except (BrokenPipeError, ConnectionAbortedError):
            closed = True
        except socket.timeout:
            closed = False
        finally:
            s.close()
        ms = int((time.monotonic() - t0) * 1000)
        out["closed" if closed else "not_closed"] += 1
        out["worst_close_ms"] = max(out["worst_close_ms"], ms)
    return out


def one_auth_fail(args, src):
    cmd = ["ssh"] + shlex.split(args.ssh_args) + ["-b", src, "-p", str(args.port),
                                                  "%s@%s" % (args.user, TARGET), "true"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    err = p.stderr
    if "Permission denied" in err:
        return src, "denied"
    if "Connection closed" in err or "Connection reset" in err or "kex_exchange_identification" in err:
        return src, "cut"
    if p.returncode == 0:
        return src, "LOGGED-IN"
    return src, "other: " + err.strip().splitlines()[-1] if err.strip() else "other"


def auth_fail(args):
    sources = ["127.0.2.%d" % (1 + i % 3) for i in range(args.auth_fail)]
    out = {}
    with concurrent.futures.ThreadPoolExecutor(SSH_CONCURRENCY) as ex:
        for src, what in ex.map(lambda s: one_auth_fail(args, s), sources):
            out.setdefault(src, {}).setdefault(what, 0)
            out[src][what] += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stall", type=int, default=0)
    ap.add_argument("--stall-sources", type=int, default=20)
    ap.add_argument("--garbage", type=int, default=0)
    ap.add_argument("--auth-fail", type=int, default=0)
    ap.add_argument("--ssh-args", default="")
    ap.add_argument("--user", default="nobody")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True)
    args = ap.parse_args()
    if args.stall + args.garbage + args.auth_fail > MAX_CONNECTIONS:
        sys.exit("preauth-load: at most %d connections" % MAX_CONNECTIONS)
    deadline = time.monotonic() + TIME_LIMIT

    socks = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        f_stall = ex.submit(stall, args, socks)
        f_garbage = ex.submit(garbage, args)
        f_auth = ex.submit(auth_fail, args)
        report = {"stall": f_stall.result(), "garbage": f_garbage.result(), "auth_fail": f_auth.result()}
    report["seconds"] = round(time.monotonic() - t0, 1)
    with open(args.out + ".tmp", "w") as f:
        json.dump(report, f)
    os.rename(args.out + ".tmp", args.out)
    while not os.path.exists(args.stop) and time.monotonic() < deadline:
        time.sleep(0.2)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
