//! Vector tiles (OGC API – Tiles, MVT) against the demo city: every tile
//! is decoded by GDAL's MVT driver (independent of the encoder) and
//! compared, feature by feature, with what the items endpoint gives the
//! same role for the same box.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::PI;

use serde_json::Value;

const HALF: f64 = 20_037_508.342_789_244;
const RADIUS: f64 = 6_378_137.0;
const BUFFER: f64 = 64.0;
const MVT: &str = "application/vnd.mapbox-vector-tile";

#[derive(Debug, Clone, Copy)]
struct Tile {
    z: u32,
    y: u32,
    x: u32,
}

impl Tile {
    /// The tile holding a lon/lat point.
    fn at(lon: f64, lat: f64, z: u32) -> Tile {
        let n = f64::from(1u32 << z);
        let (mx, my) = mercator(lon, lat);
        Tile {
            z,
            x: ((mx + HALF) / (2.0 * HALF) * n) as u32,
            y: ((HALF - my) / (2.0 * HALF) * n) as u32,
        }
    }

    /// Metres of one tile unit.
    fn unit(&self) -> f64 {
        2.0 * HALF / f64::from(1u32 << self.z) / 4096.0
    }

    /// Web Mercator bounds grown by `units` tile units: minx, miny, maxx, maxy.
    fn mercator_bounds(&self, units: f64) -> [f64; 4] {
        let size = 4096.0 * self.unit();
        let minx = -HALF + f64::from(self.x) * size;
        let maxy = HALF - f64::from(self.y) * size;
        let pad = units * self.unit();
        [minx - pad, maxy - size - pad, minx + size + pad, maxy + pad]
    }

    /// The same in lon/lat, as an items `bbox`.
    fn bbox(&self, units: f64) -> String {
        let [x0, y0, x1, y1] = self.mercator_bounds(units);
        let lon = |x: f64| x / HALF * 180.0;
        let lat = |y: f64| (y / HALF * PI).sinh().atan().to_degrees();
        format!("{},{},{},{}", lon(x0), lat(y0), lon(x1), lat(y1))
    }

    fn path(&self, id: &str) -> String {
        format!(
            "/collections/{id}/tiles/WebMercatorQuad/{}/{}/{}",
            self.z, self.y, self.x
        )
    }
}

fn mercator(lon: f64, lat: f64) -> (f64, f64) {
    let phi = lat.to_radians();
    (
        lon.to_radians() * RADIUS,
        (PI / 4.0 + phi / 2.0).tan().ln() * RADIUS,
    )
}

fn get_as(role: Option<&str>, path: &str) -> reqwest::blocking::Response {
    let s = server();
    let mut req = client().get(s.url(path));
    if let Some(r) = role {
        req = req.bearer_auth(s.token(r));
    }
    req.send().expect("HTTP request")
}

/// Every feature the items endpoint gives `role` in `bbox`, all pages.
fn items(role: Option<&str>, id: &str, bbox: &str) -> Vec<Value> {
    items_as_of(role, id, bbox, "")
}

/// The same with more parameters (`extra`: "&as_of=…").
fn items_as_of(role: Option<&str>, id: &str, bbox: &str, extra: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let path = format!(
            "/collections/{id}/items?bbox={bbox}&limit=10000&offset={}{extra}",
            out.len()
        );
        let r = get_as(role, &path);
        assert_eq!(r.status(), 200, "{path}");
        let page: Value = r.json().unwrap();
        let features = page["features"].as_array().unwrap().clone();
        let matched = page["numberMatched"].as_u64().unwrap() as usize;
        out.extend(features);
        if out.len() >= matched {
            return out;
        }
    }
}

/// A feature as GDAL reads it from a tile: id (GDAL's `mvt_id`), envelope
/// in Web Mercator, properties.
#[derive(Debug)]
struct Decoded {
    id: Option<u64>,
    envelope: [f64; 4],
    properties: BTreeMap<String, Value>,
}

