//! A CSV row read as a typed record: a resident of a full export
//! ([`ImportRow`]) or one 異動 of a delta ([`DeltaRow`]).
//!
//! Every value of the row is checked, so a row with three bad values is
//! reported with three reasons at once rather than one per attempt.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::date::{parse_date, parse_day, PartialDate};
use super::field::Field;
use super::reader::Row;
use super::report::Rejection;
use super::values::{
    fold, nfkc, parse_care_level, parse_change_kind, parse_flag, parse_sex, CareLevel, ChangeKind,
    Sex,
};

/// Who a resident is: what stays the same when they move.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub name_kana: String,
    pub birth_date: PartialDate,
    pub sex: Sex,
    /// 避難行動要支援者
    pub needs_support: bool,
    /// 要介護度
    pub care_level: Option<CareLevel>,
    /// 障害
    pub disability: bool,
}

/// Where and with whom a resident is registered: what a 転居 or 世帯変更
/// changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub household_id: String,
    /// 続柄 as written (世帯主, 妻, 子…).
    pub relationship: String,
    /// 住所 as written.
    pub address: String,
    /// 方書 (building, room).
    pub address_extra: String,
}

/// A resident of a full export.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub resident_id: String,
    pub person: Person,
    pub placement: Placement,
    pub moved_on: Option<NaiveDate>,
    pub change: Option<ChangeKind>,
}

/// One 異動 of a delta file.
#[derive(Debug, Clone)]
pub struct DeltaRow {
    pub file: String,
    pub line: u64,
    pub resident_id: String,
    pub moved_on: NaiveDate,
    pub change: Change,
}

/// What an 異動 changes, with the values that kind of change needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Change {
    MoveIn(Person, Placement),
    Birth(Person, Placement),
    MoveOut,
    Death,
    Relocation {
        address: String,
        address_extra: String,
    },
    /// 世帯変更; a value not given stays as it was.
    HouseholdChange {
        household_id: Option<String>,
        relationship: Option<String>,
    },
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::MoveIn(..) => ChangeKind::MoveIn,
            Change::Birth(..) => ChangeKind::Birth,
            Change::MoveOut => ChangeKind::MoveOut,
            Change::Death => ChangeKind::Death,
            Change::Relocation { .. } => ChangeKind::Relocation,
            Change::HouseholdChange { .. } => ChangeKind::HouseholdChange,
        }
    }
}

/// The columns a full export must have.
pub const IMPORT_COLUMNS: [Field; 7] = [
    Field::ResidentId,
    Field::HouseholdId,
    Field::Name,
    Field::BirthDate,
    Field::Sex,
    Field::Relationship,
    Field::Address,
];

/// The columns a delta must have; the others are needed by some 異動 only.
pub const DELTA_COLUMNS: [Field; 3] = [Field::ResidentId, Field::MovedOn, Field::ChangeReason];

pub fn parse_import_row(row: &Row<'_>) -> Result<ImportRow, Vec<Rejection>> {
    let mut c = Checker::new(row);
    let resident_id = c.required(Field::ResidentId, parse_code);
    let person = c.person();
    let placement = c.placement();
    let moved_on = c.optional(Field::MovedOn, parse_day);
    let change = c.optional(Field::ChangeReason, parse_change_kind);
    let (Some(resident_id), Some(person), Some(placement)) = (resident_id, person, placement)
    else {
        return Err(c.errors);
    };
    c.finish()?;
    Ok(ImportRow {
        line: row.line,
        resident_id,
        person,
        placement,
        moved_on,
        change,
    })
}

