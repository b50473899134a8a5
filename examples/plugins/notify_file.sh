#!/bin/sh
# An exec notifier: append the alert's JSON payload (stdin) to the file
# named by $1 as one line, so `tail -f FILE | jq .` follows the pages.
set -eu
[ $# -eq 1 ] || { echo "usage: notify_file.sh FILE < payload" >&2; exit 2; }
{ cat; echo; } >>"$1"
