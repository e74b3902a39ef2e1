#!/usr/bin/env bash
# DNS-based restrictions through the real sandwich (issue 7), against a real
# DNS server (tests/dns: unbound on a loopback port, dns_servers points
# scand at it): DNSBL with and without TXT, the result filter, DNSWL,
# RHSBL (sender, HELO, reverse client), rbl_reply_maps, unknown sender
# domain, unknown HELO hostname, unknown client and reverse
# client hostname, each with Postfix's reply text as the front Postfix
# logs it; DNS trouble: a DNSBL that times out is not a listing (Postfix
# logs a warning and goes on), an unknown-domain check that cannot get an
# answer defers, and the mail is delivered once the DNS server answers;
# 50 messages whose DNSBL lookups all time out, sent at once, do not wait
# for each other (measured); test mode's explain shows the queries and a
# cache hit.
set -u
. "$(dirname "$0")/lib.sh"
it_init dns "${1:-build}"
TESTDNS="$IT_ROOT/tests/dns/testdns.sh"
it_pick_port DNSPORT || exit 1
T=$W/tables
mkdir -p "$T" "$W/dns"
cat >"$T/classes" <<EOT
rbl@sink.test       rbl
filt@sink.test      filt
dnswl@sink.test     dnswl
tbl@sink.test       tbl
sender@sink.test    sender
rhsbl@sink.test     rhsbl
helo@sink.test      helo
rclient@sink.test   rclient
client@sink.test    client
rhhelo@sink.test    rhhelo
rhrev@sink.test     rhrev
mapped@sink.test    mapped
EOT
cat >"$T/rbl_reply" <<EOT
bl.test=127.0.0.2   \$rbl_code 5.7.1 Mapped: \$rbl_what is on \$rbl_domain (\$rbl_txt)
EOT
RULES="dns_servers = 127.0.0.1:$DNSPORT
dns_query_timeout = 1s
dns_query_attempts = 1
smtpd_restriction_classes = rbl, filt, dnswl, tbl, sender, rhsbl, helo, rclient, client,
    rhhelo, rhrev, mapped
rbl = reject_rbl_client bl.test
filt = reject_rbl_client bl.test=127.0.0.4
dnswl = permit_dnswl_client wl.test, reject_rbl_client bl.test
tbl = reject_rbl_client tbl.test
sender = reject_unknown_sender_domain
rhsbl = reject_rhsbl_sender rhsbl.test
helo = reject_unknown_helo_hostname
rclient = reject_unknown_reverse_client_hostname
client = reject_unknown_client_hostname
rhhelo = reject_rhsbl_helo rhsbl.test
rhrev = reject_rhsbl_reverse_client rhsbl.test
mapped = reject_rbl_client bl.test=127.0.0.2
rbl_reply_maps = texthash:$T/rbl_reply
relay_domains = sink.test
smtpd_recipient_restrictions = check_recipient_access texthash:$T/classes"

# Phase 1: the DNS server is not there yet (nothing listens on its port).
it_start_all "$RULES"
send() { # send TAG ADDR FROM TO [HELO]
    it_send --tag "$1" --xclient "NAME=[UNAVAILABLE] ADDR=$2" --helo "${5:-a-only.test}" \
        --from "$3" --to "$4" >/dev/null
}
send down-sender 192.0.2.1 x@mx-only.test sender@sink.test
send down-rbl 127.0.0.2 x@mx-only.test rbl@sink.test
sleep 3
expect_eq "DNS down: unknown_sender_domain defers (450 4.1.8, defer_if_permit)" \
    "$(it_deferred_matching '450 4\.1\.8 <x@mx-only\.test>: Sender address rejected: Domain not found')" 1
check "DNS down: a DNSBL lookup error is not a listing (delivered, as Postfix)" \
    bash -c "for i in \$(seq 20); do grep -l -a '^Message-ID: <down-rbl.0@it.test>' $SINKDIR/*.eml >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1"
expect_eq "DNS down: the RBL lookup error is logged as a warning" \
    "$(grep -c 'warning: 2\.0\.0\.127\.bl\.test: RBL lookup error' "$W/scand.log")" 1

# Phase 2: the DNS server answers; the deferred message goes through.
if ! DNSPID=$("$TESTDNS" start "$W/dns" 127.0.0.1 "$DNSPORT"); then
    fail "test DNS server starts on 127.0.0.1:$DNSPORT"
    it_done
