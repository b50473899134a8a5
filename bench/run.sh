#!/bin/sh
# The daemon-core benchmark: HTTP checks per second, CPU per check, peak RSS
# and start lag, for shipwatchd and, in the same run, its peers. Everything
# binds loopback addresses only; every phase is bounded in time.
#
#   sh bench/run.sh [SECONDS]        # default 20 s a phase
#
# The bare loop runs flat out (the ceiling) and paced at 1,000 and 5,000
# requests a second, the rates of the 1,000- and 10,000-check phases.
#
# Targets: Debian's nginx on 127.0.0.2..127.0.0.33:8080 (fresh connections to
# one address:port run out of ephemeral ports at about 470/s, so targets are
# spread). A "blackhole" listener on 127.0.0.1 that never accepts (its
# backlog fills, further SYNs are dropped) makes checks time out.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
secs="${1:-20}"
naddr=32

# Extras only the benchmark needs.
need=""
for p in nginx-light wrk prometheus-blackbox-exporter curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    apt-get install -y -q --no-install-recommends $need >/dev/null
fi
systemctl stop prometheus-blackbox-exporter 2>/dev/null || true
pkill -x prometheus-blackbox-exporter 2>/dev/null || true

release_build daemon/shipwatchd bench/bare_loop

work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# --- targets ---
{
    echo "worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_body_temp_path $work; proxy_temp_path $work;"
    echo "  fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;"
    echo "  server {"
    i=2
    while [ $i -le $((naddr + 1)) ]; do
        echo "    listen 127.0.0.$i:8080 reuseport;"
        i=$((i + 1))
    done
    echo "    location /ok { return 200 'ok'; } } }"
} >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work"

python3 - "$work/blackhole.port" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(1)
open(sys.argv[1], 'w').write(str(s.getsockname()[1]))
time.sleep(3600)
EOF
pids="$pids $!"
i=0
while [ ! -s "$work/blackhole.port" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
hole=$(cat "$work/blackhole.port")

urls() { # N -> URL list spread over the addresses
    i=0
    while [ $i -lt "$1" ]; do
        echo "http://127.0.0.$((i % naddr + 2)):8080/ok"
        i=$((i + 1))
    done
}
urls 10000 >"$work/urls"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)

echo "machine: $(nproc) cores, $(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo | sed 's/^ //'), $(uname -r), Debian $(cat /etc/debian_version)"
echo "date: $(date -u +%Y-%m-%d)"
echo

# --- the ceiling: bare loop ---
./build-bench/bench/bare_loop "$work/urls" 60000 64

# --- curl --parallel ---
sed 's/^/url = /; a output = /dev/null' "$work/urls" >"$work/curl.cfg"

start=$(date +%s.%N)
/usr/bin/time -f "%U %S %M" -o "$work/curl.time" \
    curl -s --parallel --parallel-max 64 -H "Connection: close" -K "$work/curl.cfg" >/dev/null 2>&1 || true
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" '{ printf "curl_parallel requests=10000 seconds=%.2f rate=%.0f cpu_us_per_req=%.1f peak_rss_kib=%d\n", e - s, 10000 / (e - s), ($1 + $2) * 1e6 / 10000, $3 }' "$work/curl.time"

# --- blackbox_exporter driven by wrk ---
cat >"$work/bb.yml" <<'EOF'
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http: { preferred_ip_protocol: ip4 }
EOF
prometheus-blackbox-exporter --config.file="$work/bb.yml" --web.listen-address=127.0.0.1:19115 \
    >/dev/null 2>&1 &
bb=$!
pids="$pids $bb"
sleep 1
cat >"$work/probe.lua" <<EOF
counter = 0
request = function()
  counter = counter + 1
  local addr = (counter % $naddr) + 2
  return wrk.format("GET", "/probe?module=http_2xx&target=http://127.0.0.".. addr ..":8080/ok")
