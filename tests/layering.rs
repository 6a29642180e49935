//! The workspace's floors, checked from `cargo metadata`: a crate may depend
//! only on the floors below it, so a wrong-way import is a build error here
//! first and a failing test if someone edits a Cargo.toml to allow it.
//!
//! binary → server → policy → analysis → query → store → network → core
//! (the walking network needs only core's layers; analyses use it);
//! producers (registry, geocode, risk, synth) → store → core, and on each
//! other (cargo itself refuses cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The main floors, bottom first: each may depend on any floor below it.
const FLOORS: [&str; 8] = [
    "chiiki-core",
    "chiiki-network",
    "chiiki-store",
    "chiiki-query",
    "chiiki-analysis",
    "chiiki-policy",
    "chiiki-server",
    "chiiki",
];

/// Producers sit beside the main floors, above store: they may use core,
/// store and each other, and nothing of query, analysis, policy, server or
/// the binary.
const PRODUCERS: [&str; 4] = [
    "chiiki-registry",
    "chiiki-geocode",
    "chiiki-risk",
    "chiiki-synth",
];

/// External crates only some floors may name: polars is the slow part of a
/// cold build; the database client belongs to the store; the command line
/// and HTTP belong to the top floors.
const RESTRICTED: [(&str, &[&str]); 6] = [
    ("polars", &["chiiki-store"]),
    ("postgres", &["chiiki-store"]),
    ("clap", &["chiiki"]),
    ("tracing-subscriber", &["chiiki"]),
    ("axum", &["chiiki-server"]),
    ("tower-http", &["chiiki-server"]),
];

/// The workspace crates each crate may depend on.
fn allowed(krate: &str) -> BTreeSet<&'static str> {
    if let Some(level) = FLOORS.iter().position(|f| *f == krate) {
        let mut below: BTreeSet<&str> = FLOORS[..level].iter().copied().collect();
        if krate == "chiiki" {
            below.extend(PRODUCERS);
        }
        below
    } else if PRODUCERS.contains(&krate) {
        let mut ok: BTreeSet<&str> = ["chiiki-core", "chiiki-store"].into_iter().collect();
        ok.extend(PRODUCERS.iter().filter(|p| **p != krate));
        ok
    } else {
        BTreeSet::new()
    }
}

/// Every workspace member with the names of all its dependencies (normal,
/// build and dev).
fn members() -> BTreeMap<String, Vec<String>> {
    members_with(true)
}

/// Each member's dependencies, without the dev-dependencies of its tests
/// when `dev` is false.
fn members_with(dev: bool) -> BTreeMap<String, Vec<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| dev || d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().expect("name").to_string())
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_the_floors_below_it() {
    let members = members();
    let known: BTreeSet<&str> = FLOORS.iter().chain(PRODUCERS.iter()).copied().collect();
    let names: BTreeSet<&str> = members.keys().map(String::as_str).collect();
    assert_eq!(
        names, known,
        "the workspace's crates and the floors listed here differ: place a new crate on a floor"
    );
    let mut wrong = Vec::new();
    for (krate, deps) in &members {
        let ok = allowed(krate);
        for dep in deps.iter().filter(|d| known.contains(d.as_str())) {
            if !ok.contains(dep.as_str()) {
                wrong.push(format!("{krate} → {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the floors: {wrong:?}"
    );
}

#[test]
fn restricted_crates_stay_on_their_floors() {
    // What ships: a test may install its own log subscriber to read what
    // the service logs.
    let members = members_with(false);
    let mut wrong = Vec::new();
    for (external, owners) in RESTRICTED {
        for (krate, deps) in &members {
            if deps.iter().any(|d| d == external) && !owners.contains(&krate.as_str()) {
                wrong.push(format!("{krate} uses {external} (only {owners:?} may)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_rule_itself_refuses_upward_and_sideways_dependencies() {
    // The checks above are only as good as `allowed`: it must refuse what
    // the layout forbids, not just accept what is there today.
    assert!(allowed("chiiki-core").is_empty());
    assert!(!allowed("chiiki-store").contains("chiiki-query"));
    assert!(!allowed("chiiki-analysis").contains("chiiki-policy"));
    assert!(!allowed("chiiki-policy").contains("chiiki-server"));
    assert!(allowed("chiiki-policy").contains("chiiki-analysis"));
    for producer in PRODUCERS {
        for upper in [
            "chiiki-query",
            "chiiki-analysis",
            "chiiki-policy",
            "chiiki-server",
            "chiiki",
        ] {
            assert!(!allowed(producer).contains(upper), "{producer} → {upper}");
        }
        assert!(allowed(producer).contains("chiiki-store"));
        assert!(!allowed(producer).contains(producer));
    }
    assert!(allowed("chiiki").contains("chiiki-synth"));
    assert!(allowed("unlisted").is_empty());
}
