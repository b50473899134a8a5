#!/bin/sh
# Host checks: CPU per check of shipwatchd running 1,000 host checks at 1 s,
# the seven types mixed (a seventh each) and each type alone, beside 1,000
# tcp checks refused on 127.0.0.1 as the baseline of a check's cost in the
# daemon (scheduler, conditions, store). Each phase is bounded in time.
#
#   sh bench/host.sh [SECONDS]      # default 15 s a phase, after 4 s of warm-up
#
# SHIPWATCHD names the binary; by default a release build in build-bench.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-15}"
n=1000
if [ -z "${SHIPWATCHD:-}" ]; then
    [ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
    ninja -C build-bench daemon/shipwatchd >/dev/null
    SHIPWATCHD=build-bench/daemon/shipwatchd
fi
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
daemon=""
sleeper=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; rm -rf "$work"' EXIT INT TERM

# What the process and log checks watch: a sleep and a log that grows.
sleep 3600 & sleeper=$!
: > "$work/app.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# The keys of one check of type $1.
keys() {
    case $1 in
    disk) echo ", path: /" ;;
    file) echo ", path: $work/app.log" ;;
    process) echo ", match: '^sleep 3600\$'" ;;
    log) echo ", path: $work/app.log, pattern: ERROR" ;;
    tcp) echo ", host: 127.0.0.1, port: $port" ;;
    *) echo "" ;;
    esac
}

# Run $n checks of the types given (round robin) for $secs seconds; print
# the CPU the daemon used, in % of a core and µs per check.
phase() {
    name=$1
    shift
    {
        echo "daemon: {socket: $work/sw.sock, http: 127.0.0.1:0, max-concurrency: 1000}"
        echo "storage: {path: $work/history-$name.db}"
        echo "defaults: {interval: 1s, timeout: 900ms}"
        echo "checks:"
        i=0
        while [ $i -lt $n ]; do
            eval "t=\${$((i % $# + 1))}"
            echo "  - {name: c$i, type: $t$(keys "$t")}"
            i=$((i + 1))
        done
    } > "$work/$name.yml"
    "$SHIPWATCHD" --config "$work/$name.yml" --log-level warn 2>"$work/$name.log" &
    daemon=$!
    sleep 4
    a=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
    i=0
    while [ $i -lt "$secs" ]; do
        echo "ERROR line $i" >> "$work/app.log"
        sleep 1
        i=$((i + 1))
    done
    b=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
    kill "$daemon"
    wait "$daemon" || true
    daemon=""
    awk -v name="$name" -v t=$((b - a)) -v hz="$hz" -v s="$secs" -v n="$n" 'BEGIN {
        printf "| %s | %.1f%% | %.0f µs |\n", name, 100 * t / hz / s, 1e6 * t / hz / s / n }'
}

echo "| $n checks at 1 s | CPU, % of a core | per check |"
echo "|---|---|---|"
phase tcp-refused tcp
phase host-mixed disk memory load cpu file process log
for t in disk memory load cpu file process log; do
    phase "$t" "$t"
done
