-- The Citus layout of chiiki's tables, rehearsed on plain PostGIS.
--
-- On Citus, people and the registry are distributed by municipality
-- (lg_code, the 全国地方公共団体コード) and everything else is a reference
-- table, copied to every node:
--
--   SELECT create_distributed_table('chiiki_citus.residents', 'lg_code');
--   SELECT create_distributed_table('chiiki_citus.registry_history', 'lg_code',
--                                   colocate_with => 'chiiki_citus.residents');
--   SELECT create_reference_table('chiiki_citus.flood_depth');
--   SELECT create_reference_table('chiiki_citus.towns');
--   SELECT create_reference_table('chiiki_citus.shelters');
--
-- Citus is not packaged for Debian, so this file builds the same shape on
-- one PostgreSQL: the distributed tables LIST-partitioned by lg_code, one
-- partition per municipality standing for its shard group. A query the
-- planner prunes to one partition is one Citus routes to one shard; a join
-- of a distributed table with reference tables, filtered on lg_code, is
-- co-located. `bench/citus-layout.sh` loads the demo (chiiki store migrate)
-- and runs this file, then EXPLAINs `queries.sql`.
--
-- :lg is the demo's municipality (131059, 文京区). A second municipality
-- (131016, 千代田区) gets a copy of a tenth of the residents, moved 3 km
-- south, so that pruning has something to prune.

DROP SCHEMA IF EXISTS chiiki_citus CASCADE;
CREATE SCHEMA chiiki_citus;

-- The JIS X 0410 250 m code of a point, by arithmetic on its coordinates
-- (as chiiki's own crates/core/src/mesh.rs): 1st level (80 km) floor(lat ×
-- 1.5), floor(lon − 100); 2nd (10 km) 8 × 8 within it; 3rd (1 km) 10 × 10;
-- then halves twice (500 m, 250 m), each numbered 1–4. IMMUTABLE, so Citus
-- pushes it down to the shards with the aggregate.
CREATE FUNCTION chiiki_citus.mesh_250m(p geometry) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (floor(y / 80)::bigint * 100 + floor(x / 80)::bigint) * 1000000
       + (mod(floor(y / 10)::bigint, 8) * 10 + mod(floor(x / 10)::bigint, 8)) * 10000
       + (mod(floor(y)::bigint, 10) * 10 + mod(floor(x)::bigint, 10)) * 100
       + (mod(floor(y * 2)::bigint, 2) * 2 + mod(floor(x * 2)::bigint, 2) + 1) * 10
       + (mod(floor(y * 4)::bigint, 2) * 2 + mod(floor(x * 4)::bigint, 2) + 1)
  -- In units of the 1 km cell: 30″ of latitude, 45″ of longitude.
  FROM (SELECT ST_Y(p) * 120 AS y, (ST_X(p) - 100) * 80 AS x) AS at
$$;

-- Distributed: residents, by lg_code. The distribution column leads the
-- primary key (Citus requires it in every unique constraint).
CREATE TABLE chiiki_citus.residents (
  lg_code text NOT NULL,
  fid bigint NOT NULL,
  resident_id text NOT NULL,
  household_id text,
  birth_date date,
  needs_support boolean,
  care_level text,
  flood_depth_rank bigint,
  geom geometry(Point, 6668) NOT NULL,
  PRIMARY KEY (lg_code, fid)
) PARTITION BY LIST (lg_code);
CREATE TABLE chiiki_citus.residents_131059 PARTITION OF chiiki_citus.residents FOR VALUES IN ('131059');
CREATE TABLE chiiki_citus.residents_131016 PARTITION OF chiiki_citus.residents FOR VALUES IN ('131016');

INSERT INTO chiiki_citus.residents
SELECT '131059', fid, resident_id, household_id, birth_date, needs_support, care_level,
       flood_depth_rank, geom
FROM chiiki."layer_residents";
INSERT INTO chiiki_citus.residents
SELECT '131016', fid, resident_id, household_id, birth_date, needs_support, care_level,
       flood_depth_rank, ST_Translate(geom, 0, -0.027)
FROM chiiki."layer_residents" WHERE fid % 10 = 0;
CREATE INDEX ON chiiki_citus.residents USING gist (geom);
CREATE INDEX ON chiiki_citus.residents (lg_code, resident_id);

-- Distributed and co-located with residents: the registry's history, one
-- row per 異動, keyed by the same lg_code and resident.
CREATE TABLE chiiki_citus.registry_history (
  lg_code text NOT NULL,
  resident_id text NOT NULL,
  valid_from date NOT NULL,
  valid_to date,
  change_kind text NOT NULL,
  PRIMARY KEY (lg_code, resident_id, valid_from)
) PARTITION BY LIST (lg_code);
CREATE TABLE chiiki_citus.registry_history_131059 PARTITION OF chiiki_citus.registry_history FOR VALUES IN ('131059');
CREATE TABLE chiiki_citus.registry_history_131016 PARTITION OF chiiki_citus.registry_history FOR VALUES IN ('131016');
INSERT INTO chiiki_citus.registry_history
SELECT lg_code, resident_id, DATE '2026-11-01', NULL, 'import' FROM chiiki_citus.residents;

-- Reference tables: hazards, boundaries, facilities.
CREATE TABLE chiiki_citus.flood_depth AS
  SELECT fid, depth_rank, geom FROM chiiki."layer_flood_depth";
CREATE INDEX ON chiiki_citus.flood_depth USING gist (geom);
CREATE TABLE chiiki_citus.towns AS
  SELECT fid, "S_NAME" AS town, geom FROM chiiki."layer_bunkyo_towns";
CREATE INDEX ON chiiki_citus.towns USING gist (geom);
CREATE TABLE chiiki_citus.shelters AS
  SELECT fid, geom FROM chiiki."layer_shelters_evacuation";
CREATE INDEX ON chiiki_citus.shelters USING gist (geom);
CREATE INDEX ON chiiki_citus.shelters USING gist ((geom::geography));

ANALYZE chiiki_citus.residents;
ANALYZE chiiki_citus.registry_history;
ANALYZE chiiki_citus.flood_depth;
ANALYZE chiiki_citus.towns;
ANALYZE chiiki_citus.shelters;
