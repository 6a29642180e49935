#!/usr/bin/env bash
# Embedded (GeoParquet) store against the PostGIS store, on one synthetic
# city of RESIDENTS residents, with pygeoapi over the same PostGIS table as
# the peer for items. Prints a Markdown table for the README.
#
#   nice -n 10 bench/stores.sh                       # RESIDENTS=1000000
#   RESIDENTS=10000000 RUNS=1 nice -n 10 bench/stores.sh
#
# Environment: RESIDENTS (default 1000000), DUR (wrk seconds, default 10s),
# CLIENTS (wrk connections, default 8), RUNS (best of, for the questions;
# default 3), PEER=0 skips pygeoapi, CHIIKI_BIN (a built binary: no cargo
# build), CHIIKI_REAL_DATA (the real public data, default
# ../shared/data/real), DEMO_DATA (a demo data directory built before,
# moved into the work directory instead of building one), KEEP=1 keeps the work directory.
# Everything goes to a work directory under /tmp (BENCH_DIR) that is removed
# on exit, PostgreSQL cluster included. Needs wrk, PostgreSQL 15 + PostGIS 3
# and pygeoapi (bench/peer/setup.sh installs what is missing).
#
# What it measures, in this order:
#  1. `chiiki demo --no-serve --residents N` builds the city (wall, peak RSS).
#  2. A throwaway PostgreSQL 15 + PostGIS cluster (bench/pg-cluster.sh; the
#     settings of bench/peer: shared_buffers 1GB, jit off, fsync off), and
#     `chiiki store migrate --to postgis` copies every layer into it and
#     verifies it (wall, peak RSS; table and file sizes of the residents).
#  3. The registry, for each store: `registry import` of the demo's export
#     as the baseline, then `registry apply` of its month of 異動 (wall
#     each): a file replaced atomically, or the database's blob replaced in
#     one transaction.
#  4. pygeoapi (bench/peer's setup: 0.21, gunicorn with 2 workers) over the
#     cluster's table chiiki."layer_residents" as loaded by the migration:
#     items with a random bbox inside the residents' extent and limit=1000,
#     CLIENTS connections for DUR (wrk, req/s and p99).
#  5. For each store, the six questions (bench/questions.sh's ids) with
#     `chiiki analyse` (its own process, no server running): the computation
#     the command reports, and the wall time of the process, which includes
#     reading the layers from the store; best of RUNS.
#  6. For each store, `chiiki serve`: start-up (spawn until
#     /collections/residents/items answers: every layer loaded; then until
#     the log says the 16 saved analyses are computed, with each question's
#     time as logged) and resident memory at both points and after the
#     items run; the same items run as the peer's; then the store's part of
#     a delta: `registry points` (geocode the registry as of today into a
#     layer, `residents_delta`, written into the store) and the time until
#     the running server serves the generation holding it (GeoParquet: the
#     file watch polls every 2 s; PostGIS: NOTIFY). The server is stopped,
#     and what it did not measure marked –, if the machine's MemAvailable
#     falls under MIN_AVAIL_MB (default 1500): the machine is shared.
#     DELTA_SERVED=0 runs `registry points` after the server is stopped
#     (a second generation and the geocoding process beside a 10M server
#     do not fit in 24 GB); QUESTIONS=0 skips step 5.
# wrk runs on the same 2 cores as the server: compare within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
RESIDENTS="${RESIDENTS:-1000000}"
DUR="${DUR:-10s}"
CLIENTS="${CLIENTS:-8}"
RUNS="${RUNS:-3}"
PEER="${PEER:-1}"
REAL="${CHIIKI_REAL_DATA:-../shared/data/real}"
PORT=18180
PEER_PORT=18190
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [ -n "${CHIIKI_BIN:-}" ]; then BIN=$CHIIKI_BIN; else
  cargo build --release --quiet --bin chiiki
  BIN="$CARGO_TARGET_DIR/release/chiiki"
fi

