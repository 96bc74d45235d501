#!/usr/bin/env bash
# Installs what Andon needs to build, test and run: the missing Debian packages, then Apache Kafka's
# server from Maven Central into a cache outside the checkout (scripts/kafka.sh fetch; once).
set -euo pipefail
pkgs=(build-essential pkg-config librdkafka-dev libhiredis-dev libmsgpack-dev libjansson-dev
      libcmocka-dev libmicrohttpd-dev libsystemd-dev libssl-dev redis-server redis-tools valgrind clang-format clang
      libclang-rt-14-dev openjdk-17-jre-headless maven man-db groff-base)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all packages present"
else
	echo "deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
bash "$(dirname "$0")/kafka.sh" fetch
