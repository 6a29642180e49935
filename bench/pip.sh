#!/usr/bin/env bash
# Point-in-polygon join benchmark: 1M synthetic residents × 500 polygons,
# chiiki's polygon grid against GeoPandas/shapely sjoin in the same run.
#
#   bench/pip.sh            # prints a Markdown table for the README
#
# Two polygon sets: the 500 real A31 flood polygons nearest the residents
# (few residents inside: the realistic case), and 500 overlapping 64-vertex
# polygons over the same extent (about one match per resident: the heavy case).
# Needs: python3 with geopandas (pip install geopandas).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
REAL="${CHIIKI_REAL_DATA:-../shared/data/real}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/chiiki-pip.XXXX)}"
mkdir -p "$WORK"
cargo build --release --quiet --bin chiiki --example bench_pip
BIN="$CARGO_TARGET_DIR/release"
[ -f "$WORK/city/residents_truth.csv" ] ||
  "$BIN/chiiki" synth -o "$WORK/city" --residents 1000000 --no-infrastructure --real-data "$REAL" >/dev/null
"$BIN/examples/bench_pip" "$WORK/city/residents_truth.csv" "$REAL/flood/A31-12_13.shp" "$WORK" 500 > "$WORK/chiiki.txt"
python3 - "$WORK" > "$WORK/peer.txt" <<'PY'
import sys, time
import pandas as pd, geopandas as gpd, shapely
work = sys.argv[1]
df = pd.read_csv(f"{work}/points.csv")
points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:6668")
print("geopandas", gpd.__version__, "shapely", shapely.__version__)
for name in ["real", "dense"]:
    polys = gpd.read_file(f"{work}/polygons_{name}.geojson").set_crs("EPSG:6668", allow_override=True)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        joined = gpd.sjoin(points, polys, predicate="within", how="inner")
        best = min(best, time.perf_counter() - t)
    print(f"{name}_pairs {len(joined)}")
    print(f"{name}_sjoin_s {best:.4f}")
PY
get() { grep "^$2 " "$WORK/$1" | cut -d' ' -f2; }
ms() { python3 -c "print(f'{float(\"$1\")*1000:.1f}')"; }
cat <<MD
Point-in-polygon benchmark $(date -u +%Y-%m-%d), $(nproc) cores, $(get chiiki.txt points) points in the service's (Hilbert) order; $(head -1 "$WORK/peer.txt").

| polygons | pairs (chiiki / GeoPandas) | chiiki grid: build + join (ms) | R-tree + geo \`Contains\` (ms) | GeoPandas sjoin (ms) |
|---|---|---|---|---|
| 500 real A31 flood polygons ($(get chiiki.txt real_vertices) vertices) | $(get chiiki.txt real_pairs) / $(get peer.txt real_pairs) | $(ms "$(get chiiki.txt real_grid_build_s)") + $(ms "$(get chiiki.txt real_grid_join_s)") | $(ms "$(get chiiki.txt real_rtree_contains_s)") | $(ms "$(get peer.txt real_sjoin_s)") |
| 500 overlapping 64-vertex polygons | $(get chiiki.txt dense_pairs) / $(get peer.txt dense_pairs) | $(ms "$(get chiiki.txt dense_grid_build_s)") + $(ms "$(get chiiki.txt dense_grid_join_s)") | $(ms "$(get chiiki.txt dense_rtree_contains_s)") | $(ms "$(get peer.txt dense_sjoin_s)") |
MD
