#!/usr/bin/env bash
# tests/differential/dns/run.sh - DNS restrictions in Postfix's smtpd and in
# scand, with the same zone data (tests/dns/zones.conf), compared by
# tests/differential/difftest.py (cases: tests/differential/dns/cases/).
#
#   tests/differential/dns/run.sh [BUILD_DIR] [CASE_SUBSTRING]
#
# Postfix resolves through /etc/resolv.conf and port 53, so everything runs
# in a network namespace made here: `ip netns exec` mounts
# /etc/netns/NS/resolv.conf ("nameserver 127.0.0.1") over /etc/resolv.conf
# for the processes inside, unbound (tests/dns/testdns.sh) listens on
# 127.0.0.1:53 there, and the machine's own resolver is never touched. The
# private Postfix (tests/integration/lib.sh), the sink, scand (with
# dns_servers = 127.0.0.1:53) and scand -t all run inside.
#
# Postfix's replies and warnings are written to WORKDIR/postfix-replies.md
# (kept with the work dir on failure; DNS_RECORD=FILE copies it to FILE).
# DNS_CASES=DIR runs the case files of DIR instead of cases/ (e.g. the
# known differences: DNS_CASES=tests/differential/dns/differences).
# Exit 0 with "SKIP: ..." only when no network namespace can be made.
set -uo pipefail

DNS_DIFF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DNS_DIFF_DIR/../../.." && pwd)

inside() { # inside BUILD SUBSTRING: runs in the namespace
    . "$ROOT/tests/integration/lib.sh"
    it_init dns-differential "$1"
    DNSW=$W/dns
    dns_cleanup() {
        local rc=$?
        "$ROOT/tests/dns/testdns.sh" stop "$DNSW"
        if [ -n "${DNS_RECORD:-}" ] && [ -f "$W/postfix-replies.md" ]; then
            cp "$W/postfix-replies.md" "$DNS_RECORD"
        fi
        (exit "$rc")
        it_cleanup
    }
    trap dns_cleanup EXIT
    if ! "$ROOT/tests/dns/testdns.sh" start "$DNSW" 127.0.0.1 53 >"$W/unbound.pid.out"; then
        fail "test DNS server starts on 127.0.0.1:53 in the namespace"
        it_done
    fi
    log "unbound pid $(cat "$W/unbound.pid.out") on 127.0.0.1:53; resolv.conf: $(tr '\n' ' ' </etc/resolv.conf)"
    it_sink_start
    it_postfix_start
    python3 "$ROOT/tests/differential/difftest.py" --build "$BUILD" --pfc "$PFC" \
        --work "$W/diff" --front "$FRONT" --scan "$SCAN" --sink "$SINK" --only "${2:-}" \
        --dns-server 127.0.0.1:53 --record "$W/postfix-replies.md" \
        "${DNS_CASES:-$DNS_DIFF_DIR/cases}"/*.case | tee "$W/difftest.out"
    local rc=${PIPESTATUS[0]}
    IT_PASS=$(grep -c '^ok ' "$W/difftest.out")
    IT_FAIL=$(grep -c '^FAIL ' "$W/difftest.out")
    [ "$rc" -eq 0 ] || [ "$IT_FAIL" -gt 0 ] || IT_FAIL=1
    [ "$IT_FAIL" -eq 0 ]
}

if [ "${1:-}" = --inside ]; then
    shift
    inside "$@"
    exit $?
fi

NS=scand-dns-$$
ns_cleanup() {
    local pid
    # Whatever we started in the namespace and is still there (the inner
    # script stops its own; this is the safety net), by PID.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.5
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "/etc/netns/${NS:?}"
}
if ! ip netns add "$NS" 2>/dev/null; then
    echo "SKIP: no network namespaces (ip netns add failed)"
    exit 0
fi
trap ns_cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "/etc/netns/$NS"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$NS/resolv.conf"
ip netns exec "$NS" ip link set lo up || { echo "FAIL: lo up in $NS"; exit 1; }
ip netns exec "$NS" bash "$DNS_DIFF_DIR/run.sh" --inside "${1:-}" "${2:-}" &
wait $!
