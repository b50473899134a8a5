#!/bin/sh
# A wrapper whose child outlives the check's timeout: the whole group must go.
# $1: where to write the child's pid.
sleep 20 &
echo $! > "$1"
echo "waiting for the child"
wait