pub fn parse_delta_row(row: &Row<'_>) -> Result<DeltaRow, Vec<Rejection>> {
    let mut c = Checker::new(row);
    let resident_id = c.required(Field::ResidentId, parse_code);
    let moved_on = c.required(Field::MovedOn, parse_day);
    let kind = c.required(Field::ChangeReason, parse_change_kind);
    let change = kind.and_then(|kind| match kind {
        ChangeKind::MoveIn | ChangeKind::Birth => {
            let person = c.person();
            let placement = c.placement();
            let (person, placement) = (person?, placement?);
            if let Some(on) = moved_on {
                if person.birth_date.first_day() > on {
                    c.fail(Field::BirthDate, format!("born after the 異動日 {on}"));
                }
            }
            Some(if kind == ChangeKind::Birth {
                Change::Birth(person, placement)
            } else {
                Change::MoveIn(person, placement)
            })
        }
        ChangeKind::MoveOut => Some(Change::MoveOut),
        ChangeKind::Death => Some(Change::Death),
        ChangeKind::Relocation => Some(Change::Relocation {
            address: c.required(Field::Address, text)?,
            address_extra: c.optional(Field::AddressExtra, text).unwrap_or_default(),
        }),
        ChangeKind::HouseholdChange => {
            let household_id = c.optional(Field::HouseholdId, parse_code);
            let relationship = c.optional(Field::Relationship, text);
            if household_id.is_none() && relationship.is_none() && c.errors.is_empty() {
                c.fail(
                    Field::HouseholdId,
                    "世帯変更 needs a new 世帯番号 or 続柄".to_string(),
                );
            }
            Some(Change::HouseholdChange {
                household_id,
                relationship,
            })
        }
    });
    let (Some(resident_id), Some(moved_on), Some(change)) = (resident_id, moved_on, change) else {
        return Err(c.errors);
    };
    c.finish()?;
    Ok(DeltaRow {
        file: row.table.file.clone(),
        line: row.line,
        resident_id,
        moved_on,
        change,
    })
}

/// Collects the problems of one row while its values are parsed.
struct Checker<'r, 't> {
    row: &'r Row<'t>,
    errors: Vec<Rejection>,
}

impl<'r, 't> Checker<'r, 't> {
    fn new(row: &'r Row<'t>) -> Self {
        Checker {
            row,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: Field, reason: String) {
        self.errors.push(self.row.reject(Some(field), reason));
    }

    fn required<T>(
        &mut self,
        field: Field,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.row.get(field) {
            Some(value) => self.parsed(field, parse(value)),
            None => {
                self.fail(field, "missing".to_string());
                None
            }
        }
    }

    fn optional<T>(
        &mut self,
        field: Field,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.row.get(field)?;
        self.parsed(field, parse(value))
    }

    fn parsed<T>(&mut self, field: Field, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.fail(field, reason)).ok()
    }

    fn person(&mut self) -> Option<Person> {
        let name = self.required(Field::Name, text);
        let name_kana = self.optional(Field::NameKana, kana).unwrap_or_default();
        let birth_date = self.required(Field::BirthDate, parse_date);
        let sex = self.required(Field::Sex, parse_sex);
        let needs_support = self
            .optional(Field::NeedsSupport, parse_flag)
            .unwrap_or(false);
        let care_level = self.optional(Field::CareLevel, parse_care_level).flatten();
        let disability = self
            .optional(Field::Disability, parse_flag)
            .unwrap_or(false);
        Some(Person {
            name: name?,
            name_kana,
            birth_date: birth_date?,
            sex: sex?,
            needs_support,
            care_level,
            disability,
        })
    }

    fn placement(&mut self) -> Option<Placement> {
        let household_id = self.required(Field::HouseholdId, parse_code);
        let relationship = self.required(Field::Relationship, text);
        let address = self.required(Field::Address, text);
        let address_extra = self.optional(Field::AddressExtra, text).unwrap_or_default();
        Some(Placement {
            household_id: household_id?,
            relationship: relationship?,
            address: address?,
            address_extra,
        })
    }

