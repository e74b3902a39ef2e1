#!/usr/bin/env bash
# test_testmode.sh - scand -t: one line per recipient on stdout, decisions as
# Postfix makes them (issue 3 examples), exit status, --explain, config
# errors with file:line (exit 78), usage errors (exit 64). No Postfix needed:
# test mode never relays.
#
#   tests/integration/test_testmode.sh [BUILD_DIR]
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=${1:-$IT_ROOT/build}
case $BUILD in /*) ;; *) BUILD=$IT_ROOT/$BUILD ;; esac
SCAND_BIN=$BUILD/bin/scand
[ -x "$SCAND_BIN" ] || { echo "no scand binary at $SCAND_BIN" >&2; exit 1; }
W=$(mktemp -d /tmp/scand-it.testmode.XXXXXX)
trap 'rm -rf "$W"' EXIT
T=$W/tables
mkdir -p "$T"
log "testmode: work dir $W"

# ---------------------------------------------------------------- configs

cat >"$T/protected_destinations" <<'EOF'
foo@bar.org  good_senders_only
EOF
cat >"$T/restricted_senders" <<'EOF'
qq.com  REJECT 521
EOF
cat >"$W/class.conf" <<EOF
mynetworks = 127.0.0.0/8
smtpd_restriction_classes = good_senders_only
good_senders_only = check_sender_access hash:$T/restricted_senders, permit
smtpd_recipient_restrictions = permit_mynetworks,
    check_recipient_access hash:$T/protected_destinations
EOF

cat >"$T/recipient_access" <<'EOF'
holly@brackin.net 550 Mailbox doesn't exist.
EOF
cat >"$T/helo_checks" <<'EOF'
brackin.net REJECT You are not in brackin.net
198.58.109.26 REJECT You are not 198.58.109.26
localhost REJECT You are not me
EOF
cat >"$T/sender_access" <<'EOF'
later.example DEFER try again
EOF
cat >"$W/helo.conf" <<EOF
smtpd_recipient_restrictions = reject_non_fqdn_helo_hostname, reject_non_fqdn_sender,
    reject_non_fqdn_recipient, reject_invalid_helo_hostname,
    check_recipient_access hash:$T/recipient_access,
    check_helo_access hash:$T/helo_checks,
    check_sender_access hash:$T/sender_access, permit
EOF

cat >"$T/actions" <<'EOF'
discard@example.net  DISCARD spam trap
hold@example.net     HOLD review
filter@example.net   FILTER smtp:[127.0.0.1]:10030
prepend@example.net  PREPEND X-Seen: yes
bye@example.net      521 go away
refused@example.net  REJECT refused
EOF
cat >"$W/actions.conf" <<EOF
smtpd_recipient_restrictions = check_recipient_access hash:$T/actions, permit
EOF

cat >"$W/data.conf" <<EOF
smtpd_recipient_restrictions = check_recipient_access hash:$T/actions, permit
smtpd_data_restrictions = reject
EOF

cat >"$W/bad-restriction.conf" <<EOF
# a comment
smtpd_recipient_restrictions = permit_mynetworks,
    no_such_restriction
EOF
printf '/(unclosed/ REJECT\n' >"$T/bad.pcre"
cat >"$W/bad-regex.conf" <<EOF
smtpd_sender_restrictions = check_sender_access pcre:$T/bad.pcre
EOF

# ---------------------------------------------------------------- runner

MSG=$'Subject: test mode\n\nbody\n'

# tm LABEL WANT_RC WANT_STDOUT CONF SCAND_ARGS...: exact stdout and status.
tm() {
    local label=$1 want_rc=$2 want_out=$3 conf=$4 out rc
    shift 4
    out=$(printf '%s' "$MSG" | "$SCAND_BIN" -c "$W/$conf" -t "$@" 2>"$W/stderr")
    rc=$?
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then
        ok "$label (exit $rc)"
    else
        fail "$label: exit $rc (want $want_rc)"
        printf '    got:  %s\n' "${out//$'\n'/$'\n          '}"
        printf '    want: %s\n' "${want_out//$'\n'/$'\n          '}"
        sed 's/^/    stderr: /' "$W/stderr" | tail -5
    fi
}

NL=$'\n'
MX=(--client-name mx.example --client-addr 192.0.2.7 --helo mx.example)

tm "class: qq.com to foo@bar.org only" 69 \
    "foo@bar.org: reject 554 5.7.1 <318787866@qq.com>: Sender address rejected: 521${NL}other@bar.org: accept" \
    class.conf "${MX[@]}" -f 318787866@qq.com -- foo@bar.org other@bar.org
tm "class: other sender accepted" 0 "foo@bar.org: accept" \
    class.conf "${MX[@]}" -f someone@example.com -- foo@bar.org
tm "class: subdomain of qq.com, <> brackets" 69 \
    "foo@bar.org: reject 554 5.7.1 <x@sub.qq.com>: Sender address rejected: 521" \
    class.conf "${MX[@]}" -f '<x@sub.qq.com>' -- '<foo@bar.org>'
tm "class: mynetworks permits first" 0 "foo@bar.org: accept" \
    class.conf --client-name localhost --client-addr 127.0.0.1 -f 318787866@qq.com -- foo@bar.org
tm "class: upper case shown as sent" 69 \
    "Foo@Bar.Org: reject 554 5.7.1 <A@QQ.COM>: Sender address rejected: 521" \
    class.conf "${MX[@]}" -f A@QQ.COM -- Foo@Bar.Org

tm "helo_checks: recipient table" 69 \
    "holly@brackin.net: reject 550 5.7.1 <holly@brackin.net>: Recipient address rejected: Mailbox doesn't exist.${NL}x@brackin.net: accept" \
    helo.conf "${MX[@]}" -f a@example.com -- holly@brackin.net x@brackin.net
tm "helo_checks: helo parent domain" 69 \
    "x@brackin.net: reject 554 5.7.1 <mail.brackin.net>: Helo command rejected: You are not in brackin.net" \
    helo.conf --client-name mx.example --client-addr 192.0.2.7 --helo mail.brackin.net -f a@example.com -- x@brackin.net
tm "helo_checks: non-FQDN helo first" 69 \
    "x@brackin.net: reject 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname" \
    helo.conf --client-name mx.example --client-addr 192.0.2.7 --helo localhost -f a@example.com -- x@brackin.net
tm "helo_checks: no HELO, no helo checks" 0 "x@brackin.net: accept" \
    helo.conf --client-name mx.example --client-addr 192.0.2.7 -f a@example.com -- x@brackin.net
tm "helo_checks: DEFER is 75, wins over reject" 75 \
    "holly@brackin.net: reject 550 5.7.1 <holly@brackin.net>: Recipient address rejected: Mailbox doesn't exist.${NL}x@brackin.net: defer 450 4.7.1 <a@later.example>: Sender address rejected: try again" \
    helo.conf "${MX[@]}" -f a@later.example -- holly@brackin.net x@brackin.net

tm "actions: DISCARD applies to the accepted recipients" 69 \
    "refused@example.net: reject 554 5.7.1 <refused@example.net>: Recipient address rejected: refused${NL}a@example.net: discard (reason \"spam trap\")${NL}discard@example.net: discard (reason \"spam trap\")${NL}refused@example.net: discard (reason \"spam trap\")" \
    actions.conf "${MX[@]}" -f s@example.com -- refused@example.net a@example.net discard@example.net refused@example.net
tm "actions: HOLD" 0 "hold@example.net: hold (reason \"review\")${NL}a@example.net: hold (reason \"review\")" \
    actions.conf "${MX[@]}" -f s@example.com -- hold@example.net a@example.net
tm "actions: FILTER and PREPEND shown" 0 \
    "filter@example.net: accept (filter smtp:[127.0.0.1]:10030, prepend \"X-Seen: yes\")${NL}prepend@example.net: accept (filter smtp:[127.0.0.1]:10030, prepend \"X-Seen: yes\")" \
    actions.conf "${MX[@]}" -f s@example.com -- filter@example.net prepend@example.net
tm "actions: 521 closes the session" 75 \
    "a@example.net: defer (session closed after 521)${NL}bye@example.net: reject 521 5.7.1 <bye@example.net>: Recipient address rejected: go away${NL}b@example.net: defer (session closed after 521)" \
    actions.conf "${MX[@]}" -f s@example.com -- a@example.net bye@example.net b@example.net

# A DATA rejection refuses the message for every accepted recipient; one
# refused at RCPT keeps its own reply.
out=$(printf '%s' "$MSG" | "$SCAND_BIN" -c "$W/data.conf" -t "${MX[@]}" -f s@example.com -- \
    a@example.net refused@example.net b@example.net 2>/dev/null)
rc=$?
expect_eq "data: exit status" "$rc" 69
check "data: accepted recipients get the DATA reply" \
    grep -qE '^a@example.net: reject 5[0-9][0-9] ' <<<"$out"
check "data: same reply for both" \
    test "$(sed -n 1p <<<"$out" | cut -d' ' -f2-)" = "$(sed -n 3p <<<"$out" | cut -d' ' -f2-)"
expect_eq "data: RCPT refusal kept" "$(sed -n 2p <<<"$out")" \
    "refused@example.net: reject 554 5.7.1 <refused@example.net>: Recipient address rejected: refused"

# --explain: on stderr, naming the table, the key that matched, the class.
"$SCAND_BIN" -c "$W/class.conf" -t --explain "${MX[@]}" -f 318787866@qq.com -- foo@bar.org \
    </dev/null >"$W/explain.out" 2>"$W/explain.err"
expect_eq "explain: stdout unchanged" "$(cat "$W/explain.out")" \
    "foo@bar.org: reject 554 5.7.1 <318787866@qq.com>: Sender address rejected: 521"
check "explain: names the recipient table" grep -q "protected_destinations" "$W/explain.err"
check "explain: names the sender table" grep -q "restricted_senders" "$W/explain.err"
# The domain key itself (not the sender address in headers and replies).
check "explain: the matching key qq.com" grep -qE "(^|[^@.[:alnum:]])qq\.com" "$W/explain.err"
check "explain: the class" grep -q "good_senders_only" "$W/explain.err"
check "explain: a header per recipient" grep -q "^RCPT TO:<foo@bar.org>" "$W/explain.err"
check "explain: indented by depth" grep -qE "^      +[^ ]" "$W/explain.err"

# Configuration errors: file:line on stderr, EX_CONFIG.
"$SCAND_BIN" -c "$W/bad-restriction.conf" -t -f a@example.com -- b@example.com \
    </dev/null >"$W/out" 2>"$W/err"
expect_eq "bad restriction: exit 78" "$?" 78
check "bad restriction: file and line named" grep -qE "bad-restriction.conf, line [23]: .*no_such_restriction" "$W/err"
check "bad restriction: nothing on stdout" test ! -s "$W/out"
"$SCAND_BIN" -c "$W/bad-regex.conf" -t -f a@example.com -- b@example.com \
    </dev/null >"$W/out" 2>"$W/err"
expect_eq "bad regex: exit 78" "$?" 78
check "bad regex: table file and line named" grep -qE "bad.pcre, line 1: " "$W/err"
"$SCAND_BIN" -c "$W/nonexistent.conf" -t -f a@example.com -- b@example.com </dev/null 2>/dev/null
expect_eq "missing config: exit 78" "$?" 78

# Usage errors.
"$SCAND_BIN" -c "$W/class.conf" -t -- b@example.com </dev/null 2>/dev/null
expect_eq "usage: no -f" "$?" 64
"$SCAND_BIN" -c "$W/class.conf" -t -f a@example.com </dev/null 2>/dev/null
expect_eq "usage: no recipient" "$?" 64
"$SCAND_BIN" -c "$W/class.conf" -f a@example.com -- b@example.com </dev/null 2>/dev/null
expect_eq "usage: -f without -t" "$?" 64

# The null sender.
tm "null sender with -f ''" 0 "foo@bar.org: accept" class.conf "${MX[@]}" -f '' -- foo@bar.org
tm "null sender with -f '<>'" 0 "foo@bar.org: accept" class.conf "${MX[@]}" -f '<>' -- foo@bar.org

it_done
