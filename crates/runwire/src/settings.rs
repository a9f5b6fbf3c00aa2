//! Everything a command needs from outside the workspace, resolved once: the parsed
//! arguments, the process environment (one snapshot) and the terminal. Commands read this
//! value and never `std::env` again, so what a run saw is decided in one place (uv and
//! ripgrep resolve their settings the same way).
//!
//! What comes from the workspace (runwire.json, the packages) is loaded by the command that
//! needs it; the values it overrides from the environment (the cache directory, the remote
//! cache) are read from [`EnvSnapshot`] too.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CacheCommand, Cli, Command, LogPrefix, RunArgs, SelectArgs};
use crate::error::Error;
use crate::exec::CacheMode;
use crate::output::{Printer, live_wanted};
use crate::remote::RemoteFlags;

/// The resolved command line.
#[derive(Debug)]
pub struct Settings {
    /// The directory the command acts from: `--cwd`, physical and normalized, or the
    /// process's current directory.
    pub cwd: PathBuf,
    pub env: EnvSnapshot,
    pub output: OutputSettings,
    pub command: CommandSettings,
}

/// The process environment, taken once at start.
#[derive(Debug, Clone)]
pub struct EnvSnapshot {
    /// Every variable, the runner's secrets included: only the remote set-up reads those.
    all: Vec<(OsString, OsString)>,
    /// Without the runner's secrets ([`crate::env::without_secrets`]): what tasks, tools
    /// and the cache engine see.
    runner: Vec<(OsString, OsString)>,
}

impl EnvSnapshot {
    /// The current process environment.
    pub fn capture() -> Self {
        Self::from_vars(std::env::vars_os().collect())
    }

    /// A snapshot of the given variables (tests).
    pub fn from_vars(all: Vec<(OsString, OsString)>) -> Self {
        let runner = crate::env::without_secrets(all.iter().cloned());
        Self { all, runner }
    }

    /// The runner's environment without its secrets: what tasks and tools are served from.
    pub fn runner(&self) -> &[(OsString, OsString)] {
        &self.runner
    }

    /// A variable's value; the last one wins when a name repeats.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.all
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// A variable that is set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&OsStr> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// How runwire's own output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSettings {
    /// Colors: stderr is a terminal and `NO_COLOR` is unset or empty.
    pub color: bool,
    /// The live status line ([`live_wanted`]).
    pub live: bool,
    /// The tasks' stdout goes to stderr: `run --json` keeps stdout for its summary.
    pub stdout_to_stderr: bool,
}

impl OutputSettings {
    pub fn printer(self) -> Printer {
        Printer::new(self.color, self.live, self.stdout_to_stderr)
    }
}

/// A command with its arguments resolved.
#[derive(Debug)]
pub enum CommandSettings {
    Run(RunSettings),
    Explain(SelectArgs),
    Tasks { json: bool },
    Cache(CacheCommand),
    Completions(clap_complete::Shell),
}

/// Whether and how a run uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// `--no-cache`: tasks run as on a miss, untraced, and nothing is looked up or stored.
    Off,
    On(CacheMode),
}

/// `runwire run`, resolved.
#[derive(Debug)]
pub struct RunSettings {
    pub select: SelectArgs,
    /// Appended to the commands of the tasks named (after `--`).
    pub extra_args: Vec<String>,
    pub caching: Caching,
    pub remote: RemoteFlags,
    pub dry_run: bool,
    pub json: bool,
    /// Whether task output lines carry `package:task | `.
    pub prefix: bool,
    /// Tasks at once: `--jobs`, else the number of cores.
    pub jobs: usize,
}

