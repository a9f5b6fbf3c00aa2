//! The correctness oracle of runwire: it runs real tools through `runwire run` in one copy
//! of a repository and plainly (no runwire, no cache) in a twin copy, applies the same
//! changes to both, and compares every result. A cache hit whose outputs differ from the
//! plain run is a false hit, the one failure a cache must never have.
//!
//! - [`twins`]: the pair of trees, their changes and runs ([`Twins`]);
//! - [`scenario`]: a template repository, its task, the outputs to compare and the
//!   mutations that may be drawn ([`Scenario`]);
//! - [`oracle`]: seeded random step sequences over a scenario, failure detection,
//!   nondeterminism checks, minimization and the repro script ([`explore`]).
//!
//! `crates/runwire/tests/twin.rs` uses [`Twins`] for hand-written sequences; the
//! `runwire-oracle` binary and `crates/runwire/tests/oracle.rs` draw them at random.

pub mod error;
pub mod oracle;
pub mod scenario;
pub mod tree;
pub mod twins;

pub use error::{OracleError, OracleErrorCode};
pub use oracle::{Finding, FindingKind, Outcome, explore};
pub use scenario::Scenario;
pub use twins::{CacheVerdict, RunReport, TaskSpec, Twins, TwinsSpec};
