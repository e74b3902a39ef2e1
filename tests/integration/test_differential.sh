#!/usr/bin/env bash
# test_differential.sh - the same restrictions in Postfix's smtpd and in scand
# (tests/differential/cases/*.case): MAIL/RCPT replies compared exactly,
# Postfix driven with XCLIENT, scand with XFORWARD, and scand -t checked
# against the same answers. One private Postfix, reloaded per case.
#
#   tests/integration/test_differential.sh [BUILD_DIR] [CASE_SUBSTRING]
set -uo pipefail
. "$(dirname "$0")/lib.sh"

it_init differential "${1:-}"
DIFF_DIR=$IT_ROOT/tests/differential
it_sink_start
it_postfix_start

python3 "$DIFF_DIR/difftest.py" --build "$BUILD" --pfc "$PFC" --work "$W/diff" \
    --front "$FRONT" --scan "$SCAN" --sink "$SINK" --only "${2:-}" \
    "$DIFF_DIR"/cases/*.case | tee "$W/difftest.out"
rc=${PIPESTATUS[0]}
IT_PASS=$(grep -c '^ok ' "$W/difftest.out")
IT_FAIL=$(grep -c '^FAIL ' "$W/difftest.out")
[ "$rc" -eq 0 ] || [ "$IT_FAIL" -gt 0 ] || IT_FAIL=1
# difftest.py printed the summary line; lib.sh's cleanup keeps $W on failure.
[ "$IT_FAIL" -eq 0 ]
