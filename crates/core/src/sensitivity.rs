//! Sensitivity labels: whether a layer's features are people, and which of
//! their attributes are personal data.
//!
//! Whoever makes a layer labels it (the registry labels its resident points,
//! an analysis labels what it derives from people); the policy floor decides
//! from the labels alone what each role may see. A layer without a label is
//! [`Privacy::Open`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kinds of personal data a resident layer holds (住民基本台帳法).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalField {
    /// 氏名
    Name,
    /// 氏名カナ
    NameKana,
    /// 生年月日: generalised to a five-year age band for roles without it.
    BirthDate,
    /// 住所 (as registered, or as normalised by the geocoder)
    Address,
    /// 方書 (building and room)
    AddressExtra,
    /// 住民票コード
    ResidentCode,
    /// 世帯番号
    HouseholdCode,
}

impl PersonalField {
    pub const ALL: [PersonalField; 7] = [
        PersonalField::Name,
        PersonalField::NameKana,
        PersonalField::BirthDate,
        PersonalField::Address,
        PersonalField::AddressExtra,
        PersonalField::ResidentCode,
        PersonalField::HouseholdCode,
    ];
}

/// What a layer's features are, for disclosure control.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Privacy {
    /// No personal data (flood zones, pipes, shelters).
    #[default]
    Open,
    /// Each feature is a person of `population` (the id of the resident
    /// layer the people come from); `fields` are the personal attributes.
    Individuals {
        population: String,
        fields: BTreeMap<String, PersonalField>,
    },
    /// Features that are not people but were computed from people's data
    /// (pipes near 避難行動要支援者 homes); `fields` are personal attributes
    /// attached from them.
    Derived {
        population: String,
        fields: BTreeMap<String, PersonalField>,
    },
    /// Counts of the people of `population` per group (mesh cell, 町丁目).
    Aggregate { population: String },
}

impl Privacy {
    pub fn population(&self) -> Option<&str> {
        match self {
            Privacy::Open => None,
            Privacy::Individuals { population, .. }
            | Privacy::Derived { population, .. }
            | Privacy::Aggregate { population } => Some(population),
        }
    }

    /// Personal attributes, by column name.
    pub fn fields(&self) -> Option<&BTreeMap<String, PersonalField>> {
        match self {
            Privacy::Individuals { fields, .. } | Privacy::Derived { fields, .. } => Some(fields),
            _ => None,
        }
    }

    pub fn is_personal(&self) -> bool {
        matches!(self, Privacy::Individuals { .. } | Privacy::Derived { .. })
    }
}

/// The personal fields of the registry's resident layer.
pub fn resident_fields() -> BTreeMap<String, PersonalField> {
    use PersonalField::*;
    [
        ("resident_id", ResidentCode),
        ("household_id", HouseholdCode),
        ("name", Name),
        ("name_kana", NameKana),
        ("birth_date", BirthDate),
        ("address", Address),
        ("address_extra", AddressExtra),
        // The geocoder's normalised address is the address too.
        ("addr", Address),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
