//! The registry on disk: one file, replaced atomically.
//!
//! Layout of `<data dir>/registry/`:
//!
//! - `registry.bin`: the whole registry (baseline, residents with their
//!   versions, applied events): the magic `CHIIKIRG`, a format number (u32
//!   LE), then the [`Registry`] as postcard;
//! - `.registry.bin.tmp-<pid>-<n>`: a registry being written; never read;
//! - `lock`: held (flock) by the process changing the registry.
//!
//! A write goes through [`chiiki_core::fs::write_atomically_with`]: the
//! temporary file is fsynced, renamed over `registry.bin`, and the
//! directory is fsynced. A rename is atomic, so an
//! import or delta that fails or is killed at any moment leaves either the
//! previous registry or the new one, never a mix. Temporary files a killed
//! process left behind are ignored by [`load`] and removed by the next
//! [`save`]. The lock keeps two writers from both reading the old registry
//! and one losing the other's changes; the kernel drops it when its process
//! dies, so a kill never leaves the registry locked.
//!
//! With the PostGIS store the same bytes are the blob `registry` of the
//! database ([`RegistryPlace::Database`]), replaced whole in one
//! transaction, under a session advisory lock the database drops with the
//! writer's connection; every process serving the database reads the one
//! registry.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chiiki_store::state::BlobLock;
use chiiki_store::StateStore;

use super::error::{RegistryError, Result};
use super::model::Registry;

const MAGIC: &[u8; 8] = b"CHIIKIRG";
/// Bump when the stored types change; an old file then fails to load with
/// a clear message instead of decoding into nonsense.
const FORMAT: u32 = 2;
const FILE_NAME: &str = "registry.bin";
const TMP_PREFIX: &str = ".registry.bin.tmp-";

pub fn registry_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("registry")
}

pub fn registry_path(data_dir: &Path) -> PathBuf {
    registry_dir(data_dir).join(FILE_NAME)
}

pub fn exists(data_dir: &Path) -> bool {
    registry_path(data_dir).is_file()
}

/// Reads the registry of `data_dir`.
pub fn load(data_dir: &Path) -> Result<Registry> {
    let path = registry_path(data_dir);
    if !path.is_file() {
        return Err(RegistryError::NoRegistry {
            dir: registry_dir(data_dir),
        });
    }
    let bytes = fs::read(&path).map_err(chiiki_core::error::IoError::at(&path, "reading"))?;
    decode(&bytes).map_err(|message| RegistryError::Corrupt { path, message })
}

/// The registry in `bytes`, or what is wrong with them.
fn decode(bytes: &[u8]) -> Result<Registry, String> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a chiiki registry file")?;
    let (format, body) = body.split_first_chunk::<4>().ok_or("truncated header")?;
    let format = u32::from_le_bytes(*format);
    if format != FORMAT {
        return Err(format!(
            "registry format {format}, this chiiki reads {FORMAT}: re-import the registry"
        ));
    }
    let (mut registry, rest): (Registry, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| format!("decoding the registry: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the registry",
            rest.len()
        ));
    }
    registry.index_events();
    Ok(registry)
}

/// Writes `registry` atomically as the registry of `data_dir`. The caller
/// holds the [`lock`].
pub fn save(data_dir: &Path, registry: &Registry, _lock: &Lock) -> Result<PathBuf> {
    let dir = registry_dir(data_dir);
    fs::create_dir_all(&dir).map_err(chiiki_core::error::IoError::at(&dir, "creating"))?;
    remove_stale_temporaries(&dir);
    let path = dir.join(FILE_NAME);
    chiiki_core::fs::write_atomically_with(&path, |file| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        encode(registry, &mut out)?;
        out.flush()
    })?;
    Ok(path)
}

/// The stored form of `registry`: magic, format, postcard.
fn encode(registry: &Registry, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_le_bytes())?;
    postcard::to_io(registry, out).map_err(std::io::Error::other)?;
    Ok(())
}

/// The name of the registry among the database's blobs.
pub const REGISTRY_BLOB: &str = "registry";

/// Where a registry is kept.
#[derive(Debug, Clone)]
pub enum RegistryPlace {
    /// `<data dir>/registry/registry.bin`.
    Directory(PathBuf),
    /// The blob [`REGISTRY_BLOB`] of a PostGIS database.
    Database(Arc<StateStore>),
}

impl RegistryPlace {
    /// How messages name it: the file, or the database's blob.
    pub fn name(&self) -> PathBuf {
        match self {
            RegistryPlace::Directory(data) => registry_path(data),
            RegistryPlace::Database(state) => {
                PathBuf::from(format!("{} chiiki.blobs '{REGISTRY_BLOB}'", state.url()))
            }
        }
    }

    /// Whether there is a registry there.
    pub fn exists(&self) -> Result<bool> {
        match self {
            RegistryPlace::Directory(data) => Ok(exists(data)),
            RegistryPlace::Database(state) => Ok(state.has_blob(REGISTRY_BLOB)?),
        }
    }

