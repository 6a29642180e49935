//! Outreach visit rounds on the demo city (`shingles_outreach_visits`):
//! who is listed is checked against a brute force over the stored
//! residents and the vaccination file; rounds against their size, their
//! households and cells; each round's walk against an exhaustive search
//! over every order of its homes, with distances from petgraph's Dijkstra
//! (the service's own pairwise search is a different, hand-written one).

mod common;

use chiiki_core::layers::column::{date_from_days, Value};
use chiiki_core::layers::{Geometries, Layer};
use chiiki_core::mesh::{code, MeshLevel};
use chiiki_network::{nearest_facilities, Network, TOLERANCE_M};
use chiiki_store::{GeoParquetStore, LayerStore};
use chrono::{Datelike, NaiveDate};
use common::{all_features, client, server};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const VISITS: &str = "shingles_outreach_visits";

fn layer(id: &str) -> Layer {
    GeoParquetStore::new(&server().data)
        .load_all()
        .unwrap()
        .into_iter()
        .find(|l| l.meta.id == id)
        .unwrap_or_else(|| panic!("no layer {id}"))
}

fn age(birth: NaiveDate, on: NaiveDate) -> i32 {
    on.year() - birth.year() - ((on.month(), on.day()) < (birth.month(), birth.day())) as i32
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn int(f: &Json, name: &str) -> i64 {
    f["properties"][name]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} in {f}"))
}

/// The unvaccinated 65+ of the cells where fewer than `uptake` of the 65+
/// are vaccinated, by brute force over the stored residents: id → (cell,
/// household).
fn expected(as_of: NaiveDate, uptake: f64) -> BTreeMap<String, (String, String)> {
    let residents = layer("residents");
    let vaccinated: HashSet<String> = {
        let mut r =
            csv::Reader::from_path(server().data.join("synthetic/vaccinations.csv")).unwrap();
        r.records().map(|x| x.unwrap()[0].to_string()).collect()
    };
    let Geometries::Points(points) = &residents.geometries else {
        panic!("residents are points")
    };
    let col = |name: &str| residents.column(name).unwrap().1;
    let (ids, households, births) = (col("resident_id"), col("household_id"), col("birth_date"));
    let mut cells: HashMap<u64, (u32, u32)> = HashMap::new();
    let mut elderly = Vec::new();
    for (row, p) in points.iter().enumerate() {
        let Value::Date(days) = births.get(row) else {
            continue;
        };
        if age(date_from_days(days), as_of) < 65 {
            continue;
        }
        let cell = code(p[0], p[1], MeshLevel::M250m).unwrap();
        let Value::Text(id) = ids.get(row) else {
            panic!("a resident id")
        };
        let shot = vaccinated.contains(&id);
        let c = cells.entry(cell).or_default();
        c.0 += 1;
        c.1 += shot as u32;
        if !shot {
            elderly.push((id, cell, text_of(&households.get(row))));
        }
    }
    elderly
        .into_iter()
        .filter(|(_, cell, _)| {
            let (n, shot) = cells[cell];
            (shot as f64 / n as f64) < uptake
        })
        .map(|(id, cell, household)| (id, (cell.to_string(), household)))
        .collect()
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    }
}

/// Per round: its homes (household → stop) in the served order.
fn rounds(list: &[Json]) -> BTreeMap<i64, Vec<(i64, String, [f64; 2])>> {
    let mut out: BTreeMap<i64, Vec<(i64, String, [f64; 2])>> = BTreeMap::new();
    for f in list {
        let stop = int(f, "stop");
        let household = text(&f["properties"]["household_id"]);
        let c = &f["geometry"]["coordinates"];
        let at = [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()];
        let homes = out.entry(int(f, "round")).or_default();
        if homes.last().is_none_or(|h| h.0 != stop) {
            homes.push((stop, household, at));
        }
    }
    out
}

