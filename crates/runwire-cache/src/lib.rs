//! runwire's cache store: a `SQLite` index (WAL, versioned schema) of entries and a
//! content-addressed blob store, with exact archive and restore of task outputs.
//!
//! Several entries (variants) live under one spawn key, each with its post-run fingerprint
//! (`runwire-fingerprint`), an output manifest and captured stdout/stderr. Blobs are named
//! by blake3, shared between entries, written to a temp file and renamed; an entry row is
//! committed last, so a crash at any point leaves either a complete entry or none. A blob
//! that does not match its name is a miss (the entry is dropped), never wrong output. Size is
//! capped with least-recently-used eviction. Env values are only stored as keyed hashes; the
//! key is random per cache dir (`env.key`, mode 0600) unless a shared key is configured.
//! With a shared remote (`RemoteCache`, over `runwire-remote`), lookups fall back to the
//! remote's variants, validated like local ones, and stored entries are uploaded.
//!
//! Opening is serialized across processes by an `flock` on `index.lock` (creating the key
//! and the index, switching to WAL, migrating). A confirmed-corrupt index (`SQLITE_CORRUPT`,
//! `SQLITE_NOTADB`) or a key of the wrong size is moved aside under that lock to
//! `<name>.corrupt-<unix seconds>`, reported once through [`CacheOptions::on_recovery`], and
//! the cache starts empty.

mod archive;
mod blobs;
mod db;
mod error;
mod key;
mod remote;
mod stdio;

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::Duration;

use runwire_fingerprint::{
    Difference, EnvKey, Hash32, HashMemo, Hasher, OutputSet, PostRunFingerprint, SpawnExplanation,
    SpawnKey, SpawnSummary, StatKey, World, explain_spawn,
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

pub use archive::{Item, Manifest, RestoreStats, check_path};
pub use blobs_api::verify_all_blobs;
pub use db::SCHEMA_VERSION;
pub use error::{CacheError, CacheErrorCode};
pub use remote::{
    BlobStore, Fetched, HitSource, LocalVariants, RemoteCache, RemoteLookup, UploadJob,
    UploadReport, find_hit_with_remote, namespace_of, shared_env_key,
};
pub use stdio::{StdioChunk, Stream, replay};

use crate::blobs::Blobs;
use crate::error::io;

static STORES_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, no store of this process commits an entry ([`CacheError::StoresClosed`]):
/// for a run that was interrupted, whose tasks were signalled and may exit "successfully"
/// with partial outputs. Checked under the write lock, right before the commit.
pub fn close_stores() {
    STORES_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Default size cap: 5 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Where the cache lives by default: `<workspace>/node_modules/.cache/runwire/`.
pub fn default_dir(workspace_root: &Path) -> PathBuf {
    workspace_root
        .join("node_modules")
        .join(".cache")
        .join("runwire")
}

/// A file of the cache that was unusable and was moved aside when the cache was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The index or the env key file.
    pub file: PathBuf,
    /// Where it is now (`<name>.corrupt-<unix seconds>`), kept for a post-mortem.
    pub moved_to: PathBuf,
    /// What was wrong with it.
    pub cause: String,
    /// What starting over costs.
    pub consequence: &'static str,
}

impl std::fmt::Display for Recovery {
    // Debug form on purpose: quoted, with control characters escaped for the terminal.
    #[allow(clippy::unnecessary_debug_formatting)]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is unusable ({}); moved it to {:?} and started over: {}",
            self.file, self.cause, self.moved_to, self.consequence
        )
    }
}

/// The default [`CacheOptions::on_recovery`]: one warning line on stderr.
pub fn warn_on_stderr(recovery: &Recovery) {
    eprintln!("runwire: warning: cache: {recovery}");
}

/// Settings of a cache store.
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// Told once per file moved aside as unusable (a corrupt index, a truncated key).
    pub on_recovery: fn(&Recovery),
    /// Total blob bytes kept; least recently used entries go first.
    pub max_size: u64,
    /// A key shared by every machine using the same remote cache; `None`: the random
    /// per-directory key in `env.key`.
    pub shared_env_key: Option<EnvKey>,
    /// Spawn descriptions remembered per task to explain misses.
    pub history_len: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            shared_env_key: None,
            history_len: 5,
            on_recovery: warn_on_stderr,
        }
    }
}

/// One stored variant.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    pub id: i64,
    pub spawn_key: SpawnKey,
    pub fingerprint_id: Hash32,
    pub fingerprint: PostRunFingerprint,
    pub manifest: Manifest,
    /// Blob of the captured stdout/stderr, if any was written.
    pub stdio: Option<Hash32>,
    /// Bytes of the blobs it references.
    pub size: u64,
    /// How long the stored run took, when this machine stored it.
    pub run_time: Option<Duration>,
}

/// One variant as the index holds it, not decoded yet ([`Cache::prefetch`]).
#[derive(Clone, Debug)]
pub struct EntryRow {
    id: i64,
    fingerprint_id: Vec<u8>,
    fingerprint: Vec<u8>,
    manifest: Vec<u8>,
    stdio: Option<Vec<u8>>,
    size: i64,
    run_ms: Option<i64>,
    last_used: i64,
}

/// The variants of one spawn key decoded from their rows, newest `last_used` first, and
/// the rows that did not decode. Decoding needs no cache, so it can run on any thread;
/// [`Cache::settle`] finishes the lookup when [`Decoded::is_settled`] says it must.
#[derive(Debug)]
pub struct Decoded {
    entries: Vec<StoredEntry>,
    bad: Vec<i64>,
}

impl Decoded {
    pub fn new(key: SpawnKey, mut rows: Vec<EntryRow>) -> Self {
        rows.sort_by_key(|row| std::cmp::Reverse((row.last_used, row.id)));
        let mut entries = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for row in rows {
            match row.decode(key) {
                Some(entry) => entries.push(entry),
                None => bad.push(row.id),
            }
        }
        Self { entries, bad }
    }

