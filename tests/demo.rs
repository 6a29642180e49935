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
        layers
            .iter()
            .any(|l| l.trim_start().starts_with("residents ")),
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
    // A renewal outlives running the demo again.
    run_ok(&[
        "token",
        "renew",
        "demo-analyst",
        "--expires",
        "2099-12-31",
        "--data",
        data.to_str().unwrap(),
    ]);

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

    // The demo's tokens are listed as the config's, and expire 90 days
    // after they were made (the time kept in demo-tokens.json), unless renewed.
    let issued = chrono::DateTime::parse_from_rfc3339(tokens["issued"].as_str().unwrap()).unwrap();
    let expires = (issued + chrono::Duration::days(90))
        .to_utc()
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let list = run_ok(&["token", "list", "--data", data.to_str().unwrap()]);
    for role in ["admin", "planner", "health", "analyst", "public"] {
        let line = list
            .lines()
            .find(|l| l.contains(&format!(" demo-{role} ")))
            .unwrap_or_else(|| panic!("demo-{role} is not listed:\n{list}"));
        assert!(
            line.contains(" config ") && line.contains(" active "),
            "{line}"
        );
        let until = if role == "analyst" {
            "2099-12-31 23:59"
        } else {
            expires.as_str()
        };
        assert!(line.ends_with(until), "{line}");
    }
}

#[test]
fn without_real_data_the_demo_builds_a_fictional_city() {
    let data = scratch("fictional");
    let _ = std::fs::remove_dir_all(&data);
    let out = run(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--no-serve",
        "--real-data",
        "/nonexistent/real",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It says where it looked and what it does instead.
    assert!(
        stdout.contains("/nonexistent/real") && stdout.contains("CHIIKI_REAL_DATA"),
        "{stdout}"
    );
    assert!(stdout.contains("fictional"), "{stdout}");
    // The same pipeline ran: census polygons, flood, shelters, residents
    // geocoded at the 号, infrastructure.
    for layer in [
        "bunkyo_towns",
        "flood_a31_tokyo",
        "shelters_evacuation",
        "residents",
        "pipes",
        "bridges",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{layer} "))),
            "{layer} missing: {stdout}"
        );
    }
    let geocoded = stdout
        .lines()
        .find(|l| l.contains("geocoded: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let share: f64 = geocoded
        .split("residential_number ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{geocoded}"));
    assert!(share >= 99.0, "{geocoded}");
    let config = std::fs::read_to_string(data.join("chiiki.toml")).unwrap();
    assert!(config.contains("架空区"), "{config}");
}
