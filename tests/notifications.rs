//! Notification lists (`POST /notifications`) on the demo city: every list
//! against a brute force over what the caller reads through items, with a
//! point-in-polygon test and mesh cell bounds of this file's own; the audit
//! log; the protected counts of roles that may not read the list, against
//! the protected aggregates and under differencing; refused requests.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{json, Value};

use common::{all_features, client, server};

/// `POST /notifications?{query}` as `role` (no token for `None`).
fn notify_raw(role: Option<&str>, query: &str, body: &Value) -> reqwest::blocking::Response {
    let s = server();
    let url = if query.is_empty() {
        s.url("/notifications")
    } else {
        s.url(&format!("/notifications?{query}"))
    };
    let mut req = client().post(url).json(body);
    if let Some(role) = role {
        req = req.bearer_auth(s.token(role));
    }
    req.send().expect("POST /notifications")
}

fn notify(role: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let r = notify_raw(role, "", body);
    let status = r.status();
    (status, r.json().expect("a JSON answer"))
}

/// A list that must be answered: its features.
fn list(role: &str, body: &Value) -> Vec<Value> {
    let (status, answer) = notify(Some(role), body);
    assert_eq!(status, StatusCode::OK, "{role} {body}: {answer}");
    assert_eq!(answer["type"], "FeatureCollection", "{answer}");
    let features = answer["features"].as_array().unwrap().clone();
    assert_eq!(answer["numberMatched"], features.len(), "numberMatched");
    features
}

/// A count that must be answered: (count, protected).
fn count(role: &str, body: &Value) -> (u64, bool) {
    let (status, answer) = notify(Some(role), body);
    assert_eq!(status, StatusCode::OK, "{role} {body}: {answer}");
    assert!(
        answer.get("features").is_none(),
        "a count, not a list: {answer}"
    );
    (
        answer["count"].as_u64().expect("a count"),
        answer["protected"].as_bool().expect("protected"),
    )
}

fn ids(features: &[Value]) -> BTreeSet<i64> {
    features.iter().map(|f| f["id"].as_i64().unwrap()).collect()
}

