//! The audit trail: one JSON line per response that carried personal data —
//! who (token id, role), when, what was asked, how many records and which
//! (as keyed hashes of their ids) — chained by SHA-256 so that editing,
//! deleting or reordering any line is detected by `chiiki audit verify`.
//!
//! Each line holds the hash of the line before it (`prev`) and its own
//! (`hash`, over `prev` and the line's other fields). A head file beside the
//! log keeps the last sequence number and hash, so that cutting lines off the
//! end is detected too. Record ids are hashed with a key kept beside the log:
//! the log does not list 住民票コード, yet `chiiki audit who-saw <id>` can
//! answer a resident's request to know who looked at their record.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{PolicyError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one entry says, in the order it is written and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    /// The token's public id (`-` for anonymous callers, who get only
    /// perturbed counts of people).
    pub token: String,
    pub role: String,
    /// Method, path and query.
    pub request: String,
    pub collection: String,
    pub records: usize,
    /// Keyed hashes of the records' ids.
    pub ids: Vec<String>,
    pub prev: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(flatten)]
    entry: Entry,
    hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

fn entry_hash(entry: &Entry) -> String {
    let body = serde_json::to_string(entry).expect("an entry serialises");
    hex::encode(Sha256::digest(body.as_bytes()))
}

fn head_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".head");
    log.with_file_name(name)
}

fn key_path(log: &Path) -> PathBuf {
    log.with_file_name("audit.key")
}

