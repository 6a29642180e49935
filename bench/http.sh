#!/usr/bin/env bash
# HTTP benchmark of the OGC API – Features service, with pygeoapi over PostGIS
# as the peer in the same run (skip it with PEER=0).
#
#   bench/http.sh            # prints a Markdown table; numbers go into the README
#
# Measures, on a synthetic 1M-point layer with five attributes
# (examples/bench_layer.rs):
#   - items with a random bbox and limit=1000 at 1, 8 and 64 concurrent clients (wrk)
#   - the same at 64 clients with Accept-Encoding: gzip and br: req/s and
#     bytes per response (as sent, headers included)
#   - single-item requests/s
#   - seconds for ogr2ogr to pull 100k features into a GeoPackage
#   - resident memory of the server holding the 1M-point layer, after load
#     and after the whole run
# The load generator shares the machine's cores with the server, so compare
# ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
DUR="${DUR:-10s}"
PEER="${PEER:-1}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/chiiki-bench.XXXX)}"
PORT=18080
PEER_PORT=18090

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin chiiki --example bench_layer
BIN="$CARGO_TARGET_DIR/release/chiiki"
GEN="$CARGO_TARGET_DIR/release/examples/bench_layer"

"$GEN" --points 1000000 --data "$WORK" --id points_1m --csv "$WORK/points_1m.csv" >/dev/null
"$GEN" --points 100000 --data "$WORK" --id points_100k --csv "$WORK/points_100k.csv" >/dev/null
mkdir -p "$WORK/empty"

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

start_chiiki() { # data dir
  # Load generators ask far faster than people: no per-client rate limit.
  "$BIN" serve --data "$1" --bind "127.0.0.1:$PORT" --requests-per-minute 0 >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/conformance" >/dev/null && return; sleep 0.1; done
  echo "chiiki did not start" >&2; cat "$WORK/serve.log" >&2; exit 1
}

rps() { # url-base script connections
  local threads=2; [ "$3" -eq 1 ] && threads=1
  wrk -t"$threads" -c"$3" -d"$DUR" -s "bench/$2" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

rps_bytes() { # url-base script connections [accept-encoding]: "<req/s> <bytes/response>"
  local threads=2; [ "$3" -eq 1 ] && threads=1
  local enc=(); [ -n "${4:-}" ] && enc=(-H "Accept-Encoding: $4")
  wrk -t"$threads" -c"$3" -d"$DUR" "${enc[@]}" -s "bench/$2" "$1" |
    awk '/Requests\/sec/ {r=$2} /bytes\/response/ {b=$2} END {printf "%.0f %.0f", r, b}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

pull_seconds() { # base-url layer
  rm -f "$WORK/pull.gpkg"
  /usr/bin/time -f "%e" -o "$WORK/time.txt" ogr2ogr -f GPKG "$WORK/pull.gpkg" "OAPIF:$1/" "$2" -oo PAGE_SIZE="${3:-10000}" 2>/dev/null
  local n; n=$(ogrinfo -ro -so "$WORK/pull.gpkg" "$2" | awk -F': ' '/Feature Count/ {print $2}')
  [ "$n" = "100000" ] || { echo "ogr2ogr pulled $n features, not 100000" >&2; exit 1; }
  cat "$WORK/time.txt"
}

# Baseline memory: the server with no layer.
start_chiiki "$WORK/empty"; base_rss=$(rss_mb $SERVER_PID); kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true

start_chiiki "$WORK"
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
load_ms=$(grep -o 'in [0-9.]*ms' "$WORK/serve.log" | head -1 | tr -dc '0-9.')
rss=$(rss_mb $SERVER_PID)
URL="http://127.0.0.1:$PORT"
c1=$(rps "$URL" bbox.lua 1); c8=$(rps "$URL" bbox.lua 8)
read -r c64 c64_bytes <<<"$(rps_bytes "$URL" bbox.lua 64)"
read -r gz64 gz64_bytes <<<"$(rps_bytes "$URL" bbox.lua 64 gzip)"
read -r br64 br64_bytes <<<"$(rps_bytes "$URL" bbox.lua 64 br)"
# The server really compressed: one page, as curl decodes it.
curl -sf --compressed -H 'Accept-Encoding: gzip' -o /dev/null -w '%{content_type}' \
  "$URL/collections/points_1m/items?limit=1000&bbox=139.74,35.71,139.75,35.72" | grep -q geo+json
item=$(BENCH_N=1000000 rps "$URL" item.lua 32)
pull=$(pull_seconds "$URL" points_100k)
rss_after=$(rss_mb $SERVER_PID)
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true

peer_c1="–"; peer_c8="–"; peer_c64="–"; peer_item="–"; peer_pull="–"; peer_name="pygeoapi + PostGIS (not run)"
if [ "$PEER" = 1 ] && [ -x bench/peer/start.sh ]; then
  bench/peer/setup.sh >/dev/null
  bench/peer/start.sh "$WORK/points_1m.csv" "$PEER_PORT" >/dev/null
  trap 'bench/peer/stop.sh >/dev/null 2>&1 || true' EXIT
  PURL="http://127.0.0.1:$PEER_PORT"
  peer_name="pygeoapi $(python3 -c 'import pygeoapi; print(pygeoapi.__version__)') + PostGIS (gunicorn, 2 workers)"
  export BENCH_LAYER=points BENCH_EXTRA="&f=json"
  peer_c1=$(rps "$PURL" bbox.lua 1); peer_c8=$(rps "$PURL" bbox.lua 8); peer_c64=$(rps "$PURL" bbox.lua 64)
  peer_item=$(BENCH_N=1000000 BENCH_EXTRA="" rps "$PURL" item.lua 32)
  unset BENCH_LAYER BENCH_EXTRA
  bench/peer/stop.sh >/dev/null
  bench/peer/start.sh "$WORK/points_100k.csv" "$PEER_PORT" >/dev/null
  peer_pull=$(pull_seconds "$PURL" points || echo "failed")
  bench/peer/stop.sh >/dev/null
fi

cat <<EOF
Benchmark $(date -u +%Y-%m-%d), $(nproc) cores, wrk on the same machine, ${DUR} per point.

| measure | chiiki | $peer_name |
|---|---|---|
| items, bbox + limit=1000, 1 client (req/s) | $c1 | $peer_c1 |
| items, bbox + limit=1000, 8 clients (req/s) | $c8 | $peer_c8 |
| items, bbox + limit=1000, 64 clients (req/s) | $c64 | $peer_c64 |
| the same, Accept-Encoding: gzip (req/s) | $gz64 ($(ratio "$gz64" "$c64") × uncompressed) | |
| the same, Accept-Encoding: br (req/s) | $br64 ($(ratio "$br64" "$c64") × uncompressed) | |
| bytes per response at 64 clients: identity / gzip / br | $c64_bytes / $gz64_bytes / $br64_bytes (gzip $(ratio "$c64_bytes" "$gz64_bytes") × smaller, br $(ratio "$c64_bytes" "$br64_bytes") ×) | |
| single item, 32 clients (req/s) | $item | $peer_item |
| ogr2ogr pulls 100k features to GPKG (s) | $pull | $peer_pull |
| resident memory, 1M points × 5 attributes (MB) | $rss after load, $rss_after after the whole run, compressed rows included (empty server: $base_rss) | |
| load 1M-point layer at start-up (ms) | $load_ms | |
EOF
