#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests that build the demo
# city from ../shared/data/real and drive the real server with GDAL, PROJ and
# owslib. Release profile, so the build is shared with the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Keep the build cache outside the clone so repeated runs (and CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
cargo test --release --workspace "$@"
