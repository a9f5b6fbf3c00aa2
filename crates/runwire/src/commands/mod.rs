//! The commands, one file each. [`run`] takes the resolved [`Settings`] and dispatches; each
//! command loads what it needs of the workspace itself.

mod cache;
mod explain;
mod run;
mod tasks;

use std::path::Path;

use crate::error::Error;
use crate::exec::Executor;
use crate::plan::{Plan, Selection};
use crate::remote::RemoteFlags;
use crate::settings::{Caching, CommandSettings, Settings};
use crate::workspace::Workspace;

pub use self::run::VERIFY_DIFFERENCES_EXIT;

/// Runs the resolved command; returns the process exit code.
pub fn run(settings: &Settings) -> Result<i32, Error> {
    crate::signals::set_grace(settings.kill_grace());
    let printer = settings.output.printer();
    match &settings.command {
        CommandSettings::Run(run) => run::run(settings, run, &printer),
        CommandSettings::Explain(select) => explain::explain(settings, select, &printer),
        CommandSettings::Tasks { json } => tasks::tasks(&settings.cwd, *json, &printer),
        CommandSettings::Cache(command) => cache::cache(settings, command, &printer),
        CommandSettings::Completions(shell) => {
            use clap::CommandFactory;
            clap_complete::generate(
                *shell,
                &mut crate::cli::Cli::command(),
                "runwire",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// The workspace around `cwd` and the plan of the selected tasks.
fn load(
    cwd: &Path,
    select: &crate::cli::SelectArgs,
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

/// The executor of a run: the cached pipeline, or with `--no-cache` the served one, which
/// never opens the cache.
fn executor(
    settings: &Settings,
    ws: &Workspace,
    caching: Caching,
    flags: RemoteFlags,
) -> Result<Box<dyn Executor>, Error> {
    let env = settings.env.runner();
    let mode = match caching {
        Caching::Off => {
            return Ok(Box::new(crate::pipeline::ServedExecutor::new(
                env,
                "--no-cache",
            )));
        }
        Caching::On(mode) => mode,
    };
    let remote = crate::remote::setup(
        ws.config.remote_cache.as_ref(),
        ws.config_path.as_deref(),
        &settings.env,
        flags,
    )?;
    let cache_dir = crate::cache_dir::prepare(ws, settings.cache_dir_override())?;
    Ok(Box::new(crate::pipeline::CachedExecutor::open(
        mode, &ws.root, cache_dir, env, remote,
    )?))
}

/// `value` as pretty JSON on stdout; `what` names it in the error.
fn print_json(value: &impl serde::Serialize, what: &'static str) -> Result<(), Error> {
    let text =
        serde_json::to_string_pretty(value).map_err(|source| Error::Json { what, source })?;
    println!("{text}");
    Ok(())
}