#[test]
fn every_listed_household_is_unvaccinated_elderly_in_a_low_uptake_cell() {
    let list = all_features(VISITS, Some("admin"), "");
    let as_of: NaiveDate = list[0]["properties"]["as_of"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want = expected(as_of, 0.3);
    assert!(want.len() > 1000, "{} people to visit", want.len());
    // Everyone expected, once, with the cell they live in.
    let mut got: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in &list {
        let p = &f["properties"];
        let id = text(&p["resident_id"]);
        let value = (text(&p["mesh_code"]), text(&p["household_id"]));
        assert!(got.insert(id.clone(), value).is_none(), "{id} listed twice");
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);

    // Served in visiting order: rounds 1.., stops 1.. within each.
    let mut last = (0, 0);
    for f in &list {
        let at = (int(f, "round"), int(f, "stop"));
        assert!(
            at == last || at == (last.0, last.1 + 1) || at == (last.0 + 1, 1),
            "{last:?} then {at:?}"
        );
        last = at;
    }
    // Rounds respect the size, stay in one cell, keep households together.
    let mut round_of_household: HashMap<String, (i64, i64)> = HashMap::new();
    let mut cell_of_round: HashMap<i64, String> = HashMap::new();
    for f in &list {
        let p = &f["properties"];
        let (round, stop) = (int(f, "round"), int(f, "stop"));
        assert!(int(f, "round_homes") <= 8 && stop <= int(f, "round_homes"));
        let household = text(&p["household_id"]);
        let seen = round_of_household
            .entry(household.clone())
            .or_insert((round, stop));
        assert_eq!(*seen, (round, stop), "household {household} split");
        let cell = cell_of_round.entry(round).or_insert(text(&p["mesh_code"]));
        assert_eq!(*cell, text(&p["mesh_code"]), "round {round} crosses cells");
    }
    let rounds = rounds(&list);
    for (r, homes) in &rounds {
        assert!(homes.len() <= 8, "round {r}: {} homes", homes.len());
        let households: BTreeSet<&String> = homes.iter().map(|h| &h.1).collect();
        assert_eq!(households.len(), homes.len(), "round {r}");
    }
    // The fewest rounds each cell's homes allow.
    let mut homes_per_cell: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, (cell, household)) in &want {
        let _ = id;
        homes_per_cell
            .entry(cell.clone())
            .or_default()
            .insert(household.clone());
    }
    let fewest: usize = homes_per_cell.values().map(|h| h.len().div_ceil(8)).sum();
    // Homes on a stray piece of the road network make rounds of their own.
    assert!(
        rounds.len() >= fewest && rounds.len() <= fewest + fewest / 20,
        "{} rounds for {fewest} at the fewest",
        rounds.len()
    );
}

/// All orders of `items`, each passed to `f`.
fn permutations(items: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permutations(items, k + 1, f);
        items.swap(k, i);
    }
}

