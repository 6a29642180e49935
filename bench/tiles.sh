#!/usr/bin/env bash
# Vector tiles (MVT) on the demo city (build it first with
# `chiiki demo --data demo-data --no-serve`).
#
#   bench/tiles.sh [demo-data]     # prints a Markdown table for the README
#
# For each zoom 10–16, every tile over 文京区 (139.72–139.78 E,
# 35.70–35.74 N) of
#   - residents, as the planner (personal: built and audited each time,
#     never cached), and
#   - flood_a31_tokyo (7,303 A31 polygons), anonymous (open: cached),
# - cold: the first request of each tile, one after the other on one
#   connection (curl), as tiles per second of wall time;
# - warm: wrk, 2 connections, for $DUR over the same tiles (for the open
#   layer these come from the in-memory tile cache; residents tiles are
#   built and audited again).
# Then the median and p95 of 50 requests for the z14 residents tile over
# the centre of 文京区 (curl's time_total, on one connection).
# The load generator shares the machine's cores with the server: compare
# the rows of one run with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
DATA="${1:-demo-data}"
DUR="${DUR:-5s}"
PORT="${PORT:-18096}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -f "$DATA/chiiki.toml" ] || { echo "no demo in $DATA: run chiiki demo --data $DATA --no-serve" >&2; exit 1; }
cargo build --release --quiet --bin chiiki
BIN="$CARGO_TARGET_DIR/release/chiiki"
WORK=$(mktemp -d /tmp/chiiki-tiles.XXXX)

token() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$DATA/demo-tokens.json" "$1"; }

"$BIN" serve --config "$DATA/chiiki.toml" --bind "127.0.0.1:$PORT" \
  --requests-per-minute 0 --audit-log "$WORK/audit.jsonl" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 600); do curl -sf "$BASE/ready" >/dev/null && break; sleep 0.1; done
PLANNER=$(token planner)
# The planner's view is built on its first request, not in the timings.
curl -sf -o /dev/null -H "Authorization: Bearer $PLANNER" "$BASE/collections/residents/items?limit=1"

tiles() { # zoom: "z/y/x" of every tile over the box
  python3 - "$1" <<'EOF'
import math, sys
z = int(sys.argv[1]); n = 2 ** z
def tx(lon): return int((lon + 180) / 360 * n)
def ty(lat):
    r = math.radians(lat)
    return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
for y in range(ty(35.74), ty(35.70) + 1):
    for x in range(tx(139.72), tx(139.78) + 1):
        print(f"{z}/{y}/{x}")
EOF
}

cold() { # layer zoom [token]: tiles/s of one pass, each tile asked first
  local auth=(); [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  local config="$WORK/curl-$1-$2.txt"
  tiles "$2" | while read -r t; do
    printf 'url = "%s/collections/%s/tiles/WebMercatorQuad/%s"\noutput = "/dev/null"\n' "$BASE" "$1" "$t"
  done >"$config"
  curl -s "${auth[@]}" -K "$config" -w '%{time_total}\n' |
    awk '{s += $1; n++} END {printf "%.0f", n / s}'
}

warm() { # layer zoom [token]: tiles/s over the same tiles with wrk
  local auth=(); [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  tiles "$2" | sed "s|^|/collections/$1/tiles/WebMercatorQuad/|" >"$WORK/paths.txt"
  TILE_LIST="$WORK/paths.txt" wrk -t1 -c2 -d"$DUR" "${auth[@]}" -s bench/tiles.lua "$BASE" |
    awk '/Requests\/sec/ {printf "%.0f", $2}'
}

echo "| zoom | tiles | residents (planner) cold | warm | flood_a31_tokyo cold | warm (cached) |"
echo "|---|---|---|---|---|---|"
for z in 10 11 12 13 14 15 16; do
  n=$(tiles "$z" | wc -l)
  rc=$(cold residents "$z" "$PLANNER"); rw=$(warm residents "$z" "$PLANNER")
  fc=$(cold flood_a31_tokyo "$z"); fw=$(warm flood_a31_tokyo "$z")
  echo "| z$z | $n | $rc tiles/s | $rw tiles/s | $fc tiles/s | $fw tiles/s |"
done

# One z14 residents tile, 50 times on one connection.
T14=$(python3 -c "
import math; z=14; n=2**z; r=math.radians(35.715)
print(f'{z}/{int((1-math.log(math.tan(r)+1/math.cos(r))/math.pi)/2*n)}/{int((139.745+180)/360*n)}')")
for _ in $(seq 50); do
  printf 'url = "%s/collections/residents/tiles/WebMercatorQuad/%s"\noutput = "/dev/null"\n' "$BASE" "$T14"
done >"$WORK/one.txt"
curl -s -H "Authorization: Bearer $PLANNER" -K "$WORK/one.txt" -w '%{time_total} %{size_download}\n' |
  sort -n | awk '{t[NR] = $1 * 1000; b = $2} END {
    printf "\nz14 residents tile %s (planner, %d bytes): median %.1f ms, p95 %.1f ms\n", "'"$T14"'", b, t[int(NR / 2)], t[int(NR * 0.95)] }'
echo "audit log after the run: $(wc -c <"$WORK/audit.jsonl") bytes"
