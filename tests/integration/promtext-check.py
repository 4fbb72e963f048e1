#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A strict checker of Prometheus text exposition (format 0.0.4), plus the
naming conventions hostd follows.  Reads stdin; prints each problem and
exits 1 if there is any.

Checked: line syntax (names, label names, escaped label values, values);
HELP and TYPE exactly once per family, before its samples, with a known
type; a family's samples in one block; no duplicate series; counters end
in _total; every name starts with the prefix given (default hostd_);
units spelled as base-unit suffixes (_seconds, _bytes); histograms with
an le label on every bucket, ascending bounds, cumulative counts, +Inf
equal to _count, and a _sum."""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL}={VALUE})(?:,{LABEL}={VALUE})*,?)?\}})? (\S+)(?: (-?\d+))?$")
LABEL_PAIR = re.compile(rf"({LABEL})=({VALUE})")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
BAD_UNITS = re.compile(r"_(milliseconds|microseconds|nanoseconds|kilobytes|megabytes|gigabytes|percent|kb|mb|gb|ms|us)(_|$)")


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError(s)
    return float(s)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else "hostd_"
    problems = []
    helps, types, done, series = {}, {}, set(), set()
    current = None
    hist = {}  # family -> {"buckets": {labels-without-le: [(le, v)]}, "count": {...}, "sum": {...}}
    n = 0
    for n, line in enumerate(sys.stdin.read().split("\n"), 1):
        if line == "":
            continue
        where = f"line {n}"
        if line.startswith("#"):
            m = re.fullmatch(rf"# (HELP|TYPE) ({NAME}) (.*)", line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    problems.append(f"{where}: malformed: {line!r}")
                continue
            kind, name, rest = m.groups()
            if name in done:
                problems.append(f"{where}: {kind} for {name} after its block ended")
            table = helps if kind == "HELP" else types
            if name in table:
                problems.append(f"{where}: second {kind} for {name}")
            if kind == "TYPE" and rest not in TYPES:
                problems.append(f"{where}: unknown type {rest!r} for {name}")
            if kind == "HELP" and not rest.strip():
                problems.append(f"{where}: empty HELP for {name}")
            table[name] = rest
            if current is not None and current != name:
                done.add(current)
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append(f"{where}: not a sample: {line!r}")
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = parse_value(value)
        except ValueError:
            problems.append(f"{where}: bad value {value!r}")
            continue
        fam = family_of(name, types)
        if fam not in types or fam not in helps:
            problems.append(f"{where}: {name} has no {'TYPE' if fam not in types else 'HELP'} before it")
        if fam in done or (current is not None and fam != current):
            problems.append(f"{where}: {name} outside its family's block")
        current = fam
        pairs = LABEL_PAIR.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            problems.append(f"{where}: a label repeats: {line!r}")
        key = (name, tuple(sorted(pairs)))
        if key in series:
            problems.append(f"{where}: duplicate series {line!r}")
        series.add(key)
        if types.get(fam) == "histogram":
            rest = tuple(sorted(p for p in pairs if p[0] != "le"))
            h = hist.setdefault(fam, {"buckets": {}, "count": {}, "sum": {}})
            if name.endswith("_bucket"):
                le = [p[1] for p in pairs if p[0] == "le"]
                if not le:
                    problems.append(f"{where}: bucket without le")
                    continue
                h["buckets"].setdefault(rest, []).append((parse_value(le[0].strip('"')), v))
            elif name.endswith("_count"):
                h["count"][rest] = v
            elif name.endswith("_sum"):
                h["sum"][rest] = v
            else:
                problems.append(f"{where}: {name} in histogram {fam}")

    for fam, t in types.items():
        if not fam.startswith(prefix):
            problems.append(f"{fam}: does not start with {prefix}")
        if t == "counter" and not fam.endswith("_total"):
            problems.append(f"{fam}: a counter's name ends in _total")
        if t != "counter" and fam.endswith("_total"):
            problems.append(f"{fam}: only counters end in _total")
        if BAD_UNITS.search(fam):
            problems.append(f"{fam}: use base units (_seconds, _bytes)")
        if fam not in helps:
            problems.append(f"{fam}: no HELP")
    for fam, h in hist.items():
        for rest, buckets in h["buckets"].items():
            les = [b[0] for b in buckets]
            counts = [b[1] for b in buckets]
            if les != sorted(les) or len(set(les)) != len(les):
                problems.append(f"{fam}: bucket bounds not ascending")
            if counts != sorted(counts):
                problems.append(f"{fam}: bucket counts not cumulative")
            if not les or les[-1] != math.inf:
                problems.append(f"{fam}: no +Inf bucket")
            elif h["count"].get(rest) != counts[-1]:
                problems.append(f"{fam}: _count is not the +Inf bucket")
            if rest not in h["sum"]:
                problems.append(f"{fam}: no _sum")
    if n == 0 or not types:
        problems.append("no metrics at all")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
