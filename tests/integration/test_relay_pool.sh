#!/usr/bin/env bash
# Relay connections belong to transactions, not to idle client connections.
# Five clients each send one message to scand and then stay connected and
# idle (as Postfix's connection cache does between deliveries). While they
# sit idle, scand must not keep five connections open to the relay: each
# would pin one process of the 10026 smtpd, and with more cached
# connections than that smtpd's maxproc new transactions would wait for
# them. scand gives the connection back to the worker's pool at the end of
# each transaction and closes it after smtp_connection_cache_time_limit (2 s).
set -u
. "$(dirname "$0")/lib.sh"
it_init relay-pool "${1:-build}"
it_sink_start
it_scand_start "relay = 127.0.0.1:$SINK" || { fail "scand starts"; it_done; }

established() { ss -Htn state established "$1" 2>/dev/null | wc -l; }

python3 - "$SCAN" >"$W/clients.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
def cmd(f, s, line):
    s.sendall(line.encode() + b"\r\n")
    reply = f.readline()
    while reply[3:4] == b"-":
        reply = f.readline()
    return reply
conns = []
for i in range(5):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    f.readline()
    cmd(f, s, "EHLO client.it.test")
    cmd(f, s, "MAIL FROM:<sender@it.test>")
    cmd(f, s, "RCPT TO:<r%d@sink.test>" % i)
    cmd(f, s, "DATA")
    r = cmd(f, s, "Message-ID: <pool%d.0@it.test>\r\nSubject: pool\r\n\r\nbody\r\n." % i)
    print("end of data:", r.decode().strip(), flush=True)
    conns.append((s, f))
time.sleep(8)
for s, f in conns:
    cmd(f, s, "QUIT")
    s.close()
PY
CLIENTS=$!
sleep 1
expect_eq "five messages accepted" "$(grep -c 'end of data: 250' "$W/clients.log")" 5
sleep 3
up=$(established "dport = :$SCAN")
down=$(established "dport = :$SINK")
log "clients idle: $up connections to scand, $down from scand to the relay"
expect_eq "the five clients are still connected" "$up" 5
expect_eq "no relay connection held for idle clients" "$down" 0
wait "$CLIENTS"
expect_eq "messages at the sink" "$(ls "$SINKDIR"/*.eml 2>/dev/null | wc -l)" 5
it_done
