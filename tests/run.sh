#!/usr/bin/env bash
# tests/run.sh - THE test command: install what is missing (Debian 12), build
# into build-test/, run the cmocka unit tests (ctest), then every
# tests/integration/test_*.sh against a private Postfix on loopback.
# Ends with one line "N passed, N failed"; exit status non-zero when anything
# failed. Runs as root (Postfix's master needs it); needs no stdin.
#
#   tests/run.sh                 everything
#   tests/run.sh passthrough     only integration tests whose name contains "passthrough"
#   SCAND_SKIP_UNIT=1 tests/run.sh   integration only
#   SCAND_SKIP_HARDENING=1 tests/run.sh   without the sanitizer and fuzz stages
#
# After the integration tests (full runs only, no FILTER): the ASan+UBSan
# build (build-test-asan) runs ctest and a subset of the integration tests,
# failing on any sanitizer report; then tests/fuzz/run.sh replays the fuzz
# regression inputs and runs each fuzzer (SCAND_FUZZ_SECONDS, default 60 in
# CI, as the hardening issue asks, 10 otherwise).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${SCAND_BUILD_DIR:-$ROOT/build-test}
FILTER=${1:-}
PASS=0
FAIL=0

say() { printf '\n=== %s\n' "$*"; }

PKGS="build-essential cmake pkg-config libevent-dev libpcre2-dev libgmime-3.0-dev
libssl-dev libcmocka-dev postfix postfix-pcre swaks python3 iproute2 procps bsdutils
clang libclang-rt-14-dev libc-ares-dev unbound"

install_missing() {
    local missing=() p
    for p in $PKGS; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && { echo "all packages present"; return 0; }
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages (${missing[*]}); run as root to install them" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    # Postfix without questions and without configuring a system-wide
    # instance: the tests run their own (never /etc/postfix).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || return 1
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || return 1
}

say "dependencies"
if ! install_missing; then
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "the integration tests start a private Postfix and must run as root" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

say "build ($BUILD)"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$BUILD" -j"$(nproc)"; }; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

if [ -z "${SCAND_SKIP_UNIT:-}" ] && [ -z "$FILTER" ]; then
    say "unit tests (ctest)"
    out=$(cd "$BUILD" && ctest --output-on-failure --timeout 300 2>&1)
    echo "$out"
    if summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' <<<"$out"); then
        f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
        t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
        PASS=$((PASS + t - f))
        FAIL=$((FAIL + f))
    elif grep -q 'No tests were found' <<<"$out"; then
        echo "(no unit tests registered)"
    else
        echo "ctest did not report"
        FAIL=$((FAIL + 1))
    fi
fi

say "integration tests (private Postfix on 127.0.0.1)"
for t in "$ROOT"/tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && continue
    say "$name"
    log=$(mktemp "/tmp/scand-run.$name.XXXXXX")
    start=$(date +%s)
    timeout -k 10 900 bash "$t" "$BUILD" </dev/null >"$log" 2>&1 &
    wait $!
    rc=$?
    cat "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed}
        PASS=$((PASS + p))
        FAIL=$((FAIL + f))
        [ "$rc" != 0 ] && [ "$f" = 0 ] && { echo "FAIL $name exited $rc"; FAIL=$((FAIL + 1)); }
    else
        # No summary line: count its ok/FAIL lines, and its exit status.
        p=$(grep -c -E '^ok' "$log")
        f=$(grep -c -E '^FAIL' "$log")
        echo "($name printed no \"N passed, N failed\" line: counted $p ok, $f FAIL lines)"
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
            echo "FAIL $name exited $rc"
            f=1
        fi
        PASS=$((PASS + p))
        FAIL=$((FAIL + f))
    fi
    echo "--- $name: $(( $(date +%s) - start ))s, exit $rc"
    rm -f "$log"
done

# count_ctest OUTPUT: add ctest's summary to PASS/FAIL.
count_ctest() {
    local summary f t
    if summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' <<<"$1"); then
        f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
        t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
        PASS=$((PASS + t - f))
        FAIL=$((FAIL + f))
    else
        echo "ctest did not report"
        FAIL=$((FAIL + 1))
    fi
}

