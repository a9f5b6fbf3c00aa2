//! Errors of the tracer, each with a stable code.

use std::path::PathBuf;

/// Everything that can go wrong while setting up, running or reading a traced command.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The per-user directory for the shim could not be created or is unsafe to use.
    #[error("cannot use the shim directory {path}: {reason}")]
    ShimDir { path: PathBuf, reason: String },
    /// Writing or verifying the materialized shim failed.
    #[error("cannot materialize the tracer shim at {path}: {source}")]
    Materialize {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// This platform has no shim (see the crate docs for the design on paper).
    #[error("file tracing is not supported on this platform ({0})")]
    Unsupported(&'static str),
    /// Creating or reading the shared-memory ring failed.
    #[error("trace ring {path}: {source}")]
    Ring {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot spawn {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the program failed.
    #[error("cannot wait for {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl TraceError {
    /// Stable code for reports and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ShimDir { .. } => "TRACE_SHIM_DIR",
            Self::Materialize { .. } => "TRACE_MATERIALIZE",
            Self::Unsupported(_) => "TRACE_UNSUPPORTED",
            Self::Ring { .. } => "TRACE_RING",
            Self::Spawn { .. } => "TRACE_SPAWN",
            Self::Wait { .. } => "TRACE_WAIT",
        }
    }
}
