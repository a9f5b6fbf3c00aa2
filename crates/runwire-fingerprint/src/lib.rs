//! The fingerprint engine of runwire: domain types, canonical forms, blake3 hashing, spawn
//! keys, classification of a finished run and validation of stored entries.
//!
//! It knows nothing about the protocol, the tracer or the store: it has its own input model
//! ([`model`]), and the CLI converts the producers' types with a small adapter. The
//! expected mapping is 1:1:
//!
//! | producer                                            | this crate                                   |
//! |-----------------------------------------------------|----------------------------------------------|
//! | `runwire_trace::Trace` per-path first kind + later set | [`TraceModel::accesses`] (`PathAccess { first, later }`) |
//! | trace `Read` / `Stat` / `NotFound`                  | [`Access::Read`] / [`Access::Stat`] / [`Access::NotFound`] |
//! | trace `ListDir(names)`                              | [`Access::ListDir`] (names as `OsString`)     |
//! | trace `Write` / `Create` / `Truncate` / `Delete`    | the [`Access`] variant of the same name       |
//! | trace rename source / target                        | [`Access::RenameFrom`] / [`Access::RenameTo`] |
//! | trace complete flag + reasons                       | [`TraceModel::complete`], [`TraceModel::incomplete_reasons`] |
//! | `Declaration::TrackedEnv{name, value}`              | [`Declaration::TrackedEnv`]                   |
//! | `Declaration::TrackedEnvSet{selector, matches}`     | [`Declaration::TrackedEnvSet`] (`Glob`/`Prefix` -> [`EnvSelector`]) |
//! | `IgnoreInput` / `IgnoreOutput` / `DisableCache`     | same-named [`Declaration`] variants           |
//! | `ReportInput` / `ReportOutput` / `ReportGlob` / `Salt` | same-named [`Declaration`] variants        |
//! | server diagnostics (code + message)                 | [`Diagnostic`]                                |
//! | child exit status                                   | [`ExitStatus`]                                |
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
pub use error::FingerprintError;
pub use fingerprint::{
    ContentFact, EnvSetFact, Existence, GlobFact, ListingFact, OutputContent, PathFact,
    PostRunFingerprint,
};
pub use glob::PathGlob;
pub use hash::{EnvKey, FileHash, Hash32, HashMemo, Hasher, StatKey, cpu_count, hash_path};
pub use model::{
    Access, BUILTIN_TOOL_STATE, ClassifyOptions, Declaration, Diagnostic, EnvSelector, ExitStatus,
    HOME_TOOL_CACHES, OTHER_RUNNER_DIRS, PathAccess, RunRecord, TraceModel, builtin_tool_state,
    scratch_outside_workspace,
};
pub use path::{RelPath, normalize_abs};
pub use spawn::{SpawnDescription, SpawnExplanation, SpawnKey, SpawnSummary, explain_spawn};
pub use validate::{Difference, World};