/// The keyed hash of a record id (population and feature id) as logged.
pub fn hash_id(key: &[u8], population: &str, id: i64) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(population.as_bytes());
    h.update(b":");
    h.update(id.to_string().as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The keyed hash of a value searched for (a name in a filter), as logged:
/// `chiiki audit` can tell whether a given value was searched for, the log
/// alone cannot tell what.
pub fn hash_value(key: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(b"value:");
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// A request's personal-data disclosure, to be logged before the response leaves.
pub struct Disclosure<'a> {
    pub token: Option<&'a str>,
    pub role: &'a str,
    pub request: String,
    pub collection: &'a str,
    pub population: &'a str,
    pub ids: &'a [i64],
}

struct State {
    file: std::fs::File,
    seq: u64,
    last: String,
}

/// The append-only log of a running service.
pub struct AuditLog {
    path: PathBuf,
    key: Vec<u8>,
    fsync: bool,
    state: Mutex<State>,
}

impl AuditLog {
    /// Opens (or starts) the log at `path`. A log that does not end where its
    /// head says is refused: someone has to look at it first.
    pub fn open(path: &Path, fsync: bool) -> Result<AuditLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(chiiki_core::error::IoError::at(dir, "creating"))?;
        }
        let key = load_or_make_key(&key_path(path))?;
        let (seq, last) = match last_line(path)? {
            Some(line) => (line.entry.seq + 1, line.hash),
            None => (0, GENESIS.to_string()),
        };
        if let Some(head) = read_head(path)? {
            if head.hash != last || head.seq + 1 != seq {
                return Err(PolicyError::tampered(
                    path,
                    None,
                    format!(
                        "does not end where its head says (entry {}); run `chiiki audit verify`",
                        head.seq
                    ),
                ));
            }
        } else if seq > 0 {
            return Err(PolicyError::tampered(
                path,
                None,
                "has no head file; run `chiiki audit verify`",
            ));
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(chiiki_core::error::IoError::at(path, "opening"))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            key,
            fsync,
            state: Mutex::new(State { file, seq, last }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret key that hashes ids in the log. Pseudonyms have their own
    /// key ([`crate::privacy::PseudonymKey`]): this one must never change
    /// while the log is kept, that one is rotated.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Appends one entry; the response must not be sent if this fails.
    pub fn record(&self, d: &Disclosure) -> Result<()> {
        let ids: Vec<String> = d
            .ids
            .iter()
            .map(|&id| hash_id(&self.key, d.population, id))
            .collect();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = Entry {
            seq: state.seq,
            time: chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            token: d.token.unwrap_or("-").to_string(),
            role: d.role.to_string(),
            request: d.request.clone(),
            collection: d.collection.to_string(),
            records: d.ids.len(),
            ids,
            prev: state.last.clone(),
        };
        let hash = entry_hash(&entry);
        let mut line = serde_json::to_vec(&Line {
            entry,
            hash: hash.clone(),
        })
        .map_err(|e| PolicyError::file(&self.path, None, e))?;
        line.push(b'\n');
        state
            .file
            .write_all(&line)
            .map_err(chiiki_core::error::IoError::at(&self.path, "appending to"))?;
        if self.fsync {
            state
                .file
                .sync_data()
                .map_err(chiiki_core::error::IoError::at(&self.path, "flushing"))?;
        }
        let head = Head {
            seq: state.seq,
            hash: hash.clone(),
        };
        let head = serde_json::to_vec(&head).map_err(|e| PolicyError::file(&self.path, None, e))?;
        chiiki_core::fs::write_atomically(&head_path(&self.path), &head)?;
        state.seq += 1;
        state.last = hash;
        Ok(())
    }
}

impl AuditLog {
    /// Forces every entry written so far to disk (the log and its head),
    /// whatever `fsync` says: for a clean stop, when nothing may be lost.
    pub fn sync(&self) -> Result<()> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .file
            .sync_all()
            .map_err(chiiki_core::error::IoError::at(&self.path, "flushing"))?;
        // The head is replaced by a rename: its directory entry is what
        // must reach the disk.
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Whether an entry could be written now: the log opens for appending
    /// and its directory takes a new file (the head is replaced through
    /// one). For readiness checks; it writes nothing to the log.
    pub fn check_writable(&self) -> Result<()> {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(chiiki_core::error::IoError::at(&self.path, "opening"))?;
        let probe = head_path(&self.path).with_extension("probe");
        std::fs::write(&probe, b"").map_err(chiiki_core::error::IoError::at(&probe, "creating"))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

fn load_or_make_key(path: &Path) -> Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return hex::decode(text.trim())
            .map_err(|_| PolicyError::file(path, None, "not a hex key"));
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    chiiki_core::fs::write_atomically(path, hex::encode(key).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(key.to_vec())
}

fn read_head(log: &Path) -> Result<Option<Head>> {
    match std::fs::read(head_path(log)) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|_| {
            PolicyError::tampered(&head_path(log), None, "not an audit head")
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(chiiki_core::error::IoError::at(&head_path(log), "reading")(e).into()),
    }
}

fn last_line(path: &Path) -> Result<Option<Line>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(chiiki_core::error::IoError::at(path, "opening")(e).into()),
    };
    let mut last = None;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        if line.trim().is_empty() {
            continue;
        }
        last =
            Some(serde_json::from_str::<Line>(&line).map_err(|_| {
                PolicyError::tampered(path, Some(i as u64 + 1), "not an audit entry")
            })?);
    }
    Ok(last)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub entries: u64,
    pub last_hash: String,
}

/// Checks the whole chain and the head; the error names the first bad line.
pub fn verify(path: &Path) -> Result<Verified> {
    // The head first: every entry up to it was complete when it was
    // written, so a log being appended to verifies too (an entry written
    // meanwhile is checked if whole, and one half-written is left for later).
    let head = read_head(path)?;
    let file =
        std::fs::File::open(path).map_err(chiiki_core::error::IoError::at(path, "opening"))?;
    let mut reader = std::io::BufReader::new(file);
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 0u64;
    let mut head_hash = None;
    let mut buf = Vec::new();
    for n in 1.. {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|_| PolicyError::tampered(path, Some(n), "unreadable"))?;
        if read == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        let at = |message: String| PolicyError::tampered(path, Some(n), message);
        let parsed: Line = serde_json::from_slice(&buf[..buf.len() - 1])
            .map_err(|_| at("not an audit entry (edited?)".into()))?;
        if parsed.entry.seq != expected_seq {
            return Err(at(format!(
                "entry {} where {} was expected: entries were deleted or reordered",
                parsed.entry.seq, expected_seq
            )));
        }
        if parsed.entry.prev != prev {
            return Err(at(
                "does not follow the entry before it: entries were deleted, inserted or reordered"
                    .into(),
            ));
        }
        if entry_hash(&parsed.entry) != parsed.hash {
            return Err(at(
                "its hash does not match its content: the entry was edited".into(),
            ));
        }
        if head.as_ref().is_some_and(|h| h.seq == parsed.entry.seq) {
            head_hash = Some(parsed.hash.clone());
        }
        prev = parsed.hash;
        expected_seq += 1;
    }
    match head {
        Some(head) if head_hash.as_deref() == Some(head.hash.as_str()) => {}
        Some(head) if head.seq < expected_seq => {
            return Err(PolicyError::tampered(
                path,
                Some(head.seq + 1),
                "is not the entry the head file names: the log was rewritten",
            ))
        }
        Some(head) => {
            return Err(PolicyError::tampered(
                path,
                None,
                format!(
                    "the log ends at entry {} but its head says {}: entries were cut off the end",
                    expected_seq as i64 - 1,
                    head.seq
                ),
            ))
        }
        None if expected_seq == 0 => {}
        None => {
            return Err(PolicyError::tampered(
                path,
                None,
                format!("the head file {} is missing", head_path(path).display()),
            ))
        }
    }
    Ok(Verified {
        entries: expected_seq,
        last_hash: prev,
    })
}

