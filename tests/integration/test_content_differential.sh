#!/usr/bin/env bash
# test_content_differential.sh - the same header_checks, mime_header_checks,
# nested_header_checks and body_checks in Postfix's cleanup and in scand
# (tests/differential/content/*.case): the same messages sent to both;
# end-of-DATA replies, discarded/held/delivered and the delivered message
# compared, and scand -t --print-message checked against the same outcome.
# One private Postfix (front smtpd -> cleanup -> sink, no content filter),
# reloaded per case; scand relays to one sink and holds to another.
#
#   tests/integration/test_content_differential.sh [BUILD_DIR] [CASE_SUBSTRING]
set -uo pipefail
. "$(dirname "$0")/lib.sh"

it_init content_differential "${1:-}"
DIFF_DIR=$IT_ROOT/tests/differential/content
it_pick_port SC_SINK && it_pick_port SC_HOLD || exit 1
it_sink_start
mkdir -p "$W/sc-sink" "$W/sc-hold"
it_bg "$W/sc-sink.log" $IT_PY sink --port "$SC_SINK" --dir "$W/sc-sink"
it_bg "$W/sc-hold.log" $IT_PY sink --port "$SC_HOLD" --dir "$W/sc-hold"
it_wait_port "$SC_SINK" 10 && it_wait_port "$SC_HOLD" 10 || { echo "sinks did not start" >&2; exit 1; }
it_postfix_start

python3 "$DIFF_DIR/contentdiff.py" --build "$BUILD" --pfc "$PFC" --work "$W/diff" \
    --front "$FRONT" --scan "$SCAN" --pf-sink-dir "$SINKDIR" \
    --sc-sink "$SC_SINK" --sc-sink-dir "$W/sc-sink" \
    --sc-hold "$SC_HOLD" --sc-hold-dir "$W/sc-hold" --only="${2:-}" \
    "$DIFF_DIR"/*.case | tee "$W/contentdiff.out"
rc=${PIPESTATUS[0]}
IT_PASS=$(grep -c '^ok ' "$W/contentdiff.out")
IT_FAIL=$(grep -c '^FAIL ' "$W/contentdiff.out")
[ "$rc" -eq 0 ] || [ "$IT_FAIL" -gt 0 ] || IT_FAIL=1
# contentdiff.py printed the summary line; lib.sh's cleanup keeps $W on failure.
[ "$IT_FAIL" -eq 0 ]