#[test]
fn each_round_walks_within_a_quarter_of_the_best_order() {
    let list = all_features(VISITS, Some("admin"), "");
    let net = Network::from_layer(&layer("roads"), TOLERANCE_M);
    let (mut worst, mut total_ratio, mut checked, mut best_found) = (1.0f64, 0.0, 0, 0);
    let served_walk: HashMap<i64, f64> = list
        .iter()
        .map(|f| {
            (
                int(f, "round"),
                f["properties"]["round_walk_m"].as_f64().unwrap(),
            )
        })
        .collect();
    let legs: HashMap<(i64, i64), Option<f64>> = list
        .iter()
        .map(|f| {
            (
                (int(f, "round"), int(f, "stop")),
                f["properties"]["walk_from_previous_m"].as_f64(),
            )
        })
        .collect();
    for (r, homes) in rounds(&list) {
        let n = homes.len();
        // Walking distances between the round's homes, petgraph's way: each
        // home as the one facility of a nearest-facility pass.
        let points: Vec<[f64; 2]> = homes.iter().map(|h| h.2).collect();
        let mut d = vec![0.0; n * n];
        for i in 0..n {
            let from = nearest_facilities(&net, &[points[i]], &points);
            for j in 0..n {
                d[i * n + j] = if points[i] == points[j] {
                    0.0
                } else {
                    from[j].map_or(f64::INFINITY, |a| a.metres)
                };
            }
        }
        let walk = |order: &[usize]| -> f64 { order.windows(2).map(|w| d[w[0] * n + w[1]]).sum() };
        let served: Vec<usize> = (0..n).collect();
        let got = walk(&served);
        assert!(got.is_finite(), "round {r} has a home it cannot reach");
        // The served legs and total are this walk, to the rounding (0.1 m).
        assert!(
            (got - served_walk[&r]).abs() < 0.05 * n as f64 + 1e-6,
            "round {r}: {got} vs {}",
            served_walk[&r]
        );
        for s in 1..n {
            let leg = legs[&(r, s as i64 + 1)].unwrap();
            assert!(
                (leg - d[(s - 1) * n + s]).abs() < 0.051,
                "round {r} stop {}",
                s + 1
            );
        }
        assert_eq!(legs[&(r, 1)], None);
        let mut best = f64::INFINITY;
        let mut items: Vec<usize> = (0..n).collect();
        permutations(&mut items, 0, &mut |p| best = best.min(walk(p)));
        let ratio = if best > 0.0 { got / best } else { 1.0 };
        assert!(
            ratio <= 1.25,
            "round {r}: {got:.1} m against the best {best:.1} m"
        );
        worst = worst.max(ratio);
        total_ratio += ratio;
        checked += 1;
        best_found += usize::from(got <= best + 1e-6);
    }
    println!(
        "{checked} rounds: {best_found} walk the best order; mean {:.4}, worst {worst:.4} of the best",
        total_ratio / checked as f64
    );
    assert!(checked > 100);
}

#[test]
fn the_rounds_are_health_staffs_alone_and_their_reads_are_audited() {
    let s = server();
    for role in ["planner", "analyst", "public"] {
        let r = client()
            .get(s.url(&format!("/collections/{VISITS}/items?limit=1")))
            .bearer_auth(s.token(role))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{role}");
    }
    // The list behind it is no one's but admin's.
    for role in ["health", "planner"] {
        let r = client()
            .get(s.url("/collections/shingles_unvaccinated_in_gaps/items?limit=1"))
            .bearer_auth(s.token(role))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{role}");
    }
    let admin = all_features(VISITS, Some("admin"), "");
    let health = all_features(VISITS, Some("health"), "");
    assert_eq!(health.len(), admin.len());
    // The same people in the same order, as health staff see them: names and
    // addresses, an age band, pseudonymous ids; no codes or birth dates.
    for (h, a) in health.iter().zip(&admin) {
        let (hp, ap) = (&h["properties"], &a["properties"]);
        for field in [
            "name",
            "address",
            "round",
            "stop",
            "walk_from_previous_m",
            "mesh_code",
        ] {
            assert_eq!(hp[field], ap[field], "{field}");
        }
        assert_ne!(h["id"], a["id"]);
        for hidden in ["resident_id", "household_id", "birth_date"] {
            assert!(
                hp.get(hidden).is_none_or(|v| v != &ap[hidden]),
                "{hidden} shown: {hp}"
            );
        }
        assert!(hp["age_band"].as_str().is_some(), "{hp}");
    }
    // CSV for the visit sheets: every person, in order.
    let csv = client()
        .get(s.url(&format!(
            "/collections/{VISITS}/items?f=csv&limit=10000&purpose=print"
        )))
        .bearer_auth(s.token("health"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), health.len());
    for (row, f) in rows.iter().zip(&health) {
        assert_eq!(row[at("name")], *f["properties"]["name"].as_str().unwrap());
        assert_eq!(row[at("round")], f["properties"]["round"].to_string());
    }
    // Who saw a listed resident: health, reading the rounds to print them.
    let someone = text(&admin[0]["properties"]["resident_id"]);
    let log = s.data.join("audit/audit.jsonl");
    let out = common::run_ok(&[
        "audit",
        "who-saw",
        &someone,
        "--file",
        log.to_str().unwrap(),
    ]);
    assert!(out.contains("health") && out.contains(VISITS), "{out}");
    let audit = std::fs::read_to_string(&log).unwrap();
    assert!(audit
        .lines()
        .any(|l| l.contains("purpose=print") && l.contains(VISITS) && l.contains("\"health\"")));
}

