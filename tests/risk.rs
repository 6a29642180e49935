//! Risk scores (issue 7): the pipe model beats "oldest first" on a held-out
//! year, learns nothing from shuffled labels, is deterministic, and its
//! scores — with the bridge index, road crack aggregates and vendor scores —
//! are fields of the served collections that CQL2 filters on.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chiiki_core::layers::Value;
use chiiki_risk::evaluate::{self, Evaluation};
use chiiki_risk::pipes::PipeData;
use chiiki_store::geoparquet as store;

fn data() -> &'static Path {
    &common::server().data
}

fn pipe_data(dir: &Path) -> PipeData {
    let layer = store::load(&store::layer_path(dir, "pipes")).unwrap();
    PipeData::load(&layer, &dir.join("synthetic/pipe_breaks.csv")).unwrap()
}

fn eval(seed: u64, shuffle: bool) -> Evaluation {
    evaluate::evaluate(&pipe_data(data()), 2025, seed, shuffle).unwrap()
}

/// A copy of the demo's layers and synthetic inputs, for tests that rewrite them.
fn copy_of_demo(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    for sub in ["layers", "synthetic"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let _ = std::fs::remove_dir_all(dir.join("models"));
    for f in ["pipes", "bridges", "roads", "residents"] {
        let from = store::layer_path(data(), f);
        std::fs::copy(&from, store::layer_path(&dir, f)).unwrap();
    }
    for f in ["pipe_breaks.csv", "crack_detections.csv"] {
        std::fs::copy(
            data().join("synthetic").join(f),
            dir.join("synthetic").join(f),
        )
        .unwrap();
    }
    dir
}

fn column(dir: &Path, layer: &str, name: &str) -> HashMap<String, Value> {
    let l = store::load(&store::layer_path(dir, layer)).unwrap();
    let id = format!("{}_id", layer.trim_end_matches('s'));
    let (_, ids) = l.column(&id).unwrap();
    let (_, c) = l
        .column(name)
        .unwrap_or_else(|| panic!("{layer} has no column {name}"));
    (0..l.len())
        .map(|r| match ids.get(r) {
            Value::Text(s) => (s, c.get(r)),
            other => panic!("id {other:?}"),
        })
        .collect()
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Real(x) => *x,
        Value::Integer(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn model_beats_oldest_first_on_the_held_out_year() {
    let e = eval(chiiki_risk::pipeline::DEFAULT_SEED, false);
    println!("{e:#?}");
    assert_eq!(e.test_year, 2025);
    assert_eq!(
        e.train_years[1], 2024,
        "trained on years before the test year only"
    );
    assert!(e.breaks > 50, "the demo has breaks in 2025");
    assert!(
        e.model_auc > e.oldest_first_auc + 0.05,
        "AUC {} vs oldest first {}",
        e.model_auc,
        e.oldest_first_auc
    );
    assert!(
        e.model_top10 > e.oldest_first_top10 + 0.05,
        "top-10 % capture {} vs oldest first {}",
        e.model_top10,
        e.oldest_first_top10
    );
    assert!(e.oldest_first_auc > 0.5, "age alone carries signal");
}

/// Leakage guard: with the training labels shuffled, the model must do no
/// better than chance. One shuffle's AUC swings widely (a random sign on a
/// strong feature), so the check is on the mean over seeds.
#[test]
fn shuffled_labels_do_no_better_than_chance() {
    let real_run = eval(chiiki_risk::pipeline::DEFAULT_SEED, false);
    let seeds = 1..=8u64;
    let runs: Vec<Evaluation> = seeds.map(|s| eval(s, true)).collect();
    let n = runs.len() as f64;
    let auc = runs.iter().map(|e| e.model_auc).sum::<f64>() / n;
    let top = runs.iter().map(|e| e.model_top10).sum::<f64>() / n;
    println!(
        "shuffled: mean AUC {auc:.3}, mean top-10 % {top:.3}; each {:?}",
        runs.iter()
            .map(|e| (e.model_auc * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    assert!((auc - 0.5).abs() <= 0.08, "mean shuffled AUC {auc}");
    assert!(
        top <= 0.10 + 0.08,
        "mean shuffled capture {top} vs random 0.10"
    );
    for e in &runs {
        assert!(e.model_auc < real_run.model_auc - 0.1);
        assert!(e.model_top10 < real_run.model_top10 - 0.1);
    }
}

#[test]
fn same_seed_same_model_and_scores() {
    let a = copy_of_demo("det-a");
    let b = copy_of_demo("det-b");
    for dir in [&a, &b] {
        let d = dir.to_str().unwrap();
        common::run_ok(&["risk", "train", "--data", d, "--seed", "11"]);
        common::run_ok(&["risk", "score", "--data", d]);
    }
    let model = |dir: &Path| {
        let mut m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("models/pipes-v1.json")).unwrap(),
        )
        .unwrap();
        m["created_at"] = serde_json::Value::Null;
        m
    };
    assert_eq!(model(&a), model(&b));
    assert_eq!(model(&a)["seed"], 11);
    for (layer, col) in [
        ("pipes", "risk_score"),
        ("pipes", "risk_rank"),
        ("pipes", "risk_factors"),
        ("bridges", "risk_score"),
        ("roads", "risk_score"),
    ] {
        assert_eq!(
            column(&a, layer, col),
            column(&b, layer, col),
            "{layer}.{col}"
        );
    }
    // Training again on the same data keeps the version.
    let out = common::run_ok(&[
        "risk",
        "train",
        "--data",
        a.to_str().unwrap(),
        "--seed",
        "11",
    ]);
    assert!(out.contains("same as the latest"), "{out}");
    assert!(!a.join("models/pipes-v2.json").exists());
}

/// The served scores rank pipes the way the generator's true rates do
/// (the truth file is never a feature; it is only checked here).
#[test]
fn pipe_scores_follow_the_true_rates() {
    let scores = column(data(), "pipes", "risk_score");
    let mut truth = HashMap::new();
    let mut r = csv::Reader::from_path(data().join("synthetic/pipes_truth.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        truth.insert(rec[0].to_string(), rec[2].parse::<f64>().unwrap());
    }
    let ids: Vec<&String> = scores.keys().collect();
    let rank = |v: Vec<f64>| {
        let mut o: Vec<usize> = (0..v.len()).collect();
        o.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        for (i, &k) in o.iter().enumerate() {
            r[k] = i as f64;
        }
        r
    };
    let a = rank(ids.iter().map(|i| real(&scores[*i])).collect());
    let b = rank(ids.iter().map(|i| truth[*i]).collect());
    let n = a.len() as f64;
    let m = (n - 1.0) / 2.0;
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - m) * (y - m)).sum();
    let var: f64 = a.iter().map(|x| (x - m) * (x - m)).sum();
    let spearman = cov / var;
    println!("Spearman(score, true 2026 rate) = {spearman:.3}");
    assert!(spearman > 0.5, "{spearman}");
}

#[test]
fn scores_are_fields_cql2_filters_on() {
    let s = common::server();
    let get = |path: &str| -> serde_json::Value {
        let r = common::client()
            .get(s.url(path))
            .bearer_auth(s.token("analyst"))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().unwrap()
    };
    let top = get("/collections/pipes/items?filter=risk_rank%20%3C%3D%2010&limit=100");
    let features = top["features"].as_array().unwrap();
    assert_eq!(features.len(), 10);
    for f in features {
        let p = &f["properties"];
        assert!(p["risk_rank"].as_i64().unwrap() <= 10);
        assert!(p["risk_score"].as_f64().unwrap() > 0.0);
        assert!(p["risk_model"].as_str().unwrap().starts_with("pipes-v"));
        assert!(!p["risk_factors"].as_str().unwrap().is_empty(), "{p}");
        assert!(p["risk_scored_at"].is_string());
    }
    let high = get("/collections/pipes/items?filter=risk_score%20%3E%200.2&limit=1000");
    for f in high["features"].as_array().unwrap() {
        assert!(f["properties"]["risk_score"].as_f64().unwrap() > 0.2);
    }
    let q = get("/collections/bridges/queryables");
    assert!(q["properties"]["risk_score"].is_object(), "{q}");
    let bridges = get("/collections/bridges/items?filter=risk_rank%20%3C%3D%203");
    assert_eq!(bridges["features"].as_array().unwrap().len(), 3);
    let roads = get("/collections/roads/items?filter=crack_count%20%3E%200%20AND%20risk_score%20%3E%200.5&limit=5");
    for f in roads["features"].as_array().unwrap() {
        assert!(f["properties"]["crack_per_100m"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bridges_and_roads_are_sensible() {
    let grade = column(data(), "bridges", "health_grade");
    let built = column(data(), "bridges", "build_year");
    let score = column(data(), "bridges", "risk_score");
    let residents = column(data(), "bridges", "residents_500m");
    assert!(!score.is_empty());
    for v in residents.values() {
        // Coarsened: null (1–2), 0 or a multiple of 5.
        if let Value::Integer(n) = v {
            assert!(*n == 0 || n % 5 == 0, "{n}");
        }
    }
    let mean = |g: &str| {
        let v: Vec<f64> = grade
            .iter()
            .filter(|(_, x)| **x == Value::Text(g.into()))
            .map(|(id, _)| real(&score[id]))
            .collect();
        (v.iter().sum::<f64>() / v.len().max(1) as f64, v.len())
    };
    let (i, ni) = mean("I");
    let (iii, niii) = mean("III");
    println!("bridges: grade I mean {i:.3} (n {ni}), grade III mean {iii:.3} (n {niii})");
    if ni > 0 && niii > 0 {
        assert!(iii > i);
    }
    assert!(built
        .values()
        .all(|v| matches!(v, Value::Integer(_) | Value::Real(_))));

    // Roads: the score is monotone in detections per 100 m of the same mix,
    // and the recomputed counts match the detections file.
    let count = column(data(), "roads", "crack_count");
    let road_score = column(data(), "roads", "risk_score");
    let total: i64 = count
        .values()
        .map(|v| match v {
            Value::Integer(n) => *n,
            _ => 0,
        })
        .sum();
    let lines = std::fs::read_to_string(data().join("synthetic/crack_detections.csv"))
        .unwrap()
        .lines()
        .count() as i64
        - 1;
    assert_eq!(total, lines);
    for (id, c) in &count {
        let s = real(&road_score[id]);
        assert!((0.0..=1.0).contains(&s));
        if *c == Value::Integer(0) {
            assert_eq!(s, 0.0);
        }
    }
    let density = column(data(), "roads", "crack_per_100m");
    let (mut none, mut dense) = (vec![], vec![]);
    for (id, d) in &density {
        if real(d) == 0.0 {
            none.push(real(&road_score[id]));
        } else if real(d) > 5.0 {
            dense.push(real(&road_score[id]));
        }
    }
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        avg(&dense) > avg(&none) + 0.3,
        "{} vs {}",
        avg(&dense),
        avg(&none)
    );
}

#[test]
fn vendor_scores_keep_provenance_and_bad_rows_are_named() {
    let dir = copy_of_demo("vendor");
    let d = dir.to_str().unwrap();
    let import = |file: &std::path::Path| {
        common::run(&[
            "risk",
            "import-vendor",
            "--layer",
            "pipes",
            "--data",
            d,
            file.to_str().unwrap(),
        ])
    };
    let good = dir.join("acme.csv");
    std::fs::write(
        &good,
        "asset_id,score,model,scored_at\nP00001,0.91,acme-pipes-3.2,2026-10-01\nP00002,0.12,acme-pipes-3.2,2026-10-01T09:00:00Z\n",
    )
    .unwrap();
    let out = import(&good);
    assert!(out.status.success(), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("2 vendor scores"), "{out}");
    let score = column(&dir, "pipes", "vendor_score");
    assert_eq!(score["P00001"], Value::Real(0.91));
    assert_eq!(score["P00003"], Value::Null);
    let source = column(&dir, "pipes", "vendor_source");
    match &source["P00001"] {
        Value::Text(s) => assert!(s.starts_with("acme.csv (sha256 "), "{s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        column(&dir, "pipes", "vendor_model")["P00002"],
        Value::Text("acme-pipes-3.2".into())
    );
    // chiiki's own scores stay beside the vendor's.
    assert!(matches!(
        column(&dir, "pipes", "risk_score")["P00001"],
        Value::Real(_)
    ));

    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "asset_id,score,model,scored_at\nP00001,0.5,m,2026-10-01\nP00002,high,m,2026-10-01\n",
    )
    .unwrap();
    let out = import(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv line 3") && err.contains("field 'score'"),
        "{err}"
    );
    // The rejected file changed nothing.
    assert_eq!(
        column(&dir, "pipes", "vendor_score")["P00001"],
        Value::Real(0.91)
    );
    let unknown = dir.join("unknown.csv");
    std::fs::write(
        &unknown,
        "asset_id,score,model,scored_at\nX9,0.5,m,2026-10-01\n",
    )
    .unwrap();
    let out = import(&unknown);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: field 'asset_id'"));
}

/// A saved analysis joins on the scores: the 50 riskiest pipes in a flood
/// zone, with the zone's depth attached.
#[test]
fn saved_analyses_join_on_scores() {
    let s = common::server();
    let id = format!(
        "risky_pipes_in_flood_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let body = serde_json::json!({
        "id": id, "title": "riskiest pipes in a flood zone", "roles": ["planner"],
        "kind": "join",
        "left": {"layer": "pipes", "filter": "risk_rank <= 50"},
        "right": {"layer": "flood_depth"},
        "relation": {"type": "within"},
        "attach": ["depth_rank"], "prefer_max": "depth_rank"
    });
    let r = common::client()
        .post(s.url("/analyses"))
        .bearer_auth(s.token("planner"))
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let got: serde_json::Value = common::client()
        .get(s.url(&format!("/collections/{id}/items?limit=100")))
        .bearer_auth(s.token("planner"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let features = got["features"].as_array().unwrap();
    assert!(!features.is_empty() && features.len() <= 50);
    for f in features {
        assert!(f["properties"]["risk_rank"].as_i64().unwrap() <= 50);
        assert!(f["properties"]["depth_rank"].as_i64().unwrap() >= 1);
        assert!(f["properties"]["risk_factors"].is_string());
    }
    std::fs::remove_file(s.data.join("analyses").join(format!("{id}.json"))).unwrap();
}

/// With `store = "postgis"` the risk commands read and write the layers in
/// the database: the data directory's files are left as they were.
#[test]
fn risk_commands_use_the_configured_store() {
    let pg = match common::postgres::Cluster::start() {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("SKIPPED: PostgreSQL cannot start here: {why}");
            return;
        }
    };
    pg.create_database("risk");
    let url = pg.url("risk");
    let dir = copy_of_demo("risk-postgis");
    let d = dir.to_str().unwrap();
    let config = dir.join("postgis.toml");
    std::fs::write(
        &config,
        format!("store = \"postgis\"\n[postgis]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    common::run_ok(&[
        "--config", c, "store", "migrate", "--to", "postgis", "--data", d,
    ]);
    let vendor = dir.join("acme.csv");
    std::fs::write(
        &vendor,
        "asset_id,score,model,scored_at\nP00001,0.91,acme-pipes-3.2,2026-10-01\n",
    )
    .unwrap();
    common::run_ok(&[
        "--config",
        c,
        "risk",
        "import-vendor",
        "--layer",
        "pipes",
        "--data",
        d,
        vendor.to_str().unwrap(),
    ]);
    common::run_ok(&["--config", c, "risk", "train", "--data", d]);
    let before = column(&dir, "pipes", "risk_scored_at");
    common::run_ok(&["--config", c, "risk", "score", "--data", d]);

    let db = chiiki_store::PostgisStore::connect(&url, None).unwrap();
    let pipes = chiiki_store::LayerStore::load(&db, "pipes").unwrap();
    let (_, ids) = pipes.column("pipe_id").unwrap();
    let (_, vendor_score) = pipes.column("vendor_score").unwrap();
    let (_, scored_at) = pipes.column("risk_scored_at").unwrap();
    let row = (0..pipes.len())
        .find(|&r| ids.get(r) == Value::Text("P00001".into()))
        .unwrap();
    assert_eq!(vendor_score.get(row), Value::Real(0.91));
    // Scored again, in the database; the file keeps the demo's scores and
    // never saw the vendor's.
    match (scored_at.get(row), &before["P00001"]) {
        (Value::DateTime(db), Value::DateTime(file)) => assert!(db > *file, "{db} <= {file}"),
        other => panic!("{other:?}"),
    }
    let file = store::load(&store::layer_path(&dir, "pipes")).unwrap();
    assert!(file.column("vendor_score").is_none());
    let bridges = chiiki_store::LayerStore::load(&db, "bridges").unwrap();
    assert!(bridges.column("risk_score").is_some());
}
