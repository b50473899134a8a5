#!/bin/sh
set -eu
if [ "$1" = redis-server ]; then
    shift
    chown -R redis:redis /data
    exec su redis -s /bin/sh -c 'exec redis-server --bind 0.0.0.0 --protected-mode no "$@"' -- redis-server "$@"
fi
exec "$@"
