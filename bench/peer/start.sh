#!/usr/bin/env bash
# Starts the peer server: a throwaway PostgreSQL/PostGIS cluster holding the
# points of CSV_FILE as table `points`, served by pygeoapi (PostgreSQL
# provider) under gunicorn on 127.0.0.1:PORT as collection `points`.
#
#   bench/peer/start.sh CSV_FILE PORT      # then bench/peer/stop.sh
#
# CSV header: fid,lon,lat,age,name,score,flag,registered
#
# Environment (all optional):
#   PEER_RUN_DIR   state dir: cluster, config, logs, pids (default /tmp/chiiki-peer)
#   PEER_PG_PORT   PostgreSQL TCP port on 127.0.0.1 (default 5439)
#   PEER_WORKERS   gunicorn workers (default 2)
#   PEER_MAX_ITEMS pygeoapi limits.max_items, the largest `limit` honoured (default 100000)
#   PEER_CLUSTER   1: CLUSTER the table on its GIST index (default 0: rows in fid order)
#   PYTHON         interpreter that has pygeoapi and gunicorn (default python3)
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CSV_FILE PORT" >&2
  exit 2
fi
CSV=$(realpath "$1")
PORT=$2
[ -r "$CSV" ] || { echo "cannot read $CSV" >&2; exit 2; }

RUN_DIR=${PEER_RUN_DIR:-/tmp/chiiki-peer}
PG_PORT=${PEER_PG_PORT:-5439}
WORKERS=${PEER_WORKERS:-2}
MAX_ITEMS=${PEER_MAX_ITEMS:-100000}
PY=${PYTHON:-python3}
PG_BIN=/usr/lib/postgresql/15/bin
DB=chiiki_peer
HERE=$(cd "$(dirname "$0")" && pwd)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# PostgreSQL refuses to run as root: run the server as `postgres` then.
if [ "$(id -u)" -eq 0 ]; then
  PG_USER=postgres
  as_pg() { runuser -u "$PG_USER" -- "$@"; }
else
  PG_USER=$(id -un)
  as_pg() { "$@"; }
fi

if [ -e "$RUN_DIR" ]; then
  echo "$RUN_DIR exists: a peer may be running; stopping it first"
  PEER_RUN_DIR="$RUN_DIR" "$HERE/stop.sh"
fi
for p in "$PORT" "$PG_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "127.0.0.1:$p is already in use" >&2
    exit 1
  fi
done
mkdir "$RUN_DIR"
touch "$RUN_DIR/.chiiki-peer"   # stop.sh removes only directories marked so
chown "$PG_USER" "$RUN_DIR"

# If a step fails from here on, what did start keeps running: stop.sh ends it.
trap 'echo "start failed: logs are in $RUN_DIR; run stop.sh to stop what did start and remove it" >&2' ERR

# --- PostgreSQL -------------------------------------------------------------
t0=$(now)
as_pg "$PG_BIN/initdb" -D "$RUN_DIR/pgdata" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C.UTF-8 >"$RUN_DIR/initdb.log"
# Loopback only. Durability is off (fsync, WAL): the cluster is thrown away
# after the run, and this only speeds up the load. Memory suits 24 GiB.
cat >>"$RUN_DIR/pgdata/postgresql.conf" <<EOF

# --- chiiki bench peer ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN_DIR'
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 1GB
temp_buffers = 256MB
effective_cache_size = 8GB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
checkpoint_timeout = 1h
# PostGIS functions carry high cost estimates, so bbox queries on a large table
# pass jit_above_cost and pay ~0.5 s of LLVM compilation per query; off, as is
# usual for PostGIS OLTP-style serving.
jit = off
EOF
as_pg "$PG_BIN/pg_ctl" -D "$RUN_DIR/pgdata" -l "$RUN_DIR/postgres.log" -w -t 60 start >/dev/null
echo "postgres $(head -1 "$RUN_DIR/pgdata/postmaster.pid")" >"$RUN_DIR/pids"
echo "postgres up on 127.0.0.1:$PG_PORT ($(since "$t0"))"

psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
psql_ -d postgres -c "CREATE DATABASE $DB"
psql_ -d "$DB" -c "CREATE EXTENSION postgis"

# --- load the CSV -----------------------------------------------------------
# One transaction: COPY into a temp table (psql's \copy streams the file,
# opened here as fd 3, so the server needs no access to it), then build the
# real table with the geometry, primary key and GIST index; then ANALYZE.
t0=$(now)
psql_ -d "$DB" -1 -f /dev/stdin 3<"$CSV" <<'SQL'
CREATE TEMP TABLE points_csv (
  fid integer, lon double precision, lat double precision, age integer,
  name text, score double precision, flag boolean, registered date
) ON COMMIT DROP;
\copy points_csv FROM '/dev/fd/3' WITH (FORMAT csv, HEADER true)
CREATE TABLE points AS
  SELECT fid, age, name, score, flag, registered,
         ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom
  FROM points_csv ORDER BY fid;
