//! Daily deltas: 異動 rows (転入, 転出, 転居, 出生, 死亡, 世帯変更) keyed by
//! 住民票コード, applied on top of the registry.
//!
//! - All the files of one `apply` form one delta: their valid rows are
//!   applied in 異動日 order (file order within a day) and committed by one
//!   atomic write, or not at all.
//! - A row that contradicts the registry (転出 of an unknown resident, 転入
//!   of one already registered, a change dated before the resident's last
//!   one…) is reported and not applied; with `strict`, any rejected row
//!   refuses the whole delta.
//! - Idempotence: each applied row is remembered by its identity (resident,
//!   異動日, 異動事由 and the values it carries, hashed). A row whose identity
//!   was applied before is reported as already applied and skipped, so
//!   applying a delta twice changes nothing, and a day's file re-sent with
//!   rows added applies only the added rows. This check comes before the
//!   contradiction check: re-applying 転出 is "already applied", not "not
//!   registered". A row with the same resident, day and 異動事由 but other
//!   values (a corrected address) is a new 異動 and is judged as such.
//! - What each 異動 changes: 転入 and 出生 add a resident (転入 also brings
//!   back one who moved out, with the row's personal data); 転出 and 死亡
//!   end the registration; 転居 changes 住所 and 方書; 世帯変更 changes
//!   世帯番号 and/or 続柄. Other columns of a row are not used.

use std::collections::HashMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::date::days;
use super::encoding::TextEncoding;
use super::error::Result;
use super::field::ColumnAliases;
use super::model::{AppliedEvent, EventId, Registry, Resident, Status, Version};
use super::reader::Table;
use super::record::{parse_delta_row, Change, DeltaRow, DELTA_COLUMNS};
use super::report::{distinct_rows, AlreadyApplied, DeltaReport, Rejection, RejectionKind};
use super::store::RegistryPlace;

#[derive(Debug, Clone, Default)]
pub struct DeltaOptions {
    /// The files' encoding; detected per file when `None`.
    pub encoding: Option<TextEncoding>,
    /// Refuse the whole delta if any row is rejected.
    pub strict: bool,
}

/// Applies the delta files to the registry kept at `place`. The report says
/// what was applied and whether it was committed; under `strict` a rejected
/// row refuses the whole delta. Errors (registry unchanged) are for files
/// that cannot be read or mapped, or a missing registry.
pub fn apply_files(
    place: &RegistryPlace,
    paths: &[PathBuf],
    aliases: &ColumnAliases,
    options: &DeltaOptions,
) -> Result<DeltaReport> {
    let lock = place.lock()?;
    let mut registry = place.load()?;
    let mut report = DeltaReport::default();
    let mut rows = Vec::new();
    for path in paths {
        let table = Table::open(path, options.encoding, aliases)?;
        table.columns.require(&DELTA_COLUMNS, aliases)?;
        report.files.push(table.file.clone());
        report
            .ignored_columns
            .extend(table.columns.ignored.iter().cloned());
        rows.extend(parse_rows(&table, &mut report));
    }
    apply_rows(&mut registry, rows, &mut report);
    report.rejected_rows = distinct_rows(&report.rejections);
    if options.strict && !report.rejections.is_empty() {
        report.refused = Some(format!(
            "--strict: {} row(s) rejected",
            report.rejected_rows
        ));
    } else if report.applied > 0 {
        place.save(&registry, &lock)?;
        report.committed = true;
    }
    Ok(report)
}

/// The 異動 rows of a table that parse; the others go to `report` as rejections.
pub fn parse_rows(table: &Table, report: &mut DeltaReport) -> Vec<DeltaRow> {
    let mut rows = Vec::new();
    for row in table.rows() {
        report.rows_read += 1;
        match row.map(|r| parse_delta_row(&r)) {
            Ok(Ok(parsed)) => rows.push(parsed),
            Ok(Err(errors)) | Err(errors) => report.rejections.extend(errors),
        }
    }
    rows
}

