//! Security over real HTTP against the real server: who may read what (every
//! caller × endpoint × collection, checked for personal fields, personal
//! values, records outside a role's rights and small counts), small-cell
//! suppression and attempts to difference it away, tokens, the audit trail,
//! and the limits on malformed, oversized and too frequent requests.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::server;
use reqwest::Method;
use serde_json::{json, Value};

/// The personal fields of the residents layer.
const PERSONAL_KEYS: [&str; 8] = [
    "resident_id",
    "household_id",
    "name",
    "name_kana",
    "birth_date",
    "address",
    "address_extra",
    "addr",
];
/// Fields health staff never see, not even in the lists granted to them
/// (`addr`, the geocoder's normalised address, is an address: they see it
/// where they see `address`).
const NEVER_FOR_HEALTH: [&str; 3] = ["resident_id", "household_id", "birth_date"];
/// Fields whose values are codes and dates (only admin and planner see them).
const CODE_FIELDS: [&str; 3] = ["resident_id", "household_id", "birth_date"];
/// What an error body must never show.
const INTERNAL: [&str; 7] = [
    "/work",
    "/home",
    "/tmp",
    "target/",
    "src/",
    "panicked",
    "RUST_BACKTRACE",
];
const CALLERS: [&str; 6] = [
    "admin",
    "planner",
    "health",
    "analyst",
    "public",
    "anonymous",
];
/// The small-cell threshold: counts 1..K-1 are disclosive.
const K: i64 = 3;

/// Tests that make the shared server log personal-data responses, and the
/// check of that log, run one at a time (tests that save analyses or count
/// log entries use a [`Lab`] server of their own).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn http() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(common::client)
}

fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 10_000_000_000
}

fn small(v: i64) -> bool {
    (1..K).contains(&v)
}

// ---------------------------------------------------------------- requests

struct Reply {
    status: u16,
    content_type: String,
    cache_control: Option<String>,
    vary: Vec<String>,
    retry_after: Option<String>,
    www_authenticate: bool,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}", short(&self.body));
        })
    }
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

fn send(req: reqwest::blocking::RequestBuilder) -> Reply {
    let r = req.send().expect("HTTP request");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let cache_control = header("cache-control");
    let vary = r
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let retry_after = header("retry-after");
    let www_authenticate = header("www-authenticate").is_some();
    Reply {
        status: r.status().as_u16(),
        content_type,
        cache_control,
        vary,
        retry_after,
        www_authenticate,
        body: r.text().unwrap_or_default(),
    }
}

/// The shared server's base URL.
fn shared() -> &'static str {
    &server().base
}

/// A request to the server at `base` as `caller` ("anonymous" sends no token).
fn request_at(
    base: &str,
    method: Method,
    caller: &str,
    path: &str,
) -> reqwest::blocking::RequestBuilder {
    let req = http().request(method, format!("{base}{path}"));
    if caller == "anonymous" {
        req
    } else {
        req.bearer_auth(server().token(caller))
    }
}

fn request(method: Method, caller: &str, path: &str) -> reqwest::blocking::RequestBuilder {
    request_at(shared(), method, caller, path)
}

fn get_at(base: &str, caller: &str, path: &str) -> Reply {
    send(request_at(base, Method::GET, caller, path))
}

fn get_as(caller: &str, path: &str) -> Reply {
    get_at(shared(), caller, path)
}

fn get_ok_at(base: &str, caller: &str, path: &str) -> Value {
    let r = get_at(base, caller, path);
    assert_eq!(r.status, 200, "{caller} GET {path}: {}", short(&r.body));
    r.json()
}

fn get_ok(caller: &str, path: &str) -> Value {
    get_ok_at(shared(), caller, path)
}

fn post_analysis_at(base: &str, caller: &str, body: &Value) -> Reply {
    send(
        request_at(base, Method::POST, caller, "/analyses")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
}

fn post_analysis(caller: &str, body: &Value) -> Reply {
    post_analysis_at(shared(), caller, body)
}

/// Another server over the same data (its files linked into a directory of
/// its own), with its own saved analyses and audit log: for the tests that
/// save analyses, count log entries or limit requests, so that the shared
/// server's collections, suppression and log stay as they are.
struct Lab {
    base: String,
    audit: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lab(requests_per_minute: u32) -> Lab {
    let s = server();
    let dir = tempfile::tempdir_in(common::scratch("labs")).unwrap();
    for entry in std::fs::read_dir(&s.data).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name != "analyses" && name != "audit" {
            std::os::unix::fs::symlink(entry.path(), dir.path().join(&name)).unwrap();
        }
    }
    let audit = dir.path().join("audit").join("audit.jsonl");
    let rpm = requests_per_minute.to_string();
    let (child, port) = common::spawn_serve(&[
        "--config",
        s.data.join("chiiki.toml").to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
        "--requests-per-minute",
        &rpm,
        "--audit-log",
        audit.to_str().unwrap(),
    ]);
    Lab {
        base: format!("http://127.0.0.1:{port}"),
        audit,
        child,
        _dir: dir,
    }
}

/// What is wrong with an error response: it must be JSON with `code` and
/// `description`, and show nothing of the server's insides.
fn error_problems(r: &Reply) -> Vec<String> {
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(&r.body) {
        Ok(v) if v["code"].is_string() && v["description"].is_string() => {}
        _ => out.push(format!(
            "{}: not a JSON error body: {}",
            r.status,
            short(&r.body)
        )),
    }
    if !r.content_type.starts_with("application/json") {
        out.push(format!("{}: content-type {}", r.status, r.content_type));
    }
    for bad in INTERNAL {
        if r.body.contains(bad) {
            out.push(format!(
                "{}: error body shows '{bad}': {}",
                r.status,
                short(&r.body)
            ));
        }
    }
    out
}

/// Asserts an error status with a clean JSON body; returns the body.
fn assert_error(r: &Reply, status: u16, context: &str) -> Value {
    assert_eq!(r.status, status, "{context}: {}", short(&r.body));
    let problems = error_problems(r);
    assert!(problems.is_empty(), "{context}: {problems:?}");
    r.json()
}

// --------------------------------------------------------------- catalogue

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Each feature is a resident.
    Person,
    /// Not people, but computed from people (pipes near 要支援者 homes).
    Derived,
    /// Counts of people per group.
    Aggregate,
    /// No personal data.
    Open,
}

#[derive(Debug, Clone)]
struct Collection {
    id: String,
    kind: Kind,
    /// The roles a saved analysis names; `None` for stored layers.
    roles: Option<Vec<String>>,
    public: bool,
    /// Aggregates: the measures that count people.
    counts: Vec<String>,
    /// Aggregates: the property naming the group (mesh_code, S_NAME).
    group_key: Option<String>,
}