    /// The registry kept there.
    pub fn load(&self) -> Result<Registry> {
        match self {
            RegistryPlace::Directory(data) => load(data),
            RegistryPlace::Database(state) => {
                let bytes = state
                    .blob(REGISTRY_BLOB)?
                    .ok_or_else(|| RegistryError::NoRegistry { dir: self.name() })?;
                decode(&bytes).map_err(|message| RegistryError::Corrupt {
                    path: self.name(),
                    message,
                })
            }
        }
    }

    /// The exclusive right to change it, failing at once if another
    /// process holds it; released when dropped or when the process ends.
    pub fn lock(&self) -> Result<Lock> {
        match self {
            RegistryPlace::Directory(data) => lock(data),
            RegistryPlace::Database(state) => match state.try_lock_blob(REGISTRY_BLOB)? {
                Some(held) => Ok(Lock {
                    _held: Held::Database(Box::new(held)),
                }),
                None => Err(RegistryError::Locked { dir: self.name() }),
            },
        }
    }

    /// Replaces the registry kept there, whole or not at all; the caller
    /// holds `lock`. Returns where it went, for messages.
    pub fn save(&self, registry: &Registry, lock: &Lock) -> Result<PathBuf> {
        match (self, &lock._held) {
            (RegistryPlace::Directory(data), _) => save(data, registry, lock),
            (RegistryPlace::Database(state), Held::Database(held)) => {
                let mut bytes = Vec::new();
                encode(registry, &mut bytes)
                    .map_err(chiiki_core::error::IoError::at(&self.name(), "encoding"))?;
                state.put_blob(REGISTRY_BLOB, &bytes, held)?;
                Ok(self.name())
            }
            (RegistryPlace::Database(_), Held::File(_)) => {
                Err(RegistryError::Locked { dir: self.name() })
            }
        }
    }
}

/// Temporary files of writers that died. Only called with the lock held, so
/// no live writer owns them.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            tracing::info!(
                "removing {} left by an interrupted write",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Copies the registry kept at `from` to `to` when `to` has none yet
/// (decoded and encoded again, so a damaged one is refused); returns
/// whether it did.
pub fn copy_if_missing(from: &RegistryPlace, to: &RegistryPlace) -> Result<bool> {
    if !from.exists()? {
        return Ok(false);
    }
    let lock = to.lock()?;
    if to.exists()? {
        return Ok(false);
    }
    to.save(&from.load()?, &lock)?;
    Ok(true)
}

/// Exclusive right to change a registry, released when dropped or when
/// the process ends.
pub struct Lock {
    _held: Held,
}

enum Held {
    /// flock on `<data dir>/registry/lock`.
    File(#[allow(dead_code)] File),
    /// A session advisory lock in the database.
    Database(Box<BlobLock>),
}

/// Takes the registry lock of `data_dir`, failing at once if another
/// process holds it.
pub fn lock(data_dir: &Path) -> Result<Lock> {
    let dir = registry_dir(data_dir);
    fs::create_dir_all(&dir).map_err(chiiki_core::error::IoError::at(&dir, "creating"))?;
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(chiiki_core::error::IoError::at(&path, "opening"))?;
    // SAFETY: flock on a descriptor we own; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(RegistryError::Locked { dir });
        }
        return Err(chiiki_core::error::IoError::at(&path, "locking")(err).into());
    }
    Ok(Lock {
        _held: Held::File(file),
    })
}

impl Registry {
    /// Reads the registry of `data_dir` (see [`load`]).
    pub fn load(data_dir: &Path) -> Result<Registry> {
        load(data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::one_resident_registry;

    fn sample() -> Registry {
        one_resident_registry("sample.csv")
    }

    #[test]
    fn round_trip_ignoring_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_err());
        let lock = lock(dir.path()).unwrap();
        let registry = sample();
        save(dir.path(), &registry, &lock).unwrap();
        let stale = registry_dir(dir.path()).join(format!("{TMP_PREFIX}99999"));
        fs::write(&stale, b"half a registry").unwrap();
        assert_eq!(load(dir.path()).unwrap(), registry);
        save(dir.path(), &registry, &lock).unwrap();
        assert!(!stale.exists(), "the next save removes stale temporaries");
    }

    #[test]
    fn a_second_writer_is_refused_while_the_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).err().unwrap().to_string();
        assert!(err.contains("another chiiki process"), "{err}");
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }

    #[test]
    fn damaged_files_are_errors_not_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock(dir.path()).unwrap();
        save(dir.path(), &sample(), &lock).unwrap();
        let path = registry_path(dir.path());
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load(dir.path()).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        fs::write(&path, &longer).unwrap();
        assert!(load(dir.path()).is_err());
        fs::write(&path, b"something else").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
