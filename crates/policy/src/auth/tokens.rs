//! Bearer tokens: issued by `chiiki token create` or listed in the config
//! (`[[tokens]]`), kept hashed in `<data>/tokens.json`, with an expiry and
//! a revocation time.
//!
//! Only the SHA-256 of a token is ever stored, so a copy of the data
//! directory gives no access. The running service re-reads the file when it
//! changes, so `chiiki token revoke` takes effect on the next request.
//!
//! With the PostGIS store the same list is one document of the database
//! ([`TokenPlace::Database`], `chiiki.documents` name `tokens`), changed in
//! one transaction at a time and announced to every process serving the
//! database, which re-reads it ([`TokenStore::changed`]); a process that
//! missed an announcement checks the list's version every few seconds.
//!
//! Tokens of the config are merged into the file when the service starts
//! ([`TokenFile::merge_config`]), under an id derived from their hash, so
//! that they are listed, renewed and revoked like issued ones: a revoked
//! config token stays revoked although the config still lists it, and a
//! token the config no longer lists is refused. The config's `expires`
//! applies until `chiiki token renew` extends it; changing `expires` in the
//! config applies again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chiiki_store::StateStore;

use crate::error::{PolicyError, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{sha256_hex, Principal, Roles};
use crate::settings::TokenConfig;

/// The longest token a request may carry.
pub const MAX_TOKEN_BYTES: usize = 256;

/// Where a token comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// Issued by `chiiki token create`.
    #[default]
    Issued,
    /// A `[[tokens]]` entry of the config.
    Config,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Issued => "issued",
            TokenSource::Config => "config",
        }
    }
}

/// One token, as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier, for lists, revocation and the audit log.
    pub id: String,
    pub name: String,
    pub role: String,
    pub sha256: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked: Option<DateTime<Utc>>,
    #[serde(default)]
    pub source: TokenSource,
    /// For a config token: the `expires` the config gave when it was last
    /// merged. A renewal outlives restarts while the config says the same,
    /// and yields when the config says something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_expires: Option<DateTime<Utc>>,
    /// For a `shelter_staff` token: the one shelter (a feature id of
    /// `shelters_evacuation`) whose occupancy it may post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelter: Option<i64>,
}

impl TokenRecord {
    /// `revoked`, `expired` or `active` at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    pub tokens: Vec<TokenRecord>,
}

pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.json")
}

impl TokenFile {
    /// The file's tokens; none when it does not exist.
    pub fn load(path: &Path) -> Result<TokenFile> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| PolicyError::file(path, Some(e.line() as u64), "not a token file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(chiiki_core::error::IoError::at(path, "reading")(e).into()),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| PolicyError::file(path, None, e))?;
        chiiki_core::fs::write_atomically(path, &bytes)?;
        Ok(())
    }

    /// Issues a token: returns its record and the secret, shown once.
    pub fn create(
        &mut self,
        name: &str,
        role: &str,
        expires: Option<DateTime<Utc>>,
    ) -> (TokenRecord, String) {
        let mut rng = rand::rng();
        let mut secret = [0u8; 24];
        rng.fill_bytes(&mut secret);
        let id = loop {
            let mut bytes = [0u8; 4];
            rng.fill_bytes(&mut bytes);
            let candidate = format!("t{}", hex::encode(bytes));
            if !self.tokens.iter().any(|t| t.id == candidate) {
                break candidate;
            }
        };
        let token = format!("chiiki_{}", hex::encode(secret));
        let record = TokenRecord {
            id,
            name: name.to_string(),
            role: role.to_string(),
            sha256: sha256_hex(&token),
            created: chiiki_core::clock::now(),
            expires,
            revoked: None,
            source: TokenSource::Issued,
            config_expires: None,
            shelter: None,
        };
        self.tokens.push(record.clone());
        (record, token)
    }

    /// Ties the token with id `id` to one shelter; returns whether it exists.
    pub fn set_shelter(&mut self, id: &str, shelter: i64) -> bool {
        let found = self.tokens.iter_mut().find(|t| t.id == id);
        found.map(|t| t.shelter = Some(shelter)).is_some()
    }

