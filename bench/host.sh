#!/bin/sh
# Host checks: CPU per check of shipwatchd running 1,000 host checks at 1 s,
# the seven types mixed (a seventh each) and each type alone, beside 1,000
# tcp checks refused on 127.0.0.1 as the baseline of a check's cost in the
# daemon (scheduler, conditions, store); then 1,000 dns checks against a
# local dnsmasq (Debian's dnsmasq-base). Each phase is bounded in time.
#
#   sh bench/host.sh [SECONDS] [PHASE...]   # default 15 s a phase, after 4 s
#                                          # of warm-up; all phases, or those
#                                          # named (tcp-refused host-mixed dns
#                                          # disk memory load cpu file process log)
#
# SHIPWATCHD names the binary; by default a release build in build-bench.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
secs="${1:-15}"
[ $# -gt 0 ] && shift
phases="${*:-tcp-refused host-mixed disk memory load cpu file process log dns}"
n=1000
if [ -z "${SHIPWATCHD:-}" ]; then
    release_build daemon/shipwatchd
    SHIPWATCHD=build-bench/daemon/shipwatchd
fi
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
daemon=""
sleeper=""
dnsmasq=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; [ -n "$dnsmasq" ] && kill "$dnsmasq" 2>/dev/null; rm -rf "$work"' EXIT INT TERM

# What the process and log checks watch: a sleep and a log that grows.
sleep 3600 & sleeper=$!
: > "$work/app.log"
port=$(free_port)

# The keys of one check of type $1.
keys() {
    case $1 in
    disk) echo ", path: /" ;;
    file) echo ", path: $work/app.log" ;;
    process) echo ", match: '^sleep 3600\$'" ;;
    log) echo ", path: $work/app.log, pattern: ERROR" ;;
    tcp) echo ", host: 127.0.0.1, port: $port" ;;
    dns) echo ", host: www.bench.test, server: '127.0.0.1:$dnsport'" ;;
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
    # What the runs found (outcome 1 is up): a phase whose checks fail
    # measures the failure path instead.
    up=$(sqlite3 "$work/history-$name.db" \
        "SELECT round(100.0 * sum(outcome = 1) / count(*)) || '%' FROM results" 2>/dev/null || echo '?')
    awk -v name="$name" -v t=$((b - a)) -v hz="$hz" -v s="$secs" -v n="$n" -v up="$up" 'BEGIN {
        printf "| %s | %.1f%% | %.0f µs | %s |\n", name, 100 * t / hz / s, 1e6 * t / hz / s / n, up }'
}

# A dnsmasq answering www.bench.test from a hosts file, for the dns phase.
start_dnsmasq() {
    dnsport=$(free_port)
    echo "127.0.0.1 www.bench.test" > "$work/hosts"
    chmod 755 "$work"
    chmod 644 "$work/hosts"
    /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user="$(id -un)" --no-resolv --no-hosts --addn-hosts="$work/hosts" \
        --port="$dnsport" --listen-address=127.0.0.1 --bind-interfaces \
        --local=/bench.test/ --dns-forward-max=1000 2>"$work/dnsmasq.log" &
    dnsmasq=$!
    sleep 1
}

echo "| $n checks at 1 s | CPU, % of a core | per check | runs up |"
echo "|---|---|---|---|"
for p in $phases; do
    case $p in
    tcp-refused) phase tcp-refused tcp ;;
    host-mixed) phase host-mixed disk memory load cpu file process log ;;
    dns) start_dnsmasq; phase dns dns ;;
    *) phase "$p" "$p" ;;
    esac
done
