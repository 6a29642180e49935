//! Live data: the running server picks up what the command line writes to
//! its data directory, under read load, one generation at a time.
//!
//! The demo's registry is imported as its baseline, then its 22 daily 異動
//! files are applied one by one (`registry apply`, then `registry points`)
//! while readers hammer the residents layer: no 5xx, every response wholly
//! from one generation (its `numberMatched` is that generation's), and
//! after each apply the count equals what a fresh start serves. A kill -9
//! during a rebuild leaves, on restart, the last complete data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A plain config secret long and varied enough for the service.
const ADMIN_TOKEN: &str = "live-test-admin-token-0123456789abcdefXYZ";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A data directory of its own: the demo's open layers (copied), the
/// demo's registry export imported as a baseline, no 異動 yet.
fn fresh_city() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let demo = &common::server().data;
    let dir = tempfile::tempdir_in(common::scratch("live")).unwrap();
    let data = dir.path().to_path_buf();
    std::fs::create_dir_all(data.join("layers")).unwrap();
    for id in ["flood_depth", "bunkyo_towns", "shelters_evacuation"] {
        let name = format!("{id}.parquet");
        std::fs::copy(
            demo.join("layers").join(&name),
            data.join("layers").join(&name),
        )
        .unwrap();
    }
    let config = data.join("chiiki.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[server]\nwatch_seconds = 1\n[limits]\nrequests_per_minute = 0\n[[tokens]]\nname = \"live-admin\"\nrole = \"admin\"\ntoken = \"{ADMIN_TOKEN}\"\n",
            s(&data)
        ),
    )
    .unwrap();
    common::import_demo_registry(&data);
    let config = if common::on_postgis() {
        common::onto_postgis(&data, &config)
    } else {
        config
    };
    (dir, data, config)
}

