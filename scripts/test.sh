#!/bin/sh
# Install what is needed, build, and run the whole test suite.
#   scripts/test.sh                 # the suite, in build/
#   scripts/test.sh --sanitize      # the same under ASan+UBSan, in build-asan/
# The last line printed is "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."

sanitize=0
[ "${1:-}" = "--sanitize" ] && sanitize=1

sh scripts/deps.sh

if [ "$sanitize" -eq 1 ]; then
    dir=build-asan
    [ -d "$dir" ] || meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
else
    dir=build
    [ -d "$dir" ] || meson setup "$dir" >/dev/null
fi
ninja -C "$dir"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=$?
python3 scripts/tally.py "$dir/meson-logs/testlog.json"
exit "$status"
