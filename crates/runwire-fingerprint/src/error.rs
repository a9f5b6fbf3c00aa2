//! Errors of the fingerprint engine. Each has a stable code (`fingerprint-*`, listed in
//! docs/errors.md) for logs and tests.

use std::path::PathBuf;

/// A fingerprint engine error: bad input or an I/O failure while reading the world.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(FingerprintErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`FingerprintError`], one per variant, with its documentation."
)]
pub enum FingerprintError {
    /// A path is not canonical: it holds NUL, or an empty, `.` or `..` component.
    #[strum_discriminants(strum(serialize = "fingerprint-bad-path"))]
    #[error("invalid canonical path {path:?}: {why}")]
    BadPath { path: String, why: String },
    /// The workspace root given to the engine is not an absolute, normalized path.
    #[strum_discriminants(strum(serialize = "fingerprint-bad-root"))]
    #[error("workspace root {0:?} must be an absolute, normalized path")]
    BadRoot(PathBuf),
    /// A file the fingerprint needs could not be read.
    #[strum_discriminants(strum(serialize = "fingerprint-io"))]
    #[error("cannot read {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path glob (a task's `inputs` or `outputs`, or a tool's declaration) is malformed:
    /// empty, absolute, with an empty, `.` or `..` segment, or a `**` that is not a whole
    /// segment.
    ///
    /// Write globs relative to their base; `**` stands alone between slashes.
    #[strum_discriminants(strum(serialize = "fingerprint-bad-glob"))]
    #[error("invalid glob pattern {pattern:?}: {why}")]
    BadGlob { pattern: String, why: String },
    /// A stored fingerprint could not be decoded (written by another version, or damaged).
    #[strum_discriminants(strum(serialize = "fingerprint-decode"))]
    #[error("cannot decode stored fingerprint: {0}")]
    Decode(String),
}

impl FingerprintError {
    /// The stable code, such as `fingerprint-io`.
    pub fn code(&self) -> &'static str {
        FingerprintErrorCode::from(self).into()
    }
}
