#!/usr/bin/env bash
# Restrictions and their actions through the real sandwich (issue 3):
# the restriction-class example (a sender from qq.test to the protected
# foo@sink.test gets "554 5.7.1 <...>: Sender address rejected: 521" and
# Postfix bounces that recipient alone), and DISCARD, HOLD (Postfix's hold
# queue via hold_relay, then released), REDIRECT, BCC and PREPEND applied to
# the relayed message.
set -u
. "$(dirname "$0")/lib.sh"
it_init restrictions "${1:-build}"
T=$W/tables
mkdir -p "$T"
cat >"$T/protected_destinations" <<EOT
foo@sink.test   good_senders_only
EOT
cat >"$T/restricted_senders" <<EOT
qq.test         REJECT 521
EOT
cat >"$T/actions" <<EOT
discard@sink.test   DISCARD spam trap
hold@sink.test      HOLD look at this
redirect@sink.test  REDIRECT redirected@sink.test
bcc@sink.test       BCC audit@sink.test
prepend@sink.test   PREPEND X-Scand-Test: prepended
filter@sink.test    FILTER smtp:[127.0.0.1]:$SINK
EOT
it_start_all "smtpd_restriction_classes = good_senders_only
good_senders_only = check_sender_access texthash:$T/restricted_senders, permit
smtpd_recipient_restrictions = permit_mynetworks,
    check_recipient_access texthash:$T/protected_destinations,
    check_recipient_access texthash:$T/actions"

sink_file() { grep -l -a "^Message-ID: <$1\.0@it\.test>" "$SINKDIR"/*.eml 2>/dev/null | head -1; }
rcpts_of() {
    local f
    for f in $(grep -l -a "^Message-ID: <$1\.0@it\.test>" "$SINKDIR"/*.eml 2>/dev/null); do
        python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["rcpts"]))' "${f%.eml}.env"
    done | sort | tr '\n' ' '
}

# The original client: not in mynetworks, so permit_mynetworks does not fire.
XC="NAME=mx.client.example ADDR=192.0.2.7"
send() { it_send --xclient "$XC" --helo helo.client.example "$@"; }
send --tag qq --from 318787866@qq.test --to foo@sink.test --to other@sink.test >/dev/null
send --tag good --from someone@good.test --to foo@sink.test >/dev/null
send --tag discard --to discard@sink.test >/dev/null
send --tag hold --to hold@sink.test >/dev/null
send --tag redirect --to redirect@sink.test >/dev/null
send --tag bcc --to bcc@sink.test >/dev/null
send --tag prepend --to prepend@sink.test >/dev/null
send --tag filter --to filter@sink.test >/dev/null
send --tag plain --to plain@sink.test >/dev/null
sleep 3
postqueue -c "$PFC" -f
check "all but the held message left the queue within 60s" \
    bash -c "for i in \$(seq 60); do [ \$(postqueue -c $PFC -j | grep -vc hold) -eq 0 ] && exit 0; sleep 1; done; exit 1"

expect_eq "class example: protected recipient rejected with Postfix's text" \
    "$(grep -c 'to=<foo@sink.test>.*status=bounced.*554 5.7.1 <318787866@qq.test>: Sender address rejected: 521' "$W/pf/maillog")" 1
expect_eq "class example: the other recipient delivered" "$(rcpts_of qq)" "TO:<other@sink.test> "
expect_eq "class example: a good sender reaches the protected recipient" "$(rcpts_of good)" "TO:<foo@sink.test> "
expect_eq "scand logged the reject in Postfix's shape" \
    "$(grep -c 'reject: RCPT from .*554 5.7.1 <318787866@qq.test>: Sender address rejected: 521; from=<318787866@qq.test> to=<foo@sink.test> proto=ESMTP helo=<' "$W/scand.log")" 1
expect_eq "DISCARD: nothing delivered" "$(rcpts_of discard)" ""
expect_eq "DISCARD: Postfix saw success" \
    "$(grep -c "to=<discard@sink.test>.*relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=sent" "$W/pf/maillog")" 1
expect_eq "HOLD: nothing delivered yet" "$(rcpts_of hold)" ""
held=$(postqueue -c "$PFC" -j | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m["queue_name"]=="hold": print(m["queue_id"])')
expect_eq "HOLD: one message on Postfix's hold queue" "$(echo "$held" | grep -c .)" 1
[ -n "$held" ] && postsuper -c "$PFC" -H "$held" >/dev/null 2>&1
postqueue -c "$PFC" -f
check "HOLD: released message delivered" bash -c \
    "for i in \$(seq 30); do grep -l -a '^Message-ID: <hold.0@it.test>' $SINKDIR/*.eml >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1"
expect_eq "REDIRECT: delivered to the new address only" "$(rcpts_of redirect)" "TO:<redirected@sink.test> "
expect_eq "BCC: delivered to both" "$(rcpts_of bcc)" "TO:<audit@sink.test> TO:<bcc@sink.test> "
f=$(sink_file prepend)
postfix_hops() { # Received headers written by a Postfix smtpd
    local f
    f=$(sink_file "$1")
    [ -n "$f" ] && grep -a -c -P '^\tby front\.it\.test \(Postfix\)' "$f"
}
expect_eq "no FILTER: front smtpd and the 10026 smtpd in the trace" "$(postfix_hops plain)" 2
expect_eq "FILTER smtp:[127.0.0.1]:SINK: straight to that next hop, no 10026 hop" \
    "$(postfix_hops filter)" 1
expect_eq "FILTER: delivered once" "$(rcpts_of filter)" "TO:<filter@sink.test> "
# A table edited on disk takes effect without a restart or SIGHUP.
echo "late@sink.test      REJECT added while running" >>"$T/actions"
sleep 4
send --tag late --to late@sink.test >/dev/null
check "edited table: queue drained" it_wait_queue_empty 30
expect_eq "edited table: the new entry rejects" \
    "$(grep -c 'to=<late@sink.test>.*status=bounced.*554 5.7.1 <late@sink.test>: Recipient address rejected: added while running' "$W/pf/maillog")" 1
expect_eq "edited table: scand logged the reload" "$(grep -c 'a table changed on disk; reloading' "$W/scand.log")" 1
prepend_order() { # "above" when the PREPEND header precedes scand's Received header
    [ -n "$f" ] || { echo missing; return; }
    awk '/^X-Scand-Test: prepended/ && !p { p = NR } /\(scand\)/ && !r { r = NR }
        END { print (p && r && p < r) ? "above" : "p=" p " r=" r }' "$f"
}
expect_eq "PREPEND: header added above scand's Received header" "$(prepend_order)" above
it_done
