#!/usr/bin/env bash
# test_relay_overflow.sh with the lmtp "scan" transport: one reply per
# recipient after DATA, each from the relay transaction that carried it.
export IT_SCAN_PROTO=lmtp
exec "$(dirname "$0")/test_relay_overflow.sh" "$@"
