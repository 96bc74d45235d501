#!/bin/sh
# Runs each libFuzzer target for a bounded time: run-fuzz.sh BUILD_DIR SECONDS TARGET...
# Each target grows its own corpus in BUILD_DIR/corpus/<target> (seeded from BUILD_DIR/seeds, so git stays
# clean) and leaves what it finds in BUILD_DIR/crashes/<target>/. Fails when any target found something.
set -u
dir=$1
seconds=$2
shift 2
opts="-max_total_time=$seconds -len_control=0 -timeout=30 -rss_limit_mb=3072 -dict=tests/fuzz/request.dict
      -print_final_stats=1"
failed=0
for t in "$@"; do
	name=$(basename "$t")
	# Requests: past the worker's 512 KiB message limit, so strings reach the 262,144-character limits
	# (-len_control=0 offers that length from the start). The JSON conversions have no limit below 4 GiB,
	# so large inputs would only make them slow.
	case "$name" in
	fuzz-json) max_len=65536 ;;
	*) max_len=600000 ;;
	esac
	corpus="$dir/corpus/$name"
	crashes="$dir/crashes/$name"
	mkdir -p "$corpus" "$crashes"
	cp "$dir"/seeds/request/* "$corpus"/
	# fuzz-json reads both: the JSON lines as JSON text, the msgpack requests as messages.
	if [ "$name" = fuzz-json ]; then cp "$dir"/seeds/json/* "$corpus"/; fi
	echo "== $name for ${seconds}s (corpus $corpus)"
	touch "$dir/$name.start"
	# shellcheck disable=SC2086 # opts is a list of flags
	if ! "$t" $opts -max_len=$max_len -artifact_prefix="$crashes/" "$corpus" 2>"$dir/$name.log"; then
		tail -n 60 "$dir/$name.log"
		echo "FAILED: $name; reproducer(s): $(find "$crashes" -type f -newer "$dir/$name.start" | tr '\n' ' ')"
		echo "  rerun one with: $t $crashes/<file>"
		failed=$((failed + 1))
	else
		grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done )' "$dir/$name.log"
	fi
done
[ "$failed" -eq 0 ] || { echo "$failed fuzz target(s) found a crash"; exit 1; }
