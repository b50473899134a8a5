#!/bin/sh
# One daemon with many checks (issue 20 item 5): N tcp and http checks, one
# of each kind in turn, intervals 10-60 s, every run against 127.0.0.1 where
# a listener takes the first connection and then goes away (later runs are
# refused, cheaply). Measured, in this order:
#
#   --check-config       wall time and peak memory
#   start to first check from exec to the listener's first connection
#   RSS                  after SECONDS
#   /metrics             three renders, the first one the first since start:
#                        end to end and the daemon's own render time
#   checks list          the client's `shipwatch --json checks`, all pages
#   reload               after QUIET (20) s, 1% of the checks changed, SIGHUP:
#                        the daemon's own account (loop time, read time),
#                        then, 4 s on, the start lag p50/p99 over the last
#                        65,536 runs, the reload among them (the daemon logs
#                        them when it stops)
#
#   sh bench/scale.sh [N] [SECONDS]       # default 100,000 checks, 20 s
#
# SHIPWATCHD and SHIPWATCH name the binaries; by default a release build in
# build-bench.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
n="${1:-100000}"
secs="${2:-20}"
if [ -z "${SHIPWATCHD:-}" ]; then
    release_build daemon/shipwatchd tui/shipwatch
    SHIPWATCHD=build-bench/daemon/shipwatchd
    SHIPWATCH=${SHIPWATCH:-build-bench/tui/shipwatch}
fi
SHIPWATCH=${SHIPWATCH:-build-bench/tui/shipwatch}

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
daemon=""
listener=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; [ -n "$listener" ] && kill "$listener" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
port=$(free_port)
hport=$(free_port)
now() { date +%s.%N; }

# Every check; CHANGED: every 100th check's interval one second longer.
write_config() {
    awk -v n="$n" -v port="$port" -v hport="$hport" -v work="$work" -v changed="$1" 'BEGIN {
        print "daemon: {socket: " work "/sw.sock, http: 127.0.0.1:" hport ", max-concurrency: 2000}"
        print "storage: {path: " work "/history.db}"
        print "checks:"
        for (i = 0; i < n; i++) {
            iv = 10 + (i * 7) % 51
            if (changed && i % 100 == 0)
                iv++
            if (i % 2)
                printf "  - {name: c%d, app: a%d, interval: %ds, timeout: 2s, type: http, url: \"http://127.0.0.1:%d/c%d\", conditions: [\"[STATUS] == 200\"]}\n",
                    i, int(i / 100), iv, port, i
            else
                printf "  - {name: c%d, app: a%d, interval: %ds, timeout: 2s, type: tcp, host: 127.0.0.1, port: %d}\n",
                    i, int(i / 100), iv, port
        }
    }'
}
write_config 0 > "$work/bench.yml"

echo "== machine: $(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1), $(uname -r), $(date -u +%F)"
echo "== $n checks ($(wc -c < "$work/bench.yml") bytes of configuration)"
/usr/bin/time -f "check-config: %e s, peak %M KiB" "$SHIPWATCHD" --config "$work/bench.yml" --check-config \
    2>&1 >/dev/null | tail -1

# The first connection's time, then nothing listens.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
c, _ = s.accept(); t = time.time(); s.close(); c.close()
open(sys.argv[2], "w").write("%.6f\n" % t)
' "$port" "$work/first" &
listener=$!
sleep 0.3

ulimit -n 65536 2>/dev/null || true
t0=$(now)
"$SHIPWATCHD" --config "$work/bench.yml" --log-level debug 2>"$work/daemon.log" &
daemon=$!
wait "$listener" || true
listener=""
awk -v a="$t0" -v b="$(cat "$work/first")" 'BEGIN { printf "start to first check: %.3f s\n", b - a }'

sleep "$secs"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon/status")
awk -v n="$n" -v rss="$rss" -v hwm="$hwm" -v s="$secs" 'BEGIN {
    printf "RSS after %d s: %.1f MB (peak %.1f MB), %.2f KB a check\n", s, rss / 1000, hwm / 1000, rss * 1.024 / n }'

# A render serves the scrapes of one second: each of these renders anew.
for i in 1 2 3; do
    curl -s -o "$work/metrics" -w "%{time_total} %{size_download}\n" "http://127.0.0.1:$hport/metrics" |
        awk -v i="$i" '{ printf "/metrics %d: %.0f ms end to end, %.1f MB; ", i, $1 * 1000, $2 / 1e6 }'
    grep -a '"metrics rendered' "$work/daemon.log" | tail -1 |
        sed 's/.*"render_us":"\([0-9]*\)".*/\1/' | awk '{ printf "rendered in %.0f ms\n", $1 / 1000 }'
    sleep 1.1
done
awk '/^VmRSS/ { printf "RSS after the renders: %.1f MB (the render buffer is kept for the next)\n", $2 / 1000 }' \
    "/proc/$daemon/status"

t1=$(now)
if "$SHIPWATCH" --socket "$work/sw.sock" --json checks > "$work/checks.json" 2>"$work/checks.err"; then
    t2=$(now)
    python3 -c '
import json, sys
print("checks list: %d checks, %.1f MB of JSON, %.0f ms" % (len(json.load(open(sys.argv[1]))["checks"]),
      __import__("os").path.getsize(sys.argv[1]) / 1e6, (float(sys.argv[3]) - float(sys.argv[2])) * 1000))
' "$work/checks.json" "$t1" "$t2"
else
    echo "checks list: failed: $(head -c 300 "$work/checks.err" "$work/checks.json")"
fi

# The start lag ring holds the last 65,536 runs (about 18 s here): let the
# probes above leave it before the reload, so what it shows is the reload's.
sleep "${QUIET:-20}"
write_config 1 > "$work/bench.yml"
kill -HUP "$daemon"
i=0
while ! grep -q "configuration reloaded" "$work/daemon.log" && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
grep -a "configuration reloaded\|reload: " "$work/daemon.log" | tail -2 | sed "s/^.*msg=/reload: /"
sleep 4
kill "$daemon"
wait "$daemon" || true
daemon=""
grep -a "scheduler:" "$work/daemon.log" | tail -1 | sed 's/^.*scheduler:/scheduler (the last runs, the reload among them):/'
