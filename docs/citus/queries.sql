-- The API's main queries over the Citus layout (layout.sql), each with the
-- distribution column in its filter and in every join between distributed
-- tables, so that Citus routes it to one municipality's shard (or runs it
-- per shard and merges). Each query is one block, separated by a line
-- `-- name: …`; bench/citus-layout.sh EXPLAINs each.

-- name: items of residents in a bbox, limit 1000 (OGC API items)
SELECT fid, resident_id, birth_date, needs_support, ST_AsBinary(geom)
FROM chiiki_citus.residents
WHERE lg_code = '131059'
  AND geom && ST_MakeEnvelope(139.735, 35.705, 139.750, 35.715, 6668)
ORDER BY fid
LIMIT 1000;

-- name: one resident by id (items/{fid})
SELECT fid, resident_id, birth_date, ST_AsBinary(geom)
FROM chiiki_citus.residents
WHERE lg_code = '131059' AND fid = 10000902110;

-- name: 65+ or 要支援者 in flood zones ≥ 0.5 m (elderly_in_flood): a distributed table joined with a reference table
SELECT r.fid, max(f.depth_rank) AS depth_rank
FROM chiiki_citus.residents r
JOIN chiiki_citus.flood_depth f ON ST_Intersects(f.geom, r.geom)
WHERE r.lg_code = '131059'
  AND f.depth_rank >= 2
  AND (r.birth_date <= DATE '2026-12-08' - INTERVAL '65 years' OR r.needs_support)
GROUP BY r.fid;

-- name: 250 m meshes with 高齢化率 ≥ 40 % (aging_mesh_250m): JIS X 0410 codes by arithmetic on the coordinates
WITH cells AS (
  SELECT lg_code, chiiki_citus.mesh_250m(geom) AS mesh_code,
         birth_date <= DATE '2026-12-08' - INTERVAL '65 years' AS aged
  FROM chiiki_citus.residents
  WHERE lg_code = '131059'
)
SELECT lg_code, mesh_code, count(*) AS population, count(*) FILTER (WHERE aged) AS aged_65
FROM cells
GROUP BY lg_code, mesh_code
HAVING count(*) FILTER (WHERE aged) >= 0.4 * count(*);

-- name: 65+ beyond 300 m of every shelter (elderly_beyond_shelters_300m): a reference table in NOT EXISTS
SELECT r.fid
FROM chiiki_citus.residents r
WHERE r.lg_code = '131059'
  AND r.birth_date <= DATE '2026-12-08' - INTERVAL '65 years'
  AND NOT EXISTS (
    SELECT 1 FROM chiiki_citus.shelters s
    WHERE ST_DWithin(s.geom::geography, r.geom::geography, 300));

-- name: residents and 要支援者 per depth rank per 町丁目 (flood_exposure_by_town): two reference tables
SELECT t.town, f.depth_rank, count(*) AS residents, count(*) FILTER (WHERE r.needs_support) AS support
FROM chiiki_citus.residents r
JOIN chiiki_citus.towns t ON ST_Intersects(t.geom, r.geom)
JOIN chiiki_citus.flood_depth f ON ST_Intersects(f.geom, r.geom)
WHERE r.lg_code = '131059'
GROUP BY t.town, f.depth_rank;

-- name: a resident's history joined to the resident (co-located distributed tables)
SELECT r.fid, h.valid_from, h.change_kind
FROM chiiki_citus.residents r
JOIN chiiki_citus.registry_history h ON h.lg_code = r.lg_code AND h.resident_id = r.resident_id
WHERE r.lg_code = '131059' AND r.resident_id = '10000902110';

-- name: a registry delta: one 転居 applied (UPDATE routed by lg_code)
UPDATE chiiki_citus.residents
SET geom = ST_SetSRID(ST_MakePoint(139.7461, 35.7101), 6668)
WHERE lg_code = '131059' AND resident_id = '10000902110';
