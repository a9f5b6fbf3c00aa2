//! The command line as clap parses it: commands, arguments and the help texts. Nothing
//! here reads the environment or acts; [`crate::settings`] resolves what is parsed and
//! [`crate::commands`] runs it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  runwire run build                  run `build` in the current package (and its dependsOn)
  runwire run build -r               ... in every workspace package, dependencies first
  runwire run test --filter 'app-*'  ... in the packages whose name matches
  runwire run build test lint -r     several tasks: one graph, each task once
  runwire run web#build              one task of one package, from anywhere
  runwire run build -- --mode prod   append arguments to the command
  runwire run build --dry-run --json the plan, with the cache status of every task
  runwire explain build              every difference between now and each cached variant
  runwire tasks [--json]             every package's tasks, where each is defined, dependsOn
  runwire completions bash           a completion script (bash, zsh, fish; see its --help)

Environment:
  RUNWIRE_CACHE_DIR  cache directory, relative to the workspace root (default:
                     node_modules/.cache/runwire when the root has node_modules, otherwise
                     .runwire/cache, created with a .gitignore holding `*`)
  RUNWIRE_REMOTE_CACHE_URL    remote cache (http(s):// Turborepo API, grpc:// REAPI); overrides
                              `remoteCache.url` in runwire.json
  RUNWIRE_REMOTE_CACHE_TOKEN  its bearer token (never printed)
  RUNWIRE_REMOTE_CACHE_KEY    secret shared by every machine using the remote (env hash key)
  RUNWIRE_REMOTE_CACHE_KIND   `turbo` or `reapi` (default: from the URL's scheme)
  RUNWIRE_REMOTE_CACHE_READ_ONLY=1  download only, never upload
  NO_COLOR           disable colors (they are only used on a terminal anyway)
  CI                 when set (to anything but empty, 0 or false): no live status line

Output: every line a task prints starts with `package:task | ` (`--log-prefix none`: as
written); on a terminal a status line shows done/total, running tasks, hits and elapsed
time; every run ends with one line: `N tasks: H hits (saved T), R ran, F failed in T`.

Tasks run with a strict environment: PATH, HOME, USER, LOGNAME, SHELL, TERM, COLORTERM, LANG,
LANGUAGE, LC_*, TMPDIR, TZ, CI, NO_COLOR, FORCE_COLOR, plus the task's `env` and
`passThroughEnv` from runwire.json; tools ask for anything else through the protocol.";

/// runwire: a task runner with a content-addressed cache and a protocol through which the
/// tools it spawns declare what they depend on.
#[derive(Debug, Parser)]
#[command(name = "runwire", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in this directory.
    #[arg(short = 'C', long = "cwd", value_name = "DIR", global = true)]
    pub cwd: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run tasks (and the tasks they depend on) as one graph, replaying cached results when
    /// nothing changed.
    Run(RunArgs),
    /// Show why tasks would hit or miss: the full difference between now and each cached
    /// variant.
    Explain(SelectArgs),
    /// List every package's tasks: the command, where it is defined (runwire.json or a
    /// package.json script) and what it depends on.
    Tasks {
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or clear the cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

const COMPLETIONS_HELP: &str = "\
Install:
  bash  runwire completions bash > ~/.local/share/bash-completion/completions/runwire
  zsh   runwire completions zsh > ~/.zfunc/_runwire   (with fpath+=(~/.zfunc) before compinit)
  fish  runwire completions fish > ~/.config/fish/completions/runwire.fish";

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is and how much it holds.
    Info,
    /// Delete every cached entry and blob.
    Clean,
    /// Re-hash every blob, drop the entries whose blobs are missing or wrong, and report
    /// the counts. Exit status 1 when something was dropped.
    Verify {
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Which packages and tasks.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Task names: runwire.json tasks or package.json scripts, run as one graph (each task
    /// once). `pkg#task` names one task of one package.
    #[arg(required = true, value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Run the task in every workspace package, in dependency order.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Only packages whose name matches (glob), or whose directory matches when it starts
    /// with `./`. Repeatable.
    #[arg(long, value_name = "NAME|GLOB")]
    pub filter: Vec<String>,
}

// Each flag is its own switch on the command line.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Do not read or write the cache.
    #[arg(long, conflicts_with = "force")]
    pub no_cache: bool,
    /// Run even when a cached result is valid, then store the new result.
    #[arg(long)]
    pub force: bool,
    /// Run even when a cached result is valid, compare the fresh outputs and logs with what
    /// it would have restored and replayed, report every difference by path, then store
    /// the fresh result as --force does. Exit status 3 when a difference was found and
    /// every task succeeded (a failing task's own status wins).
    #[arg(long, conflicts_with_all = ["force", "no_cache", "dry_run"])]
    pub verify: bool,
    /// Look cached results up in the remote cache only (results are still stored locally
    /// and uploaded).
    #[arg(long, conflicts_with_all = ["no_remote", "no_cache"])]
    pub remote_only: bool,
    /// Do not use the remote cache in this run.
    #[arg(long)]
    pub no_remote: bool,
    /// Print what would run and why, without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON on stdout: with --dry-run the plan, otherwise a summary of every task
    /// at the end (the tasks' output and runwire's messages then go to stderr).
    #[arg(long)]
    pub json: bool,
    /// `task`: every line a task prints starts with `package:task | `; `none`: the tasks'
    /// output as written (for `runwire run gen --log-prefix none > out.json`).
    #[arg(long, value_enum, value_name = "task|none", default_value_t = LogPrefix::Task)]
    pub log_prefix: LogPrefix,
    /// How many tasks may run at once (default: number of cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Extra arguments appended to the commands of the tasks named (not their dependencies).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `runwire run --log-prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogPrefix {
    /// `package:task | ` before every line.
    Task,
    /// The output as the task wrote it.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help text and the README list exactly the pass-through defaults the code uses.
    #[test]
    fn documented_pass_through_list_matches_the_code() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        for name in crate::env::DEFAULT_PASS_THROUGH {
            assert!(AFTER_HELP.contains(name), "--help misses {name}");
            assert!(
                readme.contains(&format!("`{name}`")),
                "README misses {name}"
            );
        }
    }

    /// The help text and the README name the three cache locations, in their order.
    #[test]
    fn documented_cache_locations() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        for text in [AFTER_HELP, readme.as_str()] {
            let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
            assert!(at("RUNWIRE_CACHE_DIR") < at("node_modules/.cache/runwire"));
            assert!(at("node_modules/.cache/runwire") < at(crate::cache_dir::DEFAULT_CACHE_DIR));
            assert!(text.contains(".gitignore"));
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
