//! The runwire protocol server: one per task run. It binds a Unix socket in a fresh private
//! directory, answers the tool's environment queries from the runner's environment snapshot,
//! applies the user's tracking policy, and records what the tools declared. `finish` drains
//! the connections after the tool exits and returns [`Declaration`]s plus [`Diagnostic`]s for
//! every protocol fault (any fault makes the run uncacheable).
//!
//! The API is synchronous; tokio runs inside, on a thread of the server's own. Protobuf types
//! stop here: `convert` is the only module that sees them.

mod config;
mod convert;
mod declaration;
mod server;
mod session;

pub use config::{EnvPolicy, RUNNER_SECRETS, ServerConfig, ServerError, is_runner_secret};
pub use declaration::{
    Declaration, Diagnostic, DiagnosticCode, EnvSelector, EnvValue, ServerReport,
};
pub use server::{RunningServer, Server};
