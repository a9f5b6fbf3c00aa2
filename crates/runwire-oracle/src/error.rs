//! The oracle's own failures (not the ones it finds): each with a stable code.

use std::path::{Path, PathBuf};

/// Why the oracle could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// A file operation on the trees or the scenarios failed.
    #[error("[ORACLE-IO] {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A scenario (its `scenario.json`, repo or globs) is malformed.
    #[error("[ORACLE-SCENARIO] {what}: {why}")]
    Scenario { what: String, why: String },
    /// A change step could not be applied.
    #[error("[ORACLE-STEP] `{step}` failed: {why}")]
    Step { step: String, why: String },
}

impl OracleError {
    /// `map_err` helper naming the path.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// The stable code, e.g. `ORACLE-IO`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "ORACLE-IO",
            Self::Scenario { .. } => "ORACLE-SCENARIO",
            Self::Step { .. } => "ORACLE-STEP",
        }
    }
}
