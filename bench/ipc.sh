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

. bench/tcp_daemon.sh
start_tcp_daemon 1000 1s 50 bench/ipc_bench

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