/// The saved analyses' definitions as admin lists them, by id.
fn definitions(base: &str) -> BTreeMap<String, Value> {
    get_ok_at(base, "admin", "/analyses")["analyses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

/// Every collection admin sees, classified from the analyses' definitions:
/// joins whose left side is people are people, joins that only read people
/// are derived, aggregates over people are aggregates.
fn catalogue(base: &str) -> Vec<Collection> {
    let ids: Vec<String> = get_ok_at(base, "admin", "/collections")["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let defs = definitions(base);
    let mut person: HashSet<String> = HashSet::from(["residents".to_string()]);
    let mut derived: HashSet<String> = HashSet::new();
    loop {
        let before = person.len() + derived.len();
        for (id, d) in &defs {
            if d["kind"] != "join" || person.contains(id) {
                continue;
            }
            let left = d["left"]["layer"].as_str().unwrap_or_default();
            let right = d["right"]["layer"].as_str().unwrap_or_default();
            if person.contains(left) {
                person.insert(id.clone());
            } else if person.contains(right) || derived.contains(left) || derived.contains(right) {
                derived.insert(id.clone());
            }
        }
        if person.len() + derived.len() == before {
            break;
        }
    }
    ids.into_iter()
        .map(|id| {
            let d = defs.get(&id);
            let aggregate = d.is_some_and(|d| {
                d["kind"] == "aggregate"
                    && d["source"]["layer"]
                        .as_str()
                        .is_some_and(|l| person.contains(l))
            });
            let kind = if person.contains(&id) {
                Kind::Person
            } else if derived.contains(&id) {
                Kind::Derived
            } else if aggregate {
                Kind::Aggregate
            } else {
                Kind::Open
            };
            let measures: Vec<&Value> = d
                .and_then(|d| d["measures"].as_array())
                .map(|m| m.iter().collect())
                .unwrap_or_default();
            let counts = || -> Vec<String> {
                measures
                    .iter()
                    .filter(|m| {
                        // A flag summed is a count.
                        let flag_sum = m["op"] == "sum"
                            && matches!(m["column"].as_str(), Some("needs_support" | "disability"));
                        m["op"] == "count" || flag_sum
                    })
                    .map(|m| m["name"].as_str().unwrap().to_string())
                    .collect()
            };
            Collection {
                kind,
                roles: d.map(|d| {
                    d["roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect()
                }),
                public: d.is_some_and(|d| d["public"] == true),
                counts: counts(),
                group_key: d.filter(|_| aggregate).map(|d| {
                    if d["to"]["mesh"].is_string() {
                        "mesh_code".to_string()
                    } else if d["to"]["nearest"].is_string() {
                        // Catchments: one group per facility.
                        "facility_id".to_string()
                    } else {
                        d["to"]["key"].as_str().unwrap().to_string()
                    }
                }),
                id,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- the policy

/// The role a caller acts as: anonymous callers are "public".
fn role_of(caller: &str) -> &str {
    if caller == "anonymous" {
        "public"
    } else {
        caller
    }
}

/// Whether a saved analysis names the caller's role (or is public).
fn named(c: &Collection, caller: &str) -> bool {
    c.public
        || c.roles
            .as_ref()
            .is_some_and(|r| r.iter().any(|x| x == role_of(caller)))
}

/// Names, kana and addresses: planners and admin everywhere, health only in
/// lists of people granted to it.
fn sees_names(caller: &str, c: Option<&Collection>) -> bool {
    match caller {
        "admin" | "planner" => true,
        "health" => c.is_some_and(|c| c.kind == Kind::Person && named(c, caller)),
        _ => false,
    }
}

/// 住民票コード, 世帯番号 and exact birth dates.
fn sees_codes(caller: &str) -> bool {
    matches!(caller, "admin" | "planner")
}

fn forbidden_key(caller: &str, c: &Collection, key: &str) -> bool {
    PERSONAL_KEYS.contains(&key)
        && match caller {
            "admin" | "planner" => false,
            "health" => NEVER_FOR_HEALTH.contains(&key) || !sees_names(caller, Some(c)),
            _ => true,
        }
}

fn suppressed(caller: &str) -> bool {
    !matches!(caller, "admin" | "planner")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allow,
    Deny,
    /// Open layers: the layer's own access list decides.
    Either,
}

fn expect(caller: &str, c: &Collection) -> Expect {
    use Expect::*;
    if caller == "admin" {
        return Allow;
    }
    match c.kind {
        Kind::Person if c.id == "residents" => {
            if caller == "planner" {
                Allow
            } else {
                Deny
            }
        }
        Kind::Person | Kind::Derived => {
            if matches!(caller, "planner" | "health") && named(c, caller) {
                Allow
            } else {
                Deny
            }
        }
        Kind::Aggregate => {
            if named(c, caller) {
                Allow
            } else {
                Deny
            }
        }
        Kind::Open => match (caller, c.id.as_str()) {
            ("analyst", "pipes" | "bridges" | "roads") => Allow,
            (_, "flood_depth") => Allow,
            _ => Either,
        },
    }
}

/// A collection the caller may not read answers as a missing one does.
fn deny_status(_caller: &str) -> u16 {
    404
}

// ------------------------------------------------------- the resident registry

/// Admin's residents layer: who the planner may see, and every personal value.
struct Registry {
    residents: usize,
    /// Feature id → within the planner's rows (要支援者 or in a flood zone).
    planner_rows: HashMap<i64, bool>,
    /// Personal value → the field it came from.
    values: HashMap<String, &'static str>,
    /// Residents whose feature id is their 住民票コード.
    fid_is_code: usize,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        // The registry's own fields (not the geocoder's `addr`).
        const FIELDS: &[&str] = PERSONAL_KEYS.split_at(7).0;
        let mut reg = Registry {
            residents: 0,
            planner_rows: HashMap::new(),
            values: HashMap::new(),
            fid_is_code: 0,
        };
        let mut offset = 0;
        loop {
            let path = format!(
                "/collections/residents/items?f=csv&limit=10000&offset={offset}&properties={},needs_support,flood_depth_rank",
                FIELDS.join(",")
            );
            let r = get_as("admin", &path);
            assert_eq!(r.status, 200, "{path}: {}", short(&r.body));
            let mut reader = csv::Reader::from_reader(r.body.as_bytes());
            let header = reader.headers().unwrap().clone();
            let col = |n: &str| header.iter().position(|h| h == n).unwrap();
            let (id, support, rank) = (col("id"), col("needs_support"), col("flood_depth_rank"));
            let fields: Vec<(usize, &'static str)> = FIELDS.iter().map(|f| (col(f), *f)).collect();
            let mut rows = 0;
            for record in reader.records() {
                let record = record.unwrap();
                rows += 1;
                let fid: i64 = record[id].parse().unwrap();
                reg.planner_rows
                    .insert(fid, &record[support] == "true" || !record[rank].is_empty());
                if record[col("resident_id")] == fid.to_string() {
                    reg.fid_is_code += 1;
                }
                for &(i, field) in &fields {
                    let v = &record[i];
                    if !v.is_empty() && !reg.values.contains_key(v) {
                        reg.values.insert(v.to_string(), field);
                    }
                }
            }
            reg.residents += rows;
            if rows < 10_000 {
                break;
            }
            offset += rows;
        }
        assert!(reg.residents > 100_000, "{} residents", reg.residents);
        reg
    })
}

// ------------------------------------------------------------------ the matrix

/// Checks the responses one caller gets.
struct Checker<'a> {
    /// The server under test.
    base: &'a str,
    caller: &'a str,
    reg: &'a Registry,
    /// Strings that occur in open data or aggregates anyway (a shelter's
    /// address, an inspection date): not evidence of a leak.
    innocent: &'a HashSet<String>,
    requests: usize,
    leaks: BTreeSet<String>,
    errors: Vec<String>,
}

impl Checker<'_> {
    fn leak(&mut self, what: String) {
        self.leaks.insert(format!("{}: {what}", self.caller));
    }

    fn error(&mut self, what: String) {
        self.errors.push(format!("{}: {what}", self.caller));
    }

    fn get(&mut self, path: &str) -> Reply {
        self.requests += 1;
        let r = get_at(self.base, self.caller, path);
        if r.status >= 500 {
            self.error(format!("GET {path} -> {}: {}", r.status, short(&r.body)));
        }
        if r.status != 200 {
            for p in error_problems(&r) {
                self.error(format!("GET {path}: {p}"));
            }
        }
        r
    }

    fn forbidden_value(&self, c: Option<&Collection>, s: &str) -> Option<&'static str> {
        let field = *self.reg.values.get(s)?;
        if self.innocent.contains(s) {
            return None;
        }
        let allowed = if CODE_FIELDS.contains(&field) {
            sees_codes(self.caller)
        } else {
            sees_names(self.caller, c)
        };
        (!allowed).then_some(field)
    }

    fn check_value(&mut self, path: &str, c: Option<&Collection>, s: &str) {
        if let Some(field) = self.forbidden_value(c, s) {
            self.leak(format!("GET {path}: a value of {field}"));
        }
    }

    fn check_key(&mut self, path: &str, c: Option<&Collection>, key: &str) {
        if let Some(c) = c {
            if c.kind != Kind::Open && forbidden_key(self.caller, c, key) {
                self.leak(format!("GET {path}: field '{key}'"));
            }
        }
    }

    /// Every key and string of a JSON document.
    fn check_json(&mut self, path: &str, c: Option<&Collection>, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    self.check_key(path, c, k);
                    self.check_json(path, c, x);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.check_json(path, c, x)),
            Value::String(s) => self.check_value(path, c, s),
            _ => {}
        }
    }

    /// One served feature (or CSV row): its id and its counts.
    fn check_record(&mut self, path: &str, c: &Collection, fid: i64, counts: &[(String, f64)]) {
        if !sees_codes(self.caller) && self.reg.values.get(&fid.to_string()) == Some(&"resident_id")
        {
            self.leak(format!("GET {path}: the feature id is a 住民票コード"));
        }
        if c.kind == Kind::Person && self.caller == "planner" {
            match self.reg.planner_rows.get(&fid) {
                Some(true) => {}
                Some(false) => self.leak(format!(
                    "GET {path}: a resident outside the planner's rows (neither 要支援者 nor in a flood zone)"
                )),
                None => self.leak(format!("GET {path}: feature {fid} is no resident")),
            }
        }
        if c.kind == Kind::Aggregate && suppressed(self.caller) {
            for (m, v) in counts {
                if *v >= 1.0 && *v < K as f64 {
                    self.leak(format!("GET {path}: count {m} = {v}"));
                }
            }
        }
    }

    fn check_features(&mut self, path: &str, c: &Collection, v: &Value) {
        let features: Vec<&Value> = match v["features"].as_array() {
            Some(f) => f.iter().collect(),
            None if v["type"] == "Feature" => vec![v],
            None => return self.error(format!("GET {path}: no features")),
        };
        let mut age_bands = true;
        for f in features {
            let fid = f["id"].as_i64().unwrap_or(-1);
            let counts: Vec<(String, f64)> = c
                .counts
                .iter()
                .filter_map(|m| f["properties"][m].as_f64().map(|v| (m.clone(), v)))
                .collect();
            self.check_record(path, c, fid, &counts);
            age_bands &= f["properties"]["age_band"].is_string();
        }
        if self.caller == "health" && c.kind == Kind::Person && !age_bands {
            self.error(format!("GET {path}: birth dates not replaced by age bands"));
        }
    }

    fn check_csv(&mut self, path: &str, c: &Collection, body: &str) {
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let header = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return self.error(format!("GET {path}: not CSV: {e}")),
        };
        for h in header.iter() {
            self.check_key(path, Some(c), h);
        }
        let id = header.iter().position(|h| h == "id");
        let count_cols: Vec<(usize, String)> = c
            .counts
            .iter()
            .filter_map(|m| header.iter().position(|h| h == m).map(|i| (i, m.clone())))
            .collect();
        for record in reader.records() {
            let Ok(record) = record else {
                return self.error(format!("GET {path}: a broken CSV row"));
            };
            for cell in record.iter() {
                self.check_value(path, Some(c), cell);
            }
            let fid = id.and_then(|i| record[i].parse().ok()).unwrap_or(-1);
            let counts: Vec<(String, f64)> = count_cols
                .iter()
                .filter_map(|(i, m)| record[*i].parse().ok().map(|v| (m.clone(), v)))
                .collect();
            self.check_record(path, c, fid, &counts);
        }
    }

    /// The status against the policy: a denied collection served is a leak.
    fn check_status(&mut self, path: &str, c: &Collection, status: u16, item: bool) {
        let ok = status == 200 || (item && status == 404);
        match expect(self.caller, c) {
            Expect::Allow if !ok => self.error(format!("GET {path} -> {status}, expected 200")),
            Expect::Deny if status == 200 => {
                self.leak(format!("GET {path}: served, but the role may not read it"))
            }
            Expect::Deny | Expect::Either if !ok && status != deny_status(self.caller) => self
                .error(format!(
                    "GET {path} -> {status}, expected {}",
                    deny_status(self.caller)
                )),
            _ => {}
        }
    }
}

/// What one caller got.
struct CallerRun {
    caller: &'static str,
    requests: usize,
    leaks: BTreeSet<String>,
    errors: Vec<String>,
    readable: BTreeSet<String>,
    /// Admin only: a feature id per collection, and the strings of open
    /// layers and aggregates.
    fids: BTreeMap<String, i64>,
    strings: HashSet<String>,
}

fn collect_strings(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::String(s) => {
            out.insert(s.clone());
        }
        // CSV writes numbers as text.
        Value::Number(n) => {
            out.insert(n.to_string());
        }
        _ => {}
    }
}

