#!/usr/bin/env bash
# smtpd_timeout = 3s: a direct session idle after EHLO gets "421 4.4.2" and is
# closed; scand goes on serving.
set -u
. "$(dirname "$0")/lib.sh"
it_init timeout "${1:-build}"
it_start_all "smtpd_timeout = 3s"
t0=$(date +%s)
out=$($IT_PY idle --port "$SCAN" --wait 20 2>&1)
rc=$?
took=$(($(date +%s) - t0))
log "idle session: $out"
expect_eq "idle session closed with 421" "$rc" 0
check "the 421 is 421 4.4.2" grep -q "421 4.4.2" <<<"$out"
check "not before the timeout (took ${took}s >= 2s)" test "$took" -ge 2
it_send --tag after --to r@sink.test >/dev/null
check "scand still delivers" it_wait_sink 1 after 30
it_done
