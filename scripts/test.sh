#!/bin/sh
# Install what is needed, build, and run the whole test suite.
#   scripts/test.sh                 # the suite, in build/
#   scripts/test.sh --sanitize      # the same under ASan+UBSan, in build-asan/
#   scripts/test.sh --valgrind      # integration tests with shipwatchd under
#                                   # valgrind: any leak fails the test
# The last line printed is "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."

sanitize=0 setup="" log=testlog
case "${1:-}" in
--sanitize) sanitize=1 ;;
--valgrind) setup="--setup valgrind --suite integration" log=testlog-valgrind ;;
"") ;;
*) echo "usage: scripts/test.sh [--sanitize | --valgrind]" >&2; exit 2 ;;
esac

sh scripts/deps.sh

if [ "$sanitize" -eq 1 ]; then
    dir=build-asan
    [ -f "$dir/build.ninja" ] || meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
else
    dir=build
    [ -f "$dir/build.ninja" ] || meson setup "$dir" >/dev/null
fi
ninja -C "$dir"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
# shellcheck disable=SC2086 # $setup is two words or none
meson test -C "$dir" $setup --print-errorlogs --num-processes 2 || status=$?
python3 scripts/tally.py "$dir/meson-logs/$log.json"
exit "$status"
