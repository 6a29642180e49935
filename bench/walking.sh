#!/usr/bin/env bash
# Nearest shelter by walking for every resident: chiiki (crates/network)
# against pgRouting + PostGIS in the same run, on the same graph.
#
#   bench/walking.sh DATA_DIR [DATA_DIR_1M]     # prints a Markdown table for the README
#
# DATA_DIR is a demo city (`chiiki demo --data DIR --no-serve`, 240k
# residents); DATA_DIR_1M the same with `--residents 1000000` (its replicas
# keep 文京区's addresses, so they geocode onto the same ward: the same roads
# and shelters, four times the residents). Needs PostgreSQL 15 with PostGIS 3
# and pgRouting (`postgresql-15-postgis-3`, `postgresql-15-pgrouting`).
#
# chiiki: examples/bench_walking (best of 10) builds the network from `roads`,
# snaps shelters and residents, and assigns every resident its nearest
# shelter; with --export it also writes that graph, its snaps and its answer
# as CSV. The peer loads them (not timed) into a throwaway cluster and
# computes the same answer twice, best of 3 each:
#  - from chiiki's snaps: one pgr_drivingDistance from a virtual source
#    joined to both ends of every shelter's edge — chiiki's formulation —
#    each node's shelter down the shortest-path tree, then per resident the
#    shorter way through either end of its edge (or along it to a shelter on
#    the same edge), in SQL;
#  - end to end: the same after PostGIS snaps every shelter and resident to
#    the nearest edge (a GiST index on the edges, `<->` KNN,
#    ST_LineLocatePoint), as chiiki does.
# pgRouting's equicost drivingDistance (one start per shelter) would skip
# the tree walk, but in pgRouting 3.4 it gives 2,169 of 240k residents a
# shelter up to 80 m farther than the nearest, so it is not used.
# Times are SQL only (psql \timing, results into temporary tables), with
# work_mem = 256MB and otherwise the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chiiki/target}"
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [DATA_DIR_1M]" >&2; exit 2; }
. bench/pg-cluster.sh
cargo build --release --quiet --example bench_walking
BENCH="$CARGO_TARGET_DIR/release/examples/bench_walking"
WORK="$(mktemp -d /tmp/chiiki-walking.XXXX)"
chmod 755 "$WORK"

PG_WORK=$WORK
trap pg_cleanup EXIT

