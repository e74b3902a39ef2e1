#!/usr/bin/env bash
# Loop: scand's relay pointed at scand itself. The relay greets with scand's own
# myhostname, scand defers with 451 4.4.6 (a logged mail loop), Postfix keeps the
# message deferred; nothing loops (connection count stays small) and nothing is
# delivered.
set -u
. "$(dirname "$0")/lib.sh"
it_init loop "${1:-build}"
it_sink_start
it_postfix_start
# relay = scand's own listener (overrides the relay line of it_scand_conf)
RELAY_SAVED=$RELAY
RELAY=$SCAN
it_scand_start "" || { fail "scand starts"; it_done; }
RELAY=$RELAY_SAVED
it_send --tag loop --to r@sink.test >/dev/null
n=0
for ((i = 0; i < 40; i++)); do
    n=$(it_deferred_matching '4\.4\.6')
    [ "$n" -ge 1 ] && break
    sleep 0.5
done
expect_eq "deferred with 4.4.6" "$n" 1
log "reason: $(postqueue -c "$PFC" -p | grep -m1 -E '4\.4\.6' | sed 's/^ *//')"
check "scand logged the mail loop" grep -q -i 'loop' "$W/scand.log"
sleep 3
conns=$(ss -Htn state established "( sport = :$SCAN )" | wc -l)
log "established connections to scand after 3s: $conns"
check "no connection pile-up (<= 20 connections to scand)" test "$conns" -le 20
expect_eq "delivered" "$(it_unique loop)" 0
check "scand still serving" kill -0 "$SCAND_PID"
it_done
