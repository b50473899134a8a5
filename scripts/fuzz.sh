#!/bin/sh
# Build the libFuzzer targets with clang and run each for SECONDS (default 60),
# FUZZ_JOBS (default 2) at a time.
# Results go to build-fuzz/fuzzlog.json in meson's testlog format.
set -u
cd "$(dirname "$0")/.."
seconds="${1:-60}"
dir=build-fuzz

sh scripts/deps.sh
[ -f "$dir/build.ninja" ] || CC=clang meson setup "$dir" -Dfuzz=true -Dtui=disabled >/dev/null || exit 1
ninja -C "$dir" || exit 1

log="$dir/fuzzlog.json"
: >"$log"
# Targets run two at a time (FUZZ_JOBS): each still has its SECONDS.
jobs="${FUZZ_JOBS:-2}"

# Run target $1 for $seconds; its verdict goes to $dir/NAME.result.
run_one() {
    target=$1
    name=$(basename "$target")
    corpus="$dir/corpus/$name"
    mkdir -p "$corpus"
    dict="tests/fuzz/${name#fuzz_}.dict"
    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    [ -f "$dict" ] && set -- "$@" -dict="$dict"
    if [ -d "tests/fuzz/seeds/${name#fuzz_}" ]; then
        set -- "$@" "$corpus" "tests/fuzz/seeds/${name#fuzz_}"
    else
        set -- "$@" "$corpus"
    fi
    if "$target" "$@" >"$dir/$name.log" 2>&1; then
        echo OK >"$dir/$name.result"
    else
        echo FAIL >"$dir/$name.result"
    fi
}

names=""
running=0
for target in "$dir"/tests/fuzz/fuzz_*; do
    [ -f "$target" ] && [ -x "$target" ] || continue
    name=$(basename "$target")
    names="$names $name"
    rm -f "$dir/$name.result"
    echo "fuzz: $name for ${seconds}s"
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

status=0
for name in $names; do
    result=$(cat "$dir/$name.result" 2>/dev/null || echo FAIL)
    if [ "$result" != OK ]; then
        status=1
        tail -40 "$dir/$name.log"
    fi
    printf '{"name": "%s", "result": "%s"}\n' "$name" "$result" >>"$log"
    echo "fuzz: $name: $result"
done
exit "$status"