/// The features of layer `id` in tile bytes `body`, georeferenced to
/// `tile` and not clipped by GDAL (the buffer is kept): GDAL's MVT driver
/// reads the tile and writes it as GeoJSON in Web Mercator (properties a
/// feature lacks stay out, as unset fields).
fn decode(body: &[u8], tile: Tile, id: &str) -> Vec<Decoded> {
    let dir = scratch("tiles");
    let file = dir.join(format!("{id}-{}-{}-{}.mvt", tile.z, tile.x, tile.y));
    std::fs::write(&file, body).unwrap();
    let (x, y, z) = (
        format!("X={}", tile.x),
        format!("Y={}", tile.y),
        format!("Z={}", tile.z),
    );
    let json = tool(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSON",
            "/vsistdout/",
            file.to_str().unwrap(),
            id,
            "-oo",
            &x,
            "-oo",
            &y,
            "-oo",
            &z,
            "-oo",
            "CLIP=NO",
        ],
    );
    let fc: Value = serde_json::from_str(&json).expect("GeoJSON from ogr2ogr");
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut properties: BTreeMap<String, Value> = f["properties"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            collect_coords(&f["geometry"]["coordinates"], &mut xs, &mut ys, false);
            let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
            let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
            Decoded {
                id: properties.remove("mvt_id").and_then(|v| v.as_u64()),
                envelope: [min(&xs), min(&ys), max(&xs), max(&ys)],
                properties,
            }
        })
        .collect()
}

/// GETs a tile as `role`: its status, headers and bytes.
fn fetch(role: Option<&str>, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = get_as(role, path);
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().unwrap().to_vec())
}

/// A tile's value equals the item's (numbers by value).
fn same_value(item: &Value, tile: Option<&Value>) -> bool {
    match (item, tile) {
        (Value::Null, None) => true,
        (Value::Bool(b), Some(t)) => t.as_bool() == Some(*b),
        (Value::Number(a), Some(t)) => t
            .as_f64()
            .is_some_and(|t| (a.as_f64().unwrap() - t).abs() <= 1e-9 * t.abs().max(1.0)),
        (a, Some(t)) => a == t,
        _ => false,
    }
}

/// The residents tile of `tile` for the planner holds exactly the
/// residents the items endpoint gives the planner for the tile and its
/// buffer (on day `as_of`, else today), at their positions, with their
/// properties; and it is audited.
fn planner_residents_tile_matches_items(tile: Tile, as_of: Option<&str>) -> BTreeSet<u64> {
    let query = as_of.map(|d| format!("?as_of={d}")).unwrap_or_default();
    let path = tile.path("residents");
    let (status, headers, body) = fetch(Some("planner"), &format!("{path}{query}"));
    assert_eq!(status, 200, "{path}");
    assert_eq!(headers["content-type"], MVT);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("etag").is_none(), "no validators on people");
    let decoded = decode(&body, tile, "residents");
    let extra = query.replace('?', "&");
    let expected = items_as_of(Some("planner"), "residents", &tile.bbox(BUFFER), &extra);
    assert!(
        expected.len() > 20,
        "{path}: only {} residents",
        expected.len()
    );
    let by_id: BTreeMap<u64, &Decoded> = decoded
        .iter()
        .map(|d| (d.id.expect("a feature id"), d))
        .collect();
    assert_eq!(by_id.len(), decoded.len(), "feature ids are unique");
    let wanted: BTreeSet<u64> = expected.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    let got: BTreeSet<u64> = by_id.keys().copied().collect();
    let extra: Vec<_> = got.difference(&wanted).take(5).collect();
    let missing: Vec<_> = wanted.difference(&got).take(5).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{path}: {} in the tile, {} items; not in the items: {extra:?}…, not in the tile: {missing:?}…",
        got.len(),
        wanted.len()
    );
    for f in &expected {
        let d = by_id[&f["id"].as_u64().unwrap()];
        let c = &f["geometry"]["coordinates"];
        let (mx, my) = mercator(c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let off = (d.envelope[0] - mx).abs().max((d.envelope[1] - my).abs());
        assert!(off <= tile.unit(), "{path}: {} is {off} m away", f["id"]);
        for (name, value) in f["properties"].as_object().unwrap() {
            assert!(
                same_value(value, d.properties.get(name)),
                "{path}: {} {name}: items {value}, tile {:?}",
                f["id"],
                d.properties.get(name)
            );
        }
        assert!(
            d.properties
                .keys()
                .all(|k| f["properties"].get(k).is_some()),
            "{path}: the tile has a property the items do not: {:?}",
            d.properties.keys()
        );
    }
    // The audit log names the tile and every resident in it.
    let log = std::fs::read_to_string(server().data.join("audit/audit.jsonl")).unwrap();
    let entry = log
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["request"].as_str() == Some(&format!("GET {path}{query}")))
        .unwrap_or_else(|| panic!("no audit entry for {path}"));
    assert_eq!(entry["records"], decoded.len());
    assert_eq!(entry["role"], "planner");
    got
}