# The machine is shared: its load when the run starts goes in the header.
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
sets=()
for data in "$@"; do
  k=${#sets[@]}
  mkdir "$WORK/$k"
  "$BENCH" --data "$data" --runs 10 --export "$WORK/$k" > "$WORK/$k/stdout"
  sets+=("$k")
done

# A throwaway cluster (bench/pg-cluster.sh).
pg_start "$WORK"
PG_VERSIONS=$(sql -c "CREATE EXTENSION pgrouting CASCADE" -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || postgis_lib_version() || ', pgRouting ' || pgr_version()" 2>/dev/null)

# The answer from the snaps in `shelters` and `residents` (whichever are
# first on the search path), in two steps: every node's shelter (the
# temporary table node), then every resident's (pg_assign).
cat > "$WORK/node.sql" <<'SQL'
CREATE TEMP TABLE node AS
WITH RECURSIVE dd AS MATERIALIZED (
  -- One Dijkstra from virtual node 0, joined to both ends of every
  -- shelter's edge at the shelter's snap distance plus its way along the
  -- edge; virtual edge 10⁹ + 2 × shelter (+ 1 for the target end) tells
  -- which shelter a node is entered by.
  SELECT node, edge, agg_cost AS metres
  FROM pgr_drivingDistance(
    $$SELECT id, source, target, cost FROM edges
      UNION ALL
      SELECT 1000000000 + 2 * s.id, 0, e.source, s.distance + s."offset"
      FROM shelters s JOIN edges e ON e.id = s.edge
      UNION ALL
      SELECT 1000000001 + 2 * s.id, 0, e.target, s.distance + e.cost - s."offset"
      FROM shelters s JOIN edges e ON e.id = s.edge$$,
    0, 1e12, directed => false)
), parent AS MATERIALIZED (
  SELECT d.node, CASE WHEN e.source = d.node THEN e.target ELSE e.source END AS parent
  FROM dd d JOIN edges e ON e.id = d.edge
), tree(node, facility) AS (
  -- Each node's shelter, handed down the shortest-path tree.
  SELECT node, ((edge - 1000000000) / 2)::int FROM dd WHERE edge >= 1000000000
  UNION ALL
  SELECT p.node, t.facility FROM tree t JOIN parent p ON p.parent = t.node
)
SELECT node, facility, metres FROM dd JOIN tree USING (node);
SQL
cat > "$WORK/resident.sql" <<'SQL'
CREATE TEMP TABLE pg_assign AS
WITH ends AS (
  SELECT r.id, r.distance, r."offset" + a.metres AS via_a, a.facility AS fa,
         e.cost - r."offset" + b.metres AS via_b, b.facility AS fb
  FROM residents r JOIN edges e ON e.id = r.edge
  LEFT JOIN node a ON a.node = e.source LEFT JOIN node b ON b.node = e.target
), along AS (
  -- A shelter on the resident's own edge: straight along it.
  SELECT DISTINCT ON (r.id) r.id, s.id AS facility,
         abs(r."offset" - s."offset") + s.distance AS metres
  FROM residents r JOIN shelters s ON s.edge = r.edge
  ORDER BY r.id, metres
), best AS (
  SELECT x.*, l.facility AS fl, LEAST(x.via_a, x.via_b, l.metres) AS m
  FROM ends x LEFT JOIN along l USING (id)
)
-- Ties go as in chiiki: the edge's source end, then its target, then along.
SELECT id, CASE WHEN m = via_a THEN fa WHEN m = via_b THEN fb ELSE fl END AS facility,
       distance + m AS metres
FROM best;
SQL

# PostGIS's snaps of the same points to the same edges, as temporary
# tables that come before chiiki's on the search path.
cat > "$WORK/snap.sql" <<'SQL'
CREATE TEMP TABLE shelters AS
SELECT p.id, n.id AS edge, ST_LineLocatePoint(n.geom, p.geom) * n.cost AS "offset",
       ST_Distance(n.geom, p.geom) AS distance
FROM given.shelters p
CROSS JOIN LATERAL (SELECT e.id, e.geom, e.cost FROM given.edges e ORDER BY e.geom <-> p.geom LIMIT 1) n;
CREATE TEMP TABLE residents AS
SELECT p.id, n.id AS edge, ST_LineLocatePoint(n.geom, p.geom) * n.cost AS "offset",
       ST_Distance(n.geom, p.geom) AS distance
FROM given.residents p
CROSS JOIN LATERAL (SELECT e.id, e.geom, e.cost FROM given.edges e ORDER BY e.geom <-> p.geom LIMIT 1) n;
ANALYZE residents;
SQL

# How many residents get chiiki's shelter; a different shelter at the same
# distance (to 1 µm) is a tie, not a disagreement.
agree() {
  cat <<SQL
SELECT 'agree_$1', count(*) FILTER (WHERE p.facility = c.facility OR (p.metres IS NULL AND c.metres IS NULL)),
  count(*) FILTER (WHERE p.facility <> c.facility AND abs(p.metres - c.metres) < 1e-6),
  count(*) FILTER (WHERE (p.metres IS NULL) <> (c.metres IS NULL) OR abs(p.metres - c.metres) >= 1e-6),
  coalesce(max(abs(p.metres - c.metres)) FILTER (WHERE p.facility = c.facility), 0)
FROM given.chiiki c LEFT JOIN pg_assign p USING (id);
SQL
}

for k in "${sets[@]}"; do
  cd "$WORK/$k"
  sql > "$k.out" <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS given CASCADE;
CREATE SCHEMA given;
SET search_path = given, public;
CREATE TABLE edges (id bigint PRIMARY KEY, source bigint, target bigint, cost float8, geom geometry(LineString));
CREATE TABLE shelters (id int PRIMARY KEY, x float8, y float8, edge bigint, "offset" float8, distance float8,
  geom geometry(Point) GENERATED ALWAYS AS (ST_Point(x, y)) STORED);
CREATE TABLE residents (LIKE shelters INCLUDING ALL);
CREATE TABLE chiiki (id int PRIMARY KEY, facility int, metres float8);
\copy edges FROM 'edges.csv' WITH (FORMAT csv, HEADER)
\copy shelters (id, x, y, edge, "offset", distance) FROM 'shelters.csv' WITH (FORMAT csv, HEADER)
\copy residents (id, x, y, edge, "offset", distance) FROM 'residents.csv' WITH (FORMAT csv, HEADER)
\copy chiiki FROM 'chiiki.csv' WITH (FORMAT csv, HEADER)
CREATE INDEX ON edges USING gist (geom);
VACUUM ANALYZE;
SET work_mem = '256MB';
$(for run in 1 2 3; do
  echo "\\timing on"
  echo "\\echo @@ given_node $run"
  cat "$WORK/node.sql"
  echo "\\echo @@ given_resident $run"
  cat "$WORK/resident.sql"
  echo "\\timing off"
  [ $run = 3 ] && agree given
  echo "DROP TABLE pg_temp.node, pg_temp.pg_assign;"
done
for run in 1 2 3; do
  echo "\\timing on"
  echo "\\echo @@ snap $run"
  cat "$WORK/snap.sql"
  echo "\\echo @@ postgis_node $run"
  cat "$WORK/node.sql"
  echo "\\echo @@ postgis_resident $run"
  cat "$WORK/resident.sql"
  echo "\\timing off"
  [ $run = 3 ] && agree postgis
  echo "DROP TABLE pg_temp.node, pg_temp.pg_assign, pg_temp.shelters, pg_temp.residents;"
done)
SQL
  # Per step, the best of its 3 runs.
  awk '/^@@/ { step = $2; run = $3 } /^Time:/ { t[step " " run] += $2 }
       /^agree_/ { for (i = 2; i <= 5; i++) print $1 "_" (i == 2 ? "same" : i == 3 ? "ties" : i == 4 ? "differ" : "maxdiff"), $i }
       END { for (s in t) { split(s, a, " "); if (!(a[1] in best) || t[s] < best[a[1]]) best[a[1]] = t[s] }
             for (b in best) printf "%s_ms %.1f\n", b, best[b] }' "$k.out" > peer.txt
done

python3 - "$WORK" "$PG_VERSIONS" "$LOAD" "${sets[@]}" <<'PY'
import sys, datetime, os
work, versions, load, sets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def keys(path):
    return dict(line.split(" ", 1) for line in open(path).read().splitlines())
c = [keys(f"{work}/{k}/chiiki.txt") for k in sets]
p = [keys(f"{work}/{k}/peer.txt") for k in sets]
ms = lambda v: f"{float(v):,.1f} ms" if float(v) < 1000 else f"{float(v) / 1000:,.2f} s"
n = lambda v: f"{int(v):,}"
cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
print(f"Walking benchmark {datetime.date.today()}, {os.cpu_count()} cores ({cpu}, load average {load} at the start); {versions}. "
      f"chiiki best of 10 (all cores), SQL best of 3 per step (work_mem 256MB, otherwise the defaults).\n")
head = " | ".join(f"{n(x['residents'])} residents: chiiki | PostgreSQL" for x in c)
print(f"| step ({c[0]['shelters']} shelters; {n(c[0]['nodes'])} nodes, {n(c[0]['edges'])} edges) | {head} |")
print("|---|" + "---|---|" * len(c))
def row(name, ours, theirs):
    print(f"| {name} | " + " | ".join(f"{o} | {t}" for o, t in zip(ours, theirs)) + " |")
row("snap shelters and residents to the nearest edge", [ms(x["snap_ms"]) for x in c],
    [f"{ms(y['snap_ms'])} (PostGIS KNN)" for y in p])
row("one Dijkstra from a virtual source; every node's shelter", [ms(x["dijkstra_ms"]) for x in c],
    [f"{ms(y['given_node_ms'])} (pgr_drivingDistance, tree in SQL)" for y in p])
row("every resident's nearest shelter (both ends of its edge)",
    [ms(float(x["walk_ms"]) - float(x["dijkstra_ms"])) for x in c],
    [f"{ms(y['given_resident_ms'])} (SQL)" for y in p])
row("**total**", [f"**{ms(x['assign_ms'])}** ({x['assign_mb']} MB)" for x in c],
    [f"**{ms(float(y['snap_ms']) + float(y['postgis_node_ms']) + float(y['postgis_resident_ms']))}**" for y in p])
pct = lambda a, b: "all" if a == b else f"{100 * int(a) / int(b):.2f} %"
row("same shelter as chiiki (from chiiki's snaps · PostGIS's)", ["—"] * len(c),
    [f"{pct(y['agree_given_same'], x['residents'])} · {pct(y['agree_postgis_same'], x['residents'])}" for x, y in zip(c, p)])
print()
for x, y in zip(c, p):
    print(f"{n(x['residents'])} residents ({n(x['reached'])} reach a shelter): from chiiki's snaps {y['agree_given_ties']} ties and "
          f"{y['agree_given_differ']} different distances (largest difference at the same shelter {float(y['agree_given_maxdiff']):.1e} m); "
          f"from PostGIS's, {y['agree_postgis_ties']} ties and {y['agree_postgis_differ']} different distances. chiiki's network "
          f"build {ms(x['build_ms'])} ({x['network_mb']} MB) is not in the total; PostgreSQL's load is not timed.")
PY
