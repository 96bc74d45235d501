#!/usr/bin/env bash
# Installs the Debian packages Andon needs to build, test and run; only the missing ones.
set -euo pipefail
pkgs=(build-essential pkg-config librdkafka-dev libhiredis-dev libmsgpack-dev libjansson-dev
      libcmocka-dev redis-server redis-tools valgrind clang-format clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
