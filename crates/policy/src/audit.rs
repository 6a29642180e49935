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
//!
//! With the PostGIS store the log is in the database instead
//! ([`AuditPlace::Database`]): the same lines, hashed the same way, one
//! chain for every process serving the database (each entry appended under
//! a lock they all take, committed before the response leaves), with the
//! head and the key in the database too; verification is the same code.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chiiki_store::StateStore;

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

/// Where entries go.
enum Sink {
    File(Mutex<State>),
    Database(Arc<StateStore>),
}

/// The name of the audit key among the database's documents.
const KEY_DOCUMENT: &str = "audit.key";

/// Where an audit log is kept.
#[derive(Debug, Clone)]
pub enum AuditPlace {
    /// A JSON-lines file with its head and key beside it.
    File(PathBuf),
    /// The tables `chiiki.audit` and `chiiki.audit_head` of a PostGIS
    /// database, the key among its documents.
    Database(Arc<StateStore>),
}

impl AuditPlace {
    /// How errors name the log: its file, or the database and table.
    pub fn name(&self) -> PathBuf {
        match self {
            AuditPlace::File(p) => p.clone(),
            AuditPlace::Database(s) => PathBuf::from(format!("{} chiiki.audit", s.url())),
        }
    }

    /// Checks the whole chain and the head; see [`verify`].
    pub fn verify(&self) -> Result<Verified> {
        match self {
            AuditPlace::File(p) => verify(p),
            AuditPlace::Database(state) => {
                let name = self.name();
                // The head first, as for a file: entries appended meanwhile
                // are checked too.
                let head = state.audit_head()?.map(|h| Head {
                    seq: h.seq as u64,
                    hash: h.hash,
                });
                let mut chain = Chain::new(head);
                state.audit_lines(|l| {
                    let n = l.seq as u64 + 1;
                    let parsed = chain
                        .push(l.line.as_bytes())
                        .map_err(|m| PolicyError::tampered(&name, Some(n), m))?;
                    if parsed.hash != l.hash {
                        return Err(PolicyError::tampered(
                            &name,
                            Some(n),
                            "its hash is not the one stored beside it: the entry was edited",
                        ));
                    }
                    Ok(())
                })?;
                chain.finish(&name, "the head row chiiki.audit_head is missing")
            }
        }
    }

    /// Entries that disclosed record `id` of `population`; see [`who_saw`].
    pub fn who_saw(&self, population: &str, id: i64) -> Result<Vec<Entry>> {
        let wanted = hash_id(&self.key()?, population, id);
        self.entries_where(|e| e.ids.contains(&wanted))
    }

    /// Entries whose request searched for `value`; see [`searched_for`].
    pub fn searched_for(&self, value: &str) -> Result<Vec<Entry>> {
        let wanted = hash_value(&self.key()?, value);
        self.entries_where(|e| e.request.contains(&wanted))
    }

    fn key(&self) -> Result<Vec<u8>> {
        match self {
            AuditPlace::File(p) => read_key(p),
            AuditPlace::Database(state) => {
                let name = self.name();
                let text = state
                    .document(KEY_DOCUMENT)?
                    .ok_or_else(|| {
                        PolicyError::file(&name, None, "no audit key: nothing was logged")
                    })?
                    .0;
                parse_key_document(&name, &text)
            }
        }
    }

    fn entries_where(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>> {
        match self {
            AuditPlace::File(p) => entries_where(p, keep),
            AuditPlace::Database(state) => {
                let name = self.name();
                let mut out = Vec::new();
                state.audit_lines(|l| {
                    let line: Line = serde_json::from_str(&l.line).map_err(|_| {
                        PolicyError::tampered(&name, Some(l.seq as u64 + 1), "not an audit entry")
                    })?;
                    if keep(&line.entry) {
                        out.push(line.entry);
                    }
                    Ok::<_, PolicyError>(())
                })?;
                Ok(out)
            }
        }
    }
}

fn parse_key_document(name: &Path, text: &str) -> Result<Vec<u8>> {
    serde_json::from_str::<String>(text)
        .ok()
        .and_then(|k| hex::decode(k).ok())
        .ok_or_else(|| PolicyError::file(name, None, "the audit key is not a hex key"))
}

/// The append-only log of a running service.
pub struct AuditLog {
    path: PathBuf,
    key: Vec<u8>,
    fsync: bool,
    sink: Sink,
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
            sink: Sink::File(Mutex::new(State { file, seq, last })),
        })
    }

    /// The log in the database of `state`, one chain for every process
    /// serving it; its key is made by the first process that needs one.
    pub fn in_database(state: Arc<StateStore>) -> Result<AuditLog> {
        let path = AuditPlace::Database(state.clone()).name();
        let text = state.get_or_insert(KEY_DOCUMENT, || {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            serde_json::Value::String(hex::encode(key)).to_string()
        })?;
        Ok(AuditLog {
            key: parse_key_document(&path, &text)?,
            path,
            fsync: true,
            sink: Sink::Database(state),
        })
    }

    /// Opens the log wherever `place` keeps it.
    pub fn at(place: &AuditPlace, fsync: bool) -> Result<AuditLog> {
        match place {
            AuditPlace::File(p) => AuditLog::open(p, fsync),
            AuditPlace::Database(s) => AuditLog::in_database(s.clone()),
        }
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
        let entry = |seq: u64, prev: &str| Entry {
            seq,
            time: chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            token: d.token.unwrap_or("-").to_string(),
            role: d.role.to_string(),
            request: d.request.clone(),
            collection: d.collection.to_string(),
            records: d.ids.len(),
            ids: ids.clone(),
            prev: prev.to_string(),
        };
        let state = match &self.sink {
            Sink::Database(db) => {
                return db.append_audit(|seq, prev| {
                    let (line, hash) = self.line(entry(seq as u64, prev.unwrap_or(GENESIS)))?;
                    Ok::<_, PolicyError>((line, hash))
                });
            }
            Sink::File(state) => state,
        };
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (line, hash) = self.line(entry(state.seq, &state.last))?;
        let mut line = line.into_bytes();
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

    /// An entry as one line (without its newline), and its hash.
    fn line(&self, entry: Entry) -> Result<(String, String)> {
        let hash = entry_hash(&entry);
        let line = serde_json::to_string(&Line {
            entry,
            hash: hash.clone(),
        })
        .map_err(|e| PolicyError::file(&self.path, None, e))?;
        Ok((line, hash))
    }
}

