#!/bin/sh
# The dashboard benchmark: 500 checks, 200 results a second, the dashboard
# on a 200x50 pseudo-terminal; CPU and bytes written to the terminal. With
# N, N checks at INTERVAL in apps of 100 (100000 20s: 5,000 results a
# second), and then the filter typed a key at a time, each key's time to
# the screen.
#
#   sh bench/tui.sh [SECONDS [N INTERVAL]]     # default 60 s, 500 checks at 2.5 s
set -eu
cd "$(dirname "$0")/.."
secs="${1:-60}"
n="${2:-500}"
interval="${3:-2500ms}"

. bench/tcp_daemon.sh
group=25
[ "$n" -gt 500 ] && group=100
start_tcp_daemon "$n" "$interval" "$group" tui/shipwatch

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, kernel $(uname -r); $n checks at $interval"
if [ "$n" -gt 500 ]; then
    sleep "${SETTLE:-25}"   # every check has run once (the first runs spread
                            # over an interval): what follows is steady
    /usr/bin/python3 bench/tui_bench.py build-bench/tui/shipwatch "$work/sw.sock" "$secs" 200 50 \
        "check-$((n - 1))"
    exit 0
fi
/usr/bin/python3 bench/tui_bench.py build-bench/tui/shipwatch "$work/sw.sock" "$secs" 200 50
/usr/bin/python3 bench/tui_bench.py build-bench/tui/shipwatch "$work/sw.sock" "$secs" 80 24