    /// Revokes the tokens with this id or name; returns how many.
    pub fn revoke(&mut self, id_or_name: &str) -> usize {
        let now = chiiki_core::clock::now();
        let mut n = 0;
        for t in &mut self.tokens {
            if (t.id == id_or_name || t.name == id_or_name) && t.revoked.is_none() {
                t.revoked = Some(now);
                n += 1;
            }
        }
        n
    }

    /// Sets a new expiry (`None`: never) on the tokens with this id or name
    /// that are not revoked, expired ones included; returns how many.
    pub fn renew(&mut self, id_or_name: &str, expires: Option<DateTime<Utc>>) -> usize {
        let mut n = 0;
        for t in &mut self.tokens {
            if (t.id == id_or_name || t.name == id_or_name) && t.revoked.is_none() {
                t.expires = expires;
                n += 1;
            }
        }
        n
    }

    /// Merges the config's tokens into the file, each under an id derived
    /// from its hash ([`TokenSource::Config`]): a new one is added; a known
    /// one takes the config's name and role, and its `expires` when the
    /// config changed it since the last merge (else a renewal stands), and
    /// keeps its revocation. Records of tokens the config no longer lists
    /// are kept, for the list and the audit trail; [`TokenStore`] refuses
    /// them. Every entry is checked first ([`TokenConfig::check`]).
    /// Returns whether anything changed.
    pub fn merge_config(&mut self, tokens: &[TokenConfig]) -> Result<bool> {
        for t in tokens {
            t.check()?;
        }
        let mut changed = false;
        for t in tokens {
            let hash = config_hash(t);
            if let Some(record) = self.tokens.iter_mut().find(|r| r.sha256 == hash) {
                let before = record.clone();
                record.name = t.name.clone();
                record.role = t.role.clone();
                if record.source == TokenSource::Config && record.config_expires != t.expires {
                    record.expires = t.expires;
                }
                record.source = TokenSource::Config;
                record.config_expires = t.expires;
                changed |= *record != before;
                continue;
            }
            let id = self.config_id(&hash);
            self.tokens.push(TokenRecord {
                id,
                name: t.name.clone(),
                role: t.role.clone(),
                sha256: hash,
                created: chiiki_core::clock::now(),
                expires: t.expires,
                revoked: None,
                source: TokenSource::Config,
                config_expires: t.expires,
                shelter: None,
            });
            changed = true;
        }
        Ok(changed)
    }

    /// A config token's id: `c` and the start of a hash of its hash (not of
    /// the secret, and not the stored hash itself), longer in the unlikely
    /// case that the start is taken.
    fn config_id(&self, hash: &str) -> String {
        let digest = sha256_hex(&format!("chiiki config token {hash}"));
        (8..=digest.len())
            .step_by(4)
            .map(|n| format!("c{}", &digest[..n]))
            .find(|id| !self.tokens.iter().any(|t| &t.id == id))
            .unwrap_or_else(|| format!("c{digest}"))
    }
}

/// The name of the token list among the database's documents.
pub const TOKENS_DOCUMENT: &str = "tokens";

/// Where the token list is kept.
#[derive(Debug, Clone)]
pub enum TokenPlace {
    /// `<data>/tokens.json` ([`token_file`]).
    File(PathBuf),
    /// The document [`TOKENS_DOCUMENT`] of a PostGIS database that several
    /// processes serve.
    Database(Arc<StateStore>),
}

impl std::fmt::Display for TokenPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenPlace::File(p) => write!(f, "{}", p.display()),
            TokenPlace::Database(s) => write!(f, "{} ({TOKENS_DOCUMENT})", s.url()),
        }
    }
}

impl TokenPlace {
    /// The list; empty when there is none yet.
    pub fn load(&self) -> Result<TokenFile> {
        match self {
            TokenPlace::File(path) => TokenFile::load(path),
            TokenPlace::Database(state) => match state.document(TOKENS_DOCUMENT)? {
                Some((body, _)) => self.parse(&body),
                None => Ok(TokenFile::default()),
            },
        }
    }