fn run_caller(
    base: &str,
    caller: &'static str,
    collections: &[Collection],
    fids: &BTreeMap<String, i64>,
    innocent: &HashSet<String>,
) -> CallerRun {
    let reg = registry();
    let mut ck = Checker {
        base,
        caller,
        reg,
        innocent,
        requests: 0,
        leaks: BTreeSet::new(),
        errors: Vec::new(),
    };
    let mut run = CallerRun {
        caller,
        requests: 0,
        leaks: BTreeSet::new(),
        errors: Vec::new(),
        readable: BTreeSet::new(),
        fids: BTreeMap::new(),
        strings: HashSet::new(),
    };
    let by_id: HashMap<&str, &Collection> =
        collections.iter().map(|c| (c.id.as_str(), c)).collect();

    // Service-wide resources.
    let mut global: BTreeMap<&str, Value> = BTreeMap::new();
    for path in ["/", "/conformance", "/api", "/collections", "/analyses"] {
        let r = ck.get(path);
        if r.status != 200 {
            ck.error(format!("GET {path} -> {}", r.status));
            continue;
        }
        let v = r.json();
        ck.check_json(path, None, &v);
        global.insert(path, v);
    }

    for c in collections {
        let id = &c.id;
        let meta_path = format!("/collections/{id}");
        let r = ck.get(&meta_path);
        ck.check_status(&meta_path, c, r.status, false);
        if r.status == 200 {
            run.readable.insert(id.clone());
            ck.check_json(&meta_path, Some(c), &r.json());
        }

        let path = format!("/collections/{id}/queryables");
        let r = ck.get(&path);
        ck.check_status(&path, c, r.status, false);
        if r.status == 200 {
            ck.check_json(&path, Some(c), &r.json());
        }

        let path = format!("/collections/{id}/items?limit=10000");
        let r = ck.get(&path);
        ck.check_status(&path, c, r.status, false);
        if r.status == 200 {
            let v = r.json();
            ck.check_json(&path, Some(c), &v);
            ck.check_features(&path, c, &v);
            if caller == "admin" {
                let features = v["features"].as_array().unwrap();
                // For people, a resident outside the planner's rows when there is one.
                let pick = features
                    .iter()
                    .map(|f| f["id"].as_i64().unwrap())
                    .find(|fid| c.kind == Kind::Person && reg.planner_rows.get(fid) == Some(&false))
                    .or_else(|| features.first().and_then(|f| f["id"].as_i64()));
                if let Some(fid) = pick {
                    run.fids.insert(id.clone(), fid);
                }
                if matches!(c.kind, Kind::Open | Kind::Aggregate) {
                    collect_strings(&v, &mut run.strings);
                }
            }
        }

        let path = format!("/collections/{id}/items?limit=10000&f=csv");
        let r = ck.get(&path);
        ck.check_status(&path, c, r.status, false);
        if r.status == 200 {
            if !r.content_type.starts_with("text/csv") {
                ck.error(format!("GET {path}: content-type {}", r.content_type));
            }
            ck.check_csv(&path, c, &r.body);
        }

        let fid = fids.get(id).or_else(|| run.fids.get(id)).copied();
        if let Some(fid) = fid {
            let path = format!("/collections/{id}/items/{fid}");
            let r = ck.get(&path);
            ck.check_status(&path, c, r.status, true);
            if r.status == 200 {
                let v = r.json();
                ck.check_json(&path, Some(c), &v);
                ck.check_features(&path, c, &v);
            }
        }
    }

    // What the service lists must be what the caller may read.
    let listed = |v: Option<&Value>, key: &str| -> Vec<String> {
        v.and_then(|v| v[key].as_array())
            .map(|a| {
                a.iter()
                    .map(|c| c["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut in_collections = listed(global.get("/collections"), "collections");
    let in_analyses = listed(global.get("/analyses"), "analyses");
    let mut in_api: Vec<String> = Vec::new();
    if let Some(paths) = global.get("/api").and_then(|a| a["paths"].as_object()) {
        for (p, op) in paths {
            let Some(rest) = p.strip_prefix("/collections/") else {
                continue;
            };
            let id = rest.split('/').next().unwrap().to_string();
            if rest.ends_with("/items") {
                if let Some(c) = by_id.get(id.as_str()) {
                    for param in op["get"]["parameters"].as_array().into_iter().flatten() {
                        if let Some(name) = param["name"].as_str() {
                            ck.check_key("/api", Some(c), name);
                        }
                    }
                }
            }
            in_api.push(id);
        }
    }
    in_api.sort();
    in_api.dedup();
    for (what, ids) in [
        ("/collections", &in_collections),
        ("/api", &in_api),
        ("/analyses", &in_analyses),
    ] {
        for id in ids {
            if by_id.contains_key(id.as_str()) {
                if !run.readable.contains(id) {
                    ck.leak(format!(
                        "GET {what} lists '{id}', which the caller may not read"
                    ));
                }
            } else {
                // Not in the matrix (saved meanwhile): ask directly.
                let r = ck.get(&format!("/collections/{id}"));
                if r.status != 200 {
                    ck.leak(format!(
                        "GET {what} lists '{id}', which answers {}",
                        r.status
                    ));
                }
            }
        }
    }
    in_collections.retain(|id| by_id.contains_key(id.as_str()));
    let listed_set: BTreeSet<String> = in_collections.into_iter().collect();
    if listed_set != run.readable {
        ck.error(format!(
            "/collections lists {listed_set:?} but the readable ones are {:?}",
            run.readable
        ));
    }

    run.requests = ck.requests;
    run.leaks = ck.leaks;
    run.errors = ck.errors;
    run
}

/// Analyses each role that may save posts in the matrix: aggregates and
/// lists, granted as far as the service lets it.
fn post_matrix_analyses(base: &str) -> Vec<String> {
    let mut saved = Vec::new();
    let aggregate = |id: &str, roles: Value, public: bool, filter: &str, mesh: &str| {
        json!({
            "id": id, "title": id, "roles": roles, "public": public, "kind": "aggregate",
            "source": {"layer": "residents", "filter": filter}, "to": {"mesh": mesh},
            "measures": [
                {"name": "n", "op": "count"},
                {"name": "aged_75", "op": "count", "filter": "age >= 75"},
                {"name": "support", "op": "sum", "column": "needs_support"},
                {"name": "support_share", "op": "mean", "column": "needs_support"},
                {"name": "care_share", "op": "share", "filter": "care_level IS NOT NULL"},
                {"name": "mean_score", "op": "mean", "column": "score"},
            ],
        })
    };
    let bodies = [
        (
            "admin",
            aggregate("m_admin_public_125m", json!([]), true, "age >= 0", "125m"),
        ),
        (
            "admin",
            json!({"id": "m_admin_list_health", "title": "t", "roles": ["health", "planner"],
                   "kind": "join", "left": {"layer": "residents", "filter": "age >= 90"},
                   "right": {"layer": "flood_depth"}, "relation": {"type": "within"},
                   "attach": ["depth_rank"]}),
        ),
        (
            "planner",
            aggregate(
                "m_planner_analyst_250m",
                json!(["planner", "analyst", "health"]),
                false,
                "age >= 65",
                "250m",
            ),
        ),
        (
            "planner",
            json!({"id": "m_planner_by_town", "title": "t", "roles": ["planner", "analyst"],
                   "kind": "aggregate", "source": {"layer": "residents_flood_rank"},
                   "to": {"layer": "bunkyo_towns", "key": "S_NAME"},
                   "measures": [{"name": "n", "op": "count"},
                                {"name": "deep", "op": "count", "filter": "depth_rank >= 3"}]}),
        ),
        (
            "planner",
            json!({"id": "m_planner_list", "title": "t", "roles": ["planner"], "kind": "join",
                   "left": {"layer": "residents"}, "right": {"layer": "shelters_evacuation"},
                   "relation": {"type": "nearest", "max_metres": 500.0}}),
        ),
    ];
    for (caller, body) in bodies {
        let r = post_analysis_at(base, caller, &body);
        assert_eq!(
            r.status,
            201,
            "{caller} saves {}: {}",
            body["id"],
            short(&r.body)
        );
        saved.push(body["id"].as_str().unwrap().to_string());
    }
    saved
}

#[test]
fn matrix_of_callers_endpoints_and_collections_leaks_nothing() {
    let _serial = serial();
    let started = Instant::now();
    let lab = lab(0);
    let base = lab.base.as_str();
    let posted = post_matrix_analyses(base);
    let collections = catalogue(base);
    for id in &posted {
        assert!(
            collections.iter().any(|c| &c.id == id),
            "{id} is in the matrix"
        );
    }
    let kinds = |k: Kind| -> BTreeSet<&str> {
        collections
            .iter()
            .filter(|c| c.kind == k)
            .map(|c| c.id.as_str())
            .collect()
    };
    let (people, derived, aggregates) = (
        kinds(Kind::Person),
        kinds(Kind::Derived),
        kinds(Kind::Aggregate),
    );
    for id in [
        "residents",
        "elderly_in_flood",
        "elderly_beyond_shelters_300m",
        "resident_shelter_distance",
        "residents_flood_rank",
        "care_outreach_flood",
    ] {
        assert!(people.contains(id), "{id} is a list of people: {people:?}");
    }
    assert!(derived.contains("risky_pipes_near_support"), "{derived:?}");
    for id in [
        "aging_mesh_250m",
        "vaccination_gaps_250m",
        "shelter_coverage_by_town",
        "flood_exposure_by_town",
    ] {
        assert!(aggregates.contains(id), "{id}: {aggregates:?}");
    }
    let reg = registry();
    println!(
        "registry: {} residents, {} personal values, {} planner rows; {} feature ids equal the 住民票コード",
        reg.residents,
        reg.values.len(),
        reg.planner_rows.values().filter(|&&ok| ok).count(),
        reg.fid_is_code
    );

    // Admin first: it picks the feature ids, and shows which strings occur in
    // open data and aggregates anyway.
    let nothing = HashSet::new();
    let admin = run_caller(base, "admin", &collections, &BTreeMap::new(), &nothing);
    let fids = admin.fids.clone();
    let innocent: HashSet<String> = admin
        .strings
        .iter()
        .filter(|s| reg.values.contains_key(*s))
        .cloned()
        .collect();
    println!(
        "{} personal values also occur in open layers or aggregates (e.g. {:?}) and are not counted as leaks",
        innocent.len(),
        innocent.iter().take(3).collect::<Vec<_>>()
    );
    let mut runs = vec![admin];
    std::thread::scope(|scope| {
        let handles: Vec<_> = CALLERS[1..]
            .iter()
            .map(|&caller| {
                let (collections, fids, innocent) = (&collections, &fids, &innocent);
                scope.spawn(move || run_caller(base, caller, collections, fids, innocent))
            })
            .collect();
        for h in handles {
            runs.push(h.join().expect("a caller's run panicked"));
        }
    });

    let requests: usize = runs.iter().map(|r| r.requests).sum();
    let leaks: Vec<&String> = runs.iter().flat_map(|r| &r.leaks).collect();
    let errors: Vec<&String> = runs.iter().flat_map(|r| &r.errors).collect();
    for r in &runs {
        println!(
            "  {:<9} {:>4} requests, reads {:>2} of {} collections, {} leaks",
            r.caller,
            r.requests,
            r.readable.len(),
            collections.len(),
            r.leaks.len()
        );
    }
    // Anonymous callers have the public role: the same open collections.
    let readable = |caller: &str| &runs.iter().find(|r| r.caller == caller).unwrap().readable;
    assert_eq!(
        readable("anonymous"),
        readable("public"),
        "anonymous callers and the public token read the same collections"
    );
    assert_eq!(readable("admin").len(), collections.len());
    println!(
        "security matrix: {} callers × 10 endpoints (5 service-wide, 5 per collection) × {} collections = {requests} requests, {} leaks ({:.1?})",
        CALLERS.len(),
        collections.len(),
        leaks.len(),
        started.elapsed()
    );
    for l in leaks.iter().take(60) {
        println!("  LEAK {l}");
    }
    for e in errors.iter().take(60) {
        println!("  ERROR {e}");
    }
    // The lab's log, with every personal-data response of the matrix in
    // it, is one intact chain.
    let (ok, said) = verify(&lab.audit);
    println!(
        "audit: the matrix server's log: {}",
        said.trim().rsplit(": ").next().unwrap_or_default()
    );
    assert!(ok, "{said}");
    assert!(errors.is_empty(), "{} errors: {errors:#?}", errors.len());
    assert!(leaks.is_empty(), "{} leaks: {leaks:#?}", leaks.len());
}

// ------------------------------------------------------------ perturbation

/// An aggregate's rows by group.
type Rows = BTreeMap<String, serde_json::Map<String, Value>>;

/// An aggregate's rows by group, as `caller` sees them.
fn rows(base: &str, caller: &str, c: &Collection) -> Rows {
    let key = c.group_key.as_deref().unwrap();
    let v = get_ok_at(
        base,
        caller,
        &format!("/collections/{}/items?limit=10000", c.id),
    );
    let features = v["features"].as_array().unwrap();
    assert!(features.len() < 10_000);
    let out: BTreeMap<_, _> = features
        .iter()
        .map(|f| {
            let p = f["properties"].as_object().unwrap().clone();
            let k = match &p[key] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k, p)
        })
        .collect();
    assert_eq!(out.len(), features.len(), "{}: groups are unique", c.id);
    out
}

fn count_of(row: &serde_json::Map<String, Value>, m: &str) -> Option<i64> {
    row.get(m).and_then(Value::as_f64).map(|v| v.round() as i64)
}

/// The published perturbation table (chiiki_policy::privacy::perturbation),
/// as an attacker who read the documentation knows it.
fn ptable() -> chiiki_policy::privacy::perturbation::PTable {
    chiiki_policy::privacy::perturbation::PTable::new(K as u64)
}

/// Every true count that may be published as `p`.
fn truths(p: i64) -> BTreeSet<i64> {
    ptable()
        .possible_truths(p as u64)
        .into_iter()
        .map(|n| n as i64)
        .collect()
}

/// {a + b} for every a in `x`, b in `y` (`sign` −1 for a − b).
fn combine(x: &BTreeSet<i64>, y: &BTreeSet<i64>, sign: i64) -> BTreeSet<i64> {
    x.iter()
        .flat_map(|a| y.iter().map(move |b| a + sign * b))
        .collect()
}

/// Deviations of published counts from the truth.
#[derive(Default)]
struct Utility {
    cells: usize,
    total_abs: u64,
    max: u64,
    exact: usize,
}

impl Utility {
    fn add(&mut self, published: i64, truth: i64) {
        let d = published.abs_diff(truth);
        self.cells += 1;
        self.total_abs += d;
        self.max = self.max.max(d);
        self.exact += (d == 0) as usize;
    }

    fn mean(&self) -> f64 {
        self.total_abs as f64 / self.cells.max(1) as f64
    }
}

#[test]
fn perturbed_counts_are_never_small_and_stay_close_to_the_truth() {
    let collections = catalogue(shared());
    let mut all = Utility::default();
    let mut report = Vec::new();
    for id in [
        "aging_mesh_250m",
        "vaccination_gaps_250m",
        "shelter_coverage_by_town",
        "flood_exposure_by_town",
    ] {
        let c = collections.iter().find(|c| c.id == id).unwrap();
        assert_eq!(c.kind, Kind::Aggregate);
        let viewer = if named(c, "analyst") {
            "analyst"
        } else {
            "health"
        };
        let exact = rows(shared(), "admin", c);
        let seen = rows(shared(), viewer, c);
        assert!(!exact.is_empty(), "{id} is empty");
        let mut u = Utility::default();
        let (mut small_truths, mut noise_only) = (0, 0);
        for (group, s) in &seen {
            for m in &c.counts {
                let Some(p) = count_of(s, m) else { continue };
                assert!(!small(p), "{id} {group} {m} = {p} shown to {viewer}");
                // Present for admin too unless `having` chose it on noise.
                let Some(truth) = exact.get(group).and_then(|e| count_of(e, m)) else {
                    noise_only += 1;
                    continue;
                };
                assert!(
                    truths(p).contains(&truth),
                    "{id} {group} {m}: {p} cannot be published for {truth}"
                );
                small_truths += small(truth) as usize;
                u.add(p, truth);
                all.add(p, truth);
            }
        }
        // `having` runs on what the role sees.
        for (group, s) in &seen {
            match id {
                "aging_mesh_250m" => assert!(
                    s["aging_rate"].as_f64().is_some_and(|r| r >= 0.4),
                    "{id} {group}: {s:?}"
                ),
                "vaccination_gaps_250m" => assert!(
                    s["uptake"].as_f64().is_some_and(|r| r < 0.3),
                    "{id} {group}: {s:?}"
                ),
                _ => {}
            }
        }
        report.push(format!(
            "  {id} as {viewer}: {} of {} groups, {} count cells: mean |noise| {:.2}, max {}, {:.0} % exact; {small_truths} true counts of 1–2 published as 0 or 3+; {noise_only} cells in groups admin's `having` leaves out",
            seen.len(),
            exact.len(),
            u.cells,
            u.mean(),
            u.max,
            100.0 * u.exact as f64 / u.cells.max(1) as f64
        ));
    }
    println!(
        "perturbation utility on the demo city: {} published counts, mean absolute deviation {:.3}, maximum {}, {:.1} % exact",
        all.cells,
        all.mean(),
        all.max,
        100.0 * all.exact as f64 / all.cells.max(1) as f64
    );
    for r in &report {
        println!("{r}");
    }
    assert!(all.cells > 100, "the test could not fail");
    assert!(all.max <= 2 + K as u64, "noise is bounded: {}", all.max);
    assert!(all.mean() < 1.0, "utility: mean |noise| {}", all.mean());
    assert!(all.exact < all.cells, "some counts are perturbed");
}

// ------------------------------------------------------------- differencing

/// Saves an aggregate of residents on a lab server as `caller`, granted to
/// the analyst.
fn save_aggregate_as(
    lab: &Lab,
    caller: &str,
    id: &str,
    source_filter: Option<&str>,
    mesh: &str,
    measures: Value,
) -> Collection {
    let mut source = json!({"layer": "residents"});
    if let Some(f) = source_filter {
        source["filter"] = f.into();
    }
    let body = json!({
        "id": id, "title": format!("security test {id}"), "roles": [caller, "analyst"],
        "kind": "aggregate", "source": source, "to": {"mesh": mesh}, "measures": measures,
    });
    let r = post_analysis_at(&lab.base, caller, &body);
    assert_eq!(r.status, 201, "POST {id}: {}", short(&r.body));
    catalogue(&lab.base)
        .into_iter()
        .find(|c| c.id == id)
        .expect("the saved analysis is a collection")
}

fn save_aggregate(
    lab: &Lab,
    id: &str,
    source_filter: Option<&str>,
    mesh: &str,
    measures: Value,
) -> Collection {
    save_aggregate_as(lab, "admin", id, source_filter, mesh, measures)
}

fn single_count(lab: &Lab, id: &str, filter: &str, mesh: &str) -> Collection {
    save_aggregate(
        lab,
        id,
        Some(filter),
        mesh,
        json!([{"name": "n", "op": "count"}]),
    )
}

/// Values of one count column by group (`None` where not shown).
type Column = BTreeMap<String, Option<i64>>;

fn column(rows: &Rows, m: &str) -> Column {
    rows.iter()
        .map(|(g, r)| (g.clone(), count_of(r, m)))
        .collect()
}

/// One differencing attack: what the attacker can say of each target cell.
#[derive(Default, Debug)]
struct Attack {
    /// Target cells (true value 1–2) the attack was tried on.
    attempts: usize,
    /// Targets whose value the published numbers pin down with certainty.
    certain: Vec<String>,
    /// Targets whose naive point estimate happens to be right.
    lucky: usize,
}

impl Attack {
    /// `possible`: the values consistent with everything published; `guess`:
    /// the naive estimate; `truth`: the real value (only targets of 1–2).
    fn judge(&mut self, what: String, possible: &BTreeSet<i64>, guess: i64, truth: i64) {
        if !small(truth) {
            return;
        }
        self.attempts += 1;
        assert!(possible.contains(&truth), "{what}: the truth is consistent");
        if possible.len() == 1 {
            self.certain.push(format!("{what} = {truth}"));
        }
        self.lucky += (guess == truth) as usize;
    }
}

#[test]
fn differencing_overlapping_and_nested_tables_recovers_no_small_cell_with_certainty() {
    use chiiki_core::mesh::{parent, MeshLevel};
    let lab = lab(0);
    let base = lab.base.as_str();
    let a65 = single_count(&lab, "sec_a65_250m", "age >= 65", "250m");
    let a66 = single_count(&lab, "sec_a66_250m", "age >= 66", "250m");
    let a90 = single_count(&lab, "sec_a90_250m", "age >= 90", "250m");
    let a90p = single_count(&lab, "sec_a90_500m", "age >= 90", "500m");
    // Inclusion–exclusion: A, B, A OR B, A AND B in two tables.
    let (a, b) = ("age >= 85", "needs_support = TRUE");
    let ab = save_aggregate(
        &lab,
        "sec_ab_250m",
        None,
        "250m",
        json!([{"name": "a", "op": "count", "filter": a}, {"name": "b", "op": "count", "filter": b}]),
    );
    let either = save_aggregate(
        &lab,
        "sec_either_250m",
        None,
        "250m",
        json!([
            {"name": "a_or_b", "op": "count", "filter": format!("({a}) OR ({b})")},
            {"name": "a_and_b", "op": "count", "filter": format!("({a}) AND ({b})")},
        ]),
    );
    let tables = [&a65, &a66, &a90, &a90p];
    let exact: Vec<Column> = tables
        .iter()
        .map(|c| column(&rows(base, "admin", c), "n"))
        .collect();
    let seen: Vec<Column> = tables
        .iter()
        .map(|c| column(&rows(base, "analyst", c), "n"))
        .collect();
    for (e, s) in exact.iter().zip(&seen) {
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            s.keys().collect::<Vec<_>>(),
            "the analyst sees every group (no `having`)"
        );
        for (g, v) in s {
            let (p, t) = (v.unwrap(), e[g].unwrap());
            assert!(!small(p) && truths(p).contains(&t), "{g}: {p} for {t}");
        }
    }
    let get = |c: &Column, g: &str| c.get(g).copied().flatten().unwrap_or(0);
    let children_of = |code: &str, fine: &Column| -> Vec<String> {
        fine.keys()
            .filter(|g| {
                parent(g.parse().unwrap(), MeshLevel::M500m).map(|p| p.to_string())
                    == Some(code.to_string())
            })
            .cloned()
            .collect()
    };

    // 1. 65+ minus 66+: the people aged exactly 65 in a cell.
    let mut diff = Attack::default();
    for g in exact[0].keys() {
        let (p65, p66) = (get(&seen[0], g), get(&seen[1], g));
        let possible: BTreeSet<i64> = combine(&truths(p65), &truths(p66), -1)
            .into_iter()
            .filter(|v| *v >= 0)
            .collect();
        let truth = get(&exact[0], g) - get(&exact[1], g);
        diff.judge(format!("{g}: 65+ minus 66+"), &possible, p65 - p66, truth);
    }
    // 2. A 500 m cell minus three of its 250 m children: the fourth.
    let mut nested = Attack::default();
    for (code, p) in &seen[3] {
        let children = children_of(code, &exact[2]);
        for target in &children {
            let mut possible = truths(p.unwrap());
            let mut guess = p.unwrap();
            for other in children.iter().filter(|c| *c != target) {
                possible = combine(&possible, &truths(get(&seen[2], other)), -1);
                guess -= get(&seen[2], other);
            }
            // Intersected with what the child's own published value allows.
            let own = truths(get(&seen[2], target));
            let possible: BTreeSet<i64> = possible.intersection(&own).copied().collect();
            nested.judge(
                format!("{target}: its 500 m cell minus its siblings"),
                &possible,
                guess,
                get(&exact[2], target),
            );
        }
    }
    // 3. a + b − (a OR b) = a AND b, against its own published value.
    let (e_ab, s_ab) = (rows(base, "admin", &ab), rows(base, "analyst", &ab));
    let (e_ei, s_ei) = (rows(base, "admin", &either), rows(base, "analyst", &either));
    let mut incl = Attack::default();
    for (g, s) in &s_ab {
        let p = |r: &Rows, m: &str| r.get(g).and_then(|r| count_of(r, m)).unwrap_or(0);
        let derived = combine(
            &combine(&truths(p(&s_ab, "a")), &truths(p(&s_ab, "b")), 1),
            &truths(p(&s_ei, "a_or_b")),
            -1,
        );
        let own = truths(p(&s_ei, "a_and_b"));
        let possible: BTreeSet<i64> = derived.intersection(&own).copied().collect();
        let guess = count_of(s, "a").unwrap() + count_of(s, "b").unwrap() - p(&s_ei, "a_or_b");
        incl.judge(
            format!("{g}: a + b − (a OR b)"),
            &possible,
            guess,
            p(&e_ei, "a_and_b"),
        );
        assert_eq!(
            p(&e_ab, "a") + p(&e_ab, "b") - p(&e_ei, "a_or_b"),
            p(&e_ei, "a_and_b"),
            "{g}: on exact values the identity holds"
        );
    }
    let attacks = [
        ("65+ minus 66+ per 250 m cell", &diff),
        ("500 m cells minus their 250 m children", &nested),
        ("inclusion–exclusion", &incl),
    ];
    for (name, a) in &attacks {
        println!(
            "differencing: {name}: {} small targets, {} recovered with certainty, {} naive guesses right by chance",
            a.attempts,
            a.certain.len(),
            a.lucky
        );
        for c in a.certain.iter().take(10) {
            println!("  RECOVERED {c}");
        }
    }
    assert!(attacks.iter().all(|(_, a)| a.attempts > 0), "{attacks:?}");
    assert!(attacks.iter().all(|(_, a)| a.certain.is_empty()));
}

/// A flag summed is a count, and is published as one: the same value as a
/// count of the same people. A sum or mean of anything else (a magnitude)
/// is not shown below exact aggregates, so a sum of ones cannot stand in
/// for a count either.
#[test]
fn sums_of_flags_are_counts_and_magnitudes_are_withheld() {
    let lab = lab(0);
    let main = "age < 95 AND score = 1.0";
    let c = save_aggregate(
        &lab,
        "sec_sum_250m",
        None,
        "250m",
        json!([
            {"name": "n_support", "op": "count", "filter": "needs_support = TRUE AND flood_depth_rank IS NULL"},
            {"name": "s_support", "op": "sum", "column": "needs_support", "filter": "flood_depth_rank IS NULL"},
            {"name": "m_support", "op": "mean", "column": "needs_support", "filter": "flood_depth_rank IS NULL"},
            {"name": "n_main", "op": "count", "filter": main},
            {"name": "s_main", "op": "sum", "column": "score", "filter": main},
        ]),
    );
    let exact = rows(&lab.base, "admin", &c);
    let seen = rows(&lab.base, "analyst", &c);
    let mut checked = 0;
    for (g, e) in &exact {
        let s = &seen[g];
        // Exact for admin: the sum of the flag is its count.
        assert_eq!(count_of(e, "s_support"), count_of(e, "n_support"), "{g}");
        let (sum, count) = (count_of(s, "s_support"), count_of(s, "n_support"));
        assert_eq!(sum, count, "{g}: the same people, the same published value");
        assert!(!small(sum.unwrap()), "{g}: {sum:?}");
        assert!(s["s_main"].is_null(), "{g}: a magnitude shown: {s:?}");
        checked += 1;
    }
    println!("sums: {checked} cells: a flag's sum is published as its count; sums of other attributes withheld from the analyst");
    assert!(checked > 50);
    // Sums of identifiers, dates and ids are refused, naming the measure.
    for (column, caller) in [
        ("birth_date", "admin"),
        ("resident_id", "planner"),
        ("household_id", "planner"),
        ("name", "admin"),
    ] {
        let body = json!({
            "id": format!("sec_sum_{column}"), "title": "t", "roles": [caller],
            "kind": "aggregate", "source": {"layer": "residents"}, "to": {"mesh": "125m"},
            "measures": [{"name": "leak", "op": "sum", "column": column}],
        });
        let v = assert_error(&post_analysis_at(&lab.base, caller, &body), 400, column);
        let d = v["description"].as_str().unwrap();
        assert!(d.contains("'leak'"), "{column}: {d}");
    }
}

// ---------------------------------------------------------------- insiders

/// A resident as admin reads them: their id, name and 住民票コード.
fn resident(base: &str, fid: i64) -> (String, String) {
    let v = get_ok_at(
        base,
        "admin",
        &format!("/collections/residents/items/{fid}?properties=name,resident_id"),
    );
    let p = &v["properties"];
    (
        p["name"].as_str().unwrap().to_string(),
        p["resident_id"].as_str().unwrap().to_string(),
    )
}

fn aggregate_body(id: &str, roles: Value, source: Value, to: Value, measures: Value) -> Value {
    json!({"id": id, "title": "insider", "roles": roles, "kind": "aggregate",
           "source": source, "to": to, "measures": measures})
}

/// The demo's planner tries, with the documented API, each way an insider
/// could widen what they see or publish it; every attempt fails, and what
/// the planner's analyses count is exactly what the planner may read.
#[test]
fn an_insider_planner_cannot_widen_publish_or_single_out() {
    let lab = lab(0);
    let base = lab.base.as_str();
    let reg = registry();
    let mut planner_fids: Vec<i64> = reg
        .planner_rows
        .iter()
        .filter(|(_, &ok)| ok)
        .map(|(&f, _)| f)
        .collect();
    planner_fids.sort();
    let outside = *reg
        .planner_rows
        .iter()
        .find(|(_, &ok)| !ok)
        .map(|(f, _)| f)
        .unwrap();
    let inside = planner_fids[planner_fids.len() / 2];
    let (outside_name, outside_code) = resident(base, outside);
    let (inside_name, _) = resident(base, inside);
    let count = json!([{"name": "n", "op": "count"}]);
    let people = json!({"layer": "residents"});
    let mut refused = 0;
    let mut refuse = |caller: &str, body: Value, status: u16, needle: &str| {
        let r = post_analysis_at(base, caller, &body);
        let v = assert_error(&r, status, &format!("{caller}: {}", body["id"]));
        let d = v["description"].as_str().unwrap().to_string();
        assert!(
            d.contains(needle),
            "{}: '{d}' should mention '{needle}'",
            body["id"]
        );
        assert!(
            !d.contains(&outside_name),
            "the error names no resident: {d}"
        );
        refused += 1;
    };

    // 1. Publishing: the public role by name, an unknown role, the flag.
    for roles in [json!(["planner", "public"]), json!(["planner", "Public "])] {
        let body = aggregate_body(
            "ins_pub",
            roles,
            people.clone(),
            json!({"mesh": "250m"}),
            count.clone(),
        );
        refuse("planner", body, 400, "roles");
    }
    let mut flagged = aggregate_body(
        "ins_flag",
        json!(["planner"]),
        people.clone(),
        json!({"mesh": "250m"}),
        count.clone(),
    );
    flagged["public"] = true.into();
    refuse("planner", flagged, 403, "public");
    // Keys copied from people: to a person-level analysis keyed by
    // 住民票コード, or to an aggregate of people — for admin too.
    for caller in ["planner", "admin"] {
        for (target, key) in [
            ("elderly_in_flood", "resident_id"),
            ("aging_mesh_250m", "mesh_code"),
        ] {
            let body = aggregate_body(
                &format!("ins_key_{caller}_{target}"),
                json!([caller]),
                json!({"layer": "shelters_evacuation"}),
                json!({"layer": target, "key": key}),
                count.clone(),
            );
            refuse(caller, body, 400, "computed from people");
        }
    }

    // 2. Singling out: a name or a code in a measure's or the source's
    // filter, directly or through a nested list picked by name.
    for name in [&outside_name, &inside_name] {
        let body = aggregate_body(
            "ins_name",
            json!(["planner", "analyst"]),
            people.clone(),
            json!({"mesh": "125m"}),
            json!([{"name": "n", "op": "count"},
                   {"name": "who", "op": "count", "filter": format!("name = '{name}'")}]),
        );
        refuse("planner", body, 400, "'who'");
    }
    let body = aggregate_body(
        "ins_code",
        json!(["planner"]),
        json!({"layer": "residents", "filter": format!("resident_id = '{outside_code}'")}),
        json!({"mesh": "125m"}),
        count.clone(),
    );
    refuse("planner", body, 400, "resident_id");
    let list = json!({"id": "ins_named_list", "title": "t", "roles": ["planner"], "kind": "join",
        "left": {"layer": "residents", "filter": format!("name = '{inside_name}'")},
        "right": {"layer": "shelters_evacuation"}, "relation": {"type": "nearest", "max_metres": 2000.0}});
    assert_eq!(
        post_analysis_at(base, "planner", &list).status,
        201,
        "a planner's own list by name"
    );
    let body = aggregate_body(
        "ins_nested",
        json!(["planner", "analyst"]),
        json!({"layer": "ins_named_list"}),
        json!({"mesh": "250m"}),
        count.clone(),
    );
    refuse("planner", body, 400, "identifier");
    // An input the planner may not read does not exist for it.
    let health_only = json!({"id": "ins_health_only", "title": "t", "roles": ["health"], "kind": "join",
        "left": {"layer": "residents", "filter": "age >= 95"}, "right": {"layer": "flood_depth"},
        "relation": {"type": "within"}});
    assert_eq!(post_analysis_at(base, "admin", &health_only).status, 201);
    let body = aggregate_body(
        "ins_borrow",
        json!(["planner"]),
        json!({"layer": "ins_health_only"}),
        json!({"mesh": "250m"}),
        count.clone(),
    );
    refuse(
        "planner",
        body,
        400,
        "no layer or analysis 'ins_health_only'",
    );
    // 3. Duplicate names, and names that clash with the group's key.
    let body = aggregate_body(
        "ins_dup",
        json!(["planner", "analyst"]),
        people.clone(),
        json!({"mesh": "250m"}),
        json!([{"name": "both", "op": "count", "filter": "age >= 80"},
               {"name": "both", "op": "count", "filter": "age >= 81"}]),
    );
    refuse("planner", body, 400, "'both'");
    let body = aggregate_body(
        "ins_clash",
        json!(["planner"]),
        people.clone(),
        json!({"mesh": "250m"}),
        json!([{"name": "mesh_code", "op": "count"}]),
    );
    refuse("planner", body, 400, "'mesh_code'");

    // What the planner's own aggregate counts is its own rows: no more.
    let body = aggregate_body(
        "ins_mine",
        json!(["planner", "analyst"]),
        people.clone(),
        json!({"mesh": "250m"}),
        count.clone(),
    );
    assert_eq!(post_analysis_at(base, "planner", &body).status, 201);
    let c = catalogue(base)
        .into_iter()
        .find(|c| c.id == "ins_mine")
        .unwrap();
    let as_admin = column(&rows(base, "admin", &c), "n");
    let as_planner = column(&rows(base, "planner", &c), "n");
    assert_eq!(
        as_admin, as_planner,
        "the answer depends on its author, not its reader"
    );
    let counted: i64 = as_admin.values().flatten().sum();
    assert_eq!(
        counted as usize,
        planner_fids.len(),
        "exactly the planner's rows are counted"
    );
    assert!(counted < reg.residents as i64);
    // The analyst reads it perturbed, and the read is audited.
    for (g, v) in column(&rows(base, "analyst", &c), "n") {
        let p = v.unwrap();
        assert!(
            !small(p) && truths(p).contains(&as_admin[&g].unwrap()),
            "{g}"
        );
    }
    let log = std::fs::read_to_string(&lab.audit).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"role\":\"analyst\"")
            && l.contains("ins_mine")
            && l.contains("definition sha256:")),
        "the analyst's aggregate read is in the log"
    );
    // Which analyses read a resident: the log answers from the computations.
    let out = common::run_ok(&[
        "audit",
        "analyses-read",
        &inside.to_string(),
        "--file",
        lab.audit.to_str().unwrap(),
    ]);
    assert!(
        out.contains("ins_mine") && out.contains("role planner"),
        "{out}"
    );
    let out = common::run_ok(&[
        "audit",
        "analyses-read",
        &outside.to_string(),
        "--file",
        lab.audit.to_str().unwrap(),
    ]);
    assert!(!out.contains("ins_mine"), "{out}");

    // 6. Headers, links and the log of searches.
    let r = get_at(
        base,
        "planner",
        &format!(
            "/collections/residents/items?limit=5&filter={}",
            form_urlencoded::byte_serialize(format!("name = '{inside_name}'").as_bytes())
                .collect::<String>()
        ),
    );
    assert_eq!(r.status, 200, "{}", short(&r.body));
    assert_eq!(r.cache_control.as_deref(), Some("no-store"));
    assert!(
        r.vary.iter().any(|v| v.contains("Authorization")),
        "{:?}",
        r.vary
    );
    let log = std::fs::read_to_string(&lab.audit).unwrap();
    assert!(
        !log.contains(&inside_name),
        "a searched name is in the log in clear"
    );
    let out = common::run_ok(&[
        "audit",
        "searched",
        &inside_name,
        "--file",
        lab.audit.to_str().unwrap(),
    ]);
    assert!(
        out.contains("role planner"),
        "the keyed hash finds the search: {out}"
    );
    let r = get_at(base, "analyst", "/collections/ins_mine/items?limit=1");
    assert_eq!(
        r.cache_control.as_deref(),
        Some("no-store"),
        "counts of people"
    );
    let r = get_at(base, "anonymous", "/collections/bunkyo_towns/items?limit=1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.cache_control.as_deref(),
        Some("no-cache"),
        "open data may be cached, and is revalidated by its ETag"
    );
    assert!(r.vary.iter().any(|v| v.contains("Authorization")));
    let forged = send(
        http()
            .get(format!("{base}/collections"))
            .header("Host", "evil.example.org"),
    );
    assert_eq!(forged.status, 200);
    assert!(
        !forged.body.contains("evil.example"),
        "links follow the Host header"
    );
    assert!(
        forged.body.contains(base),
        "links point to the bound address"
    );
    println!("insider: {refused} attempts by the planner (and admin where it applies) refused; its aggregate counts its own {} rows and nothing else; searches logged as keyed hashes", planner_fids.len());
}