#[test]
fn smaller_rounds_on_asking_and_no_wider_list() {
    let default = all_features(VISITS, Some("health"), "");
    let four = all_features(VISITS, Some("health"), "&param.homes=4");
    // The same people (by name and address), in rounds of at most four homes.
    let people = |l: &[Json]| -> BTreeSet<(String, String)> {
        l.iter()
            .map(|f| {
                (
                    text(&f["properties"]["name"]),
                    text(&f["properties"]["address"]),
                )
            })
            .collect()
    };
    assert_eq!(people(&four), people(&default));
    assert!(four.iter().all(|f| int(f, "round_homes") <= 4));
    let rounds_of = |l: &[Json]| l.iter().map(|f| int(f, "round")).max().unwrap();
    assert!(rounds_of(&four) > rounds_of(&default) * 3 / 2);
    // Beyond the author's bounds: refused, naming the parameter.
    for bad in [
        "&param.homes=40",
        "&param.homes=0",
        "&param.homes=3.5",
        "&param.uptake=0.9",
    ] {
        let r = client()
            .get(server().url(&format!("/collections/{VISITS}/items?limit=1{bad}")))
            .bearer_auth(server().token("health"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[test]
fn a_planner_saves_rounds_of_only_what_it_reads_and_cannot_grant_them() {
    let s = server();
    let post = |body: &Json| {
        client()
            .post(s.url("/analyses"))
            .bearer_auth(s.token("planner"))
            .body(body.to_string())
            .send()
            .unwrap()
    };
    // A new id every run: saved analyses outlive the test's server.
    let id = format!(
        "planner_elderly_rounds_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let body = serde_json::json!({
        "id": id, "title": "65+ in rounds of six",
        "roles": ["health"], "kind": "visits",
        "source": {"layer": "residents", "filter": "age >= 65"},
        "household": "household_id", "network": "roads", "max_homes": 6
    });
    // A list of people goes only to the saver's own role.
    assert_eq!(post(&body).status(), 403);
    // Nor can it read an id table outside the data directory.
    let mut outside = body.clone();
    outside["roles"] = serde_json::json!(["planner"]);
    outside["source"]["not_in"] =
        serde_json::json!({"file": "/etc/passwd", "column": "root", "key": "resident_id"});
    assert_eq!(post(&outside).status(), 400);
    let mut own = body.clone();
    own["roles"] = serde_json::json!(["planner"]);
    let r = post(&own);
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    // The rounds hold only the residents the planner reads (要支援者, or
    // in a flood zone): the analysis reads through its author's view.
    let rounds = all_features(&id, Some("planner"), "");
    let readable = all_features(
        "residents",
        Some("planner"),
        &format!(
            "&filter={}",
            form_urlencoded::byte_serialize(b"age >= 65").collect::<String>()
        ),
    );
    let ids = |l: &[Json]| -> BTreeSet<String> { l.iter().map(|f| text(&f["id"])).collect() };
    assert!(!rounds.is_empty());
    assert_eq!(ids(&rounds), ids(&readable));
    assert!(rounds.iter().all(|f| int(f, "round_homes") <= 6));
    // And it stays the planner's: health and the analyst do not see it.
    for role in ["health", "analyst"] {
        let r = client()
            .get(s.url(&format!("/collections/{id}/items?limit=1")))
            .bearer_auth(s.token(role))
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{role}");
    }
}