    fn parse(&self, body: &str) -> Result<TokenFile> {
        serde_json::from_str(body).map_err(|e| {
            PolicyError::file(
                Path::new(&self.to_string()),
                Some(e.line() as u64),
                "not a token list",
            )
        })
    }

    /// Changes the list: `change` returns whether it changed it (only then
    /// is it saved) and a value for the caller. In the database no other
    /// process changes the list meanwhile, and every process serving it
    /// hears of the change.
    pub fn update<T: Send>(
        &self,
        mut change: impl FnMut(&mut TokenFile) -> Result<(bool, T)> + Send,
    ) -> Result<T> {
        match self {
            TokenPlace::File(path) => {
                let mut file = TokenFile::load(path)?;
                let (changed, out) = change(&mut file)?;
                if changed {
                    file.save(path)?;
                }
                Ok(out)
            }
            TokenPlace::Database(state) => state.update(TOKENS_DOCUMENT, |body| {
                let mut file = match body {
                    Some(b) => self.parse(&b)?,
                    None => TokenFile::default(),
                };
                let (changed, out) = change(&mut file)?;
                let body =
                    if changed {
                        Some(serde_json::to_string(&file).map_err(|e| {
                            PolicyError::file(Path::new(&self.to_string()), None, e)
                        })?)
                    } else {
                        None
                    };
                Ok((body, out))
            }),
        }
    }

    /// What the list is at now, to tell whether a copy is current: the
    /// file's modification time (`None`: no file), or the document's version.
    fn stamp(&self) -> Result<Option<Stamp>> {
        Ok(match self {
            TokenPlace::File(path) => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .map(Stamp::Modified),
            TokenPlace::Database(state) => match state.version(TOKENS_DOCUMENT)? {
                0 => None,
                v => Some(Stamp::Version(v)),
            },
        })
    }
}

/// A version of the token list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Modified(SystemTime),
    Version(i64),
}

/// How long a process serving the database trusts its copy of the token
/// list without an announcement: announcements arrive within a second; this
/// bounds a revocation's delay when one is missed (the listener reconnecting).
const RECHECK: Duration = Duration::from_secs(3);
/// How often a token not in the list may make a replica look at the
/// database's list again ([`TokenStore::recheck_for_unknown`]).
const UNKNOWN_RECHECK: Duration = Duration::from_millis(50);

/// The stored hash of a checked config token.
fn config_hash(t: &TokenConfig) -> String {
    t.sha256()
        .expect("TokenConfig::check refuses a token without a secret or hash")
}

/// Merges the config's tokens into the token file at `path` (saved only if
/// something changed) and returns the file. See [`TokenFile::merge_config`].
pub fn merge_config_tokens(path: &Path, tokens: &[TokenConfig]) -> Result<TokenFile> {
    let mut file = TokenFile::load(path)?;
    if file.merge_config(tokens)? {
        file.save(path)?;
    }
    Ok(file)
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header must be 'Bearer <token>', or 'Basic' with the token as the password")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's role '{0}' is not defined")]
    UndefinedRole(String),
}

/// What the token file held when last read.
enum FileState {
    /// Not read yet, or not there: the config's tokens as merged at start.
    Missing,
    /// Unreadable: nobody is accepted until it is fixed.
    Broken,
    /// Its tokens by hash.
    Tokens(HashMap<String, TokenRecord>),
}

/// All accepted tokens: those of the token file, the config's among them.
pub struct TokenStore {
    roles: Roles,
    /// The config's tokens by hash, as merged at start-up: which config
    /// tokens are accepted at all, and their records while the file is missing.
    from_config: HashMap<String, TokenRecord>,
    file: Option<TokenPlace>,
    /// The list's state, and the stamp it was read at.
    from_file: Mutex<(Option<Stamp>, FileState)>,
    /// In the database: set when the list was announced changed.
    stale: AtomicBool,
    /// In the database: when the version was last checked.
    checked: Mutex<Option<Instant>>,
}

