#!/usr/bin/env bash
# A corpus of MIME messages (mime_corpus.py: multipart/alternative, mixed
# with attachments named with RFC 2231 continuations and RFC 2047 encoded
# words in KOI8-R and ISO-8859-1, nested messages, deep nesting, too many
# parts, broken boundaries, ambiguous MIME, missing headers, 8-bit,
# SMTPUTF8, a DSN) through the real sandwich with a realistic rule set
# (issue 4). Each message has its own recipient; for each the outcome is
# checked: delivered byte-identical (less what IGNORE removes, plus the
# Received/missing headers Postfix adds), bounced by Postfix with the rule's
# text, discarded, or held on Postfix's hold queue (then released and
# delivered byte-identical). Every message is accounted for.
# IT_SCAN_PROTO=lmtp runs it over the LMTP scan entry.
set -u
. "$(dirname "$0")/lib.sh"
it_init mime-corpus "${1:-build}"
CORPUS="python3 $IT_LIB_DIR/mime_corpus.py"
T=$W/tables
C=$W/corpus
mkdir -p "$T"
cat >"$T/header_checks" <<'EOT'
/^X-Mailer: BadMailer/          HOLD held by the corpus rule
/^X-Internal-Trace:/            IGNORE
EOT
cat >"$T/body_checks" <<'EOT'
/^CORPUS-DISCARD-TRIGGER: /     DISCARD corpus trigger line
EOT
# Postfix's pcre tables match case-insensitively by default and the "i"
# flag TOGGLES that (pcre_table(5)): /\.(exe|...)$/i would let "SETUP.EXE"
# through. The .bat/.cmd line has the flag on purpose (c35, c36).
cat >"$T/attachment_name_checks" <<'EOT'
/\.(exe|scr|js|vbs)$/           REJECT Executable attachments are not accepted
/\.(bat|cmd)$/i                 REJECT Executable attachments are not accepted
EOT
cat >"$T/attachment_type_checks" <<'EOT'
/^application\/x-msdownload$/   REJECT Executable content type is not accepted
EOT
cat >"$T/decoded_body_checks" <<'EOT'
/wire the money now/            REJECT Fraud phrase found
/Geld sofort überweisen/        REJECT Fraud phrase found
EOT
it_start_all "header_checks = pcre:$T/header_checks
body_checks = pcre:$T/body_checks
attachment_name_checks = pcre:$T/attachment_name_checks
attachment_type_checks = pcre:$T/attachment_type_checks
decoded_body_checks = pcre:$T/decoded_body_checks"

# run_verify [--released]: mime_corpus.py's ok/FAIL lines counted as ours.
run_verify() {
    local status rest
    postqueue -c "$PFC" -j >"$W/queue.json" 2>/dev/null
    while IFS= read -r line; do
        status=${line%% *}
        rest=${line#* }
        case $status in
        ok) ok "$rest" ;;
        FAIL) fail "$rest" ;;
        *) echo "$line" ;;
        esac
    done < <($CORPUS verify --dir "$C" --sink "$SINKDIR" --maillog "$W/pf/maillog" \
        --scand-log "$W/scand.log" --queue "$W/queue.json" --scan-port "$SCAN" "$@" 2>&1)
}

# Bounded wait until only held mail is left in Postfix's queue.
only_held_left() {
    local i
    for ((i = 0; i < ${1:-60}; i++)); do
        [ "$(postqueue -c "$PFC" -j 2>/dev/null | grep -vc '"queue_name": *"hold"')" -eq 0 ] && return 0
        sleep 1
    done
    return 1
}

out=$($CORPUS gen --dir "$C")
log "$out"
N=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$C/manifest.json")
out=$($CORPUS send --dir "$C" --port "$FRONT" \
    --xclient "NAME=mx.client.example ADDR=192.0.2.7 HELO=helo.client.example" 2>&1)
log "$out"
check "front smtpd accepted all $N corpus messages" grep -q "^sent $N accepted $N\$" <<<"$out"
check "queue drained (held mail aside) within 60s" only_held_left 60
sleep 1 # the last log lines (postlogd, scand) land
run_verify

# Release what was held; it must reach the sink unchanged.
held=$(postqueue -c "$PFC" -j | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m["queue_name"]=="hold": print(m["queue_id"])')
for q in $held; do postsuper -c "$PFC" -H "$q" >/dev/null 2>&1; done
postqueue -c "$PFC" -f
check "released mail left the queue within 30s" it_wait_queue_empty 30
sleep 1
run_verify --released
it_done
