//! The resident registry (住民基本台帳): full import, daily 異動 deltas, history.
//!
//! A 住民記録 system exports its residents as CSV; chiiki keeps them in
//! `<data dir>/registry/` with enough history to answer "who lived where on
//! date D". The flow:
//!
//! - `chiiki registry import FILE` replaces the registry with a full export
//!   (a new baseline, see [`import`]);
//! - `chiiki registry apply DELTA...` applies the day's 異動 (転入, 転出, 転居,
//!   出生, 死亡, 世帯変更) on top of it, atomically and idempotently (see
//!   [`delta`]);
//! - [`Registry::load`] and [`Registry::as_of`] answer queries; ages are
//!   computed on a reference date ([`ResidentView::age_on`]) and never stored.
//!
//! Files, one concept each: [`field`] (columns and header names),
//! [`encoding`] (UTF-8 / CP932), [`reader`] (CSV rows), [`date`] (西暦 and
//! 和暦), [`values`] (性別, flags, 要介護度, 異動事由), [`record`] (a row as a
//! typed record), [`model`] (residents and their versions), [`store`]
//! (atomic persistence), [`report`] (what was rejected and why), [`summary`]
//! (totals and age bands), [`cli`].
//!
//! # Column mapping
//!
//! Each CSV column is matched to one canonical field by its header. Matching
//! ignores a BOM, surrounding and inner spaces, `_`/`-`, letter case and
//! full-width/half-width differences (headers are compared after NFKC), so
//! `ﾌﾘｶﾞﾅ`, `フリガナ` and ` フリガナ ` are the same header. Columns that match
//! no field are ignored (and listed in the report).
//!
//! | field           | accepted headers by default                  | import | delta |
//! |-----------------|----------------------------------------------|--------|-------|
//! | `resident_id`   | 住民票コード                                  | required | required |
//! | `household_id`  | 世帯番号                                      | required | 転入/出生, 世帯変更 |
//! | `name`          | 氏名                                          | required | 転入/出生 |
//! | `name_kana`     | 氏名カナ, フリガナ, 氏名フリガナ, カナ氏名    | optional | optional |
//! | `birth_date`    | 生年月日                                      | required | 転入/出生 |
//! | `sex`           | 性別                                          | required | 転入/出生 |
//! | `relationship`  | 続柄                                          | required | 転入/出生 |
//! | `address`       | 住所                                          | required | 転入/出生, 転居 |
//! | `address_extra` | 方書                                          | optional | optional |
//! | `moved_on`      | 異動日, 異動年月日                            | optional | required |
//! | `change_reason` | 異動事由                                      | optional | required |
//! | `needs_support` | 避難行動要支援者                              | optional | optional |
//! | `care_level`    | 要介護度, 要介護状態区分                      | optional | optional |
//! | `disability`    | 障害, 障害の有無, 障がい                      | optional | optional |
//!
//! The canonical English name (`resident_id`, …) is always accepted too.
//! Other systems' headers are added per field in chiiki.toml; an alias adds
//! to the defaults, it does not replace them:
//!
//! ```toml
//! [registry.columns]
//! resident_id = ["宛名番号", "個人コード"]
//! name = ["漢字氏名"]
//! address = ["住所（方書除く）"]
//! ```
//!
//! Values: dates in 西暦 (`1940-03-02`, `1940/3/2`, `19400302`,
//! `1940年3月2日`) or 和暦 (`昭和15年3月2日`, `S15.3.2`, `昭和１５年３月２日`,
//! `令和元年`, `令和2年`, the 7-digit code `3150302`), kept with their
//! precision (see [`date`]); 性別 `男/女/1/2/M/F/男性/女性`; flags
//! `1/0/○/有/無/true/false/はい/いいえ` or blank; 要介護度 `要支援1–2`,
//! `要介護1–5` or blank. A row with a value that does not parse is rejected
//! and reported with file, line, field and reason; the other rows go on.

pub mod date;
pub mod delta;
pub mod encoding;
pub mod error;
pub mod field;
pub mod import;
pub mod model;
pub mod points;
pub mod reader;
pub mod record;
pub mod record_keys;
pub mod report;
pub mod store;
pub mod summary;
pub mod values;

use serde::{Deserialize, Serialize};

pub use date::{PartialDate, Precision};
pub use delta::{apply_files, DeltaOptions};
pub use encoding::TextEncoding;
pub use error::RegistryError;
pub use field::{ColumnAliases, Field};
pub use import::{import_file, ImportOptions};
pub use model::{Registry, Resident, ResidentView, Status, Version};
pub use report::{DeltaReport, ImportReport, Rejection, RejectionKind};
pub use summary::Summary;
pub use values::{CareLevel, ChangeKind, Sex};

/// `[registry]` in chiiki.toml. Empty by default: the built-in header names
/// cover the usual Japanese and English exports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Extra header names per field, added to the defaults.
    #[serde(default, skip_serializing_if = "ColumnAliases::is_empty")]
    pub columns: ColumnAliases,
    /// The municipality (names or 全国地方公共団体コード, e.g. ["文京区"] or
    /// ["131059"]): the city its registry's and lists' addresses are read in
    /// when they name none. A registry imported with `--city` keeps its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub city: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_is_valid() {
        let c: RegistryConfig = toml::from_str("").unwrap();
        assert!(c.columns.is_empty());
    }

    #[test]
    fn aliases_parse_and_typos_are_errors() {
        let c: RegistryConfig =
            toml::from_str("[columns]\nresident_id = [\"宛名番号\"]\n").unwrap();
        assert_eq!(c.columns.for_field(Field::ResidentId), ["宛名番号"]);
        assert!(toml::from_str::<RegistryConfig>("[columns]\nresident = [\"x\"]\n").is_err());
        assert!(toml::from_str::<RegistryConfig>("colums = 1\n").is_err());
    }

    #[test]
    fn empty_config_serializes_to_nothing() {
        // The demo writes its config back out; an unused [registry] stays quiet.
        assert_eq!(toml::to_string(&RegistryConfig::default()).unwrap(), "");
    }
}