. bench/pg-cluster.sh
WORK="${BENCH_DIR:-$(mktemp -d /tmp/chiiki-stores.XXXX)}"
chmod 755 "$WORK"
DATA="$WORK/data"
LOG="$WORK/log"
mkdir -p "$LOG"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -s "$WORK/peer/gunicorn.pid" ] && kill "$(cat "$WORK/peer/gunicorn.pid")" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then
    [ -f "$PG_WORK/pg/db/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_WORK/pg/db" -m immediate -w stop >/dev/null 2>&1
    echo "kept $WORK" >&2
  else
    pg_cleanup
  fi
}
trap 'echo "failed at line $LINENO: $BASH_COMMAND" >&2' ERR
PG_WORK=$WORK
trap cleanup EXIT
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
note() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# `timed NAME cmd…`: runs cmd with its output in $LOG/NAME.out; sets
# T_NAME (wall seconds) and M_NAME (peak RSS, MB).
timed() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$LOG/$name.time" "$@" >"$LOG/$name.out" 2>&1 ||
    { echo "failed: $*" >&2; tail -20 "$LOG/$name.out" >&2; exit 1; }
  read -r t m <"$LOG/$name.time"
  printf -v "T_$name" "%.1f" "$t"
  printf -v "M_$name" "%s" "$(mb "$m")"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "–" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# 1. The city.
if [ -n "${DEMO_DATA:-}" ]; then
  # A city built before (`chiiki demo --no-serve --residents N`), moved in
  # (and removed with the work directory): a 10M city is several GB.
  note "moving $DEMO_DATA to $DATA"
  mv "$DEMO_DATA" "$DATA"
  T_demo="built before"; M_demo="–"
else
  note "demo with $RESIDENTS residents into $DATA"
  timed demo "$BIN" demo --data "$DATA" --no-serve --residents "$RESIDENTS" --real-data "$REAL"
fi
ADMIN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$DATA/demo-tokens.json")