    /// Whether the variants are final without the cache: nothing to drop, and at most one
    /// variant, so no recency to order by.
    pub fn is_settled(&self) -> bool {
        self.bad.is_empty() && self.entries.len() <= 1
    }

    /// The variants; in lookup order only when [`Decoded::is_settled`].
    pub fn into_entries(self) -> Vec<StoredEntry> {
        self.entries
    }
}

impl EntryRow {
    fn decode(&self, key: SpawnKey) -> Option<StoredEntry> {
        Some(StoredEntry {
            id: self.id,
            spawn_key: key,
            fingerprint_id: hash_from(&self.fingerprint_id)?,
            fingerprint: PostRunFingerprint::from_bytes(&self.fingerprint).ok()?,
            manifest: serde_json::from_slice(&self.manifest).ok()?,
            stdio: match &self.stdio {
                None => None,
                Some(s) => Some(hash_from(s)?),
            },
            size: u64::try_from(self.size).ok()?,
            run_time: self
                .run_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
        })
    }
}

/// What `Cache::verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub entries_checked: usize,
    pub blobs_checked: usize,
    /// Blobs that were missing or did not match their hash (now removed).
    pub bad_blobs: Vec<Hash32>,
    /// Entries dropped because one of their blobs was bad.
    pub entries_dropped: usize,
}

/// What to store after a cacheable run.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub spawn_key: SpawnKey,
    pub fingerprint: &'a PostRunFingerprint,
    pub outputs: &'a OutputSet,
    pub workspace_root: &'a Path,
    pub stdio: &'a [StdioChunk],
    /// How long the run took (kept to report what a hit saved).
    pub run_time: Option<Duration>,
    /// Remembers each archived file's hash under the stat it was read at, in the hasher's
    /// memo, when that stat may be trusted later (the racy rule of [`Hasher::remember`],
    /// against the hasher's start): the next hit then compares the outputs in place by
    /// stat instead of reading them all again.
    pub remember: Option<&'a Hasher<'a>>,
}

/// Progress of a store, for callers that report it (and for the crash tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreStep {
    /// Bytes copied into a blob temp file (one block).
    Bytes(u64),
    /// One output archived (blob written or shared).
    Archived(String),
    /// About to commit the entry.
    Committing,
    /// The entry is committed.
    Committed(i64),
    /// Eviction finished.
    Evicted(usize),
}

/// One variant that did not validate, with every difference.
#[derive(Clone, Debug, Serialize)]
pub struct VariantMiss {
    pub entry_id: i64,
    pub differences: Vec<Difference>,
}

/// The result of looking a spawn key up and validating its variants.
#[derive(Debug)]
pub enum Lookup {
    Hit(Box<StoredEntry>),
    /// No variant is valid; one item per variant (empty: no entry under this key).
    Miss(Vec<VariantMiss>),
}

/// What a restore did, and the captured stdio to replay (after outputs are in place).
#[derive(Debug)]
pub struct Restored {
    pub stats: RestoreStats,
    pub stdio: Vec<StdioChunk>,
}

/// How many tool-state paths the cache remembers per task: enough for a compiler's
/// incremental state, bounded for a tool that writes a file per input into its cache.
pub const TOOL_STATE_PATHS_PER_TASK: usize = 10_000;

/// Summary of a cache dir.
#[derive(Clone, Debug, Serialize)]
pub struct CacheInfo {
    pub dir: PathBuf,
    pub schema_version: i64,
    pub entries: u64,
    pub spawn_keys: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub max_size: u64,
    pub shared_key: bool,
}

/// An open cache store. One per process is enough; several processes may share a dir.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    conn: Connection,
    blobs: Blobs,
    key: EnvKey,
    options: CacheOptions,
    recoveries: Vec<Recovery>,
    /// Entries used since the last flush, in order of use: a hit writes nothing to the
    /// index; their recency goes to the recency log when the cache is flushed or dropped
    /// ([`Cache::flush`]), or straight into the index when a store or an eviction folds it.
    used: std::sync::Mutex<Vec<i64>>,
    /// Whether this connection wrote to the index, or found a WAL left behind: then it folds
    /// the WAL in when closed.
    fold_wal_on_close: std::sync::atomic::AtomicBool,
    /// The recency log as first read by a lookup ([`Cache::logged_recency`]).
    logged: std::sync::OnceLock<std::collections::HashMap<i64, usize>>,
}

