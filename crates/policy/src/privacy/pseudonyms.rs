//! Pseudonymous ids, and the secret key they are made with.
//!
//! A role that may not see 住民票コード gets a pseudonym in their place: a
//! keyed hash of the id, the role and the collection. The same person thus
//! has one pseudonym per role and collection, stable from day to day (so a
//! health nurse can come back to a record of an outreach list), but two
//! lists cannot be joined on their ids, nor can two roles compare notes.
//!
//! The key is the service's own, kept in `<data>/keys/pseudonym.key`
//! ([`pseudonym_key_path`]) and separate from the audit key: the audit key
//! must stay the same for as long as the log is kept (`chiiki audit
//! who-saw`), while the pseudonym key is rotated whenever pseudonyms that
//! have been handed out should stop meaning anything (`chiiki token
//! rotate-keys`). Rotation replaces the key and keeps no copy of the old
//! one: every pseudonym changes, and old ones no longer resolve to anybody,
//! by design.
//!
//! With the PostGIS store the key is a document of the database instead
//! ([`KeyPlace::Database`]), made by the first process that needs it, so
//! that every replica hands out the same pseudonyms.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chiiki_store::StateStore;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{PolicyError, Result};

/// Where the pseudonym key of a data directory lives.
pub fn pseudonym_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("pseudonym.key")
}

/// Where the pseudonym key is kept.
#[derive(Debug, Clone)]
pub enum KeyPlace {
    /// A file of the data directory ([`pseudonym_key_path`]).
    File(PathBuf),
    /// The document `pseudonym.key` of a PostGIS database, shared by every
    /// process serving it.
    Database(Arc<StateStore>),
}

/// The name of the pseudonym key among the database's documents.
pub const KEY_DOCUMENT: &str = "pseudonym.key";

/// The secret behind pseudonyms, with its version (1 for the first key,
/// one more at each rotation).
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey {
    version: u32,
    key: Vec<u8>,
}

/// The key file: JSON, so that its version travels with it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    created: DateTime<Utc>,
    /// 32 random bytes, hex.
    key: String,
}

impl std::fmt::Debug for PseudonymKey {
    // The key itself never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl PseudonymKey {
    /// A key from its bytes (tests, and stores that keep the key elsewhere).
    pub fn from_bytes(version: u32, key: &[u8]) -> PseudonymKey {
        PseudonymKey {
            version,
            key: key.to_vec(),
        }
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn bytes(&self) -> &[u8] {
        &self.key
    }

    /// The key kept at `place`, made (version 1) when there is none yet.
    /// In a database the first process to ask makes it; every other gets
    /// that one.
    pub fn open_at(place: &KeyPlace) -> Result<PseudonymKey> {
        match place {
            KeyPlace::File(path) => Self::open(path),
            KeyPlace::Database(state) => {
                let text = state.get_or_insert(KEY_DOCUMENT, || new_key_file(1).1)?;
                parse_key_file(&database_name(state), text.as_bytes())
            }
        }
    }

    /// Replaces the key kept at `place` with a new one, one version up
    /// ([`PseudonymKey::rotate`]).
    pub fn rotate_at(place: &KeyPlace) -> Result<PseudonymKey> {
        match place {
            KeyPlace::File(path) => Self::rotate(path),
            KeyPlace::Database(state) => {
                let name = database_name(state);
                let key = state.update(KEY_DOCUMENT, |old| {
                    let version = match old {
                        Some(text) => parse_key_file(&name, text.as_bytes())?.version + 1,
                        None => 1,
                    };
                    let (key, text) = new_key_file(version);
                    Ok::<_, PolicyError>((Some(text), key))
                })?;
                tracing::info!(
                    "rotated pseudonym key to version {} in {}",
                    key.version,
                    name.display()
                );
                Ok(key)
            }
        }
    }

    /// The key at `path`, made (version 1) when there is none yet.
    pub fn open(path: &Path) -> Result<PseudonymKey> {
        match Self::load(path)? {
            Some(key) => Ok(key),
            None => {
                let key = Self::write_new(path, 1)?;
                tracing::info!("made pseudonym key version 1 at {}", path.display());
                Ok(key)
            }
        }
    }

    /// The key at `path`, or `None` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<PseudonymKey>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(chiiki_core::error::IoError::at(path, "reading")(e).into()),
        };
        parse_key_file(path, &bytes).map(Some)
    }

    /// Replaces the key at `path` with a new one, one version up. Every
    /// pseudonym changes; the old key is not kept, so old pseudonyms no
    /// longer resolve. A running service keeps its key until it restarts.
    pub fn rotate(path: &Path) -> Result<PseudonymKey> {
        let version = match Self::load(path)? {
            Some(old) => old.version + 1,
            None => 1,
        };
        let key = Self::write_new(path, version)?;
        tracing::info!(
            "rotated pseudonym key to version {version} at {}",
            path.display()
        );
        Ok(key)
    }

    fn write_new(path: &Path, version: u32) -> Result<PseudonymKey> {
        let (key, text) = new_key_file(version);
        let bytes = text.into_bytes();
        if let Some(dir) = path.parent() {
            make_private_dir(dir)?;
        }
        chiiki_core::fs::write_atomically_with(path, |f| {
            // Owner-only before the key is written, not after.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            std::io::Write::write_all(f, &bytes)
        })?;
        Ok(key)
    }
}