impl TokenStore {
    /// The tokens of `file` and of the config (`tokens`), merged into the
    /// file first ([`TokenFile::merge_config`]). Refuses a config entry that
    /// [`TokenConfig::check`] refuses, and a token file it cannot read.
    /// Without a file, the config's tokens are held in memory only.
    pub fn new(roles: Roles, tokens: &[TokenConfig], file: Option<PathBuf>) -> Result<TokenStore> {
        TokenStore::at(roles, tokens, file.map(TokenPlace::File))
    }

    /// [`TokenStore::new`] with the list wherever `place` keeps it.
    pub fn at(
        roles: Roles,
        tokens: &[TokenConfig],
        file: Option<TokenPlace>,
    ) -> Result<TokenStore> {
        let merged = match &file {
            Some(place) => place
                .update(|f| {
                    let changed = f.merge_config(tokens)?;
                    Ok((changed, f.tokens.clone()))
                })
                .map(|tokens| TokenFile { tokens })?,
            None => {
                let mut f = TokenFile::default();
                f.merge_config(tokens)?;
                f
            }
        };
        let listed: std::collections::HashSet<String> = tokens.iter().map(config_hash).collect();
        let from_config = merged
            .tokens
            .into_iter()
            .filter(|t| listed.contains(&t.sha256))
            .map(|t| (t.sha256.clone(), t))
            .collect();
        Ok(TokenStore {
            roles,
            from_config,
            file,
            from_file: Mutex::new((None, FileState::Missing)),
            stale: AtomicBool::new(true),
            checked: Mutex::new(None),
        })
    }

