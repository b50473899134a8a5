#!/bin/sh
set -eu
for f in /docker-entrypoint.d/*.sh; do
    [ -e "$f" ] || continue
    echo "docker-entrypoint.sh: running $f"
    sh "$f"
done
exec "$@"
