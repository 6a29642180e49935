#!/usr/bin/env bash
# The main job: install what is missing, build, build the demo city from
# ../shared/data/real and serve it at http://127.0.0.1:8080/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
cargo build --release
exec "$CARGO_TARGET_DIR/release/chiiki" demo "$@"
