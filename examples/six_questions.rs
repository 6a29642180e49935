//! The six questions of the demo city, each one HTTP request to a saved
//! analysis. Start the demo (`scripts/demo.sh`), then:
//!
//! ```sh
//! cargo run --release --example six_questions -- http://127.0.0.1:8080 demo-data/demo-tokens.json
//! ```
//!
//! Prints, for each question, the request, the number of features in the
//! answer and the best of five response times for its first page.

use std::time::Instant;

use anyhow::{Context, Result};

const QUESTIONS: [(&str, &str, &str); 8] = [
    (
        "1",
        "65歳以上・要支援者 in zones ≥ 0.5 m, deepest first",
        "elderly_in_flood",
    ),
    ("2", "250 m meshes with 高齢化率 ≥ 40 %", "aging_mesh_250m"),
    (
        "3",
        "250 m meshes with low shingles uptake (65+)",
        "vaccination_gaps_250m",
    ),
    (
        "4",
        "65+ beyond 300 m of every evacuation shelter",
        "elderly_beyond_shelters_300m",
    ),
    (
        "4",
        "shelter coverage per 町丁目",
        "shelter_coverage_by_town",
    ),
    (
        "5",
        "residents and 要支援者 per depth rank per 町丁目",
        "flood_exposure_by_town",
    ),
    (
        "6",
        "bridges graded III/IV at flood zones",
        "weak_bridges_in_flood",
    ),
    (
        "6",
        "old CIP/ACP mains within 50 m of 要支援者 homes",
        "risky_pipes_near_support",
    ),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args.first().map_or("http://127.0.0.1:8080", String::as_str);
    let tokens_file = args
        .get(1)
        .map_or("demo-data/demo-tokens.json", String::as_str);
    let tokens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tokens_file).with_context(|| format!("reading {tokens_file}"))?,
    )?;
    let token = tokens["planner"].as_str().context("no planner token")?;
    let client = reqwest::blocking::Client::new();
    println!("| # | question | request | features | first page (ms, best of 5) |");
    println!("|---|---|---|---|---|");
    for (n, question, id) in QUESTIONS {
        let url = format!("{base}/collections/{id}/items?limit=100");
        let mut best = f64::INFINITY;
        let mut matched = serde_json::Value::Null;
        for _ in 0..5 {
            let t = Instant::now();
            let r = client.get(&url).bearer_auth(token).send()?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            let body: serde_json::Value = r.json()?;
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
            matched = body["numberMatched"].clone();
        }
        println!("| {n} | {question} | `GET /collections/{id}/items` | {matched} | {best:.1} |");
    }
    Ok(())
}
