//! Full import: a complete export becomes the registry's new baseline.
//!
//! Each valid row becomes a resident whose history starts at the row's 異動日,
//! or at the baseline date (`--as-of`, default today) when it has none. A row
//! whose 異動事由 is 転出 or 死亡 (a 除票 in the export) is kept as a resident
//! no longer registered from that day, so later deltas about them are judged
//! correctly. The previous registry, with its history, is replaced whole.

use std::path::Path;

use chrono::NaiveDate;

use super::encoding::TextEncoding;
use super::error::Result;
use super::field::{ColumnAliases, Field};
use super::model::{Baseline, Registry, Resident, Status, Version};
use super::reader::Table;
use super::record::{parse_import_row, ImportRow, IMPORT_COLUMNS};
use super::report::{distinct_rows, ImportReport, Rejection};
use super::store::RegistryPlace;
use super::values::ChangeKind;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The file's encoding; detected when `None`.
    pub encoding: Option<TextEncoding>,
    /// Refuse the whole file if any row is rejected.
    pub strict: bool,
    /// The export's date: the baseline.
    pub as_of: NaiveDate,
    /// The municipality the registry is of (names or 全国地方公共団体コード):
    /// the city its addresses are read in when they name none.
    pub city: Vec<String>,
}

/// Imports `path` as the registry kept at `place`. The report says whether
/// it was committed: a file with no valid row, or with a rejected row under
/// `strict`, is refused and the previous registry stays. Errors are for
/// files that cannot be read or mapped at all.
pub fn import_file(
    place: &RegistryPlace,
    path: &Path,
    aliases: &ColumnAliases,
    options: &ImportOptions,
) -> Result<ImportReport> {
    let lock = place.lock()?;
    let started = std::time::Instant::now();
    let table = Table::open(path, options.encoding, aliases)?;
    table.columns.require(&IMPORT_COLUMNS, aliases)?;
    tracing::debug!("read {} in {:.2?}", table.file, started.elapsed());
    let started = std::time::Instant::now();
    let (registry, mut report) = build(&table, options.as_of, &options.city);
    drop(table);
    tracing::debug!(
        "parsed {} rows in {:.2?}",
        report.rows_read,
        started.elapsed()
    );
    if options.strict && !report.rejections.is_empty() {
        report.refused = Some(format!(
            "--strict: {} row(s) rejected",
            report.rejected_rows
        ));
    } else if report.imported == 0 {
        report.refused = Some(format!("no valid row among {} read", report.rows_read));
    } else {
        let started = std::time::Instant::now();
        place.save(&registry, &lock)?;
        tracing::debug!("saved the registry in {:.2?}", started.elapsed());
        report.committed = true;
    }
    Ok(report)
}

/// The baseline registry built from the rows of `table`, and the report.
pub fn build(table: &Table, as_of: NaiveDate, city: &[String]) -> (Registry, ImportReport) {
    // With the line each came from, to report duplicates.
    let mut rows_in: Vec<(Resident, u64)> = Vec::new();
    let mut rejections: Vec<Rejection> = Vec::new();
    let mut rows_read = 0;
    for row in table.rows() {
        rows_read += 1;
        let row = match row {
            Ok(row) => row,
            Err(errors) => {
                rejections.extend(errors);
                continue;
            }
        };
        let record = match parse_import_row(&row) {
            Ok(record) => record,
            Err(errors) => {
                rejections.extend(errors);
                continue;
            }
        };
        if let Err(reason) = check(&record, as_of) {
            rejections.push(row.reject(Some(Field::BirthDate), reason));
            continue;
        }
        rows_in.push((resident(record, as_of), row.line));
    }

    // A 住民票コード on two rows: the first row stands, the others are
    // rejected. Sorting (stable, so lines stay in order) brings them
    // together, and the registry wants residents sorted anyway.
    rows_in.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut residents: Vec<Resident> = Vec::with_capacity(rows_in.len());
    let mut first_line = 0;
    for (resident, line) in rows_in {
        if residents.last().is_some_and(|r| r.id == resident.id) {
            rejections.push(table.rejection(
                line,
                Some(Field::ResidentId),
                format!("住民票コード {} is also on line {first_line}", resident.id),
            ));
        } else {
            first_line = line;
            residents.push(resident);
        }
    }
    rejections.sort_by_key(|r| r.line);

    let imported = residents.len();
    let registry = Registry::new(
        Baseline {
            source: table.file.clone(),
            as_of,
            city: city.to_vec(),
        },
        residents,
    );
    let report = ImportReport {
        file: table.file.clone(),
        encoding: table.encoding,
        as_of: as_of.to_string(),
        rows_read,
        imported,
        rejected_rows: distinct_rows(&rejections),
        rejections,
        ignored_columns: table.columns.ignored.clone(),
        committed: false,
        refused: None,
    };
    (registry, report)
}

