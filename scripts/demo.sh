#!/bin/sh
# Install, build, and run the demo: a local target that flips between up and
# down on its own, and shipwatchd watching it with examples/demo.yml.
# Ctrl-C stops both.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build

export SHIPWATCH_DEMO_DIR="${SHIPWATCH_DEMO_DIR:-/tmp/shipwatch-demo}"
mkdir -p "$SHIPWATCH_DEMO_DIR"
python3 tests/integration/target.py --port 18080 --flip-period 30 >/dev/null &
target=$!
trap 'kill $target 2>/dev/null; wait $target 2>/dev/null' EXIT INT TERM

build/daemon/shipwatchd --check-config --config examples/demo.yml
echo "shipwatchd is watching the demo; history in $SHIPWATCH_DEMO_DIR/history.db."
echo "In another terminal: SHIPWATCH_SOCKET=$SHIPWATCH_DEMO_DIR/shipwatch.sock build/tui/shipwatch status"
echo "Ctrl-C to stop."
build/daemon/shipwatchd --config examples/demo.yml --log-format text
