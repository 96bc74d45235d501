#!/bin/sh
# The install test: `make install` into a throwaway DESTDIR (PREFIX=/usr), then checks what landed there:
# every program runs and says its version (--version) and usage (-h); every program has a man page and
# every page passes `man --warnings`; andon.conf(5) names every option of the example settings, which the
# installed worker reads without complaint; the systemd units point at the installed worker and callback
# handler. Usage (from the Makefile): MAKE=make sh tests/run-install.sh [make variables such as SANITIZE=1]
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d /tmp/andon-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
failed=0
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

cd "$here" || exit 1
${MAKE:-make} --no-print-directory -s install DESTDIR="$dest" PREFIX=/usr "$@" >"$dest.log" 2>&1 ||
	{ cat "$dest.log"; rm -f "$dest.log"; echo "FAILED: make install"; exit 1; }
rm -f "$dest.log"
version=$(sed -n 's/^#define ANDON_VERSION "\(.*\)"$/\1/p' lib/version.h)
[ -n "$version" ] || fail "no ANDON_VERSION in lib/version.h"

for p in andon-worker andon-send andon-replay andon-tail andon-callback andon-devkafka andon-keys andon-bulk \
	andon-inspect; do
	bin=$dest/usr/bin/$p
	[ -x "$bin" ] || { fail "$p not installed in /usr/bin"; continue; }
	first=$("$bin" --version | head -n 1) || fail "$p --version: exit status $?"
	[ "$first" = "$p $version" ] || fail "$p --version says \"$first\", expected \"$p $version\""
	"$bin" -h >"$dest/help" 2>&1 || fail "$p -h: exit status $?"
	grep -q '^Usage: ' "$dest/help" || fail "$p -h prints no usage"
	grep -q -- '--version' "$dest/help" || fail "$p -h does not mention --version"
	page=$dest/usr/share/man/man1/$p.1
	[ -f "$page" ] || { fail "no man page $p.1"; continue; }
done
for page in "$dest"/usr/share/man/man1/*.1 "$dest"/usr/share/man/man5/andon.conf.5; do
	[ -f "$page" ] || { fail "no man page $(basename "$page")"; continue; }
	# man prints groff's warnings on stderr; a page must have none.
	man --warnings -E UTF-8 -l "$page" >/dev/null 2>"$dest/warn" || fail "man $(basename "$page"): exit status $?"
	[ -s "$dest/warn" ] && { fail "man --warnings $(basename "$page"):"; cat "$dest/warn"; }
	grep -q "^\.TH .*\"Andon $version\"" "$page" || fail "$(basename "$page"): .TH does not name Andon $version"
done

example=$dest/usr/share/andon/andon.conf.example
[ -f "$example" ] || fail "no andon.conf.example"
# Each option the example documents ("# key = default") has an entry in andon.conf(5).
for key in $(sed -n 's/^# \([a-z][a-z_.]*\) =.*/\1/p' "$example" | grep -v '^kafka\.' | sort -u); do
	grep -q "$key" "$dest/usr/share/man/man5/andon.conf.5" || fail "andon.conf(5) does not document $key"
done
# The example, with every commented default set for real, is a file the worker accepts.
sed -n 's/^# \([a-z][a-z_.]*\) = \(.*\)$/\1 = \2/p' "$example" | grep -v '^kafka\.' >"$dest/all.conf"
"$dest/usr/bin/andon-worker" -c "$dest/all.conf" --version >/dev/null || fail "andon-worker refuses the example's defaults"

unit=$dest/usr/lib/systemd/system/andon-worker.service
cb=$dest/usr/lib/systemd/system/andon-callback@.service
for u in "$unit" "$cb"; do
	[ -f "$u" ] || { fail "no unit $(basename "$u")"; continue; }
	grep -q '@BINDIR@' "$u" && fail "$(basename "$u") still holds @BINDIR@"
	exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
	[ -x "$dest$exe" ] || fail "$(basename "$u"): ExecStart $exe is not an installed program"
done
grep -qx 'Type=notify' "$unit" || fail "andon-worker.service is not Type=notify"
grep -q '^WatchdogSec=' "$unit" || fail "andon-worker.service sets no WatchdogSec"
grep -qx 'ExecReload=kill -HUP $MAINPID' "$unit" || fail "andon-worker.service does not reload with SIGHUP"
grep -q '^ExecStart=/usr/bin/andon-callback .*-p %i' "$cb" || fail "andon-callback@.service: no -p %i"

if [ "$failed" -ne 0 ]; then
	echo "install test: $failed failure(s)"
	exit 1
fi
echo "install test: programs, man pages, units and example installed in a DESTDIR and checked"
