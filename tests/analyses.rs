//! The demo's six questions, each one request to a saved analysis, against
//! answers this test computes itself by brute force over every feature it
//! fetches from the same server (resident points, flood zones, shelters,
//! town polygons, bridges) and the vaccination file. Exact answers are read
//! with the admin token: other roles get filtered records and perturbed
//! aggregates (tests/security.rs).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use common::server;
use geo::{Contains, Geometry, Point};
use serde_json::Value;

use common::all_features;

fn geometry(f: &Value) -> Geometry<f64> {
    let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
    Geometry::try_from(g).unwrap()
}

fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

fn age(birth: &str, on: NaiveDate) -> i32 {
    let b: NaiveDate = birth.parse().unwrap();
    on.year() - b.year() - ((on.month(), on.day()) < (b.month(), b.day())) as i32
}

struct Resident {
    id: i64,
    p: Point<f64>,
    age: i32,
    support: bool,
}

fn residents() -> &'static Vec<Resident> {
    static R: std::sync::OnceLock<Vec<Resident>> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        let day = today();
        all_features(
            "residents",
            Some("admin"),
            "&properties=birth_date,needs_support",
        )
        .iter()
        .map(|f| {
            let c = f["geometry"]["coordinates"].as_array().unwrap();
            Resident {
                id: f["id"].as_i64().unwrap(),
                p: Point::new(c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
                age: age(f["properties"]["birth_date"].as_str().unwrap(), day),
                support: f["properties"]["needs_support"].as_bool().unwrap(),
            }
        })
        .collect()
    })
}

/// Flood zones as (depth rank, polygon, bbox).
fn flood_zones() -> Vec<(i64, Geometry<f64>, geo::Rect<f64>)> {
    use geo::BoundingRect;
    all_features("flood_depth", None, "")
        .iter()
        .map(|f| {
            let g = geometry(f);
            let bb = g.bounding_rect().unwrap();
            (f["properties"]["depth_rank"].as_i64().unwrap(), g, bb)
        })
        .collect()
}

fn deepest(
    zones: &[(i64, Geometry<f64>, geo::Rect<f64>)],
    p: &Point<f64>,
    min: i64,
) -> Option<i64> {
    zones
        .iter()
        .filter(|(rank, _, bb)| *rank >= min && bb.intersects_point(p))
        .filter(|(_, g, _)| g.contains(p))
        .map(|(r, _, _)| *r)
        .max()
}

trait PointInRect {
    fn intersects_point(&self, p: &Point<f64>) -> bool;
}

impl PointInRect for geo::Rect<f64> {
    fn intersects_point(&self, p: &Point<f64>) -> bool {
        self.min().x <= p.x()
            && p.x() <= self.max().x
            && self.min().y <= p.y()
            && p.y() <= self.max().y
    }
}

/// The 町丁目 polygons by name.
fn towns() -> Vec<(String, Geometry<f64>)> {
    all_features("bunkyo_towns", None, "")
        .iter()
        .map(|f| {
            (
                f["properties"]["S_NAME"].as_str().unwrap().to_string(),
                geometry(f),
            )
        })
        .collect()
}

