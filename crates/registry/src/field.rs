//! The canonical registry fields and how CSV headers map onto them.
//!
//! Exports from different 住民記録 systems name their columns differently
//! (生年月日, birth_date, ﾌﾘｶﾞﾅ…). Every header is folded by [`fold_header`]
//! and looked up among the folded names a field accepts: the built-in ones
//! plus the aliases from chiiki.toml's `[registry.columns]`.

use std::collections::HashMap;
use std::fmt;

use super::error::{RegistryError, Result};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// One canonical field of a registry row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    ResidentId,
    HouseholdId,
    Name,
    NameKana,
    BirthDate,
    Sex,
    Relationship,
    Address,
    AddressExtra,
    MovedOn,
    ChangeReason,
    NeedsSupport,
    CareLevel,
    Disability,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::ResidentId,
        Field::HouseholdId,
        Field::Name,
        Field::NameKana,
        Field::BirthDate,
        Field::Sex,
        Field::Relationship,
        Field::Address,
        Field::AddressExtra,
        Field::MovedOn,
        Field::ChangeReason,
        Field::NeedsSupport,
        Field::CareLevel,
        Field::Disability,
    ];

    /// The canonical (English) name, as in config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Field::ResidentId => "resident_id",
            Field::HouseholdId => "household_id",
            Field::Name => "name",
            Field::NameKana => "name_kana",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::Relationship => "relationship",
            Field::Address => "address",
            Field::AddressExtra => "address_extra",
            Field::MovedOn => "moved_on",
            Field::ChangeReason => "change_reason",
            Field::NeedsSupport => "needs_support",
            Field::CareLevel => "care_level",
            Field::Disability => "disability",
        }
    }

    /// The Japanese headers accepted without any configuration; the first is
    /// the name used in messages.
    pub fn japanese_names(self) -> &'static [&'static str] {
        match self {
            Field::ResidentId => &["住民票コード"],
            Field::HouseholdId => &["世帯番号"],
            Field::Name => &["氏名"],
            Field::NameKana => &["氏名カナ", "フリガナ", "氏名フリガナ", "カナ氏名"],
            Field::BirthDate => &["生年月日"],
            Field::Sex => &["性別"],
            Field::Relationship => &["続柄"],
            Field::Address => &["住所"],
            Field::AddressExtra => &["方書"],
            Field::MovedOn => &["異動日", "異動年月日"],
            Field::ChangeReason => &["異動事由"],
            Field::NeedsSupport => &["避難行動要支援者"],
            Field::CareLevel => &["要介護度", "要介護状態区分"],
            Field::Disability => &["障害", "障害の有無", "障がい"],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.japanese_names()[0], self.name())
    }
}

/// `[registry.columns]`: extra header names per field, added to the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnAliases {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resident_id: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub household_id: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name_kana: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub birth_date: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sex: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relationship: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_extra: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_on: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub change_reason: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_support: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub care_level: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disability: Vec<String>,
}

impl ColumnAliases {
    pub fn for_field(&self, field: Field) -> &[String] {
        match field {
            Field::ResidentId => &self.resident_id,
            Field::HouseholdId => &self.household_id,
            Field::Name => &self.name,
            Field::NameKana => &self.name_kana,
            Field::BirthDate => &self.birth_date,
            Field::Sex => &self.sex,
            Field::Relationship => &self.relationship,
            Field::Address => &self.address,
            Field::AddressExtra => &self.address_extra,
            Field::MovedOn => &self.moved_on,
            Field::ChangeReason => &self.change_reason,
            Field::NeedsSupport => &self.needs_support,
            Field::CareLevel => &self.care_level,
            Field::Disability => &self.disability,
        }
    }

    pub fn is_empty(&self) -> bool {
        Field::ALL.iter().all(|f| self.for_field(*f).is_empty())
    }
}

/// Folds a header for comparison: no BOM, NFKC (so full-width and half-width
/// forms agree), lower case, and no spaces, `_` or `-`.
pub fn fold_header(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .nfkc()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which column of a file holds which field.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    index: [Option<usize>; Field::ALL.len()],
    /// The headers as written in the file, for messages.
    headers: Vec<String>,
    /// Headers that matched no field.
    pub ignored: Vec<String>,
}

