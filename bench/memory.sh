#!/bin/sh
# Memory a check: shipwatchd with N tcp checks (intervals 10-60 s, every run
# a refused connect on 127.0.0.1), its RSS after SECONDS, and the time and
# peak memory of --check-config on the same file.
#
#   sh bench/memory.sh [N] [SECONDS]      # default 20,000 checks, 12 s
#
# SHIPWATCHD names the binary; by default a release build in build-bench.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
n="${1:-20000}"
secs="${2:-12}"
if [ -z "${SHIPWATCHD:-}" ]; then
    release_build daemon/shipwatchd
    SHIPWATCHD=build-bench/daemon/shipwatchd
fi

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
daemon=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
port=$(free_port)

awk -v n="$n" -v port="$port" -v work="$work" 'BEGIN {
    print "daemon: {socket: " work "/sw.sock, http: 127.0.0.1:0, max-concurrency: 2000}"
    print "storage: {path: " work "/history.db}"
    print "checks:"
    for (i = 0; i < n; i++)
        printf "  - {name: c%d, app: a%d, interval: %ds, timeout: 2s, type: tcp, host: 127.0.0.1, port: %d}\n",
            i, int(i / 100), 10 + (i * 7) % 51, port
}' > "$work/bench.yml"

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), $(uname -r), $(date -u +%F)"
/usr/bin/time -f "check-config: %e s, peak %M KiB" "$SHIPWATCHD" --config "$work/bench.yml" --check-config \
    2>&1 >/dev/null | tail -1

ulimit -n 65536 2>/dev/null || true
"$SHIPWATCHD" --config "$work/bench.yml" --log-level warn 2>"$work/daemon.log" &
daemon=$!
sleep "$secs"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon/status")
kill "$daemon"
wait "$daemon" || true
daemon=""
awk -v n="$n" -v rss="$rss" -v hwm="$hwm" -v s="$secs" 'BEGIN {
    printf "%d checks after %d s: RSS %.1f MB (peak %.1f MB), %.2f KB a check\n",
        n, s, rss / 1000, hwm / 1000, rss * 1.024 / n }'
