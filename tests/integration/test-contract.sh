#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The v1 contract as JSON Schema: real answers of every verb, over SSH (the
# controller) and over the control socket (hostctl --json), validated
# against docs/schema/hostd-v1.schema.json, one $def per answer; error
# answers for each code we can provoke, with the exit status of
# docs/contract.md's table; and the schema rejects answers that are off by
# one field, type or value (a schema that accepts anything proves nothing).
# shellcheck disable=SC2016 # jq programs are single-quoted on purpose
PY=/usr/bin/python3   # Debian's, with python3-jsonschema; not a pyenv one
"$PY" -c 'import jsonschema' 2>/dev/null || { echo "no python3-jsonschema for $PY (apt-get install python3-jsonschema)"; exit 77; }

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

TOP=$(cd "$(dirname "$0")/../.." && pwd)
SCHEMA=${HOSTD_SCHEMA:-$TOP/docs/schema/hostd-v1.schema.json}
CONTRACT=$TOP/docs/contract.md
A="$WORK/answers"
mkdir -p "$A"

# validate.py SCHEMA DEF FILE: exits 0 if FILE is a valid DEF, 10 if not (each
# error on stderr with its JSON path), anything else if it could not tell.
cat >"$WORK/validate.py" <<'EOF'
import json, sys
from jsonschema import Draft202012Validator

schema_file, name, answer_file = sys.argv[1:4]
with open(schema_file) as f:
    schema = json.load(f)
Draft202012Validator.check_schema(schema)
if name not in schema.get("$defs", {}):
    sys.exit(f"{schema_file} has no $defs/{name}")
schema = dict(schema, **{"$ref": "#/$defs/" + name})
with open(answer_file) as f:
    answer = json.load(f)
errors = sorted(Draft202012Validator(schema).iter_errors(answer), key=lambda e: list(e.absolute_path))
for e in errors:
    print(f"  {name}: {answer_file}: at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}", file=sys.stderr)
sys.exit(10 if errors else 0)
EOF
valid() { "$PY" "$WORK/validate.py" "$SCHEMA" "$1" "$2"; }
# invalid DEF FILE: the schema rejects FILE (and not because it could not read it).
invalid() {
        local rc=0
        "$PY" "$WORK/validate.py" "$SCHEMA" "$1" "$2" 2>/dev/null || rc=$?
        [ "$rc" -eq 10 ] || { echo "  $2 as $1: validator status $rc, expected 10 (rejected)" >&2; return 1; }
}

# NAME VERB [FLAGS...]: the answer goes to $A/NAME.json, the exit status to $A/NAME.rc.
ctl_ans() { local n=$1 rc=0; shift; ctl "$@" >"$A/$n.json" || rc=$?; echo "$rc" >"$A/$n.rc"; }
hc_ans() { local n=$1 rc=0; shift; "$HOSTCTL" --json "$@" >"$A/$n.json" 2>"$A/$n.err" || rc=$?; echo "$rc" >"$A/$n.rc"; }
st() { cat "$A/$1.rc"; }
q() { jq -r "$2" "$A/$1.json"; }   # q NAME FILTER
# The exit status docs/contract.md gives an error code (its Errors table).
doc_status() { awk -F'|' -v c="\`$1\`" '/^\|/ { k = $2; gsub(/ /, "", k); if (k == c) { gsub(/ /, "", $4); print $4; exit } }' "$CONTRACT"; }
jqe() { jq -e "$@" >/dev/null; }
ok_answer() { # NAME DEF: exit status 0 and a valid DEF
        check "$1: exit status 0 (got $(st "$1"))" [ "$(st "$1")" = 0 ]
        check "$1: a valid $2 answer" valid "$2" "$A/$1.json"
}
error_answer() { # NAME CODE: a valid error answer with CODE and the contract's exit status
        local want; want=$(doc_status "$2")
        check "$1: a valid error answer" valid error "$A/$1.json"
        check "$1: code $2 (got $(q "$1" .error.code))" [ "$(q "$1" .error.code)" = "$2" ]
        check "$1: exit status ${want:-?} as in the contract (got $(st "$1"))" same_nonempty "$want" "$(st "$1")"
}
same_nonempty() { [ -n "$1" ] && [ "$1" = "$2" ]; }

check "the schema is a valid draft 2020-12 schema" "$PY" -c '
import json, sys; from jsonschema import Draft202012Validator
Draft202012Validator.check_schema(json.load(open(sys.argv[1])))' "$SCHEMA"
every_code_has_status() {
        local c
        for c in $(jq -r '.["$defs"].error.properties.error.properties.code.enum[]' "$SCHEMA"); do
                [[ "$(doc_status "$c")" =~ ^[0-9]+$ ]] || { echo "  $c: no exit status in $CONTRACT" >&2; return 1; }
        done
}
check "the contract gives an exit status for every error code of the schema" every_code_has_status

printf '[Jobs]\nSlots=2\n' >"$WORK/policy.conf"
start_hostd_ssh --policy "$WORK/policy.conf"

