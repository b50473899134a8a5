# Sourced by bench/ipc.sh and bench/tui.sh: a release shipwatchd running N
# tcp checks at INTERVAL against a closed port on 127.0.0.1 (each run is a
# refused connect: cheap results at exactly N/INTERVAL a second), in apps of
# GROUP checks. Sets $work (a scratch directory, removed at exit), $daemon
# (its pid) and the socket $work/sw.sock.
#
#   start_tcp_daemon N INTERVAL GROUP TARGETS...   # TARGETS: extra ninja targets
#   http_base                                      # its http://127.0.0.1:PORT

. bench/lib.sh

start_tcp_daemon() {
    n=$1 interval=$2 group=$3
    shift 3
    release_build daemon/shipwatchd "$@"

    work=$(mktemp -d /tmp/shipwatch-bench.XXXXXX)
    daemon=""
    trap 'cleanup_tcp_daemon' EXIT INT TERM

    port=$(free_port)
    {
        echo "daemon: {socket: $work/sw.sock, http: 127.0.0.1:0, max-concurrency: 1000}"
        echo "storage: {path: $work/history.db}"
        echo "apps: [{name: app0, deploy-token: bench-token}]"
        echo "defaults: {interval: $interval, timeout: 2s}"
        echo "checks:"
        i=0
        while [ $i -lt "$n" ]; do
            echo "  - {name: check-$i, app: app$((i / group)), env: prod, type: tcp, host: 127.0.0.1, port: $port}"
            i=$((i + 1))
        done
    } > "$work/bench.yml"

    ulimit -n 65536 2>/dev/null || true
    build-bench/daemon/shipwatchd --config "$work/bench.yml" --log-level "${LOG_LEVEL:-info}" 2>"$work/daemon.log" &
    daemon=$!
    i=0
    while [ ! -S "$work/sw.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 3     # every check has run once
}

# http://HOST:PORT of its HTTP listener (port 0 in the configuration).
http_base() {
    sed -n 's/.*http listening on \([0-9.]*:[0-9]*\).*/http:\/\/\1/p' "$work/daemon.log" | head -1
}

cleanup_tcp_daemon() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    rm -rf "$work"
}
