//! Command-line interface: argument parsing and the commands.

use std::fmt::Write as _;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::Error;
use crate::exec::{CacheMode, DirectExecutor, Executor, TaskContext};
use crate::output::{MAX_LISTED_REASONS, Printer, Style, escape_line};
use crate::plan::{Plan, Selection};
use crate::remote::RemoteFlags;
use crate::scheduler::{self, RunOptions};
use crate::workspace::Workspace;

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

/// Chooses how tasks are executed; the cached pipeline replaces the direct one when the
/// cache is enabled.
pub type ExecutorFactory =
    fn(&Workspace, CacheMode, RemoteFlags) -> Result<Box<dyn Executor>, Error>;

/// The traced, cached executor (the default).
pub fn cached_executor(
    ws: &Workspace,
    mode: CacheMode,
    flags: RemoteFlags,
) -> Result<Box<dyn Executor>, Error> {
    // Tasks, tools and the cache see the environment without the runner's own secrets;
    // only the remote set-up reads those.
    let full_env = crate::env::runner_env();
    if mode == CacheMode::Off {
        // Like a miss (protocol server, strict env), without opening the cache at all.
        return Ok(Box::new(crate::pipeline::ServedExecutor::new(
            &full_env,
            "--no-cache",
        )));
    }
    let with_secrets: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let remote = crate::remote::setup(
        ws.config.remote_cache.as_ref(),
        ws.config_path.as_deref(),
        &with_secrets,
        flags,
    )?;
    Ok(Box::new(crate::pipeline::CachedExecutor::open(
        &ws.root,
        prepare_cache_dir(ws)?,
        &full_env,
        remote,
    )?))
}

