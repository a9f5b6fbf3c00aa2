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
];

/// The schema version this build writes.
#[allow(clippy::cast_possible_wrap)] // a handful of migrations
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn open(dir: &Path) -> Result<Connection, CacheError> {
    let conn = Connection::open(dir.join("index.sqlite"))?;
    // Concurrent runners wait for each other's short write transactions.
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: commits do not fsync, only checkpoints do. Safe for a cache: a
    // crash or power loss never corrupts the index and keeps it consistent with the blobs
    // (rows are committed after their blobs are in place); it can only lose the last few
    // commits (a stored entry or a "last used" bump), which costs a re-run at worst.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // No checkpoint when the connection closes: a hit would otherwise pay the WAL and
    // database fsyncs of a checkpoint on every run. The WAL stays for the next runner
    // (recovery reads it) and SQLite's automatic checkpoint folds it in as it grows.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&conn, dir)?;
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
    // IMMEDIATE: two runners opening a fresh cache at once migrate it once.
    let mut conn2 = Connection::open(dir.join("index.sqlite"))?;
    conn2.busy_timeout(Duration::from_secs(60))?;
    let tx = conn2.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
