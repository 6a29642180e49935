//! The web map end to end in headless Chromium (`tests/browser/webmap.mjs`,
//! driven by playwright-core with Debian's chromium): a planner, a health
//! nurse and an analyst sign in with their tokens, and what the page showed
//! each is checked against the API as that role reads it.

mod common;
use common::*;

use serde_json::Value;

fn count(path: &str, token: &str) -> i64 {
    let s = server();
    let r = client().get(s.url(path)).bearer_auth(token).send().unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json::<Value>().unwrap()["numberMatched"]
        .as_i64()
        .unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

/// The role's collections as the API lists them: id → `chiiki:privacy`.
fn collections(token: Option<&str>) -> std::collections::BTreeMap<String, String> {
    let s = server();
    let mut r = client().get(s.url("/collections"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let v: Value = r.send().unwrap().json().unwrap();
    v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["chiiki:privacy"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn planner_health_and_analyst_use_the_map() {
    let s = server();
    let out = scratch("webmap-shots");
    let found = browser_script("webmap.mjs", &out);
    std::fs::write(out.join("found.json"), found.to_string()).unwrap();
    assert!(
        found.get("failure").is_none(),
        "the browser run failed: {}",
        found["failure"]
    );
    assert_eq!(found["errors"], serde_json::json!([]), "errors in the page");
    assert_eq!(
        found["outside"],
        serde_json::json!([]),
        "requests outside the service"
    );
    for shot in found["shots"].as_array().unwrap() {
        let path = shot.as_str().unwrap();
        assert!(std::fs::metadata(path).unwrap().len() > 10_000, "{path}");
    }
    eprintln!(
        "page loads: first {}, second {} (ms to the map's load)",
        found["first_load"], found["second_load"]
    );

    // Sign-in: Japanese first, a refused token says so, the token is kept
    // for the session only and forgotten on signing out.
    assert_eq!(found["lang"], "ja");
    assert_eq!(found["signin_label"], "アクセストークン");
    assert!(found["bad_token_message"]
        .as_str()
        .unwrap()
        .contains("トークン"));
    assert_eq!(found["token_in_session_storage"], true);
    assert_eq!(found["token_in_local_storage"], false);
    assert_eq!(found["token_after_signout"], Value::Null);
    assert_eq!(found["english_label"], "日本語");
    assert_eq!(found["english_back"], "← All questions");

    // The planner's layer list is what the planner may read, grouped.
    let planner = s.token("planner");
    let listed = ids(&found["planner_layers"]);
    let readable = collections(Some(planner));
    for (id, privacy) in &readable {
        let analysis = found["planner_layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id.as_str());
        match analysis {
            Some(l) if privacy == "individuals" && id == "residents" => {
                assert_eq!(l["group"], "people")
            }
            Some(_) => {}
            None => panic!("{id} is readable but not listed"),
        }
    }
    assert_eq!(listed.len(), readable.len());
    // Flood depth ranks in MLIT's colours (水害ハザードマップ作成の手引き).
    let colours: Vec<&str> = found["planner_legend_flood"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["colour"].as_str().unwrap())
        .collect();
    assert_eq!(
        colours,
        [
            "rgb(255, 255, 179)",
            "rgb(248, 225, 166)",
            "rgb(255, 216, 192)",
            "rgb(255, 183, 183)",
            "rgb(255, 145, 145)"
        ]
    );
    assert_eq!(
        found["base_on_at_first"], true,
        "町丁目 boundaries on at first"
    );
    let drawn: Vec<&str> = found["map_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for id in ["flood_depth", "bunkyo_towns", "shelters_evacuation"] {
        assert!(
            drawn.iter().any(|l| l.starts_with(&format!("lyr-{id}-"))),
            "{id} not drawn"
        );
    }

    // "Elderly in flood" with the depth rank changed: the page's count is
    // the API's for the same parameters, and not the default's.
    let default = count("/collections/elderly_in_flood/items?limit=1", planner);
    let rank3 = count(
        "/collections/elderly_in_flood/items?limit=1&param.depth_rank=3",
        planner,
    );
    assert_eq!(found["elderly_default"]["matched"], default);
    assert_eq!(found["elderly_rank3"]["matched"], rank3);
    assert!(
        rank3 > 0 && rank3 < default,
        "rank 3: {rank3}, rank 2: {default}"
    );
    assert_eq!(
        found["elderly_rank3_text"],
        format!("件数: {} 件", format_thousands(rank3))
    );
    assert_eq!(found["table_rows"], 50.min(rank3));
    // The table's first rows are the API's first page, in order.
    let page: Value = client()
        .get(s.url("/collections/elderly_in_flood/items?limit=5&param.depth_rank=3"))
        .bearer_auth(planner)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let api_ids: Vec<String> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].to_string())
        .collect();
    let page_ids: Vec<String> = found["table_first_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(page_ids, api_ids);

    // A resident clicked on the map: the popup shows the attributes the
    // API serves the planner for that resident (from the vector tile).
    let clicked = &found["clicked"];
    assert!(clicked.is_object(), "no resident drawn to click");
    let fid = clicked["id"].as_i64().unwrap();
    let item: Value = client()
        .get(s.url(&format!(
            "/collections/elderly_in_flood/items/{fid}?param.depth_rank=3"
        )))
        .bearer_auth(planner)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let popup = found["popup"].as_object().unwrap();
    for key in ["name", "address", "depth_rank", "birth_date"] {
        let api = match &item["properties"][key] {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        assert_eq!(popup[key].as_str().unwrap(), api, "{key}");
    }

    // Downloads: every feature of the answer, GeoJSON and Excel's CSV.
    assert_eq!(found["download_geojson"]["features"], rank3);
    assert_eq!(found["download_csv"]["rows"], rank3);
    assert_eq!(found["download_csv"]["bom"], true);
    assert!(found["download_csv"]["header"]
        .as_str()
        .unwrap()
        .contains("depth_rank"));

    // Print: the whole list, with the role and the data's generation; a PDF.
    let print = &found["print"];
    assert_eq!(print["rows"], rank3);
    assert_eq!(
        print["title"],
        "浸水深0.5m以上の区域に住む65歳以上・避難行動要支援者"
    );
    assert!(print["role"].as_str().unwrap().starts_with("planner"));
    let generation = get(&s.url("/collections")).headers()["chiiki-generation"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(print["generation"], generation.as_str());
    assert!(print["map_image"].as_u64().unwrap() > 1000);
    assert!(found["print_pdf"]["bytes"].as_u64().unwrap() > 20_000);
    // Reading the list to print it is audited like any read.
    let audit = std::fs::read_to_string(s.data.join("audit/audit.jsonl")).unwrap();
    let printed = audit.lines().any(|l| {
        l.contains("purpose=print") && l.contains("elderly_in_flood") && l.contains("\"planner\"")
    });
    assert!(printed, "no audit entry for the print");

    // Health: the outreach list (names, no codes or birth dates), no residents layer.
    let health = s.token("health");
    let health_layers = found["health_layers"].as_array().unwrap();
    assert!(health_layers.iter().all(|l| l["group"] != "people"));
    assert!(!ids(&found["health_layers"]).contains(&"residents".to_string()));
    let questions = ids_of(&found["health_questions"]);
    assert!(questions.contains(&"care_outreach_flood".to_string()));
    assert!(!questions.contains(&"elderly_in_flood".to_string()));
    assert_eq!(
        found["health_outreach"]["matched"],
        count("/collections/care_outreach_flood/items?limit=1", health)
    );
    let columns = ids_of(&found["health_outreach_columns"]);
    assert!(columns.contains(&"name".to_string()) && columns.contains(&"address".to_string()));
    for hidden in ["resident_id", "birth_date", "household_id", "age"] {
        assert!(
            !columns.contains(&hidden.to_string()),
            "health sees {hidden}"
        );
    }

    // Notification lists: the planner's count and CSV are the API's list
    // for the same body; the analyst gets the protected count, no list.
    let notified = |role: &str, body: &Value| -> Value {
        client()
            .post(s.url("/notifications"))
            .bearer_auth(s.token(role))
            .json(body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let planner_notify = &found["planner_notify"];
    assert_eq!(
        planner_notify["body"]["area"]["filter"],
        "S_NAME = '白山一丁目'"
    );
    let api_count = notified("planner", &planner_notify["body"]);
    assert_eq!(planner_notify["result"], api_count);
    assert_eq!(api_count["protected"], false);
    let n = api_count["count"].as_i64().unwrap();
    assert!(n > 0);
    assert!(planner_notify["shown"]
        .as_str()
        .unwrap()
        .contains(&format_thousands(n)));
    assert_eq!(found["planner_notify_csv"]["rows"], n);
    assert_eq!(found["planner_notify_csv"]["bom"], true);
    let analyst_notify = &found["analyst_notify"];
    let protected = notified("analyst", &analyst_notify["body"]);
    assert_eq!(analyst_notify["result"], protected);
    assert_eq!(protected["protected"], true);
    assert_eq!(analyst_notify["csv_button"], false);

    // Health prints the visit rounds: a page per round, each with a map
    // of its homes numbered in order over the streets and the people to
    // visit, as the API lists them.
    let rounds = common::all_features("shingles_outreach_visits", Some("health"), "");
    let mut by_round: std::collections::BTreeMap<i64, Vec<&serde_json::Value>> =
        std::collections::BTreeMap::new();
    for f in &rounds {
        by_round
            .entry(f["properties"]["round"].as_i64().unwrap())
            .or_default()
            .push(f);
    }
    assert_eq!(found["health_visits"]["matched"], rounds.len() as i64);
    let print = &found["visit_print"];
    assert_eq!(print["pages"], by_round.len() as i64);
    assert_eq!(print["rows"], rounds.len() as i64);
    for page in print["first"].as_array().unwrap() {
        let people = &by_round[&page["round"].as_i64().unwrap()];
        let homes = people[0]["properties"]["round_homes"].as_i64().unwrap();
        assert_eq!(page["markers"], homes, "{page}");
        assert_eq!(page["stops"], homes, "{page}");
        assert!(page["streets"].as_u64().unwrap() > 0, "{page}");
        let names: Vec<&str> = people
            .iter()
            .map(|f| f["properties"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(ids_of(&page["names"]), names, "{page}");
    }
    assert!(found["visit_pdf"]["bytes"].as_u64().unwrap() > 50_000);

    // Analyst: aggregates only, as their protected values.
    let analyst = s.token("analyst");
    let analyst_readable = collections(Some(analyst));
    assert!(analyst_readable
        .values()
        .all(|p| p == "open" || p == "aggregate"));
    let analyst_questions = ids_of(&found["analyst_questions"]);
    assert!(analyst_questions.contains(&"aging_mesh_250m".to_string()));
    for q in &analyst_questions {
        assert!(
            matches!(analyst_readable[q].as_str(), "aggregate" | "open"),
            "{q}"
        );
    }
    assert!(found["analyst_layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["group"] != "people"));
    assert_eq!(
        found["analyst_aging"]["matched"],
        count("/collections/aging_mesh_250m/items?limit=1", analyst)
    );
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// `1,234` as the page's `toLocaleString` writes it.
fn format_thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
