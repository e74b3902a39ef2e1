#!/usr/bin/env bash
# deploy/quickstart.sh - see scand work, on this machine, in a minute.
#
# Installs what is missing (Debian 12, as root), builds scand into build/,
# starts a PRIVATE Postfix instance (its own config and queue directories
# under /tmp; /etc/postfix and any system-wide Postfix are never touched) with
# scand between its two halves, all on 127.0.0.1, sends two messages and shows
# where each went. Then stops everything, or with --keep leaves it running and
# prints how to stop it.
#
#   deploy/quickstart.sh [--keep]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KEEP=
[ "${1:-}" = "--keep" ] && KEEP=1

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
indent() { sed 's/^/    /'; }

if [ "$(id -u)" != 0 ]; then
    echo "quickstart starts a private Postfix instance: run it as root" >&2
    exit 1
fi

bold "1. Packages"
PKGS="build-essential cmake pkg-config libevent-dev libpcre2-dev libgmime-3.0-dev
libssl-dev libcmocka-dev postfix postfix-pcre python3 iproute2 procps bsdutils"
missing=()
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    # "No configuration": Postfix is installed but no system-wide instance is set up.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
        { echo "apt-get failed" >&2; exit 1; }
else
    echo "all present"
fi

bold "2. Build (cmake -S . -B build && cmake --build build)"
cmake -S "$ROOT" -B "$ROOT/build" >/dev/null && cmake --build "$ROOT/build" -j"$(nproc)" | tail -1 ||
    { echo "build failed" >&2; exit 1; }
echo "built $ROOT/build/bin/scand"

bold "2b. The unprivileged user scand runs as (its default user = scand)"
# Started as root, scand binds its socket and then runs as this user; it
# refuses to start without it. A system account without a home or a shell.
if id -u scand >/dev/null 2>&1; then
    echo "user scand exists"
else
    useradd --system --no-create-home --shell /usr/sbin/nologin scand &&
        echo "created system user scand" || { echo "useradd scand failed" >&2; exit 1; }
fi

bold "3. A private Postfix with scand in between (all on 127.0.0.1)"
# shellcheck source=../tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
IT_KEEP=1
it_init quickstart "$ROOT/build" >"/tmp/scand-quickstart.ports"
it_start_all "message_size_limit = 100000
smtpd_restriction_classes = good_senders_only
good_senders_only = check_sender_access inline:{ {qq.test = REJECT 521} }, permit
smtpd_recipient_restrictions = check_recipient_access inline:{ foo@sink.test=good_senders_only }"
cat <<EOF
    front Postfix smtpd   127.0.0.1:$FRONT   (where mail comes in; config $PFC)
      -> scan transport   (deploy/master.cf.snippet, content_filter from deploy/main.cf.snippet)
    scand                 127.0.0.1:$SCAN   (config $W/scand.conf, log $W/scand.log)
      -> Postfix smtpd    127.0.0.1:$RELAY   (the re-injection smtpd of deploy/master.cf.snippet)
    final destination     127.0.0.1:$SINK   (a test sink writing each message to $SINKDIR/)
    Postfix's log         $W/pf/maillog
    scand here has message_size_limit = 100000 (Postfix's is 20480000) and one
    restriction pasted from a real main.cf: foo@sink.test only takes mail from
    good senders (smtpd_restriction_classes), and qq.test is not one of them.
EOF

bold "4. Sending three messages to the front smtpd"
echo "  a) a normal message (client set with XCLIENT: mx.example.net [192.0.2.7])"
it_send --tag passing --to alice@sink.test --from bob@sink.test \
    --xclient "NAME=mx.example.net ADDR=192.0.2.7 HELO=mx.example.net" --helo mx.example.net | indent
echo "  b) a 200 kB message: over scand's message_size_limit"
it_send --tag stopped --size 200000 --to alice@sink.test --from carol@sink.test | indent
echo "  c) a message from 318787866@qq.test to foo@sink.test and alice@sink.test"
it_send --tag rejected --to foo@sink.test --to alice@sink.test --from 318787866@qq.test | indent
echo "  waiting for Postfix's queue to empty ..."
it_wait_queue_empty 60 || echo "  (queue not empty after 60 s; see postqueue -c $PFC -p)"

show_message() { # show_message TAG
    local f ids id
    f=$($IT_PY find --dir "$SINKDIR" --msgid "<$1.0@it.test>" | head -1)
    if [ -n "$f" ]; then
        echo "  delivered to the sink: $f"
        echo "  its trace headers (newest first):"
        grep -a -A1 '^Received:' "$f" | grep -v '^--' | indent
    else
        echo "  NOT delivered to the sink"
    fi
    ids=$(grep -E "message-id=<$1\.0@it\.test>" "$W/pf/maillog" | sed -E 's/.*: ([0-9A-F]+): message-id=.*/\1/' | sort -u)
    echo "  the front Postfix's log ($W/pf/maillog):"
    ids=$(echo $ids | tr ' ' '|')
    grep -E " ($ids): " "$W/pf/maillog" | sed -E 's/^[A-Z][a-z]{2} +[0-9]+ //' | indent
    echo "  scand's log ($W/scand.log):"
    grep -E "$ids" "$W/scand.log" | indent ||
        echo "    (no line: scand never received this message)"
}

bold "5a. The normal message: passed through scand"
show_message passing

bold "5b. The qq.test message: stopped by a rule, for foo@sink.test only"
cat <<'EOF'
  scand applied the restriction class to the original envelope and answered
  Postfix's RCPT TO:<foo@sink.test> with
  "554 5.7.1 <318787866@qq.test>: Sender address rejected: 521", exactly as
  Postfix's own smtpd would; Postfix bounced that recipient alone, and
  alice@sink.test got the message.
EOF
show_message rejected

bold "5c. The big message: stopped for its size"
cat <<'EOF'
  scand announces SIZE 100000 in its EHLO reply; Postfix's scan client
  therefore refuses to send the 200 kB message and bounces it with 5.3.4 (a
  client that ignores SIZE gets scand's "552 5.3.4 Message size exceeds fixed
  limit" after DATA; tests/integration/test_size_limit.sh shows both).
  The bounce goes to the sender, carol@sink.test, who is also at the sink.
EOF
show_message stopped
b=$(grep -l '"TO:<carol@sink.test>"' "$SINKDIR"/*.env 2>/dev/null | head -1)
if [ -n "$b" ]; then
    echo "  the bounce to carol@sink.test: ${b%.env}.eml"
    grep -a -m3 -E 'Subject:|552|5\.3\.4|exceeds' "${b%.env}.eml" | indent
fi

if [ -n "$KEEP" ]; then
    trap - EXIT
    bold "Still running (--keep)"
    cat <<EOF
  send mail:    swaks --server 127.0.0.1:$FRONT --to you@sink.test --from me@sink.test
  watch:        tail -f $W/pf/maillog $W/scand.log ; ls $SINKDIR
  queue:        postqueue -c $PFC -p
  stop:         postfix -c $PFC stop; kill ${IT_PIDS[*]}; rm -rf $W
EOF
    rm -f "/tmp/scand-quickstart.ports"
    exit 0
fi
bold "Stopping (run with --keep to leave it running)"
rm -f "/tmp/scand-quickstart.ports"
IT_KEEP=
echo "done: Postfix instance stopped, scand and the sink stopped, $W removed"
exit 0
