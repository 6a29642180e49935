#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests that build the demo
# city from ../shared/data/real and drive the real server with GDAL, PROJ and
# owslib. Release profile, so the build is shared with the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The web map's browser tests drive Debian's Chromium with playwright-core
# (web/node_modules); CJK fonts so Japanese renders in their screenshots.
browser=()
command -v chromium >/dev/null 2>&1 || browser+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || browser+=(fonts-noto-cjk)
if ((${#browser[@]})); then
  echo "installing for the browser tests: ${browser[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser[@]}"; } \
    || { echo "chromium could not be installed: the browser tests cannot run" >&2; exit 1; }
fi
# tests/walking.rs compares walking distances with pgRouting in a throwaway
# PostgreSQL cluster (skipped, with a message, when it cannot start).
pg=()
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || pg+=(postgresql-15-postgis-3)
dpkg -s postgresql-15-pgrouting >/dev/null 2>&1 || pg+=(postgresql-15-pgrouting)
if ((${#pg[@]})); then
  echo "installing for the pgRouting peer: ${pg[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pg[@]}"; } \
    || echo "PostgreSQL/pgRouting could not be installed: the pgRouting peer test will skip" >&2
fi
# Keep the build cache outside the clone so repeated runs (and CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
cargo test --release --workspace "$@"
# The API, analyses, security and live-data tests once more, with the same
# assertions, against the PostGIS store: their data directories are
# migrated into a throwaway PostgreSQL cluster (tests/common/mod.rs).
if [ $# -eq 0 ]; then
  CHIIKI_TEST_STORE=postgis cargo test --release --test api --test analyses --test security --test live
fi
