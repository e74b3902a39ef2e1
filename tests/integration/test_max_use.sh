#!/usr/bin/env bash
# Worker recycling after max_use never costs a client its connection:
# smtp-source sends 300 messages over 10 parallel connections straight to
# scand (max_use = 5, so workers are recycled again and again while
# sessions are open); every session completes and every message arrives.
set -u
. "$(dirname "$0")/lib.sh"
it_init max-use "${1:-build}"
it_sink_start
IT_SCAND_PROCS=3 it_scand_start "relay = 127.0.0.1:$SINK
max_use = 5" || { fail "scand starts"; it_done; }

if smtp-source -c -s 10 -m 300 -f sender@it.test -t rcpt@sink.test "127.0.0.1:$SCAN" \
    >"$W/source.log" 2>&1; then
    ok "smtp-source: every session completed"
else
    fail "smtp-source: $(grep -m1 -i fatal "$W/source.log")"
fi
check "300 messages at the sink within 30s" bash -c \
    "for i in \$(seq 30); do [ \$(ls $SINKDIR/*.eml 2>/dev/null | wc -l) -ge 300 ] && exit 0; sleep 1; done; exit 1"
expect_eq "messages at the sink" "$(ls "$SINKDIR"/*.eml 2>/dev/null | wc -l)" 300
recycled=$(grep -c "exited status 0" "$W/scand.log")
check "workers were recycled ($recycled times)" test "$recycled" -ge 10
it_done
