#!/bin/sh
# Bring the database to the latest schema, then run the aqcast command given (default
# `serve`). The database may still be starting beside us: retry the migration a while.
set -eu

tries="${AQCAST_MIGRATE_TRIES:-30}"
n=1
until aqcast migrate; do
    if [ "$n" -ge "$tries" ]; then
        echo "database not reachable after $tries attempts; giving up" >&2
        exit 1
    fi
    echo "migration attempt $n failed; retrying in 2 s" >&2
    n=$((n + 1))
    sleep 2
done

if [ "$#" -eq 0 ]; then
    set -- serve
fi
exec aqcast "$@"
