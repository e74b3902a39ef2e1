# tests/integration/lib.sh - a private Postfix with scand in between, for tests.
#
# Source it from a test script, then:
#   it_init NAME "$1"          work dir, free ports, cleanup trap (build dir in $1)
#   it_sink_start              final destination (it.py sink) on $SINK
#   it_postfix_start           private Postfix built from deploy/'s snippets
#   it_scand_start [LINES]     scand with listen $SCAN, relay $RELAY (+ config lines)
#   it_send ARGS...            it.py send to the front smtpd ($FRONT)
#   it_wait_queue_empty SECS   bounded wait until Postfix's queue is empty
#   ok/fail/check, it_done     "ok ..."/"FAIL ..." lines and the "N passed, N failed" line
#
# Never touches /etc/postfix or a system-wide Postfix: the instance has its own
# config_directory and queue_directory under $W, listens on 127.0.0.1 only,
# does no DNS, and retries deferred mail every few seconds.
#
# Knobs (set before it_postfix_start):
#   IT_SCAN_PROTO=smtp|lmtp    which "scan" entry of master.cf.snippet is used
#   IT_FILTER=global|access    main.cf.snippet or access-filter.snippet
#   IT_FILTER_RCPTS="a@sink.test ..."   recipients listed in the FILTER map (access)
#   IT_POSTFIX_MAIN="lines"    extra main.cf lines
#   SCAND_WRAPPER="cmd args"   run scand under it (e.g. valgrind, tests/valgrind/run.sh)
#   IT_SCAND_START_SECS=N      how long scand may take to listen (default 15)
#
# scand never runs as root: started as root it switches to its `user`
# (default scand). it_init creates that system user when it is missing, and
# makes the sanitizers' log_path directories writable for it, so reports
# of workers are not lost.

IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)
IT_PY="python3 $IT_LIB_DIR/it.py"
IT_PASS=0
IT_FAIL=0
IT_PIDS=()
IT_PORTS=()
IT_SCAN_PROTO=${IT_SCAN_PROTO:-smtp}
IT_FILTER=${IT_FILTER:-global}
IT_FILTER_RCPTS=${IT_FILTER_RCPTS:-}
IT_POSTFIX_MAIN=${IT_POSTFIX_MAIN:-}
IT_PORT_LOCKS=/tmp/scand-it-ports

log() { printf '# %s\n' "$*"; }
ok() { IT_PASS=$((IT_PASS + 1)); printf 'ok %s\n' "$*"; }
fail() { IT_FAIL=$((IT_FAIL + 1)); printf 'FAIL %s\n' "$*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
    local d=$1; shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}
# expect_eq DESCRIPTION GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

# it_pick_port VAR: a free port in 30000-39999, reserved against concurrent
# runs by a lock directory that names its owner's PID.
it_pick_port() {
    local var=$1 p i owner
    mkdir -p "$IT_PORT_LOCKS"
    for ((i = 0; i < 3000; i++)); do
        p=$((30000 + (($$ * 37 + RANDOM + i * 101) % 10000)))
        if ! mkdir "$IT_PORT_LOCKS/$p" 2>/dev/null; then
            owner=$(cat "$IT_PORT_LOCKS/$p/pid" 2>/dev/null || echo 0)
            if [ "$owner" != 0 ] && kill -0 "$owner" 2>/dev/null; then continue; fi
            rm -rf "$IT_PORT_LOCKS/$p"
            mkdir "$IT_PORT_LOCKS/$p" 2>/dev/null || continue
        fi
        echo $$ >"$IT_PORT_LOCKS/$p/pid"
        if python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', $p))" 2>/dev/null; then
            IT_PORTS+=("$p")
            printf -v "$var" '%s' "$p"
            return 0
        fi
        rm -rf "$IT_PORT_LOCKS/$p"
    done
    echo "no free port" >&2
    return 1
}

# The unprivileged user scand switches to (its default `user`), as deploy/
# installs it. Concurrent tests may race to create it: only its existence
# counts.
it_scand_user() {
    id -u scand >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --shell /usr/sbin/nologin scand >/dev/null 2>&1
    id -u scand >/dev/null 2>&1 || { echo "cannot create the system user scand" >&2; return 1; }
}