// ------------------------------------------------------- property: no widening

mod generated {
    //! Random analysis definitions over the demo layers, saved by each role
    //! that may save, then read by every caller.

    use proptest::prelude::*;
    use serde_json::{json, Value};

    const FILTERS: [Option<&str>; 10] = [
        None,
        None,
        Some("age >= 65"),
        Some("age >= 85"),
        Some("needs_support = TRUE"),
        Some("sex = '女'"),
        Some("care_level IS NOT NULL"),
        Some("flood_depth_rank >= 2"),
        Some("name LIKE '%子'"),
        Some("resident_id = '1'"),
    ];
    const COLUMNS: [&str; 7] = [
        "needs_support",
        "disability",
        "score",
        "birth_date",
        "resident_id",
        "household_id",
        "flood_depth_rank",
    ];
    const NAMES: [&str; 5] = ["a", "b", "c", "a", "mesh_code"];
    const TARGETS: [(&str, Option<&str>); 6] = [
        ("125m", None),
        ("250m", None),
        ("500m", None),
        ("bunkyo_towns", Some("S_NAME")),
        ("elderly_in_flood", Some("resident_id")),
        ("aging_mesh_250m", Some("mesh_code")),
    ];
    const ROLES: [&str; 5] = ["planner", "health", "analyst", "public", "admin"];

