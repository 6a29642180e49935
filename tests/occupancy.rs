//! Live shelter occupancy: who may post, what is refused, what everyone
//! reads back; 50 shelters posting at once for a minute; a restart.
//!
//! Each test serves a data directory of its own (the demo's shelters with
//! their capacities, config tokens for the other roles), so that the posts
//! it counts are its own.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn config_token(role: &str) -> String {
    format!("chiiki_occupancy_{role}_{SECRET}")
}

/// A data directory with the demo's evacuation shelters and a config with
/// a token for admin, planner, health and analyst.
fn fresh_dir(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let demo = &common::server().data;
    let dir = tempfile::tempdir_in(common::scratch(name)).unwrap();
    let data = dir.path().to_path_buf();
    std::fs::create_dir_all(data.join("layers")).unwrap();
    let file = "shelters_evacuation.parquet";
    std::fs::copy(
        demo.join("layers").join(file),
        data.join("layers").join(file),
    )
    .unwrap();
    let mut config = format!(
        "data_dir = \"{}\"\n[server]\nwatch_seconds = 0\n[limits]\nrequests_per_minute = 0\n",
        s(&data)
    );
    for role in ["admin", "planner", "health", "analyst"] {
        config.push_str(&format!(
            "[[tokens]]\nname = \"occ-{role}\"\nrole = \"{role}\"\ntoken = \"{}\"\n",
            config_token(role)
        ));
    }
    let path = data.join("chiiki.toml");
    std::fs::write(&path, config).unwrap();
    (dir, data, path)
}

fn serve(config: &Path, data: &Path) -> (std::process::Child, String) {
    let (child, port) = common::spawn_serve(&["--config", s(config), "--data", s(data)]);
    (child, format!("http://127.0.0.1:{port}"))
}

/// Issues a shelter_staff token for `shelter` through the CLI.
fn staff_token(data: &Path, name: &str, shelter: i64) -> String {
    common::run_ok(&[
        "token",
        "create",
        "--name",
        name,
        "--role",
        "shelter_staff",
        "--shelter",
        &shelter.to_string(),
        "--no-expiry",
        "--data",
        s(data),
    ])
    .trim()
    .to_string()
}

