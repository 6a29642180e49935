//! `chiiki registry import | apply | show` on synthetic registries: encoding
//! detection, header mapping, date forms, rejected rows, `--strict`, delta
//! idempotence and contradictions, as-of queries, ages, and kills during an
//! import or a delta.

mod registry_data;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chiiki_registry::{store, Precision, Registry, Status};
use chrono::NaiveDate;
use registry_data::{
    cp932, delta_csv, english_csv, japanese_csv, residents, write, Delta, Resident,
};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chiiki")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("CHIIKI_CONFIG")
        .output()
        .expect("running chiiki")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs chiiki, which must succeed; returns (stdout, stderr).
fn run_ok(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "chiiki {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// Runs chiiki, which must fail; returns (stdout, stderr).
fn run_err(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "chiiki {args:?} should have failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("registry-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn date_of((y, m, d): registry_data::Ymd) -> NaiveDate {
    ymd(y, m, d)
}

const BASELINE: &str = "2025-04-01";

/// Imports `file` into `data` as of [`BASELINE`] and returns the JSON report.
fn import(data: &Path, file: &Path, extra: &[&str]) -> Value {
    let report = data.join("import-report.json");
    let mut args = vec![
        "registry",
        "import",
        s(file),
        "--data",
        s(data),
        "--as-of",
        BASELINE,
        "--report",
        s(&report),
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    read_json(&report)
}

/// Applies delta files to `data`; returns (JSON report, stdout).
fn apply(data: &Path, files: &[&Path], extra: &[&str]) -> (Value, String) {
    let report = data.join("apply-report.json");
    let mut args = vec!["registry", "apply"];
    args.extend(files.iter().map(|f| s(f)));
    args.extend_from_slice(&["--data", s(data), "--report", s(&report)]);
    args.extend_from_slice(extra);
    let (stdout, _) = run_ok(&args);
    (read_json(&report), stdout)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn registry_bytes(data: &Path) -> Vec<u8> {
    std::fs::read(store::registry_path(data)).unwrap()
}

/// (line, field) of every rejection in a report.
fn rejected(report: &Value) -> Vec<(u64, String)> {
    report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Checks that every synthetic resident is in the registry as generated.
fn assert_matches(registry: &Registry, people: &[Resident]) {
    assert_eq!(registry.known(), people.len());
    let baseline = ymd(2025, 4, 1);
    for p in people {
        let r = registry
            .resident(&p.id)
            .unwrap_or_else(|| panic!("{} missing", p.id));
        assert_eq!(r.person.name, p.name, "{}", p.id);
        assert_eq!(r.person.name_kana, p.kana, "{}", p.id);
        assert_eq!(
            r.person.birth_date.first_day(),
            date_of(p.birth),
            "{}",
            p.id
        );
        assert_eq!(r.person.birth_date.precision(), Precision::Day);
        assert_eq!(r.person.needs_support, p.needs_support, "{}", p.id);
        assert_eq!(r.person.care_level.map(|c| c.label()), p.care, "{}", p.id);
        assert_eq!(r.person.disability, p.disability, "{}", p.id);
        let v = r.current();
        assert_eq!(v.status, Status::Registered);
        assert_eq!(
            v.from,
            p.moved_on.map(date_of).unwrap_or(baseline),
            "{}",
            p.id
        );
        assert_eq!(v.placement.address, p.address);
        assert_eq!(v.placement.address_extra, p.extra);
        assert_eq!(v.placement.household_id, p.household);
        assert_eq!(v.placement.relationship, p.relationship);
    }
}

#[test]
fn cp932_export_with_japanese_headers_is_detected_and_imported() {
    let dir = scratch("cp932");
    let people = residents(300, 1, 0);
    let file = dir.join("住民記録.csv");
    write(&file, &cp932(&japanese_csv(&people)));
    let report = import(&dir, &file, &[]);
    assert_eq!(report["encoding"], "cp932");
    assert_eq!(report["rows_read"], people.len());
    assert_eq!(report["imported"], people.len());
    assert_eq!(
        report["rejections"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    assert_eq!(report["committed"], true);
    assert_matches(&Registry::load(&dir).unwrap(), &people);
}

#[test]
fn utf8_export_with_english_headers_gives_the_same_registry() {
    let dir = scratch("utf8");
    let people = residents(300, 1, 0);
    let plain = dir.join("plain.csv");
    write(&plain, english_csv(&people).as_bytes());
    let report = import(&dir, &plain, &[]);
    assert_eq!(report["encoding"], "utf-8");
    assert_eq!(report["imported"], people.len(), "{report}");
    let from_plain = Registry::load(&dir).unwrap();
    assert_matches(&from_plain, &people);

    // With a BOM (as Excel writes) and Japanese headers, the same residents.
    let bom = dir.join("bom.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(japanese_csv(&people).as_bytes());
    write(&bom, &bytes);
    let report = import(&dir, &bom, &[]);
    assert_eq!(report["encoding"], "utf-8");
    let from_bom = Registry::load(&dir).unwrap();
    assert_eq!(from_plain.residents(), from_bom.residents());
}

#[test]
fn encoding_flag_overrides_detection() {
    let dir = scratch("encoding-flag");
    let people = residents(50, 2, 0);
    let sjis = dir.join("sjis.csv");
    write(&sjis, &cp932(&japanese_csv(&people)));
    // Read as UTF-8, the Japanese headers are unreadable: no column maps.
    let (_, stderr) = run_err(&[
        "registry",
        "import",
        s(&sjis),
        "--data",
        s(&dir),
        "--encoding",
        "utf-8",
    ]);
    assert!(
        stderr.contains("missing column(s): resident_id"),
        "{stderr}"
    );
    assert!(!store::exists(&dir));
    let report = import(&dir, &sjis, &["--encoding", "cp932"]);
    assert_eq!(report["encoding"], "cp932");
    assert_eq!(report["imported"], people.len());

    // UTF-8 read as CP932 is mojibake: refused too.
    let utf8 = dir.join("utf8.csv");
    write(&utf8, japanese_csv(&people).as_bytes());
    let (_, stderr) = run_err(&[
        "registry",
        "import",
        s(&utf8),
        "--data",
        s(&dir),
        "--encoding",
        "cp932",
    ]);
    assert!(stderr.contains("missing column(s)"), "{stderr}");
    let (_, stderr) = run_err(&[
        "registry",
        "import",
        s(&utf8),
        "--data",
        s(&dir),
        "--encoding",
        "latin1",
    ]);
    assert!(stderr.contains("utf-8 or cp932"), "{stderr}");
}

#[test]
fn a_config_alias_maps_another_systems_header() {
    let dir = scratch("alias");
    let people = residents(40, 3, 0);
    let file = dir.join("other-system.csv");
    let csv = english_csv(&people).replacen("resident_id", "宛名番号", 1);
    write(&file, csv.as_bytes());
    let (_, stderr) = run_err(&["registry", "import", s(&file), "--data", s(&dir)]);
    assert!(
        stderr.contains("missing column(s): resident_id"),
        "{stderr}"
    );
    assert!(
        stderr.contains("宛名番号"),
        "the file's headers are listed: {stderr}"
    );

    let config = dir.join("chiiki.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[registry.columns]\nresident_id = [\"宛名番号\"]\n",
    )
    .unwrap();
    run_ok(&[
        "--config",
        s(&config),
        "registry",
        "import",
        s(&file),
        "--as-of",
        BASELINE,
    ]);
    // data_dir comes from the config, relative to its file.
    assert_matches(&Registry::load(&dir.join("data")).unwrap(), &people);

    std::fs::write(&config, "[registry.columns]\nresident = [\"宛名番号\"]\n").unwrap();
    let (_, stderr) = run_err(&["--config", s(&config), "registry", "show"]);
    assert!(
        stderr.contains("resident"),
        "a misspelt field is an error: {stderr}"
    );
}

/// One resident per date form; the bad ones are rejected on `birth_date`.
#[test]
fn every_date_form_imports_with_its_precision_and_impossible_eras_are_rejected() {
    let dir = scratch("dates");
    let good: &[(&str, &str, Precision)] = &[
        ("1940-03-02", "1940-03-02", Precision::Day),
        ("1940/3/2", "1940-03-02", Precision::Day),
        ("1940.3.2", "1940-03-02", Precision::Day),
        ("19400302", "1940-03-02", Precision::Day),
        ("1940年3月2日", "1940-03-02", Precision::Day),
        ("昭和15年3月2日", "1940-03-02", Precision::Day),
        ("S15.3.2", "1940-03-02", Precision::Day),
        ("S15/3/2", "1940-03-02", Precision::Day),
        ("昭和１５年３月２日", "1940-03-02", Precision::Day),
        ("平成元年1月8日", "1989-01-08", Precision::Day),
        ("昭和64年1月7日", "1989-01-07", Precision::Day),
        ("令和元年5月1日", "2019-05-01", Precision::Day),
        ("H31.4.30", "2019-04-30", Precision::Day),
        ("大正15年12月24日", "1926-12-24", Precision::Day),
        ("令和2年", "2020", Precision::Year),
        ("昭和15年3月", "1940-03", Precision::Month),
        ("1955年", "1955", Precision::Year),
    ];
    let bad: &[(&str, &str)] = &[
        ("昭和65年1月1日", "昭和 ended on 1989-01-07"),
        ("平成31年5月1日", "平成 ended on 2019-04-30"),
        ("令和元年4月30日", "令和 began on 2019-05-01"),
        ("S64.1.8", "昭和 ended"),
        ("1940-02-30", "no such date"),
        ("昭和十五年", "year is missing"),
        ("2030-01-01", "after the registry date"),
    ];
    let mut csv = String::from("住民票コード,世帯番号,氏名,生年月日,性別,続柄,住所\n");
    let texts = good.iter().map(|g| g.0).chain(bad.iter().map(|b| b.0));
    for (i, date) in texts.enumerate() {
        csv.push_str(&format!(
            "1{i:010},H{i},山田 太郎,{date},男,世帯主,東京都文京区白山一丁目1番1号\n"
        ));
    }
    let file = dir.join("dates.csv");
    write(&file, csv.as_bytes());
    let report = import(&dir, &file, &[]);
    assert_eq!(report["imported"], good.len(), "{report}");
    let registry = Registry::load(&dir).unwrap();
    for (i, (text, expected, precision)) in good.iter().enumerate() {
        let r = registry.resident(&format!("1{i:010}")).unwrap();
        assert_eq!(r.person.birth_date.to_string(), *expected, "{text}");
        assert_eq!(r.person.birth_date.precision(), *precision, "{text}");
    }
    let rejections = report["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), bad.len(), "{report}");
    for (k, (text, why)) in bad.iter().enumerate() {
        let line = (good.len() + k + 2) as u64;
        let r = rejections
            .iter()
            .find(|r| r["line"] == line)
            .unwrap_or_else(|| panic!("{text} (line {line}) not rejected: {report}"));
        assert_eq!(r["field"], "birth_date", "{text}");
        assert_eq!(r["column"], "生年月日", "{text}");
        assert!(r["reason"].as_str().unwrap().contains(why), "{text}: {r}");
        assert!(r["file"].as_str().unwrap().ends_with("dates.csv"));
    }
}

#[test]
fn bad_rows_are_reported_with_file_line_and_field_and_good_rows_imported() {
    let dir = scratch("bad-rows");
    let people = residents(200, 4, 0);
    let mut lines: Vec<String> = japanese_csv(&people).lines().map(str::to_string).collect();
    let row = |id: &str, sex: &str, name: &str, birth: &str, flag: &str, care: &str| {
        format!(
            "{id},99999999,{name},ヤマダ タロウ,{birth},{sex},世帯主,東京都文京区本郷二丁目3-5,,2020-04-01,転入,{flag},{care},"
        )
    };
    // (line it lands on, the row, the fields at fault)
    let injected: Vec<(usize, String, Vec<&str>)> = vec![
        (
            5,
            row("19000000001", "不明", "山田 太郎", "1970-01-01", "", ""),
            vec!["sex"],
        ),
        (
            20,
            row("19000000002", "男", "", "1970-01-01", "", ""),
            vec!["name"],
        ),
        (
            40,
            row("19000000003", "男", "山田 太郎", "平成31年5月1日", "", ""),
            vec!["birth_date"],
        ),
        (
            60,
            row("19000000004", "男", "山田 太郎", "1970-01-01", "たぶん", ""),
            vec!["needs_support"],
        ),
        (
            80,
            row(
                "19000000005",
                "男",
                "山田 太郎",
                "1970-01-01",
                "",
                "要介護6",
            ),
            vec!["care_level"],
        ),
        (
            100,
            row("１９０-０００", "X", "山田 太郎", "1970-13-01", "", ""),
            vec!["resident_id", "birth_date", "sex"],
        ),
        (120, "19000000007,99999999,山田 太郎".to_string(), vec![""]),
        (
            140,
            row(&people[0].id, "男", "山田 太郎", "1970-01-01", "", ""),
            vec!["resident_id"],
        ),
    ];
    for (line, text, _) in &injected {
        lines.insert(line - 1, text.clone());
    }
    let file = dir.join("bad.csv");
    write(&file, cp932(&(lines.join("\r\n") + "\r\n")).as_slice());
    let out = run(&[
        "registry",
        "import",
        s(&file),
        "--data",
        s(&dir),
        "--as-of",
        BASELINE,
        "--report",
        s(&dir.join("r.json")),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let report = read_json(&dir.join("r.json"));
    assert_eq!(report["rows_read"], people.len() + injected.len());
    assert_eq!(report["imported"], people.len(), "{report}");
    assert_eq!(report["rejected_rows"], injected.len());
    let mut expected: Vec<(u64, String)> = injected
        .iter()
        .flat_map(|(line, _, fields)| fields.iter().map(move |f| (*line as u64, f.to_string())))
        .collect();
    expected.sort();
    let mut got = rejected(&report);
    got.sort();
    assert_eq!(got, expected);
    // Printed too, one line per problem, with the header as written.
    let file_name = s(&file);
    assert!(
        stderr.contains(&format!("{file_name}:5: 性別 (sex): '不明' is not a sex")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file_name}:40: 生年月日 (birth_date): '平成31年5月1日': 平成 ended"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file_name}:120: the row has 3 fields")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file_name}:140: 住民票コード (resident_id)")),
        "{stderr}"
    );
    assert!(stderr.contains("is also on line"), "{stderr}");
    assert_eq!(
        stderr.matches("rejected: ").count(),
        expected.len(),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "imported {} of {}",
            people.len(),
            people.len() + injected.len()
        )),
        "{stdout}"
    );
    assert_matches(&Registry::load(&dir).unwrap(), &people);
}

#[test]
fn strict_import_refuses_a_file_with_a_bad_row_and_keeps_the_previous_registry() {
    let dir = scratch("strict-import");
    let people = residents(100, 5, 0);
    let good = dir.join("good.csv");
    write(&good, english_csv(&people).as_bytes());
    import(&dir, &good, &["--strict"]);
    let before = registry_bytes(&dir);

    let others = residents(100, 6, 5000);
    let mut csv = english_csv(&others);
    csv.push_str("19999999999,1,x,,1980-01-01,M,head,somewhere,,,,maybe,,\n");
    let bad = dir.join("bad.csv");
    write(&bad, csv.as_bytes());
    let (_, stderr) = run_err(&[
        "registry",
        "import",
        s(&bad),
        "--data",
        s(&dir),
        "--strict",
        "--as-of",
        BASELINE,
    ]);
    assert!(stderr.contains("--strict: 1 row(s) rejected"), "{stderr}");
    let bad_line = others.len() + 2;
    assert!(
        stderr.contains(&format!("{}:{bad_line}: needs_support", s(&bad))),
        "{stderr}"
    );
    assert_eq!(registry_bytes(&dir), before);

    // A file in which no row is valid never replaces a registry either.
    let junk = dir.join("junk.csv");
    write(
        &junk,
        b"resident_id,household_id,name,birth_date,sex,relationship,address\n1,2,x,never,M,a,b\n",
    );
    let (_, stderr) = run_err(&["registry", "import", s(&junk), "--data", s(&dir)]);
    assert!(stderr.contains("no valid row"), "{stderr}");
    assert_eq!(registry_bytes(&dir), before);

    // Without --strict the good rows of the same file go in.
    let report = import(&dir, &bad, &[]);
    assert_eq!(report["imported"], others.len());
    assert_matches(&Registry::load(&dir).unwrap(), &others);
}

/// A registry of synthetic households, and the people in it.
fn baseline(dir: &Path, n: usize, seed: u64) -> Vec<Resident> {
    let people = residents(n, seed, 0);
    let file = dir.join("baseline.csv");
    write(&file, &cp932(&japanese_csv(&people)));
    let report = import(dir, &file, &[]);
    assert_eq!(report["imported"], people.len());
    people
}

/// The `skip`-th resident of `people` whose 異動日 is before 2025 (so deltas
/// dated 2025 come after it).
fn someone(people: &[Resident], skip: usize) -> &Resident {
    people
        .iter()
        .filter(|p| p.moved_on.is_some_and(|d| d < (2025, 1, 1)))
        .nth(skip)
        .unwrap()
}

#[test]
fn a_delta_applied_twice_changes_nothing_the_second_time() {
    let dir = scratch("idempotent");
    let people = baseline(&dir, 300, 7);
    let (a, b, c, d) = (
        someone(&people, 0),
        someone(&people, 1),
        someone(&people, 2),
        someone(&people, 3),
    );
    let rows = [
        Delta {
            id: &a.id,
            date: "2025-04-03",
            reason: "転居(市内)",
            address: "東京都文京区本郷二丁目3番5号",
            extra: "本郷コーポ201",
            ..Default::default()
        },
        Delta {
            id: &b.id,
            date: "2025-04-04",
            reason: "転出",
            ..Default::default()
        },
        Delta {
            id: &c.id,
            date: "R7.4.5",
            reason: "死亡",
            ..Default::default()
        },
        Delta {
            id: &d.id,
            date: "2025-04-06",
            reason: "世帯分離",
            household: "77777777",
            relationship: "世帯主",
            ..Default::default()
        },
        Delta {
            id: "18888888801",
            date: "2025-04-07",
            reason: "出生",
            household: &a.household,
            name: "佐藤 陽菜",
            birth: "令和7年4月7日",
            sex: "女",
            relationship: "子",
            address: "東京都文京区本郷二丁目3番5号",
            ..Default::default()
        },
        Delta {
            id: "18888888802",
            date: "2025-04-08",
            reason: "転入（市外から）",
            household: "88888888",
            name: "高橋 蓮",
            birth: "H2.6.15",
            sex: "男",
            relationship: "世帯主",
            address: "文京区千駄木三丁目2-1",
            ..Default::default()
        },
    ];
    let delta = dir.join("delta-0408.csv");
    write(&delta, &cp932(&delta_csv(&rows)));
    let (first, stdout) = apply(&dir, &[&delta], &[]);
    assert_eq!(first["applied"], 6, "{first}");
    assert_eq!(first["committed"], true);
    assert!(stdout.contains("applied 6 of 6 rows"), "{stdout}");
    let after_first = registry_bytes(&dir);
    let registry = Registry::load(&dir).unwrap();
    assert_eq!(registry.events().len(), 6);
    assert_eq!(
        registry.view(&a.id, ymd(2025, 4, 3)).unwrap().address(),
        "東京都文京区本郷二丁目3番5号"
    );

    let (second, stdout) = apply(&dir, &[&delta], &[]);
    assert_eq!(second["applied"], 0);
    assert_eq!(second["committed"], false);
    assert_eq!(second["already_applied"].as_array().unwrap().len(), 6);
    assert_eq!(
        second["rejections"].as_array().unwrap().len(),
        0,
        "{second}"
    );
    assert_eq!(
        stdout.matches("already applied (from ").count(),
        6,
        "{stdout}"
    );
    assert!(stdout.contains("registry unchanged"), "{stdout}");
    assert_eq!(registry_bytes(&dir), after_first);

    // The same rows re-sent in another file with one new row: only the new one applies.
    let mut more = rows.to_vec();
    let e = someone(&people, 4);
    more.insert(
        2,
        Delta {
            id: &e.id,
            date: "2025-04-09",
            reason: "転居",
            address: "文京区根津一丁目1-1",
            ..Default::default()
        },
    );
    let resent = dir.join("delta-resent.csv");
    write(&resent, delta_csv(&more).as_bytes());
    let (third, _) = apply(&dir, &[&resent], &[]);
    assert_eq!(third["applied"], 1, "{third}");
    assert_eq!(third["already_applied"].as_array().unwrap().len(), 6);
    assert_eq!(
        third["already_applied"][0]["first_applied_from"],
        format!("{}:2", s(&delta))
    );
    let registry = Registry::load(&dir).unwrap();
    assert_eq!(registry.events().len(), 7);
    assert_eq!(
        registry.view(&e.id, ymd(2025, 4, 9)).unwrap().address(),
        "文京区根津一丁目1-1"
    );
    // And re-sending that changes nothing again.
    let after_third = registry_bytes(&dir);
    let (fourth, _) = apply(&dir, &[&resent, &delta], &[]);
    assert_eq!(
        (
            fourth["applied"].as_u64(),
            fourth["already_applied"].as_array().unwrap().len()
        ),
        (Some(0), 13)
    );
    assert_eq!(registry_bytes(&dir), after_third);
}

#[test]
fn contradictions_are_reported_and_not_applied() {
    let dir = scratch("contradictions");
    let people = baseline(&dir, 200, 8);
    let (a, b, c) = (
        someone(&people, 0),
        someone(&people, 1),
        someone(&people, 2),
    );
    let rows = [
        // line 2: 転出 of a resident who was never registered
        Delta {
            id: "17777777777",
            date: "2025-04-02",
            reason: "転出",
            ..Default::default()
        },
        // line 3: 転入 of a resident already registered
        Delta {
            id: &a.id,
            date: "2025-04-02",
            reason: "転入",
            household: "1",
            name: "x",
            birth: "1980-01-01",
            sex: "男",
            relationship: "世帯主",
            address: "文京区白山五丁目1-1",
            ..Default::default()
        },
        // lines 4 and 5: 死亡, then 死亡 again on another day
        Delta {
            id: &b.id,
            date: "2025-04-03",
            reason: "死亡",
            ..Default::default()
        },
        Delta {
            id: &b.id,
            date: "2025-04-05",
            reason: "死亡",
            ..Default::default()
        },
        // line 6: 転居 of an unknown resident
        Delta {
            id: "17777777778",
            date: "2025-04-02",
            reason: "転居",
            address: "文京区白山五丁目1-1",
            ..Default::default()
        },
        // line 7: a valid 転居
        Delta {
            id: &c.id,
            date: "2025-04-04",
            reason: "転居",
            address: "文京区小石川三丁目4-5",
            ..Default::default()
        },
        // line 8: 転居 of the dead resident
        Delta {
            id: &b.id,
            date: "2025-04-06",
            reason: "転居",
            address: "文京区小石川三丁目4-5",
            ..Default::default()
        },
        // line 9: a 転居 dated before the resident's last change
        Delta {
            id: &c.id,
            date: "1980-01-01",
            reason: "転居",
            address: "文京区春日一丁目1-1",
            ..Default::default()
        },
    ];
    let delta = dir.join("delta.csv");
    write(&delta, delta_csv(&rows).as_bytes());
    let (report, _) = apply(&dir, &[&delta], &[]);
    assert_eq!(report["applied"], 2, "{report}");
    let reasons: Vec<(u64, String, String)> = report["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["file"], s(&delta));
            (
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |line: u64| {
        reasons
            .iter()
            .find(|r| r.0 == line)
            .unwrap_or_else(|| panic!("line {line} not rejected: {reasons:?}"))
    };
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.1 == "contradiction"));
    assert!(reason(2).2.contains("no such resident"), "{reasons:?}");
    assert!(reason(3).2.contains("already registered"), "{reasons:?}");
    assert!(reason(5).2.contains("died on 2025-04-03"), "{reasons:?}");
    assert!(reason(6).2.contains("no such resident"), "{reasons:?}");
    assert!(reason(8).2.contains("died on 2025-04-03"), "{reasons:?}");
    assert!(
        reason(9).2.contains("before the resident's latest"),
        "{reasons:?}"
    );

    let registry = Registry::load(&dir).unwrap();
    assert_eq!(
        registry.view(&a.id, ymd(2025, 4, 2)).unwrap().address(),
        a.address
    );
    assert!(registry.view(&b.id, ymd(2025, 4, 3)).is_none());
    assert_eq!(
        registry.resident(&b.id).unwrap().current().status,
        Status::Dead
    );
    assert_eq!(
        registry.view(&c.id, ymd(2025, 4, 4)).unwrap().address(),
        "文京区小石川三丁目4-5"
    );
    assert!(registry.resident("17777777777").is_none());

    // 死亡 a second time in a later delta is a contradiction too.
    let again = dir.join("again.csv");
    write(
        &again,
        delta_csv(&[Delta {
            id: &b.id,
            date: "2025-05-01",
            reason: "死亡",
            ..Default::default()
        }])
        .as_bytes(),
    );
    let before = registry_bytes(&dir);
    let (report, _) = apply(&dir, &[&again], &[]);
    assert_eq!(report["applied"], 0);
    assert!(
        report["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("died on"),
        "{report}"
    );
    assert_eq!(registry_bytes(&dir), before);
}

#[test]
fn strict_delta_with_a_rejected_row_applies_nothing() {
    let dir = scratch("strict-delta");
    let people = baseline(&dir, 100, 9);
    let a = someone(&people, 0);
    let rows = [
        Delta {
            id: &a.id,
            date: "2025-04-03",
            reason: "転居",
            address: "文京区弥生二丁目1-1",
            ..Default::default()
        },
        Delta {
            id: "17777777777",
            date: "2025-04-03",
            reason: "転出",
            ..Default::default()
        },
        Delta {
            id: &a.id,
            date: "2025-04-04",
            reason: "転居",
            address: "",
            ..Default::default()
        },
    ];
    let delta = dir.join("delta.csv");
    write(&delta, delta_csv(&rows).as_bytes());
    let before = registry_bytes(&dir);
    let (_, stderr) = run_err(&[
        "registry",
        "apply",
        s(&delta),
        "--data",
        s(&dir),
        "--strict",
    ]);
    assert!(stderr.contains("--strict: 2 row(s) rejected"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3: contradiction:", s(&delta))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:4: 住所 (address): missing", s(&delta))),
        "{stderr}"
    );
    assert_eq!(registry_bytes(&dir), before);

    let (report, _) = apply(&dir, &[&delta], &[]);
    assert_eq!(report["applied"], 1);
    assert_eq!(report["rejected_rows"], 2);
    let registry = Registry::load(&dir).unwrap();
    assert_eq!(
        registry.view(&a.id, ymd(2025, 4, 3)).unwrap().address(),
        "文京区弥生二丁目1-1"
    );
}

#[test]
fn as_of_queries_follow_relocations_moves_out_and_births() {
    let dir = scratch("as-of");
    let people = baseline(&dir, 200, 10);
    let a = someone(&people, 0);
    let b = someone(&people, 1);
    // Out of date order in the file: applied in 異動日 order regardless.
    let rows = [
        Delta {
            id: &a.id,
            date: "2025-08-01",
            reason: "転出",
            ..Default::default()
        },
        Delta {
            id: &a.id,
            date: "2025-05-10",
            reason: "転居",
            address: "文京区本駒込六丁目1-1",
            ..Default::default()
        },
        Delta {
            id: "16666666601",
            date: "2025-06-01",
            reason: "転入",
            household: "66666666",
            name: "中村 結衣",
            birth: "S50.5.5",
            sex: "女",
            relationship: "世帯主",
            address: "文京区大塚三丁目2-1",
            ..Default::default()
        },
        Delta {
            id: &b.id,
            date: "2025-06-15",
            reason: "世帯変更",
            household: "66666666",
            relationship: "夫",
            ..Default::default()
        },
    ];
    let delta = dir.join("delta.csv");
    write(&delta, delta_csv(&rows).as_bytes());
    let (report, _) = apply(&dir, &[&delta], &[]);
    assert_eq!(report["applied"], 4, "{report}");
    let registry = Registry::load(&dir).unwrap();

    let address_on = |id: &str, d: NaiveDate| registry.view(id, d).map(|v| v.address().to_string());
    assert_eq!(address_on(&a.id, ymd(2025, 5, 9)), Some(a.address.clone()));
    assert_eq!(
        address_on(&a.id, ymd(2025, 5, 10)).as_deref(),
        Some("文京区本駒込六丁目1-1")
    );
    assert_eq!(
        address_on(&a.id, ymd(2025, 7, 31)).as_deref(),
        Some("文京区本駒込六丁目1-1")
    );
    assert_eq!(address_on(&a.id, ymd(2025, 8, 1)), None);
    assert_eq!(address_on("16666666601", ymd(2025, 5, 31)), None);
    assert_eq!(
        address_on("16666666601", ymd(2025, 6, 1)).as_deref(),
        Some("文京区大塚三丁目2-1")
    );
    let b_on = |d| {
        registry.view(&b.id, d).map(|v| {
            (
                v.household_id().to_string(),
                v.placement().relationship.clone(),
            )
        })
    };
    assert_eq!(
        b_on(ymd(2025, 6, 14)),
        Some((b.household.clone(), b.relationship.to_string()))
    );
    assert_eq!(
        b_on(ymd(2025, 6, 15)),
        Some(("66666666".to_string(), "夫".to_string()))
    );

    let n = people.len();
    let members = |d: NaiveDate| {
        registry
            .as_of(d)
            .map(|v| v.resident_id().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(registry.count_as_of(ymd(2025, 5, 31)), n);
    assert_eq!(registry.count_as_of(ymd(2025, 6, 1)), n + 1);
    assert!(members(ymd(2025, 7, 31)).contains(&a.id));
    assert!(!members(ymd(2025, 8, 1)).contains(&a.id));
    assert_eq!(registry.count_as_of(ymd(2025, 8, 1)), n);
    // Before the baseline, only those whose 異動日 says they were here.
    let in_2000 = people
        .iter()
        .filter(|p| p.moved_on.is_some_and(|d| d <= (2000, 1, 1)))
        .count();
    assert_eq!(registry.count_as_of(ymd(2000, 1, 1)), in_2000);

    let show = |d: &str| -> Value {
        let (stdout, _) = run_ok(&[
            "registry",
            "show",
            "--data",
            s(&dir),
            "--as-of",
            d,
            "--json",
        ]);
        serde_json::from_str(&stdout).unwrap()
    };
    assert_eq!(show("2025-05-31")["residents"], n);
    assert_eq!(show("2025-06-01")["residents"], n + 1);
    assert_eq!(show("令和7年8月1日")["residents"], n);
    // B joined the newcomer's household; everyone else is where generated.
    let mut households: Vec<&str> = people
        .iter()
        .map(|p| {
            if p.id == b.id {
                "66666666"
            } else {
                p.household.as_str()
            }
        })
        .chain(["66666666"])
        .collect();
    households.sort();
    households.dedup();
    assert_eq!(show("2025-06-15")["households"], households.len());
}

#[test]
fn ages_are_computed_on_the_reference_date() {
    let dir = scratch("ages");
    let csv = "住民票コード,世帯番号,氏名,生年月日,性別,続柄,住所,避難行動要支援者,異動日\n\
               10000000001,1,田中 茂,昭和15年3月2日,男,世帯主,東京都文京区向丘二丁目1番1号,○,2000-04-01\n\
               10000000002,1,田中 幸子,1950-03-02,女,妻,東京都文京区向丘二丁目1番1号,,2000-04-01\n\
               10000000003,2,田中 蓮,2011-03-02,男,世帯主,東京都文京区向丘一丁目5-2,,2011-03-02\n\
               10000000004,2,田中 陽菜,令和2年,女,子,東京都文京区向丘一丁目5-2,,2020-06-01\n";
    let file = dir.join("ages.csv");
    write(&file, &cp932(csv));
    import(&dir, &file, &[]);
    let stored = registry_bytes(&dir);
    let registry = Registry::load(&dir).unwrap();
    let age = |id: &str, d: NaiveDate| registry.view(id, d).unwrap().age_on(d);
    assert_eq!(age("10000000001", ymd(2025, 3, 1)), Some(84));
    assert_eq!(age("10000000001", ymd(2025, 3, 2)), Some(85));
    assert_eq!(
        age("10000000004", ymd(2025, 6, 1)),
        None,
        "born in 令和2年: 4 or 5"
    );
    assert_eq!(age("10000000004", ymd(2025, 12, 31)), Some(5));

    let show = |d: &str| -> Value {
        let (stdout, _) = run_ok(&[
            "registry",
            "show",
            "--data",
            s(&dir),
            "--as-of",
            d,
            "--json",
        ]);
        serde_json::from_str(&stdout).unwrap()
    };
    let bands = |v: &Value| {
        [
            "age_0_14",
            "age_15_64",
            "age_65_plus",
            "age_75_plus",
            "age_unknown",
        ]
        .map(|k| v[k].as_u64().unwrap())
    };
    // On 2025-03-01 幸子 is 74 and 蓮 13; the next day 75 and 14. 陽菜 is
    // 4 or 5 either day, a child either way.
    assert_eq!(bands(&show("2025-03-01")), [2, 0, 2, 1, 0]);
    assert_eq!(bands(&show("2025-03-02")), [2, 0, 2, 2, 0]);
    assert_eq!(bands(&show("2026-03-02")), [1, 1, 2, 2, 0]);
    let summary = show("2025-03-02");
    assert_eq!(
        (
            summary["residents"].as_u64(),
            summary["households"].as_u64()
        ),
        (Some(4), Some(2))
    );
    assert_eq!(summary["needs_support"], 1);
    // Ages are computed, never stored: asking changed nothing on disk.
    assert_eq!(registry_bytes(&dir), stored);

    let (stdout, _) = run_ok(&[
        "registry",
        "show",
        "--data",
        s(&dir),
        "--as-of",
        "2025-03-02",
    ]);
    assert!(stdout.contains("registry as of 2025-03-02"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["2", "age", "75+"])),
        "{stdout}"
    );
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// After this fraction of a full run's duration (reading, parsing…).
    At(f64),
    /// This long after the first change in the registry's directory (a new
    /// file, or the registry's size or time changing): in the middle of
    /// writing, the moment a torn write would show.
    Writing(Duration),
    /// Never: the run completes.
    Never,
}

/// The registry directory's files with their sizes and modification times,
/// except the lock.
fn listing(data: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(store::registry_dir(data))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "lock")
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().ok()?,
            ))
        })
        .collect();
    files.sort();
    files
}

/// Runs `args` once per kill moment and checks what each run leaves: the
/// registry loads and is byte for byte either `old` (and then the run did
/// not finish) or `new`. Returns how many kills landed before the new
/// registry was in place.
fn kill_runs(
    data: &Path,
    args: &[&str],
    full: Duration,
    old: &[u8],
    new: &[u8],
    restore: impl Fn(),
) -> usize {
    let moments = [
        Kill::At(0.05),
        Kill::At(0.3),
        Kill::At(0.6),
        Kill::Writing(Duration::ZERO),
        Kill::Writing(Duration::from_millis(5)),
        Kill::Writing(Duration::from_millis(30)),
        Kill::Never,
    ];
    let mut interrupted = 0;
    for moment in moments {
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match moment {
            Kill::At(fraction) => std::thread::sleep(full.mul_f64(fraction)),
            Kill::Writing(delay) => {
                let deadline = Instant::now() + full * 20;
                let before = listing(data);
                while listing(data) == before && Instant::now() < deadline {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(500));
                }
                std::thread::sleep(delay);
            }
            Kill::Never => {}
        }
        if !matches!(moment, Kill::Never) {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let after = registry_bytes(data);
        Registry::load(data).expect("the registry loads after a kill");
        if after == old {
            assert!(
                !status.success(),
                "{moment:?}: a finished run must have replaced the registry"
            );
            interrupted += 1;
        } else {
            assert!(
                after == new,
                "{moment:?}: neither the old nor the new registry"
            );
            restore();
        }
        if matches!(moment, Kill::Never) {
            assert!(status.success(), "the run that was not killed failed");
        }
    }
    interrupted
}

#[test]
fn a_kill_during_an_import_or_a_delta_leaves_the_previous_registry_intact() {
    let dir = scratch("kill");
    let big = residents(400_000, 11, 0);
    let big_file = dir.join("big.csv");
    write(&big_file, japanese_csv(&big).as_bytes());
    let small_file = dir.join("small.csv");
    write(
        &small_file,
        english_csv(&residents(300, 12, 900_000)).as_bytes(),
    );

    // What a complete import writes, and how long it takes.
    let reference = dir.join("reference");
    let import_args = |data: &Path| -> Vec<String> {
        [
            "registry",
            "import",
            s(&big_file),
            "--data",
            s(data),
            "--as-of",
            BASELINE,
        ]
        .map(String::from)
        .to_vec()
    };
    let started = Instant::now();
    run_ok(
        &import_args(&reference)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let full_import = started.elapsed();
    let big_bytes = registry_bytes(&reference);

    let data = dir.join("data");
    let restore_small = || {
        run_ok(&[
            "registry",
            "import",
            s(&small_file),
            "--data",
            s(&data),
            "--as-of",
            BASELINE,
        ]);
    };
    restore_small();
    let small_bytes = registry_bytes(&data);
    let args = import_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let interrupted = kill_runs(
        &data,
        &args,
        full_import,
        &small_bytes,
        &big_bytes,
        restore_small,
    );
    eprintln!("import of 400k rows: {full_import:?}; {interrupted} of 6 kills interrupted it");
    assert!(
        interrupted >= 3,
        "only {interrupted} kills interrupted an import of {full_import:?}"
    );

    // A large delta (100,000 転居) on the large registry, killed the same way.
    let rows: Vec<String> = big
        .iter()
        .step_by(4)
        .map(|p| {
            format!(
                "{},2025-04-10,転居,文京区湯島三丁目1-{}",
                p.id,
                p.id.len() + p.household.len()
            )
        })
        .collect();
    let delta = dir.join("delta.csv");
    write(
        &delta,
        format!("住民票コード,異動日,異動事由,住所\n{}\n", rows.join("\n")).as_bytes(),
    );
    let apply_args = |data: &Path| -> Vec<String> {
        ["registry", "apply", s(&delta), "--data", s(data)]
            .map(String::from)
            .to_vec()
    };
    let started = Instant::now();
    run_ok(
        &apply_args(&reference)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let full_apply = started.elapsed();
    let applied_bytes = registry_bytes(&reference);
    assert_ne!(applied_bytes, big_bytes);

    let put_back_big = || std::fs::write(store::registry_path(&data), &big_bytes).unwrap();
    put_back_big();
    let args = apply_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let interrupted = kill_runs(
        &data,
        &args,
        full_apply,
        &big_bytes,
        &applied_bytes,
        put_back_big,
    );
    eprintln!("delta of 100k rows: {full_apply:?}; {interrupted} of 6 kills interrupted it");
    assert!(
        interrupted >= 3,
        "only {interrupted} kills interrupted a delta of {full_apply:?}"
    );

    // Whatever temporaries the kills left are cleared by the next write.
    run_ok(&args);
    assert_eq!(registry_bytes(&data), applied_bytes);
    let leftovers: Vec<_> = std::fs::read_dir(store::registry_dir(&data))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Timings for the report: `cargo test --release --test registry -- --ignored --nocapture`.
#[test]
#[ignore]
fn timings_of_large_imports() {
    let dir = scratch("timings");
    for n in [100_000, 1_000_000] {
        let people = residents(n, 13, 0);
        let file = dir.join(format!("{n}.csv"));
        write(&file, &cp932(&japanese_csv(&people)));
        let data = dir.join(format!("data-{n}"));
        let started = Instant::now();
        let report = import(&data, &file, &[]);
        let import_time = started.elapsed();
        assert_eq!(report["imported"], people.len());
        let started = Instant::now();
        let registry = Registry::load(&data).unwrap();
        let load_time = started.elapsed();
        let started = Instant::now();
        let count = registry.count_as_of(ymd(2025, 4, 1));
        let query_time = started.elapsed();
        let rows: Vec<String> = people
            .iter()
            .step_by(1000)
            .map(|p| format!("{},2025-04-10,転居,文京区湯島三丁目1-1", p.id))
            .collect();
        let delta = dir.join(format!("delta-{n}.csv"));
        write(
            &delta,
            format!("住民票コード,異動日,異動事由,住所\n{}\n", rows.join("\n")).as_bytes(),
        );
        let started = Instant::now();
        apply(&data, &[&delta], &[]);
        let apply_time = started.elapsed();
        println!(
            "{n} rows: import {import_time:.2?}, load {load_time:.2?}, as_of count {count} in {query_time:.2?}, \
             delta of {} rows {apply_time:.2?}, file {} MB",
            rows.len(),
            registry_bytes(&data).len() / 1_000_000
        );
        assert!(
            load_time < Duration::from_secs(3),
            "load took {load_time:?}"
        );
    }
}
