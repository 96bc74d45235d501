#!/bin/sh
# The embedded default: a local redis-server (AOF on) in a temp dir on a free port, a single-node Apache
# Kafka (scripts/kafka.sh; with ANDON_KAFKA=dev the development broker andon-devkafka instead), and the
# worker in the foreground. Ctrl-C stops all three. Usage: run-dev.sh BUILD_DIR
set -eu
build=${1:-build}
bin=$build/bin
kafka_sh=$(dirname "$0")/kafka.sh
dir=$(mktemp -d /tmp/andon-dev-XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	[ -f "$dir/kafka/nodes" ] && bash "$kafka_sh" stop "$dir/kafka"
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'kill -INT "$wpid" 2>/dev/null || true' INT TERM
wpid=""

# A free loopback port: try random ones until redis-server answers on one it started.
for try in 1 2 3 4 5 6 7 8 9 10; do
	port=$(( (($$ + try * 7919) % 20000) + 30000 ))
	# Own session: Ctrl-C reaches the worker only, which then shuts down while Redis and Kafka are still up.
	setsid redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
		--appendfsync everysec --logfile "$dir/redis.log" &
	rpid=$!
	i=0
	while [ $i -lt 50 ] && ! redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
	if redis-cli -p "$port" ping >/dev/null 2>&1; then pids="$pids $rpid"; break; fi
	kill "$rpid" 2>/dev/null || true
	port=""
done
[ -n "$port" ] || { echo "run-dev: could not start redis-server" >&2; exit 1; }

if [ "${ANDON_KAFKA:-real}" = dev ]; then
	setsid "$bin/andon-devkafka" -q -f "$dir/bootstrap" >/dev/null &
	pids="$pids $!"
	i=0
	while [ ! -s "$dir/bootstrap" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	brokers=$(cat "$dir/bootstrap")
	kafka="dev broker    $brokers (librdkafka's mock; topics andon.requests, andon.replies, andon.events, andon.dlq)"
	# The mock holds an empty fetch for all of fetch.wait.max.ms (DEV-BROKER.md) and has no controller to
	# create topics with (it creates them on first use).
	kafka_opts="-X fetch.wait.max.ms=5 -o topics.create=0"
else
	bash "$kafka_sh" fetch
	echo "run-dev: starting Apache Kafka (one node) in $dir/kafka"
	brokers=$(bash "$kafka_sh" start "$dir/kafka")
	kafka="Kafka         $brokers (Apache Kafka, one KRaft node, log in $dir/kafka/node-1/server.log)"
	kafka_opts=""
fi

# Signed requests, as in production: a master key, a development key allowed everything in the default
# account, and its credentials in a file the tools read (ANDON_SHARED_CREDENTIALS_FILE).
keys="$bin/andon-keys -o redis.port=$port -o security.master_key_file=$dir/master.key"
$keys -q master-key "$dir/master.key" >/dev/null
devkey=$($keys -q create -a 123456789012 \
	-P '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
key_id=$(printf '%s' "$devkey" | sed 's/.*"accessKeyId":"\([^"]*\)".*/\1/')
secret=$(printf '%s' "$devkey" | sed 's/.*"secretAccessKey":"\([^"]*\)".*/\1/')
umask 077
printf 'access_key_id = %s\nsecret_access_key = %s\n' "$key_id" "$secret" > "$dir/credentials"
umask 022

cat <<MSG
Andon development stack
  redis-server  127.0.0.1:$port (AOF on, data in $dir)
  $kafka
  security.auth required; development key $key_id (account 123456789012, allowed everything),
                secret $secret, in $dir/credentials
In another terminal:
  export ANDON_SHARED_CREDENTIALS_FILE=$dir/credentials
  $bin/andon-send -b $brokers StepFunctions.CreateStateMachine name=orders
  $bin/andon-send -b $brokers StepFunctions.StartExecution stateMachineArn=arn:aws:states:us-east-1:123456789012:stateMachine:orders name=run-1
  $bin/andon-send -b $brokers StepFunctions.StopExecution executionArn=arn:aws:states:us-east-1:123456789012:execution:orders:run-1 error=Halted
  $bin/andon-tail -b $brokers -t andon.events -o beginning
  $keys list
Ctrl-C stops everything.
MSG
# shellcheck disable=SC2086 # kafka_opts is a list of arguments
"$bin/andon-worker" -b "$brokers" -o "redis.port=$port" -o security.auth=required \
	-o "security.master_key_file=$dir/master.key" $kafka_opts -X session.timeout.ms=6000 &
wpid=$!
# The first wait returns when a signal arrives; the second waits for the worker's own shutdown.
wait "$wpid" || true
wait "$wpid" 2>/dev/null || true
