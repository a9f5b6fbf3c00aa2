//! Errors of the cache store, each with a stable code.

use std::path::PathBuf;

/// A cache store error.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("[CA001] cache index error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("[CA002] {action} {path:?}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "[CA003] the cache at {dir:?} has schema version {found}, newer than this runwire supports ({supported}); use a newer runwire or another cache dir"
    )]
    NewerSchema {
        dir: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("[CA004] refusing to restore {path:?}: {why}")]
    UnsafePath { path: String, why: String },
    #[error(
        "[CA005] cache entry {entry} is corrupt ({detail}); it was dropped, treat this as a miss"
    )]
    Corrupt { entry: i64, detail: String },
    #[error("[CA006] env hash key file {path:?} is unusable: {why}")]
    BadKeyFile { path: PathBuf, why: String },
    #[error("[CA007] cannot archive output {path:?}: {why}")]
    Unarchivable { path: String, why: String },
    #[error("[CA008] output {path:?} kept changing while it was being stored")]
    OutputChanged { path: String },
    #[error("[CA009] invalid cache option: {0}")]
    BadOption(String),
    #[error(
        "[CA010] another runwire kept the cache init lock {path:?} for {waited_secs}s (a stopped or hung process?)"
    )]
    InitLockTimeout { path: PathBuf, waited_secs: u64 },
    #[error("[CA011] the run was interrupted: nothing more is stored")]
    StoresClosed,
}

impl CacheError {
    /// The stable code, e.g. `CA005`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "CA001",
            Self::Io { .. } => "CA002",
            Self::NewerSchema { .. } => "CA003",
            Self::UnsafePath { .. } => "CA004",
            Self::Corrupt { .. } => "CA005",
            Self::BadKeyFile { .. } => "CA006",
            Self::Unarchivable { .. } => "CA007",
            Self::OutputChanged { .. } => "CA008",
            Self::BadOption(_) => "CA009",
            Self::InitLockTimeout { .. } => "CA010",
            Self::StoresClosed => "CA011",
        }
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
