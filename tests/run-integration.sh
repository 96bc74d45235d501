#!/bin/sh
# Runs integration-test binaries (or the benchmarks) through tests/harness.c: each starts its own
# redis-server and worker(s). The broker is one real Apache Kafka started here for the whole run
# (scripts/kafka.sh; each binary deletes the topics the previous one left), unless ANDON_KAFKA=dev (every
# binary then starts andon-devkafka, librdkafka's mock) or ANDON_BROKERS already names a broker.
# ANDON_AUTH_RERUN names binaries to run once more with every request signed (security.auth = required).
# Tests that need a worker to die on cue run BUILD/tests/andon-worker-test (test-only ops).
# Tests that kill brokers start clusters of their own under this run's folder, stopped here at the end
# even if the test was killed. Usage: run-integration.sh BUILD BINARY...
build=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
command -v redis-server >/dev/null || { echo "redis-server not found: run scripts/deps.sh"; exit 1; }
ANDON_BIN=$build/bin
# The worker with test-only ops (Test.Crash), for tests that need it (h_worker_program).
ANDON_TEST_WORKER=$build/tests/andon-worker-test
ANDON_KAFKA_SH=$here/scripts/kafka.sh
export ANDON_BIN ANDON_TEST_WORKER ANDON_KAFKA_SH

run=""
cleanup() {
	[ -n "$run" ] || return 0
	for d in "$run"/*/; do
		[ -f "$d/nodes" ] && bash "$ANDON_KAFKA_SH" stop "$d"
	done
	[ -n "${ANDON_KEEP_TMP:-}" ] && { echo "kept $run"; return 0; }
	rm -rf "$run"
}
if [ "${ANDON_KAFKA:-real}" != dev ] && [ -z "${ANDON_BROKERS:-}" ]; then
	run=$(mktemp -d /tmp/andon-run-XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	t0=$(date +%s%N)
	ANDON_BROKERS=$(bash "$ANDON_KAFKA_SH" start "$run/kafka") || { echo "could not start Kafka"; exit 1; }
	t1=$(date +%s%N)
	rss=$(ps -o rss= -p "$(cat "$run/kafka/node-1/pid")")
	echo "Kafka at $ANDON_BROKERS: started in $(( (t1 - t0) / 1000000 )) ms, RSS $((rss / 1024)) MiB"
	ANDON_KAFKA_ROOT=$run
	export ANDON_BROKERS ANDON_KAFKA_ROOT
fi

failed=0
for t in "$@"; do
	echo "== $t"
	t0=$(date +%s%N)
	# A hung test must not hang CI: each binary gets at most 5 minutes.
	timeout -k 10 300 "$t" || { echo "FAILED: $t"; failed=$((failed + 1)); }
	echo "-- $t: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
# ANDON_AUTH_RERUN: binaries run once more with security.auth = required, every request signed
# (tests/harness-auth.h), on the same broker.
for t in ${ANDON_AUTH_RERUN:-}; do
	echo "== $t (security.auth=required)"
	t0=$(date +%s%N)
	ANDON_TEST_AUTH=required timeout -k 10 300 "$t" || { echo "FAILED: $t (auth)"; failed=$((failed + 1)); }
	echo "-- $t (security.auth=required): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
if [ -n "$run" ]; then
	rss=$(ps -o rss= -p "$(cat "$run/kafka/node-1/pid")")
	echo "Kafka RSS at the end: $((rss / 1024)) MiB"
fi
[ "$failed" -eq 0 ] || { echo "$failed integration test binary(ies) failed"; exit 1; }