#[test]
fn planner_z14_residents_tile_is_the_items_of_its_box() {
    planner_residents_tile_matches_items(Tile::at(139.745, 35.715, 14), None);
}

#[test]
fn planner_z16_residents_tile_is_the_items_of_its_box() {
    planner_residents_tile_matches_items(Tile::at(139.745, 35.715, 16), None);
}

#[test]
fn residents_tiles_as_of_a_past_day_are_that_day_s_items() {
    let tile = Tile::at(139.745, 35.715, 14);
    let today = planner_residents_tile_matches_items(tile, None);
    let then = planner_residents_tile_matches_items(tile, Some("2026-10-01"));
    assert_ne!(today, then, "people moved since the registry's first day");
    // Only the layers of people have past days.
    let r = get_as(
        None,
        &format!("{}?as_of=2026-10-01", tile.path("flood_a31_tokyo")),
    );
    assert_eq!(r.status(), 400);
}

#[test]
fn residents_tiles_are_missing_for_roles_without_records() {
    let tile = Tile::at(139.745, 35.715, 14);
    for role in [Some("health"), Some("analyst"), None] {
        for path in [
            tile.path("residents"),
            "/collections/residents/tiles".to_string(),
            "/collections/residents/tiles/WebMercatorQuad".to_string(),
        ] {
            let r = get_as(role, &path);
            assert_eq!(r.status(), 404, "{role:?} {path}");
            let body: Value = r.json().unwrap();
            assert_eq!(body["code"], "NotFound");
        }
    }
    // As items answer.
    assert_eq!(
        get_as(Some("analyst"), "/collections/residents/items").status(),
        404
    );
}

/// `(mesh_code, numeric properties)` of the analysis features in a tile.
fn mesh_values(
    features: impl Iterator<Item = (String, BTreeMap<String, f64>)>,
) -> BTreeMap<String, BTreeMap<String, f64>> {
    features.collect()
}

fn numbers(props: &BTreeMap<String, Value>) -> BTreeMap<String, f64> {
    props
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .collect()
}

#[test]
fn aggregate_tiles_carry_the_role_s_perturbed_values() {
    let id = "aging_mesh_250m";
    // The z10 tile over the whole ward: the aggregate keeps few meshes.
    let tile = Tile::at(139.745, 35.715, 10);
    let tile_of = |role: &str| {
        let (status, headers, body) = fetch(Some(role), &tile.path(id));
        assert_eq!(status, 200, "{role}");
        assert_eq!(headers["cache-control"], "no-store");
        mesh_values(decode(&body, tile, id).into_iter().map(|d| {
            let code = d.properties["mesh_code"].as_str().map(str::to_string);
            let code = code.unwrap_or_else(|| d.properties["mesh_code"].to_string());
            (code, numbers(&d.properties))
        }))
    };
    let items_of = |role: &str| {
        mesh_values(
            items(Some(role), id, &tile.bbox(BUFFER))
                .into_iter()
                .map(|f| {
                    let p = &f["properties"];
                    let code = p["mesh_code"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| p["mesh_code"].to_string());
                    let props: BTreeMap<String, Value> = p
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    (code, numbers(&props))
                }),
        )
    };
    let analyst = tile_of("analyst");
    let planner = tile_of("planner");
    assert!(!analyst.is_empty() && !planner.is_empty());
    assert_eq!(
        analyst,
        items_of("analyst"),
        "the analyst's tile is the analyst's items"
    );
    assert_eq!(
        planner,
        items_of("planner"),
        "the planner's tile is the planner's items"
    );
    // The analyst's numbers are not the exact ones: some value differs, or
    // a mesh is left out (its perturbed rate misses the `having`).
    let differs = planner.iter().any(|(code, exact)| {
        analyst
            .get(code)
            .is_none_or(|seen| seen.iter().any(|(k, v)| exact.get(k) != Some(v)))
    }) || analyst.keys().any(|c| !planner.contains_key(c));
    assert!(differs, "the analyst sees the exact aggregates");
}

