//! `chiiki demo` builds the demo city from the real data and is idempotent.

mod common;

use common::{run, run_ok, scratch};

#[test]
fn demo_rebuild_is_idempotent() {
    let data = scratch("idempotent");
    let _ = std::fs::remove_dir_all(&data);
    let first = run_ok(&["demo", "--data", data.to_str().unwrap(), "--no-serve"]);
    assert_eq!(first.matches("imported").count(), 5, "{first}");
    let snapshot = |name: &str| std::fs::read(data.join(name)).unwrap();
    let layer = "layers/bunkyo_towns.parquet";
    let (layer_before, tokens_before) = (snapshot(layer), snapshot("demo-tokens.json"));

    let second = run_ok(&["demo", "--data", data.to_str().unwrap(), "--no-serve"]);
    assert_eq!(second.matches("unchanged").count(), 5, "{second}");
    assert!(!second.contains(" imported"), "{second}");
    assert_eq!(
        snapshot(layer),
        layer_before,
        "an unchanged source must not be re-imported"
    );
    assert_eq!(
        snapshot("demo-tokens.json"),
        tokens_before,
        "tokens are kept across runs"
    );

    let tokens: serde_json::Value = serde_json::from_slice(&tokens_before).unwrap();
    for role in ["admin", "planner", "health", "analyst", "public"] {
        assert!(tokens[role].as_str().unwrap().len() > 32, "{role}");
    }
    // The saved config stores token hashes, never the tokens.
    let config = std::fs::read_to_string(data.join("chiiki.toml")).unwrap();
    assert!(!config.contains(tokens["admin"].as_str().unwrap()));
    assert!(config.contains("token_sha256"));
}

#[test]
fn demo_without_real_data_says_where_it_looked() {
    let data = scratch("missing");
    let out = run(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--no-serve",
        "--real-data",
        "/nonexistent/real",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/real") && err.contains("CHIIKI_REAL_DATA"),
        "{err}"
    );
}
