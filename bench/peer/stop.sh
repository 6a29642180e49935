#!/usr/bin/env bash
# Stops what bench/peer/start.sh started (gunicorn/pygeoapi, then the
# PostgreSQL cluster) and removes its state dir with the cluster in it.
# Safe to run when nothing is running.
#
# Environment: PEER_RUN_DIR (default /tmp/chiiki-peer), as for start.sh.
set -euo pipefail

RUN_DIR=${PEER_RUN_DIR:-/tmp/chiiki-peer}
PG_BIN=/usr/lib/postgresql/15/bin

if [ ! -e "$RUN_DIR" ]; then
  echo "peer not running ($RUN_DIR absent)"
  exit 0
fi
if [ ! -e "$RUN_DIR/.chiiki-peer" ]; then
  echo "$RUN_DIR was not made by start.sh; leaving it alone" >&2
  exit 1
fi

# gunicorn: TERM to the master stops its workers too.
if [ -s "$RUN_DIR/gunicorn.pid" ]; then
  pid=$(cat "$RUN_DIR/gunicorn.pid")
  if grep -q gunicorn "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "gunicorn $pid still up after 20 s; killing it"
      kill -KILL "$pid"
    fi
    echo "stopped gunicorn $pid"
  fi
fi

# PostgreSQL
pg_ctl_() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN_DIR/pgdata" "$@"
  else
    "$PG_BIN/pg_ctl" -D "$RUN_DIR/pgdata" "$@"
  fi
}
if [ -d "$RUN_DIR/pgdata" ] && pg_ctl_ status >/dev/null 2>&1; then
  pg_ctl_ -m fast -w stop >/dev/null
  echo "stopped postgres"
fi

rm -rf "$RUN_DIR"
echo "removed $RUN_DIR"
