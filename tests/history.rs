//! `as_of` and `changes_since` on the demo: the residents layer and
//! analyses over people as they were on a past day, checked against a
//! fresh import of the registry cut at that day, and the changes between
//! two days checked against the 異動 files.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn get(path: &str) -> Value {
    let srv = common::server();
    let r = common::client()
        .get(srv.url(path))
        .bearer_auth(srv.token("admin"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().unwrap()
}

/// The 異動日 of a delta file, from its name (`idou_YYYYMMDD.csv`).
fn day_of(file: &Path) -> String {
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let d = stem.trim_start_matches("idou_");
    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])
}

/// A registry imported fresh and cut at `day`: the baseline, the 異動 files
/// up to `day`, its resident points on `day`, and the demo's flood zones.
fn fresh_cut(day: &str) -> (tempfile::TempDir, PathBuf, i64) {
    let demo = &common::server().data;
    let dir = tempfile::tempdir_in(common::scratch("cuts")).unwrap();
    let data = dir.path().to_path_buf();
    std::fs::create_dir_all(data.join("layers")).unwrap();
    std::fs::copy(
        demo.join("layers/flood_depth.parquet"),
        data.join("layers/flood_depth.parquet"),
    )
    .unwrap();
    common::import_demo_registry(&data);
    let files: Vec<PathBuf> = common::demo_deltas()
        .into_iter()
        .filter(|f| day_of(f).as_str() <= day)
        .collect();
    let mut args = vec!["registry", "apply"];
    args.extend(files.iter().map(|f| s(f)));
    args.extend(["--data", s(&data)]);
    common::run_ok(&args);
    let placed = common::registry_points(&data, Some(day));
    (dir, data, placed)
}

/// `chiiki analyse <id> --as-of day` on a data directory, as CSV rows.
fn analyse(data: &Path, id: &str, day: &str) -> Vec<HashMap<String, String>> {
    let out = common::run_ok(&[
        "analyse",
        id,
        "--data",
        s(data),
        "--as-of",
        day,
        "--format",
        "csv",
    ]);
    let mut reader = csv::Reader::from_reader(out.trim_start_matches('\u{feff}').as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn as_of_answers_equal_a_fresh_import_cut_at_that_day() {
    for day in ["2026-10-05", "2026-10-16", "2026-10-30"] {
        let (_dir, data, placed) = fresh_cut(day);
        let served = get(&format!("/collections/residents/items?limit=1&as_of={day}"));
        assert_eq!(
            served["numberMatched"].as_i64().unwrap(),
            placed,
            "{day}: residents"
        );

        // A join listing people, and an aggregate counting them.
        let fresh = analyse(&data, "elderly_in_flood", day);
        let v = get(&format!(
            "/collections/elderly_in_flood/items?limit=10000&as_of={day}"
        ));
        let served: Vec<&Value> = v["features"].as_array().unwrap().iter().collect();
        assert_eq!(served.len(), fresh.len(), "{day}: elderly_in_flood");
        let mut a: Vec<String> = served
            .iter()
            .map(|f| f["properties"]["resident_id"].as_str().unwrap().to_string())
            .collect();
        let mut b: Vec<String> = fresh.iter().map(|r| r["resident_id"].clone()).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{day}: the same people");
        assert!(served.iter().all(|f| f["properties"]["as_of"] == day));

        let fresh = analyse(&data, "aging_mesh_250m", day);
        let v = get(&format!(
            "/collections/aging_mesh_250m/items?limit=10000&as_of={day}"
        ));
        let served: BTreeMap<String, (i64, i64)> = v["features"]
            .as_array()
            .unwrap()
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
        let fresh: BTreeMap<String, (i64, i64)> = fresh
            .iter()
            .map(|r| {
                (
                    r["mesh_code"].clone(),
                    (
                        r["population"].parse().unwrap(),
                        r["aged_65"].parse().unwrap(),
                    ),
                )
            })
            .collect();
        assert_eq!(served, fresh, "{day}: aging_mesh_250m");
        println!(
            "as_of {day}: {placed} residents, {} elderly in flood zones, {} aging meshes — equal to a fresh import cut at that day",
            a.len(),
            served.len()
        );
    }
    // Not for open layers, nor for days to come.
    let srv = common::server();
    for path in [
        "/collections/flood_depth/items?as_of=2026-10-05",
        "/collections/residents/items?as_of=2099-01-01",
        "/collections/residents/items?as_of=yesterday",
    ] {
        let r = common::client()
            .get(srv.url(path))
            .bearer_auth(srv.token("admin"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
    }
}

#[test]
fn changes_since_match_the_delta_files() {
    let (since, until) = ("2026-10-15", "2026-10-30");
    // What the 異動 files say happened after `since` up to `until`.
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    for f in common::demo_deltas() {
        let day = day_of(&f);
        if day.as_str() <= since || day.as_str() > until {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let (id, reason) = (col("住民票コード"), col("異動事由"));
        for r in reader.records() {
            let r = r.unwrap();
            events
                .entry(r[id].to_string())
                .or_default()
                .push(r[reason].to_string());
        }
    }
    let kind_of = |reason: &str| match reason {
        "転入" => Some("moved_in"),
        "出生" => Some("born"),
        "転出" => Some("moved_out"),
        "死亡" => Some("died"),
        "転居" => Some("moved_within"),
        _ => None,
    };
    // Served: every page of the changes.
    let srv = common::server();
    let r = common::client()
        .get(srv.url(&format!(
            "/collections/residents/items?f=csv&limit=10000&properties=resident_id,change&as_of={until}&changes_since={since}"
        )))
        .bearer_auth(srv.token("admin"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().unwrap();
    let mut reader = csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let header = reader.headers().unwrap().clone();
    let (id, change) = (
        header.iter().position(|h| h == "resident_id").unwrap(),
        header.iter().position(|h| h == "change").unwrap(),
    );
    let served: HashMap<String, String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_string(), r[change].to_string())
        })
        .collect();
    assert!(served.len() > 100, "{} changes", served.len());
    let (mut agree, mut single, mut unexplained) = (0, 0, Vec::new());
    for (who, kind) in &served {
        let Some(reasons) = events.get(who) else {
            unexplained.push(format!("{who}: {kind} with no 異動 in the files"));
            continue;
        };
        if reasons.len() == 1 {
            single += 1;
            if kind_of(&reasons[0]) == Some(kind.as_str()) {
                agree += 1;
            } else {
                unexplained.push(format!("{who}: {kind} but the file says {}", reasons[0]));
            }
        }
    }
    // People with one registering 異動 in the period and a position are listed.
    let listed = events
        .iter()
        .filter(|(_, r)| r.len() == 1 && kind_of(&r[0]).is_some())
        .filter(|(who, _)| served.contains_key(*who))
        .count();
    let expected = events
        .values()
        .filter(|r| r.len() == 1 && kind_of(&r[0]).is_some())
        .count();
    println!(
        "changes_since {since} as of {until}: {} residents changed; {agree} of {single} with one 異動 match its 異動事由; {listed} of {expected} such residents listed (the rest have no position)",
        served.len()
    );
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    assert!(
        listed as f64 >= expected as f64 * 0.95,
        "{listed} of {expected}"
    );
}
