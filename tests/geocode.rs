//! The geocoder on real ABR data: every writing style of real 文京区 and
//! 和歌山市 rows must find the row it came from; hand-written tricky cases;
//! 町字-level cases nationwide; the `chiiki geocode` command.

mod address_styles;
mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use address_styles::{AbrAddress, STYLE_COUNT};
use chiiki_geocode::normalize::kanji_chome;
use chiiki_geocode::{reference, Geocoded, Geocoder, Level};
use common::{run, run_ok, scratch, tool};

/// The reference index, built once per test binary with the real command.
fn index_path() -> &'static std::path::PathBuf {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = scratch("reference").join("reference.chiiki");
        run_ok(&["reference", "build", "-o", path.to_str().unwrap()]);
        path
    })
}

fn geocoder() -> &'static Geocoder {
    static G: OnceLock<Geocoder> = OnceLock::new();
    G.get_or_init(|| Geocoder::new(reference::load(index_path()).unwrap()))
}

fn expected_town(a: &AbrAddress) -> String {
    match a.chome {
        Some(n) if n > 0 => format!("{}{}丁目", a.oaza, kanji_chome(n)),
        _ => a.oaza.clone(),
    }
}

fn expected_addr(a: &AbrAddress) -> String {
    let nums: Vec<u32> = match a.prc {
        Some((n1, n2, n3)) => [Some(n1), n2, n3].into_iter().flatten().collect(),
        None => [a.blk, a.rsdt, a.rsdt2].into_iter().flatten().collect(),
    };
    nums.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Default)]
struct Tally {
    total: usize,
    exact: usize,
    /// Confident (号/地番 level) answers naming another place.
    wrong: Vec<String>,
    /// Answers above the expected level, by style.
    short: BTreeMap<&'static str, Vec<String>>,
}

impl Tally {
    fn record(&mut self, a: &AbrAddress, input: &str, style: usize, g: &Geocoded, want: Level) {
        self.total += 1;
        let town_ok =
            g.town == expected_town(a) && g.city == format!("{}{}{}", a.county, a.city, a.ward);
        let addr_ok = g.addr == expected_addr(a);
        if g.level == want && town_ok && addr_ok {
            self.exact += 1;
        } else if g.level >= Level::Block && !(town_ok && (addr_ok || g.level == Level::Block)) {
            self.wrong.push(format!(
                "{input} → {} {} {} ({:?})",
                g.city, g.town, g.addr, g.level
            ));
        } else {
            self.short
                .entry(address_styles::style_name(style))
                .or_default()
                .push(format!(
                    "{input} → {:?} {} {} [{}]",
                    g.level, g.town, g.addr, g.reason
                ));
        }
    }

    fn check(&self, what: &str, min_exact: f64) {
        let exact = self.exact as f64 / self.total as f64;
        let wrong = self.wrong.len() as f64 / self.total as f64;
        let mut detail = String::new();
        for (style, cases) in &self.short {
            detail.push_str(&format!("\n  {style}: {} e.g. {}", cases.len(), cases[0]));
        }
        println!(
            "{what}: {} renderings, {:.2} % at the expected level, {:.3} % wrong{detail}",
            self.total,
            100.0 * exact,
            100.0 * wrong
        );
        assert!(
            wrong < 0.001,
            "{what}: confident matches to the wrong place: {:?}",
            &self.wrong[..self.wrong.len().min(10)]
        );
        assert!(
            exact >= min_exact,
            "{what}: only {:.2} % exact{detail}",
            100.0 * exact
        );
    }
}

fn run_styles(rows: &[AbrAddress], want: Level, what: &str, min_exact: f64) {
    let g = geocoder();
    let mut tally = Tally::default();
    let mut styles_used = std::collections::BTreeSet::new();
    for a in rows {
        for style in 0..STYLE_COUNT {
            let Some(input) = address_styles::render(a, style) else {
                continue;
            };
            styles_used.insert(style);
            let result = g.geocode(&input);
            tally.record(a, &input, style, &result, want);
        }
    }
    assert!(
        styles_used.len() >= 40,
        "{what}: only {} styles applied",
        styles_used.len()
    );
    tally.check(what, min_exact);
}

