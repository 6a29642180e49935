//! `chiiki demo` builds the demo city from the real data and is idempotent.

mod common;

use common::{run, run_ok, scratch};

#[test]
fn demo_rebuild_is_idempotent() {
    let data = scratch("idempotent");
    let _ = std::fs::remove_dir_all(&data);
    let first = run_ok(&["demo", "--data", data.to_str().unwrap(), "--no-serve"]);
    let layer_lines = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.contains(" features  "))
            .map(String::from)
            .collect()
    };
    let layers = layer_lines(&first);
    assert!(layers.len() >= 6, "{first}");
    assert!(layers.iter().all(|l| l.contains("imported")), "{first}");
    assert!(
        layers.iter().any(|l| l.trim_start().starts_with("residents ")),
        "the resident points are built: {first}"
    );
    assert!(first.contains("registry: 240069 rows imported"), "{first}");
    let snapshot = |name: &str| std::fs::read(data.join(name)).unwrap();
    let kept = [
        "layers/bunkyo_towns.parquet",
        "layers/residents.parquet",
        "synthetic/registry.csv",
        "registry/registry.bin",
    ];
    let before: Vec<Vec<u8>> = kept.iter().map(|f| snapshot(f)).collect();
    let tokens_before = snapshot("demo-tokens.json");

    let second = run_ok(&["demo", "--data", data.to_str().unwrap(), "--no-serve"]);
    let again = layer_lines(&second);
    assert_eq!(again.len(), layers.len(), "{second}");
    assert!(again.iter().all(|l| l.contains("unchanged")), "{second}");
    assert!(!second.contains("registry: "), "{second}");
    for (file, bytes) in kept.iter().zip(&before) {
        assert!(
            &snapshot(file) == bytes,
            "{file}: an unchanged source must not be rebuilt"
        );
    }
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