/// Renames `path` (and its `companions`: `path` + suffix, such as the index's WAL) to
/// `<path>.corrupt-<unix seconds>` (+ suffix). The caller holds the init lock.
fn move_aside(
    path: &Path,
    companions: &[&str],
    cause: String,
    consequence: &'static str,
) -> Result<Recovery, CacheError> {
    let with = |p: &Path, suffix: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let stamp = now_secs();
    let mut moved_to = with(path, &format!(".corrupt-{stamp}"));
    let mut n = 1;
    while moved_to.exists() {
        moved_to = with(path, &format!(".corrupt-{stamp}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &moved_to).map_err(io("moving aside", path))?;
    for suffix in companions {
        let from = with(path, suffix);
        match std::fs::rename(&from, with(&moved_to, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("moving aside", &from)(e)),
        }
    }
    Ok(Recovery {
        file: path.to_path_buf(),
        moved_to,
        cause,
        consequence,
    })
}

impl Drop for Cache {
    fn drop(&mut self) {
        // Only recency is pending: losing it costs eviction precision, never an entry.
        let _ = self.flush();
        if self
            .fold_wal_on_close
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.fold_wal();
        }
    }
}

impl Cache {
    /// Moves the WAL into the database file and truncates it, when no other runner is
    /// reading: the next runner to open the cache alone otherwise rebuilds the WAL index by
    /// reading every frame (up to `SQLite`'s 1,000-page checkpoint threshold, 4 MB), which
    /// dominated a one-task hit. Only runs that wrote pay it. Never waits: a busy cache
    /// keeps its WAL for a later run.
    fn fold_wal(&self) {
        if self.conn.busy_timeout(std::time::Duration::ZERO).is_ok() {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

impl Cache {
    /// Opens (creating and migrating if needed) the cache in `dir`.
    pub fn open(dir: &Path, options: CacheOptions) -> Result<Self, CacheError> {
        if options.history_len == 0 {
            return Err(CacheError::BadOption(
                "history_len must be at least 1".into(),
            ));
        }
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io("creating cache dir", dir))?;
            // A dir we create is private to the user (it holds the env hash key); a dir the
            // user chose and made keeps its mode, and `env.key` itself is 0600 either way.
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(io("setting mode of", dir))?;
        }
        // Creating the key and the index, switching to WAL and migrating happen under one
        // exclusive lock, so runners starting together on a fresh dir never race there. A
        // key or an index that is confirmed unusable (wrong size; SQLITE_CORRUPT or
        // SQLITE_NOTADB, never SQLITE_BUSY) is moved aside under that lock and recreated:
        // the cache starts empty instead of failing every command.
        let init = db::InitLock::acquire(dir)?;
        let mut recoveries = Vec::new();
        let key = if let Some(k) = &options.shared_env_key {
            k.clone()
        } else {
            let path = dir.join("env.key");
            match key::load_or_create(&path) {
                Err(CacheError::BadKeyFile { why, .. }) => {
                    recoveries.push(move_aside(
                        &path,
                        &[],
                        why,
                        "entries stored with the old key can no longer be found and will be rebuilt",
                    )?);
                    key::load_or_create(&path)?
                }
                other => other?,
            }
        };
        let conn = match db::open(dir, &init) {
            Err(e) if e.is_corrupt_index() => {
                let path = dir.join("index.sqlite");
                recoveries.push(move_aside(
                    &path,
                    &["-wal", "-shm"],
                    e.to_string(),
                    "the cache is empty; every task runs once and is stored again",
                )?);
                db::open(dir, &init)?
            }
            other => other?,
        };
        drop(init);
        for r in &recoveries {
            (options.on_recovery)(r);
        }
        let blobs = Blobs::new(dir)?;
        // A WAL left behind (a writer that could not fold it, or an older runwire) is read
        // whole by every runner that opens the cache alone: fold it when this one closes.
        let wal_left = std::fs::metadata(dir.join("index.sqlite-wal")).is_ok_and(|m| m.len() > 0);
        Ok(Self {
            dir: dir.to_path_buf(),
            conn,
            blobs,
            key,
            options,
            recoveries,
            used: std::sync::Mutex::new(Vec::new()),
            fold_wal_on_close: std::sync::atomic::AtomicBool::new(wal_left),
            logged: std::sync::OnceLock::new(),
        })
    }

    /// The files this open moved aside as unusable (each was also told to
    /// [`CacheOptions::on_recovery`]).
    pub fn recoveries(&self) -> &[Recovery] {
        &self.recoveries
    }

    /// Deletes the index and every blob of the cache in `dir` without opening it: for
    /// `runwire cache clean` when the cache cannot be opened at all (a schema from a newer
    /// runwire, an unreadable file...). Takes the init lock, so no runner is opening the
    /// cache meanwhile. The env key stays unless it is unusable. Returns what was removed.
    pub fn wipe(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
        let mut removed = Vec::new();
        if !dir.exists() {
            return Ok(removed);
        }
        let init = db::InitLock::acquire(dir)?;
        for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &path)(e)),
            }
        }
        let key = dir.join("env.key");
        if matches!(key::read(&key), Err(CacheError::BadKeyFile { .. })) {
            std::fs::remove_file(&key).map_err(io("removing", &key))?;
            removed.push(key);
        }
        for name in ["blobs", "tmp"] {
            let path = dir.join(name);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &path)(e)),
            }
        }
        drop(init);
        Ok(removed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of keyed env hashes for spawn keys and fingerprints of this cache.
    pub fn env_key(&self) -> &EnvKey {
        &self.key
    }

    fn begin(&self) -> Result<Transaction<'_>, CacheError> {
        self.fold_wal_on_close
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// Every variant stored under `key`, most recently used first. Undecodable rows are
    /// dropped (a miss, never an error).
    pub fn lookup(&self, key: &SpawnKey) -> Result<Vec<StoredEntry>, CacheError> {
        let rows = self.rows(key)?;
        self.settle(Decoded::new(*key, rows))
    }

    /// The index rows of every key, read in one read transaction. A lookup per key opens
    /// a read transaction each (locks on the index and its shared memory), which cost more
    /// than the reads themselves in a run of many small hits. The rows are decoded later,
    /// by [`Decoded::new`], without the cache. A key with no entry maps to no rows.
    pub fn prefetch(
        &self,
        keys: &[SpawnKey],
    ) -> Result<std::collections::HashMap<SpawnKey, Vec<EntryRow>>, CacheError> {
        let snapshot = self.conn.unchecked_transaction()?;
        let mut out = std::collections::HashMap::with_capacity(keys.len());
        for key in keys {
            if !out.contains_key(key) {
                out.insert(*key, self.rows(key)?);
            }
        }
        // Read only: ending it commits nothing.
        snapshot.commit()?;
        Ok(out)
    }

    fn rows(&self, key: &SpawnKey) -> Result<Vec<EntryRow>, CacheError> {
        let mut stmt = self.conn.prepare_cached(LOOKUP_SQL)?;
        let rows = stmt.query_map(params![key.0.0.as_slice()], |r| {
            Ok(EntryRow {
                id: r.get(0)?,
                fingerprint_id: r.get(1)?,
                fingerprint: r.get(2)?,
                manifest: r.get(3)?,
                stdio: r.get(4)?,
                size: r.get(5)?,
                run_ms: r.get(6)?,
                last_used: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The variants of `decoded`, in lookup order: rows that did not decode are dropped from
    /// the index, and variants are ordered by this process's and the recency log's uses.
    pub fn settle(&self, decoded: Decoded) -> Result<Vec<StoredEntry>, CacheError> {
        let Decoded { mut entries, bad } = decoded;
        for id in bad {
            self.drop_entry(id)?;
        }
        // Entries used in this process are the most recent, then those in the recency log
        // (not folded into `last_used` yet), each the last used first.
        if entries.len() > 1 {
            let used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            let logged = self.logged_recency();
            let recency = |e: &StoredEntry| {
                (
                    used.iter().rposition(|&id| id == e.id),
                    logged.get(&e.id).copied(),
                )
            };
            entries.sort_by_key(|e| std::cmp::Reverse(recency(e)));
        }
        Ok(entries)
    }

    /// Looks `key` up and validates each variant against `world`: the first valid one is a
    /// hit (and becomes most recently used); otherwise every variant's differences.
    pub fn find_hit(
        &self,
        key: &SpawnKey,
        world: &World<'_>,
        hasher: &Hasher<'_>,
    ) -> Result<Lookup, CacheError> {
        match first_valid(self.lookup(key)?, world, hasher) {
            Ok(e) => {
                self.touch(e.id);
                Ok(Lookup::Hit(Box::new(e)))
            }
            Err(misses) => Ok(Lookup::Miss(misses)),
        }
    }

    /// Marks an entry most recently used; written by the next [`Cache::flush`].
    pub(crate) fn touch(&self, id: i64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        // A hit touches its entry at lookup and at restore: once is enough.
        if used.last() != Some(&id) {
            used.push(id);
        }
    }

    /// Records the recency of the entries used since the last flush by appending their ids
    /// to `recency.log`, one write: a run of pure hits leaves the index untouched (no
    /// transaction, no WAL growth, no checkpoint). The next eviction folds the log into
    /// the index under its write lock ([`Cache::evict`]), as does the flush that grows it
    /// past [`RECENCY_LOG_FOLD_AT`]. Losing it (a killed runner, a race with a fold) only
    /// makes eviction a little less exact.
    pub fn flush(&self) -> Result<(), CacheError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let used = std::mem::take(&mut *self.used.lock().unwrap_or_else(PoisonError::into_inner));
        if used.is_empty() {
            return Ok(());
        }
        let record: Vec<u8> = used.iter().flat_map(|id| id.to_le_bytes()).collect();
        let path = self.dir.join(RECENCY_LOG);
        let size = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(&record)?;
                f.metadata()
            })
            .map_err(io("appending to", &path))?
            .len();
        // A cache that only ever hits still folds the log now and then, so the log (read
        // by lookups to order variants) stays small.
        if size > RECENCY_LOG_FOLD_AT {
            let tx = self.begin()?;
            self.fold_recency(&tx)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The recency log as it was when first asked: each logged entry's last position.
    fn logged_recency(&self) -> &std::collections::HashMap<i64, usize> {
        self.logged.get_or_init(|| {
            let log = std::fs::read(self.dir.join(RECENCY_LOG)).unwrap_or_default();
            logged_ids(&log)
                .enumerate()
                .map(|(i, id)| (id, i))
                .collect()
        })
    }

    /// Moves the recency log, then this process's own unflushed uses, into the index inside
    /// `tx` (whose write lock serializes the folders): each becomes the most recently used,
    /// in order. A store folds before it inserts, so uses that happened before it stay
    /// older than the entry it stores. A partial trailing record (a write cut short) is
    /// ignored.
    pub(crate) fn fold_recency(&self, tx: &Transaction<'_>) -> Result<(), CacheError> {
        let log = self.dir.join(RECENCY_LOG);
        let taken = self.dir.join(RECENCY_LOG_FOLDING);
        let logged = match std::fs::rename(&log, &taken) {
            Ok(()) => std::fs::read(&taken).map_err(io("reading", &taken))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(CacheError::Io {
                    action: "taking",
                    path: log,
                    source: e,
                });
            }
        };
        let own = std::mem::take(&mut *self.used.lock().unwrap_or_else(PoisonError::into_inner));
        let ids = logged_ids(&logged).chain(own);
        let mut stmt = tx.prepare_cached(
            "UPDATE entries SET last_used = (SELECT COALESCE(MAX(last_used), 0) + 1 FROM entries) WHERE id = ?1",
        )?;
        for id in ids {
            stmt.execute(params![id])?;
        }
        // Removed before the commit: should that fail, this recency is lost, which only
        // costs eviction precision.
        let _ = std::fs::remove_file(&taken);
        Ok(())
    }

    /// Archives the outputs and commits the entry (replacing a variant with the same
    /// fingerprint), then evicts down to the size cap.
    pub fn store(&self, new: &NewEntry<'_>) -> Result<i64, CacheError> {
        self.store_observed(new, &mut |_| {})
    }

    /// [`Cache::store`], reporting each step to `observe`.
    pub fn store_observed(
        &self,
        new: &NewEntry<'_>,
        observe: &mut dyn FnMut(StoreStep),
    ) -> Result<i64, CacheError> {
        for _attempt in 0..5 {
            let manifest = archive::build(
                new.workspace_root,
                new.outputs,
                &self.blobs,
                new.remember,
                observe,
            )?;
            let stdio = if new.stdio.is_empty() {
                None
            } else {
                Some(self.blobs.put_bytes(&stdio::encode(new.stdio), &mut |n| {
                    observe(StoreStep::Bytes(n));
                })?)
            };
            let mut refs = manifest.blobs();
            if let Some((h, s)) = stdio {
                refs.insert(h, s);
            }
            observe(StoreStep::Committing);
            let tx = self.begin()?;
            if STORES_CLOSED.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(CacheError::StoresClosed);
            }
            // Under the write lock: an eviction by another runner may have removed a shared
            // blob since we found it present. Then archive again.
            if refs.iter().any(|(h, s)| !self.blobs.present(h, *s)) {
                drop(tx);
                continue;
            }
            self.fold_recency(&tx)?;
            let (id, replaced) = insert_variant(
                &tx,
                &new.spawn_key,
                new.fingerprint,
                &manifest,
                stdio.map(|(h, _)| h),
                &refs,
                new.run_time,
            )?;
            if replaced > 0 {
                self.gc_orphans(&tx)?;
            }
            tx.commit()?;
            observe(StoreStep::Committed(id));
            let evicted = self.evict(Some(id))?;
            observe(StoreStep::Evicted(evicted));
            return Ok(id);
        }
        Err(CacheError::OutputChanged {
            path: "(outputs)".into(),
        })
    }

    /// Deletes blob rows no entry references, and their files, inside the caller's write
    /// transaction (so a concurrent store's presence check sees a consistent state).
    fn gc_orphans(&self, tx: &Transaction<'_>) -> Result<usize, CacheError> {
        let orphans: Vec<Vec<u8>> = {
            let mut stmt = tx.prepare_cached(
                "SELECT hash FROM blobs WHERE NOT EXISTS (SELECT 1 FROM entry_blobs eb WHERE eb.hash = blobs.hash)",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        for h in &orphans {
            tx.execute("DELETE FROM blobs WHERE hash = ?1", params![h])?;
            if let Some(h) = hash_from(h) {
                self.blobs.remove(&h);
            }
        }
        Ok(orphans.len())
    }

    /// Evicts least recently used entries (never `keep`) until the blobs fit the size cap.
    /// Returns how many entries went.
    pub fn evict(&self, keep: Option<i64>) -> Result<usize, CacheError> {
        let tx = self.begin()?;
        // The log and this process's own uses, so the least recently used goes first.
        self.fold_recency(&tx)?;
        let mut evicted = 0;
        loop {
            let total: i64 =
                tx.query_row("SELECT COALESCE(SUM(size), 0) FROM blobs", [], |r| r.get(0))?;
            if u64::try_from(total).unwrap_or(0) <= self.options.max_size {
                break;
            }
            let oldest: Option<i64> = tx
                .query_row(
                    "SELECT id FROM entries WHERE id != ?1 ORDER BY last_used ASC LIMIT 1",
                    params![keep.unwrap_or(-1)],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(oldest) = oldest else { break };
            tx.execute("DELETE FROM entries WHERE id = ?1", params![oldest])?;
            self.gc_orphans(&tx)?;
            evicted += 1;
        }
        tx.commit()?;
        self.blobs.sweep_tmp(std::time::Duration::from_secs(3600));
        Ok(evicted)
    }

    /// Collects garbage a crash can leave: blob files no index row knows (written, then the
    /// writer died before committing) and temp files, both only when older than `min_age`
    /// (a live store may be about to commit them), plus unreferenced blob rows. Returns how
    /// many files went.
    pub fn gc(&self, min_age: std::time::Duration) -> Result<usize, CacheError> {
        self.flush()?;
        let tx = self.begin()?;
        self.gc_orphans(&tx)?;
        let known: std::collections::HashSet<Vec<u8>> = {
            let mut stmt = tx.prepare_cached("SELECT hash FROM blobs")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for shard in std::fs::read_dir(self.blobs.dir())
            .map_err(io("listing", self.blobs.dir()))?
            .flatten()
        {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                let hash = name.to_str().and_then(Hash32::from_hex);
                if hash.is_some_and(|h| known.contains(h.0.as_slice())) {
                    continue;
                }
                let old = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= min_age);
                if old && std::fs::remove_file(f.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        tx.commit()?;
        self.blobs.sweep_tmp(min_age);
        Ok(removed)
    }

    fn drop_entry(&self, id: i64) -> Result<(), CacheError> {
        let tx = self.begin()?;
        tx.execute("DELETE FROM entries WHERE id = ?1", params![id])?;
        self.gc_orphans(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Restores `entry`'s outputs into `workspace_root`, byte for byte: empties emptied
    /// dirs, deletes what the run deleted, recreates dirs, files (with modes) and symlinks.
    /// Refuses unsafe manifest paths. A corrupt or missing blob drops the entry and returns
    /// [`CacheError::Corrupt`] before anything is written: treat it as a miss.
    pub fn restore(
        &self,
        entry: &StoredEntry,
        workspace_root: &Path,
    ) -> Result<Restored, CacheError> {
        self.restore_with_memo(entry, workspace_root, None)
    }

    /// [`Cache::restore`], judging outputs already in place by `memo`'s remembered hashes
    /// when their stat is unchanged (they are read otherwise, and remembered).
    pub fn restore_with_memo(
        &self,
        entry: &StoredEntry,
        workspace_root: &Path,
        memo: Option<&HashMemo>,
    ) -> Result<Restored, CacheError> {
        if let Err(e) = entry
            .manifest
            .check()
            .and_then(|()| self.check_outside_cache_dir(&entry.manifest, workspace_root))
        {
            // It can never be restored safely: drop it so it is not found again.
            self.drop_entry(entry.id)?;
            return Err(e);
        }
        // Outputs already equal on disk are left alone and their blobs never read; every
        // blob that will be written is verified before the first write.
        let compared = archive::Compared::new(workspace_root, &entry.manifest, memo);
        let needed = compared.needed_blobs(&entry.manifest);
        let blobs = &self.blobs;
        let verified = Hasher::new(None, std::time::SystemTime::now())
            .map_parallel(&needed, |h, buf| blobs.verify_with(h, buf));
        if let Some((h, _)) = needed.iter().zip(verified).find(|(_, ok)| !ok) {
            return Err(self.corrupt(entry.id, h, "output blob"));
        }
        let stdio = match &entry.stdio {
            None => Vec::new(),
            Some(h) => match self.blobs.read_verified(h).and_then(|d| stdio::decode(&d)) {
                Some(c) => c,
                None => return Err(self.corrupt(entry.id, h, "stdio blob")),
            },
        };
        let stats = archive::restore(workspace_root, &entry.manifest, &self.blobs, &compared)?;
        self.touch(entry.id);
        Ok(Restored { stats, stdio })
    }

    /// What `entry` would restore and replay, compared with the workspace as a fresh run
    /// left it (`runwire run --verify`): one line per differing output path, and the
    /// entry's recorded output. Writes nothing.
    pub fn verify_against(
        &self,
        entry: &StoredEntry,
        workspace_root: &Path,
    ) -> Result<(Vec<String>, Vec<StdioChunk>), CacheError> {
        entry.manifest.check()?;
        let stdio = match &entry.stdio {
            None => Vec::new(),
            Some(h) => self
                .blobs
                .read_verified(h)
                .and_then(|d| stdio::decode(&d))
                .ok_or_else(|| CacheError::Corrupt {
                    entry: entry.id,
                    detail: format!("stdio blob {h} is missing or does not match its hash"),
                })?,
        };
        Ok((archive::differences(workspace_root, &entry.manifest), stdio))
    }

    /// Refuses a manifest that writes into this cache's own directory or empties it or one
    /// of its ancestors (when the cache lives inside the workspace).
    fn check_outside_cache_dir(
        &self,
        m: &Manifest,
        workspace_root: &Path,
    ) -> Result<(), CacheError> {
        let Ok(rel) = self.dir.strip_prefix(workspace_root) else {
            return Ok(());
        };
        let rel = rel.to_string_lossy();
        let within = |p: &str| p == rel || p.starts_with(&format!("{rel}/"));
        for p in m.items.keys() {
            if within(p) {
                return Err(CacheError::UnsafePath {
                    path: p.clone(),
                    why: "it is inside the runner's cache directory".into(),
                });
            }
        }
        for d in &m.emptied_dirs {
            if within(d) || rel.starts_with(&format!("{d}/")) {
                return Err(CacheError::UnsafePath {
                    path: d.clone(),
                    why: "emptying it would empty the runner's cache directory".into(),
                });
            }
        }
        Ok(())
    }

    fn corrupt(&self, id: i64, h: &Hash32, what: &str) -> CacheError {
        // Remove the bad file so a later store writes a good copy, then drop the entry.
        self.blobs.remove(h);
        if let Err(e) = self.drop_entry(id) {
            return e;
        }
        CacheError::Corrupt {
            entry: id,
            detail: format!("{what} {h} is missing or does not match its hash"),
        }
    }

    /// Remembers a task's spawn description (names and hashes only) for explaining misses.
    pub fn record_history(
        &self,
        package: &str,
        task: &str,
        summary: &SpawnSummary,
    ) -> Result<(), CacheError> {
        let json = serde_json::to_string(summary).expect("a summary always serializes");
        let tx = self.begin()?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, summary FROM history WHERE package = ?1 AND task = ?2 ORDER BY seq DESC LIMIT 1",
                params![package, task],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if last.as_ref().is_some_and(|(_, s)| *s == json) {
            return Ok(());
        }
        let seq = last.map_or(1, |(s, _)| s + 1);
        tx.execute(
            "INSERT INTO history (package, task, seq, summary) VALUES (?1, ?2, ?3, ?4)",
            params![package, task, seq, json],
        )?;
        let keep = i64::try_from(self.options.history_len).unwrap_or(i64::MAX);
        tx.execute(
            "DELETE FROM history WHERE package = ?1 AND task = ?2 AND seq <= ?3",
            params![package, task, seq - keep],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Adds to the tool-state files a task is known to touch (fingerprint rule 9);
    /// workspace-relative paths. At most [`TOOL_STATE_PATHS_PER_TASK`] are kept, the
    /// earliest first: a path left out only makes a later run that rewrites it uncached.
    pub fn record_tool_state<'a>(
        &self,
        package: &str,
        task: &str,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), CacheError> {
        let tx = self.begin()?;
        let known: i64 = tx.query_row(
            "SELECT COUNT(*) FROM tool_state WHERE package = ?1 AND task = ?2",
            params![package, task],
            |r| r.get(0),
        )?;
        let room = TOOL_STATE_PATHS_PER_TASK.saturating_sub(usize::try_from(known).unwrap_or(0));
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO tool_state (package, task, path) VALUES (?1, ?2, ?3)",
            )?;
            let mut added = 0;
            for p in paths {
                if added == room {
                    break;
                }
                added += insert.execute(params![package, task, p])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The tool-state files a task is known to touch, sorted.
    pub fn tool_state(&self, package: &str, task: &str) -> Result<Vec<String>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path FROM tool_state WHERE package = ?1 AND task = ?2 ORDER BY path",
        )?;
        let rows = stmt
            .query_map(params![package, task], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The task's recent spawn descriptions, newest first.
    pub fn history(&self, package: &str, task: &str) -> Result<Vec<SpawnSummary>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT summary FROM history WHERE package = ?1 AND task = ?2 ORDER BY seq DESC",
        )?;
        let rows: Vec<String> = stmt
            .query_map(params![package, task], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // A row this build cannot read is skipped: history only explains, it never decides.
        Ok(rows
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect())
    }

    /// Why `now` found no entry, judged from the task's history ("command changed", "declared
    /// env X changed", ...).
    pub fn explain(
        &self,
        package: &str,
        task: &str,
        now: &SpawnSummary,
    ) -> Result<SpawnExplanation, CacheError> {
        Ok(explain_spawn(now, &self.history(package, task)?))
    }

    /// Loads remembered content hashes (for classification and validation).
    pub fn load_memo(&self) -> Result<HashMemo, CacheError> {
        let memo = HashMemo::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, size, mtime_ns, ctime_ns, ino, dev, hash FROM hash_memo",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Vec<u8>>(6)?,
            ))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (p, size, mtime_ns, ctime_ns, ino, dev, h) = row?;
            let Some(hash) = hash_from(&h) else { continue };
            let key = StatKey {
                size: u64::try_from(size).unwrap_or(0),
                mtime_ns,
                ctime_ns,
                ino: u64::from_ne_bytes(ino.to_ne_bytes()),
                dev: u64::from_ne_bytes(dev.to_ne_bytes()),
            };
            items.push((PathBuf::from(std::ffi::OsStr::from_bytes(&p)), key, hash));
        }
        memo.extend(items);
        Ok(memo)
    }

    /// Persists hashes remembered since loading.
    pub fn save_memo(&self, memo: &HashMemo) -> Result<usize, CacheError> {
        let dirty = memo.take_dirty();
        if dirty.is_empty() {
            return Ok(0);
        }
        let tx = self.begin()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO hash_memo (path, size, mtime_ns, ctime_ns, ino, dev, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (p, k, h) in &dirty {
                stmt.execute(params![
                    p.as_os_str().as_bytes(),
                    i64::try_from(k.size).unwrap_or(i64::MAX),
                    k.mtime_ns,
                    k.ctime_ns,
                    i64::from_ne_bytes(k.ino.to_ne_bytes()),
                    i64::from_ne_bytes(k.dev.to_ne_bytes()),
                    h.0.as_slice()
                ])?;
            }
        }
        tx.commit()?;
        Ok(dirty.len())
    }

    /// Counts and sizes.
    pub fn info(&self) -> Result<CacheInfo, CacheError> {
        let q = |sql: &str| -> Result<u64, CacheError> {
            let v: i64 = self.conn.query_row(sql, [], |r| r.get(0))?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(CacheInfo {
            dir: self.dir.clone(),
            schema_version: SCHEMA_VERSION,
            entries: q("SELECT COUNT(*) FROM entries")?,
            spawn_keys: q("SELECT COUNT(DISTINCT spawn_key) FROM entries")?,
            blobs: q("SELECT COUNT(*) FROM blobs")?,
            blob_bytes: q("SELECT COALESCE(SUM(size), 0) FROM blobs")?,
            max_size: self.options.max_size,
            shared_key: self.options.shared_env_key.is_some(),
        })
    }

    /// Removes every entry, blob, history row and remembered hash (the env key stays, so
    /// keyed hashes elsewhere keep their meaning). Returns how many entries went.
    pub fn clean(&self) -> Result<u64, CacheError> {
        let tx = self.begin()?;
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))?;
        tx.execute_batch(
            "DELETE FROM entries; DELETE FROM blobs; DELETE FROM history; DELETE FROM hash_memo;
             DELETE FROM tool_state;",
        )?;
        // Logged ids name entries that are gone (and ids are reused).
        let _ = std::fs::remove_file(self.dir.join(RECENCY_LOG));
        // Files go while the write lock is held; a concurrent store re-checks presence.
        for d in [self.blobs.dir(), self.blobs.tmp_dir()] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(io("removing", d))?;
            }
            std::fs::create_dir_all(d).map_err(io("creating", d))?;
        }
        tx.commit()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The raw connection, for integrity checks in tests and `runwire cache doctor`.
    pub fn integrity_check(&self) -> Result<String, CacheError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Every blob hash the index references, with size.
    pub fn referenced_blobs(&self) -> Result<BTreeMap<Hash32, u64>, CacheError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT b.hash, b.size FROM blobs b JOIN entry_blobs eb ON eb.hash = b.hash",
        )?;
        let rows: Vec<(Vec<u8>, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(h, s)| Some((hash_from(&h)?, u64::try_from(s).ok()?)))
            .collect())
    }

    /// `runwire cache verify`: re-hashes every blob an entry references (outputs and
    /// recorded stdio), drops every entry with a blob that is missing or does not match its
    /// hash (and removes the bad files), and reports the counts.
    pub fn verify(&self) -> Result<VerifyReport, CacheError> {
        let entries: Vec<(i64, Option<Vec<u8>>)> = {
            let mut stmt = self.conn.prepare_cached("SELECT id, stdio FROM entries")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let refs: Vec<(i64, Vec<u8>, i64)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT eb.entry_id, eb.hash, b.size FROM entry_blobs eb JOIN blobs b ON b.hash = eb.hash",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut checked: BTreeMap<Hash32, bool> = BTreeMap::new();
        let mut good = |h: Hash32, size: Option<u64>| -> bool {
            *checked.entry(h).or_insert_with(|| {
                let size_ok = size.is_none_or(|s| {
                    std::fs::metadata(self.blobs.path(&h)).is_ok_and(|m| m.len() == s)
                });
                size_ok && self.blobs.verify(&h)
            })
        };
        let mut bad_entries = std::collections::BTreeSet::new();
        for (id, hash, size) in &refs {
            let Some(h) = hash_from(hash) else {
                bad_entries.insert(*id);
                continue;
            };
            if !good(h, u64::try_from(*size).ok()) {
                bad_entries.insert(*id);
            }
        }
        for (id, stdio) in &entries {
            if let Some(h) = stdio.as_deref().and_then(hash_from) {
                if !good(h, None) {
                    bad_entries.insert(*id);
                }
            }
        }
        let bad_blobs: Vec<Hash32> = checked
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(h, _)| *h)
            .collect();
        for h in &bad_blobs {
            self.blobs.remove(h);
        }
        for id in &bad_entries {
            self.drop_entry(*id)?;
        }
        Ok(VerifyReport {
            entries_checked: entries.len(),
            blobs_checked: checked.len(),
            bad_blobs,
            entries_dropped: bad_entries.len(),
        })
    }

    /// The file a blob is stored in.
    pub fn blob_path(&self, h: &Hash32) -> PathBuf {
        self.blobs.path(h)
    }
}

mod blobs_api {
    use std::path::Path;

    use runwire_fingerprint::Hash32;

    /// Checks every file under `<cache dir>/blobs` against its name; returns the bad ones.
    pub fn verify_all_blobs(cache_dir: &Path) -> Vec<std::path::PathBuf> {
        let mut bad = Vec::new();
        let Ok(shards) = std::fs::read_dir(cache_dir.join("blobs")) else {
            return bad;
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                let ok = f
                    .file_name()
                    .to_str()
                    .and_then(Hash32::from_hex)
                    .is_some_and(|h| {
                        runwire_fingerprint::hash_path(&f.path()).is_ok_and(|x| x == h)
                    });
                if !ok {
                    bad.push(f.path());
                }
            }
        }
        bad
    }
}

/// The first of `entries` (most recently used first) valid against `world`, or every
/// variant's differences.
pub(crate) fn first_valid(
    entries: Vec<StoredEntry>,
    world: &World<'_>,
    hasher: &Hasher<'_>,
) -> Result<StoredEntry, Vec<VariantMiss>> {
    let mut misses = Vec::new();
    for e in entries {
        let differences = e.fingerprint.validate(world, hasher);
        if differences.is_empty() {
            return Ok(e);
        }
        misses.push(VariantMiss {
            entry_id: e.id,
            differences,
        });
    }
    Err(misses)
}

/// Ids of entries used by hits, appended by [`Cache::flush`] and folded into the index by
/// the next eviction (eight bytes each, little-endian).
const RECENCY_LOG: &str = "recency.log";
/// The entry ids in a recency log, in order; a partial trailing record is ignored.
fn logged_ids(log: &[u8]) -> impl Iterator<Item = i64> + '_ {
    log.chunks_exact(8)
        .map(|id| i64::from_le_bytes(id.try_into().expect("chunks of 8 bytes")))
}

