#!/usr/bin/env bash
# Aggregation benchmark: 1M synthetic residents → 250 m mesh counts by age
# band (0–14, 15–64, 65+, 75+), chiiki's analysis engine against pandas +
# jismesh (the reference mesh implementation) in the same run.
#
#   bench/mesh.sh            # prints a Markdown table for the README
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
REAL="${CHIIKI_REAL_DATA:-../shared/data/real}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/chiiki-mesh.XXXX)}"
mkdir -p "$WORK"
cargo build --release --quiet --bin chiiki --example bench_mesh
BIN="$CARGO_TARGET_DIR/release"
[ -f "$WORK/city/residents_truth.csv" ] ||
  "$BIN/chiiki" synth -o "$WORK/city" --residents 1000000 --no-infrastructure --real-data "$REAL" >/dev/null
"$BIN/examples/bench_mesh" "$WORK/city/residents_truth.csv" "$WORK/points.csv" > "$WORK/chiiki.txt"
python3 - "$WORK/points.csv" > "$WORK/peer.txt" <<'PY'
import sys, time
import numpy as np, pandas as pd
import jismesh, jismesh.utils as ju
df = pd.read_csv(sys.argv[1], parse_dates=["birth_date"])
as_of = pd.Timestamp("2026-10-01")
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    b = df.birth_date
    age = as_of.year - b.dt.year - ((b.dt.month > as_of.month) | ((b.dt.month == as_of.month) & (b.dt.day > as_of.day))).astype(int)
    code = ju.to_meshcode(df.lat.values, df.lon.values, 5)
    out = pd.DataFrame({"code": code, "population": 1, "age_0_14": age < 15,
                        "age_15_64": (age >= 15) & (age <= 64), "age_65": age >= 65,
                        "age_75": age >= 75}).groupby("code").sum()
    best = min(best, time.perf_counter() - t)
print("cells", len(out))
print("aged_65", int(out.age_65.sum()))
print("aggregate_s", f"{best:.4f}")
print("version", "pandas", pd.__version__, "jismesh", jismesh.__version__ if hasattr(jismesh, "__version__") else "2.x")
PY
get() { grep "^$2 " "$WORK/$1" | cut -d' ' -f2; }
cat <<MD
Mesh aggregation benchmark $(date -u +%Y-%m-%d), $(nproc) cores, $(get chiiki.txt points) residents → 250 m cells, counts of 0–14 / 15–64 / 65+ / 75+ (best of 5 / 3).

| | cells | aged 65+ | time (ms) |
|---|---|---|---|
| chiiki analysis engine (aggregate to mesh 250m, four filtered counts) | $(get chiiki.txt cells) | $(get chiiki.txt aged_65) | $(python3 -c "print(f'{float(\"$(get chiiki.txt aggregate_s)\")*1000:.1f}')") |
| pandas + jismesh (vectorised mesh codes, groupby) | $(get peer.txt cells) | $(get peer.txt aged_65) | $(python3 -c "print(f'{float(\"$(get peer.txt aggregate_s)\")*1000:.1f}')") |
MD
