#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets (clang, SCAND_FUZZ=ON) and
# run each for SECONDS, after replaying its regression inputs.
#
#   tests/fuzz/run.sh SECONDS [NAME...]     default: every tests/fuzz/fuzz_*.c
#   SCAND_FUZZ_BUILD_DIR=DIR                build directory (default build-fuzz)
#
# Per target: the committed seeds (corpus/NAME/) are copied into a scratch
# corpus under the build directory (new inputs never touch the repository),
# regress/NAME/* are replayed once each (the fuzzer binary given files runs
# them and exits), then the fuzzer runs SECONDS with dict/ where one fits.
# A crash, leak, sanitizer report or hang (-timeout) is saved under
# tests/fuzz/crashes/ (gitignored): replay it with build-fuzz/bin/NAME FILE.
# One "ok NAME"/"FAIL NAME" line per target, then "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
FUZZ=$ROOT/tests/fuzz
SECS=${1:-10}
shift || true
BUILD=${SCAND_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
PASS=0
FAIL=0

case $SECS in '' | *[!0-9]*) echo "usage: $0 SECONDS [NAME...]" >&2; exit 2 ;; esac

if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=()
    for f in "$FUZZ"/fuzz_*.c; do TARGETS+=("$(basename "$f" .c)"); done
fi

if ! command -v clang >/dev/null; then
    echo "clang not found (apt-get install clang libclang-rt-14-dev)"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! { CC=clang cmake -S "$ROOT" -B "$BUILD" -DSCAND_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
    cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >"$BUILD/fuzz-build.log" 2>&1; }; then
    cat "$BUILD/fuzz-build.log" 2>/dev/null | tail -40
    echo "FAIL fuzz build"
    echo "0 passed, 1 failed"
    exit 1
fi

mkdir -p "$FUZZ/crashes"
# The targets write their table files under TMPDIR: one scratch directory,
# removed at the end.
SCRATCH=$(mktemp -d /tmp/scand-fuzz.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR=$SCRATCH
dict_for() {
    case $1 in
    fuzz_smtp_server) echo "$FUZZ/dict/smtp.dict" ;;
    fuzz_smtp_client) echo "$FUZZ/dict/reply.dict" ;;
    fuzz_dns_reply) echo "$FUZZ/dict/dns.dict" ;;
    esac
}

# replay NAME LOG: every regression input once; 0 when all pass.
replay() {
    local name=$1 log=$2 files=()
    [ -d "$FUZZ/regress/$name" ] || return 0
    mapfile -t files < <(find "$FUZZ/regress/$name" -type f | sort)
    [ ${#files[@]} -eq 0 ] && return 0
    timeout -k 5 300 "$BUILD/bin/$name" -timeout=20 "${files[@]}" >>"$log" 2>&1
}

for name in "${TARGETS[@]}"; do
    bin=$BUILD/bin/$name
    log=$BUILD/$name.log
    work=$BUILD/fuzz-corpus/$name
    : >"$log"
    start=$(date +%s)
    if ! replay "$name" "$log"; then
        tail -40 "$log"
        echo "FAIL $name: a regression input in tests/fuzz/regress/$name fails"
        FAIL=$((FAIL + 1))
        continue
    fi
    mkdir -p "$work"
    [ -d "$FUZZ/corpus/$name" ] && cp -n "$FUZZ/corpus/$name"/* "$work"/ 2>/dev/null
    args=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$FUZZ/crashes/$name-")
    # In CI the exploration is seeded, so a run is repeatable; by hand it is not.
    [ "${CI:-}" = true ] && args+=(-seed=1)
    d=$(dict_for "$name")
    [ -n "$d" ] && args+=(-dict="$d")
    # The targets log through util/msg to stderr: -close_fd_mask=2 keeps
    # that out of the log, while libFuzzer still reports on its own copy.
    timeout -k 10 $((SECS + 120)) "$bin" "${args[@]}" -close_fd_mask=2 "$work" >>"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "ok $name (${took}s, ${execs:-?} runs)"
        PASS=$((PASS + 1))
    else
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" | head -20
        echo "FAIL $name (exit $rc, ${took}s; log $log)"
        FAIL=$((FAIL + 1))
    fi
done

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