# ---- controller, over SSH ----------------------------------------------------
ctl_ans cap-ssh capacity
ok_answer cap-ssh capacity
check "cap-ssh: jobs_in_use is slots.used" [ "$(q cap-ssh .jobs_in_use)" = "$(q cap-ssh .slots.used)" ]
check "cap-ssh: our own SSH session is counted" [ "$(q cap-ssh .ssh.sessions)" -ge 1 ]

ctl_ans alloc-a allocate --owner t/contract-a --platform "$PLAT"
ok_answer alloc-a allocate
check "alloc-a: a generated key comes with private_key" jqe 'has("private_key")' "$A/alloc-a.json"
check "alloc-a: known_hosts is there" jqe 'has("known_hosts")' "$A/alloc-a.json"
check "alloc-a: user and host name the job" jqe '.job as $j | .user == $j and (.host | startswith($j + "@"))' "$A/alloc-a.json"
JA=$(q alloc-a .job)

ctl_ans alloc-a2 allocate --owner t/contract-a --platform "$PLAT"
ok_answer alloc-a2 allocate
check "alloc-a2: a retry answers with the same job" [ "$(q alloc-a2 .job)" = "$JA" ]
check "alloc-a2: and a fresh private_key" [ "$(q alloc-a2 .private_key)" != "$(q alloc-a .private_key)" ]

ssh-keygen -q -t ed25519 -N '' -C contract-b -f "$WORK/b_key"
ctl_ans alloc-b allocate --owner t/contract-b --platform "$PLAT" --public-key "'$(cat "$WORK/b_key.pub")'"
ok_answer alloc-b allocate
check "alloc-b: no private_key with --public-key" jqe 'has("private_key") | not' "$A/alloc-b.json"
check "alloc-b: public_key is the given one" [ "$(q alloc-b .public_key)" = "$(cut -d' ' -f1,2 "$WORK/b_key.pub")" ]
JB=$(q alloc-b .job)

ctl_ans job-a job "$JA"
ok_answer job-a job
check "job-a: active, with usage" jqe '.state == "active" and has("usage")' "$A/job-a.json"

ctl_ans jobs-ssh jobs
ok_answer jobs-ssh jobs
check "jobs-ssh: both jobs, oldest first" [ "$(jq -r '[.jobs[].job] | join(" ")' "$A/jobs-ssh.json")" = "$JA $JB" ]

ctl_ans renew-a renew "$JA" --lease 1h
ok_answer renew-a job
check "renew-a: the lease granted is 3600s" [ "$(q renew-a .lease_seconds)" = 3600 ]

ctl_ans cap-full capacity
ok_answer cap-full capacity
check "cap-full: not allocatable, all slots used" \
        jqe '.allocatable == false and .slots.free == 0 and (.not_allocatable_reason | test("slots"))' "$A/cap-full.json"
check "cap-full: job_usage lists both jobs" [ "$(jq '.job_usage | length' "$A/cap-full.json")" = 2 ]

ctl_ans no-capacity allocate --owner t/contract-c --platform "$PLAT"
error_answer no-capacity no-capacity

ctl_ans release-b release "$JB"
ok_answer release-b job
check "release-b: released, by release, no usage" \
        jqe '.state == "released" and .ended_by == "release" and has("released") and (has("usage") | not)' "$A/release-b.json"
ctl_ans job-b job "$JB"
ok_answer job-b job
check "job-b: the released job's answer is the release answer" difq "$A/release-b.json" "$A/job-b.json"
ctl_ans release-b2 release "$JB"
ok_answer release-b2 job
check "release-b2: releasing again answers the same" difq "$A/release-b.json" "$A/release-b2.json"

# ---- error answers over SSH -----------------------------------------------------
ctl_ans unknown-verb frobnicate
error_answer unknown-verb bad-request
ctl_ans unknown-flag capacity --frob 1
error_answer unknown-flag bad-request
ctl_ans over-max allocate --owner t/contract-d --platform "$PLAT" --memory 1024T
error_answer over-max bad-request
ctl_ans metachar 'capacity;'
error_answer metachar bad-request
ctl_ans operator-verb drain
error_answer operator-verb bad-request
ctl_ans unknown-job job j000000000000
error_answer unknown-job unknown-job
ctl_ans renew-released renew "$JB" --lease 1h
error_answer renew-released unknown-job
ctl_ans s390x allocate --owner t/contract-e --platform linux/s390x
error_answer s390x unsupported-platform
emu=$(q cap-ssh '[.platforms[] | select(.emulated and (.allowed | not)) | .platform][0] // empty')
if [ -n "$emu" ]; then
        ctl_ans emulated allocate --owner t/contract-f --platform "$emu"
        error_answer emulated unsupported-platform
fi

# ---- operator, over the control socket -------------------------------------------
# Both transports build capacity alike (api.c); check the field sets agree.
hc_ans cap-sock capacity
ok_answer cap-sock capacity
ctl_ans cap-ssh2 capacity
ok_answer cap-ssh2 capacity
fields() { jq -c '[paths | map(tostring) | join(".")]' "$A/$1.json"; }
check "cap-sock: the same fields as over SSH" [ "$(fields cap-sock)" = "$(fields cap-ssh2)" ]
hc_ans jobs-sock jobs
ok_answer jobs-sock jobs