impl Settings {
    /// Resolves the parsed command line against the process environment and terminal.
    pub fn resolve(cli: Cli) -> Result<Self, Error> {
        let env = EnvSnapshot::capture();
        let cwd = match &cli.cwd {
            // Physical and normalized, like the current directory the tracer sees through
            // getcwd(): a `..` or a symlink here would not match the traced paths.
            Some(dir) => std::fs::canonicalize(dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?,
            None => std::env::current_dir().map_err(|source| Error::Io {
                path: ".".into(),
                source,
            })?,
        };
        let tty = std::io::stderr().is_terminal();
        Ok(Self::from_parts(cli.command, cwd, env, tty))
    }

    /// [`Settings::resolve`] with the environment and the terminal given.
    pub fn from_parts(command: Command, cwd: PathBuf, env: EnvSnapshot, tty: bool) -> Self {
        let json_run = matches!(&command, Command::Run(args) if args.json);
        let output = OutputSettings {
            color: tty && env.non_empty("NO_COLOR").is_none(),
            live: live_wanted(tty, json_run, env.get("CI")),
            stdout_to_stderr: matches!(&command, Command::Run(args) if args.json && !args.dry_run),
        };
        let command = match command {
            Command::Run(args) => CommandSettings::Run(RunSettings::from_args(args)),
            Command::Explain(select) => CommandSettings::Explain(select),
            Command::Tasks { json } => CommandSettings::Tasks { json },
            Command::Cache { command } => CommandSettings::Cache(command),
            Command::Completions { shell } => CommandSettings::Completions(shell),
        };
        Self {
            cwd,
            env,
            output,
            command,
        }
    }

    /// How long an interrupted run lets its tasks exit before killing them:
    /// `RUNWIRE_KILL_GRACE_MS`, else the default.
    pub fn kill_grace(&self) -> Option<Duration> {
        self.env
            .get("RUNWIRE_KILL_GRACE_MS")
            .and_then(OsStr::to_str)
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    }

    /// `RUNWIRE_CACHE_DIR`, when set and not empty (relative to the workspace root).
    pub fn cache_dir_override(&self) -> Option<&OsStr> {
        self.env.non_empty("RUNWIRE_CACHE_DIR")
    }
}

impl RunSettings {
    fn from_args(args: RunArgs) -> Self {
        let caching = if args.no_cache {
            Caching::Off
        } else if args.force {
            Caching::On(CacheMode::Force)
        } else if args.verify {
            Caching::On(CacheMode::Verify)
        } else {
            Caching::On(CacheMode::Normal)
        };
        Self {
            select: args.select,
            extra_args: args.args,
            caching,
            remote: RemoteFlags {
                remote_only: args.remote_only,
                no_remote: args.no_remote,
            },
            dry_run: args.dry_run,
            json: args.json,
            prefix: args.log_prefix == LogPrefix::Task,
            jobs: args
                .jobs
                .map_or_else(runwire_fingerprint::hash::cpu_count, |j| j as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str], vars: &[(&str, &str)], tty: bool) -> Settings {
        let cli =
            Cli::try_parse_from(std::iter::once("runwire").chain(args.iter().copied())).unwrap();
        let env = EnvSnapshot::from_vars(
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        );
        Settings::from_parts(cli.command, "/w".into(), env, tty)
    }

    #[test]
    fn flags_resolve_to_one_caching_mode() {
        let caching = |args: &[&str]| match settings(args, &[], false).command {
            CommandSettings::Run(run) => run.caching,
            other => panic!("{other:?}"),
        };
        assert_eq!(caching(&["run", "b"]), Caching::On(CacheMode::Normal));
        assert_eq!(
            caching(&["run", "b", "--force"]),
            Caching::On(CacheMode::Force)
        );
        assert_eq!(
            caching(&["run", "b", "--verify"]),
            Caching::On(CacheMode::Verify)
        );
        assert_eq!(caching(&["run", "b", "--no-cache"]), Caching::Off);
    }

    #[test]
    fn output_follows_the_terminal_no_color_ci_and_json() {
        let output = |args: &[&str], vars: &[(&str, &str)], tty| settings(args, vars, tty).output;
        let on_tty = output(&["run", "b"], &[], true);
        assert!(on_tty.color && on_tty.live && !on_tty.stdout_to_stderr);
        assert!(!output(&["run", "b"], &[], false).color);
        assert!(!output(&["run", "b"], &[("NO_COLOR", "1")], true).color);
        // An empty NO_COLOR does not count (no-color.org).
        assert!(output(&["run", "b"], &[("NO_COLOR", "")], true).color);
        assert!(!output(&["run", "b"], &[("CI", "true")], true).live);
        assert!(output(&["run", "b"], &[("CI", "0")], true).live);
        let json = output(&["run", "b", "--json"], &[], true);
        assert!(!json.live && json.stdout_to_stderr);
        let plan = output(&["run", "b", "--json", "--dry-run"], &[], true);
        assert!(!plan.live && !plan.stdout_to_stderr);
    }

    #[test]
    fn secrets_are_only_in_the_full_snapshot() {
        let s = settings(
            &["tasks"],
            &[("RUNWIRE_REMOTE_CACHE_TOKEN", "t"), ("HOME", "/h")],
            false,
        );
        let names = |vars: &[(OsString, OsString)]| -> Vec<OsString> {
            vars.iter().map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(names(s.env.runner()), ["HOME"]);
        // The full snapshot still holds them, for the remote set-up.
        assert_eq!(
            s.env.get("RUNWIRE_REMOTE_CACHE_TOKEN"),
            Some(OsStr::new("t"))
        );
    }

    #[test]
    fn cache_dir_and_grace_come_from_the_snapshot() {
        let s = settings(
            &["tasks"],
            &[("RUNWIRE_CACHE_DIR", "c"), ("RUNWIRE_KILL_GRACE_MS", "250")],
            false,
        );
        assert_eq!(s.cache_dir_override(), Some(OsStr::new("c")));
        assert_eq!(s.kill_grace(), Some(Duration::from_millis(250)));
        let empty = settings(&["tasks"], &[("RUNWIRE_CACHE_DIR", "")], false);
        assert_eq!(empty.cache_dir_override(), None);
        assert_eq!(empty.kill_grace(), None);
    }
}
