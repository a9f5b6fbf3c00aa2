//! The runwire protocol server: one per task run. It binds a Unix socket in a fresh private
//! directory, answers the tool's environment queries from the runner's environment snapshot,
//! applies the user's tracking policy when given one, and records what the tools declared.
//! `finish` drains the connections after the tool exits and returns [`Declaration`]s (the
//! shared vocabulary of `runwire-model`) plus [`Diagnostic`]s for every protocol fault (any
//! fault makes the run uncacheable).
//!
//! The API is synchronous; tokio runs inside, on a thread of the server's own. Protobuf types
//! stop here: `convert` is the only module that sees them (a test in `runwire-model` fails
//! when another module names `v1`).

mod config;
mod convert;
mod declaration;
mod server;
mod session;

pub use config::{RUNNER_SECRETS, ServerConfig, ServerError, ServerErrorCode, is_runner_secret};
pub use declaration::{Diagnostic, DiagnosticCode, ServerReport};
pub use runwire_model::{Declaration, EnvPolicy, EnvSelector, EnvValue};
pub use server::{RunningServer, Server};
