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
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${SCAND_BUILD_DIR:-$ROOT/build-test}
FILTER=${1:-}
PASS=0
FAIL=0

say() { printf '\n=== %s\n' "$*"; }

PKGS="build-essential cmake pkg-config libevent-dev libpcre2-dev libgmime-3.0-dev
libssl-dev libcmocka-dev postfix postfix-pcre swaks python3 iproute2 procps bsdutils"

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

echo
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