    fn measure() -> impl Strategy<Value = Value> {
        (
            0..4usize,
            0..NAMES.len(),
            0..FILTERS.len(),
            0..COLUMNS.len(),
        )
            .prop_map(|(op, name, filter, column)| {
                let mut m = json!({"name": NAMES[name]});
                m["op"] = ["count", "sum", "mean", "share"][op].into();
                if matches!(op, 1 | 2) {
                    m["column"] = COLUMNS[column].into();
                }
                if let Some(f) = FILTERS[filter] {
                    m["filter"] = f.into();
                }
                m
            })
    }

    /// (author, definition).
    pub fn definition() -> impl Strategy<Value = (&'static str, Value)> {
        (
            prop_oneof![Just("planner"), Just("admin")],
            0..3usize,
            0..FILTERS.len(),
            0..TARGETS.len(),
            prop::collection::vec(measure(), 1..4),
            prop::collection::vec(0..ROLES.len(), 0..3),
            any::<bool>(),
        )
            .prop_map(
                |(author, source, filter, target, measures, roles, public)| {
                    let mut roles: Vec<&str> = roles.into_iter().map(|r| ROLES[r]).collect();
                    roles.push(author);
                    roles.dedup();
                    let source_layer =
                        ["residents", "residents_flood_rank", "elderly_in_flood"][source];
                    let mut src = json!({"layer": source_layer});
                    if let Some(f) = FILTERS[filter] {
                        src["filter"] = f
                            .replace(
                                "flood_depth_rank",
                                if source == 0 {
                                    "flood_depth_rank"
                                } else {
                                    "depth_rank"
                                },
                            )
                            .into();
                    }
                    let (t, key) = TARGETS[target];
                    let to = match key {
                        None => json!({"mesh": t}),
                        Some(k) => json!({"layer": t, "key": k}),
                    };
                    let body = json!({
                        "title": "generated", "roles": roles, "public": public && author == "admin",
                        "kind": "aggregate", "source": src, "to": to, "measures": measures,
                    });
                    (author, body)
                },
            )
    }