    /// Tells the store the list changed elsewhere (an announcement from
    /// the database): the next request reads it again.
    pub fn changed(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Whether the list must be looked at again now: always for a file (its
    /// modification time is cheap), for the database when announced or
    /// [`RECHECK`] after the last look.
    fn due(&self) -> bool {
        match &self.file {
            Some(TokenPlace::Database(_)) => {
                let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
                let due = self.stale.swap(false, Ordering::SeqCst)
                    || checked.is_none_or(|t| t.elapsed() >= RECHECK);
                if due {
                    *checked = Some(Instant::now());
                }
                due
            }
            _ => true,
        }
    }

    /// For a token not in the list as read: whether to look at the
    /// database's list again first. At most every [`UNKNOWN_RECHECK`], so
    /// a flood of forged tokens costs the database a few queries a second.
    fn recheck_for_unknown(&self) -> bool {
        if !matches!(self.file, Some(TokenPlace::Database(_))) {
            return false;
        }
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let due = checked.is_none_or(|t| t.elapsed() >= UNKNOWN_RECHECK);
        if due {
            self.stale.store(true, Ordering::SeqCst);
        }
        due
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The record of `hash`, from the token file (re-read if it changed)
    /// or, while there is none, from the config as merged at start-up.
    fn record(&self, hash: &str) -> Result<Option<TokenRecord>, TokenError> {
        let Some(place) = self.file.as_ref() else {
            return Ok(self.from_config.get(hash).cloned());
        };
        let mut cache = self.from_file.lock().unwrap_or_else(|e| e.into_inner());
        let modified = if self.due() {
            match place.stamp() {
                Ok(s) => s,
                Err(e) => {
                    // The database unreachable: the list as last read (a
                    // revocation cannot be made there meanwhile either).
                    tracing::error!("checking the token list {place}: {e}");
                    cache.0
                }
            }
        } else {
            cache.0
        };
        if cache.0 != modified {
            let state = match modified.map(|_| place.load()) {
                None => FileState::Missing,
                Some(Ok(f)) => FileState::Tokens(
                    f.tokens
                        .into_iter()
                        .map(|t| (t.sha256.clone(), t))
                        .collect(),
                ),
                Some(Err(e)) => {
                    // A broken file accepts nobody rather than everybody.
                    tracing::error!("{e:#}");
                    FileState::Broken
                }
            };
            *cache = (modified, state);
        }
        let record = match &cache.1 {
            FileState::Broken => return Err(TokenError::Unknown),
            FileState::Missing => None,
            FileState::Tokens(tokens) => tokens.get(hash).cloned(),
        };
        Ok(match record {
            // A token the config listed once, and no longer does.
            Some(r) if r.source == TokenSource::Config && !self.from_config.contains_key(hash) => {
                None
            }
            Some(r) => Some(r),
            None => self.from_config.get(hash).cloned(),
        })
    }

    /// Resolves an `Authorization` header value (or its absence): `Bearer
    /// <token>`, or `Basic` with the token as the password and any user
    /// name ([`presented_token`]). Either way the caller is the token's.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, TokenError> {
        let Some(value) = header else {
            return Ok(Principal::anonymous(&self.roles));
        };
        let token = presented_token(value)?;
        let hash = sha256_hex(&token);
        let record = match self.record(&hash)? {
            Some(record) => record,
            // Perhaps issued a moment ago, its announcement not heard yet.
            None if self.recheck_for_unknown() => self.record(&hash)?.ok_or(TokenError::Unknown)?,
            None => return Err(TokenError::Unknown),
        };
        match record.status(chiiki_core::clock::now()) {
            "revoked" => return Err(TokenError::Revoked),
            "expired" => return Err(TokenError::Expired),
            _ => {}
        }
        let role = self
            .roles
            .get(&record.role)
            .ok_or_else(|| TokenError::UndefinedRole(record.role.clone()))?;
        Ok(Principal {
            token_id: Some(record.id),
            token_name: Some(record.name),
            role: role.clone(),
            shelter: record.shelter,
        })
    }
}

/// The token an `Authorization` header value carries: `Bearer <token>`, or
/// `Basic base64(user:token)` with any user name, for desktop clients (QGIS,
/// GDAL's `GDAL_HTTP_USERPWD`) that offer a user name and password but no
/// bearer token.
pub fn presented_token(value: &str) -> Result<String, TokenError> {
    use base64::Engine as _;
    let usable = |t: &str| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES;
    let scheme_len = value.find(' ').unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_len);
    let credentials = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials)
            .filter(|t| usable(t))
            .map(str::to_string)
            .ok_or(TokenError::Malformed);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::Malformed);
    }
    // Base64 of at most `user:token` with a user name of reasonable length:
    // a longer value is refused before it is decoded.
    if credentials.len() > 2 * MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .map_err(|_| TokenError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| TokenError::Malformed)?;
    // RFC 7617: the user name ends at the first colon; the password may hold more.
    let (_user, password) = text.split_once(':').ok_or(TokenError::Malformed)?;
    let password = password.trim();
    if usable(password) {
        Ok(password.to_string())
    } else {
        Err(TokenError::Malformed)
    }
}