fi
IT_PIDS+=("$DNSPID")
postqueue -c "$PFC" -f
check "DNS back: the deferred message is delivered" \
    bash -c "for i in \$(seq 30); do grep -l -a '^Message-ID: <down-sender.0@it.test>' $SINKDIR/*.eml >/dev/null 2>&1 && exit 0; postqueue -c $PFC -f; sleep 1; done; exit 1"

send rbl-txt 127.0.0.2 x@mx-only.test rbl@sink.test
send rbl-notxt 192.0.2.10 x@mx-only.test rbl@sink.test
send rbl-clean 192.0.2.1 x@mx-only.test rbl@sink.test
send filt-hit 192.0.2.11 x@mx-only.test filt@sink.test
send filt-miss 192.0.2.10 x@mx-only.test filt@sink.test
send dnswl 192.0.2.20 x@mx-only.test dnswl@sink.test
send tbl 192.0.2.1 x@mx-only.test tbl@sink.test
send sender-nx 192.0.2.1 x@nx.test sender@sink.test
send sender-nullmx 192.0.2.1 x@nullmx.test sender@sink.test
send sender-sf 192.0.2.1 x@y.sf.test sender@sink.test
send sender-a 192.0.2.1 x@a-only.test sender@sink.test
send rhsbl-hit 192.0.2.1 x@spam.example.test rhsbl@sink.test
send rhsbl-miss 192.0.2.1 x@a-only.test rhsbl@sink.test
send helo-bad 192.0.2.1 x@a-only.test helo@sink.test bad.nx.test
send helo-good 192.0.2.1 x@a-only.test helo@sink.test mx-only.test
send rclient-noptr 192.0.2.32 x@a-only.test rclient@sink.test
send rclient-ptr 192.0.2.31 x@a-only.test rclient@sink.test
send client-forged 192.0.2.31 x@a-only.test client@sink.test
send client-good 192.0.2.30 x@a-only.test client@sink.test
send rhhelo 192.0.2.1 x@a-only.test rhhelo@sink.test bad-helo.test
send rhrev 192.0.2.33 x@a-only.test rhrev@sink.test
send mapped 127.0.0.2 x@a-only.test mapped@sink.test
sleep 4
postqueue -c "$PFC" -f
sleep 2

