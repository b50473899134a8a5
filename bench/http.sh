#!/bin/sh
# The HTTP benchmark: /metrics with 10,000 checks, and POST /api/v1/deploys,
# driven by wrk, beside the checks per second the daemon keeps up meanwhile.
#
#   sh bench/http.sh [SECONDS]        # default 20 s a phase
#
# 10,000 tcp checks at 2 s against a closed port (5,000 results/s); each
# phase bounded in time. Needs wrk (installed here when missing).
set -eu
cd "$(dirname "$0")/.."
secs="${1:-20}"
command -v wrk >/dev/null 2>&1 || apt-get install -y -q --no-install-recommends wrk >/dev/null

. bench/tcp_daemon.sh
LOG_LEVEL=debug     # the daemon logs each /metrics render and its time
start_tcp_daemon 10000 2s 100
base=$(http_base)

results() {
    curl -fsS "$base/metrics" |
        awk '/^shipwatch_check_results_total/ { n += $NF } END { printf "%d", n }'
}
cpu() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
hz=$(getconf CLK_TCK)

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, kernel $(uname -r); 10,000 checks at 2 s"
size=$(curl -fsS -o /dev/null -w '%{size_download}' "$base/metrics")
one=$(curl -fsS -o /dev/null -w '%{time_total}' "$base/metrics")
echo "metrics: $size bytes; one scrape alone ${one}s"
for phase in "metrics /metrics" "deploys -s bench/deploy.lua /api/v1/deploys"; do
    set -- $phase
    name=$1
    shift
    path=$(eval echo \${$#})
    r0=$(results); c0=$(cpu); t0=$(date +%s.%N)
    if [ "$name" = metrics ]; then
        out=$(wrk -t1 -c4 -d"${secs}s" --latency "$base$path")
    else
        out=$(wrk -t1 -c4 -d"${secs}s" --latency -s bench/deploy.lua "$base$path")
    fi
    r1=$(results); c1=$(cpu); t1=$(date +%s.%N)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$name: ${rps} req/s, p50 $p50, p99 $p99, non-2xx ${errs:-0}; checks $(awk -v a="$r0" -v b="$r1" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.0f/s", (b - a) / (y - x) }'), daemon CPU $(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.0f%%", (b - a) / hz / (y - x) * 100 }')"
done
kill -TERM "$daemon"
wait "$daemon" 2>/dev/null || true
daemon=""
grep -o 'start lag p50 [0-9]* us, p99 [0-9]* us' "$work/daemon.log" | tail -1
# Render times: the first (a fresh buffer) and the rest (its pages reused).
grep -o '"render_us":"[0-9]*"' "$work/daemon.log" | tr -dc '0-9\n' |
    sort -n | awk '{ v[n++] = $1 } END {
        printf "metrics render over %d renders: min %d us, median %d us, max %d us\n",
               n, v[0], v[int(n / 2)], v[n - 1] }'
