#!/usr/bin/env bash
# What a reload costs the requests in flight, on a synthetic 1M-point layer
# (examples/bench_layer.rs): p50/p99 latency and requests/s of items with a
# random bbox and limit=1000 at 64 clients, first with no reload, then while
# an admin reloads the data every 2 s; and the server's resident memory
# after one reload and after ten.
#
#   bench/reload.sh          # prints a Markdown table; numbers go into the README
#
# The load generator shares the machine's cores with the server, so compare
# the rows of one run with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
DUR="${DUR:-20s}"
PORT="${PORT:-18086}"
WORK="$(mktemp -d /tmp/chiiki-reload.XXXX)"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin chiiki --example bench_layer
BIN="$CARGO_TARGET_DIR/release/chiiki"
"$CARGO_TARGET_DIR/release/examples/bench_layer" --points 1000000 --data "$WORK" --id points_1m --csv "$WORK/points_1m.csv" >/dev/null
TOKEN="reload-bench-admin-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$WORK/chiiki.toml" <<TOML
data_dir = "$WORK"
[server]
watch_seconds = 0
[[tokens]]
name = "bench-admin"
role = "admin"
token = "$TOKEN"
TOML
"$BIN" serve --config "$WORK/chiiki.toml" --bind "127.0.0.1:$PORT" --requests-per-minute 0 >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/conformance" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$PID/status"; }
reload() { curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$BASE/admin/reload" >/dev/null; }
load() { # prints "rps p50 p99"
  wrk -t2 -c64 -d"$DUR" --latency -s bench/bbox.lua "$BASE" |
    awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%.0f %s %s", r, p50, p99}'
}

read -r quiet_rps quiet_p50 quiet_p99 <<<"$(load)"
reload; after_one=$(rss_mb)
( for _ in $(seq 30); do sleep 2; reload || true; done ) &
RELOADER=$!
read -r busy_rps busy_p50 busy_p99 <<<"$(load)"
kill $RELOADER 2>/dev/null || true; wait $RELOADER 2>/dev/null || true
for _ in $(seq 10); do reload; done
after_more=$(rss_mb)
generation=$(curl -s -D - -o /dev/null "$BASE/conformance" | awk -F': ' 'tolower($1)=="chiiki-generation" {print $2}' | tr -d '\r')

echo "| items, bbox, limit=1000, 64 clients | req/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| no reload | $quiet_rps | $quiet_p50 | $quiet_p99 |"
echo "| an admin reload every 2 s | $busy_rps | $busy_p50 | $busy_p99 |"
echo
echo "Resident memory: $after_one MB after one reload, $after_more MB after ten more (generation $generation)."