/// The key beside the log at `path`.
fn read_key(path: &Path) -> Result<Vec<u8>> {
    let key_file = key_path(path);
    let key = std::fs::read_to_string(&key_file)
        .map_err(chiiki_core::error::IoError::at(&key_file, "reading"))?;
    hex::decode(key.trim()).map_err(|_| PolicyError::file(&key_file, None, "not a hex key"))
}

/// Entries whose request searched for `value` (logged as its keyed hash).
pub fn searched_for(path: &Path, value: &str) -> Result<Vec<Entry>> {
    // The hash alone: the request line keeps it URL-encoded (`%23…`).
    let wanted = hash_value(&read_key(path)?, value);
    entries_where(path, |e| e.request.contains(&wanted))
}

/// Entries that disclosed record `id` of `population`.
pub fn who_saw(path: &Path, population: &str, id: i64) -> Result<Vec<Entry>> {
    let wanted = hash_id(&read_key(path)?, population, id);
    entries_where(path, |e| e.ids.contains(&wanted))
}

fn entries_where(path: &Path, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>> {
    let file =
        std::fs::File::open(path).map_err(chiiki_core::error::IoError::at(path, "opening"))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        let line: Line = serde_json::from_str(&line)
            .map_err(|_| PolicyError::tampered(path, Some(i as u64 + 1), "not an audit entry"))?;
        if keep(&line.entry) {
            out.push(line.entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_three(dir: &Path) -> PathBuf {
        let path = dir.join("audit").join("audit.jsonl");
        let log = AuditLog::open(&path, false).unwrap();
        for (i, ids) in [vec![1, 2], vec![3], vec![2, 4, 5]].iter().enumerate() {
            log.record(&Disclosure {
                token: Some("t1"),
                role: "planner",
                request: format!("GET /collections/residents/items?offset={i}"),
                collection: "residents",
                population: "residents",
                ids,
            })
            .unwrap();
        }
        path
    }

    #[test]
    fn an_untouched_log_verifies_and_continues_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_three(dir.path());
        assert_eq!(verify(&path).unwrap().entries, 3);
        let log = AuditLog::open(&path, false).unwrap();
        log.record(&Disclosure {
            token: None,
            role: "admin",
            request: "GET /x".into(),
            collection: "residents",
            population: "residents",
            ids: &[9],
        })
        .unwrap();
        assert_eq!(verify(&path).unwrap().entries, 4);
        let saw_2 = who_saw(&path, "residents", 2).unwrap();
        assert_eq!(saw_2.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 2]);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("\"2\""));
    }

    #[test]
    fn sync_and_writability() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_three(dir.path());
        let log = AuditLog::open(&path, false).unwrap();
        log.check_writable().unwrap();
        log.sync().unwrap();
        assert_eq!(verify(&path).unwrap().entries, 3);
        // The probe leaves nothing behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("probe")), "{names:?}");
        // A log whose directory is gone cannot be written.
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert!(log.check_writable().is_err());
    }

    #[test]
    fn edits_deletions_reorderings_and_cuts_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_three(dir.path());
        let original = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = original.lines().collect();
        let cases: Vec<(&str, String)> = vec![
            (
                "edited",
                original.replacen("\"records\":1", "\"records\":0", 1),
            ),
            ("edited", original.replacen("planner", "analyst", 1)),
            ("deleted", format!("{}\n{}\n", lines[0], lines[2])),
            (
                "reordered",
                format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]),
            ),
            ("cut off", format!("{}\n{}\n", lines[0], lines[1])),
        ];
        for (what, text) in cases {
            std::fs::write(&path, text).unwrap();
            let err = verify(&path).unwrap_err().to_string();
            assert!(!err.is_empty(), "{what}");
            if what == "cut off" {
                assert!(AuditLog::open(&path, false).is_err(), "{err}");
            }
        }
        std::fs::write(&path, &original).unwrap();
        assert!(verify(&path).is_ok());
    }
}
