//! The one way chiiki writes a file that must never be seen half-written.
//!
//! [`write_atomically`] writes a temporary file in the same directory,
//! flushes it to disk, renames it over the target and flushes the directory,
//! so after a crash the path holds either the old bytes or the new ones.
//! The temporary file is removed on every failure path.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the path and the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub step: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Replaces `path` with `bytes` atomically and durably.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("chiiki-fs-doc-{}", std::process::id()));
/// let path = dir.join("hello.txt");
/// chiiki_core::fs::write_atomically(&path, b"first").unwrap();
/// chiiki_core::fs::write_atomically(&path, b"second").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"second");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomically_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomically`], with the content written by `fill` (for
/// writers that stream, such as Parquet or CSV).
pub fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let fail = |step: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| WriteError {
            path: p,
            step,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(fail("creating directory", dir))?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(fail("creating", &tmp))?;
        fill(&mut f).map_err(fail("writing", &tmp))?;
        f.sync_all().map_err(fail("flushing", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(fail("renaming onto", path))
    })();
    if result.is_err() {
        // Nothing half-written stays behind; the error says what failed.
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(dir).map_err(fail("flushing directory", dir))
}

/// The temporary name next to `path`: hidden, and unique per process and call.
fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chiiki-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn replaces_whole_and_leaves_no_temp_file() {
        let dir = scratch("replace");
        let path = dir.join("a.json");
        write_atomically(&path, b"{\"v\":1}").unwrap();
        write_atomically(&path, b"{\"v\":2}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":2}");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_fill_keeps_the_old_bytes_and_removes_the_temp_file() {
        let dir = scratch("fail");
        let path = dir.join("a.txt");
        write_atomically(&path, b"old").unwrap();
        let err = write_atomically_with(&path, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.step, "writing");
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_rename_names_the_target() {
        let dir = scratch("rename");
        // A directory where the file should go: the rename fails.
        let path = dir.join("taken");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let err = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(err.step, "renaming onto");
        assert_eq!(err.path, path);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "temp file removed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
