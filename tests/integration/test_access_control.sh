#!/usr/bin/env bash
# Who may talk to scand (issue 6, item 5), against the real daemon and a
# private Postfix:
#  - a peer outside authorized_client_networks (here a client bound to
#    127.0.0.2, with the list set to 127.0.0.1/32 and 127.0.0.3/32) gets
#    Postfix's "554 5.7.1 ... Client host rejected: Access denied" at
#    connect, the connection is closed, and scand logs Postfix's
#    "NOQUEUE: reject: CONNECT from" line; an allowed peer gets 220;
#  - a peer outside smtpd_authorized_xforward_hosts (127.0.0.3) is not
#    offered XFORWARD and its XFORWARD gets the reply the front Postfix
#    smtpd (no smtpd_authorized_xforward_hosts) gives to the same command;
#    Postfix's scan client on 127.0.0.1 still passes the original client;
#  - workers and master never run as root; scand refuses to start with a
#    missing user, an empty user, or a uid-0 user;
#  - state_directory is made 0700 and owned by the user (an existing 0755
#    one is fixed); an interrupted check's record is 0600;
#  - CR, LF and ESC sent in XFORWARD values and addresses never reach the
#    log raw.
set -u
. "$(dirname "$0")/lib.sh"
it_init access-control "${1:-build}"
mkdir -m 0755 "$W/state"
python3 - "$W/slow.regexp" <<'PY'
import sys
open(sys.argv[1], "w").write("/^Subject: (.*)(.*)(.*)(.*)(.*)\\5\\4\\3\\2\\1X/ REJECT never decided\n")
PY
it_start_all "authorized_client_networks = 127.0.0.1/32, [::1]/128 127.0.0.3/32
smtpd_authorized_xforward_hosts = 127.0.0.1/32
header_checks = regexp:$W/slow.regexp
content_check_time_limit = 2s
state_directory = $W/state"

# talk.py SRC PORT [LINES...]: connect from SRC, print every reply line
# (greeting first), sending each line after the previous reply; "-" as a
# line waits for EOF. Bounded by socket timeouts.
cat >"$W/talk.py" <<'PY'
import socket, sys
src, port, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = socket.socket()
s.settimeout(10)
s.bind((src, 0))
s.connect(("127.0.0.1", port))
f = s.makefile("rb")
def reply():
    out = []
    while True:
        l = f.readline()
        if not l:
            out.append("EOF")
            return out
        out.append(l.rstrip(b"\r\n").decode("utf-8", "replace"))
        if l[3:4] != b"-":
            return out
for r in reply():
    print(r)
for line in lines:
    if line == "-":
        print("EOF" if f.readline() == b"" else "MORE")
        continue
    s.sendall(line.encode("utf-8", "surrogateescape").replace(b"\\r", b"\r").replace(b"\\e", b"\x1b") + b"\r\n")
    for r in reply():
        print(r)
PY
talk() { python3 "$W/talk.py" "$@" 2>&1; }

# 1. Connect-time allow-list.
out=$(talk 127.0.0.2 "$SCAN" -)
expect_eq "127.0.0.2 (not listed): 554 at connect" "$(head -1 <<<"$out")" \
    "554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: Access denied"
expect_eq "127.0.0.2: closed after the 554" "$(sed -n 2p <<<"$out")" "EOF"
sleep 0.5
expect_eq "127.0.0.2: logged as Postfix logs a client rejected at connect" \
    "$(grep -c 'NOQUEUE: reject: CONNECT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <unknown\[127\.0\.0\.2\]>: Client host rejected: Access denied; proto=SMTP$' "$W/scand.log")" 1
out=$(talk 127.0.0.1 "$SCAN" QUIT)
expect_eq "127.0.0.1 (listed): 220" "$(head -1 <<<"$out")" "220 localhost ESMTP scand"
out=$(talk 127.0.0.3 "$SCAN" QUIT)
expect_eq "127.0.0.3 (listed): 220" "$(head -1 <<<"$out")" "220 localhost ESMTP scand"

# 2. XFORWARD from a listed peer outside smtpd_authorized_xforward_hosts,
# compared with the front Postfix smtpd, which authorizes nobody.
# Greeting and HELO reply (host names differ) are left out of the comparison.
xf_script=("HELO c.example" "XFORWARD NAME=spoof.example ADDR=192.0.2.1" XFORWARD
    "MAIL FROM:<a@it.test>" "XFORWARD NAME=x.example" QUIT)
ours=$(talk 127.0.0.3 "$SCAN" "${xf_script[@]}" | tail -n +3)
theirs=$(talk 127.0.0.3 "$FRONT" "${xf_script[@]}" | tail -n +3)
log "scand:   $(tr '\n' '|' <<<"$ours")"
log "Postfix: $(tr '\n' '|' <<<"$theirs")"
expect_eq "XFORWARD refused with Postfix's reply" "$(head -1 <<<"$ours")" \
    "550 5.7.0 Error: insufficient authorization"
