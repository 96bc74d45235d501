#!/bin/sh
# Runs integration-test binaries (or the benchmark): each starts its own redis-server and dev broker
# through tests/harness.c and the worker from BUILD/bin (or the test build BUILD/tests/andon-worker-test).
# Usage: run-integration.sh BUILD BINARY...
build=$1
shift
command -v redis-server >/dev/null || { echo "redis-server not found: run scripts/deps.sh"; exit 1; }
ANDON_BIN=$build/bin
# The worker with test-only ops (Test.Crash), for tests that need it (h_worker_program).
ANDON_TEST_WORKER=$build/tests/andon-worker-test
export ANDON_BIN ANDON_TEST_WORKER
failed=0
for t in "$@"; do
	echo "== $t"
	# A hung test must not hang CI: each binary gets at most 5 minutes.
	timeout -k 10 300 "$t" || { echo "FAILED: $t"; failed=$((failed + 1)); }
done
[ "$failed" -eq 0 ] || { echo "$failed integration test binary(ies) failed"; exit 1; }
