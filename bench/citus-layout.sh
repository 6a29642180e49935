#!/usr/bin/env bash
# The Citus layout of chiiki's tables (docs/citus/layout.sql), rehearsed on
# plain PostGIS, with the EXPLAIN plan of each of the API's main queries
# (docs/citus/queries.sql): prints docs/citus.md's plans section.
#
#   bench/citus-layout.sh DATA_DIR      # a demo city (chiiki demo --data DIR --no-serve)
#
# The demo is copied into a throwaway cluster by `chiiki store migrate`
# (verified by counts and checksums), then laid out as on Citus: residents
# and the registry history LIST-partitioned by lg_code (a partition per
# municipality, standing for its shard group), hazards, boundaries and
# shelters as plain (reference) tables. A plan that scans one partition is
# a query Citus routes to one shard.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
[ $# -eq 1 ] || { echo "usage: $0 DATA_DIR" >&2; exit 2; }
DATA=$(realpath "$1")
if [ -z "${CHIIKI_BIN:-}" ]; then
  cargo build --release --quiet --bin chiiki
  CHIIKI_BIN="$CARGO_TARGET_DIR/release/chiiki"
fi
WORK="$(mktemp -d /tmp/chiiki-citus.XXXX)"
chmod 755 "$WORK"
. bench/pg-cluster.sh
pg_start "$WORK"
URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

"$CHIIKI_BIN" store migrate --to postgis "$URL" --config "$DATA/chiiki.toml" >&2
sql -f docs/citus/layout.sql >/dev/null

echo "Plans on $(sql -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || postgis_lib_version()"), $(date +%F); the demo's residents as municipality 131059 and a tenth of them as 131016."
echo
awk '/^-- name: /{ if (q != "") print q > (dir "/" n ".sql"); n++; name[n]=substr($0, 10); q=""; next } /^--/{next} { q = q $0 "\n" } END { if (q != "") print q > (dir "/" n ".sql"); for (i = 1; i <= n; i++) print name[i] > (dir "/names") }' dir="$WORK" n=0 docs/citus/queries.sql
i=0
while IFS= read -r name; do
  i=$((i + 1))
  echo "#### $name"
  echo
  echo '```'
  # The UPDATE runs in a transaction rolled back: only its plan is wanted.
  { echo "BEGIN;"; echo "EXPLAIN (COSTS OFF)"; cat "$WORK/$i.sql"; echo "ROLLBACK;"; } | sql | grep -v '^$'
  echo '```'
  echo
done < "$WORK/names"
# The SQL mesh codes are chiiki's: the same cells come out of question 2.
cells=$(sql -c "SELECT chiiki_citus.mesh_250m(geom) FROM chiiki_citus.residents WHERE lg_code = '131059' GROUP BY 1 HAVING count(*) FILTER (WHERE birth_date <= DATE '$(date +%F)' - INTERVAL '65 years') >= 0.4 * count(*) ORDER BY 1")
ours=$("$CHIIKI_BIN" analyse aging_mesh_250m --config "$DATA/chiiki.toml" --format csv 2>/dev/null \
  | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "mesh_code") c = i; next } { print $c }' | sort)
echo "Cells with 高齢化率 ≥ 40 % today by the SQL mesh codes: $(echo $cells); by chiiki's aging_mesh_250m: $(echo $ours)."
[ -n "$cells" ] && [ "$cells" = "$ours" ] || { echo "the SQL mesh codes disagree with chiiki's" >&2; exit 1; }
