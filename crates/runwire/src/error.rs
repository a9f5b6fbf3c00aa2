//! Errors of the CLI. Each variant has a stable code (`Error::code`) so scripts and docs can
//! refer to a failure without matching prose; docs/errors.md lists them with every library
//! crate's codes.

use std::path::PathBuf;

/// Everything that stops the CLI before or around running tasks. Task failures are not
/// errors: they are exit codes.
///
/// Each variant's doc comment is its entry in docs/errors.md (first paragraph: what went
/// wrong; the rest: what to do), listed through the fieldless twin [`ErrorCode`].
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The CLI's own codes, one per variant of [`Error`], with its documentation."
)]
pub enum Error {
    /// A config file (`runwire.json`) is not valid JSON or has an unknown key.
    ///
    /// The message names the file, line, column and key, and suggests the closest known key.
    #[strum_discriminants(strum(serialize = "config-syntax"))]
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
    /// A config value is well-formed JSON but not allowed where it is.
    #[strum_discriminants(strum(serialize = "config-invalid"))]
    #[error("{}: `{key}`: {message}", path.display())]
    ConfigInvalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The workspace's package list is unusable: a line of `pnpm-workspace.yaml` or a
    /// workspace pattern that does not parse, or two packages with one name.
    #[strum_discriminants(strum(serialize = "workspace"))]
    #[error("{}: {message}", path.display())]
    Workspace { path: PathBuf, message: String },
    /// No workspace was found: no `runwire.json`, `pnpm-workspace.yaml` or `package.json` in
    /// the current directory or any parent.
    ///
    /// Run runwire inside a workspace, or name one with `-C`/`--cwd`.
    #[strum_discriminants(strum(serialize = "no-workspace"))]
    #[error(
        "no workspace found: neither runwire.json, pnpm-workspace.yaml nor package.json in {} or any parent directory",
        start.display()
    )]
    NoWorkspace { start: PathBuf },
    /// A task could not be resolved or prepared: an unknown task or package, a `--filter`
    /// that matches nothing, a bad glob or setting of a task, or a failure preparing its run.
    ///
    /// The message says which; for an unknown name it suggests the closest one.
    #[strum_discriminants(strum(serialize = "task"))]
    #[error("{0}")]
    Task(String),
    /// The tasks' `dependsOn` form a cycle; the message lists it.
    #[strum_discriminants(strum(serialize = "cycle"))]
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// A file operation of the CLI failed (reading a config, the current directory,
    /// starting a command); the message names the path.
    #[strum_discriminants(strum(serialize = "io"))]
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The cache could not be opened, read or written; the message carries the cache's own
    /// error.
    #[strum_discriminants(strum(serialize = "cache"))]
    #[error("cache: {0}")]
    Cache(String),
}

impl Error {
    /// Stable identifier of the kind of failure, printed with the message.
    ///
    /// A variant that wraps a library error (`Cache(#[from] CacheError)`) should answer with
    /// the inner error's code (`Self::Cache(e) => e.code()`, before the fallback below) and
    /// be marked `#[strum_discriminants(strum(disabled))]`, which keeps it out of
    /// [`ErrorCode`]'s listing: docs/errors.md lists the inner codes under their own area.
    pub fn code(&self) -> &'static str {
        ErrorCode::from(self).into()
    }
}
