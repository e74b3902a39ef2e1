#!/usr/bin/env bash
# Short fault-injection soak for CI: tests/soak/soak.sh with 300 messages over
# about 60 s, the same fault kinds on the faster (--fast) schedule and a fixed
# seed. Fails only when a message is lost (neither delivered nor bounced by an
# injected relay 554); duplicates from a relay 250 that never reached Postfix
# are listed with their explanation. See tests/soak/README.md.
set -u
exec bash "$(dirname "$0")/../soak/soak.sh" "${1:-build}" --messages 300 --seconds 60 --seed 42 --fast
