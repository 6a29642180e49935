#!/usr/bin/env bash
# Risk scores on the demo city (build it first with
# `chiiki demo --data demo-data --no-serve`):
#
#   bench/risk.sh [demo-data]     # prints Markdown tables for the README
#
# - wall time of `chiiki risk evaluate`, `train` and `score` (median of RUNS),
#   on a copy of the demo's layers so the demo stays as it is;
# - the held-out evaluation (train ≤ N−1, test N = the last year of the
#   history) of chiiki's model against oldest first and random;
# - if python3 has scikit-learn, its LogisticRegression (L2, C = 1, lbfgs)
#   on the same examples and features (`risk evaluate --dump-examples`),
#   timed for the fit and scoring alone. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
DATA="${1:-demo-data}"
RUNS="${RUNS:-5}"
[ -f "$DATA/layers/pipes.parquet" ] || { echo "no demo in $DATA: run chiiki demo --data $DATA --no-serve" >&2; exit 1; }
cargo build --release --quiet --bin chiiki
BIN="$CARGO_TARGET_DIR/release/chiiki"
WORK=$(mktemp -d /tmp/chiiki-risk.XXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/layers" "$WORK/synthetic"
for l in pipes bridges roads residents; do cp "$DATA/layers/$l.parquet" "$WORK/layers/"; done
cp "$DATA/synthetic/pipe_breaks.csv" "$DATA/synthetic/crack_detections.csv" "$WORK/synthetic/"

median_ms() { # command… → median wall ms over RUNS
  local t=()
  for _ in $(seq "$RUNS"); do
    local s=$(date +%s%N); "$@" >/dev/null; local e=$(date +%s%N)
    t+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

EVAL_MS=$(median_ms "$BIN" risk evaluate --data "$WORK")
TRAIN_MS=$(median_ms "$BIN" risk train --data "$WORK")
SCORE_MS=$(median_ms "$BIN" risk score --data "$WORK")
"$BIN" risk evaluate --data "$WORK" --json --dump-examples "$WORK/examples.csv" >"$WORK/eval.json"

echo "| step (chiiki, $(nproc) cores, median of $RUNS) | wall time |"
echo "|---|---:|"
echo "| \`risk evaluate\` (load, train ≤ N−1, score N, metrics) | $EVAL_MS ms |"
echo "| \`risk train\` (evaluate + train on all years + save) | $TRAIN_MS ms |"
echo "| \`risk score\` (pipes, bridges with residents within 500 m, roads; rewrite 3 layers) | $SCORE_MS ms |"
echo

python3 - "$WORK/eval.json" "$WORK/examples.csv" <<'PY'
import csv, json, sys, time
e = json.load(open(sys.argv[1]))
rows = [
    ("chiiki (linfa logistic regression)", e["model_auc"], e["model_top10"], ""),
    ("oldest first", e["oldest_first_auc"], e["oldest_first_top10"], ""),
    ("random", e["random_auc"], e["random_top10"], ""),
]
try:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    with open(sys.argv[2]) as f:
        r = csv.reader(f); head = next(r); data = list(r)
    split = np.array([d[0] for d in data]); X = np.array([[float(x) for x in d[5:]] for d in data])
    y = np.array([int(d[3]) for d in data]); breaks = np.array([int(d[4]) for d in data])
    tr, te = split == "train", split == "test"
    t0 = time.perf_counter()
    sc = StandardScaler().fit(X[tr])
    m = LogisticRegression(C=1.0, max_iter=1000).fit(sc.transform(X[tr]), y[tr])
    s = m.predict_proba(sc.transform(X[te]))[:, 1]
    ms = (time.perf_counter() - t0) * 1000
    def auc(s, y):
        o = np.argsort(s, kind="stable"); rk = np.empty(len(s)); rk[o] = np.arange(1, len(s) + 1)
        p = y.sum(); n = len(y) - p
        return (rk[y == 1].sum() - p * (p + 1) / 2) / (p * n)
    def top(s, b, frac=0.1):
        k = frac * len(s); o = np.argsort(-s, kind="stable")
        return b[o[: int(k)]].sum() / b.sum()
    import sklearn
    rows.insert(1, (f"scikit-learn {sklearn.__version__} LogisticRegression", auc(s, y[te]), top(s, breaks[te]), f"{ms:.0f} ms fit + score"))
except ImportError:
    rows.append(("scikit-learn", float("nan"), float("nan"), "not installed"))
print(f"| test year {e['test_year']} (trained on {e['train_years'][0]}–{e['train_years'][1]}; {e['pipes']} pipes, {e['breaks']} breaks) | ROC AUC | top-10 % capture | note |")
print("|---|---:|---:|---|")
for name, a, t, note in rows:
    print(f"| {name} | {a:.3f} | {t*100:.1f} % | {note} |")
PY