    fn finish(self) -> Result<(), Vec<Rejection>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Free text, kept as written (names and addresses are not normalised: a
/// name's 異体字 matters).
fn text(value: &str) -> Result<String, String> {
    Ok(value.to_string())
}

/// Kana, with half-width katakana (and the ideographic space) folded by NFKC.
fn kana(value: &str) -> Result<String, String> {
    Ok(nfkc(value).into_owned())
}

/// 住民票コード and 世帯番号: letters and digits (full-width folded), as text
/// so leading zeros survive.
fn parse_code(value: &str) -> Result<String, String> {
    let code = fold(value);
    if code.is_empty() || code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "'{}' is not a code (1–32 letters or digits)",
            value.trim()
        ));
    }
    Ok(code.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::ColumnAliases;
    use crate::reader::Table;

    fn rows(csv: &str) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, csv).unwrap();
        let table = Table::open(&path, None, &ColumnAliases::default()).unwrap();
        (dir, table)
    }

    const HEADER: &str = "住民票コード,世帯番号,氏名,フリガナ,生年月日,性別,続柄,住所,方書,異動日,異動事由,避難行動要支援者,要介護度,障害\n";

    #[test]
    fn a_full_row_parses() {
        let (_d, t) = rows(&format!(
            "{HEADER}０１２３,H1,佐藤 花子,ｻﾄｳ ﾊﾅｺ,S15.3.2,女,世帯主,東京都文京区白山一丁目1番1号,白山ハイツ101,2020-04-01,転入,○,要介護2,\n"
        ));
        let row = t.rows().next().unwrap().ok().unwrap();
        let r = parse_import_row(&row).unwrap();
        assert_eq!(r.resident_id, "0123");
        assert_eq!(r.person.name_kana, "サトウ ハナコ");
        assert_eq!(r.person.birth_date.to_string(), "1940-03-02");
        assert_eq!(r.person.sex, Sex::Female);
        assert!(r.person.needs_support);
        assert_eq!(r.person.care_level, Some(CareLevel::Care2));
        assert!(!r.person.disability);
        assert_eq!(r.placement.address_extra, "白山ハイツ101");
        assert_eq!(r.moved_on, NaiveDate::from_ymd_opt(2020, 4, 1));
        assert_eq!(r.change, Some(ChangeKind::MoveIn));
    }

    #[test]
    fn every_bad_value_of_a_row_is_reported() {
        let (_d, t) = rows(&format!(
            "{HEADER}1,H1,,,昭和65年1月1日,X,世帯主,住所,,2020-04,転入,maybe,,\n"
        ));
        let row = t.rows().next().unwrap().ok().unwrap();
        let errors = parse_import_row(&row).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.unwrap()).collect();
        assert_eq!(
            fields,
            [
                Field::Name,
                Field::BirthDate,
                Field::Sex,
                Field::NeedsSupport,
                Field::MovedOn
            ]
        );
        assert!(errors.iter().all(|e| e.line == 2));
        assert!(
            errors[1].reason.contains("昭和 ended"),
            "{}",
            errors[1].reason
        );
    }

    #[test]
    fn delta_rows_need_what_their_kind_needs() {
        let (_d, t) = rows(&format!(
            "{HEADER}\
             1,,,,,,,,,2025-04-01,転出,,,\n\
             2,,,,,,,,,2025-04-01,転居(市内),,,\n\
             3,,,,,,,東京都文京区本郷二丁目3-5,,2025-04-01,転居,,,\n\
             4,,,,,,,,,2025-04-01,世帯変更,,,\n\
             5,H9,,,,,,,,2025-04-01,世帯分離,,,\n\
             6,H9,赤ちゃん,,2025-04-02,男,子,本郷,,2025-04-01,出生,,,\n\
             7,,,,,,,,,,死亡,,,\n"
        ));
        let parsed: Vec<_> = t
            .rows()
            .map(|r| parse_delta_row(&r.ok().unwrap()))
            .collect();
        assert_eq!(parsed[0].as_ref().unwrap().change, Change::MoveOut);
        assert_eq!(
            parsed[1].as_ref().unwrap_err()[0].field,
            Some(Field::Address)
        );
        assert!(matches!(
            &parsed[2].as_ref().unwrap().change,
            Change::Relocation { address, .. } if address == "東京都文京区本郷二丁目3-5"
        ));
        assert_eq!(
            parsed[3].as_ref().unwrap_err()[0].field,
            Some(Field::HouseholdId)
        );
        assert_eq!(
            parsed[4].as_ref().unwrap().change,
            Change::HouseholdChange {
                household_id: Some("H9".into()),
                relationship: None
            }
        );
        let birth = parsed[5].as_ref().unwrap_err();
        assert_eq!(birth[0].field, Some(Field::BirthDate));
        assert!(birth[0].reason.contains("born after"));
        assert_eq!(
            parsed[6].as_ref().unwrap_err()[0].field,
            Some(Field::MovedOn)
        );
    }
}