/// Applies `rows` in 異動日 order to `registry` in memory, recording in
/// `report` what was applied, skipped as already applied, or contradicted.
pub fn apply_rows(registry: &mut Registry, mut rows: Vec<DeltaRow>, report: &mut DeltaReport) {
    // Stable: rows of one day keep their file order (転入 before 転居…).
    rows.sort_by_key(|r| r.moved_on);
    let mut finder = Finder::new(registry);
    for row in rows {
        let id = event_id(&row);
        let source = format!("{}:{}", row.file, row.line);
        if let Some(&i) = registry.applied.get(&id) {
            report.already_applied.push(AlreadyApplied {
                file: row.file.clone(),
                line: row.line,
                resident_id: row.resident_id.clone(),
                first_applied_from: registry.events[i].source.clone(),
            });
            continue;
        }
        match apply_one(registry, &mut finder, &row) {
            Ok(()) => {
                registry.applied.insert(id, registry.events.len());
                registry.events.push(AppliedEvent {
                    id,
                    resident_id: row.resident_id.clone(),
                    date: row.moved_on,
                    kind: row.change.kind(),
                    source,
                });
                report.applied += 1;
            }
            Err(reason) => report.rejections.push(Rejection {
                file: row.file.clone(),
                line: row.line,
                field: None,
                column: None,
                kind: RejectionKind::Contradiction,
                reason: format!(
                    "{} of {} on {}: {reason}",
                    row.change.kind(),
                    row.resident_id,
                    row.moved_on
                ),
            }),
        }
    }
    // Put the residents added at the end in their place.
    registry.residents.sort_by(|a, b| a.id.cmp(&b.id));
}

/// Finds residents by 住民票コード while a delta adds new ones: the
/// registry's residents are sorted, so a binary search finds them; the new
/// ones are appended (inserting each in order would move a million entries
/// every time) and found through a map until the delta is done.
struct Finder {
    sorted: usize,
    appended: HashMap<String, usize>,
}

impl Finder {
    fn new(registry: &Registry) -> Finder {
        Finder {
            sorted: registry.residents.len(),
            appended: HashMap::new(),
        }
    }

    fn find(&self, registry: &Registry, id: &str) -> Option<usize> {
        registry.residents[..self.sorted]
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .or_else(|| self.appended.get(id).copied())
    }

    fn append(&mut self, registry: &mut Registry, resident: Resident) {
        self.appended
            .insert(resident.id.clone(), registry.residents.len());
        registry.residents.push(resident);
    }
}

/// The identity of a row: what it changes, not where it was read from, so
/// the same 異動 in another file is still the same 異動.
fn event_id(row: &DeltaRow) -> EventId {
    #[derive(serde::Serialize)]
    struct Identity<'a> {
        resident_id: &'a str,
        #[serde(with = "days")]
        moved_on: chrono::NaiveDate,
        change: &'a Change,
    }
    let bytes = postcard::to_allocvec(&Identity {
        resident_id: &row.resident_id,
        moved_on: row.moved_on,
        change: &row.change,
    })
    .expect("serialising to memory cannot fail");
    let digest = Sha256::digest(&bytes);
    let mut id = EventId::default();
    let n = id.len();
    id.copy_from_slice(&digest[..n]);
    id
}

/// Applies one 異動, or says why it contradicts the registry (and then
/// changes nothing).
fn apply_one(registry: &mut Registry, finder: &mut Finder, row: &DeltaRow) -> Result<(), String> {
    let date = row.moved_on;
    let existing = finder
        .find(registry, &row.resident_id)
        .map(|i| &mut registry.residents[i]);
    match (&row.change, existing) {
        (Change::MoveIn(person, placement) | Change::Birth(person, placement), None) => {
            let version = Version {
                from: date,
                status: Status::Registered,
                placement: placement.clone(),
            };
            let resident = Resident::new(row.resident_id.clone(), person.clone(), version);
            finder.append(registry, resident);
            Ok(())
        }
        (Change::Birth(..), Some(resident)) => Err(format!(
            "the 住民票コード is already taken ({})",
            describe(resident)
        )),
        (Change::MoveIn(person, placement), Some(resident)) => {
            match resident.current().status {
                Status::Registered => {
                    return Err(format!("already registered ({})", describe(resident)))
                }
                Status::Dead => return Err(describe(resident)),
                Status::MovedOut => {}
            }
            in_order(resident, row)?;
            // Coming back: who they are may have changed while away.
            resident.person = person.clone();
            resident.versions.push(Version {
                from: date,
                status: Status::Registered,
                placement: placement.clone(),
            });
            Ok(())
        }
        (_, None) => Err("no such resident in the registry".to_string()),
        (change, Some(resident)) => {
            if resident.current().status != Status::Registered {
                return Err(format!("not registered ({})", describe(resident)));
            }
            in_order(resident, row)?;
            let mut next = resident.current().clone();
            next.from = date;
            match change {
                Change::MoveOut => next.status = Status::MovedOut,
                Change::Death => next.status = Status::Dead,
                Change::Relocation {
                    address,
                    address_extra,
                } => {
                    next.placement.address = address.clone();
                    next.placement.address_extra = address_extra.clone();
                }
                Change::HouseholdChange {
                    household_id,
                    relationship,
                } => {
                    if let Some(h) = household_id {
                        next.placement.household_id = h.clone();
                    }
                    if let Some(r) = relationship {
                        next.placement.relationship = r.clone();
                    }
                }
                Change::MoveIn(..) | Change::Birth(..) => unreachable!("handled above"),
            }
            resident.versions.push(next);
            Ok(())
        }
    }
}

