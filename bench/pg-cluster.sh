# Sourced by the benchmarks that need PostgreSQL (walking.sh,
# citus-layout.sh): a throwaway cluster in $1/pg, on a free local port and
# a socket there, stopped and removed with the work directory on exit.
# PostgreSQL refuses to run as root: the server runs as `postgres` then.
# PG_OPTIONS (optional) adds server settings, e.g. "-c shared_buffers=1GB".
PG_BIN=/usr/lib/postgresql/15/bin
[ -x "$PG_BIN/initdb" ] || { echo "$PG_BIN/initdb not found (apt-get install postgresql-15-postgis-3 postgresql-15-pgrouting)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_cleanup() {
  [ -f "$PG_WORK/pg/db/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_WORK/pg/db" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PG_WORK"
}
pg_start() {
  PG_WORK=$1
  trap pg_cleanup EXIT
  PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir "$PG_WORK/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_WORK/pg"
  as_pg "$PG_BIN/initdb" -D "$PG_WORK/pg/db" -U postgres --auth=trust -E UTF8 >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_WORK/pg/db" -o "-p $PG_PORT -k $PG_WORK/pg -c listen_addresses=127.0.0.1 ${PG_OPTIONS:-}" -w -l "$PG_WORK/pg/log" start >/dev/null
}
sql() { psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -U postgres -h "$PG_WORK/pg" -p "$PG_PORT" -d postgres "$@"; }
