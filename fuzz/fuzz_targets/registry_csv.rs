//! The resident registry importer on arbitrary bytes: encoding detection
//! (UTF-8 / CP932) and each encoding forced, CSV reading, header mapping
//! (with configured aliases), row parsing (西暦/和暦 dates, 性別, flags,
//! 要介護度, 異動事由), the baseline build and its summary, and the same
//! bytes read as a 異動 delta applied on top of that baseline. Errors and
//! rejections are expected; panics are not.

#![no_main]

use std::sync::OnceLock;

use chiiki_registry::delta::{apply_rows, parse_rows};
use chiiki_registry::import::build;
use chiiki_registry::model::Baseline;
use chiiki_registry::reader::Table;
use chiiki_registry::record::{DELTA_COLUMNS, IMPORT_COLUMNS};
use chiiki_registry::{ColumnAliases, DeltaReport, Registry, Summary, TextEncoding};
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

fn aliases() -> &'static ColumnAliases {
    static A: OnceLock<ColumnAliases> = OnceLock::new();
    A.get_or_init(|| ColumnAliases {
        resident_id: vec!["宛名番号".into(), "個人コード".into()],
        name: vec!["漢字氏名".into()],
        address: vec!["住所（方書除く）".into()],
        ..Default::default()
    })
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn run(data: &[u8], encoding: Option<TextEncoding>) {
    let aliases = aliases();
    let Ok(table) = Table::from_bytes("fuzz.csv".into(), data, encoding, aliases) else {
        return;
    };
    let as_of = ymd(2026, 11, 22);
    let mut registry = if table.columns.require(&IMPORT_COLUMNS, aliases).is_ok() {
        let (registry, report) = build(&table, as_of);
        assert!(report.imported <= report.rows_read);
        assert_eq!(registry.residents().len(), report.imported);
        for day in [ymd(1900, 1, 1), as_of, ymd(2100, 12, 31)] {
            let _ = Summary::of(&registry, day);
        }
        registry
    } else {
        Registry::new(
            Baseline {
                source: "empty".into(),
                as_of,
            },
            Vec::new(),
        )
    };
    if table.columns.require(&DELTA_COLUMNS, aliases).is_ok() {
        let mut report = DeltaReport::default();
        let rows = parse_rows(&table, &mut report);
        apply_rows(&mut registry, rows, &mut report);
        assert!(report.applied <= report.rows_read);
        let _ = Summary::of(&registry, ymd(2030, 1, 1));
    }
}

fuzz_target!(|data: &[u8]| {
    run(data, None);
    run(data, Some(TextEncoding::Utf8));
    run(data, Some(TextEncoding::Cp932));
});
