#!/usr/bin/env bash
# The relay's own recipient limit: the 10026 smtpd is given
# smtpd_recipient_limit = 2 and a message for 5 recipients goes through scand.
# The relay answers "452 4.5.3 Error: too many recipients" for the third;
# scand accepts it anyway and delivers the rest in further relay transactions
# (batches of 2) before it answers Postfix: every recipient gets the message
# exactly once, in one scan delivery, with nothing left to a later queue run.
# Run once with the smtp scan transport and once with lmtp (per-recipient
# replies).
set -u
. "$(dirname "$0")/lib.sh"
export IT_SCAN_PROTO=${IT_SCAN_PROTO:-smtp}
it_init relay-overflow-$IT_SCAN_PROTO "${1:-build}"
it_start_all
postconf -c "$PFC" -P "127.0.0.1:$RELAY/inet/smtpd_recipient_limit=2"
cp "$PFC/master.cf" "$PFC/master.cf.full"
it_postfix_reload
sleep 1

rcpts=""
for i in 1 2 3 4 5; do rcpts="$rcpts --to r$i@sink.test"; done
# shellcheck disable=SC2086
it_send --tag many $rcpts >/dev/null
check "queue drained within 60s" it_wait_queue_empty 60

delivered=$(for f in $(grep -l -a "^Message-ID: <many\.0@it\.test>" "$SINKDIR"/*.eml); do
    python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["rcpts"]))' "${f%.eml}.env"
done | sort)
expect_eq "every recipient delivered exactly once" "$(echo "$delivered" | tr '\n' ' ')" \
    "TO:<r1@sink.test> TO:<r2@sink.test> TO:<r3@sink.test> TO:<r4@sink.test> TO:<r5@sink.test> "
expect_eq "relay transactions for 5 recipients at 2 each" \
    "$(grep -l -a "^Message-ID: <many\.0@it\.test>" "$SINKDIR"/*.eml | wc -l)" 3
expect_eq "all 5 recipients sent by the scan transport" \
    "$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=sent" "$W/pf/maillog")" 5
expect_eq "nothing deferred by scand" \
    "$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=deferred" "$W/pf/maillog")" 0
it_done
