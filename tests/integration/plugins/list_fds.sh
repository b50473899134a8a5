#!/bin/sh
# OK when the plugin holds nothing but stdin, stdout and stderr (and the
# shell's own descriptor on this script).
self=$(readlink -f "$0")
cd /proc/self/fd || exit 3
extra=""
for n in *; do
    if [ "$n" -gt 2 ] && [ -e "$n" ]; then
        target=$(readlink "$n")
        if [ "$target" != "$self" ]; then
            extra="$extra $n->$target"
        fi
    fi
done
if [ -n "$extra" ]; then
    echo "CRITICAL - inherited descriptors:$extra"
    exit 2
fi
echo "OK - stdio only"