end
EOF
t0=$(cpu_ticks $bb)
wrk -t1 -c32 -d"${secs}s" -s "$work/probe.lua" http://127.0.0.1:19115 >"$work/wrk.out" 2>&1 || true
t1=$(cpu_ticks $bb)
reqs=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$bb/status")
awk -v r="$reqs" -v c=$((t1 - t0)) -v k="$clk" -v s="$secs" -v m="$rss" 'BEGIN { printf "blackbox_exporter probes=%d seconds=%d rate=%.0f cpu_us_per_probe=%.1f peak_rss_kib=%d\n", r, s, r / s, c / k * 1e6 / r, m }'
kill $bb 2>/dev/null || true

# --- shipwatchd ---
run_daemon() { # NAME CHECKS INTERVAL BLACKHOLED
    name=$1 n=$2 iv=$3 holes=$4
    d="$work/$name"
    mkdir -p "$d"
    {
        echo "daemon: { socket: $d/s.sock, http: 127.0.0.1:0, max-concurrency: 4096 }"
        echo "storage: { path: $d/history.db }"
        echo "defaults: { interval: $iv, timeout: 2s, failure-threshold: 3, success-threshold: 2 }"
        echo "checks:"
        i=0
        while [ $i -lt "$n" ]; do
            echo "  - { name: c$i, type: http, url: \"http://127.0.0.$((i % naddr + 2)):8080/ok\", conditions: [\"[STATUS] == 200\"] }"
            i=$((i + 1))
        done
        i=0
        while [ $i -lt "$holes" ]; do
            echo "  - { name: h$i, type: http, url: \"http://127.0.0.1:$hole/\", timeout: 1s }"
            i=$((i + 1))
        done
    } >"$d/c.yml"
    ./build-bench/daemon/shipwatchd --config "$d/c.yml" --log-format text 2>"$d/log" &
    p=$!
    started=$(date +%s%3N)
    sleep 3 # warm up: every check has had its first run at 1-2 s intervals
    t0=$(cpu_ticks $p)
    q="SELECT COUNT(*), SUM(c.name LIKE 'c%') FROM results r JOIN checks c ON c.id = r.check_id"
    set -- $(sqlite3 -separator ' ' "$d/history.db" "$q" 2>/dev/null || echo "0 0")
    all0=$1 r0=${2:-0}
    sleep "$secs"
    t1=$(cpu_ticks $p)
    rss=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status")
    kill -TERM $p
    wait $p || true
    set -- $(sqlite3 -separator ' ' "$d/history.db" "$q")
    all1=$1 r1=$2
    late=$(sqlite3 "$d/history.db" "SELECT COUNT(*) FROM (SELECT MIN(ts) AS first FROM results GROUP BY check_id) WHERE first > $started + $(echo "$iv" | tr -d 's')000 + 1000")
    lag=$(grep -o 'lag_p50_us=[0-9]* lag_p99_us=[0-9]*' "$d/log" | tail -1)
    awk -v n="$n" -v h="$holes" -v a="$r0" -v b="$r1" -v aa="$all0" -v bb="$all1" -v c=$((t1 - t0)) -v k="$clk" -v s="$secs" -v m="$rss" -v lag="$lag" -v late="$late" \
        'BEGIN { printf "shipwatchd checks=%d blackholed=%d rate=%.0f cpu_us_per_check=%.1f peak_rss_kib=%d %s first_run_late=%d\n", n, h, (b - a) / s, c / k * 1e6 / (bb - aa), m, lag, late }'
}
run_daemon k1 1000 1s 0
run_daemon k1hole 1000 1s 1000
run_daemon k10 10000 2s 0

# --- the bare loop paced at the daemon's rates above ---
# Against the loop saturated, the daemon's fixed costs (timers, the store
# writer's wake-ups, metrics) look larger at a low rate than they are;
# paced at the same rate, the loop pays its own fixed costs too.
./build-bench/bench/bare_loop "$work/urls" $((1000 * secs)) 4096 1000
./build-bench/bench/bare_loop "$work/urls" $((5000 * secs)) 4096 5000
