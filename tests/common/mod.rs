//! Shared test harness: builds the demo city from the real data once per test
//! binary, adds the test's own layers, and runs the real `chiiki` server on a
//! free port. The server stops when the test process ends (its stdin closes).

#![allow(dead_code)]

pub mod postgres;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chiiki")
}

/// The real public data, as the project resolves it (flag, env, default).
pub fn real_data() -> PathBuf {
    match std::env::var("CHIIKI_REAL_DATA") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"),
    }
}

/// `chiiki <args>`. With `CHIIKI_TEST_STORE=postgis`, a command on a data
/// directory moved into PostGIS ([`onto_postgis`]) gets that directory's
/// PostGIS config unless it names a config itself, so the command line
/// acts on the store the test's server reads.
pub fn run(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(bin());
    command.args(args).env("CHIIKI_REAL_DATA", real_data());
    if let Some(config) = postgis_config_for(args) {
        command.env("CHIIKI_CONFIG", config);
    }
    command.output().expect("running chiiki")
}

/// The store the shared server and the live tests' cities are served
/// from: GeoParquet files (the default) or, with
/// `CHIIKI_TEST_STORE=postgis`, a throwaway PostGIS cluster the data
/// directory is migrated into. scripts/test.sh runs the API, analyses,
/// security and live tests both ways, so the same assertions hold of both
/// stores.
pub fn on_postgis() -> bool {
    match std::env::var("CHIIKI_TEST_STORE").as_deref() {
        Err(_) | Ok("") | Ok("geoparquet") => false,
        Ok("postgis") => true,
        Ok(other) => panic!("CHIIKI_TEST_STORE={other}: expected geoparquet or postgis"),
    }
}

/// This test binary's PostgreSQL cluster in postgis mode: started on first
/// use, stopped when the process ends.
fn test_cluster() -> &'static postgres::Cluster {
    static CLUSTER: OnceLock<postgres::Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = postgres::Cluster::start()
            .unwrap_or_else(|e| panic!("CHIIKI_TEST_STORE=postgis needs PostgreSQL: {e}"));
        cluster.stop_when_this_process_ends();
        cluster
    })
}

const POSTGIS_CONFIG: &str = "chiiki-postgis.toml";

/// Moves the layers of `data` into a new database of the test cluster
/// (`chiiki store migrate`, verified) and writes
/// `<data>/chiiki-postgis.toml`: `config` with `store = "postgis"`. Returns
/// that config's path.
pub fn onto_postgis(data: &Path, config: &Path) -> PathBuf {
    static DATABASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cluster = test_cluster();
    let n = DATABASES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let db = format!("city{n}");
    cluster.create_database(&db);
    let url = cluster.url(&db);
    let original = std::fs::read_to_string(config).unwrap();
    let path = data.join(POSTGIS_CONFIG);
    std::fs::write(
        &path,
        format!("store = \"postgis\"\n{original}\n[postgis]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    run_ok(&[
        "--config",
        path.to_str().unwrap(),
        "store",
        "migrate",
        "--to",
        "postgis",
        "--data",
        data.to_str().unwrap(),
    ]);
    path
}

/// Runs `sql` with psql in the database `data` was moved into
/// ([`onto_postgis`]), returning unaligned rows.
pub fn postgis_sql(data: &Path, sql: &str) -> String {
    let config = std::fs::read_to_string(data.join(POSTGIS_CONFIG)).unwrap();
    let url = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|u| u.strip_suffix('"'))
        .expect("the PostGIS config's url");
    let db = url.rsplit('/').next().unwrap();
    test_cluster().psql_in(db, sql)
}

/// The token list stored for `data` as JSON: `tokens.json`, or in postgis
/// mode the database's `tokens` document.
pub fn stored_tokens(data: &Path) -> String {
    if on_postgis() {
        postgis_sql(
            data,
            "SELECT body::text FROM chiiki.documents WHERE name = 'tokens'",
        )
    } else {
        std::fs::read_to_string(data.join("tokens.json")).unwrap()
    }
}

/// The PostGIS config of the data directory `args` name with `--data`,
/// when the command names no config and that directory was moved into
/// PostGIS.
fn postgis_config_for(args: &[&str]) -> Option<PathBuf> {
    if !on_postgis() || args.contains(&"--config") {
        return None;
    }
    let data = args.iter().position(|a| *a == "--data")?;
    let config = Path::new(args.get(data + 1)?).join(POSTGIS_CONFIG);
    config.is_file().then_some(config)
}

pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "chiiki {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Server {
    pub base: String,
    pub data: PathBuf,
    pub tokens: BTreeMap<String, String>,
    child: Mutex<Child>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self, role: &str) -> &str {
        &self.tokens[role]
    }
}

/// A per-binary scratch directory under cargo's target tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().to_string();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{stem}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the test's own small layers: a private layer of synthetic bridge
/// inspections (with dates, for `datetime`) in 文京区.
pub fn write_inspections_geojson(path: &Path) {
    let mut features = Vec::new();
    // 40 synthetic bridges along a line near 神田川, inspected 2019–2023.
    for i in 0..40 {
        let lon = 139.715 + i as f64 * 0.0012;
        let lat = 35.708 + (i as f64 * 0.37).sin() * 0.002;
        let year = 2019 + (i % 5);
        let month = 1 + (i % 12);
        let grade = ["I", "II", "III", "IV"][i % 4];
        features.push(serde_json::json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {
                "bridge_id": 1000 + i,
                "name": format!("神田川橋梁{i}"),
                "grade": grade,
                "inspected": format!("{year}-{month:02}-15"),
                "span_m": 8.5 + i as f64 * 0.25,
            }
        }));
    }
    let fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(path, serde_json::to_string_pretty(&fc).unwrap()).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `chiiki serve <args>` on a free port of 127.0.0.1 and waits until
