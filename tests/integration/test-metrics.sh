#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `hostctl metrics` against a strict Prometheus text checker
# (promtext-check.py: syntax, HELP/TYPE, families in one block, _total on
# counters, base units, histogram invariants), with active and released
# jobs in the registry; and the checker itself rejects broken expositions.
. "$(dirname "$0")/lib.sh"

CHECKER=$(dirname "$0")/promtext-check.py
PLAT=$(native_platform)

start_hostd
A=$(jqf .job allocate --owner t/metrics-a --platform "$PLAT")
B=$(jqf .job allocate --owner t/metrics-b --platform "$PLAT")
hc release "$B" >/dev/null
hc metrics >"$WORK/metrics.txt"
out=$(python3 "$CHECKER" <"$WORK/metrics.txt" 2>&1) || true
check "the exposition passes the strict checker" [ -z "$out" ]
[ -z "$out" ] || echo "$out"
m() { grep -v '^#' "$WORK/metrics.txt"; }
check "slots and jobs by state" bash -c 'grep -qx "hostd_slots_used 1" <<<"$1" && grep -qx "hostd_jobs{state=\"active\"} 1" <<<"$1"' _ "$(m)"
check "allocations and releases counted" bash -c 'grep -qx "hostd_allocations_total 2" <<<"$1" && grep -qx "hostd_releases_total 1" <<<"$1"' _ "$(m)"
check "the release is in the cleanup histogram" grep -qx 'hostd_cleanup_duration_seconds_count 1' <(m)
check "rejected sessions by reason" grep -q '^hostd_ssh_rejected_total{reason="max-startups"} 0$' <(m)
check "the active job's disk use, labelled with job and owner" \
        grep -qE "^hostd_job_disk_used_bytes\{job=\"$A\",owner=\"t/metrics-a\"\} [1-9][0-9]*$" <(m)
check "its disk size is its quota, at most" bash -c '
        s=$(grep "^hostd_job_disk_size_bytes{job=\"$1\"" <<<"$2" | cut -d" " -f2)
        [ "$s" -gt 0 ] && [ "$s" -le "$3" ]' _ "$A" "$(m)" "$(jqf .quota.disk_bytes job "$A")"
check "no series for the released job" bash -c '! grep -q "job=\"$1\"" <<<"$2"' _ "$B" "$(m)"

# The checker finds what it is there to find.
rejects() { # DESCRIPTION: stdin is an exposition the checker must refuse
        ! python3 "$CHECKER" >/dev/null
}
check "checker: a counter without _total" rejects <<<'# HELP hostd_x X.
# TYPE hostd_x counter
hostd_x 1'
check "checker: a sample before its TYPE" rejects <<<'hostd_y 1
# HELP hostd_y Y.
# TYPE hostd_y gauge'
check "checker: a family split in two blocks" rejects <<<'# HELP hostd_a A.
# TYPE hostd_a gauge
hostd_a{k="1"} 1
# HELP hostd_b B.
# TYPE hostd_b gauge
hostd_b 1
hostd_a{k="2"} 1'
check "checker: a non-cumulative histogram" rejects <<<'# HELP hostd_h_seconds H.
# TYPE hostd_h_seconds histogram
hostd_h_seconds_bucket{le="1"} 5
hostd_h_seconds_bucket{le="+Inf"} 3
hostd_h_seconds_sum 1
hostd_h_seconds_count 3'
check "checker: an unescaped quote in a label value" rejects <<<'# HELP hostd_q Q.
# TYPE hostd_q gauge
hostd_q{owner="a"b"} 1'
check "checker: milliseconds" rejects <<<'# HELP hostd_lat_milliseconds L.
# TYPE hostd_lat_milliseconds gauge
hostd_lat_milliseconds 1'
check "checker: a valid exposition passes" python3 "$CHECKER" <<<'# HELP hostd_ok_total OK.
# TYPE hostd_ok_total counter
hostd_ok_total{a="x\"y"} 1e3'

stop_hostd
finish
