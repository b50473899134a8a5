#!/bin/sh
# The dashboard benchmark: 500 checks, 200 results a second, the dashboard
# on a 200x50 pseudo-terminal; CPU and bytes written to the terminal.
#
#   sh bench/tui.sh [SECONDS]        # default 60
set -eu
cd "$(dirname "$0")/.."
secs="${1:-60}"

. bench/tcp_daemon.sh
start_tcp_daemon 500 2500ms 25 tui/shipwatch

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, kernel $(uname -r); 500 checks, 200 results/s"
/usr/bin/python3 bench/tui_bench.py build-bench/tui/shipwatch "$work/sw.sock" "$secs" 200 50
/usr/bin/python3 bench/tui_bench.py build-bench/tui/shipwatch "$work/sw.sock" "$secs" 80 24