ALTER TABLE points ADD PRIMARY KEY (fid);
CREATE INDEX points_geom_idx ON points USING gist (geom);
SQL
if [ "${PEER_CLUSTER:-0}" = 1 ]; then
  # Optional: store rows in spatial order, so a bbox reads few heap pages.
  psql_ -d "$DB" -c "CLUSTER points USING points_geom_idx"
fi
psql_ -d "$DB" -c "VACUUM ANALYZE points"
load_time=$(since "$t0")
read -r ROWS XMIN YMIN XMAX YMAX < <(psql_ -d "$DB" -At -F ' ' -c \
  "SELECT (SELECT count(*) FROM points), ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
   FROM (SELECT ST_Extent(geom) AS e FROM points) x")
echo "loaded $ROWS rows from $CSV in $load_time"

# --- pygeoapi ---------------------------------------------------------------
export PYGEOAPI_CONFIG="$RUN_DIR/pygeoapi.yml"
export PYGEOAPI_OPENAPI="$RUN_DIR/openapi.yml"
cat >"$PYGEOAPI_CONFIG" <<EOF
server:
  bind: {host: 127.0.0.1, port: $PORT}
  url: http://127.0.0.1:$PORT
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  gzip: false
  languages: [en-US]
  cors: false
  pretty_print: false
  admin: false
  limits:
    default_items: 10
    max_items: $MAX_ITEMS
    on_exceed: throttle
  map:
    url: https://tile.openstreetmap.org/{z}/{x}/{y}.png
    attribution: OpenStreetMap
logging:
  level: ERROR
  logfile: $RUN_DIR/pygeoapi.log
metadata:
  identification:
    title: chiiki bench peer
    description: pygeoapi over PostGIS, serving the benchmark points
    keywords: [benchmark]
    keywords_type: theme
    terms_of_service: none
    url: http://127.0.0.1:$PORT
  license: {name: none, url: http://127.0.0.1:$PORT}
  provider: {name: chiiki bench, url: http://127.0.0.1:$PORT}
  contact: {name: chiiki bench, url: http://127.0.0.1:$PORT}
resources:
  points:
    type: collection
    title: points
    description: benchmark points ($ROWS rows)
    keywords: [points]
    extents:
      spatial:
        bbox: [$XMIN, $YMIN, $XMAX, $YMAX]
        crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84
    providers:
      - type: feature
        name: PostgreSQL
        data:
          host: 127.0.0.1
          port: $PG_PORT
          dbname: $DB
          user: postgres
          search_path: [public]
        id_field: fid
        table: points
        geom_field: geom
EOF
# pygeoapi serves a pre-generated OpenAPI document; generating it also checks
# that the provider can reach and reflect the table.
"$PY" -c 'import sys; from pygeoapi import cli; sys.argv[0] = "pygeoapi"; sys.exit(cli())' \
  openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" >"$RUN_DIR/openapi.log" 2>&1 \
  || { cat "$RUN_DIR/openapi.log" >&2; false; }

# gunicorn >= 27 opens a control socket under ~/.gunicorn unless told not to.
extra=()
if "$PY" -m gunicorn --help | grep -q -- --no-control-socket; then
  extra+=(--no-control-socket)
fi
"$PY" -m gunicorn pygeoapi.flask_app:APP \
  --workers "$WORKERS" --bind "127.0.0.1:$PORT" "${extra[@]}" \
  --daemon --pid "$RUN_DIR/gunicorn.pid" --error-logfile "$RUN_DIR/gunicorn.log" \
  >>"$RUN_DIR/gunicorn.log" 2>&1

probe="http://127.0.0.1:$PORT/collections/points/items?f=json&limit=1"
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$probe" 2>/dev/null; then
    echo "gunicorn $(cat "$RUN_DIR/gunicorn.pid")" >>"$RUN_DIR/pids"
    echo "pygeoapi up: http://127.0.0.1:$PORT/ (gunicorn master $(cat "$RUN_DIR/gunicorn.pid"), $WORKERS workers); PIDs in $RUN_DIR/pids"
    exit 0
  fi
  sleep 0.5
done
echo "pygeoapi did not answer $probe within 60 s; see $RUN_DIR/gunicorn.log and pygeoapi.log" >&2
exit 1
