//! The Rust client of the runwire protocol: how a tool tells the runner that spawned it what
//! it really depends on. Synchronous, std only, thread-safe; the Node and Python packages are
//! thin bindings over it.
//!
//! ```no_run
//! use runwire_client::{Client, EnvSelector};
//!
//! // `None` outside a runner: the tool then does what it always did.
//! if let Some(runner) = Client::from_env() {
//!     let mode = runner.get_env(b"NODE_ENV", true)?;
//!     let vite = runner.get_envs(EnvSelector::Glob(b"VITE_*".to_vec()), true)?;
//!     runner.ignore_input("node_modules/.cache/my-tool")?;
//! }
//! # Ok::<(), runwire_client::ClientError>(())
//! ```
//!
//! Two kinds of failure, kept apart on purpose (spec/protocol.md, "Errors and faults"):
//! a bad argument (empty name, NUL in a path...) is the caller's bug and returns
//! [`ClientError`] with a stable [`ErrorCode`]; a runner-side problem (socket gone, server
//! closed, handshake refused) never reaches the caller: the call does nothing and returns the
//! neutral value (`None`, an empty list, `Ok(())`), one warning per process goes to stderr,
//! and the runner, which sees the fault too, does not cache the run.

mod client;
mod error;

pub use client::{Client, DEFAULT_NAME, EnvVars};
pub use error::ClientError;
pub use runwire_model::EnvSelector;
pub use runwire_proto::{CALLER_ERROR_CODES, ErrorCode};
