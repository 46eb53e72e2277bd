#!/bin/sh
# Container entrypoint: one image, several jobs.
#   bot                  run the Telegram bot (default)
#   index PATH [OPTS]    build or update the catalog: `python -m indexer build PATH [OPTS]`;
#                        several folders: `index DIR1 DIR2 ...` (each one in turn)
#   indexer ARGS...      any indexer command, e.g. `indexer stats --json`
#   healthcheck          what the HEALTHCHECK runs
#   anything else        executed as given (e.g. `bash`, `python -c ...`)
# `exec` keeps Python as PID 1's direct replacement so SIGTERM from `docker stop` reaches it.
set -eu

cmd="${1:-bot}"
[ $# -gt 0 ] && shift

case "$cmd" in
    bot)
        exec python -m bot "$@" ;;
    healthcheck)
        exec python -m bot healthcheck ;;
    indexer)
        exec python -m indexer "$@" ;;
    index)
        if [ $# -eq 0 ]; then
            echo "usage: index PATH [--source folder|unsplash|fashion|manifest] [--json]" \
                 "| index DIR1 DIR2 ..." >&2
            exit 2
        fi
        # Options present: one source with its options, passed through as is.
        for arg in "$@"; do
            case "$arg" in -*) exec python -m indexer build "$@" ;; esac
        done
        for path in "$@"; do
            echo "indexing $path" >&2
            python -m indexer build "$path"
        done ;;
    *)
        exec "$cmd" "$@" ;;
esac
