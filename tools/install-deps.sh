#!/bin/sh
# Install what building and testing firehose needs (Debian 12, as root).
set -e
here=$(dirname "$0")
pkgs=$(sed 's/#.*//' "$here/debian-packages.txt" | tr -s ' \n' ' ')
missing=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null |
	awk '$1 != "ii" { print $2 }'; for p in $pkgs; do
	dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "$(echo $missing | tr -d ' ')" ]; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends $missing
fi
# The system's mosquitto service must not hold port 1883 during tests.
if command -v systemctl >/dev/null 2>&1; then
	systemctl stop mosquitto >/dev/null 2>&1 || true
fi
# MQTT.js (node and browser WebSocket tests) from its lockfile; npm is
# Debian's package unless the installed nodejs already ships one.
if ! command -v npm >/dev/null 2>&1; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends npm
fi
(cd "$here/../tests/integration/node" && npm ci --no-audit --no-fund --silent)
