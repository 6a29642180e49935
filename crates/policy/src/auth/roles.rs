//! Roles: what a caller may see of residents' personal data.
//!
//! A role is a name and a handful of rights. The five defaults follow how
//! Japanese municipalities share resident data: the disaster department sees
//! the 避難行動要支援者名簿 and residents in hazard zones by name; health
//! staff see individuals only in the outreach lists granted to them; analysts
//! and the public see aggregates, perturbed by the cell-key method. `[[roles]]` in the
//! config overrides a default or adds a role.

use std::collections::BTreeMap;

pub use chiiki_core::sensitivity::PersonalField;

use crate::error::PolicyError;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which individual records (rows that are people) a role may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Records {
    /// Every record.
    All,
    /// Only the records matching the role's `rows` filter (a CQL2 filter on
    /// the collection, e.g. 避難行動要支援者 or residents in hazard zones).
    Filtered,
    /// Only saved analyses that name the role in their `roles`.
    Granted,
    /// None: aggregates only.
    None,
}

/// A role and its rights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub name: String,
    /// Reads every collection, manages tokens, makes analyses public.
    #[serde(default)]
    pub admin: bool,
    pub records: Records,
    /// With `records = "filtered"`: the CQL2 filter records must match.
    #[serde(default)]
    pub rows: Option<String>,
    /// Personal fields shown in the records it may read; the others are
    /// dropped (birth dates become age bands).
    #[serde(default)]
    pub personal_fields: Vec<PersonalField>,
    /// Aggregates exact (true) or perturbed by the cell-key method (false).
    #[serde(default)]
    pub exact_aggregates: bool,
    /// May save analyses (`POST /analyses`).
    #[serde(default)]
    pub save_analyses: bool,
}

impl RoleDef {
    /// Whether the role is shown this kind of personal field. Record keys
    /// are shown to nobody, whatever a config lists.
    pub fn sees(&self, field: PersonalField) -> bool {
        field != PersonalField::RecordKey && self.personal_fields.contains(&field)
    }

    /// Whether aggregates of people are served to this role perturbed.
    pub fn perturbed(&self) -> bool {
        !self.exact_aggregates
    }
}

impl fmt::Display for RoleDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The roles every deployment starts with, as the project ships them in
/// `data/roles.toml`.
pub fn default_roles() -> Vec<RoleDef> {
    #[derive(Deserialize)]
    struct File {
        roles: Vec<RoleDef>,
    }
    let file: File = toml::from_str(include_str!("../../../../data/roles.toml"))
        .expect("data/roles.toml is valid (checked by a test)");
    file.roles
}

/// The roles of a deployment: the defaults, overridden and extended by the config.
#[derive(Debug, Clone)]
pub struct Roles {
    by_name: BTreeMap<String, RoleDef>,
}

impl Default for Roles {
    fn default() -> Self {
        Roles::new(&[]).expect("the default roles are valid")
    }
}

impl Roles {
    pub fn new(configured: &[RoleDef]) -> Result<Roles, PolicyError> {
        let mut by_name: BTreeMap<String, RoleDef> = default_roles()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        for r in configured {
            let valid_name = !r.name.is_empty()
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(PolicyError::Role(format!(
                    "role name '{}' must be ASCII letters, digits, '_' or '-'",
                    r.name
                )));
            }
            if r.records == Records::Filtered && r.rows.is_none() {
                return Err(PolicyError::Role(format!(
                    "role '{}': records = \"filtered\" needs a `rows` filter",
                    r.name
                )));
            }
            let public_widened =
                r.admin || r.records != Records::None || !r.personal_fields.is_empty();
            if r.name == "public" && public_widened {
                return Err(PolicyError::Role(
                    "role 'public' is for anonymous callers: it cannot be given records, personal fields or admin rights".into(),
                ));
            }
            by_name.insert(r.name.clone(), r.clone());
        }
        Ok(Roles { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&RoleDef> {
        self.by_name.get(name)
    }

    /// The role of anonymous callers.
    pub fn public(&self) -> &RoleDef {
        self.by_name
            .get("public")
            .expect("public is always defined")
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn all(&self) -> impl Iterator<Item = &RoleDef> {
        self.by_name.values()
    }

    /// An error naming the known roles when `name` is not one of them.
    pub fn check(&self, name: &str) -> Result<(), PolicyError> {
        if !self.by_name.contains_key(name) {
            return Err(PolicyError::Role(format!(
                "unknown role '{name}' (known: {})",
                self.names().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_registry_rules() {
        let roles = Roles::default();
        let planner = roles.get("planner").unwrap();
        assert_eq!(planner.records, Records::Filtered);
        assert!(planner.sees(PersonalField::Name) && planner.exact_aggregates);
        let health = roles.get("health").unwrap();
        assert!(health.sees(PersonalField::Address) && !health.sees(PersonalField::BirthDate));
        assert!(health.perturbed());
        assert_eq!(roles.get("analyst").unwrap().records, Records::None);
        assert!(roles.public().personal_fields.is_empty());
    }

    #[test]
    fn config_overrides_and_adds() {
        let welfare: RoleDef = toml::from_str(
            r#"
            name = "welfare"
            records = "filtered"
            rows = "care_level IS NOT NULL"
            personal_fields = ["name", "address"]
            "#,
        )
        .unwrap();
        let roles = Roles::new(&[welfare]).unwrap();
        assert_eq!(
            roles.get("welfare").unwrap().rows.as_deref(),
            Some("care_level IS NOT NULL")
        );
        assert!(roles.check("welfare").is_ok() && roles.check("nobody").is_err());
        let bad: RoleDef = toml::from_str("name = \"x\"\nrecords = \"filtered\"").unwrap();
        assert!(Roles::new(&[bad]).is_err());
        let open_public: RoleDef = toml::from_str("name = \"public\"\nrecords = \"all\"").unwrap();
        assert!(Roles::new(&[open_public]).is_err());
    }
}
