//! The service's own state in the PostGIS database, beside the layers, so
//! that several processes serving one database share it:
//!
//! - `chiiki.documents`: named JSON documents with a version — the token
//!   list (hashes only), saved analyses (`analysis/<id>`), the audit key.
//!   A change is one transaction holding the document's row (or, for a
//!   new one, an advisory lock on its name), and `NOTIFY chiiki_changes`
//!   announces it as `doc:<name>` ([`changed_document`]): the processes'
//!   listeners ([`crate::LayerStore::watch`]) hear it with the layers'.
//! - `chiiki.audit` and `chiiki.audit_head`: one hash chain for every
//!   process. An entry is made inside a transaction that holds an advisory
//!   lock: the previous hash is read under it, the entry inserted and the
//!   head moved, and the commit returns before the caller answers. The
//!   entries' format and hashes are the policy floor's; this keeps lines.
//!
//! - `chiiki.blobs`: named binary state too large for a document (the
//!   registry with its history), stored in parts of [`BLOB_PART_BYTES`]
//!   and replaced whole in one transaction, announced like a document. A
//!   writer holds [`BlobLock`] from reading to saving.
//!
//! This module knows nothing of what the documents mean.

use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls};

use crate::postgis::CHANNEL;
use crate::{Result, StoreError};

/// The prefix of a document's announcement on [`CHANNEL`]; layer ids
/// never hold a `:`.
const DOC_PREFIX: &str = "doc:";
/// Serialises audit appends of one database across processes.
const AUDIT_LOCK: i64 = 0x6368_6969_6b69_0002;
/// First key of the advisory lock that serialises creating one document.
const DOC_LOCK: i32 = 0x6368_6970;
/// Audit lines read per query.
const AUDIT_PAGE: i64 = 10_000;
/// First key of the session advisory lock a writer of one blob holds.
const BLOB_LOCK: i32 = 0x6368_6971;
/// The largest part of a blob in one row (a bytea holds at most 1 GB,
/// and a row is read into memory whole).
pub const BLOB_PART_BYTES: usize = 256 << 20;

/// The exclusive right to change one blob, for as long as it lives: a
/// session advisory lock on a connection of its own, which the database
/// releases when the connection closes — when this is dropped, or when
/// the process dies. For command-line writers (the connection is
/// synchronous; not for use inside an async runtime).
pub struct BlobLock {
    _session: Client,
}

/// The document a [`CHANNEL`] payload announces, if it is one (else it is
/// a layer id).
pub fn changed_document(payload: &str) -> Option<&str> {
    payload.strip_prefix(DOC_PREFIX)
}

/// The last entry of the audit chain, as its head row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// One audit line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub seq: i64,
    pub hash: String,
    pub line: String,
}

/// Documents and the audit chain in one PostGIS database, on a connection
/// of their own (`application_name` `chiiki-state`), so that a reload
/// reading layers does not hold up a request's audit entry.
pub struct StateStore {
    config: postgres::Config,
    url: String,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("url", &self.url)
            .finish()
    }
}