expect_eq "XFORWARD replies (auth, syntax, in transaction) as Postfix's" "$ours" "$theirs"
expect_eq "EHLO does not offer XFORWARD to 127.0.0.3" \
    "$(talk 127.0.0.3 "$SCAN" "EHLO c.example" QUIT | grep -c XFORWARD)" 0
expect_eq "EHLO offers XFORWARD to 127.0.0.1" \
    "$(talk 127.0.0.1 "$SCAN" "EHLO c.example" QUIT | grep -c '^250-XFORWARD ')" 1
expect_eq "XFORWARD accepted from 127.0.0.1" \
    "$(talk 127.0.0.1 "$SCAN" "EHLO c.example" "XFORWARD NAME=spoof.example" QUIT | grep -c '^250 2.0.0 Ok$')" 1

# Postfix's scan client (127.0.0.1) still carries the original client.
it_send --tag ac --count 3 --to r@sink.test \
    --xclient "NAME=mx.client.example ADDR=192.0.2.7 HELO=helo.client.example" >/dev/null
check "mail through Postfix delivered" it_wait_sink 3 ac 60
check "the 10026 smtpd saw XFORWARD's client (orig_client)" \
    test "$(it_orig_client_lines 'mx.client.example\[192.0.2.7\]')" -ge 3

# 3. Privileges.
workers=$(it_scand_workers)
root_procs=0
for pid in $SCAND_PID $workers; do
    [ "$(ps -o uid= -p "$pid" | tr -d ' ')" = 0 ] && root_procs=$((root_procs + 1))
done
check "scand has workers ($(wc -w <<<"$workers"))" test -n "$workers"
expect_eq "no scand process (master or worker) runs as uid 0" "$root_procs" 0
expect_eq "workers run as scand" \
    "$(for p in $workers; do ps -o user= -p "$p"; done | sort -u | tr -d ' ')" scand

refuses() { # refuses LABEL USER_LINE EXPECTED_MESSAGE
    local conf=$W/refuse.conf status
    printf 'listen = 127.0.0.1:%s\nrelay = 127.0.0.1:%s\n%s\n' "$SPARE" "$RELAY" "$2" >"$conf"
    timeout 10 "$SCAND_BIN" -F -c "$conf" >"$W/refuse.log" 2>&1
    status=$?
    if [ "$status" != 0 ] && [ "$status" != 124 ] && grep -qF -- "$3" "$W/refuse.log"; then
        ok "$1: exit $status, \"$3\""
    else
        fail "$1: exit $status, $(head -3 "$W/refuse.log")"
    fi
}
refuses "missing user" "user = scand-no-such-user" \
    "fatal: user scand-no-such-user: no such user"
refuses "empty user, started as root" "user =" \
    "refusing to run as root"
refuses "user with uid 0" "user = root" "fatal: user root has uid 0: refusing to run as root"

# 4. State directory and records.
expect_eq "state_directory mode and owner" "$(stat -c '%a %U' "$W/state")" "700 scand"
python3 - "$SCAN" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("c.example")
s.docmd("XFORWARD", "NAME=c.example ADDR=192.0.2.7 IDENT=SLOW1")
try:
    s.sendmail("a@it.test", ["r@sink.test"], "Subject: " + "a" * 120 + "d\r\n\r\nbody\r\n")
except Exception as e:  # the worker is stopped by the deadline
    pass
PY
rec=$(ls "$W/state" | head -1)
check "an interrupted check left a record ($rec)" test -n "$rec"
[ -n "$rec" ] && expect_eq "the record's mode and owner" \
    "$(stat -c '%a %U' "$W/state/$rec")" "600 scand"

# 5. No raw control characters in the log.
talk 127.0.0.1 "$SCAN" "EHLO c.example" \
    'XFORWARD NAME=evil+0D+0AX-Injected:+20name.example' \
    'XFORWARD HELO=a\eb\e[31m' \
    'XFORWARD NAME=c.example ADDR=192.0.2.9 HELO=h+0D+0AX-Injected:+20helo+1B[31m IDENT=ID+0D+0AX-Injected:+20ident' \
    'MAIL FROM:<a\e[31m@x>' 'MAIL FROM:<a\rX-Injected: mail@x>' \
    'MAIL FROM:<a@it.test>' 'RCPT TO:<r\e[31m@sink.test>' 'RCPT TO:<evil@sink.test>' QUIT >/dev/null
sleep 0.5
expect_eq "no ESC in scand's log" "$(grep -c $'\x1b' "$W/scand.log")" 0
expect_eq "no CR in scand's log" "$(grep -c $'\r' "$W/scand.log")" 0
expect_eq "no injected log line" "$(grep -c '^X-Injected' "$W/scand.log")" 0
check "the neutered values were logged" grep -qF 'evil??X-Injected: name.example' "$W/scand.log"
it_done
