#!/usr/bin/env bash
# test_passthrough.sh with the LMTP variant of deploy/master.cf.snippet's
# "scan" entry: Postfix's lmtp client speaks LHLO to scand on the same port.
export IT_SCAN_PROTO=lmtp
exec "$(dirname "$0")/test_passthrough.sh" "$@"
