//! Who is asking: bearer tokens, roles, and the decision whether a caller may
//! read a collection.
//!
//! Every request resolves to a [`Principal`] before it reaches a handler;
//! what the principal's role may see of personal data (records, fields,
//! exact or perturbed aggregates) is decided in [`crate::privacy`].

pub mod roles;
pub mod tokens;

use sha2::{Digest, Sha256};

pub use roles::{PersonalField, Records, RoleDef, Roles};
pub use tokens::{TokenError, TokenStore};

use chiiki_core::layers::Access;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The token's public id; `None` for anonymous callers.
    pub token_id: Option<String>,
    /// The token's name, for logs.
    pub token_name: Option<String>,
    pub role: RoleDef,
    /// The shelter a `shelter_staff` token posts occupancy for.
    pub shelter: Option<i64>,
}

impl Principal {
    pub fn anonymous(roles: &Roles) -> Principal {
        Principal {
            token_id: None,
            token_name: None,
            role: roles.public().clone(),
            shelter: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.token_id.is_none()
    }
}

/// Outcome of an access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No credentials, and the resource needs some: 401.
    NeedsToken,
    /// Credentials, but not enough: 403.
    Forbidden,
}

/// Whether `who` may read a collection with `access`.
pub fn decide(who: &Principal, access: &Access) -> Decision {
    if access.public || who.role.admin || access.roles.contains(&who.role.name) {
        Decision::Allow
    } else if who.is_anonymous() {
        Decision::NeedsToken
    } else {
        Decision::Forbidden
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: &str) -> Principal {
        let roles = Roles::default();
        Principal {
            token_id: Some(format!("t-{role}")),
            token_name: Some(role.into()),
            role: roles.get(role).unwrap().clone(),
            shelter: None,
        }
    }

    #[test]
    fn collection_access_follows_roles() {
        let private = Access {
            public: false,
            roles: vec!["planner".into()],
        };
        assert_eq!(decide(&principal("planner"), &private), Decision::Allow);
        assert_eq!(decide(&principal("admin"), &private), Decision::Allow);
        assert_eq!(decide(&principal("analyst"), &private), Decision::Forbidden);
        let anonymous = Principal::anonymous(&Roles::default());
        assert_eq!(decide(&anonymous, &private), Decision::NeedsToken);
        let open = Access {
            public: true,
            roles: vec![],
        };
        assert_eq!(decide(&anonymous, &open), Decision::Allow);
    }
}
