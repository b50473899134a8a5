#!/bin/sh
# Reports CRITICAL at once but leaves a child holding stdout for a minute.
# $1: where to write the child's pid.
sleep 60 &
echo $! > "$1"
echo "CRITICAL - left a child behind"
exit 2
