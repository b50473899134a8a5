#!/bin/sh
# OK when the environment is the minimal one (PATH, LANG; PWD is the shell's).
extra=$(env | cut -d= -f1 | grep -v -x -e PATH -e LANG -e PWD | tr '\n' ' ')
if [ -n "$extra" ]; then
    echo "CRITICAL - environment leaks: $extra"
    exit 2
fi
echo "OK - PATH=$PATH LANG=$LANG"