/// it is ready (`/ready`); it stops when the test process ends (its stdin
/// closes).
pub fn spawn_serve(args: &[&str]) -> (Child, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(bin())
        .arg("serve")
        .args(args)
        .args(["--bind", &bind, "--exit-on-stdin-close"])
        .env("CHIIKI_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting chiiki serve");
    // Wait for the "serving at" line, then for the port to answer.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("serving at") => break,
            Some(Ok(_)) => continue,
            _ => panic!("chiiki serve exited before serving"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Then until it is ready: the saved analyses are computed (a debug
    // build takes a while), so that no test's first request waits for them.
    let ready = format!("http://127.0.0.1:{port}/ready");
    while !client()
        .get(&ready)
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "server not ready after 600 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

/// The demo city plus the test layers, served once per test binary.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let data = scratch("data");
        // Fresh tokens for every run: the demo's expire 90 days after they
        // were made, and this directory outlives test runs.
        // A PostGIS config a postgis-mode run left points at a stopped cluster.
        for old in ["demo-tokens.json", "tokens.json", POSTGIS_CONFIG] {
            let _ = std::fs::remove_file(data.join(old));
        }
        run_ok(&["demo", "--data", data.to_str().unwrap(), "--no-serve"]);
        let geojson = scratch("src").join("inspections.geojson");
        write_inspections_geojson(&geojson);
        run_ok(&[
            "import",
            "bridge_inspections",
            geojson.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--id-field",
            "bridge_id",
            "--roles",
            "planner,analyst",
            "--title",
            "橋梁点検 (synthetic)",
        ]);
        let tokens: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(data.join("demo-tokens.json")).unwrap())
                .unwrap();
        let mut data_arg = data.join("chiiki.toml");
        if on_postgis() {
            data_arg = onto_postgis(&data, &data_arg);
        }
        let (child, port) = spawn_serve(&[
            "--config",
            data_arg.to_str().unwrap(),
            // Tests ask much faster than people; the limit has its own test.
            "--requests-per-minute",
            "0",
        ]);
        let base = format!("http://127.0.0.1:{port}");
        Server {
            base,
            data,
            tokens,
            child: Mutex::new(child),
        }
    })
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn get(url: &str) -> reqwest::blocking::Response {
    client().get(url).send().expect("HTTP request")
}

pub fn get_json(url: &str) -> serde_json::Value {
    let r = get(url);
    assert!(
        r.status().is_success(),
        "GET {url} -> {}: {}",
        r.status(),
        r.text().unwrap_or_default()
    );
    r.json().expect("JSON body")
}

/// Runs a command (GDAL, PROJ, python) and returns stdout, failing the test
/// with its stderr when it fails.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test ({e}); .ci/run installs it")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The demo's daily 異動 files, in date order.
pub fn demo_deltas() -> Vec<PathBuf> {
    let dir = server().data.join("synthetic/deltas");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Imports the demo's registry export into `data` as its baseline (the
/// demo's first day, before any 異動).
pub fn import_demo_registry(data: &Path) {
    let export = server().data.join("synthetic/registry.csv");
    run_ok(&[
        "registry",
        "import",
        export.to_str().unwrap(),
        "--as-of",
        "2026-10-01",
        "--data",
        data.to_str().unwrap(),
    ]);
}

/// `registry points` on `data` (on `day`, else today): the number of
/// residents placed.
pub fn registry_points(data: &Path, day: Option<&str>) -> i64 {
    let reference = server().data.join("reference.chiiki");
    let mut args = vec![
        "registry",
        "points",
        "--data",
        data.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
    ];
    if let Some(d) = day {
        args.extend(["--as-of", d]);
    }
    let out = run_ok(&args);
    out.split_whitespace().next().unwrap().parse().unwrap()
}

/// Runs `tests/browser/<script>` with Node.js against the test server: the
/// script drives headless Chromium (tests/browser/browser.mjs) and prints
/// one JSON line of findings, which this returns. Screenshots go to
/// `out`.
pub fn browser_script(script: &str, out: &Path) -> serde_json::Value {
    let s = server();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    let result = Command::new("node")
        .arg(&path)
        .env("CHIIKI_URL", &s.base)
        .env("CHIIKI_TOKENS", serde_json::to_string(&s.tokens).unwrap())
        .env("CHIIKI_OUT", out)
        .output()
        .expect("running node (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{script} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

/// Every feature of a collection, paging through `next` links.
pub fn all_features(collection: &str, role: Option<&str>, query: &str) -> Vec<serde_json::Value> {
    let s = server();
    let mut url = s.url(&format!(
        "/collections/{collection}/items?limit=10000{query}"
    ));
    let mut out = Vec::new();
    loop {
        let mut req = client().get(&url);
        if let Some(role) = role {
            req = req.bearer_auth(s.token(role));
        }
        let r = req.send().unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        let page: serde_json::Value = r.json().unwrap();
        out.extend(page["features"].as_array().unwrap().iter().cloned());
        match page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => url = next["href"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    out
}