/// A birth date after the export's date is a typo, not a resident.
fn check(record: &ImportRow, as_of: NaiveDate) -> Result<(), String> {
    let born = record.person.birth_date;
    if born.first_day() > as_of {
        return Err(format!("born {born}, after the registry date {as_of}"));
    }
    if let Some(moved_on) = record.moved_on {
        if born.first_day() > moved_on {
            return Err(format!("born {born}, after the 異動日 {moved_on}"));
        }
    }
    Ok(())
}

fn resident(record: ImportRow, as_of: NaiveDate) -> Resident {
    let status = match record.change {
        Some(ChangeKind::MoveOut) => Status::MovedOut,
        Some(ChangeKind::Death) => Status::Dead,
        _ => Status::Registered,
    };
    let version = Version {
        from: record.moved_on.unwrap_or(as_of),
        status,
        placement: record.placement,
    };
    Resident::new(record.resident_id, record.person, version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::ymd;

    fn table(csv: &str) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        std::fs::write(&path, csv).unwrap();
        let table = Table::open(&path, None, &ColumnAliases::default()).unwrap();
        (dir, table)
    }

    #[test]
    fn removed_residents_of_an_export_are_kept_as_not_registered() {
        let (_dir, t) = table(
            "住民票コード,世帯番号,氏名,生年月日,性別,続柄,住所,異動日,異動事由\n\
             1,H1,佐藤 花子,S15.3.2,女,世帯主,白山一丁目1番1号,2010-04-01,転入\n\
             2,H1,佐藤 茂,S12.1.5,男,夫,白山一丁目1番1号,2024-11-03,死亡\n\
             3,H2,鈴木 蓮,H10.7.7,男,世帯主,本郷二丁目3-5,2025-02-01,転出(国外)\n\
             4,H3,田中 結衣,H5.5.5,女,世帯主,根津一丁目2-3,,\n",
        );
        let (registry, report) = build(&t, ymd(2025, 4, 1), &[]);
        assert_eq!((report.imported, report.rejections.len()), (4, 0));
        let status = |id: &str| registry.resident(id).unwrap().current().status;
        assert_eq!(status("2"), Status::Dead);
        assert_eq!(status("3"), Status::MovedOut);
        let registered: Vec<&str> = registry
            .as_of(ymd(2025, 4, 1))
            .map(|v| v.resident_id())
            .collect();
        assert_eq!(registered, ["1", "4"]);
        // Without 異動日, history starts at the export's date.
        assert!(registry.view("4", ymd(2025, 3, 31)).is_none());
        assert!(registry.view("1", ymd(2010, 4, 1)).is_some());
    }

    #[test]
    fn duplicates_keep_the_first_row_and_name_its_line() {
        let (_dir, t) = table(
            "resident_id,household_id,name,birth_date,sex,relationship,address\n\
             7,H1,a,1980-01-01,F,head,x\n\
             8,H1,b,1980-01-01,F,head,x\n\
             7,H2,c,1981-01-01,M,head,y\n",
        );
        let (registry, report) = build(&t, ymd(2025, 4, 1), &[]);
        assert_eq!(report.imported, 2);
        assert_eq!(registry.resident("7").unwrap().person.name, "a");
        assert_eq!(report.rejections[0].line, 4);
        assert_eq!(report.rejections[0].field, Some(Field::ResidentId));
        assert!(report.rejections[0].reason.contains("also on line 2"));
    }
}
