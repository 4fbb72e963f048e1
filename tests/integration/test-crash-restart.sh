#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kill -9 of hostd at awkward moments: jobs come back with their leases and
# none is duplicated; an interrupted cleanup is resumed; torn records are
# quarantined and kept as leaked; job trees without a record are reclaimed.
. "$(dirname "$0")/lib.sh"

PLAT=$(native_platform)
printf '[Jobs]\nSlots=8\n' >"$WORK/policy.conf"
start_hostd --policy "$WORK/policy.conf"

declare -A lease
for i in 1 2 3; do
        a=$("$HOSTCTL" --json allocate --owner "ns/crash-$i" --platform "$PLAT" --lease "$((i * 1000))")
        id=$(jq -r .job <<<"$a")
        lease[$id]=$(jq -r .lease_expires <<<"$a")
done

kill9_hostd
check "socket left behind by the crash" [ -S "$SOCK" ]
start_hostd --policy "$WORK/policy.conf"   # replaces the stale socket
check "three jobs after restart" [ "$(jqf '.jobs | length' jobs)" = 3 ]
for id in "${!lease[@]}"; do
        check "job $id kept its lease" [ "$(jqf .lease_expires job "$id")" = "${lease[$id]}" ]
        check "job $id active" [ "$(jqf .state job "$id")" = active ]
done
for i in 1 2 3; do
        id=$(jqf .job allocate --owner "ns/crash-$i" --platform "$PLAT")
        check "retry after restart returns the existing job ($i)" [ -n "${lease[$id]:-}" ]
done
check "no duplicates" [ "$(jqf '.jobs | length' jobs)" = 3 ]

torn=$(jqf .job allocate --owner ns/torn --platform "$PLAT")

# kill -9 while a release is cleaning a big tree.
victim=$(jqf .job allocate --owner ns/big --platform "$PLAT")
home="$STATE/jobs/$victim/home"
mkdir -p "$home/tree"
for d in $(seq 1 100); do mkdir "$home/tree/$d"; (cd "$home/tree/$d" && touch $(seq 1 1500)); done
"$HOSTCTL" release "$victim" >/dev/null 2>&1 &
relpid=$!
for _ in $(seq 1 100); do
        [ "$(jqf .state job "$victim" 2>/dev/null)" = releasing ] && break
        sleep 0.05
done
check "release in progress before the crash" [ "$(jqf .state job "$victim")" = releasing ]
kill9_hostd
wait "$relpid" 2>/dev/null || true
check "tree partly left by the interrupted cleanup" [ -d "$STATE/jobs/$victim" ]
check "record says releasing" [ "$(jq -r .state "$STATE/registry/$victim.json")" = releasing ]
check "slot still taken (never freed before cleanup)" [ "$(ls "$STATE/registry" | wc -l)" = 5 ]

# Torn record, and a job tree with no record at all.
head -c 40 "$STATE/registry/$torn.json" >"$WORK/torn" && cp "$WORK/torn" "$STATE/registry/$torn.json"
mkdir -p "$STATE/jobs/j00000000beef/home/x"
printf 'partial' >"$STATE/registry/.#tmp-0000000000000001-j000000000001.json"

start_hostd --policy "$WORK/policy.conf"
for _ in $(seq 1 300); do
        [ "$(jqf .state job "$victim")" = released ] && break
        sleep 0.1
done
check "interrupted cleanup resumed and finished" [ "$(jqf .state job "$victim")" = released ]
check "its tree is gone" [ ! -e "$STATE/jobs/$victim" ]
check "torn record quarantined" bash -c 'ls "$1"/quarantine/ | grep -q "^$2.json"' _ "$STATE" "$torn"
check "torn job kept as leaked, with the reason" [ "$(jqf .state job "$torn")" = leaked ]
check "reason names the quarantine" bash -c '"$1" --json job "$2" | jq -r .state_reason | grep -q quarantined' _ "$HOSTCTL" "$torn"
check "leaked job holds a slot and shows in jobs" bash -c '"$1" --json jobs | jq -e --arg j "$2" ".jobs[] | select(.job == \$j)" >/dev/null' _ "$HOSTCTL" "$torn"
check "health degraded while a job is leaked" [ "$(jqf .health.status capacity)" = degraded ]
for _ in $(seq 1 100); do [ -e "$STATE/jobs/j00000000beef" ] || break; sleep 0.1; done
check "orphan tree reclaimed" [ ! -e "$STATE/jobs/j00000000beef" ]
check "interrupted temp file removed" [ ! -e "$STATE/registry/.#tmp-0000000000000001-j000000000001.json" ]
check "operator release of the leaked job" [ "$(jqf .state release "$torn")" = released ]
check "its tree is gone too" [ ! -e "$STATE/jobs/$torn" ]
check "the three jobs are still there" [ "$(jqf '[.jobs[] | select(.state == "active")] | length' jobs)" = 3 ]
check "health ok again" [ "$(jqf .health.status capacity)" = ok ]
stop_hostd
finish
