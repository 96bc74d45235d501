#!/bin/sh
# Runs integration-test binaries (or the benchmark): each starts its own redis-server and dev broker
# through tests/harness.c and the worker from BUILD/bin. Usage: run-integration.sh BUILD BINARY...
build=$1
shift
command -v redis-server >/dev/null || { echo "redis-server not found: run scripts/deps.sh"; exit 1; }
ANDON_BIN=$build/bin
export ANDON_BIN
failed=0
for t in "$@"; do
	echo "== $t"
	# A hung test must not hang CI: each binary gets at most 5 minutes.
	timeout -k 10 300 "$t" || { echo "FAILED: $t"; failed=$((failed + 1)); }
done
[ "$failed" -eq 0 ] || { echo "$failed integration test binary(ies) failed"; exit 1; }
