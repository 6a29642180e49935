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