# count_summary LOG RC NAME: add a "N passed, N failed" line (or the exit
# status when there is none) to PASS/FAIL.
count_summary() {
    local line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed}
        PASS=$((PASS + p))
        FAIL=$((FAIL + f))
        [ "$2" != 0 ] && [ "$f" = 0 ] && { echo "FAIL $3 exited $2"; FAIL=$((FAIL + 1)); }
    else
        echo "FAIL $3: no summary line (exit $2)"
        FAIL=$((FAIL + 1))
    fi
}

# Sanitizer reports: every ASan/UBSan/LSan report of any process of the
# ASan build (scand's master and workers included) lands in SAN_DIR; a
# report fails the stage it appeared in.
SAN_BUILD=${SCAND_ASAN_BUILD_DIR:-$ROOT/build-test-asan}
SAN_DIR=/tmp/scand-asan.$$
san_reports() {
    local f n=0
    for f in "$SAN_DIR"/*; do
        [ -e "$f" ] || continue
        echo "FAIL sanitizer report $(basename "$f"):"
        grep -E 'ERROR|SUMMARY|runtime error|^ +#[0-9] ' "$f" | head -30
        n=$((n + 1))
    done
    rm -f "$SAN_DIR"/*
    FAIL=$((FAIL + n))
    [ "$n" -eq 0 ]
}

SAN_TESTS="test_passthrough test_restrictions test_smuggling test_mime_corpus test_max_use
test_lmtp test_signals test_content_deadline test_dns"
if [ -z "$FILTER" ] && [ -z "${SCAND_SKIP_HARDENING:-}" ]; then
    stage_start=$(date +%s)
    say "sanitizers: ASan+UBSan build ($SAN_BUILD)"
    if ! { cmake -S "$ROOT" -B "$SAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DSCAND_SANITIZE=ON >/dev/null &&
        cmake --build "$SAN_BUILD" -j"$(nproc)" >"$SAN_BUILD.log" 2>&1; }; then
        tail -30 "$SAN_BUILD.log"
        echo "FAIL sanitizer build"
        FAIL=$((FAIL + 1))
    else
        rm -rf "$SAN_DIR"
        mkdir -p "$SAN_DIR"
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$SAN_DIR/asan"
        export UBSAN_OPTIONS="print_stacktrace=1:log_path=$SAN_DIR/ubsan"
        if [ -z "${SCAND_SKIP_UNIT:-}" ]; then
            say "sanitizers: unit tests (ctest)"
            out=$(cd "$SAN_BUILD" && ctest --output-on-failure --timeout 600 2>&1)
            echo "$out" | tail -40
            count_ctest "$out"
            san_reports
        fi
        for name in $SAN_TESTS; do
            t=$ROOT/tests/integration/$name.sh
            [ -f "$t" ] || continue
            say "sanitizers: $name"
            log=$(mktemp "/tmp/scand-run.asan.$name.XXXXXX")
            start=$(date +%s)
            timeout -k 10 900 bash "$t" "$SAN_BUILD" </dev/null >"$log" 2>&1 &
            wait $!
            rc=$?
            grep -E '^(ok|FAIL)|passed,' "$log"
            count_summary "$log" "$rc" "asan $name"
            san_reports
            echo "--- asan $name: $(( $(date +%s) - start ))s, exit $rc"
            rm -f "$log"
        done
        unset ASAN_OPTIONS UBSAN_OPTIONS
        rm -rf "$SAN_DIR"
    fi
    echo "--- sanitizer stage: $(( $(date +%s) - stage_start ))s"

    stage_start=$(date +%s)
    if [ -n "${CI:-}" ]; then secs=${SCAND_FUZZ_SECONDS:-60}; else secs=${SCAND_FUZZ_SECONDS:-10}; fi
    say "fuzzing: tests/fuzz/run.sh $secs"
    log=$(mktemp /tmp/scand-run.fuzz.XXXXXX)
    SCAND_FUZZ_BUILD_DIR=${SCAND_FUZZ_BUILD_DIR:-$ROOT/build-test-fuzz} \
        timeout -k 10 1800 bash "$ROOT/tests/fuzz/run.sh" "$secs" </dev/null >"$log" 2>&1 &
    wait $!
    rc=$?
    cat "$log"
    count_summary "$log" "$rc" "fuzz"
    rm -f "$log"
    echo "--- fuzz stage: $(( $(date +%s) - stage_start ))s"
fi

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
