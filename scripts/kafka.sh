#!/usr/bin/env bash
# kafka.sh: a real Apache Kafka (KRaft, combined broker+controller nodes) on loopback for development and
# tests, run straight from its Maven Central artifacts. No download but Maven's; no root needed.
#
#   kafka.sh fetch                    resolve the pinned Kafka and its logging binding into the cache (once)
#   kafka.sh start [-n 1|3] DIR       format and start a 1- or 3-node cluster in DIR (must not exist or be
#                                     empty); prints the bootstrap list and writes it to DIR/bootstrap
#   kafka.sh stop DIR                 stop the nodes started in DIR (SIGTERM, then SIGKILL after 20 s)
#   kafka.sh node-start DIR N         start node N again (same config and data; never formats)
#   kafka.sh node-kill DIR N [SIG]    send SIG (default KILL) to node N and wait until it is gone
#   kafka.sh classpath                print the classpath (for running Kafka's own main classes by hand)
#
# DIR/node-N/ holds server.properties, data/, server.log (Kafka's log) and pid; DIR/nodes the node count.
# Environment: ANDON_CACHE (default ~/.cache/andon), ANDON_KAFKA_HEAP (default 384m),
# ANDON_KAFKA_JVM_OPTS (default: the serial collector and C1 only, see launch()),
# ANDON_KAFKA_START_TIMEOUT (seconds, default 90).
set -euo pipefail

KAFKA_VERSION=4.1.1
LOG4J_VERSION=2.24.3 # Kafka 4.1 logs through slf4j-api 1.7.36: the SLF4J 1 binding, not slf4j2
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

cache=${ANDON_CACHE:-$HOME/.cache/andon}/kafka-$KAFKA_VERSION
libs=$cache/libs
heap=${ANDON_KAFKA_HEAP:-384m}
# A test node has a small heap and little load: the serial collector and C1 start faster and keep less
# memory than G1 and C2 (measured in docs/KAFKA.md, section 5).
jvm_opts=${ANDON_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k}
start_timeout=${ANDON_KAFKA_START_TIMEOUT:-90}

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}

fetch() {
	[ -f "$cache/complete" ] && return 0
	command -v mvn >/dev/null || die "mvn not found: run scripts/deps.sh"
	mkdir -p "$cache"
	cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>andon.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
	rm -rf "$libs.tmp"
	echo "kafka.sh: fetching Kafka $KAFKA_VERSION from Maven Central into $cache" >&2
	mvn -q -B -f "$cache/pom.xml" "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
		-DoutputDirectory="$libs.tmp" >&2 || die "mvn could not resolve Kafka $KAFKA_VERSION"
	ls "$libs.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "no kafka_2.13 jar in $libs.tmp"
	rm -rf "$libs"
	mv "$libs.tmp" "$libs"
	cat >"$cache/log4j2.properties" <<'EOF'
# Kafka's log for tests: INFO on the root logger (the readiness line), the chatty loggers at WARN.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
	touch "$cache/complete"
}

need_libs() {
	[ -f "$cache/complete" ] || die "Kafka $KAFKA_VERSION is not fetched: run scripts/kafka.sh fetch"
	command -v java >/dev/null || die "java not found: run scripts/deps.sh"
}

# A port nothing listens on and not yet picked for this cluster (taken: space-separated list), below Linux's
# ephemeral range (32768-60999) so the kernel does not hand it to some client meanwhile; a clash with
# another listener is caught at start and retried.
pick_port() {
	local p taken=" $1 "
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		case $taken in *" $p "*) continue ;; esac
		if ! (exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$p"); then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# Asks 127.0.0.1:port for metadata (Metadata v4, all topics) and prints the number of brokers it lists.
metadata_brokers() {
	local port=$1 reply
	reply=$(
		exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		# size 15 | api_key 3 | version 4 | correlation id 1 | client id null | topics null | auto-create 0
		printf '\x00\x00\x00\x0f\x00\x03\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\x00' >&3
		# size | correlation id | throttle_time_ms | broker count
		timeout 2 head -c 16 <&3 | od -An -tu1 -v
	) || return 1
	set -- $reply
	[ $# -eq 16 ] || return 1
	echo $((($13 << 24) | ($14 << 16) | ($15 << 8) | $16))
}

# What StorageTool random-uuid prints (16 random bytes, base64url, no padding) without starting a JVM.
new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
		case $id in -*) ;; *) break ;; esac
	done
	echo "$id"
}

