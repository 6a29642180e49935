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
    let mut file = AtomicFile::create(path)?;
    fill(file.out.get_mut()).map_err(|source| WriteError {
        path: file.tmp.clone(),
        step: "writing",
        source,
    })?;
    file.commit()
}

/// A file written piece by piece that appears at its path whole, or not at
/// all: the pieces go to a temporary file in the same directory, and
/// [`AtomicFile::commit`] flushes it, renames it over the path and flushes
/// the directory. Dropped without a commit (an error, a panic), it removes
/// its temporary file and leaves the path as it was.
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("chiiki-atomic-doc-{}", std::process::id()));
/// let path = dir.join("big.csv");
/// let mut f = chiiki_core::fs::AtomicFile::create(&path).unwrap();
/// writeln!(f, "id,name").unwrap();
/// assert!(!path.exists(), "nothing at the path before the commit");
/// f.commit().unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "id,name\n");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
pub struct AtomicFile {
    out: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `path` (its directory is created if missing).
    pub fn create(path: &Path) -> Result<AtomicFile, WriteError> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(dir).map_err(failed("creating directory", dir))?;
        let tmp = temp_path(path);
        let file = std::fs::File::create(&tmp).map_err(failed("creating", &tmp))?;
        Ok(AtomicFile {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            tmp,
            path: path.to_path_buf(),
            committed: false,
        })
    }

    /// Puts the file in place, durably.
    pub fn commit(mut self) -> Result<(), WriteError> {
        self.out.flush().map_err(failed("writing", &self.tmp))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(failed("flushing", &self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(failed("renaming onto", &self.path))?;
        self.committed = true;
        let dir = parent_dir(&self.path);
        sync_dir(dir).map_err(failed("flushing directory", dir))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// For `map_err`: the failure of `step` on `path`.
fn failed(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError { path, step, source }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
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
    fn an_atomic_file_dropped_uncommitted_leaves_the_old_file() {
        let dir = scratch("drop");
        let path = dir.join("registry.csv");
        write_atomically(&path, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"new but unfinished").unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "temp file removed"
        );
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