fn db(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> StoreError {
    let context = context.into();
    move |error| StoreError::Database { context, error }
}

impl StateStore {
    /// A handle on the database of `config` (already migrated by
    /// [`crate::PostgisStore::connect`]); it connects on first use.
    pub(crate) fn new(mut config: postgres::Config, url: &str) -> StateStore {
        config.application_name("chiiki-state");
        StateStore {
            config,
            url: url.to_string(),
            client: Mutex::new(None),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn client(&self) -> Result<MutexGuard<'_, Option<Client>>> {
        let mut guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(
                self.config
                    .connect(NoTls)
                    .map_err(db(format!("connecting to {}", self.url)))?,
            );
        }
        Ok(guard)
    }

    /// Runs `f` on the connection, once more on a new one if the first was
    /// found closed (nothing done on a closed connection was committed).
    ///
    /// On a thread of its own: the synchronous client runs an async
    /// runtime inside, which may not start on a thread that already runs
    /// one (the service's request handlers).
    fn with<T: Send, E: From<StoreError> + Send>(
        &self,
        f: impl FnMut(&mut Client) -> std::result::Result<T, E> + Send,
    ) -> std::result::Result<T, E> {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("chiiki-state".into())
                .spawn_scoped(s, || self.with_here(f))
                .map_err(|e| StoreError::Other {
                    context: format!("using {}", self.url),
                    message: format!("starting a thread: {e}"),
                })?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn with_here<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&mut Client) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut guard = self.client()?;
        let result = f(guard.as_mut().expect("connected above"));
        if result.is_ok() || !guard.as_ref().is_some_and(Client::is_closed) {
            return result;
        }
        tracing::warn!("the connection to {} was lost: connecting again", self.url);
        *guard = None;
        drop(guard);
        let mut guard = self.client()?;
        f(guard.as_mut().expect("connected above"))
    }

    /// Takes the lock on blob `name`, or `None` at once when another
    /// process holds it.
    pub fn try_lock_blob(&self, name: &str) -> Result<Option<BlobLock>> {
        let context = || format!("locking {name} in {}", self.url);
        let mut session = self.config.connect(NoTls).map_err(db(context()))?;
        let held: bool = session
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&BLOB_LOCK, &name],
            )
            .map_err(db(context()))?
            .get(0);
        Ok(held.then_some(BlobLock { _session: session }))
    }

    /// Blob `name`, its parts joined, if it exists.
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT body FROM chiiki.blobs WHERE name = $1 ORDER BY part",
                    &[&name],
                )
                .map_err(db(format!("reading {name} from {}", self.url)))?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut out = Vec::new();
            for row in rows {
                out.extend_from_slice(row.get::<_, &[u8]>(0));
            }
            Ok(Some(out))
        })
    }

    /// Whether blob `name` exists.
    pub fn has_blob(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.query_one(
                "SELECT EXISTS (SELECT 1 FROM chiiki.blobs WHERE name = $1)",
                &[&name],
            )
            .map(|r| r.get(0))
            .map_err(db(format!("reading {name} from {}", self.url)))
        })
    }

    /// Replaces blob `name` with `body` in one transaction (a failure or a
    /// kill leaves the previous one), announced at commit. The caller
    /// holds its [`BlobLock`].
    pub fn put_blob(&self, name: &str, body: &[u8], _lock: &BlobLock) -> Result<()> {
        let context = format!("saving {name} to {}", self.url);
        self.with(|c| {
            let mut tx = c.transaction().map_err(db(context.clone()))?;
            tx.execute("DELETE FROM chiiki.blobs WHERE name = $1", &[&name])
                .map_err(db(context.clone()))?;
            for (part, chunk) in body.chunks(BLOB_PART_BYTES).enumerate() {
                tx.execute(
                    "INSERT INTO chiiki.blobs (name, part, body) VALUES ($1, $2, $3)",
                    &[&name, &(part as i32), &chunk],
                )
                .map_err(db(context.clone()))?;
            }
            notify(&mut tx, name).map_err(db(context.clone()))?;
            tx.commit().map_err(db(context.clone()))
        })
    }

    /// Document `name`: its JSON text and version, if it exists.
    pub fn document(&self, name: &str) -> Result<Option<(String, i64)>> {
        self.with(|c| {
            c.query_opt(
                "SELECT body::text, version FROM chiiki.documents WHERE name = $1",
                &[&name],
            )
            .map(|r| r.map(|r| (r.get(0), r.get(1))))
            .map_err(db(format!("reading {name} from {}", self.url)))
        })
    }

    /// The version of document `name` (0 if there is none): a cheap check
    /// of whether a copy is current.
    pub fn version(&self, name: &str) -> Result<i64> {
        self.with(|c| {
            c.query_opt(
                "SELECT version FROM chiiki.documents WHERE name = $1",
                &[&name],
            )
            .map(|r| r.map_or(0, |r| r.get(0)))
            .map_err(db(format!("reading {name} from {}", self.url)))
        })
    }

    /// The documents whose names start with `prefix`, by name.
    pub fn documents(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            c.query(
                "SELECT name, body::text FROM chiiki.documents
                 WHERE starts_with(name, $1) ORDER BY name COLLATE \"C\"",
                &[&prefix],
            )
            .map(|rows| rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            .map_err(db(format!("listing {prefix}* in {}", self.url)))
        })
    }

    /// Changes document `name` in one transaction: `change` gets its JSON
    /// text (`None` if there is none) and returns the new text, or `None`
    /// to leave it, and a value for the caller. No other process changes
    /// the document meanwhile; a change is announced at commit.
    pub fn update<T: Send, E: From<StoreError> + Send>(
        &self,
        name: &str,
        mut change: impl FnMut(Option<String>) -> std::result::Result<(Option<String>, T), E> + Send,
    ) -> std::result::Result<T, E> {
        let context = format!("changing {name} in {}", self.url);
        self.with(|c| {
            let mut tx = c.transaction().map_err(db(context.clone()))?;
            // A document that does not exist yet has no row to hold.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&DOC_LOCK, &name],
            )
            .map_err(db(context.clone()))?;
            let body: Option<String> = tx
                .query_opt(
                    "SELECT body::text FROM chiiki.documents WHERE name = $1 FOR UPDATE",
                    &[&name],
                )
                .map_err(db(context.clone()))?
                .map(|r| r.get(0));
            let (new, out) = change(body)?;
            if let Some(new) = new {
                tx.execute(
                    "INSERT INTO chiiki.documents (name, body) VALUES ($1, $2::text::jsonb)
                     ON CONFLICT (name) DO UPDATE SET body = excluded.body,
                         version = chiiki.documents.version + 1, saved_at = clock_timestamp()",
                    &[&name, &new],
                )
                .map_err(db(context.clone()))?;
                notify(&mut tx, name).map_err(db(context.clone()))?;
            }
            tx.commit().map_err(db(context.clone()))?;
            Ok(out)
        })
    }

    /// Adds document `name` unless it exists; returns whether it was added
    /// (and announced). Committed when this returns.
    pub fn insert_new(&self, name: &str, body: &str) -> Result<bool> {
        let context = format!("saving {name} to {}", self.url);
        self.with(|c| {
            let mut tx = c.transaction().map_err(db(context.clone()))?;
            let added = tx
                .execute(
                    "INSERT INTO chiiki.documents (name, body) VALUES ($1, $2::text::jsonb)
                     ON CONFLICT (name) DO NOTHING",
                    &[&name, &body],
                )
                .map_err(db(context.clone()))?
                == 1;
            if added {
                notify(&mut tx, name).map_err(db(context.clone()))?;
            }
            tx.commit().map_err(db(context.clone()))?;
            Ok(added)
        })
    }

    /// Document `name`, made by `make` if there is none yet: every process
    /// gets the same, the first one's. Not announced (for keys).
    pub fn get_or_insert(&self, name: &str, make: impl Fn() -> String + Sync) -> Result<String> {
        let context = format!("reading {name} from {}", self.url);
        self.with(|c| {
            c.execute(
                "INSERT INTO chiiki.documents (name, body) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &make()],
            )
            .map_err(db(context.clone()))?;
            c.query_one(
                "SELECT body::text FROM chiiki.documents WHERE name = $1",
                &[&name],
            )
            .map(|r| r.get(0))
            .map_err(db(context.clone()))
        })
    }

    /// Appends one audit entry to the chain: `make` gets the sequence
    /// number and the hash of the entry before it (`None` for the first)
    /// and returns the line and its hash. Under a lock every process takes,
    /// so that the chain stays one; committed when this returns.
    pub fn append_audit<E: From<StoreError> + Send>(
        &self,
        mut make: impl FnMut(i64, Option<&str>) -> std::result::Result<(String, String), E> + Send,
    ) -> std::result::Result<(), E> {
        let context = format!("appending to the audit log in {}", self.url);
        self.with(|c| {
            let mut tx = c.transaction().map_err(db(context.clone()))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
                .map_err(db(context.clone()))?;
            let head = read_head(&mut tx).map_err(db(context.clone()))?;
            let seq = head.as_ref().map_or(0, |h| h.seq + 1);
            let (line, hash) = make(seq, head.as_ref().map(|h| h.hash.as_str()))?;
            tx.execute(
                "INSERT INTO chiiki.audit (seq, hash, line) VALUES ($1, $2, $3)",
                &[&seq, &hash, &line],
            )
            .map_err(db(context.clone()))?;
            tx.execute(
                "INSERT INTO chiiki.audit_head (one, seq, hash) VALUES (true, $1, $2)
                 ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                &[&seq, &hash],
            )
            .map_err(db(context.clone()))?;
            tx.commit().map_err(db(context.clone()))?;
            Ok(())
        })
    }

    /// The audit chain's head, if anything was appended.
    pub fn audit_head(&self) -> Result<Option<AuditHead>> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(db("reading the audit head"))?;
            let head = read_head(&mut tx)
                .map_err(db(format!("reading the audit head in {}", self.url)))?;
            tx.commit().map_err(db("reading the audit head"))?;
            Ok(head)
        })
    }

    /// Every audit line in order of sequence, handed to `each` a page at a
    /// time; stops at the first error `each` returns.
    pub fn audit_lines<E: From<StoreError> + Send>(
        &self,
        mut each: impl FnMut(AuditLine) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut after = -1i64;
        loop {
            let rows = self.with(|c| {
                c.query(
                    "SELECT seq, hash, line FROM chiiki.audit WHERE seq > $1
                     ORDER BY seq LIMIT $2",
                    &[&after, &AUDIT_PAGE],
                )
                .map_err(db(format!("reading the audit log in {}", self.url)))
            })?;
            let n = rows.len();
            for r in rows {
                let line = AuditLine {
                    seq: r.get(0),
                    hash: r.get(1),
                    line: r.get(2),
                };
                after = line.seq;
                each(line)?;
            }
            if (n as i64) < AUDIT_PAGE {
                return Ok(());
            }
        }
    }

    /// Whether the database answers, for readiness checks.
    pub fn check(&self) -> Result<()> {
        self.with(|c| {
            c.simple_query("SELECT 1")
                .map(|_| ())
                .map_err(db(format!("asking {}", self.url)))
        })
    }
}

fn read_head(
    tx: &mut postgres::Transaction<'_>,
) -> std::result::Result<Option<AuditHead>, postgres::Error> {
    Ok(tx
        .query_opt("SELECT seq, hash FROM chiiki.audit_head", &[])?
        .map(|r| AuditHead {
            seq: r.get(0),
            hash: r.get(1),
        }))
}

fn notify(
    tx: &mut postgres::Transaction<'_>,
    name: &str,
) -> std::result::Result<(), postgres::Error> {
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &format!("{DOC_PREFIX}{name}")],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_of_documents_are_told_from_layer_ids() {
        assert_eq!(changed_document("doc:tokens"), Some("tokens"));
        assert_eq!(
            changed_document("doc:analysis/elderly_by_town"),
            Some("analysis/elderly_by_town")
        );
        assert_eq!(changed_document("shelters_evacuation"), None);
        // Every valid layer id is a layer, never a document.
        for id in ["doc", "doc_tokens", "doc-1"] {
            crate::geoparquet::validate_layer_id(id).unwrap();
            assert_eq!(changed_document(id), None);
        }
        assert!(crate::geoparquet::validate_layer_id("doc:tokens").is_err());
    }
}