# 2. PostgreSQL, and the layers into it.
note "PostgreSQL cluster, store migrate"
PG_OPTIONS="-c shared_buffers=1GB -c work_mem=64MB -c maintenance_work_mem=1GB -c effective_cache_size=8GB -c jit=off -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=8GB -c checkpoint_timeout=1h"
pg_start "$WORK"
trap cleanup EXIT
PG_VERSION=$(sql -c "CREATE EXTENSION IF NOT EXISTS postgis" -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || postgis_lib_version()")
URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
CFG_E="$DATA/chiiki.toml"
CFG_P="$DATA/chiiki-postgis.toml"
{
  echo 'store = "postgis"'
  grep -v '^store *=' "$CFG_E"
  printf '\n[postgis]\nurl = "%s"\n' "$URL"
} >"$CFG_P"
timed migrate "$BIN" store migrate --to postgis "$URL" --data "$DATA"
sql -c 'VACUUM ANALYZE chiiki."layer_residents"'
PG_ROWS=$(sql -c 'SELECT count(*) FROM chiiki."layer_residents"')
PG_MB=$(sql -c "SELECT round(pg_total_relation_size('chiiki.\"layer_residents\"') / 1048576.0)")
PQ_MB=$(du -m "$DATA/layers/residents.parquet" 2>/dev/null | cut -f1 || echo "?")
EXTENT=$(sql -c 'SELECT concat_ws($$,$$, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM (SELECT ST_Extent(geom) AS e FROM chiiki."layer_residents") x')

# 3. The registry: baseline, then a month of 異動.
note "registry import and apply"
for store in embedded postgis; do
  cfg=$CFG_E; [ "$store" = postgis ] && cfg=$CFG_P
  timed "reg_import_$store" "$BIN" --config "$cfg" registry import "$DATA/synthetic/registry.csv" --as-of 2026-10-01 --data "$DATA"
  timed "reg_apply_$store" "$BIN" --config "$cfg" registry apply "$DATA"/synthetic/deltas/* --data "$DATA"
done
APPLIED=$(grep -Eo 'applied [0-9]+ of [0-9]+ rows' "$LOG/reg_apply_embedded.out" | head -1)

export BENCH_EXTENT="$EXTENT" BENCH_LAYER=residents
# `items NAME URL [wrk args]`: sets R_NAME (req/s), P99_NAME (ms), B_NAME (bytes/response).
items() {
  local name=$1 url=$2; shift 2
  # Warm-up (first requests, caches, worker start-up), not counted.
  wrk -t2 -c"$CLIENTS" -d2s "$@" -s bench/stores.lua "$url" >/dev/null 2>&1 || true
  wrk -t2 -c"$CLIENTS" -d"$DUR" --latency "$@" -s bench/stores.lua "$url" >"$LOG/wrk_$name.out" 2>&1
  local r p b e
  r=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$LOG/wrk_$name.out")
  p=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; printf "%.0f", v }' "$LOG/wrk_$name.out")
  b=$(awk '/bytes\/response/ {print $2}' "$LOG/wrk_$name.out")
  e=$(awk '/^errors:/ {print $2}' "$LOG/wrk_$name.out")
  [ "${e:-0}" = 0 ] || { echo "wrk $name: $e errors" >&2; cat "$LOG/wrk_$name.out" >&2; exit 1; }
  printf -v "R_$name" "%s" "$r"; printf -v "P99_$name" "%s" "$p"; printf -v "B_$name" "%s" "$b"
}
# A fixed box in the middle of the extent: features returned, a sanity check that all serve pages alike.
IFS=, read -r X0 Y0 X1 Y1 <<<"$EXTENT"
MID=$(awk -v a="$X0" -v b="$Y0" -v c="$X1" -v d="$Y1" 'BEGIN { x = (a + c) / 2; y = (b + d) / 2; printf "%.6f,%.6f,%.6f,%.6f", x - 0.003, y - 0.0025, x + 0.003, y + 0.0025 }')
returned() { curl -sf "$@" | python3 -c 'import json, sys; print(json.load(sys.stdin)["numberReturned"])'; }

# 4. pygeoapi over the same table.
R_peer="–"; P99_peer="–"; B_peer="–"; N_peer="–"; PEER_NAME="pygeoapi over PostGIS (not run)"
if [ "$PEER" = 1 ]; then
  note "pygeoapi"
  bench/peer/setup.sh >/dev/null
  mkdir "$WORK/peer"
  export PYGEOAPI_CONFIG="$WORK/peer/pygeoapi.yml" PYGEOAPI_OPENAPI="$WORK/peer/openapi.yml"
  # Its PostgreSQL provider reflects the table (fid, the attributes,
  # chiiki_row, geom). The geometry is JGD2011 (EPSG:6668), its storage CRS.
  # pygeoapi would transform a CRS84 bbox into it in EPSG:6668's axis order
  # (latitude first) and find nothing, so the requests name 6668 as bbox-crs
  # and crs: the numbers go to ST_MakeEnvelope and come back as stored
  # (longitude first, as chiiki's CRS84), with no reprojection per feature.
  cat >"$PYGEOAPI_CONFIG" <<EOF
server:
  bind: {host: 127.0.0.1, port: $PEER_PORT}
  url: http://127.0.0.1:$PEER_PORT
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  gzip: false
  languages: [en-US]
  cors: false
  pretty_print: false
  admin: false
  limits: {default_items: 10, max_items: 100000, on_exceed: throttle}
  map:
    url: https://tile.openstreetmap.org/{z}/{x}/{y}.png
    attribution: OpenStreetMap
logging: {level: ERROR, logfile: $WORK/peer/pygeoapi.log}
metadata:
  identification: {title: chiiki stores peer, description: pygeoapi over the PostGIS store, keywords: [benchmark], keywords_type: theme, terms_of_service: none, url: http://127.0.0.1}
  license: {name: none, url: http://127.0.0.1}
  provider: {name: chiiki bench, url: http://127.0.0.1}
  contact: {name: chiiki bench, url: http://127.0.0.1}
resources:
  residents:
    type: collection
    title: residents
    description: chiiki's residents layer in the PostGIS store
    keywords: [residents]
    extents:
      spatial: {bbox: [$EXTENT], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}
    providers:
      - type: feature
        name: PostgreSQL
        data: {host: 127.0.0.1, port: $PG_PORT, dbname: postgres, user: postgres, search_path: [chiiki]}
        id_field: fid
        table: layer_residents
        geom_field: geom
        storage_crs: http://www.opengis.net/def/crs/EPSG/0/6668
        crs: [http://www.opengis.net/def/crs/OGC/1.3/CRS84, http://www.opengis.net/def/crs/EPSG/0/6668]
EOF
  python3 -c 'import sys; from pygeoapi import cli; sys.argv[0] = "pygeoapi"; sys.exit(cli())' \
    openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" >"$LOG/openapi.out" 2>&1
  extra=(); python3 -m gunicorn --help | grep -q -- --no-control-socket && extra=(--no-control-socket)
  python3 -m gunicorn pygeoapi.flask_app:APP --workers 2 --bind "127.0.0.1:$PEER_PORT" "${extra[@]}" \
    --daemon --pid "$WORK/peer/gunicorn.pid" --error-logfile "$LOG/gunicorn.out"
  for _ in $(seq 240); do curl -sf -o /dev/null "http://127.0.0.1:$PEER_PORT/collections/residents/items?f=json&limit=1" && break; sleep 0.5; done
  PEER_EXTRA="&f=json&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/6668&crs=http://www.opengis.net/def/crs/EPSG/0/6668"
  N_peer=$(returned "http://127.0.0.1:$PEER_PORT/collections/residents/items?limit=1000&bbox=$MID$PEER_EXTRA")
  BENCH_EXTRA="$PEER_EXTRA" items peer "http://127.0.0.1:$PEER_PORT" --timeout 60s
  PEER_NAME="pygeoapi $(python3 -c 'import pygeoapi; print(pygeoapi.__version__)') over the same table (gunicorn, 2 workers)"
  kill "$(cat "$WORK/peer/gunicorn.pid")"; rm -f "$WORK/peer/gunicorn.pid"
  unset PYGEOAPI_CONFIG PYGEOAPI_OPENAPI
fi

# 5. The six questions, one `chiiki analyse` process each (QUESTIONS=0 skips them).
ids=(elderly_in_flood aging_mesh_250m vaccination_gaps_250m elderly_beyond_shelters_300m flood_exposure_by_town weak_bridges_in_flood risky_pipes_near_support)
declare -A Q_N Q_MS Q_WALL S_MS
to_ms() { sed -E 's/([0-9.]+)(ms|µs|s)$/\1 \2/' | awk '{ if ($2 == "µs") print $1 / 1000; else if ($2 == "s") print $1 * 1000; else print $1 }'; }
if [ "${QUESTIONS:-1}" = 1 ]; then
  for store in embedded postgis; do
    cfg=$CFG_E; [ "$store" = postgis ] && cfg=$CFG_P
    note "questions: $store"
    for id in "${ids[@]}"; do
      best_ms=""; best_wall=""
      for _ in $(seq "$RUNS"); do
        timed q "$BIN" --config "$cfg" analyse "$id" -o /dev/null
        line=$(tail -1 "$LOG/q.out")
        ms=$(echo "$line" | sed -E 's/.* in //' | to_ms)
        Q_N[$store.$id]=$(echo "$line" | sed -E 's/^[^:]*: ([0-9]+) features.*/\1/')
        if [ -z "$best_ms" ] || awk "BEGIN { exit !($ms < $best_ms) }"; then best_ms=$ms; fi
        if [ -z "$best_wall" ] || awk "BEGIN { exit !($T_q < $best_wall) }"; then best_wall=$T_q; fi
      done
      Q_MS[$store.$id]=$best_ms; Q_WALL[$store.$id]=$best_wall
    done
  done
fi

# 6. chiiki serve on each store.
URLC="http://127.0.0.1:$PORT"
# The admin token: every record and field, as the peer serves them (a
# planner sees the records its role's filter selects).
AUTH=(-H "Authorization: Bearer $ADMIN")
MIN_AVAIL_MB="${MIN_AVAIL_MB:-1500}"
generation() { curl -sf -o /dev/null -D - "${AUTH[@]}" "$URLC/collections/residents/items?limit=1" | awk -F': ' 'tolower($1) == "chiiki-generation" { print $2 + 0 }'; }
avail_mb() { awk '/MemAvailable/ { printf "%.0f", $2 / 1024 }' /proc/meminfo; }
alive() { # name: the server still runs (else records why, with the watchdog's note)
  kill -0 "$SERVER_PID" 2>/dev/null && return 0
  wait "$SERVER_PID" 2>/dev/null || true
  printf -v "FAIL_$1" "%s" "$(cat "$LOG/watchdog_$1" 2>/dev/null || echo "the server ended: $(tail -1 "$LOG/serve_$1.out")")"
  local f="FAIL_$1"
  echo "chiiki serve ($1): ${!f}" >&2
  SERVER_PID=""
  return 1
}
serve_store() { # name config: 0, or 1 if the server ended (stopped by the watchdog)
  local name=$1 cfg=$2 t0 w
  note "serve: $name"
  t0=$(now)
  "$BIN" --config "$cfg" serve --bind "127.0.0.1:$PORT" --requests-per-minute 0 >"$LOG/serve_$name.out" 2>&1 &
  SERVER_PID=$!
  # The machine is shared: the server is stopped before it takes the
  # memory others need (MemAvailable under MIN_AVAIL_MB).
  ( while kill -0 "$SERVER_PID" 2>/dev/null; do
      if [ "$(avail_mb)" -lt "$MIN_AVAIL_MB" ]; then
        echo "stopped by the benchmark at $(mb "$(proc_kb "$SERVER_PID" VmRSS)") MB resident, $(since "$t0") s after start: MemAvailable under $MIN_AVAIL_MB MB" >"$LOG/watchdog_$name"
        kill "$SERVER_PID"; break
      fi
      sleep 0.2
    done ) &
  w=$!
  until curl -sf -o /dev/null "${AUTH[@]}" "$URLC/collections/residents/items?limit=1"; do
    alive "$name" || return 1
    sleep 0.1
  done
  printf -v "START_$name" "%s" "$(since "$t0")"
  printf -v "RSS0_$name" "%s" "$(mb "$(proc_kb "$SERVER_PID" VmRSS)")"
  until grep -q "saved analyses computed" "$LOG/serve_$name.out"; do alive "$name" || return 1; sleep 0.1; done
  printf -v "READY_$name" "%s" "$(since "$t0")"
  printf -v "RSS_$name" "%s" "$(mb "$(proc_kb "$SERVER_PID" VmRSS)")"
  # Each question's computation as the server logged it at start-up.
  local id
  for id in "${ids[@]}"; do
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$LOG/serve_$name.out" | grep -m1 "analysis '$id': " || true)
    S_MS[$name.$id]=$(echo "$line" | sed -E 's/.* in //' | to_ms)
    [ -n "${Q_N[$name.$id]:-}" ] || Q_N[$name.$id]=$(echo "$line" | sed -E "s/.*analysis '$id': ([0-9]+) features.*/\1/")
  done
  printf -v "N_$name" "%s" "$(returned "${AUTH[@]}" "$URLC/collections/residents/items?limit=1000&bbox=$MID")"
  items "$name" "$URLC" "${AUTH[@]}"
  printf -v "RSS2_$name" "%s" "$(mb "$(proc_kb "$SERVER_PID" VmRSS)")"
  # The store's part of a delta: the registry's points into the store, then
  # served (DELTA_SERVED=0: the server is stopped first; not served).
  local g t1
  if [ "${DELTA_SERVED:-1}" = 1 ]; then
    g=$(generation)
    timed "points_$name" "$BIN" --config "$cfg" registry points --data "$DATA" --reference "$DATA/reference.chiiki" --layer residents_delta
    t1=$(now)
    until [ "$(generation)" -gt "$g" ] && curl -sf -o /dev/null "${AUTH[@]}" "$URLC/collections/residents_delta/items?limit=1"; do
      alive "$name" || return 1
      [ "$(since "$t1" | cut -d. -f1)" -lt 1800 ] || { echo "$name: no new generation after 30 min" >&2; break; }
      sleep 0.05
    done
    printf -v "RELOAD_$name" "%s" "$(since "$t1")"
  fi
  printf -v "HWM_$name" "%s" "$(mb "$(proc_kb "$SERVER_PID" VmHWM)")"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  wait "$w" 2>/dev/null || true
  if [ "${DELTA_SERVED:-1}" != 1 ]; then
    timed "points_$name" "$BIN" --config "$cfg" registry points --data "$DATA" --reference "$DATA/reference.chiiki" --layer residents_delta
    RELOAD_embedded="not measured"; RELOAD_postgis="not measured"
  fi
}
serve_store embedded "$CFG_E" || true
serve_store postgis "$CFG_P" || true
# What a stopped server left unmeasured: the delta into its store, with no server.
for name in embedded postgis; do
  t=T_points_$name; [ -n "${!t:-}" ] && continue
  cfg=$CFG_E; [ "$name" = postgis ] && cfg=$CFG_P
  timed "points_$name" "$BIN" --config "$cfg" registry points --data "$DATA" --reference "$DATA/reference.chiiki" --layer residents_delta
done

# The table.
v() { local x=$1; printf '%s' "${!x:-–}"; }
echo "Stores benchmark $(date -u +%Y-%m-%d), $(nproc) cores, load average at start $LOAD; $RESIDENTS residents asked for, \`residents\` layer of $PG_ROWS features ($PQ_MB MB GeoParquet, $PG_MB MB table with indexes); $PG_VERSION; wrk on the same machine, $CLIENTS connections, $DUR per run."
for name in embedded postgis; do f=FAIL_$name; [ -z "${!f:-}" ] || echo "The $name server: ${!f}."; done
cat <<TABLE

| measure | embedded (GeoParquet) | PostGIS | PostGIS ÷ embedded | $PEER_NAME |
|---|---|---|---|---|
| build the city: \`chiiki demo --no-serve\` (s, peak MB) | $T_demo s, $M_demo MB | | | |
| \`store migrate --to postgis\`, all layers, verified (s, peak MB) | | $T_migrate s, $M_migrate MB | | |
| server start-up until residents answer (s) | $(v START_embedded) | $(v START_postgis) | $(ratio "$(v START_postgis)" "$(v START_embedded)") | |
| server resident memory then (MB) | $(v RSS0_embedded) | $(v RSS0_postgis) | $(ratio "$(v RSS0_postgis)" "$(v RSS0_embedded)") | |
| … until its 16 saved analyses are computed ("ready") (s) | $(v READY_embedded) | $(v READY_postgis) | $(ratio "$(v READY_postgis)" "$(v READY_embedded)") | |
| server resident memory then (MB) | $(v RSS_embedded) | $(v RSS_postgis) | $(ratio "$(v RSS_postgis)" "$(v RSS_embedded)") | |
| items, random bbox + limit=1000 (req/s) | $(v R_embedded) | $(v R_postgis) | $(ratio "$(v R_postgis)" "$(v R_embedded)") | $R_peer |
| the same, p99 latency (ms) | $(v P99_embedded) | $(v P99_postgis) | | $P99_peer |
| the same, bytes per response | $(v B_embedded) | $(v B_postgis) | | $B_peer |
| features in a fixed central bbox page | $(v N_embedded) | $(v N_postgis) | | $N_peer |
| server resident memory after the items run (MB) | $(v RSS2_embedded) | $(v RSS2_postgis) | | |
| \`registry import\` baseline (s) | $T_reg_import_embedded | $T_reg_import_postgis | $(ratio "$T_reg_import_postgis" "$T_reg_import_embedded") | |
| \`registry apply\` a month of 異動 in one transaction (s): $APPLIED | $T_reg_apply_embedded | $T_reg_apply_postgis | $(ratio "$T_reg_apply_postgis" "$T_reg_apply_embedded") | |
| \`registry points\` into the store (s, peak MB) | $(v T_points_embedded) s, $(v M_points_embedded) MB | $(v T_points_postgis) s, $(v M_points_postgis) MB | $(ratio "$(v T_points_postgis)" "$(v T_points_embedded)") | |
| then until the running server serves it (s) | $(v RELOAD_embedded) | $(v RELOAD_postgis) | $(ratio "$(v RELOAD_postgis)" "$(v RELOAD_embedded)") | |
| server peak resident memory over the run (MB) | $(v HWM_embedded) | $(v HWM_postgis) | | |
TABLE
echo
echo "The six questions: each one's computation as the server logged it at start-up, and \`chiiki analyse\` in its own process, best of $RUNS: the computation it reports and the process's wall time (reading every layer from the store included)."
echo
echo "| analysis | features | embedded: in server (ms) | analyse (ms) | analyse wall (s) | PostGIS: in server (ms) | analyse (ms) | analyse wall (s) | wall PostGIS ÷ embedded |"
echo "|---|---|---|---|---|---|---|---|---|"
ms1() { awk -v x="$1" 'BEGIN { if (x ~ /^[0-9.]+$/) printf "%.1f", x; else printf "%s", x }'; }
tw_e=0; tw_p=0
for id in "${ids[@]}"; do
  n=${Q_N[embedded.$id]:-–}; [ "$n" = "${Q_N[postgis.$id]:-–}" ] || n="$n / ${Q_N[postgis.$id]} (differ)"
  we=${Q_WALL[embedded.$id]:-–}; wp=${Q_WALL[postgis.$id]:-–}
  tw_e=$(awk -v a="$tw_e" -v b="$we" 'BEGIN { print a + b }'); tw_p=$(awk -v a="$tw_p" -v b="$wp" 'BEGIN { print a + b }')
  printf '| `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$id" "$n" "$(ms1 "${S_MS[embedded.$id]:-–}")" "$(ms1 "${Q_MS[embedded.$id]:-–}")" "$we" "$(ms1 "${S_MS[postgis.$id]:-–}")" "$(ms1 "${Q_MS[postgis.$id]:-–}")" "$wp" "$(ratio "$wp" "$we")"
done
if [ "${QUESTIONS:-1}" = 1 ]; then
  printf '| all seven | | | | %.1f | | | %.1f | %s |\n' "$tw_e" "$tw_p" "$(ratio "$tw_p" "$tw_e")"
fi
