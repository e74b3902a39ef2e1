#!/usr/bin/env bash
# Idle cached connections: Postfix's scan client keeps connections to scand
# open between deliveries (smtp_connection_cache_time_limit) and may hold more
# of them than scand's process_limit. Here scand runs with process_limit = 2
# below the scan entry's maxproc (10); 5 bursts of 30 messages separated by
# 2-3 s idle gaps must each be delivered without a stall. "No stall" is a
# generous bound (each burst delivered within 20 s), never a speed claim.
set -u
. "$(dirname "$0")/lib.sh"
it_init idle-connections "${1:-build}"
it_start_all "process_limit = 2"
maxconns=0
sample() {
    local n
    n=$(ss -Htn state established "( sport = :$SCAN )" 2>/dev/null | wc -l)
    [ "$n" -gt "$maxconns" ] && maxconns=$n
}
for b in 1 2 3 4 5; do
    t0=$(date +%s)
    it_send --tag burst$b --count 30 --conns 6 --to r@sink.test >/dev/null &
    sender=$!
    done_ok=1
    for ((i = 0; i < 40; i++)); do
        sample
        [ "$(it_unique burst$b)" -ge 30 ] && { done_ok=0; break; }
        sleep 0.5
    done
    wait "$sender"
    took=$(($(date +%s) - t0))
    if [ $done_ok = 0 ]; then ok "burst $b: 30 delivered (${took}s, bound 20s)"; else
        fail "burst $b: only $(it_unique burst$b) of 30 delivered within 20s"; fi
    # idle gap of 2-3 s; Postfix's cached connections stay open meanwhile
    for ((i = 0; i < 5 + RANDOM % 2; i++)); do sample; sleep 0.5; done
done
log "most connections Postfix held to scand at once: $maxconns (process_limit 2)"
check "Postfix held more connections ($maxconns) than process_limit (2)" test "$maxconns" -gt 2
total=0; dups=0
for b in 1 2 3 4 5; do total=$((total + $(it_unique burst$b))); dups=$((dups + $(it_dups burst$b))); done
expect_eq "all delivered" "$total" 150
expect_eq "duplicates" "$dups" 0
check "queue drained" it_wait_queue_empty 30
it_done
