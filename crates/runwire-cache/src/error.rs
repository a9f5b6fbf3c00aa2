//! Errors of the cache store, each with a stable code (`cache-*`, listed in docs/errors.md).

use std::path::PathBuf;

/// A cache store error.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(CacheErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`CacheError`], one per variant, with its documentation."
)]
pub enum CacheError {
    /// The cache's index (`index.sqlite`) could not be read or written.
    ///
    /// A damaged index is moved aside and the cache starts empty by itself; for any other
    /// failure check that the cache directory's disk is not full or read-only.
    #[strum_discriminants(strum(serialize = "cache-index"))]
    #[error("cache index error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation in the cache directory or on a task's outputs failed; the message
    /// names the operation and the path.
    #[strum_discriminants(strum(serialize = "cache-io"))]
    #[error("{action} {path:?}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache was written by a newer runwire, whose index this one cannot read.
    ///
    /// Use that newer runwire, or another cache directory (`RUNWIRE_CACHE_DIR`).
    #[strum_discriminants(strum(serialize = "cache-newer-schema"))]
    #[error(
        "the cache at {dir:?} has schema version {found}, newer than this runwire supports ({supported}); use a newer runwire or another cache dir"
    )]
    NewerSchema {
        dir: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A cached entry names a path restore never writes: one outside the workspace or under a
    /// restored symlink, or inside `.git`, a `node_modules/.bin` or the cache directory.
    #[strum_discriminants(strum(serialize = "cache-unsafe-path"))]
    #[error("refusing to restore {path:?}: {why}")]
    UnsafePath { path: String, why: String },
    /// A blob of a cached entry is missing or does not match its hash: the entry was
    /// dropped and the lookup is a miss, so the task runs.
    #[strum_discriminants(strum(serialize = "cache-entry-corrupt"))]
    #[error("cache entry {entry} is corrupt ({detail}); it was dropped, treat this as a miss")]
    Corrupt { entry: i64, detail: String },
    /// The cache's env hash key file (`env.key`) has the wrong size or vanished.
    ///
    /// A damaged key is replaced by itself; entries stored with the old key are rebuilt.
    #[strum_discriminants(strum(serialize = "cache-key-file"))]
    #[error("env hash key file {path:?} is unusable: {why}")]
    BadKeyFile { path: PathBuf, why: String },
    /// An output cannot be stored: it is not a file, directory or symlink, or its name or
    /// symlink target is not UTF-8.
    #[strum_discriminants(strum(serialize = "cache-unarchivable"))]
    #[error("cannot archive output {path:?}: {why}")]
    Unarchivable { path: String, why: String },
    /// An output was still being written while runwire stored it (a process the task left
    /// behind?): the run is not stored.
    #[strum_discriminants(strum(serialize = "cache-output-changed"))]
    #[error("output {path:?} kept changing while it was being stored")]
    OutputChanged { path: String },
    /// A cache option is out of range, such as a `RUNWIRE_REMOTE_CACHE_KEY` shorter than 16
    /// characters.
    #[strum_discriminants(strum(serialize = "cache-bad-option"))]
    #[error("invalid cache option: {0}")]
    BadOption(String),
    /// Another runwire held the cache's init lock too long while opening the cache.
    ///
    /// Look for a stopped or hung runwire using the same cache directory.
    #[strum_discriminants(strum(serialize = "cache-lock-timeout"))]
    #[error(
        "another runwire kept the cache init lock {path:?} for {waited_secs}s (a stopped or hung process?)"
    )]
    InitLockTimeout { path: PathBuf, waited_secs: u64 },
    /// The run was interrupted, so nothing more is stored in the cache.
    #[strum_discriminants(strum(serialize = "cache-interrupted"))]
    #[error("the run was interrupted: nothing more is stored")]
    StoresClosed,
}

impl CacheError {
    /// The stable code, such as `cache-entry-corrupt`.
    pub fn code(&self) -> &'static str {
        CacheErrorCode::from(self).into()
    }

    /// True for `SQLITE_CORRUPT` and `SQLITE_NOTADB` only: the index file itself is
    /// damaged. Never for `SQLITE_BUSY` or any other error (a locked or unreadable index is
    /// not a reason to throw it away).
    pub fn is_corrupt_index(&self) -> bool {
        matches!(
            self,
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
                )
        )
    }

    /// True when the caller should treat the lookup as a miss and run the task.
    pub fn is_miss(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}

pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> CacheError {
    let path = path.into();
    move |source| CacheError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> CacheError {
        CacheError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn only_corrupt_and_notadb_mean_a_corrupt_index() {
        assert!(sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_corrupt_index());
        assert!(sqlite(rusqlite::ffi::SQLITE_NOTADB).is_corrupt_index());
        assert!(!sqlite(rusqlite::ffi::SQLITE_BUSY).is_corrupt_index());
        assert!(!sqlite(rusqlite::ffi::SQLITE_LOCKED).is_corrupt_index());
        assert!(!sqlite(rusqlite::ffi::SQLITE_IOERR).is_corrupt_index());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CANTOPEN).is_corrupt_index());
    }
}