/// History is appended, never rewritten: a 異動 dated before the resident's
/// latest change would silently reorder what as-of queries answered before.
fn in_order(resident: &Resident, row: &DeltaRow) -> Result<(), String> {
    let last = resident.current().from;
    if row.moved_on < last {
        return Err(format!(
            "the 異動日 is before the resident's latest recorded change ({last})"
        ));
    }
    Ok(())
}

/// The resident's latest state, for messages.
fn describe(resident: &Resident) -> String {
    let v = resident.current();
    match v.status {
        Status::Registered => format!("registered since {}", v.from),
        Status::MovedOut => format!("moved out on {}", v.from),
        Status::Dead => format!("died on {}", v.from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{one_resident_registry, person, placement, ymd};

    fn registry() -> Registry {
        one_resident_registry("base.csv")
    }

    fn row(line: u64, id: &str, on: chrono::NaiveDate, change: Change) -> DeltaRow {
        DeltaRow {
            file: "d.csv".into(),
            line,
            resident_id: id.into(),
            moved_on: on,
            change,
        }
    }

    fn relocation(address: &str) -> Change {
        Change::Relocation {
            address: address.into(),
            address_extra: String::new(),
        }
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let rows = vec![
            row(2, "1", ymd(2025, 4, 3), relocation("本郷二丁目3-5")),
            row(
                3,
                "2",
                ymd(2025, 4, 2),
                Change::Birth(
                    person("佐藤 陽菜", ymd(2025, 4, 2)),
                    placement("H1", "白山一丁目1番1号"),
                ),
            ),
        ];
        let mut reg = registry();
        let mut first = DeltaReport::default();
        apply_rows(&mut reg, rows.clone(), &mut first);
        assert_eq!((first.applied, first.rejections.len()), (2, 0));
        let after_first = reg.clone();
        let mut second = DeltaReport::default();
        apply_rows(&mut reg, rows, &mut second);
        assert_eq!(second.applied, 0);
        assert_eq!(second.already_applied.len(), 2);
        assert!(second.rejections.is_empty());
        assert_eq!(reg, after_first);
    }

    #[test]
    fn the_same_row_twice_in_one_delta_applies_once() {
        let mut reg = registry();
        let mut report = DeltaReport::default();
        let out = row(2, "1", ymd(2025, 4, 3), Change::MoveOut);
        let mut again = out.clone();
        again.line = 9;
        apply_rows(&mut reg, vec![out, again], &mut report);
        assert_eq!(report.applied, 1);
        assert_eq!(report.already_applied.len(), 1);
        assert_eq!(report.already_applied[0].line, 9);
        assert_eq!(report.already_applied[0].first_applied_from, "d.csv:2");
        assert!(report.rejections.is_empty());
        assert_eq!(reg.resident("1").unwrap().versions.len(), 2);
    }

    #[test]
    fn contradictions_are_reported_and_not_applied() {
        let mut reg = registry();
        let before = reg.clone();
        let mut report = DeltaReport::default();
        apply_rows(
            &mut reg,
            vec![
                row(2, "9", ymd(2025, 4, 2), Change::MoveOut),
                row(
                    3,
                    "1",
                    ymd(2025, 4, 2),
                    Change::MoveIn(person("x", ymd(1990, 1, 1)), placement("H2", "千石")),
                ),
                row(4, "1", ymd(2019, 1, 1), relocation("根津")),
            ],
            &mut report,
        );
        assert_eq!(report.applied, 0);
        let reasons: Vec<_> = report
            .rejections
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert!(
            reasons[0].contains("before the resident's latest"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("no such resident"), "{reasons:?}");
        assert!(reasons[2].contains("already registered"), "{reasons:?}");
        assert!(report
            .rejections
            .iter()
            .all(|r| r.kind == RejectionKind::Contradiction));
        assert_eq!(reg, before);
    }

    #[test]
    fn rows_apply_in_date_order_and_death_is_final() {
        let mut reg = registry();
        let mut report = DeltaReport::default();
        apply_rows(
            &mut reg,
            vec![
                row(2, "1", ymd(2025, 5, 1), Change::Death),
                row(3, "1", ymd(2025, 4, 10), relocation("本郷二丁目3-5")),
                row(4, "1", ymd(2025, 5, 2), Change::Death),
                row(
                    5,
                    "1",
                    ymd(2025, 6, 1),
                    Change::MoveIn(person("x", ymd(1940, 3, 2)), placement("H1", "根津")),
                ),
            ],
            &mut report,
        );
        assert_eq!(report.applied, 2, "{:?}", report.rejections);
        assert_eq!(report.rejections.len(), 2);
        assert!(report.rejections[0].reason.contains("died on 2025-05-01"));
        assert_eq!(
            reg.view("1", ymd(2025, 4, 30)).unwrap().address(),
            "本郷二丁目3-5"
        );
        assert!(reg.view("1", ymd(2025, 5, 1)).is_none());
    }

    #[test]
    fn a_moved_out_resident_can_come_back() {
        let mut reg = registry();
        let mut report = DeltaReport::default();
        apply_rows(
            &mut reg,
            vec![
                row(2, "1", ymd(2025, 4, 10), Change::MoveOut),
                row(
                    3,
                    "1",
                    ymd(2025, 9, 1),
                    Change::MoveIn(
                        person("佐藤 花子", ymd(1940, 3, 2)),
                        placement("H7", "根津一丁目2番3号"),
                    ),
                ),
            ],
            &mut report,
        );
        assert_eq!(report.applied, 2, "{:?}", report.rejections);
        assert!(reg.view("1", ymd(2025, 6, 1)).is_none());
        assert_eq!(reg.view("1", ymd(2025, 9, 1)).unwrap().household_id(), "H7");
        assert_eq!(reg.view("1", ymd(2025, 4, 9)).unwrap().household_id(), "H1");
    }

    #[test]
    fn residents_added_by_a_delta_are_found_and_kept_in_order() {
        let mut reg = registry();
        let mut report = DeltaReport::default();
        let birth = |id: &str| {
            let baby = person("佐藤 陽菜", ymd(2025, 4, 2));
            let home = placement("H1", "白山一丁目1番1号");
            row(2, id, ymd(2025, 4, 2), Change::Birth(baby, home))
        };
        apply_rows(
            &mut reg,
            vec![
                birth("3"),
                birth("0"),
                row(4, "3", ymd(2025, 4, 20), relocation("本郷二丁目3-5")),
                row(5, "0", ymd(2025, 4, 21), Change::Death),
            ],
            &mut report,
        );
        assert_eq!(report.applied, 4, "{:?}", report.rejections);
        let ids: Vec<&str> = reg.residents().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "3"]);
        assert_eq!(
            reg.view("3", ymd(2025, 4, 20)).unwrap().address(),
            "本郷二丁目3-5"
        );
        assert!(reg.view("0", ymd(2025, 4, 21)).is_none());
        assert!(reg.view("1", ymd(2025, 4, 21)).is_some());
    }

    #[test]
    fn identity_depends_on_content_not_on_source() {
        let a = row(2, "1", ymd(2025, 4, 3), relocation("本郷二丁目3-5"));
        let mut b = a.clone();
        b.file = "other.csv".into();
        b.line = 40;
        assert_eq!(event_id(&a), event_id(&b));
        let c = row(2, "1", ymd(2025, 4, 3), relocation("本郷二丁目3-6"));
        assert_ne!(event_id(&a), event_id(&c));
        let d = row(2, "1", ymd(2025, 4, 4), relocation("本郷二丁目3-5"));
        assert_ne!(event_id(&a), event_id(&d));
    }
}
