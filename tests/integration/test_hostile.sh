#!/usr/bin/env bash
# Hostile clients straight to scand (issue 6, item 4), in the real sandwich
# (scand relays to the Postfix 10026 smtpd, which delivers to the sink):
# slowloris, a 1 MB command line, 100,000 pipelined RCPTs, NUL bytes,
# invalid UTF-8 with and without SMTPUTF8, CR/LF and control characters in
# XFORWARD values and addresses, a 10 MB header line, 10,000 MIME parts,
# MIME nesting 1,000 deep (attachment_name_checks and header_checks set), a
# zero-length message, DATA without RCPT, commands after QUIT, pipelined
# garbage after DATA. hostile.py holds the cases and the replies Postfix
# 3.7.11 gives to the same bytes (and says where scand is stricter).
#
# Slowloris: smtpd_timeout bounds each read, in Postfix as in scand
# (Postfix's smtpd_per_record_deadline = no outside stress mode), so a byte
# every 2 s with smtpd_timeout = 3s keeps the session alive in both; scand
# holds at most command_line_limit octets for it and serves others
# meanwhile (checked here), and closes with 421 4.4.2 when it goes quiet.
#
# Afterwards: scand's master and workers never crashed, its log and the
# Postfix log hold no injected line and no control character, no delivered
# header (Received included) carries an injected line, a normal message still gets through, and
# the workers' peak RSS (ps -o rss of scand's children, sampled every 0.1 s)
# stays under HOSTILE_RSS_LIMIT_KB (default 200 MB); the peak is printed.
set -u
. "$(dirname "$0")/lib.sh"
HOSTILE_PY="python3 $IT_LIB_DIR/hostile.py"
RSS_LIMIT_KB=${HOSTILE_RSS_LIMIT_KB:-204800}
it_init hostile "${1:-build}"
printf '/\\.exe$/ REJECT executable attachment\n' >"$W/names.pcre"
printf '/^X-Never-Matches: / REJECT never\n' >"$W/headers.pcre"
IT_SCAND_PROCS=2 it_start_all "smtpd_timeout = 3s
attachment_name_checks = pcre:$W/names.pcre
header_checks = pcre:$W/headers.pcre"

# hostile CASE: run one case, its "ok"/"FAIL" lines counted as ours.
hostile() {
    local line
    while IFS= read -r line; do
        case $line in
        ok\ *) ok "${line#ok }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
        *) log "$line" ;;
        esac
    done < <(timeout 90 $HOSTILE_PY run --port "$SCAN" --case "$1" --tag "hostile-$1" 2>&1)
}

rm -f "$W/rss.stop"
$HOSTILE_PY rss --ppid "$SCAND_PID" --stop "$W/rss.stop" --out "$W/rss.peak" --max 240 &
RSS_PID=$!
IT_PIDS+=("$RSS_PID")

# The slowloris runs in the background (about 17 s) while the other cases
# are served: one slow client does not stop scand.
hostile slowloris >"$W/slowloris.out" &
SLOW_PID=$!
IT_PIDS+=("$SLOW_PID")
t0=$(date +%s)
for c in long_line many_rcpts nul utf8 inject header_10m mime small; do
    hostile "$c"
done
took=$(($(date +%s) - t0))
check "other clients were served while the slowloris trickled (${took}s)" kill -0 "$SLOW_PID"
wait "$SLOW_PID"
while IFS= read -r line; do
    case $line in
    ok\ *) ok "${line#ok }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    *) echo "$line" ;;
    esac
done <"$W/slowloris.out"

it_send --tag hostile-after --to after@sink.test >/dev/null
check "a normal message is delivered afterwards" it_wait_sink 1 hostile-after 30
check "the hostile messages scand accepted are delivered" it_wait_queue_empty 30
touch "$W/rss.stop"
wait "$RSS_PID"
peak=$(cat "$W/rss.peak" 2>/dev/null || echo 0)
echo "# peak worker RSS: ${peak} KB ($((peak / 1024)) MB), bound ${RSS_LIMIT_KB} KB"
check "peak worker RSS ${peak} KB < ${RSS_LIMIT_KB} KB" test "$peak" -gt 0 -a "$peak" -lt "$RSS_LIMIT_KB"

check "scand's master is still running" kill -0 "$SCAND_PID"
expect_eq "workers killed by a signal or exiting with an error" \
    "$(grep -c 'killed by signal\|exited status [1-9]' "$W/scand.log")" 0
expect_eq "scand log lines with a control character" \
    "$(grep -caP '[\x00-\x08\x0b-\x1f\x7f]' "$W/scand.log")" 0
expect_eq "injected lines in scand's log" "$(grep -ac '^X-Injected' "$W/scand.log")" 0
expect_eq "injected lines in the Postfix log" "$(grep -ac '^X-Injected' "$W/pf/maillog")" 0
expect_eq "Postfix log lines with a control character" \
    "$(grep -caP '[\x00-\x08\x0b-\x1f\x7f]' "$W/pf/maillog")" 0
expect_eq "delivered messages with an injected header line" "$(it_sink_grep '^X-Injected')" 0
xf=$(grep -la 'hostile-inject-xf@' "$SINKDIR"/*.eml 2>/dev/null | head -1)
check "the XFORWARD message is delivered" test -n "$xf"
if [ -n "$xf" ]; then
    rcv=$(sed -n '/^Received:/,/^[^ \t]/p' "$xf" | head -4 | tr -d '\r')
    while IFS= read -r l; do log "Received: $l"; done <<<"$rcv"
fi
# The 10026 smtpd honoured the XFORWARD (its Received header names the real
# peer, its log the forwarded one); scand logs the HELO neutered.
check "the 10026 smtpd logs orig_client=client.example[192.0.2.9]" \
    grep -q 'orig_client=client.example\[192.0.2.9\]' "$W/pf/maillog"
check "scand logs the XFORWARD HELO neutered" grep -q 'helo=<evil??X-Injected: helo>' "$W/scand.log"
for t in nul utf8 1m garbage; do
    check "message hostile-*-$t delivered" test "$(it_sink_grep "hostile-[a-z_0-9]*-$t@")" -ge 1
done
it_done
