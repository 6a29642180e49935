#!/usr/bin/env bash
# Installs what the pygeoapi + PostGIS peer server needs on Debian bookworm,
# only what is missing: PostgreSQL 15 with PostGIS 3 from apt, and pygeoapi
# with its PostgreSQL provider's Python dependencies and gunicorn from PyPI.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail

PY=${PYTHON:-python3}
# Pinned so benchmark runs stay comparable; 0.21.0 is the newest release that
# supports Python 3.11 (0.22+ need Python >= 3.12).
PYGEOAPI_SPEC=${PYGEOAPI_SPEC:-pygeoapi==0.21.0}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# --- Debian packages ---------------------------------------------------------
packages=(postgresql-15 postgresql-15-postgis-3 postgresql-client-15 curl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "apt: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Python packages ---------------------------------------------------------
# pygeoapi.provider.sql (the 'PostgreSQL' provider) imports sqlalchemy,
# geoalchemy2, pygeofilter, pyproj and shapely, and connects through
# SQLAlchemy's postgresql+psycopg2 driver.
py_packages=("$PYGEOAPI_SPEC" gunicorn psycopg2-binary SQLAlchemy GeoAlchemy2 pygeofilter pyproj shapely)
want_version=${PYGEOAPI_SPEC#pygeoapi==}
if ! "$PY" - "$want_version" >/dev/null 2>&1 <<'EOF'
import sys
import gunicorn, psycopg2, sqlalchemy, geoalchemy2, pygeofilter, pyproj, shapely  # noqa
import pygeoapi.provider.sql  # noqa: fails if any provider dependency is missing
from importlib.metadata import version
want = sys.argv[1]
sys.exit(0 if want == "pygeoapi" or version("pygeoapi") == want else 1)
EOF
then
  echo "pip: installing ${py_packages[*]}"
  "$PY" -m pip install -q "${py_packages[@]}" \
    || "$PY" -m pip install -q --break-system-packages "${py_packages[@]}"
fi

"$PY" -c 'from importlib.metadata import version as v; print("pygeoapi", v("pygeoapi"), "| gunicorn", v("gunicorn"), "| SQLAlchemy", v("SQLAlchemy"), "| GeoAlchemy2", v("GeoAlchemy2"))'
echo "postgis: $(ls /usr/share/postgresql/15/extension/postgis.control)"