#[test]
fn bunkyo_residential_addresses_in_every_style() {
    run_styles(
        &address_styles::load_bunkyo_rsdt(300),
        Level::ResidentialNumber,
        "文京区 住居表示",
        0.99,
    );
}

#[test]
fn wakayama_residential_addresses_in_every_style() {
    run_styles(
        &address_styles::load_wakayama_rsdt(300),
        Level::ResidentialNumber,
        "和歌山市 住居表示",
        0.99,
    );
}

#[test]
fn wakayama_parcels_in_every_style() {
    run_styles(
        &address_styles::load_wakayama_parcels(300),
        Level::Parcel,
        "和歌山市 地番",
        0.98,
    );
}

#[test]
fn tricky_cases_by_class() {
    let g = geocoder();
    let mut failures = Vec::new();
    let cases = address_styles::tricky_cases();
    for c in &cases {
        let r = g.geocode(c.input);
        // `addr` is compared where it was matched; at town level it only
        // echoes the numbers as written.
        let addr_ok = r.level < Level::Block || r.addr == c.addr;
        let ok = r.level.as_str() == c.level
            && (c.level == "ambiguous"
                || (r.pref == c.pref && r.city == c.city && r.town == c.town && addr_ok));
        if !ok {
            failures.push(format!(
                "{} [{}]: got {} {} {} {} {:?} ({}), want {} {} {} {} {}",
                c.input,
                c.why,
                r.pref,
                r.city,
                r.town,
                r.addr,
                r.level,
                r.reason,
                c.pref,
                c.city,
                c.town,
                c.addr,
                c.level
            ));
        }
    }
    assert!(cases.len() >= 30);
    assert!(
        failures.is_empty(),
        "{} of {} tricky cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn towns_nationwide_at_town_level() {
    let g = geocoder();
    let sample = address_styles::nationwide_town_sample(2000);
    let mut misses = Vec::new();
    for (pref, city, town, koaza) in &sample {
        let input = format!("{pref}{city}{town}{koaza}");
        let r = g.geocode(&input);
        // A town name that repeats within its city (e.g. with different 小字) is
        // legitimately ambiguous; everything else must land on the town.
        if r.level == Level::Ambiguous {
            continue;
        }
        if r.level != Level::OazaChome || r.city != *city || r.town != *town || r.koaza != *koaza {
            misses.push(format!(
                "{input} → {:?} {} {} {}",
                r.level, r.city, r.town, r.koaza
            ));
        }
    }
    let share = misses.len() as f64 / sample.len() as f64;
    println!(
        "nationwide towns: {} of {} missed",
        misses.len(),
        sample.len()
    );
    assert!(
        share < 0.01,
        "{} misses, e.g. {:?}",
        misses.len(),
        &misses[..misses.len().min(15)]
    );
}

#[test]
fn ambiguous_addresses_are_never_guessed() {
    let g = geocoder();
    // 府中市 is in 東京都 and 広島県, 伊達市 in 北海道 and 福島県.
    for input in ["府中市", "伊達市1-1"] {
        let r = g.geocode(input);
        assert_eq!(r.level, Level::Ambiguous, "{input}: {r:?}");
        assert!(r.candidates.len() >= 2, "{input}: {:?}", r.candidates);
        assert!(r.lon.is_nan(), "an ambiguous address has no position");
    }
}

#[test]
fn geocode_command_keeps_columns_and_reports_by_reason() {
    let dir = scratch("cli");
    // A CP932 registry extract with Japanese headers, as a 住民記録 system exports it.
    let csv = "住民票コード,氏名,住所,方書\n\
               100001,文京 太郎,東京都文京区白山一丁目1番1号,白山ハイツ201\n\
               100002,文京 花子,文京区本郷7-3-1,\n\
               100003,和歌 一郎,和歌山市秋月108番地33,\n\
               100004,不明 次郎,東京都文京区存在しない町1-1,\n\
               100005,府中 三郎,府中市,\n";
    let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(csv);
    let input = dir.join("registry_cp932.csv");
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.join("geocoded.csv");
    let res = run(&[
        "geocode",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--reference",
        index_path().to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let summary = String::from_utf8_lossy(&res.stderr);
    assert!(
        summary.contains("residential_number") && summary.contains("parcel"),
        "{summary}"
    );

    // UTF-8 with a byte-order mark, so that Excel reads it as UTF-8.
    let written = std::fs::read(&out).unwrap();
    assert!(written.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    // CP932 on request: the same text.
    let sjis = dir.join("geocoded_cp932.csv");
    run_ok(&[
        "geocode",
        input.to_str().unwrap(),
        "-o",
        sjis.to_str().unwrap(),
        "--reference",
        index_path().to_str().unwrap(),
        "--encoding",
        "cp932",
    ]);
    let sjis_bytes = std::fs::read(&sjis).unwrap();
    let (text, _, malformed) = encoding_rs::SHIFT_JIS.decode(&sjis_bytes);
    assert!(!malformed);
    assert_eq!(text, std::str::from_utf8(&written[3..]).unwrap());

    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for h in [
        "住民票コード",
        "氏名",
        "住所",
        "方書",
        "pref",
        "city",
        "town",
        "koaza",
        "addr",
        "level",
        "lon",
        "lat",
        "score",
        "remainder",
    ] {
        assert!(
            headers.contains(&h.to_string()),
            "missing column {h}: {headers:?}"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("氏名")], "文京 太郎", "CP932 text decoded");
    assert_eq!(&rows[0][col("level")], "residential_number");
    assert_eq!(&rows[0][col("town")], "白山一丁目");
    assert_eq!(&rows[0][col("addr")], "1-1");
    assert_eq!(
        &rows[1][col("level")],
        "oaza_chome",
        "本郷七丁目 has no 街区 3 in the ABR"
    );
    assert_eq!(&rows[2][col("level")], "parcel");
    assert_eq!(&rows[3][col("level")], "city");
    assert_eq!(&rows[4][col("level")], "ambiguous");

    let report = std::fs::read_to_string(format!("{}.report.txt", out.display())).unwrap();
    assert!(
        report.contains("街区 3 not in the ABR") && report.contains("lines 3"),
        "{report}"
    );
    assert!(
        report.contains("town (町字) not found") && report.contains("lines 5"),
        "{report}"
    );

    // GeoJSON output is valid for GDAL, with a point per geocoded row.
    let gj = dir.join("geocoded.geojson");
    run_ok(&[
        "geocode",
        input.to_str().unwrap(),
        "-o",
        gj.to_str().unwrap(),
        "--format",
        "geojson",
        "--reference",
        index_path().to_str().unwrap(),
    ]);
    let info = tool("ogrinfo", &["-ro", "-al", "-so", gj.to_str().unwrap()]);
    assert!(info.contains("Feature Count: 5"), "{info}");
}

#[test]
fn missing_reference_index_is_explained() {
    let dir = scratch("noref");
    let input = dir.join("a.csv");
    std::fs::write(&input, "住所\n文京区白山1-1-1\n").unwrap();
    let res = run(&[
        "geocode",
        input.to_str().unwrap(),
        "--reference",
        dir.join("none.chiiki").to_str().unwrap(),
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("chiiki reference build"));
}

// ── Issue 15: what registries leave out ────────────────────────────────────
//
// The cases come from tests/address_styles/unwritten.rs, built from the real
// data with the answer all of Japan's town names allow (a name written
// without its city lands only where no other city has a reading for it).
// Every test allows no wrong confident answer: a town (or finer) that is not
// the expected one, or any town where the expected answer is `ambiguous` or
// stops at the city.

use address_styles::unwritten::{self, same_town, Case, Compare, Expect};
use chiiki_geocode::Context;

fn context_of(entries: &[String]) -> Context {
    geocoder()
        .context(entries)
        .unwrap_or_else(|e| panic!("--city {entries:?}: {e}"))
}

fn run_case(c: &Case) -> Geocoded {
    if c.context.is_empty() {
        geocoder().geocode(&c.input)
    } else {
        geocoder().geocode_in(&c.input, &context_of(&c.context))
    }
}

fn describe(r: &Geocoded) -> String {
    format!(
        "{:?} {}{} {} {} (score {}, used_context {}, candidates {}, reason {:?})",
        r.level,
        r.pref,
        r.city,
        r.town,
        r.addr,
        r.score,
        r.used_context,
        r.candidates.len(),
        r.reason
    )
}

/// How one case came out: Ok(()) right, Err((true, why)) a wrong confident
/// answer, Err((false, why)) short of the expected answer.
fn judge(c: &Case, r: &Geocoded) -> Result<(), (bool, String)> {
    let fine = r.level >= Level::OazaChome;
    let got = describe(r);
    match &c.expect {
        Expect::Town {
            pref,
            city,
            town,
            level,
            addr,
        } => {
            let place = r.pref == *pref && r.city == *city && same_town(&r.town, town);
            if fine && !place {
                return Err((
                    true,
                    format!("wrong place: {got}, want {pref}{city} {town}"),
                ));
            }
            if place && r.level >= Level::ResidentialNumber && !addr.is_empty() && r.addr != *addr {
                return Err((true, format!("wrong number: {got}, want {addr}")));
            }
            if !fine || (!level.is_empty() && r.level.as_str() != *level) {
                return Err((
                    false,
                    format!("{got}, want {pref}{city} {town} {addr} {level}"),
                ));
            }
            if let Some(want) = c.used_context.filter(|&u| u != r.used_context) {
                return Err((false, format!("used_context should be {want}: {got}")));
            }
            if let Some((exact, compare)) = &c.exact {
                let e = geocoder().geocode(exact);
                if !(e.city == *city && same_town(&e.town, town)) {
                    return Err((
                        false,
                        format!("the exact spelling {exact} → {}", describe(&e)),
                    ));
                }
                let score_ok = match compare {
                    Compare::VariantReason => r.score <= e.score,
                    Compare::LowerWithReason => r.score < e.score,
                };
                if !score_ok || r.reason.is_empty() || r.reason == e.reason {
                    return Err((
                        false,
                        format!(
                            "{got}; exact spelling: score {} reason {:?} ({compare:?})",
                            e.score, e.reason
                        ),
                    ));
                }
            }
            Ok(())
        }
        Expect::Ambiguous { or_none } => {
            if fine {
                return Err((true, format!("guessed one reading: {got}")));
            }
            let ambiguous = r.level == Level::Ambiguous
                && r.candidates.len() >= 2
                && r.lon.is_nan()
                && r.lat.is_nan();
            if ambiguous || (*or_none && r.level == Level::None) {
                Ok(())
            } else {
                Err((false, format!("want ambiguous: {got}")))
            }
        }
        Expect::NoTown { city } => {
            if fine {
                return Err((true, format!("matched a town: {got}, want {city} only")));
            }
            if r.level == Level::City && r.city == *city && r.town.is_empty() {
                Ok(())
            } else {
                Err((false, format!("want city level {city}: {got}")))
            }
        }
    }
}

/// Runs the cases; prints one summary line (and one per class); fails on
/// any wrong confident answer, or when a class is right less than `min_right`.
fn check_cases(what: &str, cases: &[Case], min_right: f64) {
    assert!(!cases.is_empty(), "{what}: no cases");
    let mut wrong = Vec::new();
    // class → (cases, right, examples of shortfalls)
    let mut classes: BTreeMap<&str, (usize, usize, Vec<String>)> = BTreeMap::new();
    for c in cases {
        let r = run_case(c);
        let entry = classes.entry(c.class).or_default();
        entry.0 += 1;
        let ctx = if c.context.is_empty() {
            String::new()
        } else {
            format!(" [--city {}]", c.context.join(" --city "))
        };
        match judge(c, &r) {
            Ok(()) => entry.1 += 1,
            Err((true, why)) => wrong.push(format!("{}{ctx} [{}]: {why}", c.input, c.class)),
            Err((false, why)) => entry.2.push(format!("{}{ctx}: {why}", c.input)),
        }
    }
    let right: usize = classes.values().map(|v| v.1).sum();
    println!(
        "{what}: {} cases, {:.2} % right, {} wrong",
        cases.len(),
        100.0 * right as f64 / cases.len() as f64,
        wrong.len()
    );
    let mut failing = Vec::new();
    for (class, (n, ok, short)) in &classes {
        let rate = *ok as f64 / *n as f64;
        println!("  {class}: {ok}/{n} ({:.2} %)", 100.0 * rate);
        for s in short.iter().take(3) {
            println!("    e.g. {s}");
        }
        if rate < min_right {
            failing.push(format!(
                "{class}: {ok}/{n} right, e.g.\n    {}",
                short
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}: {} wrong confident answers:\n{}",
        wrong.len(),
        wrong
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        failing.is_empty(),
        "{what}: classes below {:.0} % right:\n{}",
        100.0 * min_right,
        failing.join("\n")
    );
}

#[test]
fn context_names_and_codes() {
    let g = geocoder();
    // Names and codes `--city` takes: a 政令市 (all its wards), a ward, a
    // special ward with or without 東京都, lg_codes with and without the
    // check digit.
    for entries in [
        vec!["京都市"],
        vec!["261009"],
        vec!["26100"],
        vec!["261025"],
        vec!["大阪市北区"],
        vec!["文京区"],
        vec!["東京都文京区"],
        vec!["東京都北区"],
        vec!["131172"],
        vec!["堺市"],
        vec!["札幌市"],
        vec!["京都市", "堺市"],
    ] {
        assert!(g.context(&entries).is_ok(), "--city {entries:?} refused");
    }
    // Unknown or ambiguous: 北区 is a ward of 10 cities and 東京都's special
    // ward; 府中市 is in 東京都 and 広島県; 261008 has a wrong check digit.
    for entries in [
        vec!["北区"],
        vec!["府中市"],
        vec!["ほげ市"],
        vec!["999999"],
        vec!["261008"],
        vec!["京都市", "ほげ市"],
    ] {
        assert!(g.context(&entries).is_err(), "--city {entries:?} accepted");
    }
    // The text wins over the context when it names its city.
    let kyoto = g.context(&["京都市"]).unwrap();
    let r = g.geocode_in("東京都文京区白山一丁目1番1号", &kyoto);
    assert_eq!(
        (r.city.as_str(), r.town.as_str(), r.addr.as_str(), r.level),
        ("文京区", "白山一丁目", "1-1", Level::ResidentialNumber),
        "{r:?}"
    );
    assert!(!r.used_context, "{r:?}");
    // A ward's own code narrows to the ward; a bare town of it lands there.
    let rows = unwritten::kyoto_context_rows();
    let (input, city, town) = &rows[0];
    let ward_code = address_styles::data::cities()
        .iter()
        .find(|c| format!("{}{}", c.city, c.ward) == *city)
        .unwrap()
        .lg_code
        .clone();
    let r = g.geocode_in(input, &g.context(&[ward_code.as_str()]).unwrap());
    assert!(
        r.city == *city && same_town(&r.town, town) && r.used_context,
        "{input} [--city {ward_code}]: {r:?}"
    );
    // Without context that name is no single place.
    let r = g.geocode(input);
    assert!(r.level < Level::OazaChome, "{input}: {r:?}");
}

#[test]
fn ward_written_without_its_city() {
    // 政令市 wards unique in Japan alone; shared ward names (北区 ×11 …)
    // with --city, or alone when only one has the town, else ambiguous.
    check_cases("ward without its city", &unwritten::ward_cases(8), 0.98);
}

#[test]
fn bare_towns_with_and_without_context() {
    check_cases("bare towns", &unwritten::bare_town_cases(600), 0.98);
}

#[test]
fn kyoto_street_descriptions() {
    check_cases("京都 通り名", &unwritten::kyoto_cases(), 0.98);
}

#[test]
fn sakai_n_cho_towns() {
    check_cases("堺市 N丁", &unwritten::sakai_cases(), 0.98);
}

#[test]
fn sapporo_jo_chome_short_forms() {
    check_cases("札幌 条・丁目", &unwritten::sapporo_cases(150), 0.98);
}

#[test]
fn variant_characters_in_town_and_city_names() {
    let problems = unwritten::check_pair_tables();
    assert!(problems.is_empty(), "{problems:#?}");
    check_cases("旧字体/異体字", &unwritten::variant_cases(12), 0.95);
}

#[test]
fn lookalike_typos_and_replacement_characters() {
    check_cases(
        "look-alikes and U+FFFD",
        &unwritten::typo_cases(15, 400, 60),
        0.95,
    );
}

#[test]
fn noise_before_and_inside_the_address() {
    let mut cases = Vec::new();
    let rows = address_styles::load_bunkyo_rsdt(200)
        .into_iter()
        .chain(address_styles::load_wakayama_rsdt(100));
    for (i, a) in rows.enumerate() {
        for j in [i, i + unwritten::NOISE_FORMS / 2] {
            let Some(input) = unwritten::noisy_rendering(&a, j) else {
                continue;
            };
            cases.push(Case {
                input,
                context: Vec::new(),
                expect: Expect::Town {
                    pref: a.pref.clone(),
                    city: a.city_full(),
                    town: a.town(),
                    level: "residential_number",
                    addr: a.addr(),
                },
                used_context: Some(false),
                exact: None,
                class: match j % unwritten::NOISE_FORMS {
                    0..=2 => "bracketed prefix",
                    3 | 8 | 9 => "bracketed prefix and spaces",
                    _ => "odd spaces",
                },
            });
        }
    }
    assert!(cases.len() >= 500, "{} noisy renderings", cases.len());
    check_cases("noise", &cases, 0.99);
}

#[test]
fn near_misses_are_not_matched() {
    // A town of another city (文京区本町1-1), a real name one character from
    // a town of the city, two-character names (本町/本郷), U+FFFD in a
    // two-character name: city level, never a town.
    check_cases("near misses", &unwritten::near_miss_cases(600), 0.99);
}

#[test]
fn geocode_command_takes_city_context() {
    let dir = scratch("city-context");
    let kyoto_rows = unwritten::kyoto_context_rows();
    let sakai = unwritten::sakai_context_row();
    let mut csv = String::from("住所\n");
    for (input, _, _) in &kyoto_rows {
        csv.push_str(&format!("{input}\n"));
    }
    csv.push_str("東京都文京区白山一丁目1番1号\n和歌山市秋月1番地3\n");
    csv.push_str(&format!("{}\n", sakai.0));
    let input = dir.join("registry.csv");
    std::fs::write(&input, &csv).unwrap();

    // Runs `chiiki geocode` with these --city; returns (stderr, rows as (city, town, level)).
    let geocode = |cities: &[&str], name: &str| {
        let out = dir.join(name);
        let mut args = vec![
            "geocode".to_string(),
            input.to_str().unwrap().into(),
            "--reference".into(),
            index_path().to_str().unwrap().into(),
            "-o".into(),
            out.to_str().unwrap().into(),
        ];
        for c in cities {
            args.push("--city".into());
            args.push(c.to_string());
        }
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let res = run(&args);
        let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
        assert!(res.status.success(), "--city {cities:?}: {stderr}");
        let mut reader = csv::Reader::from_path(&out).unwrap();
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
        let rows: Vec<(String, String, String)> = reader
            .records()
            .map(|r| r.unwrap())
            .map(|r| {
                (
                    r[col("city")].to_string(),
                    r[col("town")].to_string(),
                    r[col("level")].to_string(),
                )
            })
            .collect();
        (stderr, rows)
    };
    let is_town_level = |level: &str| {
        matches!(
            level,
            "oaza_chome" | "block" | "residential_number" | "parcel"
        )
    };
    // The count on the summary line that mentions the context.
    let used = |stderr: &str| -> Option<usize> {
        let line = stderr
            .lines()
            .find(|l| l.contains("used the --city context"))?;
        line.split_whitespace().next()?.parse().ok()
    };

    for cities in [&["京都市"][..], &["261009"][..]] {
        let (stderr, rows) = geocode(cities, "kyoto.csv");
        assert_eq!(used(&stderr), Some(3), "--city {cities:?}:\n{stderr}");
        assert!(stderr.contains("京都市"), "{stderr}");
        for (i, (input, city, town)) in kyoto_rows.iter().enumerate() {
            assert!(
                rows[i].0 == *city && same_town(&rows[i].1, town) && rows[i].2 == "oaza_chome",
                "{input} --city {cities:?}: {:?}",
                rows[i]
            );
        }
        assert_eq!(rows[3].2, "residential_number");
        assert_eq!(rows[4].2, "parcel");
        // 堺市 is not in the context, and its bare town is in several cities:
        // no town may be named.
        assert!(!is_town_level(&rows[5].2), "{}: {:?}", sakai.0, rows[5]);
    }

    // Repeated --city: both cities' rows land.
    let (stderr, rows) = geocode(&["京都市", "堺市"], "two.csv");
    assert_eq!(used(&stderr), Some(4), "{stderr}");
    assert!(
        rows[5].0 == sakai.1 && same_town(&rows[5].1, &sakai.2),
        "{}: {:?}",
        sakai.0,
        rows[5]
    );

    // Without context the bare rows are not guessed.
    let (stderr, rows) = geocode(&[], "none.csv");
    assert!(matches!(used(&stderr), None | Some(0)), "{stderr}");
    for (i, (input, _, _)) in kyoto_rows.iter().enumerate() {
        assert!(!is_town_level(&rows[i].2), "{input}: {:?}", rows[i]);
    }

    // An ambiguous --city is refused, naming it.
    let res = run(&[
        "geocode",
        input.to_str().unwrap(),
        "--reference",
        index_path().to_str().unwrap(),
        "-o",
        dir.join("bad.csv").to_str().unwrap(),
        "--city",
        "北区",
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("北区"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// Any text made of the pieces addresses are made of — names, numbers,
    /// separators, street directions, brackets, lost characters — is
    /// answered without a panic, with or without a context; an ambiguous
    /// answer never has a position, and a confident one always has.
    #[test]
    fn any_address_like_text_gets_an_answer(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "東京都", "文京区", "京都市", "北区", "中央区", "上京区", "堺市", "札幌市",
                "白山", "本郷", "千駄木", "北長尾町", "月寒東", "八軒", "北", "西", "条",
                "一", "二", "十", "丁目", "丁", "番", "番地", "号", "の", "-", "－", "ー",
                "1", "12", "３", " ", "　", "(", ")", "【", "】", "通", "上る", "東入",
                "より", "まで", "\u{FFFD}", "驒", "麴", "字", "大字", "ハイツ", "室",
            ]),
            0..14,
        ),
        with_context in proptest::bool::ANY,
    ) {
        let g = geocoder();
        let text: String = pieces.concat();
        let context = if with_context {
            g.context(&["京都市", "131059"]).unwrap()
        } else {
            chiiki_geocode::Context::none()
        };
        let r = g.geocode_in(&text, &context);
        if r.level == Level::Ambiguous {
            proptest::prop_assert!(r.lon.is_nan() && !r.candidates.is_empty(), "{text}: {r:?}");
        }
        if r.level >= Level::OazaChome {
            proptest::prop_assert!(!r.lon.is_nan() && !r.town.is_empty(), "{text}: {r:?}");
        }
        proptest::prop_assert!((0.0..=1.0).contains(&r.score), "{text}: {r:?}");
    }
}
