#!/usr/bin/env bash
# Per-recipient FILTER (deploy/access-filter.snippet, no global content_filter):
# a message to a listed recipient goes through scand (its "(scand)" trace
# header), one to an unlisted recipient does not, and one to both goes through
# scand whole (Postfix applies one content filter to the whole message).
set -u
. "$(dirname "$0")/lib.sh"
export IT_FILTER=access IT_FILTER_RCPTS="listed@sink.test"
it_init access-filter "${1:-build}"
it_start_all

has_scand_trace() { # has_scand_trace TAG: 1 when the delivered message has scand's header
    local f
    f=$(grep -l -a "^Message-ID: <$1\.0@it\.test>" "$SINKDIR"/*.eml 2>/dev/null | head -1)
    [ -n "$f" ] || { echo missing; return; }
    if grep -q -a -E '\(scand\)' "$f"; then echo yes; else echo no; fi
}
rcpts_of() {
    local f
    f=$(grep -l -a "^Message-ID: <$1\.0@it\.test>" "$SINKDIR"/*.eml 2>/dev/null | head -1)
    [ -n "$f" ] && python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["rcpts"])))' "${f%.eml}.env"
}

it_send --tag listed --to listed@sink.test >/dev/null
it_send --tag unlisted --to other@sink.test >/dev/null
it_send --tag both --to listed@sink.test --to other@sink.test >/dev/null
check "queue drained within 60s" it_wait_queue_empty 60
expect_eq "listed recipient: through scand" "$(has_scand_trace listed)" yes
expect_eq "unlisted recipient: not through scand" "$(has_scand_trace unlisted)" no
expect_eq "listed+unlisted: whole message through scand" "$(has_scand_trace both)" yes
expect_eq "listed+unlisted: delivered once to both" "$(rcpts_of both)" "TO:<listed@sink.test> TO:<other@sink.test>"
expect_eq "scan transport deliveries" \
    "$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$SCAN,.*status=sent" "$W/pf/maillog")" 3
expect_eq "duplicates" "$(( $(it_dups listed) + $(it_dups unlisted) + $(it_dups both) ))" 0
it_done
