//! Errors of the tracer, each with a stable code (`trace-*`, listed in docs/errors.md).

use std::path::PathBuf;

/// Everything that can go wrong while setting up, running or reading a traced command.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(TraceErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`TraceError`], one per variant, with its documentation."
)]
pub enum TraceError {
    /// The per-user directory for the shim could not be created or is unsafe to use.
    ///
    /// It must be a real directory owned by you (runwire makes it mode 0700); the message
    /// says what it is instead. Fix or remove it, or point `XDG_RUNTIME_DIR` elsewhere.
    #[strum_discriminants(strum(serialize = "trace-shim-dir"))]
    #[error("cannot use the shim directory {path}: {reason}")]
    ShimDir { path: PathBuf, reason: String },
    /// Writing or verifying the materialized shim failed.
    ///
    /// Check that the shim directory's file system is writable and not full.
    #[strum_discriminants(strum(serialize = "trace-shim-write"))]
    #[error("cannot materialize the tracer shim at {path}: {source}")]
    Materialize {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// This platform has no shim, so file accesses cannot be traced (only Linux has one).
    #[strum_discriminants(strum(serialize = "trace-no-shim"))]
    #[error("file tracing is not supported on this platform ({0})")]
    Unsupported(&'static str),
    /// Creating or reading the shared-memory ring the traced processes write to failed.
    ///
    /// The ring lives in the shim directory: check that it is writable and not full.
    #[strum_discriminants(strum(serialize = "trace-ring"))]
    #[error("trace ring {path}: {source}")]
    Ring {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started (not found, not executable).
    #[strum_discriminants(strum(serialize = "trace-spawn"))]
    #[error("cannot spawn {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the program to exit failed.
    #[strum_discriminants(strum(serialize = "trace-wait"))]
    #[error("cannot wait for {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl TraceError {
    /// The stable code, such as `trace-shim-dir`.
    pub fn code(&self) -> &'static str {
        TraceErrorCode::from(self).into()
    }
}
