#!/usr/bin/env bash
# 200 messages through the front smtpd -> scan transport -> scand -> 10026
# smtpd -> sink: each delivered exactly once, bodies byte-identical (plain,
# 8-bit and SMTPUTF8 mixed), every one carries scand's trace header, and the
# 10026 smtpd saw the original client (set with XCLIENT at the front) through
# XFORWARD that scand passed on.
# IT_SCAN_PROTO=lmtp (test_lmtp.sh) runs the same over the LMTP scan entry.
set -u
. "$(dirname "$0")/lib.sh"
it_init "passthrough-${IT_SCAN_PROTO:-smtp}" "${1:-build}"
it_start_all
N=200
CLIENT="NAME=mx.client.example ADDR=192.0.2.7 HELO=helo.client.example"

out=$(it_send --count $N --conns 4 --kind mixed --tag pt --saved "$SAVED" \
    --to rcpt1@sink.test --xclient "$CLIENT" --helo helo.client.example 2>&1)
log "$out"
check "front smtpd accepted all $N messages" grep -q "accepted $N failed 0" <<<"$out"
check "queue drained within 180s" it_wait_queue_empty 180
expect_eq "unique messages delivered" "$(it_unique pt)" $N
expect_eq "duplicates" "$(it_dups pt)" 0
cmp_out=$($IT_PY compare --dir "$SINKDIR" --saved "$SAVED")
rc=$?
log "$cmp_out"
[ $rc = 0 ] && ok "bodies byte-identical ($cmp_out)" || fail "bodies byte-identical ($cmp_out)"
expect_eq "8-bit messages delivered" "$(grep -l -a 'Content-Transfer-Encoding: 8bit' "$SINKDIR"/*.eml | wc -l)" 133
expect_eq "SMTPUTF8 messages kept their UTF-8 sender" \
    "$(grep -l '"mail_from": "FROM:<sender.jos.*SMTPUTF8' "$SINKDIR"/*.env | wc -l)" 66
expect_eq "messages with scand's trace header" "$(it_sink_grep '^Received: .*\(scand\)|^[[:space:]].*\(scand\)')" $N
# The front smtpd's own Received header shows the XCLIENT client ...
expect_eq "front Received shows the XCLIENT client" \
    "$(it_sink_grep 'from helo\.client\.example \(mx\.client\.example \[192\.0\.2\.7\]\)')" $N
# ... and the 10026 smtpd logged it as the original client: XFORWARD passed
# through scand (Postfix writes XFORWARD data to its log, "orig_client=", and
# keeps the real peer 127.0.0.1 in its own Received header).
expect_eq "10026 smtpd got XFORWARD NAME/ADDR (orig_client=)" \
    "$(it_orig_client_lines 'mx.client.example\[192.0.2.7\]')" $N
expect_eq "scan deliveries to scand status=sent" \
    "$(grep -c "postfix/${IT_SCAN_PROTO:-smtp}\[.*relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=sent" "$W/pf/maillog")" $N
expect_eq "deferred scan deliveries" "$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=deferred" "$W/pf/maillog")" 0
it_done