impl AuditLog {
    /// Forces every entry written so far to disk (the log and its head),
    /// whatever `fsync` says: for a clean stop, when nothing may be lost.
    pub fn sync(&self) -> Result<()> {
        let state = match &self.sink {
            // Every entry was committed before its response left.
            Sink::Database(_) => return Ok(()),
            Sink::File(state) => state,
        };
        let state = state.lock().unwrap_or_else(|e| e.into_inner());
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
        if let Sink::Database(db) = &self.sink {
            return Ok(db.check()?);
        }
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

/// The chain as it is read, entry by entry: the checks `verify` makes of a
/// file and of the database alike.
struct Chain {
    head: Option<Head>,
    prev: String,
    expected_seq: u64,
    head_hash: Option<String>,
}

impl Chain {
    fn new(head: Option<Head>) -> Chain {
        Chain {
            head,
            prev: GENESIS.to_string(),
            expected_seq: 0,
            head_hash: None,
        }
    }

    /// The next line (without its newline), checked against the one before.
    fn push(&mut self, bytes: &[u8]) -> std::result::Result<Line, String> {
        let parsed: Line = serde_json::from_slice(bytes)
            .map_err(|_| "not an audit entry (edited?)".to_string())?;
        if parsed.entry.seq != self.expected_seq {
            return Err(format!(
                "entry {} where {} was expected: entries were deleted or reordered",
                parsed.entry.seq, self.expected_seq
            ));
        }
        if parsed.entry.prev != self.prev {
            return Err(
                "does not follow the entry before it: entries were deleted, inserted or reordered"
                    .into(),
            );
        }
        if entry_hash(&parsed.entry) != parsed.hash {
            return Err("its hash does not match its content: the entry was edited".into());
        }
        if self
            .head
            .as_ref()
            .is_some_and(|h| h.seq == parsed.entry.seq)
        {
            self.head_hash = Some(parsed.hash.clone());
        }
        self.prev = parsed.hash.clone();
        self.expected_seq += 1;
        Ok(parsed)
    }

    /// The end of the chain against its head; `no_head` says where the
    /// missing head should have been.
    fn finish(self, name: &Path, no_head: &str) -> Result<Verified> {
        let expected_seq = self.expected_seq;
        match self.head {
            Some(head) if self.head_hash.as_deref() == Some(head.hash.as_str()) => {}
            Some(head) if head.seq < expected_seq => {
                return Err(PolicyError::tampered(
                    name,
                    Some(head.seq + 1),
                    "is not the entry the head names: the log was rewritten",
                ))
            }
            Some(head) => {
                return Err(PolicyError::tampered(
                    name,
                    None,
                    format!(
                    "the log ends at entry {} but its head says {}: entries were cut off the end",
                    expected_seq as i64 - 1,
                    head.seq
                ),
                ))
            }
            None if expected_seq == 0 => {}
            None => return Err(PolicyError::tampered(name, None, no_head)),
        }
        Ok(Verified {
            entries: expected_seq,
            last_hash: self.prev,
        })
    }
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
    let mut chain = Chain::new(head);
    let mut buf = Vec::new();
    for n in 1.. {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|_| PolicyError::tampered(path, Some(n), "unreadable"))?;
        if read == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        chain
            .push(&buf[..buf.len() - 1])
            .map_err(|m| PolicyError::tampered(path, Some(n), m))?;
    }
    chain.finish(
        path,
        &format!("the head file {} is missing", head_path(path).display()),
    )
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
