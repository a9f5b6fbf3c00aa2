//! How a server is set up for one run: the env snapshot it answers from, the user's policy,
//! limits and names.

use std::fmt;
use std::path::PathBuf;

use runwire_model::EnvPolicy;

/// The runner's own secrets. The server answers as if they were not set (`GetEnv`: unset;
/// `GetEnvs`: left out of every match, so also of a tracked set), whatever the runner's
/// environment holds, and the runner never passes them to a task. Every later runner
/// secret goes in this one list (spec/protocol.md, "Runner secrets").
pub const RUNNER_SECRETS: &[&str] = &["RUNWIRE_REMOTE_CACHE_TOKEN", "RUNWIRE_REMOTE_CACHE_KEY"];

/// Whether `name` is one of [`RUNNER_SECRETS`].
pub fn is_runner_secret(name: &[u8]) -> bool {
    RUNNER_SECRETS.iter().any(|s| s.as_bytes() == name)
}

/// Everything `Server::start` needs.
pub struct ServerConfig {
    /// The runner's full environment (the user's shell), answered to `GetEnv`/`GetEnvs`. A
    /// later entry with the same name replaces an earlier one. [`RUNNER_SECRETS`] in it are
    /// never answered.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    /// The user's untracked names and patterns: answered, never recorded. The runner leaves
    /// it empty and lets its engine, the one layer that decides what a run depends on,
    /// apply the task's policy; a server used on its own (the conformance harness,
    /// `runwire-test-server`) applies it here.
    pub policy: EnvPolicy,
    /// The largest frame accepted and sent (length prefix not counted); advertised in
    /// `HelloResponse`. At least `runwire_proto::PIPELINED_FRAME_MAX_LEN`.
    pub max_frame_len: u32,
    /// Reported to clients in `HelloResponse`, for their diagnostics.
    pub server_name: String,
    pub server_version: String,
    /// Where to create the private socket directory; `None`: `$XDG_RUNTIME_DIR` when set,
    /// else the system temporary directory.
    pub socket_parent: Option<PathBuf>,
}

impl ServerConfig {
    /// A config answering from `env` with an empty policy and default limits.
    pub fn new(env: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Self {
            env,
            policy: EnvPolicy::default(),
            max_frame_len: runwire_proto::DEFAULT_MAX_FRAME_LEN,
            server_name: "runwire".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            socket_parent: None,
        }
    }

    /// A config answering from this process's environment.
    pub fn from_process_env() -> Self {
        use std::os::unix::ffi::OsStringExt;
        Self::new(
            std::env::vars_os()
                .map(|(k, v)| (k.into_vec(), v.into_vec()))
                .collect(),
        )
    }
}

// Hand-written so the env snapshot's values never reach a log.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("env", &format_args!("<{} variables>", self.env.len()))
            .field("policy", &self.policy)
            .field("max_frame_len", &self.max_frame_len)
            .field("server_name", &self.server_name)
            .field("server_version", &self.server_version)
            .field("socket_parent", &self.socket_parent)
            .finish()
    }
}

/// Why a server could not start. Each has a stable code (`server-*`, listed in
/// docs/errors.md).
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ServerErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`ServerError`], one per variant, with its documentation."
)]
pub enum ServerError {
    /// The private directory for the server's socket could not be created.
    ///
    /// It is made under `$XDG_RUNTIME_DIR`, else the system temporary directory: check that
    /// one is writable.
    #[strum_discriminants(strum(serialize = "server-socket-dir"))]
    #[error("cannot create the private socket directory under {parent}: {source}")]
    SocketDir {
        parent: PathBuf,
        source: std::io::Error,
    },
    /// The socket's path is longer than a Unix socket address allows.
    ///
    /// Point `XDG_RUNTIME_DIR` (or `TMPDIR`) at a directory with a shorter path.
    #[strum_discriminants(strum(serialize = "server-socket-path-too-long"))]
    #[error("socket path {path} is {len} bytes; Unix sockets allow at most {max}")]
    SocketPathTooLong {
        path: PathBuf,
        len: usize,
        max: usize,
    },
    /// The socket could not be bound.
    #[strum_discriminants(strum(serialize = "server-bind"))]
    #[error("cannot bind the socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The server's thread or its async runtime could not be started.
    #[strum_discriminants(strum(serialize = "server-runtime"))]
    #[error("cannot start the server thread: {0}")]
    Runtime(std::io::Error),
    /// The configured maximum frame length is below what the protocol requires a server to
    /// accept.
    #[strum_discriminants(strum(serialize = "server-frame-limit-too-small"))]
    #[error(
        "max_frame_len {len} is below {min}, the size of a frame a client may send right behind Hello"
    )]
    FrameLimitTooSmall { len: u32, min: u32 },
}

impl ServerError {
    /// The stable code, such as `server-socket-dir`.
    pub fn code(&self) -> &'static str {
        ServerErrorCode::from(self).into()
    }
}