/// The executor used when no cached pipeline is available.
pub fn direct_executor(
    _ws: &Workspace,
    mode: CacheMode,
    _flags: RemoteFlags,
) -> Result<Box<dyn Executor>, Error> {
    let reason = match mode {
        CacheMode::Off => "--no-cache",
        _ => "no cache in this build",
    };
    Ok(Box::new(DirectExecutor {
        reason: reason.into(),
    }))
}

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli, make_executor: ExecutorFactory) -> Result<i32, Error> {
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
    let mut printer = Printer::from_env();
    if let Command::Run(args) = &cli.command
        && args.json
        && !args.dry_run
    {
        printer = printer.with_stdout_to_stderr();
    }
    if matches!(&cli.command, Command::Run(args) if args.json) {
        printer = printer.without_live();
    }
    match cli.command {
        Command::Run(args) => run(&cwd, &args, &printer, make_executor),
        Command::Explain(args) => explain(&cwd, &args, &printer, make_executor),
        Command::Tasks { json } => tasks(&cwd, json, &printer),
        Command::Cache { command } => cache(&cwd, &command, &printer),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "runwire",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

fn load(
    cwd: &std::path::Path,
    select: &SelectArgs,
    extra: Vec<String>,
) -> Result<(Workspace, Plan), Error> {
    let ws = Workspace::load(cwd)?;
    let selection = Selection::new(
        &ws,
        cwd,
        &select.tasks,
        select.recursive,
        &select.filter,
        extra,
    )?;
    let plan = Plan::build(&ws, &selection)?;
    Ok((ws, plan))
}

fn run(
    cwd: &std::path::Path,
    args: &RunArgs,
    printer: &Printer,
    make_executor: ExecutorFactory,
) -> Result<i32, Error> {
    let (ws, plan) = load(cwd, &args.select, args.args.clone())?;
    let mode = if args.no_cache {
        CacheMode::Off
    } else if args.force {
        CacheMode::Force
    } else if args.verify {
        CacheMode::Verify
    } else {
        CacheMode::Normal
    };
    let flags = RemoteFlags {
        remote_only: args.remote_only,
        no_remote: args.no_remote,
    };
    let executor = make_executor(&ws, mode, flags)?;
    let full_env = crate::env::runner_env();
    if args.dry_run {
        return dry_run(
            &ws,
            &plan,
            executor.as_ref(),
            &full_env,
            mode,
            args.json,
            printer,
        );
    }
    let jobs = args
        .jobs
        .map_or_else(runwire_fingerprint::hash::cpu_count, |j| j as usize);
    let summary = scheduler::run(
        &ws,
        &plan,
        executor.as_ref(),
        printer,
        &full_env,
        RunOptions {
            jobs,
            mode,
            prefix: args.log_prefix == LogPrefix::Task,
        },
    );
    executor.finish();
    if args.json {
        print_run_json(&plan, &summary)?;
    }
    let differs = summary.outcomes.iter().flatten().any(|o| {
        matches!(&o.cache, crate::exec::CacheReport::Ran { verified: Some(d), .. } if !d.is_empty())
    });
    if summary.exit_code == 0 && differs {
        return Ok(VERIFY_DIFFERENCES_EXIT);
    }
    Ok(summary.exit_code)
}

/// `runwire run --verify` found a fresh result that differs from the cached one.
pub const VERIFY_DIFFERENCES_EXIT: i32 = 3;

/// One task in `runwire run --json`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RunJsonTask<'a> {
    label: &'a str,
    package: &'a str,
    task: &'a str,
    /// `hit`, `miss` (ran and stored), `not-cached` (ran, not stored, or caching off),
    /// `failed` (non-zero exit), `skipped` (not run: a task it depends on failed).
    status: &'static str,
    /// `null` when the task did not run.
    exit_code: Option<i32>,
    duration_ms: Option<u64>,
    miss_reasons: &'a [crate::exec::Reason],
    not_cached_reasons: Vec<crate::exec::Reason>,
    /// With --verify and a cached result to compare: every difference (empty: the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_differences: Option<&'a [String]>,
}

/// The machine-readable summary of a run, on stdout.
fn print_run_json(plan: &Plan, summary: &scheduler::RunSummary) -> Result<(), Error> {
    use crate::exec::{CacheReport, Reason};
    let tasks: Vec<RunJsonTask<'_>> = plan
        .tasks
        .iter()
        .zip(&summary.outcomes)
        .map(|(task, outcome)| {
            let (status, miss, not_cached): (_, &[Reason], Vec<Reason>) = match outcome {
                None => ("skipped", &[], Vec::new()),
                Some(o) => {
                    let (status, miss, not_cached) = match &o.cache {
                        CacheReport::Hit { .. } => ("hit", &[][..], Vec::new()),
                        CacheReport::Ran {
                            miss, not_cached, ..
                        } => (
                            if not_cached.is_empty() {
                                "miss"
                            } else {
                                "not-cached"
                            },
                            miss.as_slice(),
                            not_cached.clone(),
                        ),
                        CacheReport::Off { reason } => (
                            "not-cached",
                            &[][..],
                            vec![Reason::runner("cache_off", reason.clone())],
                        ),
                    };
                    let status = if o.exit_code == 0 { status } else { "failed" };
                    (status, miss, not_cached)
                }
            };
            RunJsonTask {
                label: &task.label,
                package: &task.package_name,
                task: &task.task,
                status,
                exit_code: outcome.as_ref().map(|o| o.exit_code),
                duration_ms: outcome
                    .as_ref()
                    .map(|o| u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX)),
                miss_reasons: miss,
                not_cached_reasons: not_cached,
                verify_differences: outcome.as_ref().and_then(|o| match &o.cache {
                    CacheReport::Ran {
                        verified: Some(d), ..
                    } => Some(d.as_slice()),
                    _ => None,
                }),
            }
        })
        .collect();
    let text = serde_json::to_string_pretty(&serde_json::json!({ "tasks": tasks }))
        .map_err(|e| Error::Task(format!("cannot encode the run summary: {e}")))?;
    println!("{text}");
    Ok(())
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunTask<'a> {
    label: &'a str,
    package: &'a str,
    package_dir: &'a str,
    task: &'a str,
    command: &'a str,
    command_source: crate::plan::CommandSource,
    cwd: &'a str,
    depends_on: Vec<&'a str>,
    cache: crate::exec::Preview,
}