impl ColumnMap {
    /// Matches `headers` against the fields' default names and `aliases`.
    /// Two columns for one field, or one alias given to two fields, are
    /// errors: guessing which one is meant could import the wrong data.
    pub fn new(headers: &[String], aliases: &ColumnAliases) -> Result<ColumnMap> {
        let mut names: HashMap<String, Field> = HashMap::new();
        for field in Field::ALL {
            let builtin =
                std::iter::once(field.name()).chain(field.japanese_names().iter().copied());
            let configured = aliases.for_field(field).iter().map(String::as_str);
            for name in builtin.chain(configured) {
                let folded = fold_header(name);
                if folded.is_empty() {
                    return Err(RegistryError::columns(format!(
                        "[registry.columns] {}: an empty header name",
                        field.name()
                    )));
                }
                match names.insert(folded, field) {
                    Some(other) if other != field => {
                        return Err(RegistryError::columns(format!(
                        "[registry.columns]: the header name '{name}' is given to both {} and {}",
                        other.name(),
                        field.name()
                    )))
                    }
                    _ => {}
                }
            }
        }

        let mut index: [Option<usize>; Field::ALL.len()] = [None; Field::ALL.len()];
        let mut ignored = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            let Some(&field) = names.get(&fold_header(header)) else {
                ignored.push(header.trim_start_matches('\u{feff}').trim().to_string());
                continue;
            };
            if let Some(j) = index[field as usize] {
                return Err(RegistryError::columns(format!(
                    "columns {} ('{}') and {} ('{}') both hold {field}",
                    j + 1,
                    headers[j].trim(),
                    i + 1,
                    header.trim()
                )));
            }
            index[field as usize] = Some(i);
        }
        Ok(ColumnMap {
            index,
            headers: headers.to_vec(),
            ignored,
        })
    }

    /// The column holding `field`, if the file has one.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.index[field as usize]
    }

    pub fn has(&self, field: Field) -> bool {
        self.column(field).is_some()
    }

    /// The header as written in the file (without BOM and spaces).
    pub fn header(&self, field: Field) -> Option<&str> {
        self.column(field)
            .map(|i| self.headers[i].trim_start_matches('\u{feff}').trim())
    }

    /// Fails, naming the accepted headers, when a column the file kind
    /// cannot do without is missing.
    pub fn require(&self, fields: &[Field], aliases: &ColumnAliases) -> Result<()> {
        let missing: Vec<String> = fields
            .iter()
            .filter(|f| !self.has(**f))
            .map(|f| {
                let mut accepted: Vec<&str> = f.japanese_names().to_vec();
                accepted.push(f.name());
                accepted.extend(aliases.for_field(*f).iter().map(String::as_str));
                format!("{} (headers accepted: {})", f.name(), accepted.join(", "))
            })
            .collect();
        if !missing.is_empty() {
            return Err(RegistryError::columns(format!(
                "missing column(s): {}; the file's headers are: {} \
                 (add other names under [registry.columns] in chiiki.toml)",
                missing.join("; "),
                self.headers
                    .iter()
                    .map(|h| h.trim_start_matches('\u{feff}').trim())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn folding_ignores_width_space_case_and_bom() {
        assert_eq!(
            fold_header("\u{feff} 住民票コード "),
            fold_header("住民票コード")
        );
        assert_eq!(fold_header("ﾌﾘｶﾞﾅ"), fold_header("フリガナ"));
        assert_eq!(fold_header("Ｒｅｓｉｄｅｎｔ＿ＩＤ"), "residentid");
        assert_eq!(fold_header("Birth Date"), fold_header("birth_date"));
        assert_eq!(fold_header("住民票　コード"), fold_header("住民票コード"));
    }

    #[test]
    fn japanese_and_english_headers_map() {
        let aliases = ColumnAliases::default();
        let m = ColumnMap::new(
            &headers(&["\u{feff}住民票コード", "ﾌﾘｶﾞﾅ", "生年月日", "備考"]),
            &aliases,
        )
        .unwrap();
        assert_eq!(m.column(Field::ResidentId), Some(0));
        assert_eq!(m.column(Field::NameKana), Some(1));
        assert_eq!(m.column(Field::BirthDate), Some(2));
        assert_eq!(m.header(Field::ResidentId), Some("住民票コード"));
        assert_eq!(m.ignored, ["備考"]);

        let m = ColumnMap::new(&headers(&["resident_id", "Name", "SEX"]), &aliases).unwrap();
        assert_eq!(m.column(Field::Name), Some(1));
        assert_eq!(m.column(Field::Sex), Some(2));
        assert!(!m.has(Field::Address));
    }

    #[test]
    fn aliases_add_to_the_defaults() {
        let aliases = ColumnAliases {
            resident_id: vec!["宛名番号".into()],
            ..Default::default()
        };
        let m = ColumnMap::new(&headers(&["宛名番号", "氏名"]), &aliases).unwrap();
        assert_eq!(m.column(Field::ResidentId), Some(0));
        let m = ColumnMap::new(&headers(&["住民票コード"]), &aliases).unwrap();
        assert_eq!(m.column(Field::ResidentId), Some(0));
        let plain = ColumnMap::new(&headers(&["宛名番号"]), &ColumnAliases::default()).unwrap();
        assert!(!plain.has(Field::ResidentId));
    }

    #[test]
    fn ambiguity_is_an_error() {
        let aliases = ColumnAliases::default();
        let err = ColumnMap::new(&headers(&["氏名カナ", "フリガナ"]), &aliases).unwrap_err();
        assert!(err.to_string().contains("both hold"), "{err}");
        let clash = ColumnAliases {
            name: vec!["住所".into()],
            ..Default::default()
        };
        assert!(ColumnMap::new(&headers(&["x"]), &clash).is_err());
    }

    #[test]
    fn missing_required_columns_are_named() {
        let aliases = ColumnAliases::default();
        let m = ColumnMap::new(&headers(&["氏名"]), &aliases).unwrap();
        let err = m
            .require(&[Field::Name, Field::ResidentId], &aliases)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("resident_id") && err.contains("住民票コード"),
            "{err}"
        );
        assert!(!err.contains("missing column(s): name"), "{err}");
    }
}