    /// A join over people, saved by its author for its own role.
    pub fn list() -> impl Strategy<Value = (&'static str, Value)> {
        (
            prop_oneof![Just("planner"), Just("admin")],
            0..FILTERS.len(),
            0..3usize,
        )
            .prop_map(|(author, filter, relation)| {
                let mut left = json!({"layer": "residents"});
                if let Some(f) = FILTERS[filter] {
                    left["filter"] = f.into();
                }
                let (right, relation) = [
                    ("flood_depth", json!({"type": "within"})),
                    (
                        "shelters_evacuation",
                        json!({"type": "nearest", "max_metres": 300.0}),
                    ),
                    (
                        "shelters_evacuation",
                        json!({"type": "beyond_distance", "metres": 300.0}),
                    ),
                ][relation]
                    .clone();
                (
                    author,
                    json!({"title": "generated", "roles": [author], "kind": "join",
                    "left": left, "right": {"layer": right}, "relation": relation}),
                )
            })
    }
}

/// What a generated analysis must satisfy for every caller: refused with a
/// 4xx (never a 5xx), or served so that no caller reads a row or field it
/// could not read of the inputs directly, and no count of 1–2 people
/// reaches a role below exact aggregates.
fn check_generated(lab: &Lab, n: usize, author: &str, mut body: Value) -> Result<bool, String> {
    let base = lab.base.as_str();
    let id = format!("gen_{n}");
    body["id"] = id.clone().into();
    let r = post_analysis_at(base, author, &body);
    if r.status != 201 {
        if !(400..500).contains(&r.status) || !error_problems(&r).is_empty() {
            return Err(format!("{id} by {author}: {} {}", r.status, short(&r.body)));
        }
        return Ok(false);
    }
    let reg = registry();
    let planner_count = reg.planner_rows.values().filter(|&&ok| ok).count() as i64;
    let c = catalogue(base)
        .into_iter()
        .find(|c| c.id == id)
        .ok_or("not listed")?;
    let truth = match c.kind {
        Kind::Aggregate => Some(rows(base, "admin", &c)),
        _ => None,
    };
    // Planners' aggregates count the planner's rows at most.
    if let (Some(t), "planner") = (&truth, author) {
        for m in &c.counts {
            let total: i64 = t.values().filter_map(|r| count_of(r, m)).sum();
            if total > planner_count {
                return Err(format!(
                    "{id}: {m} counts {total} > the planner's {planner_count} rows"
                ));
            }
        }
    }
    for caller in CALLERS {
        let path = format!("/collections/{id}/items?limit=10000");
        let r = get_at(base, caller, &path);
        let allowed = match c.kind {
            Kind::Aggregate => caller == "admin" || named(&c, caller),
            // Lists of people stay with their author's role (and admin).
            _ => caller == "admin" || role_of(caller) == author,
        };
        match (r.status, allowed) {
            (200, true) => {}
            (404, false) => continue,
            (s, _) => {
                return Err(format!(
                    "{id} for {caller}: status {s} (allowed: {allowed})"
                ))
            }
        }
        let v = r.json();
        for f in v["features"].as_array().unwrap() {
            let props = f["properties"].as_object().unwrap();
            for k in props.keys() {
                if c.kind == Kind::Aggregate && PERSONAL_KEYS.contains(&k.as_str()) {
                    return Err(format!("{id} for {caller}: field {k}"));
                }
                if c.kind == Kind::Person && forbidden_key(caller, &c, k) {
                    return Err(format!("{id} for {caller}: field {k}"));
                }
            }
            if c.kind == Kind::Person && caller == "planner" {
                let fid = f["id"].as_i64().unwrap_or(-1);
                if reg.planner_rows.get(&fid) != Some(&true) {
                    return Err(format!(
                        "{id}: planner reads resident {fid} outside its rows"
                    ));
                }
            }
            if let (Kind::Aggregate, true, Some(t)) = (c.kind, suppressed(caller), &truth) {
                let key = c.group_key.as_deref().unwrap();
                let group = match &props[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                for m in &c.counts {
                    let Some(p) = count_of(props, m) else {
                        continue;
                    };
                    if small(p) {
                        return Err(format!("{id} for {caller}: {group} {m} = {p}"));
                    }
                    if let Some(e) = t.get(&group).and_then(|r| count_of(r, m)) {
                        if !truths(p).contains(&e) {
                            return Err(format!("{id} for {caller}: {group} {m}: {p} for {e}"));
                        }
                    }
                }
            }
        }
    }
    Ok(true)
}

#[test]
fn generated_analyses_never_widen_what_any_role_reads() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let lab = lab(0);
    // A fixed seed: the run is reproducible; CHIIKI_PROPTEST_CASES widens it.
    let cases: usize = std::env::var("CHIIKI_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(40);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let (mut saved, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for n in 0..cases {
        let (author, body) = if n % 4 == 3 {
            generated::list().new_tree(&mut runner).unwrap().current()
        } else {
            generated::definition()
                .new_tree(&mut runner)
                .unwrap()
                .current()
        };
        match check_generated(&lab, n, author, body.clone()) {
            Ok(true) => saved += 1,
            Ok(false) => refused += 1,
            Err(e) => failures.push(format!("{e}\n    definition: {body}")),
        }
    }
    println!(
        "property: {cases} generated analyses ({saved} saved and read by {} callers each, {refused} refused with a 4xx), {} violations",
        CALLERS.len(),
        failures.len()
    );
    assert!(
        saved > 5 && refused > 5,
        "the generator explores both sides"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

// ------------------------------------------------------------------ tokens

fn status_with(token: &str, path: &str) -> Reply {
    send(http().get(server().url(path)).bearer_auth(token))
}

/// The answer to `token` on `path` just after it was revoked. From files
/// the service sees the revocation at the next request; from PostGIS it
/// hears it announced (NOTIFY), which may take a moment: asked until it is
/// refused, for at most 5 s (the most a replica may take).
fn after_revocation(token: &str, path: &str) -> Reply {
    let started = Instant::now();
    loop {
        let r = status_with(token, path);
        if r.status == 401 || !common::on_postgis() || started.elapsed() > Duration::from_secs(5) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_refused(r: &Reply, description: &str, context: &str) {
    let v = assert_error(r, 401, context);
    assert_eq!(v["code"], "Unauthorized", "{context}");
    assert_eq!(v["description"], description, "{context}");
    assert!(r.www_authenticate, "{context}: WWW-Authenticate");
}

#[test]
fn forged_expired_revoked_and_malformed_tokens_are_refused() {
    let s = server();
    let data = s.data.to_str().unwrap();
    let path = "/collections/bridge_inspections/items?limit=1";

    // Forged: the right shape, never issued.
    let forged = format!("chiiki_{}", hex::encode(rand::random::<[u8; 24]>()));
    assert_refused(&status_with(&forged, path), "unknown token", "forged");
    assert_refused(
        &status_with(&forged, "/"),
        "unknown token",
        "forged, landing",
    );
    // Malformed headers.
    for header in ["Basic xyz", "Bearer ", "Bearer", "token abc", "bearer"] {
        let r = send(http().get(s.url(path)).header("authorization", header));
        let v = assert_error(&r, 401, header);
        assert_eq!(v["code"], "Unauthorized");
    }
    let long = format!("Bearer {}", "a".repeat(5000));
    assert_error(
        &send(http().get(s.url(path)).header("authorization", long)),
        401,
        "a 5000-byte token",
    );

    let t = stamp();
    // Expiring in a few seconds.
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(8))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expiring_name = format!("sec-expiring-{t}");
    let out = common::run(&[
        "token",
        "create",
        "--data",
        data,
        "--name",
        &expiring_name,
        "--role",
        "analyst",
        "--expires",
        &expires,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the secret on stdout: {stdout}"
    );
    let expiring = stdout.trim().to_string();
    assert!(expiring.starts_with("chiiki_"), "{expiring}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&expiring),
        "the secret only on stdout"
    );
    let expiry = chrono::DateTime::parse_from_rfc3339(&expires).unwrap();
    let r = status_with(&expiring, path);
    assert!(
        chrono::Utc::now() < expiry,
        "the machine is too slow for this test"
    );
    assert_eq!(r.status, 200, "a fresh token works: {}", short(&r.body));

    // Revoked while the server runs.
    let revoked_name = format!("sec-revoked-{t}");
    let revoked = common::run_ok(&[
        "token",
        "create",
        "--data",
        data,
        "--name",
        &revoked_name,
        "--role",
        "planner",
        "--no-expiry",
    ])
    .trim()
    .to_string();
    let r = status_with(&revoked, path);
    assert_eq!(r.status, 200, "a new token works: {}", short(&r.body));
    let out = common::run_ok(&["token", "revoke", "--data", data, &revoked_name]);
    assert!(out.contains("revoked 1"), "{out}");
    assert_refused(
        &after_revocation(&revoked, path),
        "the token has been revoked",
        "revoked",
    );
    assert!(
        !common::run(&["token", "revoke", "--data", data, &revoked_name])
            .status
            .success(),
        "revoking twice finds nothing to revoke"
    );

    // Unknown roles are refused at creation.
    assert!(!common::run(&[
        "token",
        "create",
        "--data",
        data,
        "--name",
        "x",
        "--role",
        "superuser"
    ])
    .status
    .success());

    // Secrets are never listed nor stored.
    let list = common::run_ok(&["token", "list", "--data", data]);
    assert!(
        list.contains(&expiring_name) && list.contains(&revoked_name),
        "{list}"
    );
    assert!(list.contains("revoked"), "{list}");
    let stored = common::stored_tokens(&s.data);
    for secret in [&expiring, &revoked] {
        assert!(!list.contains(secret.as_str()), "token list shows a secret");
        assert!(
            !stored.contains(secret.as_str()),
            "tokens.json holds a secret"
        );
        assert!(
            !list.contains(&secret[7..20]),
            "token list shows part of a secret"
        );
    }

    // And the expiring one expires.
    let wait = (expiry.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    std::thread::sleep(wait + Duration::from_millis(1500));
    assert_refused(
        &status_with(&expiring, path),
        "the token has expired",
        "expired",
    );
    let list = common::run_ok(&["token", "list", "--data", data]);
    let line = list.lines().find(|l| l.contains(&expiring_name)).unwrap();
    assert!(line.contains("expired"), "{line}");
    println!(
        "tokens: forged, malformed (6 forms), expired and revoked tokens refused with 401; secrets never listed or stored"
    );
}

// ------------------------------------------------------------------- audit

/// Waits until the server has stopped appending to its log for a while
/// (it logs the analyses it computes at start-up, as it computes them).
fn settle(path: &Path) {
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    let mut last = (size(), Instant::now());
    while last.1.elapsed() < Duration::from_millis(2500)
        && started.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(250));
        let now = size();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
}

fn log_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// `chiiki audit verify` on a log: exit status and what it said.
fn verify(path: &Path) -> (bool, String) {
    let out = common::run(&["audit", "verify", "--file", path.to_str().unwrap()]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn personal_data_responses_are_audited_in_a_tamper_evident_chain() {
    let lab = lab(0);
    let base = lab.base.as_str();
    let log = lab.audit.clone();
    settle(&log);
    let before = log_lines(&log).len();
    let offset = 1234;

    let list_path = format!("/collections/residents/items?limit=37&offset={offset}");
    let page = get_ok_at(base, "planner", &list_path);
    let fids: Vec<i64> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(fids.len(), 37);
    let item_path = format!("/collections/residents/items/{}", fids[0]);
    get_ok_at(base, "planner", &item_path);
    let health_path = "/collections/care_outreach_flood/items?limit=5";
    get_ok_at(base, "health", health_path);
    let derived_path = "/collections/risky_pipes_near_support/items?limit=3";
    get_ok_at(base, "planner", derived_path);

    // Counts of people are logged with their definition; open layers and
    // refusals are not.
    get_ok_at(
        base,
        "analyst",
        "/collections/aging_mesh_250m/items?limit=100",
    );
    let csv = get_at(
        base,
        "analyst",
        "/collections/flood_exposure_by_town/items?limit=100&f=csv",
    );
    assert_eq!(csv.status, 200);
    get_ok_at(
        base,
        "health",
        "/collections/vaccination_gaps_250m/items?limit=100",
    );
    get_ok_at(
        base,
        "admin",
        "/collections/aging_mesh_250m/items?limit=100",
    );
    get_ok_at(base, "public", "/collections/flood_depth/items?limit=5");
    get_ok_at(base, "anonymous", "/collections/flood_depth/items?limit=5");
    for (caller, path) in [
        ("analyst", "/collections/residents/items"),
        ("anonymous", "/collections/residents/items"),
        ("health", "/collections/elderly_in_flood/items"),
    ] {
        assert_eq!(get_at(base, caller, path).status, 404, "{caller} {path}");
    }

    settle(&log);
    let lines = log_lines(&log);
    let all_new: Vec<Value> = lines[before..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Responses (the service also logs the analyses it computes, whenever
    // it computes them).
    let new: Vec<&Value> = all_new
        .iter()
        .filter(|e| e["request"].as_str().unwrap().starts_with("GET "))
        .collect();
    let summary: Vec<(String, String, String, i64)> = new
        .iter()
        .map(|e| {
            let request = e["request"].as_str().unwrap();
            (
                e["role"].as_str().unwrap().to_string(),
                e["collection"].as_str().unwrap().to_string(),
                request.split(" [definition").next().unwrap().to_string(),
                e["records"].as_i64().unwrap(),
            )
        })
        .collect();
    // A single record's request names it by the keyed hash of its id, as
    // `ids` do: the log never holds a 住民票コード.
    let item_logged = format!(
        "GET /collections/residents/items/#{}",
        new[1]["ids"][0].as_str().unwrap_or("?")
    );
    assert!(!item_logged.contains(&fids[0].to_string()));
    let expected: Vec<(String, String, String, i64)> = vec![
        (
            "planner".into(),
            "residents".into(),
            format!("GET {list_path}"),
            37,
        ),
        ("planner".into(), "residents".into(), item_logged.clone(), 1),
        (
            "health".into(),
            "care_outreach_flood".into(),
            format!("GET {health_path}"),
            5,
        ),
        (
            "planner".into(),
            "risky_pipes_near_support".into(),
            format!("GET {derived_path}"),
            3,
        ),
        (
            "analyst".into(),
            "aging_mesh_250m".into(),
            "GET /collections/aging_mesh_250m/items?limit=100".into(),
            0,
        ),
        (
            "analyst".into(),
            "flood_exposure_by_town".into(),
            "GET /collections/flood_exposure_by_town/items?limit=100&f=csv".into(),
            0,
        ),
        (
            "health".into(),
            "vaccination_gaps_250m".into(),
            "GET /collections/vaccination_gaps_250m/items?limit=100".into(),
            0,
        ),
        (
            "admin".into(),
            "aging_mesh_250m".into(),
            "GET /collections/aging_mesh_250m/items?limit=100".into(),
            0,
        ),
    ];
    assert_eq!(
        summary, expected,
        "exactly the four personal-data responses and the four of counts of people (to any role) are logged, none for open layers or refusals"
    );
    for e in &new[4..] {
        assert!(
            e["request"]
                .as_str()
                .unwrap()
                .contains("[definition sha256:"),
            "{e}"
        );
    }
    let first = &new[0];
    // The log names a token by its public id; the config's demo tokens
    // have theirs in the token file, derived from their hash.
    let stored: serde_json::Value =
        serde_json::from_str(&common::stored_tokens(&server().data)).unwrap();
    let id_of = |name: &str| {
        stored["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name && t["source"] == "config")
            .map(|t| t["id"].clone())
            .unwrap_or_else(|| panic!("{name} is not in tokens.json"))
    };
    assert_eq!(first["token"], id_of("demo-planner"));
    assert_eq!(new[2]["token"], id_of("demo-health"));
    assert_eq!(first["ids"].as_array().unwrap().len(), 37);
    for fid in &fids {
        assert!(
            !lines[before].contains(&fid.to_string()),
            "the log lists 住民票コード only as keyed hashes"
        );
    }
    let time = chrono::DateTime::parse_from_rfc3339(first["time"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - time.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 120
    );
    for w in all_new.windows(2) {
        assert_eq!(w[1]["prev"], w[0]["hash"], "chained");
        assert_eq!(
            w[1]["seq"].as_i64().unwrap(),
            w[0]["seq"].as_i64().unwrap() + 1
        );
    }
    for e in &all_new {
        if matches!(e["role"].as_str(), Some("analyst" | "public")) {
            assert_eq!(
                e["records"], 0,
                "roles without record rights never receive personal data: {e}"
            );
        }
    }

    // The live log verifies.
    let (ok, said) = verify(&log);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("{} entries, chain intact", lines.len())),
        "{said}"
    );

    // Who saw a resident.
    let out = common::run_ok(&[
        "audit",
        "who-saw",
        &fids[0].to_string(),
        "--file",
        log.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!("GET {list_path}")) && out.contains(&item_logged),
        "{out}"
    );
    assert!(
        out.contains("role planner")
            && out.contains(&format!(
                "token {}",
                id_of("demo-planner").as_str().unwrap()
            )),
        "{out}"
    );
    let unseen = common::run_ok(&[
        "audit",
        "who-saw",
        "999999999999",
        "--file",
        log.to_str().unwrap(),
    ]);
    assert!(
        unseen.trim().is_empty(),
        "nobody saw that resident: {unseen}"
    );

    // Tampering with copies.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("audit.jsonl");
    let head = dir.path().join("audit.jsonl.head");
    // A few more entries, so that there is a middle.
    for offset in [0, 10, 20, 30] {
        get_ok_at(
            base,
            "planner",
            &format!("/collections/residents/items?limit=3&offset={offset}"),
        );
    }
    let lines = log_lines(&log);
    let audit_dir = log.parent().unwrap();
    std::fs::copy(audit_dir.join("audit.jsonl.head"), &head).unwrap();
    std::fs::copy(audit_dir.join("audit.key"), dir.path().join("audit.key")).unwrap();
    let n = lines.len();
    assert!(n >= 8, "{n} entries");
    let m = n / 2; // a middle line, 1-based: lines[m - 1]
    let write = |ls: &[String]| std::fs::write(&copy, ls.join("\n") + "\n").unwrap();
    write(&lines);
    let (ok, said) = verify(&copy);
    assert!(ok, "an untouched copy verifies: {said}");

    let mut edited = lines.clone();
    let line = &edited[m - 1];
    let at = line.find("\"records\":").unwrap() + "\"records\":".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let bumped = (digits.parse::<u64>().unwrap() + 1).to_string();
    edited[m - 1] = format!("{}{bumped}{}", &line[..at], &line[at + digits.len()..]);
    let mut deleted = lines.clone();
    deleted.remove(m - 1);
    let mut swapped = lines.clone();
    swapped.swap(m - 1, m);
    let cut = lines[..n - 1].to_vec();
    let mut tampered = 0;
    for (what, ls, names) in [
        (
            "one field of a middle line edited",
            edited,
            format!("line {m}"),
        ),
        ("a middle line deleted", deleted, format!("line {m}")),
        ("two lines swapped", swapped, format!("line {m}")),
        ("the last line cut off", cut, "end".to_string()),
    ] {
        write(&ls);
        let (ok, said) = verify(&copy);
        assert!(!ok, "{what}: verify passed: {said}");
        assert!(
            said.contains(&names),
            "{what}: the message names {names}: {said}"
        );
        tampered += 1;
    }
    write(&lines);
    assert!(verify(&copy).0, "restored");
    let (ok, said) = verify(&log);
    assert!(ok, "the live log after more entries: {said}");
    println!(
        "audit: 4 personal-data responses logged (planner list of 37, planner item, health list of 5, derived pipes), 0 for aggregates, open layers and refusals; live chain intact; who-saw finds the planner's requests; {tampered} of 4 tamperings of a copy of {n} entries detected"
    );
}

// ------------------------------------------------------------------ limits

#[test]
fn malformed_and_oversized_requests_get_json_errors() {
    let mut cases = 0;
    let mut check = |r: Reply, status: u16, context: &str| -> Value {
        cases += 1;
        assert_error(&r, status, context)
    };

    // URL, body and filter sizes.
    let long = "x".repeat(9000);
    check(
        get_as(
            "analyst",
            &format!("/collections/flood_depth/items?filter={long}"),
        ),
        414,
        "a 9000-byte query string",
    );
    check(
        get_as(
            "anonymous",
            &format!("/collections/flood_depth/items?f=json&{long}=1"),
        ),
        414,
        "a 9000-byte parameter name",
    );
    let big = json!({"id": "too_big", "description": "x".repeat(70_000)}).to_string();
    check(
        send(
            request(Method::POST, "admin", "/analyses")
                .header("content-type", "application/json")
                .body(big.clone()),
        ),
        413,
        "a 70 kB body",
    );
    // Without a Content-Length (chunked), the limit holds while reading.
    check(
        send(
            request(Method::POST, "admin", "/analyses")
                .header("content-type", "application/json")
                .body(reqwest::blocking::Body::new(std::io::Cursor::new(
                    big.into_bytes(),
                ))),
        ),
        413,
        "a 70 kB chunked body",
    );
    let terms: Vec<String> = (0..130).map(|i| format!("depth_rank={i}")).collect();
    let r = send(
        request(Method::GET, "anonymous", "/collections/flood_depth/items")
            .query(&[("filter", terms.join(" OR "))]),
    );
    let v = check(r, 400, "a filter of 130 comparisons");
    assert!(v["description"].as_str().unwrap().contains("256"), "{v}");
    let body = json!({
        "id": "too_many_terms", "title": "t", "roles": ["planner"], "kind": "aggregate",
        "source": {"layer": "residents", "filter": terms.join(" OR ")},
        "to": {"mesh": "250m"}, "measures": [{"name": "n", "op": "count"}],
    });
    check(
        post_analysis("planner", &body),
        400,
        "an analysis filter of 259 terms",
    );

    // Malformed input.
    for (body, what) in [
        ("{\"id\": ", "truncated JSON"),
        ("not json", "not JSON"),
        ("[]", "JSON that is no analysis"),
        ("{\"id\": \"x\"}", "an analysis without a kind"),
        ("\u{feff}{}", "a byte-order mark"),
    ] {
        check(
            send(
                request(Method::POST, "admin", "/analyses")
                    .header("content-type", "application/json")
                    .body(body),
            ),
            400,
            what,
        );
    }
    let r = send(
        request(Method::GET, "anonymous", "/collections/flood_depth/items")
            .query(&[("filter", "depth_rank = = 3")]),
    );
    let v = check(r, 400, "bad CQL2");
    assert!(
        v["description"].as_str().unwrap().contains("character 14"),
        "names the position: {v}"
    );
    for (path, what) in [
        (
            "/collections/flood_depth/items?filter=%FF%FE",
            "a filter that is not UTF-8",
        ),
        (
            "/collections/flood_depth/items?filter=depth_rank%20%3E%20'",
            "an open string",
        ),
        (
            "/collections/flood_depth/items?filter=((((((((((depth_rank",
            "unbalanced parentheses",
        ),
        ("/collections/flood_depth/items?limit=0", "limit=0"),
        (
            "/collections/flood_depth/items?limit=-1",
            "a negative limit",
        ),
        ("/collections/flood_depth/items?limit=1e9", "limit=1e9"),
        ("/collections/flood_depth/items?offset=x", "a bad offset"),
        (
            "/collections/flood_depth/items?bbox=1,2,3",
            "a bbox of three numbers",
        ),
        (
            "/collections/flood_depth/items?bbox=NaN,0,1,1",
            "a bbox with NaN",
        ),
        (
            "/collections/flood_depth/items?crs=EPSG:99999",
            "an unknown CRS",
        ),
        (
            "/collections/flood_depth/items?datetime=yesterday",
            "a bad datetime",
        ),
        ("/collections/flood_depth/items?f=xml", "an unknown format"),
        (
            "/collections/flood_depth/items?no_such_param=1",
            "an unknown parameter",
        ),
        (
            "/collections/flood_depth/items?properties=no_such",
            "an unknown property",
        ),
        ("/collections?f=xml", "an unknown format on /collections"),
    ] {
        check(get_as("anonymous", path), 400, what);
    }

    // Unknown things and wrong methods.
    for (path, what) in [
        ("/nope", "an unknown route"),
        ("/collections/nope", "an unknown collection"),
        ("/collections/nope/items", "items of an unknown collection"),
        (
            "/collections/flood_depth/items/999999999",
            "an unknown feature",
        ),
        (
            "/collections/flood_depth/items/abc",
            "a feature id that is no number",
        ),
        (
            "/collections/..%2F..%2Fetc%2Fpasswd/items",
            "a path in the collection id",
        ),
        (
            "/collections/flood_depth/items/1/more",
            "a path below a feature",
        ),
    ] {
        check(get_as("anonymous", path), 404, what);
    }
    for (method, path) in [
        (Method::DELETE, "/collections"),
        (Method::POST, "/collections"),
        (Method::PUT, "/analyses"),
        (Method::DELETE, "/collections/flood_depth/items/1"),
        (Method::PATCH, "/"),
    ] {
        let what = format!("{method} {path}");
        check(send(request(method, "admin", path)), 405, &what);
    }

    // Analyses may read only files inside the data directory, and say
    // nothing of where that is.
    for (file, what) in [
        ("../../../etc/passwd", "a table outside the data directory"),
        ("/etc/passwd", "an absolute table path"),
        ("synthetic/no_such.csv", "a missing table"),
        ("tokens.json", "a file that is not a CSV table"),
    ] {
        let body = json!({
            "id": format!("sec_table_{}", stamp()), "title": "t", "roles": ["planner"], "kind": "aggregate",
            "source": {"layer": "residents", "filter": "age >= 65"}, "to": {"mesh": "250m"},
            "table": {"file": file, "column": "住民票コード", "key": "resident_id"},
            "measures": [{"name": "n", "op": "count", "in_table": true}],
        });
        check(post_analysis("admin", &body), 400, what);
    }
    let body = json!({
        "id": "../escape", "title": "t", "roles": ["planner"], "kind": "aggregate",
        "source": {"layer": "residents"}, "to": {"mesh": "250m"}, "measures": [{"name": "n", "op": "count"}],
    });
    check(post_analysis("admin", &body), 400, "an id with a path");
    // Grouping by a layer of people would publish their attributes as keys.
    let body = json!({
        "id": format!("sec_group_by_people_{}", stamp()), "title": "t", "roles": ["analyst"],
        "kind": "aggregate", "source": {"layer": "residents"},
        "to": {"layer": "residents", "key": "name"}, "measures": [{"name": "n", "op": "count"}],
    });
    check(
        post_analysis("admin", &body),
        400,
        "grouping by the residents' names",
    );

    // `limit` above the maximum is clamped, not refused.
    let v = get_ok("anonymous", "/collections/flood_depth/items?limit=20000");
    let self_link = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(self_link.contains("limit=10000"), "{self_link}");
    {
        let _serial = serial(); // residents responses are audited
        let r = get_as(
            "admin",
            "/collections/residents/items?limit=20000&f=csv&properties=town",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body.lines().count(), 1 + 10_000, "clamped to 10000 rows");
    }

    // Still serving.
    let r = get_as("anonymous", "/");
    assert_eq!(r.status, 200);
    println!("limits: {cases} malformed, oversized or misdirected requests answered 4xx with JSON errors and no internal paths; limit clamped to 10000; the server still answers");
}

/// What the service refuses to save, and filters that would probe fields
/// a role does not see.
#[test]
fn saved_analyses_and_filters_cannot_widen_access() {
    let _serial = serial(); // health's list is audited
    let people = json!({
        "id": format!("sec_list_{}", stamp()), "title": "t", "roles": ["planner", "health"],
        "kind": "join",
        "left": {"layer": "residents", "filter": "needs_support = TRUE"},
        "right": {"layer": "flood_depth"}, "relation": {"type": "within"},
    });
    let v = assert_error(
        &post_analysis("planner", &people),
        403,
        "planner grants a list to health",
    );
    assert!(v["description"].as_str().unwrap().contains("health"), "{v}");
    let mut to_analyst = people.clone();
    to_analyst["roles"] = json!(["analyst"]);
    assert_error(
        &post_analysis("planner", &to_analyst),
        403,
        "planner grants a list to analyst",
    );
    let derived = json!({
        "id": format!("sec_pipes_{}", stamp()), "title": "t", "roles": ["planner", "analyst"],
        "kind": "join",
        "left": {"layer": "pipes"},
        "right": {"layer": "residents", "filter": "needs_support = TRUE"},
        "relation": {"type": "within_distance", "metres": 30.0},
    });
    assert_error(
        &post_analysis("planner", &derived),
        403,
        "planner grants derived pipes to analyst",
    );
    let public = json!({
        "id": format!("sec_public_{}", stamp()), "title": "t", "roles": ["planner"], "public": true,
        "kind": "aggregate", "source": {"layer": "residents"}, "to": {"mesh": "250m"},
        "measures": [{"name": "n", "op": "count"}],
    });
    assert_error(&post_analysis("planner", &public), 403, "planner publishes");
    for caller in ["health", "analyst", "public"] {
        assert_error(&post_analysis(caller, &public), 403, caller);
    }
    assert_error(&post_analysis("anonymous", &public), 401, "anonymous");

    // Health reads its list with names, but cannot filter or select on what
    // it does not see.
    let base = "/collections/care_outreach_flood/items";
    for query in [
        "filter=birth_date%20%3C%20DATE('1940-01-01')",
        "filter=age%20%3E%3D%2090",
        "filter=resident_id%20%3D%20'1'",
        "filter=household_id%20IS%20NOT%20NULL",
        "properties=resident_id",
        "properties=birth_date",
        "resident_id=10000000001",
        "birth_date=1930-01-01",
    ] {
        let r = get_as("health", &format!("{base}?{query}"));
        assert_error(&r, 400, &format!("health: {query}"));
    }
    assert_eq!(get_as("health", &format!("{base}?limit=1")).status, 200);
    // The analyst cannot probe people through a filter either.
    let r = get_as(
        "analyst",
        "/collections/residents/items?filter=name%20LIKE%20'%25'",
    );
    assert_error(&r, 404, "analyst filters residents");
    // The planner's filter applies to its own view only.
    let v = get_ok(
        "planner",
        "/collections/residents/items?limit=1&filter=needs_support%20%3D%20FALSE%20AND%20flood_depth_rank%20IS%20NULL",
    );
    assert_eq!(
        v["numberMatched"], 0,
        "no resident outside the planner's rows"
    );
    println!("saving: planners cannot grant lists of people or derived layers to other roles nor publish; filters on unseen fields are refused");
}

// -------------------------------------------------------------- rate limit

#[test]
fn requests_per_token_per_minute_are_limited() {
    let lab = lab(5);
    let ask = |caller: &str| get_at(&lab.base, caller, "/collections/bridges/items?limit=1");
    // Fixed one-minute windows: a window may turn over once meanwhile.
    let mut ok = 0;
    let limited = loop {
        let r = ask("analyst");
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 200, "{}", short(&r.body));
        ok += 1;
        assert!(ok <= 10, "no 429 after {ok} requests at 5 per minute");
    };
    assert!(ok >= 5, "{ok} requests passed before the limit");
    let v = assert_error(&limited, 429, "over the limit");
    assert_eq!(v["code"], "TooManyRequests");
    let wait: u64 = limited
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    // Per token: another token still gets through.
    assert_eq!(ask("admin").status, 200);
    println!(
        "rate limit: at 5 per minute, request {} of a token is refused with 429 and Retry-After {wait} s; other tokens unaffected",
        ok + 1
    );
}