node_pid() {
	local f=$1/node-$2/pid
	[ -s "$f" ] && cat "$f"
}

alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null
}

# Starts node n of the cluster in dir in the background; its pid goes to node-n/pid.
launch() {
	local dir=$1 n=$2 nd=$1/node-$2
	# shellcheck disable=SC2086 # jvm_opts is a list of options
	setsid java -Xmx"$heap" -Xms64m $jvm_opts -Djava.awt.headless=true -Dkafka.logs.dir="$nd" \
		-Dlog4j2.configurationFile="$cache/log4j2.properties" \
		-cp "$libs/*" kafka.Kafka "$nd/server.properties" >"$nd/stdout.log" 2>&1 </dev/null &
	echo $! >"$nd/pid"
}

# Waits until every node listed lists n brokers in its metadata; fails early when a node died.
wait_ready() {
	local dir=$1 nodes=$2 deadline=$((SECONDS + start_timeout)) n ok port pid
	shift 2
	while :; do
		ok=1
		for n in "$@"; do
			pid=$(node_pid "$dir" "$n")
			alive "$pid" || return 1
			port=$(cat "$dir/node-$n/port")
			[ "$(metadata_brokers "$port" || echo 0)" -ge "$nodes" ] || ok=0
		done
		[ $ok -eq 1 ] && return 0
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

write_config() {
	local dir=$1 nodes=$2 n=$3 voters=$4 port=$5 cport=$6 rf isr
	rf=$nodes
	isr=$([ "$nodes" -ge 3 ] && echo 2 || echo 1)
	cat >"$dir/node-$n/server.properties" <<EOF
# Written by scripts/kafka.sh: node $n of a $nodes-node test cluster on loopback.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/node-$n/data

# Fast groups and small internal topics.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=8
offsets.topic.replication.factor=$rf
transaction.state.log.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
# A transaction whose producer died is aborted within 1 s of its timeout (default: checked every 10 s), so
# read_committed readers are held back by it no longer than the worker's transaction.timeout.ms.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
default.replication.factor=$rf
min.insync.replicas=$isr
num.partitions=4
# Production clusters do not create topics on first use; neither does this one, so the worker's own
# topic creation is what the tests exercise.
auto.create.topics.enable=false

# Small: a 2-core test box runs several of these beside the tests.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
log.segment.bytes=67108864
log.retention.check.interval.ms=60000

# A killed node is fenced and leaves the ISRs within seconds, not Kafka's default 9 s / 30 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=5000
controller.quorum.election.timeout.ms=1000
controller.quorum.fetch.timeout.ms=2000
EOF
}

start() {
	local nodes=1 dir try n port cport voters cluster_id ports taken
	while getopts n: opt; do
		case $opt in
		n) nodes=$OPTARG ;;
		*) die "usage: kafka.sh start [-n 1|3] DIR" ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# -eq 1 ] || die "usage: kafka.sh start [-n 1|3] DIR"
	case $nodes in 1 | 3) ;; *) die "-n: 1 or 3 nodes" ;; esac
	need_libs
	mkdir -p "$1"
	dir=$(cd "$1" && pwd)
	[ ! -e "$dir/nodes" ] || die "$dir already holds a cluster"
	for try in 1 2 3 4 5; do
		voters=""
		ports=""
		taken=""
		for n in $(seq 1 "$nodes"); do
			rm -rf "$dir/node-$n"
			mkdir -p "$dir/node-$n"
			port=$(pick_port "$taken")
			taken="$taken $port"
			cport=$(pick_port "$taken")
			taken="$taken $cport"
			echo "$port" >"$dir/node-$n/port"
			echo "$cport" >"$dir/node-$n/cport"
			voters="$voters${voters:+,}$n@127.0.0.1:$cport"
			ports="$ports${ports:+,}127.0.0.1:$port"
		done
		cluster_id=$(new_cluster_id)
		for n in $(seq 1 "$nodes"); do
			write_config "$dir" "$nodes" "$n" "$voters" "$(cat "$dir/node-$n/port")" \
				"$(cat "$dir/node-$n/cport")"
			java -Dlog4j2.configurationFile="$cache/log4j2.properties" -Dkafka.logs.dir="$dir/node-$n" \
				-cp "$libs/*" kafka.tools.StorageTool format -t "$cluster_id" \
				-c "$dir/node-$n/server.properties" >"$dir/node-$n/format.log" 2>&1 ||
				die "format of node $n failed (see $dir/node-$n/format.log)"
		done
		echo "$nodes" >"$dir/nodes"
		for n in $(seq 1 "$nodes"); do launch "$dir" "$n"; done
		if wait_ready "$dir" "$nodes" $(seq 1 "$nodes"); then
			echo "$ports" >"$dir/bootstrap"
			echo "$ports"
			return 0
		fi
		if grep -qs "Address already in use" "$dir"/node-*/server.log "$dir"/node-*/stdout.log; then
			echo "kafka.sh: a port was taken; trying others" >&2
			stop "$dir"
			continue
		fi
		stop "$dir" || true
		die "cluster in $dir did not start within ${start_timeout}s (see $dir/node-*/server.log)"
	done
	die "no free ports after 5 tries"
}