fn point(f: &Value) -> (f64, f64) {
    let c = &f["geometry"]["coordinates"];
    (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
}

// ---- an independent point-in-polygon (even–odd ray casting) ----

fn in_ring(ring: &[Value], x: f64, y: f64) -> bool {
    let p: Vec<(f64, f64)> = ring
        .iter()
        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
        .collect();
    let mut inside = false;
    let mut j = p.len() - 1;
    for i in 0..p.len() {
        let ((xi, yi), (xj, yj)) = (p[i], p[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn in_polygon(rings: &Value, x: f64, y: f64) -> bool {
    let rings = rings.as_array().unwrap();
    in_ring(rings[0].as_array().unwrap(), x, y)
        && !rings[1..]
            .iter()
            .any(|hole| in_ring(hole.as_array().unwrap(), x, y))
}

/// Whether a GeoJSON Polygon or MultiPolygon holds (x, y).
fn in_geometry(g: &Value, x: f64, y: f64) -> bool {
    match g["type"].as_str().unwrap() {
        "Polygon" => in_polygon(&g["coordinates"], x, y),
        "MultiPolygon" => g["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| in_polygon(p, x, y)),
        other => panic!("not a polygon: {other}"),
    }
}

/// The bounding box of nested GeoJSON coordinates.
fn bounds(coordinates: &Value) -> (f64, f64, f64, f64) {
    let items = coordinates.as_array().unwrap();
    if items[0].is_number() {
        let (x, y) = (items[0].as_f64().unwrap(), items[1].as_f64().unwrap());
        return (x, y, x, y);
    }
    items
        .iter()
        .map(bounds)
        .reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)))
        .unwrap()
}

fn rectangle(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})
}

// ---- JIS X 0410 cells, computed here from the standard's arithmetic ----

/// The 1 km (基準地域メッシュ) code of a point.
fn code_1km(lon: f64, lat: f64) -> String {
    // Whole 1 km cells counted from 0° N and 100° E: 30″ of latitude,
    // 45″ of longitude.
    let row = (lat * 120.0).floor() as i64;
    let column = ((lon - 100.0) * 80.0).floor() as i64;
    let (p, q, r) = (row / 80, row % 80 / 10, row % 10);
    let (u, v, w) = (column / 80, column % 80 / 10, column % 10);
    format!("{p:02}{u:02}{q}{v}{r}{w}")
}

/// South-west and north-east corners (lon, lat) of a code of 4, 6, 8, 9
/// (500 m) or 10 (250 m) digits.
fn cell_bounds(code: &str) -> (f64, f64, f64, f64) {
    let d: Vec<f64> = code.bytes().map(|b| (b - b'0') as f64).collect();
    let mut lat = (d[0] * 10.0 + d[1]) / 1.5;
    let mut lon = d[2] * 10.0 + d[3] + 100.0;
    let (mut h, mut w) = (40.0 / 60.0, 1.0);
    if d.len() >= 6 {
        h /= 8.0;
        w /= 8.0;
        lat += d[4] * h;
        lon += d[5] * w;
    }
    if d.len() >= 8 {
        h /= 10.0;
        w /= 10.0;
        lat += d[6] * h;
        lon += d[7] * w;
    }
    for &quadrant in d.iter().skip(8) {
        h /= 2.0;
        w /= 2.0;
        let q = quadrant - 1.0;
        lat += (q / 2.0).floor() * h;
        lon += (q % 2.0) * w;
    }
    (lon, lat, lon + w, lat + h)
}

/// Inside a cell: its south and west edges in, north and east out.
fn in_cell(code: &str, x: f64, y: f64) -> bool {
    let (x0, y0, x1, y1) = cell_bounds(code);
    x >= x0 && x < x1 && y >= y0 && y < y1
}

// ---- the audit log ----

fn audit_entries() -> Vec<Value> {
    let path = server().data.join("audit/audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The keyed hashes the audit log gives `ids` of `population`.
fn hashed(population: &str, ids: &BTreeSet<i64>) -> BTreeSet<String> {
    let key = std::fs::read_to_string(server().data.join("audit/audit.key")).unwrap();
    let key = hex::decode(key.trim()).unwrap();
    ids.iter()
        .map(|&id| chiiki_policy::audit::hash_id(&key, population, id))
        .collect()
}

/// Entries of `role` whose request starts with `prefix` and that list
/// exactly `expected` (keyed hashes).
fn logged_with(role: &str, prefix: &str, expected: &BTreeSet<String>) -> Vec<Value> {
    audit_entries()
        .into_iter()
        .filter(|e| {
            e["role"] == role
                && e["request"].as_str().unwrap().starts_with(prefix)
                && e["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap().to_string())
                    .collect::<BTreeSet<_>>()
                    == *expected
        })
        .collect()
}

const LISTED: &str = "POST /notifications?purpose=notification&";
const COUNTED: &str = "COMPUTE notification count: POST /notifications?purpose=notification&";

fn towns() -> Vec<Value> {
    all_features("bunkyo_towns", None, "")
}

fn town_body(name: &str, filter: Option<&str>) -> Value {
    let mut body =
        json!({"area": {"collection": "bunkyo_towns", "filter": format!("S_NAME = '{name}'")}});
    if let Some(f) = filter {
        body["filter"] = json!(f);
    }
    body
}

/// The planner's residents aged 65+ (items, through its view), and the
/// town holding most of them by this file's point-in-polygon.
fn planner_elderly_and_busiest_town() -> (Vec<Value>, Value) {
    let elderly = all_features("residents", Some("planner"), "&filter=age%20%3E%3D%2065");
    assert!(
        elderly.len() > 1000,
        "the planner reads {} aged 65+",
        elderly.len()
    );
    let towns = towns();
    let busiest = towns
        .iter()
        .max_by_key(|t| {
            elderly
                .iter()
                .filter(|f| {
                    let (x, y) = point(f);
                    in_geometry(&t["geometry"], x, y)
                })
                .count()
        })
        .unwrap()
        .clone();
    (elderly, busiest)
}

#[test]
fn a_town_list_for_the_planner_is_its_view_inside_the_town_audited() {
    let (elderly, town) = planner_elderly_and_busiest_town();
    let name = town["properties"]["S_NAME"].as_str().unwrap();
    let expected: BTreeMap<i64, &Value> = elderly
        .iter()
        .filter(|f| {
            let (x, y) = point(f);
            in_geometry(&town["geometry"], x, y)
        })
        .map(|f| (f["id"].as_i64().unwrap(), f))
        .collect();
    assert!(expected.len() >= 20, "{name}: {} to list", expected.len());

    let body = town_body(name, Some("age >= 65"));
    let started = std::time::Instant::now();
    let listed = list("planner", &body);
    let took = started.elapsed();
    assert_eq!(
        ids(&listed),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "{name}"
    );
    // Each person exactly as items show them to the planner.
    for f in &listed {
        let id = f["id"].as_i64().unwrap();
        assert_eq!(f["properties"], expected[&id]["properties"], "{id}");
        assert_eq!(f["geometry"], expected[&id]["geometry"], "{id}");
    }

    // The CSV a notification system imports: the same people, the columns
    // of the items CSV.
    let r = notify_raw(Some("planner"), "f=csv", &body);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let bytes = r.bytes().unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "a UTF-8 BOM for Excel"
    );
    let mut csv = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    let items_csv = client()
        .get(server().url("/collections/residents/items?f=csv&limit=1"))
        .bearer_auth(server().token("planner"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut items = csv::Reader::from_reader(&items_csv[3..]);
    let items_header: Vec<String> = items.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, items_header);
    let name_column = header.iter().position(|h| h == "name").unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let csv_ids: BTreeSet<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(csv_ids, ids(&listed));
    for r in &rows {
        let id: i64 = r[0].parse().unwrap();
        assert_eq!(
            &r[name_column],
            expected[&id]["properties"]["name"].as_str().unwrap()
        );
    }

    // Both were logged with every person, for the purpose of notifying.
    let logged = logged_with("planner", LISTED, &hashed("residents", &ids(&listed)));
    assert!(
        logged.len() >= 2,
        "the GeoJSON and the CSV lists: {logged:?}"
    );
    assert!(logged
        .iter()
        .all(|e| e["records"] == listed.len() && e["collection"] == "residents"));
    assert!(logged
        .iter()
        .any(|e| e["request"].as_str().unwrap().ends_with("&f=csv")));
    println!(
        "{name}: {} residents aged 65+ listed for the planner in {took:.1?}",
        listed.len()
    );
}

#[test]
fn mesh_cells_of_any_level_and_drawn_polygons_select_what_the_planner_reads() {
    let readable = all_features("residents", Some("planner"), "");
    // The 1 km cell with most of the planner's residents, a 500 m cell and
    // a 250 m cell of others, all from codes computed here.
    let mut per_km: BTreeMap<String, usize> = BTreeMap::new();
    for f in &readable {
        let (x, y) = point(f);
        *per_km.entry(code_1km(x, y)).or_default() += 1;
    }
    let mut busiest: Vec<(&String, &usize)> = per_km.iter().collect();
    busiest.sort_by_key(|(c, n)| (std::cmp::Reverse(**n), (*c).clone()));
    let km = busiest[0].0.clone();
    let codes = [
        km.clone(),
        format!("{}3", busiest[1].0),  // its north-west 500 m quarter
        format!("{}24", busiest[2].0), // a 250 m cell of the south-east 500 m
    ];
    for code in &codes {
        let (x0, y0, x1, y1) = cell_bounds(code);
        assert!(x1 > x0 && y1 > y0, "{code}");
    }
    let in_any = |f: &Value| {
        let (x, y) = point(f);
        codes.iter().any(|c| in_cell(c, x, y))
    };
    let expected: BTreeSet<i64> = ids(&readable
        .iter()
        .filter(|f| in_any(f))
        .cloned()
        .collect::<Vec<_>>());
    let listed = list("planner", &json!({"area": {"mesh": codes}}));
    assert_eq!(ids(&listed), expected, "{codes:?}");
    assert!(expected.len() > busiest[0].1 / 2, "{codes:?}");
    // Codes as numbers are the same codes.
    let as_numbers: Vec<u64> = codes.iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(
        ids(&list("planner", &json!({"area": {"mesh": as_numbers}}))),
        expected
    );

    // A drawn MultiPolygon: an L-shaped (concave) block, and a square with
    // a hole, around the ward's busiest cell, with criteria.
    let (x0, y0, _, _) = cell_bounds(&km);
    let (dx, dy) = (0.004, 0.003);
    let drawn = json!({"type": "MultiPolygon", "coordinates": [
        [[[x0, y0], [x0 + 2.0 * dx, y0], [x0 + 2.0 * dx, y0 + dy], [x0 + dx, y0 + dy],
          [x0 + dx, y0 + 2.0 * dy], [x0, y0 + 2.0 * dy], [x0, y0]]],
        [[[x0 + 3.0 * dx, y0], [x0 + 5.0 * dx, y0], [x0 + 5.0 * dx, y0 + 2.0 * dy],
          [x0 + 3.0 * dx, y0 + 2.0 * dy], [x0 + 3.0 * dx, y0]],
         [[x0 + 3.5 * dx, y0 + 0.5 * dy], [x0 + 4.5 * dx, y0 + 0.5 * dy],
          [x0 + 4.5 * dx, y0 + 1.5 * dy], [x0 + 3.5 * dx, y0 + 1.5 * dy],
          [x0 + 3.5 * dx, y0 + 0.5 * dy]]]
    ]});
    let supported: BTreeSet<i64> = ids(&readable
        .iter()
        .filter(|f| {
            let (x, y) = point(f);
            f["properties"]["needs_support"] == true && in_geometry(&drawn, x, y)
        })
        .cloned()
        .collect::<Vec<_>>());
    let hole = rectangle(x0 + 3.5 * dx, y0 + 0.5 * dy, x0 + 4.5 * dx, y0 + 1.5 * dy);
    let in_hole = readable
        .iter()
        .filter(|f| {
            let (x, y) = point(f);
            f["properties"]["needs_support"] == true && in_geometry(&hole, x, y)
        })
        .count();
    let listed = list(
        "planner",
        &json!({"area": {"polygon": drawn}, "filter": "needs_support = TRUE"}),
    );
    assert_eq!(ids(&listed), supported);
    assert!(
        !supported.is_empty() && in_hole > 0,
        "{} listed, {in_hole} in the hole",
        supported.len()
    );
}

#[test]
fn the_planner_lists_only_its_rows_where_admin_lists_everyone() {
    let (_, town) = planner_elderly_and_busiest_town();
    let name = town["properties"]["S_NAME"].as_str().unwrap();
    let body = town_body(name, None);
    let everyone = list("admin", &body);
    let planner = list("planner", &body);
    let planners_rows: BTreeSet<i64> = everyone
        .iter()
        .filter(|f| {
            f["properties"]["needs_support"] == true
                || !f["properties"]["flood_depth_rank"].is_null()
        })
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids(&planner), planners_rows);
    assert!(
        everyone.len() > planner.len() && !planner.is_empty(),
        "admin {} planner {}",
        everyone.len(),
        planner.len()
    );
    // Everyone admin reads around the town, tested here against its polygon.
    let (x0, y0, x1, y1) = bounds(&town["geometry"]["coordinates"]);
    let around = all_features(
        "residents",
        Some("admin"),
        &format!("&bbox={x0},{y0},{x1},{y1}"),
    );
    let in_town: BTreeSet<i64> = around
        .iter()
        .filter(|f| {
            let (x, y) = point(f);
            in_geometry(&town["geometry"], x, y)
        })
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids(&everyone), in_town);
    // Counts for roles with exact aggregates are exact: the list's size.
    let mut counted = body.clone();
    counted["count_only"] = json!(true);
    assert_eq!(count("admin", &counted), (everyone.len() as u64, false));
    assert_eq!(count("planner", &counted), (planner.len() as u64, false));
}

/// The possible published values of true count `n` (k = 3, the demo's):
/// the perturbation table of the README.
fn published_from(n: u64) -> Vec<u64> {
    match n {
        0 => vec![0],
        1 | 2 => vec![0, 3],
        3 => vec![3, 4, 5],
        4 => vec![3, 4, 5, 6],
        n => (n - 2..=n + 2).collect(),
    }
}

/// The true counts consistent with a published value.
fn truths_of(published: u64) -> BTreeSet<u64> {
    (0..=published + 5)
        .filter(|&n| published_from(n).contains(&published))
        .collect()
}

#[test]
fn roles_reading_only_counts_get_the_protected_aggregate_value() {
    // The analyst's protected aggregate per 250 m cell, asked at the
    // lowest ageing rate its author allows, so that many cells show.
    let cells = all_features("aging_mesh_250m", Some("analyst"), "&param.rate=0.2");
    assert!(cells.len() >= 10, "{} cells", cells.len());
    let mut differ = 0;
    for cell in cells.iter().take(12) {
        let code = cell["properties"]["mesh_code"].as_str().unwrap();
        let population = cell["properties"]["population"].as_u64().unwrap();
        let aged = cell["properties"]["aged_65"].as_u64().unwrap();
        let area = json!({"area": {"mesh": [code]}});
        let elderly = json!({"area": {"mesh": [code]}, "filter": "age >= 65"});
        for role in ["analyst", "health"] {
            assert_eq!(count(role, &area), (population, true), "{role} {code}");
            assert_eq!(count(role, &elderly), (aged, true), "{role} {code}");
        }
        // The same people asked again, and through a drawn polygon of the
        // cell: the same value.
        assert_eq!(count("analyst", &area).0, population);
        let (x0, y0, x1, y1) = cell_bounds(code);
        let inset = 1e-7;
        let drawn =
            json!({"area": {"polygon": rectangle(x0 + inset, y0 + inset, x1 - inset, y1 - inset)}});
        let exact = count(
            "admin",
            &json!({"area": {"mesh": [code]}, "count_only": true}),
        )
        .0;
        if count("admin", &{
            let mut d = drawn.clone();
            d["count_only"] = json!(true);
            d
        })
        .0 == exact
        {
            assert_eq!(count("analyst", &drawn).0, population, "{code} drawn");
        }
        assert!(
            truths_of(population).contains(&exact),
            "{code}: {exact} → {population}"
        );
        if exact != population {
            differ += 1;
        }
    }
    assert!(
        differ > 0,
        "perturbed values differ from the truth somewhere"
    );

    // A town: the same value however the town is named.
    let town = &towns()[0];
    let name = town["properties"]["S_NAME"].as_str().unwrap();
    let by_name = count("analyst", &town_body(name, Some("age >= 75")));
    assert!(by_name.1);
    assert_eq!(
        count(
            "analyst",
            &json!({"area": {"polygon": town["geometry"]}, "filter": "age >= 75"})
        ),
        by_name
    );
}

#[test]
fn small_areas_and_differencing_reveal_no_one() {
    // The admin's residents in a block of the ward, by house (point).
    let (bx0, by0, bx1, by1) = (139.738, 35.705, 139.752, 35.716);
    let people = all_features(
        "residents",
        Some("admin"),
        &format!("&bbox={bx0},{by0},{bx1},{by1}"),
    );
    assert!(people.len() > 500, "{}", people.len());
    let mut houses: BTreeMap<(i64, i64), Vec<(f64, f64)>> = BTreeMap::new();
    for f in &people {
        let (x, y) = point(f);
        houses
            .entry(((x * 1e9) as i64, (y * 1e9) as i64))
            .or_default()
            .push((x, y));
    }
    let within = |x0: f64, y0: f64, x1: f64, y1: f64| {
        people
            .iter()
            .filter(|f| {
                let (x, y) = point(f);
                x > x0 && x < x1 && y > y0 && y < y1
            })
            .count() as u64
    };
    let (eps, w, h) = (2e-7, 0.0008, 0.0004);
    let mut small = Vec::new();
    let mut pairs = Vec::new();
    for (house, at) in &houses {
        let (x, y) = at[0];
        // Well inside the block, alone on its tiny box.
        if at.len() > 2 || x - w < bx0 || x + w > bx1 || y - h < by0 || y + h > by1 {
            continue;
        }
        if small.len() == 30 && pairs.len() == 24 {
            break;
        }
        let alone = within(x - eps, y - eps, x + eps, y + eps);
        if alone != at.len() as u64 || !(1..=2).contains(&alone) {
            continue;
        }
        if small.len() < 30 {
            small.push((*house, rectangle(x - eps, y - eps, x + eps, y + eps), alone));
        }
        // A block just east of a house of one, and the same block
        // reaching west over that house: nobody else in the strip.
        if at.len() == 1 && pairs.len() < 24 {
            let a = (x + eps, y - h, x + eps + w, y + h);
            let strip = within(x - eps, y - h, x + eps, y + h);
            let edges = within(a.0 - 1e-8, a.1, a.0 + 1e-8, a.3)
                + within(a.2 - 1e-8, a.1, a.2 + 1e-8, a.3)
                + within(a.0, a.1 - 1e-8, a.2, a.1 + 1e-8)
                + within(a.0, a.3 - 1e-8, a.2, a.3 + 1e-8);
            let n = within(a.0, a.1, a.2, a.3);
            if strip == 1 && edges == 0 && n >= 5 {
                pairs.push((
                    rectangle(a.0, a.1, a.2, a.3),
                    rectangle(x - eps, a.1, a.2, a.3),
                    n,
                ));
            }
        }
    }
    assert!(
        small.len() >= 20 && pairs.len() >= 20,
        "{} small, {} pairs",
        small.len(),
        pairs.len()
    );

    // An area of one or two people: the admin counts them, the analyst
    // reads 0 or 3, never 1 or 2; both happen, so a 0 does not say empty.
    let mut seen = BTreeSet::new();
    for (house, area, n) in &small {
        let body = json!({"area": {"polygon": area}, "count_only": true});
        assert_eq!(count("admin", &body), (*n, false), "{house:?}");
        let (published, protected) = count("analyst", &body);
        assert!(protected);
        assert!(
            published == 0 || published == 3,
            "{house:?}: {n} published as {published}"
        );
        seen.insert(published);
    }
    assert_eq!(seen, BTreeSet::from([0, 3]), "small areas publish 0 and 3");

    // Area A, then A and one more house of one person: the exact counts
    // differ by one; the published ones leave the person's presence open.
    let (mut naive_right, mut certain) = (0, 0);
    for (a, a_plus, n) in &pairs {
        let exact_a = count(
            "admin",
            &json!({"area": {"polygon": a}, "count_only": true}),
        )
        .0;
        let exact_b = count(
            "admin",
            &json!({"area": {"polygon": a_plus}, "count_only": true}),
        )
        .0;
        assert_eq!((exact_a, exact_b), (*n, n + 1), "the pair is as built");
        let pa = count("analyst", &json!({"area": {"polygon": a}})).0;
        let pb = count("analyst", &json!({"area": {"polygon": a_plus}})).0;
        assert!(truths_of(pa).contains(n) && truths_of(pb).contains(&(n + 1)));
        if pb.wrapping_sub(pa) == 1 {
            naive_right += 1;
        }
        // Certain presence: no true count fits both values unchanged.
        if truths_of(pa).is_disjoint(&truths_of(pb)) {
            certain += 1;
        }
    }
    println!(
        "differencing: {} pairs, naive difference right {naive_right}, presence certain {certain}",
        pairs.len()
    );
    assert!(
        naive_right < pairs.len(),
        "the difference is not the person"
    );
    assert!(
        certain * 10 <= pairs.len(),
        "{certain} of {} pairs certain",
        pairs.len()
    );
}

#[test]
fn counts_may_not_name_identifiers_and_are_audited_like_aggregates() {
    let area = json!({"mesh": ["53394640"]});
    for field in [
        "name LIKE '山%'",
        "name_kana = 'ヤマダ タロウ'",
        "birth_date = DATE('1950-01-01')",
        "resident_id = '10000919062'",
        "household_id = '10017017'",
        "address LIKE '%本郷%'",
        "address_extra IS NOT NULL",
        "record_key = 7",
    ] {
        let name = field.split_whitespace().next().unwrap();
        for role in ["analyst", "health"] {
            let (status, answer) = notify(Some(role), &json!({"area": area, "filter": field}));
            assert_eq!(status, StatusCode::BAD_REQUEST, "{role} {field}: {answer}");
            let said = answer["description"].as_str().unwrap();
            assert!(
                said.starts_with("filter:") && said.contains(&format!("'{name}'")),
                "{said}"
            );
        }
    }
    for allowed in [
        "age >= 65",
        "sex = '女'",
        "needs_support = TRUE",
        "care_level IS NOT NULL",
        "flood_depth_rank >= 2",
        "town = '本郷四丁目' AND age BETWEEN 20 AND 39",
    ] {
        let (n, protected) = count("analyst", &json!({"area": area, "filter": allowed}));
        assert!(protected && n != 1 && n != 2, "{allowed}: {n}");
    }
    // The planner reads names: its count of a list it may read is exact.
    let by_name = json!({"area": area, "filter": "name LIKE '山%'", "count_only": true});
    let (n, protected) = count("planner", &by_name);
    assert!(!protected);
    let mut as_list = by_name.clone();
    as_list["count_only"] = json!(false);
    assert_eq!(list("planner", &as_list).len() as u64, n);

    // The analyst's count is logged with every person counted.
    let body = json!({"area": area, "filter": "age >= 80"});
    count("analyst", &body);
    let counted: BTreeSet<i64> = ids(&list("admin", &body));
    assert!(!counted.is_empty());
    let logged = logged_with("analyst", COUNTED, &hashed("residents", &counted));
    assert!(!logged.is_empty(), "the analyst's count is in the log");
    assert!(logged[0]["request"]
        .as_str()
        .unwrap()
        .contains("cell-key perturbed"));
}

#[test]
fn health_lists_its_granted_outreach_list_by_name_without_codes() {
    // The whole ward (every 町丁目) as the area.
    let towns = towns();
    let body = json!({"source": "care_outreach_flood", "area": {"collection": "bunkyo_towns"}});
    let listed = list("health", &body);
    let granted = all_features("care_outreach_flood", Some("health"), "");
    let in_ward = |f: &&Value| {
        let (x, y) = point(f);
        towns.iter().any(|t| in_geometry(&t["geometry"], x, y))
    };
    let expected: BTreeSet<i64> = granted
        .iter()
        .filter(in_ward)
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids(&listed), expected);
    assert!(listed.len() > 50, "{}", listed.len());
    for f in &listed {
        let p = f["properties"].as_object().unwrap();
        assert!(p["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(p["age_band"].as_str().is_some(), "{p:?}");
        for hidden in ["resident_id", "household_id", "birth_date"] {
            assert!(!p.contains_key(hidden), "{hidden} shown to health: {p:?}");
        }
    }
    // The ids are pseudonyms: none is a 住民票コード. The log holds the
    // real people, as admin reads them.
    let real: BTreeSet<i64> = all_features("care_outreach_flood", Some("admin"), "")
        .iter()
        .filter(in_ward)
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(real.len(), expected.len());
    assert!(real.is_disjoint(&expected), "health sees pseudonyms");
    let logged = logged_with("health", LISTED, &hashed("residents", &real));
    assert!(!logged.is_empty(), "health's list is in the log");
    assert!(logged
        .iter()
        .all(|e| e["collection"] == "care_outreach_flood"));

    // The same list is 404 to the analyst, and health's residents are
    // counts only.
    let (status, _) = notify(Some("analyst"), &body);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, protected) = count("health", &json!({"area": {"collection": "bunkyo_towns"}}));
    assert!(protected);
}

#[test]
fn bad_requests_are_refused_naming_the_field_and_unreadable_ones_are_404() {
    let mesh = json!({"mesh": ["53394640"]});
    let refused = |role: &str, query: &str, body: &Value, status: StatusCode, starts: &str| {
        let r = notify_raw(Some(role), query, body);
        assert_eq!(r.status(), status, "{body}");
        let answer: Value = r.json().unwrap();
        let said = answer["description"].as_str().unwrap().to_string();
        assert!(said.starts_with(starts), "{body}: {said}");
        said
    };
    let bad = StatusCode::BAD_REQUEST;
    refused(
        "planner",
        "",
        &json!({"area": mesh, "colour": "red"}),
        bad,
        "colour:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"mesh": ["53394640"], "radius": 3}}),
        bad,
        "area.radius:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"mesh": ["53394640", "5339464x"]}}),
        bad,
        "area.mesh[1]:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"mesh": ["53394640", "53398011"]}}),
        bad,
        "area.mesh[1]:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"mesh": []}}),
        bad,
        "area.mesh:",
    );
    let bow_tie = json!({"type": "Polygon", "coordinates": [[[139.74, 35.70], [139.75, 35.71], [139.75, 35.70], [139.74, 35.71], [139.74, 35.70]]]});
    let said = refused(
        "planner",
        "",
        &json!({"area": {"polygon": bow_tie}}),
        bad,
        "area.polygon:",
    );
    assert!(said.contains("self-intersection"), "{said}");
    let open_ring = json!({"type": "Polygon", "coordinates": [[[139.74, 35.70], [139.75, 35.70], [139.75, 35.71], [139.74, 35.71]]]});
    refused(
        "planner",
        "",
        &json!({"area": {"polygon": open_ring}}),
        bad,
        "area.polygon:",
    );
    let a_point = json!({"type": "Point", "coordinates": [139.75, 35.70]});
    refused(
        "planner",
        "",
        &json!({"area": {"polygon": a_point}}),
        bad,
        "area.polygon:",
    );
    let a_line = json!({"type": "LineString", "coordinates": [[139.74, 35.70], [139.75, 35.71]]});
    refused(
        "planner",
        "",
        &json!({"area": {"polygon": a_line}}),
        bad,
        "area.polygon:",
    );
    refused(
        "planner",
        "",
        &json!({"area": mesh, "filter": "age >"}),
        bad,
        "filter:",
    );
    refused(
        "planner",
        "",
        &json!({"area": mesh, "filter": "no_such_field = 1"}),
        bad,
        "filter:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"collection": "bunkyo_towns", "filter": "S_NAME = '無い町'"}}),
        bad,
        "area.filter:",
    );
    refused(
        "planner",
        "",
        &json!({"area": {"collection": "shelters_evacuation"}}),
        bad,
        "area.collection:",
    );
    refused(
        "planner",
        "",
        &json!({"source": "bunkyo_towns", "area": mesh}),
        bad,
        "source:",
    );
    refused(
        "planner",
        "limit=5",
        &json!({"area": mesh}),
        bad,
        "unknown query parameter",
    );
    refused(
        "planner",
        "f=xml",
        &json!({"area": mesh}),
        bad,
        "unsupported format",
    );

    // Collections the caller may not read: as items answer, word for word.
    let items_404 = |role: &str, id: &str| -> Value {
        let r = client()
            .get(server().url(&format!("/collections/{id}/items")))
            .bearer_auth(server().token(role))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        r.json().unwrap()
    };
    for (role, body, hidden) in [
        (
            "analyst",
            json!({"area": {"collection": "vaccination_gaps_250m"}}),
            "vaccination_gaps_250m",
        ),
        (
            "analyst",
            json!({"area": {"collection": "no_such_layer"}}),
            "no_such_layer",
        ),
        ("public", json!({"area": mesh}), "residents"),
        (
            "health",
            json!({"source": "elderly_in_flood", "area": mesh}),
            "elderly_in_flood",
        ),
        (
            "analyst",
            json!({"source": "care_outreach_flood", "area": mesh}),
            "care_outreach_flood",
        ),
    ] {
        let (status, answer) = notify(Some(role), &body);
        assert_eq!(status, StatusCode::NOT_FOUND, "{role} {body}");
        assert_eq!(answer, items_404(role, hidden), "{role} {body}");
    }
    // Without a token: 401, whatever the source.
    for source in ["residents", "no_such_layer"] {
        let (status, _) = notify(None, &json!({"source": source, "area": mesh}));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // A huge body: 413 before it is parsed; the service goes on.
    let huge = json!({"area": {"mesh": vec!["53394640"; 10_000]}});
    let r = notify_raw(Some("planner"), "", &huge);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = client()
        .post(server().url("/notifications"))
        .bearer_auth(server().token("planner"))
        .header("content-type", "application/json")
        .body("{\"area\": ")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!list("planner", &json!({"area": mesh})).is_empty());
}
