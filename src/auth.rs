//! Who is asking: bearer tokens, roles, and the decision whether a caller may
//! read a layer.
//!
//! Tokens are looked up by their SHA-256, so the config need never hold a
//! secret in plain text. Every request resolves to a [`Principal`] before it
//! reaches a handler; later policy (field masking, suppression, audit) hangs
//! off the same principal.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::TokenConfig;
use crate::layers::Access;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Planner,
    Health,
    Analyst,
    Public,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Planner,
        Role::Health,
        Role::Analyst,
        Role::Public,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Planner => "planner",
            Role::Health => "health",
            Role::Analyst => "analyst",
            Role::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name from the config; `None` for anonymous callers.
    pub token_name: Option<String>,
    pub role: Role,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            token_name: None,
            role: Role::Public,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.token_name.is_none()
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

/// Whether `who` may read a layer with `access`.
pub fn decide(who: &Principal, access: &Access) -> Decision {
    if access.public
        || who.role == Role::Admin
        || access.roles.iter().any(|r| r == who.role.as_str())
    {
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

/// Why a presented token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header must be 'Bearer <token>'")]
    Malformed,
    #[error("unknown token")]
    Unknown,
}

/// Tokens from the config, indexed by hash.
#[derive(Debug, Default, Clone)]
pub struct TokenStore {
    by_hash: HashMap<String, (String, Role)>,
}

impl TokenStore {
    pub fn new(tokens: &[TokenConfig]) -> TokenStore {
        let mut by_hash = HashMap::new();
        for t in tokens {
            let hash = match (&t.token_sha256, &t.token) {
                (Some(h), _) => h.to_ascii_lowercase(),
                (None, Some(plain)) => sha256_hex(plain),
                (None, None) => continue,
            };
            by_hash.insert(hash, (t.name.clone(), t.role));
        }
        TokenStore { by_hash }
    }

    /// Resolves an `Authorization` header value (or its absence).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, TokenError> {
        let Some(value) = header else {
            return Ok(Principal::anonymous());
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Malformed)?;
        let (name, role) = self
            .by_hash
            .get(&sha256_hex(token))
            .ok_or(TokenError::Unknown)?;
        Ok(Principal {
            token_name: Some(name.clone()),
            role: *role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> TokenStore {
        TokenStore::new(&[
            TokenConfig {
                name: "desk".into(),
                role: Role::Planner,
                token_sha256: Some(sha256_hex("s3cret")),
                token: None,
            },
            TokenConfig {
                name: "lab".into(),
                role: Role::Analyst,
                token_sha256: None,
                token: Some("plain".into()),
            },
        ])
    }

    #[test]
    fn tokens_resolve_to_roles() {
        let s = store();
        assert_eq!(
            s.authenticate(Some("Bearer s3cret")).unwrap().role,
            Role::Planner
        );
        assert_eq!(
            s.authenticate(Some("Bearer plain")).unwrap().role,
            Role::Analyst
        );
        assert!(s.authenticate(None).unwrap().is_anonymous());
        assert_eq!(
            s.authenticate(Some("Bearer nope")),
            Err(TokenError::Unknown)
        );
        assert_eq!(
            s.authenticate(Some("Basic abc")),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn layer_access_follows_roles() {
        let private = Access {
            public: false,
            roles: vec!["planner".into()],
        };
        let planner = Principal {
            token_name: Some("desk".into()),
            role: Role::Planner,
        };
        let analyst = Principal {
            token_name: Some("lab".into()),
            role: Role::Analyst,
        };
        let admin = Principal {
            token_name: Some("root".into()),
            role: Role::Admin,
        };
        assert_eq!(decide(&planner, &private), Decision::Allow);
        assert_eq!(decide(&admin, &private), Decision::Allow);
        assert_eq!(decide(&analyst, &private), Decision::Forbidden);
        assert_eq!(
            decide(&Principal::anonymous(), &private),
            Decision::NeedsToken
        );
        let open = Access {
            public: true,
            roles: vec![],
        };
        assert_eq!(decide(&Principal::anonymous(), &open), Decision::Allow);
    }
}
