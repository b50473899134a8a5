#!/bin/sh
# Make this machine able to run the stack: Debian's docker.io, docker-compose
# (which brings python3-yaml) and debootstrap; dockerd started when none
# answers; a debian:bookworm-slim image made with debootstrap when the image
# store has none (no registry is reachable here). Idempotent: a second run
# costs a few seconds.
#   sh tests/stack/setup.sh [--packages-only]
set -eu

need=""
for p in docker.io docker-compose debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q $need
fi

if [ "${1:-}" = --packages-only ]; then
    exit 0
fi

if ! docker info >/dev/null 2>&1; then
    log=${STACK_LOG_DIR:-/tmp}/dockerd.log
    echo "setup: starting dockerd (log $log)"
    nohup dockerd >"$log" 2>&1 &
    echo $! >"${STACK_LOG_DIR:-/tmp}/dockerd.pid"
    i=0
    until docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            echo "setup: dockerd did not answer in 60 s" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        sleep 1
    done
fi

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
    if [ -z "$mirror" ]; then
        mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d /var/tmp/shipwatch-rootfs.XXXXXX)
    echo "setup: debootstrap --variant=minbase bookworm from $mirror"
    start=$(date +%s)
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"${STACK_LOG_DIR:-/tmp}/debootstrap.log" 2>&1 || {
        tail -20 "${STACK_LOG_DIR:-/tmp}/debootstrap.log" >&2
        rm -rf "$root"
        exit 1
    }
    # The slim image's apt settings: no recommends, no docs, a clean cache.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/99shipwatch-slim"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - debian:bookworm-slim >/dev/null
    rm -rf "$root"
    echo "setup: debian:bookworm-slim imported in $(($(date +%s) - start)) s"
fi
