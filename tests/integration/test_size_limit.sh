#!/usr/bin/env bash
# message_size_limit: scand's (100000) below Postfix's. Via Postfix: a 200 kB
# message is refused (scand announces SIZE 100000; Postfix's scan client
# bounces it with dsn 5.3.4 - if it did not check SIZE, scand's 552 would do
# the same) and the bounce reaches the sender; a small message still passes.
# Then the scan client is told to ignore SIZE (-o smtp_discard_ehlo_keywords=size)
# so the message reaches scand: scand's own "552 5.3.4" after the end of DATA,
# and Postfix bounces with it.
# Directly: 150 kB of DATA without a SIZE parameter gets 552 after the
# terminator and the session goes on (QUIT 221), no cut connection.
set -u
. "$(dirname "$0")/lib.sh"
it_init size-limit "${1:-build}"
it_start_all "message_size_limit = 100000"
it_send --tag big --size 200000 --from owner@sink.test --to r@sink.test >/dev/null
it_send --tag small --from owner@sink.test --to r@sink.test >/dev/null
check "queue drained within 60s" it_wait_queue_empty 60
line=$(grep -E "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=bounced" "$W/pf/maillog" | head -1)
log "front Postfix: ${line#*postfix/}"
check "Postfix bounced the big message with 5.3.4/552" grep -q -E 'dsn=5\.3\.4.*(552|exceeds size limit)' <<<"$line"
expect_eq "big message delivered" "$(it_unique big)" 0
expect_eq "small message delivered" "$(it_unique small)" 1
bounce=$(grep -l '"TO:<owner@sink.test>"' "$SINKDIR"/*.env 2>/dev/null | head -1)
check "the sender got the bounce" test -n "$bounce"
[ -n "$bounce" ] && check "the bounce names the size problem" \
    grep -q -a -E '552|5\.3\.4|size limit' "${bounce%.env}.eml"
sed -i '/^scan[ \t].*smtp$/a\    -o smtp_discard_ehlo_keywords=size' "$PFC/master.cf.full"
cp "$PFC/master.cf.full" "$PFC/master.cf"
it_postfix_reload
sleep 1
it_send --tag big2 --size 200000 --from owner2@sink.test --to r@sink.test >/dev/null
check "queue drained within 60s (SIZE ignored)" it_wait_queue_empty 60
line=$(grep -E "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=bounced.*said: 552" "$W/pf/maillog" | head -1)
log "front Postfix: ${line#*postfix/}"
check "scand answered 552 5.3.4 and Postfix bounced" grep -q -E 'dsn=5\.3\.4.*said: 552 5\.3\.4' <<<"$line"
expect_eq "big message delivered (SIZE ignored)" "$(it_unique big2)" 0
check "the sender got that bounce" grep -q '"TO:<owner2@sink.test>"' "$SINKDIR"/*.env

out=$($IT_PY direct --port "$SCAN" --rcpt r@sink.test --size 150000 --expect 552 --tag direct 2>&1)
rc=$?
log "direct: $out"
expect_eq "direct 150 kB DATA: 552 after the terminator, session goes on" "$rc" 0
check "the 552 is 552 5.3.4" grep -q '552 5.3.4' <<<"$out"
it_done
