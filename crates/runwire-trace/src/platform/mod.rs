#![doc = include_str!("README.md")]

#[cfg(target_os = "linux")]
pub(crate) use crate::linux::PRELOAD_ENV;
#[cfg(target_os = "linux")]
pub use crate::linux::seccomp::run_continue_only;
#[cfg(target_os = "linux")]
pub(crate) use crate::linux::seccomp::{ACTIVE_ENV, Installer, SOCK_ENV, Supervisor, enabled};
