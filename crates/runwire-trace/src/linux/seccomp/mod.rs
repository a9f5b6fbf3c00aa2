//! Tracing static programs through seccomp user notification (see the crate docs,
//! "Static programs").
//!
//! The filter ([`filter::filter`]) makes the kernel stop a process at each file system call and
//! notify a listener descriptor; the process (shim or runner) that installs it sends that
//! descriptor here over a Unix socket (`SCM_RIGHTS`). One supervisor thread polls the
//! socket and every listener, reads the call's path arguments from `/proc/PID/mem`,
//! classifies the access by looking at the file system itself (the call has not run yet),
//! appends the same records the shim would to the ring, and lets the call continue
//! unchanged (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): it records, it never enforces.
//!
//! One concern per module:
//! - [`filter`]: the BPF program (which calls stop) and its frame for the shim;
//! - [`fdpass`]: the Unix-socket hand-over of a listener (`SCM_RIGHTS`), the runner's
//!   installer between fork and exec, and the installers' failure reports;
//! - [`supervisor`]: the thread that polls the socket and the listeners, answers every
//!   notification and appends the records (de-duplicated) to the ring;
//! - [`memory`]: what the supervisor reads of a traced process through `/proc` (path
//!   arguments from `/proc/PID/mem`, working directory, descriptors, listing offsets);
//! - [`classify`]: from a notified call to typed [`Event`](crate::record::Event)s,
//!   predicting the outcome from the file system state before the call.

mod classify;
mod fdpass;
mod filter;
mod memory;
mod supervisor;

pub(crate) use fdpass::Installer;
pub(crate) use supervisor::Supervisor;
pub use supervisor::run_continue_only;

/// Names the supervisor's socket for traced processes (the shim re-injects it).
pub(crate) const SOCK_ENV: &str = "RUNWIRE_TRACE_SECCOMP_SOCK";
/// Set in the environment of a process running under our filter: a second listener in the
/// same chain fails with `EBUSY`, so nothing below installs again, and the shim stays idle.
pub(crate) const ACTIVE_ENV: &str = "RUNWIRE_TRACE_SECCOMP_ACTIVE";
/// `RUNWIRE_TRACE_SECCOMP=0` turns the feature off (static programs are then incomplete).
pub(crate) const SWITCH_ENV: &str = "RUNWIRE_TRACE_SECCOMP";

/// `AT_FDCWD` as the kernel passes it in a 64-bit argument register (only the low 32
/// bits are read for an `int`).
#[allow(clippy::cast_sign_loss)]
const AT_FDCWD_ARG: u64 = libc::AT_FDCWD as u32 as u64;

/// Is the feature on for this spawn: the builder's choice, else `RUNWIRE_TRACE_SECCOMP`.
pub(crate) fn enabled(choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| std::env::var_os(SWITCH_ENV).is_none_or(|v| v != "0"))
}