#[test]
fn open_polygon_tile_holds_every_polygon_of_its_box_clipped_to_the_buffer() {
    let id = "flood_a31_tokyo";
    let tile = Tile::at(139.745, 35.715, 14);
    let path = tile.path(id);
    let (status, headers, body) = fetch(None, &path);
    assert_eq!(status, 200, "{path}");
    assert_eq!(headers["content-type"], MVT);
    let decoded = decode(&body, tile, id);
    let expected = items(None, id, &tile.bbox(BUFFER));
    assert!(expected.len() > 10, "{path}: {} polygons", expected.len());
    let got: BTreeSet<u64> = decoded.iter().map(|d| d.id.unwrap()).collect();
    // A polygon may only be missing if its part in the tile is thinner
    // than a tile unit (it covers no pixel).
    let [bx0, by0, bx1, by1] = tile.mercator_bounds(BUFFER);
    for f in &expected {
        let fid = f["id"].as_u64().unwrap();
        if got.contains(&fid) {
            continue;
        }
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        collect_coords(&f["geometry"]["coordinates"], &mut xs, &mut ys, true);
        let w = xs.iter().cloned().fold(f64::MIN, f64::max).min(bx1)
            - xs.iter().cloned().fold(f64::MAX, f64::min).max(bx0);
        let h = ys.iter().cloned().fold(f64::MIN, f64::max).min(by1)
            - ys.iter().cloned().fold(f64::MAX, f64::min).max(by0);
        assert!(
            w < tile.unit() || h < tile.unit(),
            "{path}: polygon {fid} ({w} m × {h} m in the tile) is missing"
        );
    }
    let wanted: BTreeSet<u64> = expected.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert!(
        got.is_subset(&wanted),
        "{path}: polygons from outside the box"
    );
    assert!(
        got.len() * 10 >= wanted.len() * 9,
        "{} of {}",
        got.len(),
        wanted.len()
    );
    // Clipped within the buffer (and half a unit of rounding).
    let slack = 0.5 * tile.unit() + 1e-6;
    for d in &decoded {
        let [x0, y0, x1, y1] = d.envelope;
        assert!(
            x0 >= bx0 - slack && y0 >= by0 - slack && x1 <= bx1 + slack && y1 <= by1 + slack,
            "{path}: feature {:?} reaches beyond the buffer: {:?}",
            d.id,
            d.envelope
        );
    }
    assert!(
        decoded
            .iter()
            .any(|d| d.envelope[0] < bx0 + tile.unit() || d.envelope[2] > bx1 - tile.unit()),
        "some polygon is cut at the buffer's edge"
    );
    // Validators: a strong tag, and 304 for a client that has it.
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let again = client()
        .get(server().url(&path))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    let other = Tile {
        x: tile.x + 1,
        ..tile
    };
    let r = client()
        .get(server().url(&other.path(id)))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_ne!(r.status(), 304, "another tile has another tag");
    // The cached second answer is the same tile.
    let (_, _, cached) = fetch(None, &path);
    assert_eq!(cached, body);
}

/// Every position in GeoJSON coordinates, projected to Web Mercator when
/// they are lon/lat (`lonlat`).
fn collect_coords(v: &Value, xs: &mut Vec<f64>, ys: &mut Vec<f64>, lonlat: bool) {
    match v.as_array() {
        Some(a) if a.first().is_some_and(Value::is_number) => {
            let (x, y) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
            let (x, y) = if lonlat { mercator(x, y) } else { (x, y) };
            xs.push(x);
            ys.push(y);
        }
        Some(a) => a.iter().for_each(|c| collect_coords(c, xs, ys, lonlat)),
        None => {}
    }
}

#[test]
fn tile_addresses_outside_the_matrix_set_are_refused() {
    let cases = [
        (
            "/collections/flood_a31_tokyo/tiles/WebMercatorQuad/23/0/0",
            404,
        ),
        (
            "/collections/flood_a31_tokyo/tiles/WebMercatorQuad/2/4/0",
            404,
        ),
        (
            "/collections/flood_a31_tokyo/tiles/WebMercatorQuad/2/0/x",
            400,
        ),
        (
            "/collections/flood_a31_tokyo/tiles/WorldCRS84Quad/2/0/0",
            404,
        ),
        (
            "/collections/flood_a31_tokyo/tiles/WebMercatorQuad/2/0/0?bbox=1,2,3,4",
            400,
        ),
        (
            "/collections/no_such_layer/tiles/WebMercatorQuad/2/0/0",
            404,
        ),
    ];
    for (path, status) in cases {
        let r = get_as(None, path);
        assert_eq!(r.status(), status, "{path}");
        assert!(r.json::<Value>().unwrap()["code"].is_string(), "{path}");
    }
    // A tile over the Pacific has nothing: 204.
    let empty = Tile::at(-150.0, 0.0, 14).path("flood_a31_tokyo");
    assert_eq!(get_as(None, &empty).status(), 204);
}