fn dry_run(
    ws: &Workspace,
    plan: &Plan,
    executor: &dyn Executor,
    full_env: &[(OsString, OsString)],
    mode: CacheMode,
    json: bool,
    printer: &Printer,
) -> Result<i32, Error> {
    let mut rows = Vec::with_capacity(plan.tasks.len());
    for task in &plan.tasks {
        let ctx = TaskContext {
            ws,
            task,
            full_env,
            mode,
        };
        rows.push(DryRunTask {
            label: &task.label,
            package: &task.package_name,
            package_dir: &task.package_rel,
            task: &task.task,
            command: &task.command,
            command_source: task.source,
            cwd: &task.cwd_rel,
            depends_on: task
                .deps
                .iter()
                .map(|&d| plan.tasks[d].label.as_str())
                .collect(),
            cache: executor.preview(&ctx)?,
        });
    }
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "tasks": rows }))
            .map_err(|e| Error::Task(format!("cannot encode the plan: {e}")))?;
        println!("{text}");
        return Ok(0);
    }
    for row in &rows {
        let mut text = format!(
            "{} {} (in {})",
            printer.paint(Style::Label, &escape_line(row.label)),
            printer.paint(Style::Dim, &format!("$ {}", escape_line(row.command))),
            escape_line(row.cwd)
        );
        if !row.depends_on.is_empty() {
            let _ = write!(
                text,
                "\n  after: {}",
                escape_line(&row.depends_on.join(", "))
            );
        }
        let _ = write!(text, "\n  cache: {}", row.cache.status);
        for reason in row.cache.reasons.iter().take(MAX_LISTED_REASONS) {
            let _ = write!(text, "\n  - {}", escape_line(reason));
        }
        if row.cache.reasons.len() > MAX_LISTED_REASONS {
            let _ = write!(
                text,
                "\n  - ... and {} more (`--json` lists them all)",
                row.cache.reasons.len() - MAX_LISTED_REASONS
            );
        }
        printer.message(&text);
    }
    Ok(0)
}

fn explain(
    cwd: &std::path::Path,
    args: &SelectArgs,
    printer: &Printer,
    make_executor: ExecutorFactory,
) -> Result<i32, Error> {
    let (ws, plan) = load(cwd, args, Vec::new())?;
    let executor = make_executor(&ws, CacheMode::Normal, RemoteFlags::default())?;
    let full_env = crate::env::runner_env();
    for task in &plan.tasks {
        let ctx = TaskContext {
            ws: &ws,
            task,
            full_env: &full_env,
            mode: CacheMode::Normal,
        };
        let mut text = format!(
            "{} {}\n  cwd: {}",
            printer.paint(Style::Label, &escape_line(&task.label)),
            printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command))),
            escape_line(&task.cwd_rel),
        );
        // `explain` lists every difference: it is asked for, so no cap here.
        for line in executor.explain(&ctx)? {
            let _ = write!(text, "\n  {}", escape_line(&line));
        }
        printer.message(&text);
    }
    Ok(0)
}

/// `runwire tasks`: every package with its tasks, on stdout.
fn tasks(cwd: &std::path::Path, json: bool, printer: &Printer) -> Result<i32, Error> {
    #[derive(serde::Serialize)]
    struct PackageTasks<'a> {
        name: &'a str,
        dir: &'a str,
        tasks: Vec<crate::plan::TaskInfo>,
    }
    let ws = Workspace::load(cwd)?;
    let packages: Vec<PackageTasks<'_>> = ws
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| PackageTasks {
            name: &p.name,
            dir: &p.rel,
            tasks: crate::plan::describe_tasks(&ws, i),
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "packages": packages }))
            .map_err(|e| Error::Task(format!("cannot encode the task list: {e}")))?;
        println!("{text}");
        return Ok(0);
    }
    let mut text = String::new();
    for package in &packages {
        let _ = writeln!(
            text,
            "{} ({})",
            printer.paint(Style::Label, &escape_line(package.name)),
            escape_line(package.dir)
        );
        if package.tasks.is_empty() {
            text.push_str("  (no tasks)\n");
        }
        let width = package
            .tasks
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0);
        for task in &package.tasks {
            let defined = match (task.command_source, &task.config_entry) {
                (crate::plan::CommandSource::RunwireJson, Some(key)) => {
                    format!("runwire.json tasks.{key}")
                }
                (_, Some(key)) => format!(
                    "package.json scripts.{}, settings: runwire.json tasks.{key}",
                    task.name
                ),
                (_, None) => format!("package.json scripts.{}", task.name),
            };
            let _ = writeln!(
                text,
                "  {:width$}  {}  ({})",
                escape_line(&task.name),
                printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command))),
                escape_line(&defined),
            );
            if !task.depends_on.is_empty() {
                let _ = writeln!(
                    text,
                    "  {:width$}  dependsOn: {}",
                    "",
                    escape_line(&task.depends_on.join(", "))
                );
            }
        }
    }
    print!("{text}");
    Ok(0)
}

/// The cache directory: `RUNWIRE_CACHE_DIR` (relative to the workspace root), else
/// `<root>/node_modules/.cache/runwire` when the root has a `node_modules`, else
/// `<root>/.runwire/cache`. Nothing is created here (see [`prepare_cache_dir`]).
pub fn cache_dir(ws: &Workspace) -> PathBuf {
    match std::env::var_os("RUNWIRE_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => ws.root.join(dir),
        _ if ws.root.join("node_modules").is_dir() => {
            ws.root.join("node_modules").join(".cache").join("runwire")
        }
        _ => ws.root.join(DEFAULT_CACHE_DIR),
    }
}

