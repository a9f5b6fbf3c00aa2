//! The Linux implementation of the platform seam (see `src/platform/README.md`): the
//! `LD_PRELOAD` shim is built by build.rs and materialized by `shim.rs`; what lives here is
//! the second path, for the programs the shim cannot enter (static and Go programs),
//! through seccomp user notification.

pub(crate) mod seccomp;

/// The variable through which the loader injects the shim into every dynamic program (the
/// shim re-injects it across `exec`, see the crate docs).
pub(crate) const PRELOAD_ENV: &str = "LD_PRELOAD";
