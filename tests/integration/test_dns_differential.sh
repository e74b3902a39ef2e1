#!/usr/bin/env bash
# test_dns_differential.sh - DNS restriction replies of scand compared with a
# real Postfix 3.7 using the same zone data (tests/dns), both in a network
# namespace made by tests/differential/dns/run.sh (README there). Prints
# "SKIP: no network namespaces (ip netns add failed)" and exits 0 when no
# namespace can be made.
#
#   tests/integration/test_dns_differential.sh [BUILD_DIR] [CASE_SUBSTRING]
set -uo pipefail
exec bash "$(cd "$(dirname "$0")/../differential/dns" && pwd)/run.sh" "$@"
