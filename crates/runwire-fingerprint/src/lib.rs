//! The fingerprint engine of runwire: domain types, canonical forms, blake3 hashing, spawn
//! keys, classification of a finished run and validation of stored entries.
//!
//! It knows nothing about the protocol, the tracer or the store. What tools declared comes
//! in the shared vocabulary of `runwire-model` ([`Declaration`], [`EnvSelector`]), exactly
//! as the protocol server produced it; the trace comes through its own input model
//! ([`model`]), which the CLI fills from `runwire_trace::Trace` with a 1:1 adapter:
//!
//! | `runwire_trace::Trace`                              | this crate                                   |
//! |-----------------------------------------------------|----------------------------------------------|
//! | per-path first kind + later set                     | [`TraceModel::accesses`] (`PathAccess { first, later }`) |
//! | `Read` / `Stat` / `NotFound`                        | [`Access::Read`] / [`Access::Stat`] / [`Access::NotFound`] |
//! | `ListDir(names)`                                    | [`Access::ListDir`] (names as `OsString`)     |
//! | `Write` / `Create` / `Truncate` / `Delete`          | the [`Access`] variant of the same name       |
//! | rename source / target                              | [`Access::RenameFrom`] / [`Access::RenameTo`] |
//! | complete flag + reasons                             | [`TraceModel::complete`], [`TraceModel::incomplete_reasons`] |
//!
//! Server diagnostics become [`Diagnostic`]s (code + message) and the child's exit status an
//! [`ExitStatus`]. Which env names the user left untracked is decided here, once, from
//! [`ClassifyOptions`] (and [`World`] at validation).
//!
//! Paths in the model are absolute (the tracer and the server resolve them); the engine
//! puts them in canonical, workspace-relative form. spec/fingerprint.md is normative for
//! the rules and the canonical encodings; its test vectors are checked by `tests/spec_vectors.rs`.

pub mod canon;
pub mod classify;
mod codec;
pub mod env;
pub mod error;
pub mod fingerprint;
pub mod glob;
pub mod hash;
pub mod model;
pub mod path;
pub mod spawn;
mod stat;
pub mod validate;

/// The fingerprint format version: part of every key and id. Bump it when a canonical form
/// or a classification rule changes, not with every release.
pub const FORMAT_VERSION: u32 = 2;

pub use classify::{
    Classified, NotCacheableReason, OutputSet, Verdict, classify, observe_tool_state,
};
pub use env::{EnvMap, EnvName, current_env};
pub use error::{FingerprintError, FingerprintErrorCode};
pub use fingerprint::{
    ContentFact, EnvSetFact, Existence, GlobFact, ListingFact, OutputContent, PathFact,
    PostRunFingerprint,
};
pub use glob::PathGlob;
pub use hash::{EnvKey, FileHash, Hash32, HashMemo, Hasher, StatKey, cpu_count, hash_path};
pub use model::{
    Access, BUILTIN_TOOL_STATE, ClassifyOptions, Declaration, Diagnostic, EnvSelector, EnvValue,
    ExitStatus, HOME_TOOL_CACHES, OTHER_RUNNER_DIRS, PathAccess, RunRecord, TraceModel,
    builtin_tool_state, scratch_outside_workspace,
};
pub use path::{RelPath, normalize_abs};
pub use spawn::{SpawnDescription, SpawnExplanation, SpawnKey, SpawnSummary, explain_spawn};
pub use validate::{Difference, World};
