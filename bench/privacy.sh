#!/usr/bin/env bash
# What access control, masking, perturbation and the audit trail cost, on the
# demo city (build it first with `chiiki demo --data demo-data --no-serve`).
#
#   bench/privacy.sh [demo-data]     # prints a Markdown table for the README
#
# - the one-off work at start-up, from the server's log: cell-key
#   perturbation of every aggregate served to roles below exact aggregates
#   (and, on first use, the record keys), and the planner's filtered, masked
#   view of the residents;
# - requests/s (wrk, 2 connections) for the same kinds of page as different
#   roles: an open layer (no policy), an aggregate exact (planner) and
#   perturbed (analyst), and 100 residents as the planner; every response
#   about people (aggregates too) is appended to the hash-chained audit log
#   with fsync.
# The load generator shares the machine's two cores with the server: compare
# the rows of one run with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
DATA="${1:-demo-data}"
DUR="${DUR:-5s}"
PORT="${PORT:-18095}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -f "$DATA/chiiki.toml" ] || { echo "no demo in $DATA: run chiiki demo --data $DATA --no-serve" >&2; exit 1; }
cargo build --release --quiet --bin chiiki
BIN="$CARGO_TARGET_DIR/release/chiiki"
WORK=$(mktemp -d /tmp/chiiki-privacy.XXXX)

token() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$DATA/demo-tokens.json" "$1"; }

CHIIKI_LOG=info "$BIN" serve --config "$DATA/chiiki.toml" --bind "127.0.0.1:$PORT" \
  --requests-per-minute 0 --audit-log "$WORK/audit.jsonl" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do
  [ "$(grep -c "perturbation: '" "$WORK/serve.log")" -ge 4 ] && break
  sleep 0.1
done
BASE="http://127.0.0.1:$PORT"
# First requests build and cache the views (timed by curl).
view_ms() { curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $(token "$1")" "$BASE$2" | awk '{printf "%.0f", $1*1000}'; }
planner_view=$(view_ms planner "/collections/residents/items?limit=1")
health_view=$(view_ms health "/collections/care_outreach_flood/items?limit=1")

rps() { # role path
  wrk -t1 -c2 -d"$DUR" -H "Authorization: Bearer $(token "$1")" "$BASE$2" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}
open_rps=$(rps public "/collections/flood_depth/items?limit=100")
exact_rps=$(rps planner "/collections/aging_mesh_250m/items?limit=100")
perturbed_rps=$(rps analyst "/collections/aging_mesh_250m/items?limit=100")
vacc_rps=$(rps health "/collections/vaccination_gaps_250m/items?limit=100")
audited_rps=$(rps planner "/collections/residents/items?limit=100")
entries=$("$BIN" audit verify --file "$WORK/audit.jsonl" | awk '{print $2}')

echo "| what | result |"
echo "|---|---|"
grep -o "perturbation: '[a-z0-9_]*': [0-9]* cells of [0-9]* people in [0-9.]*[mµ]\?s" "$WORK/serve.log" |
  sed "s/perturbation: '\(.*\)': \([0-9]*\) cells of \([0-9]*\) people in \(.*\)/| start-up: perturbing \1 (\2 cells, \3 people) | \4 |/"
echo "| first request: planner's view of the residents (filtered, masked) | ${planner_view} ms |"
echo "| first request: health's outreach list (masked, pseudonymous ids) | ${health_view} ms |"
echo "| open layer, 100 features, public | ${open_rps} req/s |"
echo "| aggregate, exact, planner | ${exact_rps} req/s |"
echo "| aggregate, perturbed, analyst, audited with fsync | ${perturbed_rps} req/s |"
echo "| aggregate, perturbed, health (vaccination gaps), audited with fsync | ${vacc_rps} req/s |"
echo "| 100 residents, planner, audited with fsync | ${audited_rps} req/s |"
echo "| audit log after the run | ${entries} entries, chain verified |"
