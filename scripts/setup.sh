#!/usr/bin/env bash
# Installs what chiiki needs on a Debian/Ubuntu machine, only what is missing:
# GDAL and PROJ (libraries and command-line tools), libclang for bindgen, and
# owslib and jismesh (the reference for mesh codes) for the tests. Safe to run again.
set -euo pipefail

packages=(pkg-config libgdal-dev gdal-bin libproj-dev proj-bin libclang-dev python3-pip)
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

for module in owslib jismesh; do
  if ! python3 -c "import $module" >/dev/null 2>&1; then
    echo "installing $module (Python) for the tests"
    python3 -m pip install -q "$module" || python3 -m pip install -q --break-system-packages "$module"
  fi
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (stable) with rustup, then run this again" >&2
  exit 1
fi
