//! The `SQLite` index: connection settings and versioned migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::CacheError;

/// Each step moves the schema from version `i` to `i + 1`; never edit a shipped step.
const MIGRATIONS: &[&str] = &[
    // 1: entries (variants per spawn key), content-addressed blobs and their references,
    // per-task history, remembered file hashes.
    "CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        spawn_key BLOB NOT NULL,
        fingerprint_id BLOB NOT NULL,
        fingerprint BLOB NOT NULL,
        manifest BLOB NOT NULL,
        stdio BLOB,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        UNIQUE (spawn_key, fingerprint_id)
    );
    CREATE INDEX entries_lru ON entries (last_used);
    CREATE TABLE blobs (hash BLOB PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE entry_blobs (
        entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        hash BLOB NOT NULL,
        PRIMARY KEY (entry_id, hash)
    ) WITHOUT ROWID;
    CREATE INDEX entry_blobs_hash ON entry_blobs (hash);
    CREATE TABLE history (
        package TEXT NOT NULL,
        task TEXT NOT NULL,
        seq INTEGER NOT NULL,
        summary TEXT NOT NULL,
        PRIMARY KEY (package, task, seq)
    );
    CREATE TABLE hash_memo (
        path BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        dev INTEGER NOT NULL,
        hash BLOB NOT NULL
    ) WITHOUT ROWID;",
    // 2: the tool-state files each task touched (fingerprint rule 9): what they hold is
    // recorded before the task's next run, which may find and rewrite them.
    "CREATE TABLE tool_state (
        package TEXT NOT NULL,
        task TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (package, task, path)
    ) WITHOUT ROWID;",
    // 3: how long the stored run took (milliseconds; NULL for a remote hit or an older
    // entry), in the row a hit already reads: "saved 1.2s" and "restoring took longer than
    // the run" cost no extra file read per hit.
    "ALTER TABLE entries ADD COLUMN run_ms INTEGER;",
];

/// The schema version this build writes.
#[allow(clippy::cast_possible_wrap)] // a handful of migrations
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The lock file that serializes opening (creating, switching to WAL, migrating) the index
/// across processes. Held only while a runner opens the cache, never for its whole run.
pub(crate) const INIT_LOCK: &str = "index.lock";

/// How long a runner waits for another one to finish opening the cache.
const INIT_LOCK_WAIT: Duration = Duration::from_secs(60);

/// An exclusive `flock` on `<dir>/index.lock`; released when dropped (the fd closes).
#[derive(Debug)]
pub(crate) struct InitLock {
    _file: std::fs::File,
}

impl InitLock {
    /// Takes the lock, waiting up to [`INIT_LOCK_WAIT`] for another opener.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, CacheError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(INIT_LOCK);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(crate::error::io("opening", &path))?;
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            // SAFETY: flock on a valid, open fd; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Self { _file: file });
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) if start.elapsed() < INIT_LOCK_WAIT => {
                    // Another runner is opening the cache: a few milliseconds, normally.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Some(libc::EINTR) => {}
                Some(libc::EWOULDBLOCK) => {
                    return Err(CacheError::InitLockTimeout {
                        path,
                        waited_secs: INIT_LOCK_WAIT.as_secs(),
                    });
                }
                _ => {
                    return Err(CacheError::Io {
                        action: "locking",
                        path,
                        source: err,
                    });
                }
            }
        }
    }
}

/// Opens the index. The caller holds the [`InitLock`]: switching a brand-new file to WAL
/// needs an exclusive `SQLite` lock, and `PRAGMA journal_mode` gives up with `SQLITE_BUSY` at
/// once, without the busy handler, when another connection holds any lock on the file (8
/// runners starting on a fresh cache lost that race 3 times in 320). Under the init lock no
/// other opener touches the file; connections that are already open are in WAL mode, where
/// the pragma is a no-op.
pub(crate) fn open(dir: &Path, _held: &InitLock) -> Result<Connection, CacheError> {
    let conn = Connection::open(dir.join("index.sqlite"))?;
    // Concurrent runners wait for each other's short write transactions.
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: commits do not fsync, only checkpoints do. Safe for a cache: a
    // crash or power loss never corrupts the index and keeps it consistent with the blobs
    // (rows are committed after their blobs are in place); it can only lose the last few
    // commits (a stored entry or a "last used" bump), which costs a re-run at worst.
    // (Both pragmas in one batch: a one-task hit is short enough for each statement's
    // parse to show.)
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    // No checkpoint when the connection closes: a hit would otherwise pay the WAL and
    // database fsyncs of a checkpoint on every run. A run that wrote folds the WAL in
    // when its cache closes, if no other runner is reading (`Cache::fold_wal`).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    migrate(&conn, dir)?;
    // Parses the schema and reads the root page of every table: a damaged file shows here
    // (SQLITE_CORRUPT), at open, where it can be moved aside, not halfway through a run.
    // One statement, one read transaction.
    conn.query_row(
        "SELECT (SELECT 1 FROM entries LIMIT 1), (SELECT 1 FROM blobs LIMIT 1),
                (SELECT 1 FROM entry_blobs LIMIT 1), (SELECT 1 FROM history LIMIT 1),
                (SELECT 1 FROM hash_memo LIMIT 1), (SELECT 1 FROM tool_state LIMIT 1)",
        [],
        |_| Ok(()),
    )?;
    Ok(conn)
}

fn migrate(conn: &Connection, dir: &Path) -> Result<(), CacheError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(CacheError::NewerSchema {
            dir: dir.to_path_buf(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    // IMMEDIATE (waits for the busy handler, unlike a deferred transaction upgraded to a
    // write); openers are serialized by the init lock anyway, older runwires are not.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.execute_batch(step)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}
