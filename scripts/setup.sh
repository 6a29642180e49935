#!/usr/bin/env bash
# Installs what chiiki needs on a Debian/Ubuntu machine, only what is missing:
# GDAL and PROJ (libraries and command-line tools), libclang for bindgen, and
# owslib and jismesh (the reference for mesh codes) and, where apt has it,
# QGIS's Python bindings for the tests. Safe to run again.
set -euo pipefail

packages=(pkg-config libgdal-dev gdal-bin libproj-dev proj-bin libclang-dev python3-pip)
# Node.js and npm fetch the web map's assets (MapLibre GL JS, Swagger UI)
# from the npm registry; they are embedded into the binary at build time.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# QGIS's Python bindings, for the test that loads a layer in QGIS with Basic
# authentication; optional: that test says it is skipped without them.
if ! /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  echo "installing python3-qgis for the QGIS test (optional)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-qgis; } \
    || echo "python3-qgis could not be installed: the QGIS test will be skipped" >&2
fi

for module in owslib jismesh; do
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    echo "installing $module (Python) for the tests"
    python3 -m pip install -q "$module" || python3 -m pip install -q --break-system-packages "$module"
  fi
done

# The web map's assets, as package-lock.json pins them (again when it changes).
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "installing the web map's assets from npm (web/package-lock.json)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (stable) with rustup, then run this again" >&2
  exit 1
fi
