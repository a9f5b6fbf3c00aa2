//! The `runwire` command-line tool: loads `runwire.json` and the workspace's packages,
//! resolves a task and its `dependsOn` graph, and runs each task through an executor that
//! traces it, serves the protocol and caches the result. This library holds everything;
//! `main.rs` only parses arguments, resolves them into [`settings::Settings`], runs the
//! command and prints errors.

pub mod adapt;
pub mod cache_dir;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod env;
pub mod error;
pub mod exec;
pub mod globs;
pub mod node_addon;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod pnpm;
pub mod remote;
pub mod scheduler;
pub mod settings;
pub mod signals;
pub mod suggest;
pub mod workspace;

pub use error::Error;
