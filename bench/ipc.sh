#!/bin/sh
# The socket benchmark: status.get round trips per second, and results
# fanned out to 1, 10 and 100 subscribers at 1,000 results a second, with
# the latency from a result's creation to its arrival at a client.
#
#   sh bench/ipc.sh [SECONDS]        # default 10 s a phase
#
# The daemon (release build) runs 1,000 tcp checks at 1 s against a closed
# port on 127.0.0.1: each run is a refused connect, so the results are cheap
# and their rate is exactly 1,000/s. Every phase is bounded in time.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-10}"

[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench daemon/shipwatchd bench/ipc_bench >/dev/null

work=$(mktemp -d /tmp/shipwatch-ipcbench.XXXXXX)
daemon=""
cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    echo "daemon: {socket: $work/sw.sock, max-concurrency: 1000}"
    echo "storage: {path: $work/history.db}"
    echo "defaults: {interval: 1s, timeout: 2s}"
    echo "checks:"
    i=0
    while [ $i -lt 1000 ]; do
        echo "  - {name: c$i, app: app$((i % 20)), env: prod, type: tcp, host: 127.0.0.1, port: $port}"
        i=$((i + 1))
    done
} > "$work/bench.yml"

ulimit -n 65536 2>/dev/null || true
build-bench/daemon/shipwatchd --config "$work/bench.yml" --log-level warn 2>"$work/daemon.log" &
daemon=$!
i=0
while [ ! -S "$work/sw.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 2   # every check has run once

cpu() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
hz=$(getconf CLK_TCK)

echo "# $(date -u +%Y-%m-%d) $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
for phase in "rtt 1" "rtt 4" "fanout 1" "fanout 10" "fanout 100"; do
    set -- $phase
    c0=$(cpu)
    line=$(build-bench/bench/ipc_bench "$1" "$work/sw.sock" "$secs" "$2")
    c1=$(cpu)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
    echo "$line daemon_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs" \
        'BEGIN { printf "%.0f%%", (b - a) / hz / (s + 1) * 100 }') daemon_rss_kib=$rss"
done
