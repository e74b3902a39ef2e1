#!/usr/bin/env bash
# A worker killed with SIGKILL in the middle of DATA: scand relays through a
# proxy (it.py proxy --hold-dot) that holds back the relay-side end of DATA
# for a few seconds, so the worker is caught with the message sent to the
# 10026 smtpd but for its final "." and Postfix still waiting for scand's
# end-of-DATA reply. That worker is SIGKILLed: the 10026 smtpd never gets the
# ".", Postfix gets no 250 and retries; the message is delivered exactly once,
# and the master has replaced the worker.
set -u
. "$(dirname "$0")/lib.sh"
it_init worker-kill "${1:-build}"
PROXY=$SPARE
it_sink_start
it_postfix_start
it_bg "$W/proxy.log" $IT_PY proxy --port "$PROXY" --to "$RELAY" --hold-dot 5
it_wait_port "$PROXY" 10 || { fail "proxy starts"; it_done; }
RELAY_SAVED=$RELAY
RELAY=$PROXY
it_scand_start "process_limit = 3" || { fail "scand starts"; it_done; }
RELAY=$RELAY_SAVED
sleep 1
before=$(it_scand_workers)
log "scand master $SCAND_PID, workers: $before"

it_send --tag kill --size 300000 --to r@sink.test >/dev/null
for ((i = 0; i < 150; i++)); do
    grep -q "holding end of DATA" "$W/proxy.log" && break
    sleep 0.2
done
check "the relay side reached the end of DATA (held by the proxy)" grep -q "holding end of DATA" "$W/proxy.log"
victim=
for ((i = 0; i < 100; i++)); do
    victim=$(ss -Htnp state established "( dport = :$PROXY )" 2>/dev/null |
        grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    [ -n "$victim" ] && [ "$victim" != "$SCAND_PID" ] && break
    victim=
    sleep 0.2
done
if [ -z "$victim" ]; then
    fail "a scand worker connected to the relay"
    it_done
fi
if grep -q "^$victim\$" <(pgrep -P "$SCAND_PID"); then
    ok "relay connection held by worker $victim (a child of the master)"
else
    fail "relay connection held by a child of the master (pid $victim)"
fi
check "worker still busy with the message (no 250 yet)" test "$(it_unique kill)" = 0
kill -KILL "$victim"
log "SIGKILLed worker $victim"

for ((i = 0; i < 50; i++)); do grep -q "client gone" "$W/proxy.log" && break; sleep 0.1; done
check "the killed attempt's end of DATA never reached the 10026 smtpd" grep -q "client gone" "$W/proxy.log"
check "queue drained within 90s" it_wait_queue_empty 90
expect_eq "unique delivered" "$(it_unique kill)" 1
expect_eq "duplicates" "$(it_dups kill)" 0
check "Postfix deferred the first attempt (it saw the kill)" \
    grep -q "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=deferred" "$W/pf/maillog"
check "scand master still running" kill -0 "$SCAND_PID"
after=
for ((i = 0; i < 50; i++)); do
    after=$(it_scand_workers)
    [ "$(wc -w <<<"$after")" -ge 3 ] && break
    sleep 0.2
done
log "workers after: $after"
check "master replaced the worker (3 workers again)" test "$(wc -w <<<"$after")" -ge 3
check "killed worker is gone" bash -c "! grep -qw $victim <<<'$after'"
it_done
