#!/usr/bin/env bash
# SIGHUP with a broken config: scand logs the error with file:line, keeps
# serving with the old config. SIGTERM while a transaction is in flight (a
# direct client sending DATA slowly): the transaction completes with 250 and
# the message is delivered; then scand exits.
set -u
. "$(dirname "$0")/lib.sh"
it_init signals "${1:-build}"
it_start_all

it_send --tag before --count 3 --to r@sink.test >/dev/null
check "delivered before SIGHUP" it_wait_sink 3 before 30

cp "$W/scand.conf" "$W/scand.conf.good"
printf 'process_limit = many\nthis line is not a parameter\n' >>"$W/scand.conf"
kill -HUP "$SCAND_PID"
sleep 2
check "master alive after SIGHUP with a broken config" kill -0 "$SCAND_PID"
check "the error is logged with file and line" grep -q -E 'scand\.conf(, line |:)[0-9]+' "$W/scand.log"
check "still listening" it_wait_port "$SCAN" 5
it_send --tag after --count 3 --to r@sink.test >/dev/null
check "delivered after the broken reload" it_wait_sink 3 after 30
cp "$W/scand.conf.good" "$W/scand.conf"
kill -HUP "$SCAND_PID"
sleep 1
it_send --tag good --count 2 --to r@sink.test >/dev/null
check "delivered after a good reload" it_wait_sink 2 good 30

# SIGTERM during DATA
$IT_PY hold --port "$SCAN" --rcpt r@sink.test --seconds 4 --tag held >"$W/hold.log" 2>&1 &
hold=$!
IT_PIDS+=("$hold")
for ((i = 0; i < 50; i++)); do grep -q "in DATA" "$W/hold.log" && break; sleep 0.1; done
sleep 1
kill -TERM "$SCAND_PID"
log "SIGTERM sent to $SCAND_PID during DATA"
wait "$hold"
rc=$?
log "client: $(tail -1 "$W/hold.log")"
expect_eq "in-flight transaction completed after SIGTERM (client exit)" "$rc" 0
check "the held message delivered" it_wait_sink 1 held 30
ex=1
for ((i = 0; i < 300; i++)); do kill -0 "$SCAND_PID" 2>/dev/null || { ex=0; break; }; sleep 0.1; done
expect_eq "scand exited after draining (within 30s)" "$ex" 0
check "queue drained" it_wait_queue_empty 30
it_done