/// A new random key of `version`, and its key file's text.
fn new_key_file(version: u32) -> (PseudonymKey, String) {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let file = KeyFile {
        version,
        created: chiiki_core::clock::now(),
        key: hex::encode(key),
    };
    let text = serde_json::to_string_pretty(&file).expect("a key file serialises");
    (PseudonymKey::from_bytes(version, &key), text)
}

/// The key in a key file's `bytes`; errors name `path` (a file, or the
/// database's document).
fn parse_key_file(path: &Path, bytes: &[u8]) -> Result<PseudonymKey> {
    let file: KeyFile = serde_json::from_slice(bytes)
        .map_err(|e| PolicyError::file(path, Some(e.line() as u64), "not a pseudonym key file"))?;
    let key = hex::decode(file.key.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| PolicyError::file(path, None, "the key is not 32 bytes of hex"))?;
    Ok(PseudonymKey {
        version: file.version,
        key,
    })
}

/// How errors name the key's document.
fn database_name(state: &StateStore) -> PathBuf {
    PathBuf::from(format!("{} chiiki.documents '{KEY_DOCUMENT}'", state.url()))
}

/// Creates `dir` (owner-only on Unix) if it does not exist yet.
fn make_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(chiiki_core::error::IoError::at(dir, "creating"))?;
    Ok(())
}

/// The pseudonym `role` sees for person `id` in `collection`: a keyed hash
/// of the three, 52 bits so that JSON clients keep it exact (always
/// positive). The same for every request until the key is rotated;
/// different in every other collection and for every other role.
pub fn pseudonym(key: &PseudonymKey, role: &str, collection: &str, id: i64) -> i64 {
    let mut h = Sha256::new();
    h.update(&key.key);
    h.update(b"chiiki pseudonym");
    // Lengths first, so that no two (role, collection) pairs hash alike.
    for part in [role, collection] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(id.to_be_bytes());
    let d = h.finalize();
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (n >> 12) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PseudonymKey {
        PseudonymKey::from_bytes(1, b"k")
    }

    #[test]
    fn the_same_role_collection_and_key_give_the_same_pseudonym() {
        let a = pseudonym(&key(), "health", "care_outreach_flood", 10000919062);
        assert_eq!(
            a,
            pseudonym(&key(), "health", "care_outreach_flood", 10000919062)
        );
        assert!((0..1 << 52).contains(&a));
        assert_ne!(
            a,
            pseudonym(&key(), "health", "care_outreach_flood", 10000919063)
        );
    }

    #[test]
    fn other_collections_and_roles_give_other_pseudonyms() {
        let k = key();
        let id = 10000919062;
        let base = pseudonym(&k, "health", "care_outreach_flood", id);
        assert_ne!(base, pseudonym(&k, "health", "residents", id));
        assert_ne!(base, pseudonym(&k, "welfare", "care_outreach_flood", id));
        // The parts are delimited: moving text from one to the other is another name.
        assert_ne!(pseudonym(&k, "ab", "c", id), pseudonym(&k, "a", "bc", id));
    }

    #[test]
    fn the_key_is_made_once_and_rotation_changes_every_pseudonym() {
        let dir = tempfile::tempdir().unwrap();
        let path = pseudonym_key_path(dir.path());
        assert_eq!(PseudonymKey::load(&path).unwrap(), None);
        let first = PseudonymKey::open(&path).unwrap();
        assert_eq!(first.version(), 1);
        assert_eq!(
            PseudonymKey::open(&path).unwrap(),
            first,
            "kept, not remade"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only");
        }
        let before = pseudonym(&first, "health", "residents", 1);

        let second = PseudonymKey::rotate(&path).unwrap();
        assert_eq!(second.version(), 2);
        assert_eq!(PseudonymKey::open(&path).unwrap(), second);
        assert_ne!(second.bytes(), first.bytes());
        assert_ne!(pseudonym(&second, "health", "residents", 1), before);
        assert!(!format!("{second:?}").contains(&hex::encode(second.bytes())));
    }

    #[test]
    fn a_broken_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = pseudonym_key_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "{\"version\":1,\"created\":\"2026-04-01T00:00:00Z\",\"key\":\"abcd\"}",
        )
        .unwrap();
        let err = PseudonymKey::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("pseudonym.key") && err.contains("32 bytes"),
            "{err}"
        );
    }
}
