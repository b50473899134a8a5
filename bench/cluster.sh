#!/bin/sh
# The cluster's cost in Redis (issue 20 item 6): N daemons sharing CHECKS
# tcp checks at 1 s through one Redis on loopback, for N in NODES. Each run
# is a refused connect, so the checks cost little and what grows is the
# coordination. For each N, over SECONDS after a settling span:
#
#   checks/s          results written by all daemons together (their stores)
#   Redis commands    per check run, and EVAL/EVALSHA calls per check run
#   Redis CPU         user+system of redis-server, % of a core
#   daemon CPU        per check run, all daemons together
#   lost Redis        times a daemon logged it lost Redis (a subscriber
#                     Redis cut for its output buffer shows up as one)
#
#   sh bench/cluster.sh [CHECKS] [SECONDS] [NODES]   # default 2000 20 "0 1 2 4"
#
# 0 in NODES is one daemon alone, without Redis: the figure a cluster's
# CPU a check is compared with.
#
# Ratios (commands and EVALs per check) do not need many cores; checks/s
# on two cores says little about scaling and is reported as measured.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
checks="${1:-2000}"
secs="${2:-20}"
nodes="${3:-0 1 2 4}"

if [ -z "${SHIPWATCH_TEST_REDIS_URL:-}" ]; then
    exec /usr/bin/python3 tests/servers.py redis -- sh "$0" "$checks" "$secs" "$nodes"
fi
release_build daemon/shipwatchd
SHIPWATCHD=build-bench/daemon/shipwatchd

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT INT TERM
port=$(free_port)
rport=$(echo "$SHIPWATCH_TEST_REDIS_URL" | sed 's/.*:\([0-9]*\)\/.*/\1/')
rcli() { redis-cli -p "$rport" "$@"; }
rpid=$(rcli info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
stat() { rcli info "$1" | sed -n "s/^$2:\([0-9]*\).*/\1/p"; }
calls() {   # EVAL and EVALSHA calls so far
    rcli info commandstats | awk -F'[:=,]' '/^cmdstat_eval(sha)?:/ { n += $3 } END { print n + 0 }'
}
results() {  # results that started in [$2, $3) ms, over the stores of $1 daemons
    n=0
    for i in $(seq 1 "$1"); do
        k=$(python3 -c 'import sqlite3, sys
try:
    print(sqlite3.connect(sys.argv[1], timeout=5).execute(
        "SELECT count(*) FROM results WHERE ts >= ? AND ts < ?",
        (int(sys.argv[2]), int(sys.argv[3]))).fetchone()[0])
except sqlite3.Error:
    print(0)' "$work/n$i/history.db" "$2" "$3")
        n=$((n + k))
    done
    echo "$n"
}
hz=$(getconf CLK_TCK)

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), $(uname -r), $(date -u +%F)"
echo "== $checks tcp checks at 1 s, $(redis-server --version | cut -d' ' -f3)"
printf '%-7s %9s %12s %10s %14s %10s %14s %9s\n' daemons checks/s "cmds/check" "EVAL/check" "EVAL/s" "Redis CPU" "daemon us/chk" "lost Redis"
for n in $nodes; do
    rcli flushall >/dev/null
    rcli config resetstat >/dev/null
    pids=""
    alone=0
    if [ "$n" -eq 0 ]; then
        alone=1
        n=1
    fi
    for i in $(seq 1 "$n"); do
        mkdir -p "$work/n$i"
        awk -v n="$checks" -v port="$port" -v dir="$work/n$i" -v url="$SHIPWATCH_TEST_REDIS_URL" -v node="n$i" -v alone="$alone" 'BEGIN {
            print "daemon: {socket: " dir "/sw.sock, http: 127.0.0.1:0, max-concurrency: 2000}"
            print "storage: {path: " dir "/history.db}"
            if (!alone) {
                print "redis: {url: \"" url "\", key: bench-cluster-key-0123456789, insecure: true}"
                print "cluster: bench"
                print "node-name: " node
            }
            print "checks:"
            for (i = 0; i < n; i++)
                printf "  - {name: c%d, interval: 1s, timeout: 2s, type: tcp, host: 127.0.0.1, port: %d}\n", i, port
        }' > "$work/n$i/bench.yml"
        ulimit -n 65536 2>/dev/null || true
        "$SHIPWATCHD" --config "$work/n$i/bench.yml" --log-level warn 2>"$work/n$i/daemon.log" &
        pids="$pids $!"
    done
    sleep 8     # joined, leases settled
    c0=$(stat stats total_commands_processed); e0=$(calls)
    rt0=$(ticks "$rpid"); dt0=0
    for p in $pids; do dt0=$((dt0 + $(ticks "$p"))); done
    t0=$(date +%s.%N)
    sleep "$secs"
    t1=$(date +%s.%N)
    dt1=0
    for p in $pids; do dt1=$((dt1 + $(ticks "$p"))); done
    rt1=$(ticks "$rpid")
    c1=$(stat stats total_commands_processed); e1=$(calls)
    sleep 3     # the stores commit what ran in the span
    r=$(results "$n" "$(echo "$t0" | awk '{ printf "%.0f", $1 * 1000 }')" "$(echo "$t1" | awk '{ printf "%.0f", $1 * 1000 }')")
    cut=$(grep -h -c "lost Redis\|output buffer" "$work"/n*/daemon.log | awk '{ s += $1 } END { print s + 0 }')
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    pids=""
    rm -rf "$work"/n*
    [ "$alone" -eq 1 ] && n=0
    awk -v n="$n" -v r="$r" -v c="$((c1 - c0))" -v e="$((e1 - e0))" -v rt="$((rt1 - rt0))" \
        -v dt="$((dt1 - dt0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v cut="$cut" 'BEGIN {
        s = t1 - t0; if (r < 1) r = 1
        printf "%-7s %9.0f %12.2f %10.2f %14.0f %9.1f%% %14.1f %9d\n", n == 0 ? "alone" : n, r / s, c / r, e / r, e / s,
            rt / hz / s * 100, dt / hz * 1e6 / r, cut }'
done
