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
    /// The fixed random key of a person for the cell-key method: no role
    /// ever sees it (knowing the keys would let anyone undo the noise).
    RecordKey,
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

/// What a column holds, for disclosure control. The engine labels the
/// columns of stored layers from their [`Privacy`] and derives the labels of
/// an analysis's answer from those of its inputs; the policy floor decides
/// from labels alone what a measure may compute and who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Names a person: name, address, 住民票コード, 世帯番号, birth date,
    /// a pseudonym or a record key, and anything computed from them.
    Identifier,
    /// Narrows down who someone is when combined (sex, town, age band,
    /// distances to a person's home).
    QuasiIdentifier,
    /// What must not be learnt about someone (care level, disability,
    /// 避難行動要支援者, vaccination).
    Sensitive,
    /// A count of people (or a share of two counts): served exact only to
    /// roles with exact aggregates, perturbed to everyone else.
    PeopleCount,
    /// Nothing about people.
    Open,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Identifier => "identifier",
            Label::QuasiIdentifier => "quasi_identifier",
            Label::Sensitive => "sensitive",
            Label::PeopleCount => "people_count",
            Label::Open => "open",
        }
    }
}

/// Attributes of residents that are sensitive in themselves (要配慮個人情報
/// and the 避難行動要支援者名簿), whatever layer carries them.
pub const SENSITIVE_ATTRIBUTES: [&str; 5] = [
    "needs_support",
    "care_level",
    "disability",
    "vaccinated",
    "vaccination_date",
];

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

    /// The label of column `name` of a layer with this privacy, unless the
    /// layer labels it explicitly: personal fields are identifiers; other
    /// attributes of people are quasi-identifiers or, when known to be,
    /// sensitive; an aggregate's values count people.
    ///
    /// ```
    /// use chiiki_core::sensitivity::{resident_fields, Label, Privacy};
    /// let people = Privacy::Individuals { population: "residents".into(), fields: resident_fields() };
    /// assert_eq!(people.default_label("name"), Label::Identifier);
    /// assert_eq!(people.default_label("needs_support"), Label::Sensitive);
    /// assert_eq!(people.default_label("sex"), Label::QuasiIdentifier);
    /// assert_eq!(Privacy::Open.default_label("name"), Label::Open);
    /// ```
    pub fn default_label(&self, name: &str) -> Label {
        match self {
            Privacy::Open => Label::Open,
            Privacy::Aggregate { .. } => Label::PeopleCount,
            Privacy::Individuals { fields, .. } | Privacy::Derived { fields, .. } => {
                if fields.contains_key(name) {
                    Label::Identifier
                } else if SENSITIVE_ATTRIBUTES.contains(&name) {
                    Label::Sensitive
                } else {
                    Label::QuasiIdentifier
                }
            }
        }
    }
}

/// The column of a layer of people holding each person's record key for
/// the cell-key method (see [`PersonalField::RecordKey`]).
pub const RECORD_KEY_COLUMN: &str = "record_key";

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
        (RECORD_KEY_COLUMN, RecordKey),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
