#!/bin/sh
# Runs the unit-test binaries given as arguments; fails when any fails.
failed=0
for t in "$@"; do
	echo "== $t"
	"$t" || { echo "FAILED: $t"; failed=$((failed + 1)); }
done
[ "$failed" -eq 0 ] || { echo "$failed unit test binary(ies) failed"; exit 1; }