/// (status, generation, numberMatched) of one read of the residents.
fn read_residents(base: &str) -> (u16, u64, i64) {
    let r = common::client()
        .get(format!("{base}/collections/residents/items?limit=1"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let generation = r
        .headers()
        .get("chiiki-generation")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let matched = if status == 200 {
        r.json::<serde_json::Value>().unwrap()["numberMatched"]
            .as_i64()
            .unwrap()
    } else {
        -1
    };
    (status, generation, matched)
}

fn serve(config: &Path, data: &Path) -> (std::process::Child, String) {
    let (child, port) = common::spawn_serve(&["--config", s(config), "--data", s(data)]);
    (child, format!("http://127.0.0.1:{port}"))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn daily_deltas_reach_a_running_server_one_generation_at_a_time() {
    let (_dir, data, config) = fresh_city();
    let baseline = common::registry_points(&data, None);
    let (mut child, base) = serve(&config, &data);
    let (status, _, matched) = read_residents(&base);
    assert_eq!((status, matched), (200, baseline));
    // Memory with one generation after one reload, quiet.
    let reload = || {
        let r = common::client()
            .post(format!("{base}/admin/reload"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = r.json().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        v["generation"].as_u64().unwrap()
    };
    let first = reload();
    let quiet_one = rss_kib(child.id());

    // Readers: every response is recorded with its generation.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(u16, u64, i64)>>> = Arc::default();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, seen, base) = (stop.clone(), seen.clone(), base.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = read_residents(&base);
                    seen.lock().unwrap().push(r);
                    // Steady load, not a flood: the point is reads during
                    // every reload, on two cores shared with the reloads.
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();

    let mut expected: BTreeMap<u64, i64> = BTreeMap::from([(first, baseline)]);
    let mut generation = first;
    let mut rss = Vec::new();
    let started = Instant::now();
    for delta in common::demo_deltas() {
        common::run_ok(&["registry", "apply", s(&delta), "--data", s(&data)]);
        let placed = common::registry_points(&data, None);
        // The registry and then the layer changed: one or two reloads,
        // after which the generation served holds what the files hold.
        let waited = Instant::now();
        loop {
            let (status, g, matched) = read_residents(&base);
            if status == 200 && matched == placed && g > generation {
                generation = g;
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "{}: still {matched} residents served in generation {g}, {placed} in the files",
                delta.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        expected.insert(generation, placed);
        rss.push(rss_kib(child.id()));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let last = reload();
    let quiet_many = rss_kib(child.id());
    let seen = seen.lock().unwrap();
    let errors: Vec<_> = seen.iter().filter(|r| r.0 >= 500).collect();
    assert!(errors.is_empty(), "5xx under reload: {errors:?}");
    // Every response is one generation's: one count per generation, and
    // the files' count for the generations that followed a `points`.
    let mut counts: BTreeMap<u64, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for &(status, g, matched) in seen.iter() {
        assert_eq!(status, 200);
        counts.entry(g).or_default().insert(matched);
    }
    let mixed: Vec<_> = counts
        .iter()
        .filter(|(g, c)| c.len() > 1 || expected.get(g).is_some_and(|want| !c.contains(want)))
        .collect();
    assert!(mixed.is_empty(), "responses mixing generations: {mixed:?}");
    assert!(
        counts.len() > 10,
        "the readers saw the generations go by: {counts:?}"
    );
    // A fresh start on the same data serves the same.
    let (mut fresh, fresh_base) = serve(&config, &data);
    let (_, _, fresh_matched) = read_residents(&fresh_base);
    assert_eq!(fresh_matched, *expected.values().last().unwrap());
    let _ = fresh.kill();
    let _ = fresh.wait();
    println!(
        "live: 22 異動 files applied to a running server under 3 readers ({} reads, 0 errors) in {elapsed:.1?}; generations {first}..={last}; resident memory, quiet, {} MiB after one reload and {} MiB after {} (under load: {} MiB after the 1st file, {} MiB after the 10th, {} MiB after the 22nd)",
        seen.len(),
        quiet_one / 1024,
        quiet_many / 1024,
        last - first + 1,
        rss[0] / 1024,
        rss[9] / 1024,
        rss.last().unwrap() / 1024,
    );
    assert!(
        quiet_many as f64 <= quiet_one as f64 * 1.25,
        "memory grows with reloads: {quiet_one} KiB after one, {quiet_many} KiB after {}",
        last - first + 1
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_kill_during_a_rebuild_leaves_the_last_complete_data() {
    let (_dir, data, config) = fresh_city();
    common::registry_points(&data, None);
    let (mut child, base) = serve(&config, &data);
    let (_, generation, _) = read_residents(&base);
    let files = common::demo_deltas();
    common::run_ok(&["registry", "apply", s(&files[0]), "--data", s(&data)]);
    let placed = common::registry_points(&data, None);
    // The watcher notices within a second; kill it while it rebuilds (or
    // about to), with no chance to finish anything.
    std::thread::sleep(Duration::from_millis(900));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let (mut again, base) = serve(&config, &data);
    let (status, g, matched) = read_residents(&base);
    assert_eq!((status, matched), (200, placed));
    println!(
        "live: killed during a rebuild after generation {generation}; on restart generation {g} serves the {placed} residents of the last complete files"
    );
    let _ = again.kill();
    let _ = again.wait();
}

#[test]
fn admins_reload_by_hand_and_a_failed_reload_keeps_serving() {
    let (_dir, data, config) = fresh_city();
    let placed = common::registry_points(&data, None);
    let (mut child, base) = serve(&config, &data);
    let client = common::client();
    let post = |token: Option<&str>| {
        let mut r = client.post(format!("{base}/admin/reload"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap()
    };
    assert_eq!(post(None).status().as_u16(), 401);
    let r = post(Some(ADMIN_TOKEN));
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert!(v["generation"].as_u64().unwrap() >= 2, "{v}");
    // A broken layer (a file that is not parquet; in PostGIS, a catalogued
    // layer whose table is gone): the reload fails, the old generation serves.
    let broken = data.join("layers").join("broken.parquet");
    let (break_it, mend_it) = (
        "ALTER TABLE chiiki.\"layer_flood_depth\" RENAME TO broken_flood_depth;",
        "ALTER TABLE chiiki.broken_flood_depth RENAME TO \"layer_flood_depth\";",
    );
    if common::on_postgis() {
        common::postgis_sql(&data, break_it);
    } else {
        std::fs::write(&broken, b"not parquet").unwrap();
    }
    let r = post(Some(ADMIN_TOKEN));
    assert_eq!(r.status().as_u16(), 503);
    let v: serde_json::Value = r.json().unwrap();
    assert!(
        v["description"].as_str().unwrap().contains("keeps serving"),
        "{v}"
    );
    let (status, _, matched) = read_residents(&base);
    assert_eq!((status, matched), (200, placed));
    if common::on_postgis() {
        common::postgis_sql(&data, mend_it);
    } else {
        std::fs::remove_file(&broken).unwrap();
    }
    let r = post(Some(ADMIN_TOKEN));
    assert_eq!(r.status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
