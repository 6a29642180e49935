//! Live data: the service picks up what the command line writes to its
//! data directory (`registry points`, `import`, `risk score`, saved
//! analyses) without a restart.
//!
//! A reload builds the next [`Data`] generation beside the one being
//! served — layers read whole, analyses computed, aggregates perturbed —
//! and swaps it in at once: a request is answered wholly from the
//! generation it started on, in-flight requests finish on theirs, and the
//! old generation is freed when its last request ends. A reload that fails
//! (a layer that cannot be read, a config that no longer fits the data)
//! leaves the old generation serving and says why in the log and on
//! `/ready`. Nothing is written, so a kill at any moment of a reload leaves
//! the data directory as the command line left it: a restart serves the
//! last complete files.
//!
//! Changes are noticed by polling a stamp of the directory (names, sizes
//! and modification times of the layer files and the registry) every few seconds rather than by inotify: city halls keep data
//! on network shares where change notifications do not arrive. A store
//! that announces its changes (PostGIS, with LISTEN/NOTIFY) triggers a
//! reload itself, so that several processes serving one database follow
//! each other's imports. An admin can also ask for a reload
//! (`POST /admin/reload`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::analyses::ANALYSIS_PREFIX;
use crate::settings::ServiceConfig;
use crate::{assemble, lock, read, AppState, Data};
use chiiki_policy::auth::tokens::TOKENS_DOCUMENT;
use chiiki_store::state::changed_document;

/// Where reloads read the data from, and what they last read.
pub(crate) struct Source {
    config: ServiceConfig,
    store: Arc<dyn chiiki_store::LayerStore + Send + Sync>,
    /// One reload at a time.
    running: Mutex<()>,
    /// The stamp of the directory the current generation was read from.
    stamp: Mutex<String>,
    /// Why the last reload failed; cleared by one that succeeds.
    pub(crate) error: Mutex<Option<String>>,
    /// Reloads that succeeded, for the log.
    pub(crate) reloads: AtomicU64,
}

impl Source {
    /// The store the layers are read from.
    pub(crate) fn store(&self) -> &(dyn chiiki_store::LayerStore + Send + Sync) {
        &*self.store
    }

    pub(crate) fn new(
        config: ServiceConfig,
        store: Arc<dyn chiiki_store::LayerStore + Send + Sync>,
    ) -> Source {
        let stamp = stamp(&config.data_dir);
        Source {
            config,
            store,
            running: Mutex::new(()),
            stamp: Mutex::new(stamp),
            error: Mutex::new(None),
            reloads: AtomicU64::new(0),
        }
    }
}

/// Hands memory freed by old generations back to the operating system.
///
/// glibc keeps freed memory in its arenas for reuse, and raises its mmap
/// threshold after the first large free, so every generation's columns
/// would come from the heap and stay there: resident memory grew with each
/// reload (408 MiB after one, 793 MiB after ten, on the demo city). The
/// binary keeps large allocations mmapped (`mallopt` at start-up, see
/// `main`) and this trims the heap after each swap.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory at the top of the
    // heaps to the kernel; it touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the data directory holds, as far as the service reads it: every
/// file under `layers/` and `registry/` with its size and modification
/// time. The command line replaces files by renaming, so a changed file
/// always shows as a changed stamp. (Saved analyses are written by the
/// service itself, which serves them at once.)
pub fn stamp(data_dir: &Path) -> String {
    let mut entries = Vec::new();
    for dir in ["layers", "registry"] {
        let Ok(read_dir) = std::fs::read_dir(data_dir.join(dir)) else {
            continue;
        };
        for entry in read_dir.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            // Files being written (`.x.tmp-…`) are not data yet.
            if name.starts_with('.') {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                entries.push(format!("{dir}/{name}:{}:{modified}", meta.len()));
            }
        }
    }
    entries.sort();
    entries.join("\n")
}

impl AppState {
    /// Builds the next generation from the data directory and swaps it in;
    /// returns its number, or why it could not be built (the current one
    /// keeps serving).
    pub fn reload(&self) -> Result<u64, String> {
        let _one = lock(&self.reload.running);
        let started = std::time::Instant::now();
        let stamp = stamp(&self.data_dir);
        let result = self.build_next();
        match result {
            Ok(next) => {
                let number = next.number;
                let layers = next.layers.len();
                let old = std::mem::replace(
                    &mut *self.data.write().unwrap_or_else(|e| e.into_inner()),
                    next,
                );
                // Freed now unless a request still reads it (then with its
                // last request); either way the memory goes back below.
                drop(old);
                release_freed_memory();
                *lock(&self.reload.stamp) = stamp;
                *lock(&self.reload.error) = None;
                self.reload.reloads.fetch_add(1, Ordering::SeqCst);
                tracing::info!(
                    "reload: generation {number} serving ({layers} layers) after {:.1?}",
                    started.elapsed()
                );
                Ok(number)
            }
            Err(why) => {
                tracing::error!(
                    "reload failed, generation {} keeps serving: {why}",
                    self.data().number
                );
                // What callers see names files inside the data directory,
                // never the server's own paths.
                let why = why.replace(&*self.data_dir.to_string_lossy(), "<data>");
                *lock(&self.reload.error) = Some(why.clone());
                // Not tried again until the directory changes once more.
                *lock(&self.reload.stamp) = stamp;
                Err(why)
            }
        }
    }