# Sanitizer reports go to log_path=DIR/prefix (tests/run.sh): workers run as
# scand and must be able to create their report files there.
it_sanitizer_dirs() {
    local opts dir
    for opts in "${ASAN_OPTIONS:-}" "${UBSAN_OPTIONS:-}"; do
        dir=$(sed -n 's/.*log_path=\([^:]*\).*/\1/p' <<<"$opts")
        [ -n "$dir" ] || continue
        dir=$(dirname "$dir")
        [ -d "$dir" ] && chmod 1733 "$dir"
    done
    return 0
}

# it_init NAME BUILD_DIR
it_init() {
    IT_NAME=$1
    BUILD=${2:-$IT_ROOT/build}
    case $BUILD in /*) ;; *) BUILD=$IT_ROOT/$BUILD ;; esac
    SCAND_BIN=$BUILD/bin/scand
    W=$(mktemp -d "/tmp/scand-it.$IT_NAME.XXXXXX")
    chmod 755 "$W"
    PFC=$W/pf/etc
    PFQ=$W/pf/queue
    SINKDIR=$W/sink
    SAVED=$W/saved
    mkdir -p "$PFC" "$PFQ" "$W/pf/data" "$SINKDIR" "$SAVED"
    it_pick_port FRONT && it_pick_port SCAN && it_pick_port RELAY && it_pick_port SINK &&
        it_pick_port SPARE && it_pick_port HOLD || exit 1
    trap it_cleanup EXIT
    trap 'exit 130' INT TERM
    log "$IT_NAME: work dir $W"
    log "ports: front $FRONT, scand $SCAN, relay(10026) $RELAY, hold(10027) $HOLD, sink $SINK, spare $SPARE"
    if [ ! -x "$SCAND_BIN" ]; then
        echo "no scand binary at $SCAND_BIN" >&2
        exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
        it_scand_user || exit 1
        it_sanitizer_dirs
    fi
}

it_bg() { # it_bg LOGFILE CMD... ; sets IT_LASTPID
    "${@:2}" >>"$1" 2>&1 &
    IT_LASTPID=$!
    IT_PIDS+=("$IT_LASTPID")
}

it_kill() { # it_kill PID [SIGNAL]: signal one process we started and reap it
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# it_wait_port PORT SECS: until something listens on 127.0.0.1:PORT
it_wait_port() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then return 0; fi
        sleep 0.1
    done
    return 1
}

it_wait_port_closed() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || return 0
        sleep 0.1
    done
    return 1
}

it_sink_start() {
    it_bg "$W/sink.log" $IT_PY sink --port "$SINK" --dir "$SINKDIR"
    SINK_PID=$IT_LASTPID
    it_wait_port "$SINK" 10 || { echo "sink did not start" >&2; cat "$W/sink.log"; exit 1; }
}

# Port numbers in deploy/'s snippets are replaced by this run's ports.
it_ports_sed() {
    sed -e "s/127\.0\.0\.1\]:10025/127.0.0.1]:$SCAN/g" -e "s/127\.0\.0\.1:10026/127.0.0.1:$RELAY/g" \
        -e "s/127\.0\.0\.1:10027/127.0.0.1:$HOLD/g" "$@"
}

# master.cf.snippet, with the lmtp "scan" entry swapped in when asked.
it_master_snippet() {
    if [ "$IT_SCAN_PROTO" = lmtp ]; then
        awk '
            /^scan[ \t].*[ \t]smtp$/ { off = 1; print "#" $0; next }
            off && /^[ \t]/ { print "#" $0; next }
            { off = 0 }
            /^#scan[ \t].*[ \t]lmtp$/ { on = 1; print substr($0, 2); next }
            on && /^#[ \t]+-o / { print substr($0, 2); next }
            { on = 0; print }
        ' "$IT_ROOT/deploy/master.cf.snippet"
    else
        cat "$IT_ROOT/deploy/master.cf.snippet"
    fi | it_ports_sed
}

it_postfix_config() {
    local filter_main
    if [ "$IT_FILTER" = access ]; then
        filter_main=$(it_ports_sed "$IT_ROOT/deploy/access-filter.snippet" |
            sed "s#hash:/etc/postfix/scan_recipients#texthash:$PFC/scan_recipients#")
        : >"$PFC/scan_recipients"
        for r in $IT_FILTER_RCPTS; do
            echo "$r FILTER scan:[127.0.0.1]:$SCAN" >>"$PFC/scan_recipients"
        done
    else
        filter_main=$(it_ports_sed "$IT_ROOT/deploy/main.cf.snippet")
    fi
    cat >"$PFC/main.cf" <<EOF
# private test instance generated by tests/integration/lib.sh
compatibility_level = 3.6
queue_directory = $PFQ
data_directory = $W/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = front.it.test
mydomain = it.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = sink.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{ sink.test=smtp:[127.0.0.1]:$SINK }
default_transport = error:no delivery outside the test
local_transport = error:no local delivery in the test
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
maillog_file = $W/pf/maillog
maillog_file_prefixes = $W
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 1s
smtputf8_enable = yes
message_size_limit = 20480000
smtpd_authorized_xclient_hosts = 127.0.0.0/8
$IT_POSTFIX_MAIN

# ---- deploy/$([ "$IT_FILTER" = access ] && echo access-filter || echo main.cf).snippet ----
$filter_main
EOF
    cat >"$PFC/master.cf" <<EOF
# private test instance generated by tests/integration/lib.sh; chroot n everywhere
127.0.0.1:$FRONT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd

# ---- deploy/master.cf.snippet (scan transport: $IT_SCAN_PROTO) ----
$(it_master_snippet)
EOF
    cp "$PFC/master.cf" "$PFC/master.cf.full"
}

it_postfix_start() {
    it_postfix_config
    chown root "$PFQ"
    chown postfix "$W/pf/data"
    if ! postfix -c "$PFC" check >"$W/postfix-check.log" 2>&1; then
        cat "$W/postfix-check.log"
    fi
    if ! script -qec "postfix -c $PFC start" /dev/null >"$W/postfix-start.log" 2>&1; then
        echo "postfix start failed:" >&2
        cat "$W/postfix-start.log" "$W/pf/maillog" >&2 2>/dev/null
        exit 1
    fi
    IT_POSTFIX_UP=1
    it_wait_port "$FRONT" 20 || { echo "front smtpd not listening" >&2; exit 1; }
}

it_postfix_reload() {
    postfix -c "$PFC" reload >>"$W/postfix-start.log" 2>&1
}

# The re-injection smtpd (10026) off and on: its master.cf entry is commented
# out / restored and Postfix reloaded, as an administrator would.
it_relay_down() {
    awk -v p="127.0.0.1:$RELAY" '
        index($0, p) == 1 { off = 1; print "#" $0; next }
        off && /^[ \t]/ { print "#" $0; next }
        { off = 0; print }' "$PFC/master.cf.full" >"$PFC/master.cf"
    it_postfix_reload
    it_wait_port_closed "$RELAY" 20
}

it_relay_up() {
    cp "$PFC/master.cf.full" "$PFC/master.cf"
    it_postfix_reload
    it_wait_port "$RELAY" 20
}

# it_scand_conf [EXTRA_LINES]: write $W/scand.conf
it_scand_conf() {
    cat >"$W/scand.conf" <<EOF
# generated by tests/integration/lib.sh
listen = 127.0.0.1:$SCAN
relay = 127.0.0.1:$RELAY
hold_relay = 127.0.0.1:$HOLD
process_limit = ${IT_SCAND_PROCS:-10}
myhostname = localhost
${1:-}
EOF
}

# it_scand_start [EXTRA_CONFIG_LINES]
it_scand_start() {
    it_scand_conf "${1:-}"
    # shellcheck disable=SC2086 # the wrapper is a command with its arguments
    it_bg "$W/scand.log" ${SCAND_WRAPPER:-} "$SCAND_BIN" -F -c "$W/scand.conf"
    SCAND_PID=$IT_LASTPID
    if ! it_wait_port "$SCAN" "${IT_SCAND_START_SECS:-15}"; then
        echo "scand did not start listening on $SCAN" >&2
        tail -20 "$W/scand.log" >&2
        return 1
    fi
}

# it_start_all [SCAND_CONFIG_LINES]: sink, Postfix, scand; a failure to start
# is reported as a FAIL and ends the test.
it_start_all() {
    it_sink_start
    it_postfix_start
    if ! it_scand_start "${1:-}"; then
        fail "scand starts and listens on 127.0.0.1:$SCAN"
        it_done
    fi
}

# Lines of the 10026 smtpd's log that show XFORWARD from scand was honoured.
it_orig_client_lines() { grep -c "orig_client=$1" "$W/pf/maillog" 2>/dev/null || true; }

# Deferred recipients whose reason matches an ERE (postqueue -j); with a
# second argument "other", those with a reason that does not match. One
# snapshot of the queue either way.
it_deferred_matching() {
    postqueue -c "$PFC" -j 2>/dev/null | python3 -c '
import json, re, sys
pat = re.compile(sys.argv[1]); other = len(sys.argv) > 2; seen = set()
for line in sys.stdin:
    m = json.loads(line)
    for r in m.get("recipients", []):
        reason = r.get("delay_reason", "")
        if not reason:
            continue
        if bool(pat.search(reason)) != other:
            # showq walks the queue directories while qmgr moves files
            # between them: a message can be listed twice
            seen.add((m.get("queue_id"), r.get("address")))
print(len(seen))' "$@"
}

it_scand_workers() { pgrep -P "$SCAND_PID" | sort -n | tr '\n' ' '; }

it_send() { $IT_PY send --port "$FRONT" "$@"; }

# Number of messages in the queue (all queues).
it_queue_count() {
    postqueue -c "$PFC" -j 2>/dev/null | grep -c '"queue_id"'
}

# it_wait_queue_empty SECS: bounded; flushes the deferred queue once a second.
it_wait_queue_empty() {
    local i n
    for ((i = 0; i < $1; i++)); do
        n=$(it_queue_count)
        [ "$n" = 0 ] && return 0
        postqueue -c "$PFC" -f >/dev/null 2>&1
        sleep 1
    done
    return 1
}

# it_wait_sink N TAG SECS: until N unique messages with TAG are in the sink.
it_wait_sink() {
    local i
    for ((i = 0; i < $3 * 2; i++)); do
        [ "$(it_unique "$2")" -ge "$1" ] && return 0
        sleep 0.5
    done
    return 1
}

it_unique() { $IT_PY count --dir "$SINKDIR" --tag "$1" | awk '{print $2}'; }
it_dups() { $IT_PY count --dir "$SINKDIR" --tag "$1" | awk '{print $4}'; }
# it_sink_grep PATTERN: number of delivered files whose content matches
it_sink_grep() { grep -l -a -E -- "$1" "$SINKDIR"/*.eml 2>/dev/null | wc -l; }

it_diag() {
    echo "----- diagnostics ($IT_NAME, work dir $W) -----"
    echo "--- postqueue -p"; postqueue -c "$PFC" -p 2>&1 | tail -30
    echo "--- maillog (last 40)"; tail -40 "$W/pf/maillog" 2>/dev/null
    echo "--- scand.log (last 40)"; tail -40 "$W/scand.log" 2>/dev/null
    echo "-----"
}

it_cleanup() {
    local rc=$? pid
    trap - EXIT
    if [ "$IT_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then it_diag; fi
    if [ -n "${IT_POSTFIX_UP:-}" ]; then
        postfix -c "$PFC" stop >/dev/null 2>&1
        # Postfix's master exits after its children; make sure.
        pid=$(cat "$PFQ/pid/master.pid" 2>/dev/null | tr -d ' ')
        [ -n "$pid" ] && it_kill "$pid" TERM
    fi
    for pid in "${IT_PIDS[@]}"; do it_kill "$pid" TERM; done
    for p in "${IT_PORTS[@]}"; do rm -rf "${IT_PORT_LOCKS:?}/$p"; done
    if [ "$IT_FAIL" -eq 0 ] && [ "$rc" -eq 0 ] && [ -z "${IT_KEEP:-}" ]; then
        rm -rf "$W"
    else
        echo "# kept work dir $W"
    fi
    exit "$rc"
}

# it_done: the summary line, exit status.
it_done() {
    echo "$IT_PASS passed, $IT_FAIL failed"
    [ "$IT_FAIL" -eq 0 ]
    exit $?
}
