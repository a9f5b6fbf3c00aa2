//! The vocabulary every runwire layer shares, and nothing else: no I/O, no protocol, no
//! async. The protocol server produces these values from wire messages (its converter is the
//! only place that sees protobuf types), the fingerprint engine and the runner consume them,
//! and the Rust client checks a tool's arguments with the same rules before sending.
//!
//! - [`Declaration`], [`EnvSelector`], [`EnvValue`]: what a tool declared about its run.
//! - [`glob`]: the env-name glob (spec/protocol.md, "Glob syntax"), the one matcher of
//!   `GetEnvs`, `env` / `passThroughEnv` entries and recorded selectors; the shared vectors
//!   `spec/test_vectors/glob/env_glob.jsonl` run against it in `tests/glob_vectors.rs`.
//! - [`arg`]: what a valid env name, prefix, path, file glob and salt key is, as
//!   [`ArgError`] with stable codes (the protocol's caller-error codes by name).
//! - [`path`]: the lexical normalization of paths on the wire.
//! - [`EnvPattern`], [`EnvPolicy`]: the user's env entries and which names stay untracked.
//! - [`Redacted`]: how a secret shows in `Debug` output, in every crate.

pub mod arg;
mod declaration;
pub mod glob;
pub mod path;
mod policy;
mod redact;

pub use arg::ArgError;
pub use declaration::{Declaration, EnvSelector, EnvValue};
pub use glob::EnvGlob;
pub use policy::{EnvPattern, EnvPolicy};
pub use redact::Redacted;