/// Parses `--expires`: a date (end of that day, UTC), an RFC 3339 time, or a
/// duration from now such as `90d`, `12h` or `30m`.
pub fn parse_expiry(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let end = d.and_hms_opt(23, 59, 59).expect("a valid time").and_utc();
        if end <= now {
            return Err(PolicyError::Invalid(format!("expiry {s} is in the past")));
        }
        return Ok(end);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        if t.with_timezone(&Utc) <= now {
            return Err(PolicyError::Invalid(format!("expiry {s} is in the past")));
        }
        return Ok(t.with_timezone(&Utc));
    }
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        PolicyError::Invalid(format!(
            "expiry '{s}': use a date, an RFC 3339 time, or 90d / 12h / 30m"
        ))
    })?;
    let d = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        _ => {
            return Err(PolicyError::Invalid(format!(
                "expiry '{s}': the unit must be d, h or m"
            )))
        }
    };
    Ok(now + d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::MIN_SECRET_CHARS;

    #[test]
    fn a_token_place_saves_only_what_was_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let place = TokenPlace::File(path.clone());
        let n = place.update(|f| Ok((false, f.tokens.len()))).unwrap();
        assert_eq!(n, 0);
        assert!(!path.exists(), "an unchanged list was written");
        let (record, secret) = place
            .update(|f| Ok((true, f.create("desk", "planner", None))))
            .unwrap();
        let stored = place.load().unwrap();
        assert_eq!(stored.tokens.len(), 1);
        assert_eq!(stored.tokens[0].id, record.id);
        assert_eq!(stored.tokens[0].sha256, sha256_hex(&secret));
        let revoked = place
            .update(|f| {
                let n = f.revoke("desk");
                Ok((n > 0, n))
            })
            .unwrap();
        assert_eq!(revoked, 1);
        assert!(place.load().unwrap().tokens[0].revoked.is_some());
        assert_eq!(place.to_string(), path.display().to_string());
    }

    #[test]
    fn issued_tokens_resolve_until_revoked_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let mut file = TokenFile::default();
        let (desk, desk_token) = file.create("desk", "planner", None);
        let (_, old_token) = file.create(
            "old",
            "analyst",
            Some(chiiki_core::clock::now() - chrono::Duration::seconds(1)),
        );
        let (_, ghost_token) = file.create("ghost", "nobody", None);
        file.save(&path).unwrap();
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains(&desk_token));

        let store = TokenStore::new(Roles::default(), &[], Some(path.clone())).unwrap();
        let who = store
            .authenticate(Some(&format!("Bearer {desk_token}")))
            .unwrap();
        assert_eq!(
            (who.role.name.as_str(), who.token_id.as_deref()),
            ("planner", Some(desk.id.as_str()))
        );
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {old_token}"))),
            Err(TokenError::Expired)
        );
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {ghost_token}"))),
            Err(TokenError::UndefinedRole("nobody".into()))
        );
        assert_eq!(
            store.authenticate(Some("Bearer chiiki_forged")),
            Err(TokenError::Unknown)
        );
        assert_eq!(
            store.authenticate(Some("Basic abc")),
            Err(TokenError::Malformed)
        );
        assert!(store.authenticate(None).unwrap().is_anonymous());

        // Revocation reaches the running store through the file.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.revoke("desk"), 1);
        file.save(&path).unwrap();
        let bumped = SystemTime::now() + std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(bumped)
            .unwrap();
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {desk_token}"))),
            Err(TokenError::Revoked)
        );
    }

    /// A config entry with a plain secret.
    fn plain(name: &str, role: &str, secret: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            role: role.into(),
            token_sha256: None,
            token: Some(secret.into()),
            expires: None,
        }
    }

    const DESK: &str = "desk-4f1c9a0e7b2d4c8e9a1f3b5d7c9e0a2b";
    const LAB: &str = "lab-0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d";

    fn bearer(secret: &str) -> String {
        format!("Bearer {secret}")
    }

    /// Saves `file` and moves its modification time on, so that a running
    /// store sees the change even on a file system with coarse timestamps.
    fn save_and_touch(file: &TokenFile, path: &Path) {
        file.save(path).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }

    #[test]
    fn config_tokens_may_be_hashed_or_plain() {
        let store = TokenStore::new(
            Roles::default(),
            &[
                TokenConfig {
                    name: "desk".into(),
                    role: "planner".into(),
                    token_sha256: Some(sha256_hex(DESK).to_uppercase()),
                    token: None,
                    expires: None,
                },
                plain("lab", "analyst", LAB),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            store.authenticate(Some(&bearer(DESK))).unwrap().role.name,
            "planner"
        );
        assert_eq!(
            store.authenticate(Some(&bearer(LAB))).unwrap().role.name,
            "analyst"
        );
    }

    #[test]
    fn basic_with_the_token_as_password_is_the_token() {
        use base64::Engine as _;
        let basic = |credentials: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            )
        };
        let store =
            TokenStore::new(Roles::default(), &[plain("desk", "planner", DESK)], None).unwrap();
        let bearer = store.authenticate(Some(&bearer(DESK))).unwrap();
        for user in ["any", "", "山田", "user:with:colons"] {
            // The user name ends at the first colon (RFC 7617 forbids
            // colons in it): the rest of a name with colons is read as
            // part of the password.
            let who = store.authenticate(Some(&basic(&format!("{user}:{DESK}"))));
            if user.contains(':') {
                assert_eq!(who, Err(TokenError::Unknown), "{user}");
                continue;
            }
            let who = who.unwrap();
            assert_eq!(who.token_id, bearer.token_id, "{user}");
            assert_eq!(who.role.name, "planner");
        }
        assert_eq!(
            store.authenticate(Some(&basic(&format!("any:{LAB}")))),
            Err(TokenError::Unknown)
        );
        for malformed in [
            "Basic".to_string(),
            "Basic !!!".to_string(),
            basic("no colon"),
            basic("user:"),
            basic(&format!("u:{}", "a".repeat(MAX_TOKEN_BYTES + 1))),
            format!("Basic {}", "QUFB".repeat(200)),
            "Digest abc".to_string(),
        ] {
            assert_eq!(
                store.authenticate(Some(&malformed)),
                Err(TokenError::Malformed),
                "{malformed}"
            );
        }
        // Schemes are case-insensitive (RFC 9110).
        assert!(store.authenticate(Some(&format!("BEARER {DESK}"))).is_ok());
        assert!(store
            .authenticate(Some(&basic(&format!("x:{DESK}")).replace("Basic", "basic")))
            .is_ok());
    }

    #[test]
    fn config_tokens_are_listed_in_the_token_file_under_stable_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let mut issued = TokenFile::default();
        issued.create("clerk", "analyst", None);
        issued.save(&path).unwrap();
        let config = [plain("desk", "planner", DESK)];
        let store = TokenStore::new(Roles::default(), &config, Some(path.clone())).unwrap();
        let listed = TokenFile::load(&path).unwrap().tokens;
        assert_eq!(listed.len(), 2, "the issued token is kept");
        let desk = &listed[1];
        assert_eq!(
            (desk.name.as_str(), desk.role.as_str(), desk.source),
            ("desk", "planner", TokenSource::Config)
        );
        assert!(
            desk.id.starts_with('c') && desk.id.len() == 9,
            "{}",
            desk.id
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains(DESK));
        let who = store.authenticate(Some(&bearer(DESK))).unwrap();
        assert_eq!(who.token_id.as_deref(), Some(desk.id.as_str()));
        // A restart merges again: the same id, no second record.
        TokenStore::new(Roles::default(), &config, Some(path.clone())).unwrap();
        assert_eq!(TokenFile::load(&path).unwrap().tokens, listed);
    }

    #[test]
    fn config_tokens_expire() {
        let past = chiiki_core::clock::now() - chrono::Duration::seconds(1);
        let future = chiiki_core::clock::now() + chrono::Duration::days(1);
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let config = [
            TokenConfig {
                expires: Some(past),
                ..plain("desk", "planner", DESK)
            },
            TokenConfig {
                expires: Some(future),
                ..plain("lab", "analyst", LAB)
            },
        ];
        let store = TokenStore::new(Roles::default(), &config, Some(path.clone())).unwrap();
        assert_eq!(
            store.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Expired)
        );
        assert!(store.authenticate(Some(&bearer(LAB))).is_ok());
        let file = TokenFile::load(&path).unwrap();
        let now = chiiki_core::clock::now();
        let status: Vec<_> = file.tokens.iter().map(|t| t.status(now)).collect();
        assert_eq!(status, ["expired", "active"]);
    }

    #[test]
    fn a_revoked_config_token_stays_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let config = [plain("desk", "planner", DESK), plain("lab", "analyst", LAB)];
        let store = TokenStore::new(Roles::default(), &config, Some(path.clone())).unwrap();
        assert!(store.authenticate(Some(&bearer(DESK))).is_ok());

        // `chiiki token revoke desk`, while the service runs.
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.revoke("desk"), 1);
        save_and_touch(&file, &path);
        assert_eq!(
            store.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Revoked)
        );
        assert!(store.authenticate(Some(&bearer(LAB))).is_ok());

        // The config still lists it, and a restart does not bring it back.
        let restarted = TokenStore::new(Roles::default(), &config, Some(path.clone())).unwrap();
        assert_eq!(
            restarted.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Revoked)
        );
        // Renewing does not undo a revocation either.
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.renew("desk", None), 0);
    }

    #[test]
    fn a_token_dropped_from_the_config_is_refused_but_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let both = [plain("desk", "planner", DESK), plain("lab", "analyst", LAB)];
        TokenStore::new(Roles::default(), &both, Some(path.clone())).unwrap();
        let store = TokenStore::new(Roles::default(), &both[1..], Some(path.clone())).unwrap();
        assert_eq!(
            store.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Unknown)
        );
        assert!(store.authenticate(Some(&bearer(LAB))).is_ok());
        assert_eq!(TokenFile::load(&path).unwrap().tokens.len(), 2);
    }

    #[test]
    fn renewal_extends_a_config_token_until_the_config_changes_its_expiry() {
        let now = chiiki_core::clock::now();
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let expired = [TokenConfig {
            expires: Some(now - chrono::Duration::days(1)),
            ..plain("desk", "planner", DESK)
        }];
        let store = TokenStore::new(Roles::default(), &expired, Some(path.clone())).unwrap();
        assert_eq!(
            store.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Expired)
        );

        // `chiiki token renew desk --expires 90d`, while the service runs.
        let mut file = TokenFile::load(&path).unwrap();
        let renewed = parse_expiry("90d", now).unwrap();
        assert_eq!(file.renew("desk", Some(renewed)), 1);
        save_and_touch(&file, &path);
        assert!(store.authenticate(Some(&bearer(DESK))).is_ok());

        // A restart with the same config keeps the renewal...
        let restarted = TokenStore::new(Roles::default(), &expired, Some(path.clone())).unwrap();
        assert!(restarted.authenticate(Some(&bearer(DESK))).is_ok());
        assert_eq!(
            TokenFile::load(&path).unwrap().tokens[0].expires,
            Some(renewed)
        );
        // ...and a new `expires` in the config replaces it.
        let shortened = [TokenConfig {
            expires: Some(now - chrono::Duration::hours(1)),
            ..plain("desk", "planner", DESK)
        }];
        let edited = TokenStore::new(Roles::default(), &shortened, Some(path.clone())).unwrap();
        assert_eq!(
            edited.authenticate(Some(&bearer(DESK))),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn short_or_plain_config_secrets_are_refused_by_name() {
        let refused = |t: TokenConfig| {
            TokenStore::new(Roles::default(), &[t], None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let short = refused(plain("front-desk", "planner", "s3cret"));
        assert!(
            short.contains("'front-desk'") && short.contains("6 characters"),
            "{short}"
        );
        let padded = refused(plain("padded", "planner", &"ab".repeat(20)));
        assert!(
            padded.contains("'padded'") && padded.contains("2 different"),
            "{padded}"
        );
        let hash = refused(TokenConfig {
            token_sha256: Some("abc".into()),
            token: None,
            ..plain("hashed", "planner", "")
        });
        assert!(
            hash.contains("'hashed'") && hash.contains("64 hex"),
            "{hash}"
        );
        let none = refused(TokenConfig {
            token: None,
            ..plain("empty", "planner", "")
        });
        assert!(none.contains("'empty'"), "{none}");
        // Nothing is written for a config that is refused.
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        assert!(TokenStore::new(
            Roles::default(),
            &[
                plain("desk", "planner", DESK),
                plain("x", "planner", "short")
            ],
            Some(path.clone())
        )
        .is_err());
        assert!(!path.exists());
        // Exactly the minimum passes.
        assert!(plain("min", "planner", &DESK[..MIN_SECRET_CHARS])
            .check()
            .is_ok());
        assert!(plain("min", "planner", &DESK[..MIN_SECRET_CHARS - 1])
            .check()
            .is_err());
    }

    #[test]
    fn expiry_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_expiry("90d", now).unwrap(),
            now + chrono::Duration::days(90)
        );
        assert_eq!(
            parse_expiry("2027-03-31", now).unwrap().to_rfc3339(),
            "2027-03-31T23:59:59+00:00"
        );
        assert!(parse_expiry("2020-01-01", now).is_err());
        assert!(parse_expiry("soon", now).is_err());
        assert!(parse_expiry("0d", now).is_err());
    }
}