# Stops the nodes started in dir, by their recorded pids only.
stop() {
	local dir=$1 n pid deadline
	[ -f "$dir/nodes" ] || return 0
	for n in $(seq 1 "$(cat "$dir/nodes")"); do
		pid=$(node_pid "$dir" "$n") || continue
		alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((SECONDS + 20))
	for n in $(seq 1 "$(cat "$dir/nodes")"); do
		pid=$(node_pid "$dir" "$n") || continue
		while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
		while alive "$pid"; do sleep 0.05; done
		rm -f "$dir/node-$n/pid"
	done
	rm -f "$dir/nodes"
}

node_kill() {
	local dir=$1 n=$2 sig=${3:-KILL} pid
	pid=$(node_pid "$dir" "$n") || die "node $n of $dir is not running"
	kill -"$sig" "$pid" 2>/dev/null || true
	while alive "$pid"; do sleep 0.05; done
	rm -f "$dir/node-$n/pid"
}

node_start() {
	local dir=$1 n=$2 nodes running=0 i
	need_libs
	nodes=$(cat "$dir/nodes")
	[ -f "$dir/node-$n/server.properties" ] || die "no node $n in $dir"
	! alive "$(node_pid "$dir" "$n" || true)" || die "node $n of $dir is running"
	launch "$dir" "$n"
	# Ready once its own metadata lists every running node, itself included (registered and unfenced).
	for i in $(seq 1 "$nodes"); do
		alive "$(node_pid "$dir" "$i" || true)" && running=$((running + 1))
	done
	wait_ready "$dir" "$running" "$n" || die "node $n did not come back within ${start_timeout}s"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
fetch) fetch ;;
start) start "$@" ;;
stop)
	[ $# -eq 1 ] || die "usage: kafka.sh stop DIR"
	stop "$1"
	;;
node-start)
	[ $# -eq 2 ] || die "usage: kafka.sh node-start DIR N"
	node_start "$1" "$2"
	;;
node-kill)
	[ $# -ge 2 ] || die "usage: kafka.sh node-kill DIR N [SIGNAL]"
	node_kill "$@"
	;;
classpath)
	need_libs
	echo "$libs/*"
	;;
*) die "usage: kafka.sh fetch | start [-n 1|3] DIR | stop DIR | node-start DIR N | node-kill DIR N [SIG] | classpath" ;;
esac