/// Past this size (8,192 hits), the runner that appended folds the log in itself.
const RECENCY_LOG_FOLD_AT: u64 = 64 * 1024;
/// The log while one folder moves it into the index.
const RECENCY_LOG_FOLDING: &str = "recency.log.folding";

/// The variants of one spawn key. No ORDER BY: with it, `SQLite` (built with `STAT4`) re-plans
/// the statement for every new binding, a full re-parse per lookup; a task has a handful
/// of variants, sorted by [`Cache::lookup`] instead.
const LOOKUP_SQL: &str =
    "SELECT id, fingerprint_id, fingerprint, manifest, stdio, size, run_ms, last_used
     FROM entries WHERE spawn_key = ?1";

fn hash_from(b: &[u8]) -> Option<Hash32> {
    Some(Hash32(b.try_into().ok()?))
}

/// Writes one variant inside `tx`: the entry row (replacing the same spawn key +
/// fingerprint, newest in LRU order) and its blob references. Returns the new entry id and
/// how many rows it replaced. Shared by local stores and remote hits so both index alike.
fn insert_variant(
    tx: &Transaction<'_>,
    key: &SpawnKey,
    fingerprint: &PostRunFingerprint,
    manifest: &Manifest,
    stdio: Option<Hash32>,
    refs: &BTreeMap<Hash32, u64>,
    run_time: Option<Duration>,
) -> Result<(i64, usize), CacheError> {
    let size: u64 = refs.values().sum();
    let fid = fingerprint.id();
    let replaced = tx.execute(
        "DELETE FROM entries WHERE spawn_key = ?1 AND fingerprint_id = ?2",
        params![key.0.0.as_slice(), fid.0.as_slice()],
    )?;
    tx.execute(
        "INSERT INTO entries (spawn_key, fingerprint_id, fingerprint, manifest, stdio, size, created_at, run_ms, last_used)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT COALESCE(MAX(last_used), 0) + 1 FROM entries))",
        params![
            key.0.0.as_slice(),
            fid.0.as_slice(),
            fingerprint.to_bytes(),
            serde_json::to_vec(manifest).expect("a manifest always serializes"),
            stdio.map(|h| h.0.to_vec()),
            i64::try_from(size).unwrap_or(i64::MAX),
            now_secs(),
            run_time.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        ],
    )?;
    let id = tx.last_insert_rowid();
    for (h, s) in refs {
        tx.execute(
            "INSERT OR IGNORE INTO blobs (hash, size) VALUES (?1, ?2)",
            params![h.0.as_slice(), i64::try_from(*s).unwrap_or(i64::MAX)],
        )?;
        tx.execute(
            "INSERT INTO entry_blobs (entry_id, hash) VALUES (?1, ?2)",
            params![id, h.0.as_slice()],
        )?;
    }
    Ok((id, replaced))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hit path's one query is parsed once per process, not once per task (a run of
    /// 1,000 hits spent a fifth of its time re-parsing it).
    #[test]
    fn lookup_is_not_reprepared_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
        for n in 0..5u8 {
            cache.lookup(&SpawnKey(Hash32::of(&[n]))).unwrap();
        }
        let stmt = cache.conn.prepare_cached(LOOKUP_SQL).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the lookup statement was re-prepared"
        );
    }

    /// A cache that only ever hits keeps its recency log small: the flush that grows it past
    /// the threshold folds it into the index.
    #[test]
    fn a_long_recency_log_is_folded_by_the_flush_that_grows_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), CacheOptions::default()).unwrap();
        let log = dir.path().join(RECENCY_LOG);
        let ids = |n: usize| (0..n).flat_map(|_| 7i64.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(&log, ids(100)).unwrap();
        cache.touch(7);
        cache.flush().unwrap();
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            101 * 8,
            "appended, not folded"
        );
        std::fs::write(&log, ids(usize::try_from(RECENCY_LOG_FOLD_AT).unwrap() / 8)).unwrap();
        cache.touch(7);
        cache.flush().unwrap();
        assert!(!log.exists(), "folded into the index");
    }
}