/// Metres between two lon/lat points (spherical, R = 6,371,008.8 m).
fn haversine(a: &Point<f64>, b: &Point<f64>) -> f64 {
    let (la1, la2) = (a.y().to_radians(), b.y().to_radians());
    let (dla, dlo) = (la2 - la1, (b.x() - a.x()).to_radians());
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

#[test]
fn q1_elderly_and_support_in_zones_half_a_metre_deep_deepest_first() {
    let zones = flood_zones();
    let mut expected: HashMap<i64, i64> = HashMap::new();
    for r in residents() {
        if r.age >= 65 || r.support {
            if let Some(rank) = deepest(&zones, &r.p, 2) {
                expected.insert(r.id, rank);
            }
        }
    }
    let answer = all_features("elderly_in_flood", Some("admin"), "");
    let got: HashMap<i64, i64> = answer
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                f["properties"]["depth_rank"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(expected.len() > 500, "{} expected", expected.len());
    assert_eq!(got, expected);
    let ranks: Vec<i64> = answer
        .iter()
        .map(|f| f["properties"]["depth_rank"].as_i64().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "deepest first");
    // Personal data: planners only.
    let r = common::client()
        .get(server().url("/collections/elderly_in_flood/items"))
        .bearer_auth(server().token("health"))
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "as missing as a collection that does not exist"
    );
    assert_eq!(
        answer[0]["properties"]["as_of"],
        today().to_string(),
        "the reference date"
    );
}

#[test]
fn q2_meshes_with_an_aging_rate_of_forty_percent() {
    use chiiki_core::mesh::{code, MeshLevel};
    let mut cells: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    for r in residents() {
        let c = cells
            .entry(code(r.p.x(), r.p.y(), MeshLevel::M250m).unwrap())
            .or_default();
        c.0 += 1;
        c.1 += (r.age >= 65) as i64;
    }
    let expected: BTreeMap<String, (i64, i64)> = cells
        .iter()
        .filter(|(_, (n, old))| *old as f64 / *n as f64 >= 0.4)
        .map(|(c, v)| (c.to_string(), *v))
        .collect();
    let answer = all_features("aging_mesh_250m", Some("admin"), "");
    let got: BTreeMap<String, (i64, i64)> = answer
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                p["mesh_code"].as_str().unwrap().to_string(),
                (
                    p["population"].as_i64().unwrap(),
                    p["aged_65"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // The polygon is the cell: every counted resident lies in it.
    for f in &answer {
        let g = geometry(f);
        let inside = residents().iter().filter(|r| g.contains(&r.p)).count() as i64;
        assert_eq!(inside, f["properties"]["population"].as_i64().unwrap());
    }
}

#[test]
fn q3_meshes_with_low_shingles_uptake_among_the_65_plus() {
    use chiiki_core::mesh::{code, MeshLevel};
    let file = server().data.join("synthetic/vaccinations.csv");
    let mut reader = csv::Reader::from_path(file).unwrap();
    let vaccinated: HashSet<i64> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    let mut cells: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    for r in residents().iter().filter(|r| r.age >= 65) {
        let c = cells
            .entry(code(r.p.x(), r.p.y(), MeshLevel::M250m).unwrap())
            .or_default();
        c.0 += 1;
        c.1 += vaccinated.contains(&r.id) as i64;
    }
    let expected: BTreeMap<String, (i64, i64)> = cells
        .iter()
        .filter(|(_, (n, v))| (*v as f64 / *n as f64) < 0.3)
        .map(|(c, v)| (c.to_string(), *v))
        .collect();
    let answer = all_features("vaccination_gaps_250m", Some("admin"), "");
    let got: BTreeMap<String, (i64, i64)> = answer
        .iter()
        .map(|f| {
            let p = &f["properties"];
            assert_eq!(
                p["unvaccinated"].as_i64().unwrap(),
                p["eligible"].as_i64().unwrap() - p["vaccinated"].as_i64().unwrap()
            );
            (
                p["mesh_code"].as_str().unwrap().to_string(),
                (
                    p["eligible"].as_i64().unwrap(),
                    p["vaccinated"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(got, expected);
}

/// Checks that `got` holds exactly the residents aged `min_age`+ with no
/// shelter within `metres` on the sphere, leaving out those within `band`
/// of it (the service measures on a local plane of the GRS80 ellipsoid,
/// a few decimetres off the sphere). Returns (checked, beyond).
fn check_beyond(
    got: &HashSet<i64>,
    shelters: &[Point<f64>],
    min_age: i32,
    metres: f64,
    band: f64,
) -> (usize, usize) {
    let (mut checked, mut beyond) = (0, 0);
    for r in residents().iter().filter(|r| r.age >= min_age) {
        let d = shelters
            .iter()
            .map(|s| haversine(&r.p, s))
            .fold(f64::INFINITY, f64::min);
        if (d - metres).abs() < band {
            continue;
        }
        checked += 1;
        beyond += (d > metres) as usize;
        assert_eq!(
            got.contains(&r.id),
            d > metres,
            "resident {} at {d:.1} m",
            r.id
        );
    }
    (checked, beyond)
}

#[test]
fn q4_the_65_plus_beyond_300_m_of_every_shelter() {
    let shelters: Vec<Point<f64>> = all_features("shelters_evacuation", None, "")
        .iter()
        .map(|f| match geometry(f) {
            Geometry::Point(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    let got: HashSet<i64> = all_features("elderly_beyond_shelters_300m", Some("admin"), "")
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    let (checked, beyond) = check_beyond(&got, &shelters, 65, 300.0, 2.0);
    assert!(
        checked > 40_000 && beyond > 1_000,
        "{checked} checked, {beyond} beyond"
    );
    // Coverage per 町丁目: the same residents, counted in their town.
    let towns = towns();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for r in residents().iter().filter(|r| got.contains(&r.id)) {
        if let Some((town, _)) = towns.iter().find(|(_, g)| g.contains(&r.p)) {
            *expected.entry(town.clone()).or_default() += 1;
        }
    }
    let coverage: BTreeMap<String, i64> =
        all_features("shelter_coverage_by_town", Some("admin"), "")
            .iter()
            .map(|f| {
                let p = &f["properties"];
                (
                    p["S_NAME"].as_str().unwrap().to_string(),
                    p["aged_65_beyond"].as_i64().unwrap(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
    assert_eq!(coverage, expected);
}

#[test]
fn q5_residents_and_support_per_depth_rank_per_town() {
    let zones = flood_zones();
    let towns = towns();
    let mut expected: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for r in residents() {
        let Some(rank) = deepest(&zones, &r.p, 1) else {
            continue;
        };
        let Some((town, _)) = towns.iter().find(|(_, g)| g.contains(&r.p)) else {
            continue;
        };
        let e = expected.entry((town.clone(), rank)).or_default();
        e.0 += 1;
        e.1 += r.support as i64;
    }
    let answer = all_features("flood_exposure_by_town", Some("admin"), "");
    let mut got: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for f in &answer {
        let p = &f["properties"];
        for rank in 1..=5 {
            let (n, s) = (
                p[format!("rank{rank}")].as_i64().unwrap(),
                p[format!("support_rank{rank}")].as_i64().unwrap(),
            );
            if n > 0 {
                got.insert((p["S_NAME"].as_str().unwrap().to_string(), rank), (n, s));
            }
        }
    }
    assert!(expected.len() >= 15, "{} town × rank cells", expected.len());
    assert_eq!(got, expected);
}

#[test]
fn q6_weak_bridges_by_flood_zones_and_old_mains_near_support_homes() {
    use geo::{BoundingRect, Distance, Euclidean, MapCoords};

    let zones = flood_zones();
    // Distance in metres on a plane around the bridge.
    let metres = |p: &Point<f64>, g: &Geometry<f64>| {
        let (kx, ky) = (111_320.0 * p.y().to_radians().cos(), 110_950.0);
        let local = g.map_coords(|c| geo::coord! {x: (c.x - p.x()) * kx, y: (c.y - p.y()) * ky});
        Euclidean.distance(&Point::new(0.0, 0.0), &local)
    };
    let bridges = all_features("bridges", Some("analyst"), "");
    let got: HashSet<String> = all_features("weak_bridges_in_flood", Some("analyst"), "")
        .iter()
        .map(|f| f["properties"]["bridge_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = HashSet::new();
    for b in &bridges {
        let grade = b["properties"]["health_grade"].as_str().unwrap();
        if grade != "III" && grade != "IV" {
            continue;
        }
        let Geometry::Point(p) = geometry(b) else {
            panic!()
        };
        let d = zones
            .iter()
            .map(|(_, g, _)| metres(&p, g))
            .fold(f64::INFINITY, f64::min);
        if d <= 30.0 {
            expected.insert(b["properties"]["bridge_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(got, expected);

    // Old CIP/ACP mains within 50 m of a 避難行動要支援者's home.
    let support: Vec<&Resident> = residents().iter().filter(|r| r.support).collect();
    let pipes = all_features("pipes", Some("analyst"), "");
    let got: HashSet<String> = all_features("risky_pipes_near_support", Some("planner"), "")
        .iter()
        .map(|f| f["properties"]["pipe_id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = HashSet::new();
    for p in &pipes {
        let props = &p["properties"];
        let material = props["material"].as_str().unwrap();
        if !(material == "CIP" || material == "ACP")
            || props["install_year"].as_i64().unwrap() > 1975
        {
            continue;
        }
        let g = geometry(p);
        let bb = g.bounding_rect().unwrap();
        let near = support.iter().any(|r| {
            (r.p.x() - bb.center().x).abs() < 0.01
                && (r.p.y() - bb.center().y).abs() < 0.01
                && metres(&r.p, &g) <= 50.0
        });
        if near {
            expected.insert(props["pipe_id"].as_str().unwrap().to_string());
        }
    }
    assert!(expected.len() > 20, "{}", expected.len());
    let differing: Vec<_> = got.symmetric_difference(&expected).collect();
    assert!(
        differing.len() <= 2,
        "{differing:?}: at the 50 m boundary only"
    );
}

#[test]
fn answers_come_as_csv_on_request() {
    let s = server();
    let json = all_features("flood_exposure_by_town", Some("admin"), "");
    let r = common::client()
        .get(s.url("/collections/flood_exposure_by_town/items?f=csv&limit=1000"))
        .bearer_auth(s.token("admin"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (id, town, rank2) = (col("id"), col("S_NAME"), col("rank2"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), json.len());
    let by_id: HashMap<i64, &Value> = json
        .iter()
        .map(|f| (f["id"].as_i64().unwrap(), f))
        .collect();
    for r in &rows {
        let f = by_id[&r[id].parse::<i64>().unwrap()];
        assert_eq!(f["properties"]["S_NAME"], r[town]);
        assert_eq!(
            f["properties"]["rank2"].as_i64().unwrap().to_string(),
            r[rank2]
        );
    }
    // Personal data needs the same role as in GeoJSON.
    let r = common::client()
        .get(s.url("/collections/elderly_in_flood/items?f=csv"))
        .bearer_auth(s.token("analyst"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn planners_post_analyses_that_become_collections() {
    let s = server();
    let id = format!(
        "support_in_flood_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let body = serde_json::json!({
        "id": id, "title": "要支援者 in any flood zone", "roles": ["planner"],
        "kind": "join",
        "left": {"layer": "residents", "filter": "needs_support = TRUE"},
        "right": {"layer": "flood_depth"},
        "relation": {"type": "within"},
        "attach": ["depth_rank"], "prefer_max": "depth_rank"
    });
    let post = |role: &str, body: &Value| {
        common::client()
            .post(s.url("/analyses"))
            .bearer_auth(s.token(role))
            .body(body.to_string())
            .send()
            .unwrap()
    };
    assert_eq!(post("analyst", &body).status(), 403);
    let mut public = body.clone();
    public["public"] = true.into();
    assert_eq!(
        post("planner", &public).status(),
        403,
        "only admin publishes"
    );
    let mut broken = body.clone();
    broken["left"]["filter"] = "needs_support = ".into();
    let r = post("planner", &broken);
    assert_eq!(r.status(), 400);
    assert!(
        r.text().unwrap().contains("character"),
        "the position of the mistake"
    );

    let r = post("planner", &body);
    assert_eq!(r.status(), 201);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/collections/{id}")));
    assert_eq!(post("planner", &body).status(), 409);

    let zones = flood_zones();
    let expected = residents()
        .iter()
        .filter(|r| r.support && deepest(&zones, &r.p, 1).is_some())
        .count();
    let got = all_features(&id, Some("planner"), "");
    assert_eq!(got.len(), expected);
    // Kept for the next start (a file, or a document in PostGIS); this
    // run's file is removed again.
    if common::on_postgis() {
        let kept = common::postgis_sql(
            &s.data,
            &format!("SELECT count(*) FROM chiiki.documents WHERE name = 'analysis/{id}'"),
        );
        assert_eq!(kept.trim(), "1");
    } else {
        let saved = s.data.join("analyses").join(format!("{id}.json"));
        assert!(saved.is_file());
        std::fs::remove_file(saved).unwrap();
    }
}

#[test]
fn queryables_offer_the_age_of_residents() {
    let s = server();
    let r = common::client()
        .get(s.url("/collections/residents/queryables"))
        .bearer_auth(s.token("admin"))
        .send()
        .unwrap();
    let q: Value = r.json().unwrap();
    assert_eq!(q["properties"]["age"]["type"], "integer");
    assert_eq!(q["properties"]["birth_date"]["format"], "date");
    // And the filter takes it: the same residents as counted by birth date.
    let page = |filter: &str| -> i64 {
        let r = common::client()
            .get(s.url("/collections/residents/items"))
            .query(&[("filter", filter), ("limit", "1")])
            .bearer_auth(s.token("admin"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{filter}");
        r.json::<Value>().unwrap()["numberMatched"]
            .as_i64()
            .unwrap()
    };
    let expected = residents().iter().filter(|r| r.age >= 65).count() as i64;
    assert_eq!(page("age >= 65"), expected);
    assert_eq!(page("NOT age < 65"), expected);
}

/// A request's status and JSON body.
fn ask(path: &str, role: Option<&str>) -> (u16, Value) {
    let s = server();
    let mut req = common::client().get(s.url(path));
    if let Some(role) = role {
        req = req.bearer_auth(s.token(role));
    }
    let r = req.send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn questions_asked_with_other_parameters_match_brute_force() {
    // Q1 with depth rank ≥ 3 and ages 70+.
    let zones = flood_zones();
    let mut expected: HashMap<i64, i64> = HashMap::new();
    for r in residents() {
        if r.age >= 70 || r.support {
            if let Some(rank) = deepest(&zones, &r.p, 3) {
                expected.insert(r.id, rank);
            }
        }
    }
    let got: HashMap<i64, i64> = all_features(
        "elderly_in_flood",
        Some("admin"),
        "&param.depth_rank=3&param.age=70",
    )
    .iter()
    .map(|f| {
        (
            f["id"].as_i64().unwrap(),
            f["properties"]["depth_rank"].as_i64().unwrap(),
        )
    })
    .collect();
    assert!(expected.len() > 100, "{} expected", expected.len());
    assert_eq!(got, expected);
    let saved = all_features("elderly_in_flood", Some("admin"), "").len();
    assert!(
        got.len() < saved,
        "rank 3 and 70+ narrow the saved question"
    );
    // The command line asks the same question the same way.
    let data = server().data.to_str().unwrap().to_string();
    let csv = common::run_ok(&[
        "analyse",
        "elderly_in_flood",
        "--param",
        "depth_rank=3",
        "--param",
        "age=70",
        "--data",
        &data,
        "--format",
        "csv",
    ]);
    assert_eq!(csv.trim_end().lines().count() - 1, got.len(), "CLI rows");
    let refused = common::run(&[
        "analyse",
        "elderly_in_flood",
        "--param",
        "depth_rank=9",
        "--data",
        &data,
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("param.depth_rank=9: expected 1 to 5")
    );

    // Q2 by 500 m cells, with an ageing rate of 20 % or more.
    use chiiki_core::mesh::{code, MeshLevel};
    let mut cells: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    for r in residents() {
        let c = cells
            .entry(code(r.p.x(), r.p.y(), MeshLevel::M500m).unwrap())
            .or_default();
        c.0 += 1;
        c.1 += (r.age >= 65) as i64;
    }
    let expected: BTreeMap<String, (i64, i64)> = cells
        .iter()
        .filter(|(_, (n, old))| *old as f64 / *n as f64 >= 0.2)
        .map(|(c, v)| (c.to_string(), *v))
        .collect();
    let got: BTreeMap<String, (i64, i64)> = all_features(
        "aging_mesh_250m",
        Some("admin"),
        "&param.mesh=500m&param.rate=0.2",
    )
    .iter()
    .map(|f| {
        let p = &f["properties"];
        (
            p["mesh_code"].as_str().unwrap().to_string(),
            (
                p["population"].as_i64().unwrap(),
                p["aged_65"].as_i64().unwrap(),
            ),
        )
    })
    .collect();
    assert!(expected.len() > 5, "{} cells expected", expected.len());
    assert_eq!(got, expected);
    assert!(
        got.keys().all(|c| c.len() == 9),
        "500 m codes have 9 digits"
    );

    // Q4 at 500 m: residents 60+ with no shelter within 500 m.
    let shelters: Vec<Point<f64>> = all_features("shelters_evacuation", None, "")
        .iter()
        .map(|f| match geometry(f) {
            Geometry::Point(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    let got: HashSet<i64> = all_features(
        "elderly_beyond_shelters_300m",
        Some("admin"),
        "&param.distance=500&param.age=60",
    )
    .iter()
    .map(|f| f["id"].as_i64().unwrap())
    .collect();
    // Plane against sphere, as in q4: a few decimetres at 500 m.
    let (checked, beyond) = check_beyond(&got, &shelters, 60, 500.0, 3.0);
    assert!(
        checked > 40_000 && beyond > 50,
        "{checked} checked, {beyond} beyond"
    );
}

#[test]
fn parameters_cannot_widen_a_grant_inject_or_reveal_a_question() {
    // Health reads the outreach list within the bounds its author set (75+
    // by default, 65 at the lowest): not below them.
    let (status, body) = ask(
        "/collections/care_outreach_flood/items?param.age=60",
        Some("health"),
    );
    assert_eq!(status, 400);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("param.age=60: expected 65 to 95"));
    let (status, wider) = ask(
        "/collections/care_outreach_flood/items?param.age=65&limit=1",
        Some("health"),
    );
    assert_eq!(status, 200);
    let (_, saved) = ask(
        "/collections/care_outreach_flood/items?limit=1",
        Some("health"),
    );
    assert!(wider["numberMatched"].as_i64() > saved["numberMatched"].as_i64());
    // …and it still sees them as health does: no codes, no birth dates.
    let props = &wider["features"][0]["properties"];
    for hidden in ["resident_id", "birth_date", "household_id"] {
        assert!(props.get(hidden).is_none(), "health sees {hidden}");
    }
    // What a filter is made of stays a number or one of the choices.
    for bad in [
        "param.depth_rank=1%20OR%201%3D1",
        "param.depth_rank=2)%20OR%20(TRUE",
        "param.age=inf",
        "param.nothing=1",
    ] {
        let (status, _) = ask(
            &format!("/collections/care_outreach_flood/items?{bad}"),
            Some("health"),
        );
        assert_eq!(status, 400, "{bad}");
    }
    // A question the role may not read is as missing with parameters as
    // without: its parameters are not told.
    for role in [Some("analyst"), Some("health"), None] {
        let (status, body) = ask(
            "/collections/elderly_in_flood/items?param.depth_rank=1",
            role,
        );
        assert_eq!(status, 404, "{role:?}");
        assert!(!body.to_string().contains("depth_rank"));
    }
    // Layers take no parameters.
    let (status, _) = ask("/collections/residents/items?param.age=1", Some("planner"));
    assert_eq!(status, 400);
}

#[test]
fn analysts_and_health_cannot_difference_protected_aggregates_across_parameters() {
    // Cells of the ageing question at the lowest threshold, by 250 m and
    // by 500 m, as the analyst (protected) and the admin (exact) read them.
    let cells = |role: &str, mesh: &str| -> BTreeMap<String, i64> {
        all_features(
            "aging_mesh_250m",
            Some(role),
            &format!("&param.rate=0.2&param.mesh={mesh}"),
        )
        .iter()
        .filter_map(|f| {
            let p = &f["properties"];
            Some((
                p["mesh_code"].as_str()?.to_string(),
                p["population"].as_i64()?,
            ))
        })
        .collect()
    };
    let (exact, protected) = (cells("admin", "250m"), cells("analyst", "250m"));
    assert!(protected.len() > 10);
    assert!(
        protected.values().all(|&n| n == 0 || n >= 3),
        "a count of 1 or 2 was published"
    );
    let perturbed = protected
        .iter()
        .filter(|(c, n)| exact.get(*c) != Some(n))
        .count();
    assert!(
        perturbed * 4 > protected.len(),
        "only {perturbed} cells perturbed"
    );
    // Asked again with another threshold, a cell keeps its protected value:
    // repeating the question cannot average the noise away.
    let again: BTreeMap<String, i64> = all_features(
        "aging_mesh_250m",
        Some("analyst"),
        "&param.rate=0.25&param.mesh=250m",
    )
    .iter()
    .filter_map(|f| {
        let p = &f["properties"];
        Some((
            p["mesh_code"].as_str()?.to_string(),
            p["population"].as_i64()?,
        ))
    })
    .collect();
    assert!(!again.is_empty());
    for (cell, n) in &again {
        assert_eq!(protected.get(cell), Some(n), "{cell}");
    }
    // A 500 m cell less three of its 250 m cells does not give the fourth.
    // Health reads the uptake question perturbed; at its widest (uptake
    // below 80 %) nearly every cell is in the answer, so most 500 m cells
    // have all four quarters to difference.
    let eligible = |role: &str, mesh: &str| -> BTreeMap<String, i64> {
        all_features(
            "vaccination_gaps_250m",
            Some(role),
            &format!("&param.uptake=0.8&param.mesh={mesh}"),
        )
        .iter()
        .filter_map(|f| {
            let p = &f["properties"];
            Some((
                p["mesh_code"].as_str()?.to_string(),
                p["eligible"].as_i64()?,
            ))
        })
        .collect()
    };
    let (fine, exact_fine) = (eligible("health", "250m"), eligible("admin", "250m"));
    let coarse = eligible("health", "500m");
    let mut differenced = 0;
    let mut revealed = 0;
    for (code500, total) in &coarse {
        let quarters: Vec<String> = (1..=4).map(|q| format!("{code500}{q}")).collect();
        let parts: Vec<Option<&i64>> = quarters.iter().map(|c| fine.get(c)).collect();
        if parts.iter().all(Option::is_some) {
            for q in 0..4 {
                let others: i64 = (0..4).filter(|&o| o != q).map(|o| *parts[o].unwrap()).sum();
                differenced += 1;
                revealed += (total - others == exact_fine[&quarters[q]]) as usize;
            }
        }
    }
    assert!(differenced >= 40, "{differenced} differences tried");
    assert!(
        revealed * 2 < differenced,
        "{revealed} of {differenced} differences gave the exact count"
    );
}