fn shelter_ids(base: &str) -> Vec<i64> {
    let fc = common::get_json(&format!(
        "{base}/collections/shelters_evacuation/items?limit=1000"
    ));
    let mut ids: Vec<i64> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

fn post(
    client: &reqwest::blocking::Client,
    base: &str,
    token: Option<&str>,
    shelter: i64,
    body: &str,
) -> (u16, Value) {
    let mut req = client
        .post(format!("{base}/shelters/{shelter}/occupancy"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn body(count: i64) -> String {
    json!({"count": count, "open": true, "accepts_care": count % 2 == 0}).to_string()
}

/// The served occupancy by shelter id: the features' properties.
fn occupancy(base: &str) -> BTreeMap<i64, Value> {
    let r = common::client()
        .get(format!(
            "{base}/collections/shelter_occupancy/items?limit=1000"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let fc: Value = r.json().unwrap();
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = f["properties"].clone();
            (p["shelter_id"].as_i64().unwrap(), p)
        })
        .collect()
}

fn history(base: &str, shelter: i64) -> Vec<Value> {
    common::get_json(&format!("{base}/shelters/{shelter}/occupancy/history"))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn who_may_post_what_is_refused_and_what_everyone_reads() {
    let (_dir, data, config) = fresh_dir("roles");
    // The CLI ties shelter_staff tokens, and only them, to a shelter.
    let create = |role: &str, shelter: Option<&str>| {
        let mut args = vec![
            "token",
            "create",
            "--name",
            "x",
            "--role",
            role,
            "--data",
            s(&data),
        ];
        if let Some(id) = shelter {
            args.extend(["--shelter", id]);
        }
        common::run(&args)
    };
    let refused = create("planner", Some("25030"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only for role shelter_staff"));
    let refused = create("shelter_staff", None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs --shelter"));
    let refused = create("shelter_staff", Some("999999"));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no shelter 999999"));

    let (mut child, base) = serve(&config, &data);
    let ids = shelter_ids(&base);
    assert_eq!(ids.len(), 160);
    let (a, b) = (ids[0], ids[1]);
    let staff_a = staff_token(&data, "staff-a", a);
    let client = common::client();

    // Nobody has posted: every shelter is there, without a count.
    let before = occupancy(&base);
    assert_eq!(before.len(), 160);
    assert!(before.values().all(|p| p["count"].is_null()));
    // The demo's shelters have capacities.
    assert!(before
        .values()
        .all(|p| p["capacity"].as_i64().unwrap() >= 20));

    // Who may not post.
    assert_eq!(post(&client, &base, None, a, &body(1)).0, 401);
    for role in ["planner", "health", "analyst"] {
        let (status, e) = post(&client, &base, Some(&config_token(role)), a, &body(1));
        assert_eq!(status, 403, "{role}: {e}");
    }
    let (status, e) = post(&client, &base, Some(&staff_a), b, &body(1));
    assert_eq!(status, 403);
    let said = e["description"].as_str().unwrap();
    assert!(said.contains(&a.to_string()), "{said}");

    // What is refused, naming the field.
    let pad = "x".repeat(5000);
    let bad: Vec<(String, &str)> = vec![
        (
            r#"{"count": -1, "open": true, "accepts_care": true}"#.into(),
            "count",
        ),
        (
            r#"{"count": 5001, "open": true, "accepts_care": true}"#.into(),
            "count",
        ),
        (
            r#"{"count": 12.5, "open": true, "accepts_care": true}"#.into(),
            "count",
        ),
        (
            r#"{"count": "12", "open": true, "accepts_care": true}"#.into(),
            "count",
        ),
        (r#"{"open": true, "accepts_care": true}"#.into(), "count"),
        (r#"{"count": 3, "accepts_care": true}"#.into(), "open"),
        (
            r#"{"count": 3, "open": "yes", "accepts_care": true}"#.into(),
            "open",
        ),
        (r#"{"count": 3, "open": true}"#.into(), "accepts_care"),
        (
            r#"{"count": 3, "open": true, "accepts_care": true, "note": "x"}"#.into(),
            "note",
        ),
        ("count=3".into(), "body"),
        (
            format!(r#"{{"count": 3, "open": true, "accepts_care": true, "p": "{pad}"}}"#),
            "body",
        ),
    ];
    for (text, field) in &bad {
        let (status, e) = post(&client, &base, Some(&staff_a), a, text);
        assert_eq!(status, 400, "{text:.80}: {e}");
        let said = e["description"].as_str().unwrap();
        assert!(said.starts_with(&format!("{field}:")), "{text:.80}: {said}");
    }
    // Unknown shelters are not found.
    let admin = config_token("admin");
    assert_eq!(post(&client, &base, Some(&admin), 999_999, &body(1)).0, 404);

    // Staff post for their shelter; admin for any.
    let (status, p) = post(
        &client,
        &base,
        Some(&staff_a),
        a,
        r#"{"count": 42, "open": true, "accepts_care": true}"#,
    );
    assert_eq!(status, 200, "{p}");
    assert!(p.get("token").is_none());
    let (status, _) = post(
        &client,
        &base,
        Some(&admin),
        b,
        r#"{"count": 7, "open": false, "accepts_care": false}"#,
    );
    assert_eq!(status, 200);

    // Everyone reads only the accepted posts, with their times.
    let now = occupancy(&base);
    let pa = &now[&a];
    assert_eq!(pa["count"], 42);
    assert_eq!(pa["open"], true);
    assert_eq!(pa["accepts_care"], true);
    // The collection gives the time to the second, the history to the millisecond.
    let (served, posted) = (
        pa["updated_at"].as_str().unwrap(),
        p["updated_at"].as_str().unwrap(),
    );
    assert_eq!(served[..19], posted[..19], "{served} {posted}");
    let capacity = pa["capacity"].as_f64().unwrap();
    let rate = pa["occupancy_rate"].as_f64().unwrap();
    assert!((rate - 42.0 / capacity).abs() < 0.001, "{pa}");
    assert_eq!(now[&b]["count"], 7);
    assert_eq!(now[&b]["open"], false);
    assert_eq!(
        now.values().filter(|p| !p["count"].is_null()).count(),
        2,
        "only the accepted posts"
    );
    let ha = history(&base, a);
    assert_eq!(ha.len(), 1);
    assert_eq!(ha[0]["count"], 42);
    assert!(ha[0]["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(history(&base, ids[2]).is_empty());
    // Listed among the collections, for anonymous callers too.
    let collections = common::get_json(&format!("{base}/collections"));
    assert!(collections["collections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "shelter_occupancy"));
    // A later post replaces the state and heads the history.
    post(&client, &base, Some(&staff_a), a, &body(50));
    assert_eq!(occupancy(&base)[&a]["count"], 50);
    let ha = history(&base, a);
    assert_eq!(
        ha.iter()
            .map(|p| p["count"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![50, 42]
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Shelters posting at once.
const THREADS: usize = 50;
/// How long they post.
const RUN: Duration = Duration::from_secs(60);
/// Posts per thread at most: counts are `THREADS * k + thread`, under the
/// limit of 5,000, so that a count says whose it is.
const POSTS: i64 = 100;

#[test]
fn fifty_shelters_posting_at_once_then_a_restart() {
    let (_dir, data, config) = fresh_dir("concurrent");
    let (child, base) = serve(&config, &data);
    let ids = shelter_ids(&base);
    let shelters: Vec<i64> = ids[..THREADS].to_vec();
    // 50 staff tokens, issued while the service runs: it reads them on use.
    let tokens: Vec<String> = shelters
        .iter()
        .enumerate()
        .map(|(i, &id)| staff_token(&data, &format!("staff-{i}"), id))
        .collect();
    let index: BTreeMap<i64, usize> = shelters
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // A reader polls the collection all along: a shelter only ever shows a
    // count of its own thread, never an older one than it showed before.
    let reader = {
        let (base, stop, index) = (base.clone(), stop.clone(), index.clone());
        std::thread::spawn(move || {
            let mut last = vec![-1i64; THREADS];
            let mut polls = 0;
            while !stop.load(Ordering::SeqCst) {
                for (id, p) in occupancy(&base) {
                    let Some(&i) = index.get(&id) else {
                        assert!(p["count"].is_null(), "shelter {id} was not posted to: {p}");
                        continue;
                    };
                    let Some(count) = p["count"].as_i64() else {
                        continue;
                    };
                    assert_eq!(count as usize % THREADS, i, "shelter {id} shows {count}");
                    assert!(count >= last[i], "shelter {id}: {count} after {}", last[i]);
                    assert!(!p["updated_at"].is_null());
                    last[i] = count;
                }
                polls += 1;
            }
            polls
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (base, tokens, shelters) = (base.clone(), tokens.clone(), shelters.clone());
            std::thread::spawn(move || {
                let client = common::client();
                let mut accepted = Vec::new();
                let mut refused = 0;
                let mut k = 0;
                while started.elapsed() < RUN {
                    if k < POSTS {
                        let count = THREADS as i64 * k + i as i64;
                        let (status, p) =
                            post(&client, &base, Some(&tokens[i]), shelters[i], &body(count));
                        assert_eq!(status, 200, "thread {i}, count {count}: {p}");
                        assert_eq!(p["count"], count);
                        accepted.push(count);
                        k += 1;
                    }
                    if k % 5 == 2 {
                        // Another thread's shelter: refused.
                        let other = shelters[(i + 1) % THREADS];
                        let (status, e) = post(&client, &base, Some(&tokens[i]), other, &body(1));
                        assert_eq!(status, 403, "thread {i} to {other}: {e}");
                        refused += 1;
                    }
                    // Spread over the minute, at varying paces.
                    let pause = 200 + (i as u64 * 37 + k as u64 * 101) % 800;
                    std::thread::sleep(Duration::from_millis(pause));
                }
                (accepted, refused)
            })
        })
        .collect();
    let results: Vec<(Vec<i64>, usize)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    let polls = reader.join().unwrap();
    let total: usize = results.iter().map(|r| r.0.len()).sum();
    let refused: usize = results.iter().map(|r| r.1).sum();
    eprintln!(
        "occupancy: {total} posts accepted and {refused} refused from {THREADS} threads in {:.0?}; {polls} reads of the collection meanwhile",
        started.elapsed()
    );
    assert!(polls > 0 && refused > 0);

    // The state is every thread's last accepted count; each history is
    // every accepted post, once, in order, with times that never go back.
    let now = occupancy(&base);
    for (i, &id) in shelters.iter().enumerate() {
        let accepted = &results[i].0;
        assert!(!accepted.is_empty(), "thread {i} posted nothing");
        assert_eq!(
            now[&id]["count"].as_i64(),
            accepted.last().copied(),
            "shelter {id}"
        );
        let mut h = history(&base, id);
        h.reverse();
        let counts: Vec<i64> = h.iter().map(|p| p["count"].as_i64().unwrap()).collect();
        assert_eq!(&counts, accepted, "shelter {id}");
        for pair in h.windows(2) {
            assert!(pair[0]["seq"].as_u64() < pair[1]["seq"].as_u64());
            assert!(pair[0]["updated_at"].as_str() <= pair[1]["updated_at"].as_str());
        }
    }
    let lines = std::fs::read_to_string(data.join("occupancy").join("occupancy.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        lines, total,
        "the history file holds every accepted post once"
    );

    // A restart (killed, not stopped) shows the same state.
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let (mut again, base) = serve(&config, &data);
    let after = occupancy(&base);
    assert_eq!(after, now);
    for &id in &shelters[..3] {
        assert_eq!(history(&base, id).len(), results[index[&id]].0.len());
    }
    // And posts go on from there.
    let client = common::client();
    let (status, p) = post(&client, &base, Some(&tokens[0]), shelters[0], &body(4999));
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["seq"].as_u64(), Some(total as u64));
    let _ = again.kill();
    let _ = again.wait();
}