#[test]
fn tileset_metadata_and_tile_matrix_set_are_well_formed_and_link_up() {
    let s = server();
    let collection = get_json(&s.url("/collections/flood_a31_tokyo"));
    let link = collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector")
        .expect("a link to the tilesets");
    let tilesets = get_json(link["href"].as_str().unwrap());
    let set = &tilesets["tilesets"][0];
    assert_eq!(set["dataType"], "vector");
    assert_eq!(
        set["tileMatrixSetURI"],
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    );
    let self_link = set["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    let tileset = get_json(self_link["href"].as_str().unwrap());
    assert_eq!(tileset["crs"], "http://www.opengis.net/def/crs/EPSG/0/3857");
    assert_eq!(tileset["layers"][0]["id"], "flood_a31_tokyo");
    assert_eq!(tileset["layers"][0]["geometryDimension"], 2);
    assert_eq!(tileset["vector_layers"][0]["id"], "flood_a31_tokyo");
    let fields = tileset["vector_layers"][0]["fields"].as_object().unwrap();
    let item = get_json(&s.url("/collections/flood_a31_tokyo/items?limit=1"));
    for name in item["features"][0]["properties"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(fields.contains_key(name), "vector_layers lacks {name}");
    }
    let bounds: Vec<f64> = tileset["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(bounds[0] < 139.75 && bounds[2] > 139.75 && bounds[1] < 35.7 && bounds[3] > 35.7);
    let tile = Tile::at(139.745, 35.715, 14);
    // The OGC template and the TileJSON one both resolve to the tile.
    let template = tileset["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "item")
        .unwrap();
    assert_eq!(template["type"], MVT);
    assert_eq!(template["templated"], true);
    let href = template["href"]
        .as_str()
        .unwrap()
        .replace("{tileMatrix}", &tile.z.to_string())
        .replace("{tileRow}", &tile.y.to_string())
        .replace("{tileCol}", &tile.x.to_string());
    let tilejson = tileset["tiles"][0]
        .as_str()
        .unwrap()
        .replace("{z}", &tile.z.to_string())
        .replace("{y}", &tile.y.to_string())
        .replace("{x}", &tile.x.to_string());
    assert_eq!(href, tilejson);
    let r = get(&href);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], MVT);
    // The tile matrix set.
    let sets = get_json(&s.url("/tileMatrixSets"));
    let tms_href = sets["tileMatrixSets"][0]["links"][0]["href"]
        .as_str()
        .unwrap();
    let tms = get_json(tms_href);
    assert_eq!(tms["id"], "WebMercatorQuad");
    assert_eq!(tms["crs"], "http://www.opengis.net/def/crs/EPSG/0/3857");
    let matrices = tms["tileMatrices"].as_array().unwrap();
    assert!(matrices.len() >= 19);
    for (z, m) in matrices.iter().enumerate() {
        assert_eq!(m["id"], z.to_string());
        assert_eq!(m["matrixWidth"], 1u64 << z);
        assert_eq!(m["tileWidth"], 256);
    }
    let conformance = get_json(&s.url("/conformance"));
    let classes: Vec<&str> = conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in [
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "mvt",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}");
        assert!(classes.contains(&uri.as_str()), "{uri}");
    }
    let openapi = get_json(&s.url("/openapi"));
    assert!(openapi["paths"]
        .get(
            "/collections/flood_a31_tokyo/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
        )
        .is_some());
}

#[test]
fn open_polygon_tiles_carry_the_items_properties() {
    let id = "bunkyo_towns";
    let tile = Tile::at(139.745, 35.715, 14);
    let (status, _, body) = fetch(None, &tile.path(id));
    assert_eq!(status, 200);
    let decoded = decode(&body, tile, id);
    let expected = items(None, id, &tile.bbox(BUFFER));
    assert!(decoded.len() > 5, "{} towns", decoded.len());
    let by_id: BTreeMap<u64, &Decoded> = decoded.iter().map(|d| (d.id.unwrap(), d)).collect();
    let mut compared = 0;
    for f in &expected {
        let Some(d) = by_id.get(&f["id"].as_u64().unwrap()) else {
            continue;
        };
        let props = f["properties"].as_object().unwrap();
        assert!(!props.is_empty());
        for (name, value) in props {
            assert!(
                same_value(value, d.properties.get(name)),
                "{id} {}: {name}: items {value}, tile {:?}",
                f["id"],
                d.properties.get(name)
            );
        }
        compared += 1;
    }
    assert_eq!(compared, decoded.len(), "every town in the tile is an item");
}
