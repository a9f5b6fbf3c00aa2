//! Errors of the CLI. Each variant has a stable code (`Error::code`) so scripts and docs can
//! refer to a failure without matching prose.

use std::path::PathBuf;

/// Everything that stops the CLI before or around running tasks. Task failures are not
/// errors: they are exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}:{column}: {message}{}{excerpt}", path.display(), key.as_ref().map(|k| format!(" (at `{k}`)")).unwrap_or_default())]
    ConfigSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Path of the offending key such as `tasks.build.comand`, when known.
        key: Option<String>,
        message: String,
        /// The source line with a caret, starting with a newline; empty when unknown.
        excerpt: String,
    },
    #[error("{}: `{key}`: {message}", path.display())]
    ConfigInvalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Workspace { path: PathBuf, message: String },
    #[error(
        "no workspace found: neither runwire.json, pnpm-workspace.yaml nor package.json in {} or any parent directory",
        start.display()
    )]
    NoWorkspace { start: PathBuf },
    #[error("{0}")]
    Task(String),
    #[error("dependency cycle: {0}")]
    Cycle(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache: {0}")]
    Cache(String),
}

impl Error {
    /// Stable identifier of the kind of failure, printed with the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConfigSyntax { .. } => "config-syntax",
            Self::ConfigInvalid { .. } => "config-invalid",
            Self::Workspace { .. } => "workspace",
            Self::NoWorkspace { .. } => "no-workspace",
            Self::Task(_) => "task",
            Self::Cycle(_) => "cycle",
            Self::Io { .. } => "io",
            Self::Cache(_) => "cache",
        }
    }
}
