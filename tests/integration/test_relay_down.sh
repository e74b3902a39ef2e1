#!/usr/bin/env bash
# Relay down: the 10026 smtpd is removed from master.cf (postfix reload); 50
# messages sent stay deferred in Postfix's queue with scand's 4yz as the reason
# and nothing reaches the sink; the 10026 smtpd back, postqueue -f: all 50
# delivered exactly once.
set -u
. "$(dirname "$0")/lib.sh"
it_init relay-down "${1:-build}"
it_start_all
N=50
check "10026 smtpd stopped" it_relay_down
out=$(it_send --count $N --conns 2 --tag down --to r@sink.test 2>&1)
check "front smtpd accepted $N" grep -q "accepted $N failed 0" <<<"$out"

# Every recipient deferred with a 4yz that scand sent (not "connection refused").
pat='(said|refused to talk to me): 4[0-9][0-9] '
n=0
for ((i = 0; i < 60; i++)); do
    n=$(it_deferred_matching "$pat")
    [ "$n" -ge $N ] && break
    sleep 1
done
expect_eq "deferred with scand's 4yz" "$n" $N
log "reason: $(postqueue -c "$PFC" -p | grep -m1 -E 'said|refused' | sed 's/^ *//')"
# (a message moving between the active and deferred queues can be missing
# from one postqueue snapshot: look a few times)
for ((i = 0; i < 10; i++)); do q=$(it_queue_count); [ "$q" = $N ] && break; sleep 0.3; done
expect_eq "messages in Postfix's queue" "$q" $N
expect_eq "delivered while the relay was down" "$(it_unique down)" 0
# Postfix itself could not reach scand, or lost it: "connect to ...", "lost
# connection with ...", "conversation with ... timed out" - none of that.
expect_eq "deferred for another reason than scand's 4yz" \
    "$(it_deferred_matching "$pat" other)" 0

check "10026 smtpd started again" it_relay_up
postqueue -c "$PFC" -f
check "queue drained within 120s" it_wait_queue_empty 120
expect_eq "unique delivered" "$(it_unique down)" $N
expect_eq "duplicates" "$(it_dups down)" 0
it_done