hc_ans drain drain --reason "contract test"
ok_answer drain capacity
check "drain: draining, with the reason" \
        jqe '.draining and .drain_reason == "contract test" and (.allocatable | not)' "$A/drain.json"
ctl_ans cap-draining capacity
ok_answer cap-draining capacity
ctl_ans draining allocate --owner t/contract-g --platform "$PLAT"
error_answer draining draining
hc_ans resume resume
ok_answer resume capacity
check "resume: not draining" jqe '(.draining | not) and .drain_reason == null' "$A/resume.json"

hc_ans reload reload
ok_answer reload reload
check "reload: the policy file is a source" jqe --arg p "$WORK/policy.conf" '.sources | index($p)' "$A/reload.json"
printf '[Jobs]\nSlots=0\n' >"$WORK/policy.conf"
hc_ans reload-bad reload
error_answer reload-bad bad-request
printf '[Jobs]\nSlots=2\n' >"$WORK/policy.conf"
hc_ans reload2 reload
ok_answer reload2 reload

hc_ans metrics metrics
ok_answer metrics metrics
hc_ans unknown-job-sock job j000000000000
error_answer unknown-job-sock unknown-job

# forbidden: a uid that is neither root nor in [Control] Group=, with the
# real client (hostd reads the request first, so the answer arrives
# rather than a reset), and its exit status.
if command -v setpriv >/dev/null; then
        chmod 0777 "$SOCK"
        rc=0
        setpriv --reuid=65534 --regid=65534 --clear-groups "$HOSTCTL" --json --socket "$SOCK" capacity \
                >"$A/forbidden.json" 2>/dev/null || rc=$?
        chmod 0700 "$SOCK"
        check "forbidden: a valid error answer" valid error "$A/forbidden.json"
        check "forbidden: code forbidden" [ "$(q forbidden .error.code)" = forbidden ]
        check "forbidden: hostctl exits $(doc_status forbidden)" [ "$rc" = "$(doc_status forbidden)" ]
fi

ctl_ans release-a release "$JA"
ok_answer release-a job
ctl_ans jobs-empty jobs
ok_answer jobs-empty jobs
check "jobs-empty: no job holds a slot" [ "$(jq '.jobs | length' "$A/jobs-empty.json")" = 0 ]

# ---- the schema is strict -----------------------------------------------------
neg() { # DEF SOURCE JQ-FILTER DESCRIPTION: the real answer SOURCE, changed by FILTER, is not a valid DEF
        local f="$A/neg-$((++negs)).json"
        jq "$3" "$A/$2.json" >"$f"
        check "strict: $4" invalid "$1" "$f"
}
negs=0
neg capacity cap-ssh '. + {surprise: 1}' "capacity with an unknown top-level field"
neg capacity cap-ssh '.apiVersion = "hostd/v2"' "capacity with apiVersion hostd/v2"
neg capacity cap-ssh '.slots.total = "4"' "capacity with slots.total a string"
neg capacity cap-ssh 'del(.health)' "capacity without health"
neg capacity cap-ssh '.enforcement.cgroup.gpu = true' "capacity with an unknown cgroup controller"
neg capacity drain '.drain_reason = null' "draining without a drain_reason"
neg capacity cap-ssh '.health.status = "degraded"' "degraded health without problems"
neg capacity cap-ssh '.platforms[0].emulated = true' "an emulated platform without handler"
neg allocate alloc-a '.job |= ascii_upcase' "a job id in upper case"
neg allocate alloc-a '.job += "\n"' "a job id with a trailing newline"
neg allocate alloc-a '.created = "2026-11-22T02:00:00+00:00"' "a time with an offset, not Z"
neg allocate alloc-a '.lease_expires = "2026-11-22T02:00:00.5Z"' "a time with fractions of a second"
neg allocate alloc-a '.quota.memory_bytes = 1.5' "a fractional byte count"
neg allocate alloc-a '.state = "paused"' "an unknown job state"
neg allocate alloc-a 'del(.state_reason)' "a job without state_reason (null, not absent)"
neg job alloc-a '.' "private_key in a job answer"
neg job job-a '. + {released: .created}' "an active job with released"
neg job release-b '. + {usage: {}}' "a released job with usage"
neg job release-b 'del(.ended_by)' "a released job without ended_by"
neg job release-b '.ended_by = "crash"' "an unknown ended_by"
neg jobs jobs-ssh '.jobs[0].apiVersion = "hostd/v1"' "apiVersion inside a jobs entry"
neg jobs jobs-ssh '.jobs[0].usage.gpu_seconds = 1' "an unknown usage field"
neg error no-capacity '.error.code = "busy"' "an unknown error code"
neg error no-capacity '. + {job: "j000000000000"}' "an error answer with more than the error"
neg reload reload '.reloaded = false' "reloaded false"
neg metrics metrics '.content_type = "application/json"' "metrics in another content type"

stop_hostd
finish