    /// Reloads when the data directory changed since the last (re)load.
    pub fn reload_if_changed(&self) -> Option<Result<u64, String>> {
        let now = stamp(&self.data_dir);
        if *lock(&self.reload.stamp) == now {
            return None;
        }
        Some(self.reload())
    }

    /// Reloads whenever the store announces a change (a database other
    /// processes write to), on a thread of its own; returns whether the
    /// store announces changes at all. Announcements that arrive together
    /// (an import of several layers) make one reload.
    pub(crate) fn follow_store(self: &Arc<Self>) -> bool {
        let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
        let announced = self.reload.store.watch(Box::new(move |id| {
            let _ = tx.send(id.map(str::to_string));
        }));
        match announced {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::error!("cannot follow the changes of the layer store: {e}");
                return false;
            }
        }
        let state = self.clone();
        let started = std::thread::Builder::new()
            .name("chiiki-follow".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Tokens first and at once: a revocation must not wait
                    // for anything else.
                    if first.as_deref().and_then(changed_document) == Some(TOKENS_DOCUMENT) {
                        tracing::info!("the token list changed: reading it again");
                        state.tokens.changed();
                        continue;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    let mut changed: Vec<Option<String>> = vec![first];
                    changed.extend(rx.try_iter());
                    let mut layers = Vec::new();
                    let mut analyses = false;
                    for c in changed {
                        match c.as_deref().map(|p| (p, changed_document(p))) {
                            Some((_, Some(TOKENS_DOCUMENT))) => state.tokens.changed(),
                            Some((_, Some(doc))) if doc.starts_with(ANALYSIS_PREFIX) => {
                                analyses = true
                            }
                            Some((_, Some(_))) => {}
                            Some((id, None)) => layers.push(id.to_string()),
                            None => {
                                // Anything may have changed while nobody listened.
                                state.tokens.changed();
                                layers.push("changes made while not listening".into());
                            }
                        }
                    }
                    if layers.is_empty() {
                        if analyses {
                            state.adopt_saved_analyses();
                        }
                        continue;
                    }
                    layers.sort();
                    layers.dedup();
                    tracing::info!("the layer store changed ({}): reloading", layers.join(", "));
                    // A reload reads the saved analyses too.
                    let _ = state.reload();
                }
            });
        if let Err(e) = started {
            tracing::error!("cannot follow the changes of the layer store: {e}");
            return false;
        }
        true
    }

    /// Why the last reload failed, if it did.
    pub fn last_reload_error(&self) -> Option<String> {
        lock(&self.reload.error).clone()
    }

    /// The next generation, read whole and warmed, not yet served.
    fn build_next(&self) -> Result<Arc<Data>, String> {
        let store = &self.reload.store;
        let mut layers = Vec::new();
        // Every layer must read: a reload never serves less than the files
        // hold (start-up skips a broken file; a reload keeps the old data).
        for id in store.list().map_err(|e| e.to_string())? {
            layers.push(store.load(&id).map_err(|e| e.to_string())?);
        }
        let saved = crate::analyses::load_saved(&self.data_dir, self.shared.as_deref());
        let (layers, analyses) = assemble(&self.reload.config, layers, saved, self.tokens.roles())
            .map_err(|e| e.to_string())?;
        let current = self.data();
        let next = Arc::new(Data::new(current.number + 1, layers, analyses));
        self.warm(&next);
        // Analyses saved while the next generation was built are in the
        // current one (and on disk): carry them over.
        let saved_meanwhile: Vec<_> = read(&current.analyses)
            .iter()
            .filter(|(id, _)| !next.layers.contains_key(*id))
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect();
        let mut analyses = next.analyses.write().unwrap_or_else(|e| e.into_inner());
        for (id, a) in saved_meanwhile {
            analyses.entry(id).or_insert(a);
        }
        drop(analyses);
        Ok(next)
    }

    /// Computes a generation's analyses (and their perturbed versions)
    /// before it serves, so that the first requests do not wait for them.
    pub(crate) fn warm(&self, data: &Data) {
        let analyses = read(&data.analyses).clone();
        for a in analyses.values() {
            if let Err(e) = self.analysis_result(data, a) {
                tracing::warn!("analysis '{}' in generation {}: {e:?}", a.id, data.number);
                continue;
            }
            if self.served_perturbed(a) {
                let _ = self.perturbed_layer(data, a);
            }
        }
    }
}