/// The cache directory of a workspace without `node_modules`, relative to its root.
pub const DEFAULT_CACHE_DIR: &str = ".runwire/cache";

/// [`cache_dir`], created when missing. The default `.runwire/cache` gets a `.gitignore`
/// holding `*` when it is created, so git never sees the cache (a directory the user chose
/// with `RUNWIRE_CACHE_DIR`, or `node_modules`, which is ignored already, gets none).
pub fn prepare_cache_dir(ws: &Workspace) -> Result<PathBuf, Error> {
    let dir = cache_dir(ws);
    let default = ws.root.join(DEFAULT_CACHE_DIR);
    if dir == default && !dir.exists() {
        let io = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Private to the user, as the cache makes a directory it creates itself.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io(&dir))?;
        let ignore = dir.join(".gitignore");
        std::fs::write(&ignore, "*\n").map_err(io(&ignore))?;
    }
    Ok(dir)
}

fn cache(cwd: &std::path::Path, command: &CacheCommand, printer: &Printer) -> Result<i32, Error> {
    let ws = Workspace::load(cwd)?;
    let dir = prepare_cache_dir(&ws)?;
    let shown =
        escape_line(&dir.strip_prefix(&ws.root).unwrap_or(&dir).to_string_lossy()).into_owned();
    let open = || {
        runwire_cache::Cache::open(&dir, runwire_cache::CacheOptions::default())
            .map_err(|e| Error::Cache(format!("{shown}: {e}")))
    };
    match command {
        CacheCommand::Info => {
            let info = open()?
                .info()
                .map_err(|e| Error::Cache(format!("{shown}: {e}")))?;
            printer.message(&format!(
                "cache: {shown}\nentries: {} (under {} spawn keys)\nblobs: {} ({} bytes of at most {})\nschema version: {}\nenv hash key: {}",
                info.entries,
                info.spawn_keys,
                info.blobs,
                info.blob_bytes,
                info.max_size,
                info.schema_version,
                if info.shared_key { "shared" } else { "local (random)" },
            ));
        }
        CacheCommand::Verify { json } => {
            let report = open()?
                .verify()
                .map_err(|e| Error::Cache(format!("{shown}: {e}")))?;
            if *json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| Error::Task(format!("cannot encode the report: {e}")))?;
                println!("{text}");
            } else {
                printer.message(&format!(
                    "cache: {shown}: {} entries, {} blobs re-hashed: {} bad, {} entries dropped",
                    report.entries_checked,
                    report.blobs_checked,
                    report.bad_blobs.len(),
                    report.entries_dropped
                ));
                for h in &report.bad_blobs {
                    printer.message(&format!("  bad blob {h} (removed)"));
                }
            }
            return Ok(i32::from(
                report.entries_dropped > 0 || !report.bad_blobs.is_empty(),
            ));
        }
        CacheCommand::Clean => {
            // Clean works whatever state the cache is in: a corrupt index or key is moved
            // aside by the open; a cache that still cannot be opened (a newer schema, an
            // unreadable index) has its files removed without opening it.
            let removed = match runwire_cache::Cache::open(
                &dir,
                runwire_cache::CacheOptions::default(),
            ) {
                Ok(cache) => format!(
                    "removed {} entries",
                    cache
                        .clean()
                        .map_err(|e| Error::Cache(format!("{shown}: {e}")))?
                ),
                Err(e @ runwire_cache::CacheError::InitLockTimeout { .. }) => {
                    return Err(Error::Cache(format!("{shown}: {e}")));
                }
                Err(e) => {
                    printer.message(&format!(
                        "runwire: warning: cache: {shown} cannot be opened ({}); removing its index and blobs",
                        escape_line(&e.to_string())
                    ));
                    runwire_cache::Cache::wipe(&dir)
                        .map_err(|e| Error::Cache(format!("{shown}: {e}")))?;
                    "removed the index and every blob".to_owned()
                }
            };
            // The CLI's own side files (run durations) go too.
            match std::fs::remove_dir_all(dir.join("cli")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: dir.join("cli"),
                        source,
                    });
                }
            }
            printer.message(&format!("cache: {shown}: {removed}"));
        }
    }
    Ok(0)
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
            assert!(at("node_modules/.cache/runwire") < at(DEFAULT_CACHE_DIR));
            assert!(text.contains(".gitignore"));
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
