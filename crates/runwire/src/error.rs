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
    #[strum_discriminants(strum(serialize = "workspace-invalid"))]
    #[error("{}: {message}", path.display())]
    Workspace { path: PathBuf, message: String },
    /// No workspace was found: no `runwire.json`, `pnpm-workspace.yaml` or `package.json` in
    /// the current directory or any parent.
    ///
    /// Run runwire inside a workspace, or name one with `-C`/`--cwd`.
    #[strum_discriminants(strum(serialize = "workspace-not-found"))]
    #[error(
        "no workspace found: neither runwire.json, pnpm-workspace.yaml nor package.json in {} or any parent directory",
        start.display()
    )]
    NoWorkspace { start: PathBuf },
    /// A task or package named on the command line or in a `dependsOn` entry does not
    /// exist.
    ///
    /// The message suggests the closest name and lists what exists (`runwire tasks` lists
    /// every package's tasks).
    #[strum_discriminants(strum(serialize = "task-unknown"))]
    #[error("{0}")]
    UnknownTask(String),
    /// A `--filter` is not a valid glob, or no package matches it.
    #[strum_discriminants(strum(serialize = "task-filter"))]
    #[error("{0}")]
    Filter(String),
    /// The tasks' `dependsOn` form a cycle; the message lists it.
    #[strum_discriminants(strum(serialize = "task-cycle"))]
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// A task's settings in runwire.json cannot be used: an `inputs`, `outputs` or
    /// `toolState` glob, an `env` or `passThroughEnv` entry, or its working directory.
    ///
    /// The message names the task and the setting (`tasks.build.inputs[1]`).
    #[strum_discriminants(strum(serialize = "task-settings"))]
    #[error("{0}")]
    TaskSettings(String),
    /// `--remote-only` was given but no remote cache is configured.
    ///
    /// Set `remoteCache.url` in runwire.json or `RUNWIRE_REMOTE_CACHE_URL`.
    #[strum_discriminants(strum(serialize = "config-no-remote"))]
    #[error(
        "--remote-only needs a remote cache: set `remoteCache.url` in runwire.json or RUNWIRE_REMOTE_CACHE_URL"
    )]
    NoRemote,
    /// A file operation of the CLI failed (the current directory, the cache directory,
    /// starting or waiting for a command); the message names the path.
    #[strum_discriminants(strum(serialize = "cli-io"))]
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Machine output (`--json`) could not be encoded.
    #[strum_discriminants(strum(serialize = "cli-json"))]
    #[error("cannot encode {what} as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    /// The cache failed; the code is the cache's own (docs/errors.md, "cache").
    #[strum_discriminants(strum(disabled))]
    #[error("cache: {place}: {source}")]
    Cache {
        /// The cache directory, as shown to the user.
        place: String,
        source: runwire_cache::CacheError,
    },
    /// The tracer failed to start or wait for a task; the code is the tracer's own.
    #[strum_discriminants(strum(disabled))]
    #[error("{task}: {source}")]
    Trace {
        task: String,
        source: runwire_trace::TraceError,
    },
    /// A task's protocol server could not start; the code is the server's own.
    #[strum_discriminants(strum(disabled))]
    #[error("{task}: protocol server: {source}")]
    Server {
        task: String,
        source: runwire_server::ServerError,
    },
    /// The engine could not classify a run; the code is the engine's own.
    #[strum_discriminants(strum(disabled))]
    #[error("{task}: classifying the run: {source}")]
    Fingerprint {
        task: String,
        source: runwire_fingerprint::FingerprintError,
    },
    /// The remote cache settings are unusable; the code is the remote's own.
    #[strum_discriminants(strum(disabled))]
    #[error("{place}: {source}")]
    Remote {
        /// Where the setting comes from (runwire.json `remoteCache` or the environment).
        place: String,
        source: runwire_remote::RemoteError,
    },
}

impl Error {
    /// Stable identifier of the kind of failure, printed with the message.
    ///
    /// A variant that wraps a library error answers with the inner error's code, so a
    /// failing cache says `cache-newer-schema`, not a CLI code; such variants are marked
    /// `#[strum_discriminants(strum(disabled))]`, which keeps them out of [`ErrorCode`]'s
    /// listing (docs/errors.md lists the inner codes under their own area).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Cache { source, .. } => source.code(),
            Self::Trace { source, .. } => source.code(),
            Self::Server { source, .. } => source.code(),
            Self::Fingerprint { source, .. } => source.code(),
            Self::Remote { source, .. } => source.code(),
            other => ErrorCode::from(other).into(),
        }
    }
}
