#!/bin/sh
# Install every Debian 12 package shipwatch needs to build, test and demo.
# One list, used by the quick start, the test script and CI.
set -eu

# liburiparser1: check_curl needs it, monitoring-plugins-standard only recommends it.
PACKAGES="
  build-essential clang libclang-rt-14-dev meson ninja-build pkg-config python3
  libuv1-dev libcurl4-openssl-dev libssl-dev libyaml-dev libjansson-dev
  libsqlite3-dev libmsgpack-dev libncurses-dev libhiredis-dev libpq-dev
  libhttp-parser-dev libcmocka-dev libc-ares-dev scdoc
  sqlite3 curl openssl tmux valgrind python3-msgpack python3-aiosmtpd python3-grpcio dnsmasq-base
  python3-pyftpdlib python3-openssl iproute2 iputils-ping
  nginx-light postgresql redis-server prometheus prometheus-alertmanager
  monitoring-plugins-basic monitoring-plugins-standard liburiparser1
"

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo "$0" "$@"
    fi
    echo "deps.sh: run as root (or install sudo)" >&2
    exit 1
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
# Packaged servers must not run as system services: tests start private ones.
for svc in nginx postgresql redis-server prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
