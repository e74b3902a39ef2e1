#!/usr/bin/env bash
# SMTP smuggling, straight to scand: each payload (\n.\n, \n.\r\n, \r\n.\n,
# \r.\r, \r\n.\r, \r\n.\r\r\n) followed by a fake "MAIL FROM:<evil@x> ..."
# inside DATA. scand answers exactly one end-of-DATA reply per payload; the
# sink gets exactly one message per payload, with the fake MAIL FROM as text,
# and never a message from evil@x. (The 10026 smtpd runs with
# smtpd_forbid_bare_newline=reject, so a bare LF from scand would fail loudly.)
set -u
. "$(dirname "$0")/lib.sh"
it_init smuggling "${1:-build}"
it_start_all
out=$($IT_PY smuggle --port "$SCAN" --rcpt r@sink.test --tag smug 2>&1)
rc=$?
while IFS= read -r l; do log "$l"; done <<<"$out"
expect_eq "one reply per payload from scand" "$rc" 0
check "queue drained within 60s" it_wait_queue_empty 60
expect_eq "messages at the sink with the payload tag" "$(it_unique smug)" 6
expect_eq "duplicates" "$(it_dups smug)" 0
expect_eq "messages at the sink in total" "$(ls "$SINKDIR"/*.eml 2>/dev/null | wc -l)" 6
expect_eq "messages containing the fake MAIL FROM as text" "$(it_sink_grep 'MAIL FROM:<evil@x>')" 6
expect_eq "messages with envelope sender evil@x" "$(grep -l 'evil@x' "$SINKDIR"/*.env 2>/dev/null | wc -l)" 0
expect_eq "bare-newline rejections at the 10026 smtpd" "$(grep -c -i 'bare <LF>\|bare newline' "$W/pf/maillog")" 0
it_done
