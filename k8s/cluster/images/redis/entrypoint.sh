#!/bin/sh
# Starts redis-server as this container's PID 1 (it handles SIGTERM itself: a last save,
# then exit), listening on every address without protected mode, the append-only file on,
# data in /data. The password is handed over on standard input, as a config line, so that
# it is in no command line. Arguments are passed on to redis-server: `--port 16379`, say
# (no port variable: Kubernetes' service links set REDIS_PORT=tcp://... in the pods).
#   REDIS_PASSWORD         required (unless ALLOW_EMPTY_PASSWORD=yes)
set -eu
config=""
if [ -n "${REDIS_PASSWORD:-}" ]; then
    # A double-quoted config string: backslashes and quotes escaped.
    escaped=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
    config="requirepass \"$escaped\""
elif [ "${ALLOW_EMPTY_PASSWORD:-no}" != yes ]; then
    echo "redis-entrypoint: REDIS_PASSWORD is empty (ALLOW_EMPTY_PASSWORD=yes runs without)" >&2
    exit 1
fi
exec redis-server - \
    --port 6379 \
    --protected-mode no \
    --dir /data \
    --appendonly yes \
    "$@" <<CONFIG
$config
CONFIG
