#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Host keys: by default hostd serves Ed25519 and RSA-3072 (as rsa-sha2-512
# and rsa-sha2-256, never ssh-rsa with SHA-1) and no ECDSA; stock ssh
# pinned with the allocate answer's known_hosts connects with each; ssh-audit
# finds no failure; ECDSA is served when HostKeyECDSA names a file; an RSA
# key under 3072 bits is refused at start.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ssh-lib.sh"

scan() { ssh-keyscan -T 20 -p "$PORT" "$@" 127.0.0.1 2>/dev/null | sort; }
bits_of() { ssh-keygen -lf "$1" | cut -d' ' -f1; }

# ---- the default set ---------------------------------------------------------------------
start_hostd_ssh
keys=$(scan -t ed25519,rsa,ecdsa)
echo "ssh-keyscan:"; cut -c1-80 <<<"$keys"
check "ssh-keyscan gets an Ed25519 key" grep -q " ssh-ed25519 " <<<"$keys"
check "and an RSA key" grep -q " ssh-rsa " <<<"$keys"
check "and no ECDSA key" bash -c '! grep -q " ecdsa-" <<<"$1"' _ "$keys"
check "the RSA key served has 3072 bits" [ "$(grep " ssh-rsa " <<<"$keys" | bits_of -)" = 3072 ]
check "ssh-keygen -l says 3072 bits of the key file" [ "$(bits_of "$STATE/host-keys/ssh_host_rsa_key")" = 3072 ]
check "no ECDSA key file is made" [ ! -e "$STATE/host-keys/ssh_host_ecdsa_key" ]

alloc_job a >/dev/null
echo "known_hosts of the allocate answer:"; cut -c1-80 "$(jkh a)"
check "the answer's known_hosts pins exactly the keys served" \
        [ "$(grep -v '^$' "$(jkh a)" | cut -d' ' -f2,3 | sort)" = "$(cut -d' ' -f2,3 <<<"$keys")" ]
for alg in rsa-sha2-512 rsa-sha2-256 ssh-ed25519; do
        out=$(sshj a -v -o HostKeyAlgorithms="$alg" 'echo hostkey-ok' 2>"$WORK/ssh-$alg.err") || true
        check "ssh -o HostKeyAlgorithms=$alg, StrictHostKeyChecking=yes and the answer's known_hosts runs a job command" \
                [ "$out" = hostkey-ok ]
        # (ssh -v ends its lines in CR LF)
        check "and the host key algorithm negotiated is $alg" grep -qE "kex: host key algorithm: $alg"$'\r?$' "$WORK/ssh-$alg.err"
done
out=$(sshj a -o HostKeyAlgorithms=ssh-rsa 'echo hostkey-ok' 2>&1) && rc=0 || rc=$?
echo "HostKeyAlgorithms=ssh-rsa: exit $rc: $out"
check "HostKeyAlgorithms=ssh-rsa (SHA-1 signatures) is refused" [ "$rc" = 255 ]
check "as no matching host key type" grep -q "no matching host key type found" <<<"$out"

# ---- ssh-audit ---------------------------------------------------------------------------
if command -v ssh-audit >/dev/null; then
        audit=$(ssh-audit -n -p "$PORT" 127.0.0.1 2>&1) || true
        grep -E '^\((gen|kex|key|enc|mac)\)|\[(fail|warn)\]' <<<"$audit" || true
        check "ssh-audit reports no failure" bash -c '! grep -qE "\[fail\]|\(fail\)" <<<"$1"' _ "$audit"
        check "ssh-audit sees the RSA host key as rsa-sha2-512 with 3072 bits" grep -qF '(key) rsa-sha2-512 (3072-bit)' <<<"$audit"
        check "ssh-audit warns about no host key algorithm" bash -c '! grep -qE "^\(key\).*\[warn\]" <<<"$1"' _ "$audit"
else
        fail "ssh-audit is not installed (tools/install-deps.sh installs it)"
fi

# ---- ECDSA when configured ---------------------------------------------------------------
stop_hostd
start_hostd_ssh --set SSH.HostKeyECDSA="$STATE/host-keys/ssh_host_ecdsa_key"
keys=$(scan -t ecdsa)
check "with HostKeyECDSA set, ECDSA is offered" grep -q " ecdsa-sha2-nistp256 " <<<"$keys"
alloc_job b >/dev/null
check "and the answer's known_hosts pins it too" grep -q " ecdsa-sha2-nistp256 " "$(jkh b)"
check "ssh -o HostKeyAlgorithms=ecdsa-sha2-nistp256 connects" \
        [ "$(sshj b -o HostKeyAlgorithms=ecdsa-sha2-nistp256 'echo ecdsa-ok' 2>/dev/null)" = ecdsa-ok ]
# What an upgraded host has: the ECDSA key file, not configured.
stop_hostd
start_hostd_ssh
check "an ECDSA key file left in host-keys/ is not served unless configured" [ -z "$(scan -t ecdsa)" ]
stop_hostd

# ---- an RSA key under 3072 bits is refused -------------------------------------------------
ssh-keygen -q -t rsa -b 2048 -N '' -f "$WORK/rsa2048"
if start_hostd_expect_exit --set SSH.HostKeyRSA="$WORK/rsa2048"; then
        fail "hostd started with a 2048-bit RSA host key"
        stop_hostd || true
else
        grep -F rsa2048 "$LOG" || true
        check "a 2048-bit RSA host key: hostd exits with status 78 (EX_CONFIG)" [ "$HOSTD_RC" = 78 ]
        check "naming the key, its size and the fix" \
                grep -qF "Host key $WORK/rsa2048 is an RSA key of 2048 bits; hostd serves RSA host keys of at least 3072 bits" "$LOG"
fi

finish
