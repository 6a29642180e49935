//! Record keys for the cell-key method of disclosure control.
//!
//! Every resident gets a fixed random key in 0..=255. A published count of
//! people is perturbed by noise drawn from the sum of its members' keys, so
//! the same set of people gets the same noise in every table, and a table
//! cannot be averaged or differenced back to the truth.
//!
//! The keys are drawn once from a random secret kept with the registry
//! (`<data>/registry/record-keys.key`) and the 住民票コード, so a resident
//! keeps theirs across 異動, re-imports and rebuilt layers; the resident
//! points carry them in a column that no role is ever shown.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};
use crate::store::RegistryPlace;

/// The name of the record-key secret among a database's documents.
pub const DOCUMENT: &str = "record-keys.key";

/// The column of the resident points that holds each resident's key.
pub const COLUMN: &str = chiiki_core::sensitivity::RECORD_KEY_COLUMN;

/// The registry's secret for record keys.
pub struct RecordKeys {
    secret: [u8; 32],
}

fn path(data_dir: &Path) -> PathBuf {
    crate::store::registry_dir(data_dir).join("record-keys.key")
}

impl RecordKeys {
    /// The registry's secret, made (at random) the first time.
    pub fn load_or_create(data_dir: &Path) -> Result<RecordKeys> {
        let path = path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = decode_hex(text.trim()).ok_or_else(|| RegistryError::Corrupt {
                    path: path.clone(),
                    message: "not a 64-digit hex key".into(),
                })?;
                Ok(RecordKeys { secret: bytes })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = new_secret_hex();
                chiiki_core::fs::write_atomically(&path, text.as_bytes())?;
                let secret = decode_hex(&text).expect("64 hex digits");
                Ok(RecordKeys { secret })
            }
            Err(e) => Err(chiiki_core::error::IoError::at(&path, "reading")(e).into()),
        }
    }

    /// The secret of the registry kept at `place`, made the first time: in
    /// a database, a document every process serving it shares (made by the
    /// first to ask), so that all of them perturb counts alike.
    pub fn load_or_create_at(place: &RegistryPlace) -> Result<RecordKeys> {
        match place {
            RegistryPlace::Directory(data_dir) => Self::load_or_create(data_dir),
            RegistryPlace::Database(state) => {
                // A JSON string of hex digits.
                let text = state.get_or_insert(DOCUMENT, || format!("\"{}\"", new_secret_hex()))?;
                let secret = decode_hex(text.trim().trim_matches('"')).ok_or_else(|| {
                    RegistryError::Corrupt {
                        path: PathBuf::from(format!(
                            "{} chiiki.documents '{DOCUMENT}'",
                            state.url()
                        )),
                        message: "not a 64-digit hex key".into(),
                    }
                })?;
                Ok(RecordKeys { secret })
            }
        }
    }

    /// Copies the secret kept with the registry at `from` to `to` when `to`
    /// has none yet; returns whether it did. A registry moved between
    /// stores keeps its residents' keys, so its protected counts stay the
    /// same.
    pub fn copy_if_missing(from: &RegistryPlace, to: &RegistryPlace) -> Result<bool> {
        let Some(secret) = secret_at(from)? else {
            return Ok(false);
        };
        match to {
            RegistryPlace::Directory(data_dir) => {
                let path = path(data_dir);
                if path.exists() {
                    return Ok(false);
                }
                chiiki_core::fs::write_atomically(&path, secret.as_bytes())?;
                Ok(true)
            }
            RegistryPlace::Database(state) => {
                Ok(state.insert_new(DOCUMENT, &format!("\"{secret}\""))?)
            }
        }
    }

    /// Keys from a given secret (tests, and stores that keep it elsewhere).
    pub fn from_secret(secret: [u8; 32]) -> RecordKeys {
        RecordKeys { secret }
    }

    /// The key of the resident with this 住民票コード.
    ///
    /// ```
    /// use chiiki_registry::record_keys::RecordKeys;
    /// let keys = RecordKeys::from_secret([7; 32]);
    /// assert_eq!(keys.key_of("10000000001"), keys.key_of("10000000001"));
    /// ```
    pub fn key_of(&self, resident_id: &str) -> u8 {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(b"record-key:");
        h.update(resident_id.as_bytes());
        h.finalize()[0]
    }
}

/// The secret kept with the registry at `place` as hex, if there is one.
fn secret_at(place: &RegistryPlace) -> Result<Option<String>> {
    match place {
        RegistryPlace::Directory(data_dir) => match std::fs::read_to_string(path(data_dir)) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(chiiki_core::error::IoError::at(&path(data_dir), "reading")(e).into()),
        },
        RegistryPlace::Database(state) => Ok(state
            .document(DOCUMENT)?
            .map(|(text, _)| text.trim().trim_matches('"').to_string())),
    }
}

/// A new random secret as 64 hex digits.
fn new_secret_hex() -> String {
    let mut secret = [0u8; 32];
    getrandom(&mut secret);
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Fills `buf` from the operating system's random source.
fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    // /dev/urandom never blocks once the system has booted and is on every
    // Linux this runs on; a failure here is a broken machine.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("reading /dev/urandom");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_and_spread_over_all_values() {
        let dir = tempfile::tempdir().unwrap();
        let a = RecordKeys::load_or_create(dir.path()).unwrap();
        let b = RecordKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.key_of("123"), b.key_of("123"));
        let mut seen = [0u32; 256];
        for id in 0..25_600 {
            seen[a.key_of(&id.to_string()) as usize] += 1;
        }
        // Uniform: every value occurs, none more than twice its share.
        assert!(seen.iter().all(|&n| n > 0 && n < 200), "{seen:?}");
        std::fs::write(path(dir.path()), "zz").unwrap();
        assert!(RecordKeys::load_or_create(dir.path()).is_err());
    }
}