delivered() { grep -l -a "^Message-ID: <$1\.0@it\.test>" "$SINKDIR"/*.eml >/dev/null 2>&1 && echo yes || echo no; }
bounced() { grep -c "postfix/smtp\[.*status=bounced.*said: $1" "$W/pf/maillog"; }
deferred() { it_deferred_matching "$1"; }

expect_eq "DNSBL: listed client rejected, TXT as the reason" \
    "$(bounced '554 5\.7\.1 Service unavailable; Client host \[127\.0\.0\.2\] blocked using bl\.test; Listed: see http://bl\.test/q?127\.0\.0\.2 ')" 1
expect_eq "DNSBL: listed client without TXT: no reason" \
    "$(bounced '554 5\.7\.1 Service unavailable; Client host \[192\.0\.2\.10\] blocked using bl\.test (in reply')" 1
expect_eq "DNSBL: unlisted client delivered" "$(delivered rbl-clean)" yes
expect_eq "DNSBL =127.0.0.4 filter: matching result rejected" \
    "$(bounced '554 5\.7\.1 Service unavailable; Client host \[192\.0\.2\.11\] blocked using bl\.test')" 1
expect_eq "DNSBL =127.0.0.4 filter: other result delivered" "$(delivered filt-miss)" yes
# (permit_dnswl_client never permits a recipient reject_unauth_destination
# would refuse: relay_domains names sink.test, as Postfix needs it.)
expect_eq "DNSWL: permit_dnswl_client wins over a later DNSBL listing" "$(delivered dnswl)" yes
expect_eq "DNSBL timeout: not a listing, delivered" "$(delivered tbl)" yes
expect_eq "DNSBL timeout: warning logged" \
    "$(grep -c 'warning: 1\.2\.0\.192\.tbl\.test: RBL lookup error' "$W/scand.log")" 1
expect_eq "unknown sender domain (NXDOMAIN): 450 4.1.8 (unknown_address_reject_code)" \
    "$(deferred '450 4\.1\.8 <x@nx\.test>: Sender address rejected: Domain not found')" 1
expect_eq "sender domain with a null MX rejected" \
    "$(bounced '550 5\.7\.27 <x@nullmx\.test>: Sender address rejected: Domain nullmx\.test does not accept mail (nullMX)')" 1
expect_eq "sender domain SERVFAIL: deferred, never rejected" \
    "$(deferred '450 4\.1\.8 <x@y\.sf\.test>: Sender address rejected: Domain not found')" 1
expect_eq "sender domain with an A record only: delivered" "$(delivered sender-a)" yes
expect_eq "RHSBL sender: listed domain rejected with its TXT" \
    "$(bounced '554 5\.7\.1 Service unavailable; Sender address \[x@spam\.example\.test\] blocked using rhsbl\.test; Domain listed: spam\.example\.test')" 1
expect_eq "RHSBL sender: unlisted domain delivered" "$(delivered rhsbl-miss)" yes
expect_eq "unknown HELO hostname: 450 4.7.1" \
    "$(deferred '450 4\.7\.1 <bad\.nx\.test>: Helo command rejected: Host not found')" 1
expect_eq "known HELO hostname: delivered" "$(delivered helo-good)" yes
expect_eq "no PTR: reject_unknown_reverse_client_hostname defers (450 4.7.1)" \
    "$(deferred '450 4\.7\.1 Client host rejected: cannot find your reverse hostname, \[192\.0\.2\.32\]')" 1
expect_eq "a PTR that does not resolve back still has a reverse name: delivered" \
    "$(delivered rclient-ptr)" yes
expect_eq "PTR whose name does not resolve back: reject_unknown_client_hostname defers (450 4.7.25)" \
    "$(deferred '450 4\.7\.25 Client host rejected: cannot find your hostname, \[192\.0\.2\.31\]')" 1
expect_eq "PTR and forward lookup agree: delivered" "$(delivered client-good)" yes
expect_eq "RHSBL helo: listed HELO name rejected" \
    "$(bounced '554 5\.7\.1 Service unavailable; Helo command \[bad-helo\.test\] blocked using rhsbl\.test')" 1
expect_eq "RHSBL reverse client: the PTR name (looked up by scand) is listed" \
    "$(bounced '554 5\.7\.1 Service unavailable; Unverified Client host \[ptr-bad\.test\] blocked using rhsbl\.test')" 1
expect_eq "rbl_reply_maps: the mapped template, expanded" \
    "$(bounced '554 5\.7\.1 Mapped: 127\.0\.0\.2 is on bl\.test (Listed: see http://bl\.test/q?127\.0\.0\.2)')" 1
expect_eq "nothing was lost: every message delivered, bounced or still queued" \
    "$(($(ls "$SINKDIR"/*.eml 2>/dev/null | wc -l) + $(grep -c 'postfix/smtp\[.*status=bounced' "$W/pf/maillog") + $(it_queue_count)))" 24

# 50 messages at once whose DNSBL lookups all time out (1 s each): with
# lookups that blocked a worker, 50 would take 50 s per worker's share.
start=$(date +%s.%N)
pids=()
for i in $(seq 100 149); do
    send "par$i" "192.0.2.$i" x@mx-only.test tbl@sink.test &
    pids+=($!)
done
wait "${pids[@]}"
check "50 parallel messages with timing-out DNSBL lookups delivered within 40 s" \
    bash -c "for i in \$(seq 40); do [ \$(grep -l -a '^Message-ID: <par1[0-4][0-9].0@it.test>' $SINKDIR/*.eml 2>/dev/null | wc -l) -ge 50 ] && exit 0; sleep 1; done; exit 1"
end=$(date +%s.%N)
log "50 parallel messages, each with a 1 s DNSBL timeout: $(python3 -c "print(round($end - $start, 1))") s from first send to last delivery (serialised: >= 50 s)"
expect_eq "parallel: 50 lookups started, 50 warnings" \
    "$(grep -c 'warning: 1[0-4][0-9]\.2\.0\.192\.tbl\.test: RBL lookup error' "$W/scand.log")" 50

# Test mode: the queries, their answers, and the second recipient's cache hit.
out=$("$SCAND_BIN" -c "$W/scand.conf" -t --explain --client-addr 127.0.0.2 -f x@mx-only.test \
    -- rbl@sink.test rbl@sink.test </dev/null 2>&1)
expect_eq "test mode: listed client rejected for both recipients" \
    "$(echo "$out" | grep -c '^rbl@sink.test: reject 554 5.7.1 Service unavailable; Client host \[127.0.0.2\] blocked using bl.test; Listed')" 2
check "test mode explain: the query and its answer" grep -q '2\.0\.0\.127\.bl\.test A: 127\.0\.0\.2' <<<"$out"
check "test mode explain: the second recipient's answer from the cache" grep -q 'cached' <<<"$out"
it_done
