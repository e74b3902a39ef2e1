#!/usr/bin/env bash
# A content check that never ends (here a POSIX regexp with back-references
# on a long Subject: minutes of work; GMime 3.2.13 has a real endless loop of
# the same kind) costs one worker per attempt and never the message:
# content_check_time_limit kills the worker, Postfix keeps the message and
# retries; after content_check_attempt_limit interrupted attempts the message
# is held (Postfix's hold queue, via hold_relay) without being checked again.
# Mail that does not trigger the pattern keeps flowing.
set -u
. "$(dirname "$0")/lib.sh"
it_init content-deadline "${1:-build}"
mkdir -p "$W/state"
python3 - "$W/slow.regexp" <<'PY'
import sys
open(sys.argv[1], "w").write("/^Subject: (.*)(.*)(.*)(.*)(.*)\\5\\4\\3\\2\\1X/ REJECT never decided\n")
PY
it_start_all "header_checks = regexp:$W/slow.regexp
content_check_time_limit = 2s
content_check_attempt_limit = 2
state_directory = $W/state"

python3 - "$FRONT" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.sendmail("sender@it.test", ["slow@sink.test"],
           "Message-ID: <slow.0@it.test>\r\nSubject: " + "a" * 120 + "d\r\n\r\nbody\r\n")
s.quit()
PY
it_send --tag normal --count 5 --to ok@sink.test >/dev/null

held_id() {
    postqueue -c "$PFC" -j | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m["queue_name"] == "hold": print(m["queue_id"])'
}
check "the message reaches the hold queue within 60s" bash -c \
    "for i in \$(seq 60); do [ -n \"\$(postqueue -c $PFC -j | grep '\"queue_name\": \"hold\"')\" ] && exit 0; sleep 1; done; exit 1"
expect_eq "one message held" "$(held_id | grep -c .)" 1
killed=$(grep -c "killed by signal 14" "$W/scand.log")
check "workers were stopped by the deadline ($killed)" test "$killed" -ge 2
expect_eq "scand said why it held it" \
    "$(grep -c 'content checks interrupted 2 times (limit 2): holding the message unchecked' "$W/scand.log")" 1
expect_eq "nothing bounced" "$(grep -c 'status=bounced' "$W/pf/maillog")" 0
expect_eq "slow message not delivered" "$(it_sink_grep '^Message-ID: <slow\.0@it\.test>')" 0
check "the other mail was delivered" bash -c \
    "for i in \$(seq 30); do [ \$(grep -l -a '^Message-ID: <normal\\.' $SINKDIR/*.eml 2>/dev/null | wc -l) -ge 5 ] && exit 0; sleep 1; done; exit 1"
expect_eq "no record left in state_directory" "$(ls "$W/state" | wc -l)" 0
it_done
