//! Errors of the fingerprint engine. Each has a stable code for logs and tests.

use std::path::PathBuf;

/// A fingerprint engine error: bad input or an I/O failure while reading the world.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("[FP001] invalid canonical path {path:?}: {why}")]
    BadPath { path: String, why: String },
    #[error("[FP002] workspace root {0:?} must be an absolute, normalized path")]
    BadRoot(PathBuf),
    #[error("[FP003] cannot read {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("[FP004] invalid glob pattern {pattern:?}: {why}")]
    BadGlob { pattern: String, why: String },
    #[error("[FP005] cannot decode stored fingerprint: {0}")]
    Decode(String),
}

impl FingerprintError {
    /// The stable code, e.g. `FP003`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadPath { .. } => "FP001",
            Self::BadRoot(_) => "FP002",
            Self::Io { .. } => "FP003",
            Self::BadGlob { .. } => "FP004",
            Self::Decode(_) => "FP005",
        }
    }
}
