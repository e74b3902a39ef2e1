#!/bin/bash
# test_master.sh [BUILD_DIR] - the master process, against the real binary:
# prefork, respawn after SIGKILL, SIGHUP with a broken and a good config,
# SIGTERM stop, startup errors and options. No Postfix needed: nothing is
# sent through; the relay points at a port nobody listens on.
#
# Ports: 21200-21299, derived from $$ so that concurrent runs do not collide.
set -u

BUILD=${1:-build}
SCAND=$BUILD/bin/scand
TMP=$(mktemp -d /tmp/test_master.XXXXXX)
# The master rereads its config as the unprivileged user on SIGHUP.
chmod 755 "$TMP"
CONF=$TMP/scand.conf
LOG=$TMP/scand.log
PID=
FAILED=0

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        for child in $(pgrep -P "$PID"); do kill -9 "$child" 2>/dev/null; done
        kill -9 "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSES=0
FAILS=0
ok() {
    PASSES=$((PASSES + 1))
    echo "ok - $*"
}
fail() {
    echo "FAIL - $*"
    FAILED=1
    FAILS=$((FAILS + 1))
}

# wait_until SECONDS COMMAND...: poll every 0.2 s, bounded.
wait_until() {
    local tries=$(($1 * 5))
    shift
    while [ "$tries" -gt 0 ]; do
        "$@" && return 0
        sleep 0.2
        tries=$((tries - 1))
    done
    return 1
}

children() { pgrep -P "$PID" | sort | tr '\n' ' '; }
child_count() { pgrep -P "$PID" | wc -l; }
has_children() { [ "$(child_count)" -eq "$1" ]; }
log_has() { grep -qF -- "$1" "$LOG"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

write_conf() { # LIMIT [EXTRA LINE]
    {
        echo "# test_master.sh"
        echo "listen = 127.0.0.1:$PORT"
        echo "process_limit = $1"
        echo "relay = 127.0.0.1:$RELAY_PORT"
        echo "drain_timeout = 2s"
        [ $# -gt 1 ] && echo "$2"
    } >"$CONF.new"
    mv "$CONF.new" "$CONF"
}

if [ ! -x "$SCAND" ]; then
    echo "FAIL - no binary at $SCAND (build first, or pass the build directory)"
    exit 1
fi

# Options and startup errors.
"$SCAND" -t >/dev/null 2>"$TMP/err"
status=$?
if [ $status -eq 64 ] && grep -qi "usage" "$TMP/err"; then
    ok "-t without sender and recipients is a usage error, exit 64"
else
    fail "-t: status $status, $(cat "$TMP/err")"
fi
"$SCAND" -x >/dev/null 2>&1
status=$?
[ $status -eq 64 ] && ok "unknown option exits 64" || fail "unknown option: status $status"

printf 'process_limit = 2\n\nthis line is broken\n' >"$TMP/bad.conf"
"$SCAND" -F -c "$TMP/bad.conf" 2>"$TMP/err" &
bad_pid=$!
if wait_until 5 gone $bad_pid; then
    wait $bad_pid
    status=$?
    if [ $status -ne 0 ] && grep -qF "fatal: $TMP/bad.conf, line 3: missing '='" "$TMP/err"; then
        ok "broken config at startup: fatal with file:line, status $status"
    else
        fail "broken config at startup: status $status, $(cat "$TMP/err")"
    fi
else
    kill -9 $bad_pid
    fail "broken config at startup: still running"
fi

# Start, retrying a few ports in case another program holds one.
for attempt in 0 1 2 3 4; do
    PORT=$((21200 + ($$ + attempt * 17) % 100))
    RELAY_PORT=$((21200 + ($$ + attempt * 17 + 50) % 100))
    write_conf 3
    : >"$LOG"
    "$SCAND" -F -c "$CONF" 2>>"$LOG" &
    PID=$!
    if wait_until 5 has_children 3; then
        break
    fi
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
done
if [ -z "$PID" ]; then
    echo "FAIL - scand did not start 3 workers; log:"
    cat "$LOG"
    exit 1
fi
ok "process_limit = 3 gives 3 workers on port $PORT"

if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
    exec 3>&-
    ok "the listening socket accepts connections"
else
    fail "cannot connect to 127.0.0.1:$PORT"
fi

# A worker killed is replaced (after the crash backoff).
before=$(children)
victim=$(pgrep -P "$PID" | head -1)
kill -9 "$victim"
if wait_until 10 gone "$victim" && wait_until 10 has_children 3 &&
    [ "$(children)" != "$before" ] && log_has "worker $victim killed by signal 9"; then
    ok "SIGKILLed worker $victim logged and replaced"
else
    fail "SIGKILLed worker not replaced: before [$before] now [$(children)]"
fi

# SIGHUP with a broken config: same workers, error with file:line.
before=$(children)
write_conf 0
kill -HUP "$PID"
if wait_until 5 log_has "$CONF, line 3: invalid process_limit parameter value 0 < 1"; then
    ok "SIGHUP with a broken config logs file:line"
else
    fail "SIGHUP with a broken config: no file:line error in the log"
fi
sleep 1
if [ "$(children)" = "$before" ] && kill -0 "$PID"; then
    ok "SIGHUP with a broken config keeps the same workers"
else
    fail "SIGHUP with a broken config changed workers: [$before] -> [$(children)]"
fi

# SIGHUP with a good config: a new generation of 2 replaces the old 3.
write_conf 2 "myhostname = reloaded.example"
kill -HUP "$PID"
old_gone() {
    for p in $before; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}
if wait_until 10 old_gone && wait_until 5 has_children 2; then
    ok "SIGHUP with a good config replaced the workers: [$before] -> [$(children)]"
else
    fail "SIGHUP with a good config: [$before] -> [$(children)]"
fi
log_has "reload: configuration" && ok "reload logged" || fail "reload not logged"

# SIGTERM: everything stops, the master exits 0.
last=$(children)
kill -TERM "$PID"
if wait_until 12 gone "$PID"; then
    wait "$PID"
    status=$?
    PID=
    [ $status -eq 0 ] && ok "SIGTERM: master exited 0" || fail "SIGTERM: master exit status $status"
    still=
    for p in $last; do kill -0 "$p" 2>/dev/null && still="$still $p"; done
    [ -z "$still" ] && ok "SIGTERM: no worker left" || fail "SIGTERM: workers left:$still"
else
    fail "SIGTERM: master still running after 12 s"
fi

if [ $FAILED -ne 0 ]; then
    echo "--- scand log"
    cat "$LOG"
fi
echo "$PASSES passed, $FAILS failed"
exit $FAILED
