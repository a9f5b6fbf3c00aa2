//! Tasks run without caching: `--no-cache` and `cache: false`. They run exactly like a
//! miss (the protocol server, the strict env, the Node addon) but untraced.

use std::ffi::OsString;
use std::time::Instant;

use runwire_fingerprint::EnvMap;
use runwire_server::{Server, ServerConfig};

use super::{DRAIN_DEADLINE, env_map, task_env};
use crate::error::Error;
use crate::exec::{self, CacheReport, Executor, Outcome, Preview, TaskContext};
use crate::output::TaskOutput;

/// Runs tasks exactly like a miss (the protocol server answering from the runner's full env,
/// the strict env, the Node addon) but untraced, and never looks up or stores: `--no-cache`
/// and `cache: false` tasks. Nothing is stored, so a trace would only cost time.
#[derive(Debug)]
pub struct ServedExecutor {
    env: EnvMap,
    /// Why caching is off, shown to the user.
    reason: String,
}

impl ServedExecutor {
    pub fn new(full_env: &[(OsString, OsString)], reason: &str) -> Self {
        Self {
            env: env_map(full_env),
            reason: reason.to_owned(),
        }
    }
}

impl Executor for ServedExecutor {
    fn preview(&self, _ctx: &TaskContext<'_>) -> Result<Preview, Error> {
        Ok(Preview {
            status: "off",
            reasons: vec![self.reason.clone()],
        })
    }

    fn execute(&self, ctx: &TaskContext<'_>, out: &mut TaskOutput<'_>) -> Result<Outcome, Error> {
        let start = Instant::now();
        let task_env = task_env(ctx)?;
        // Without a server the task still runs, as it would outside runwire.
        let (server, child_env) = match start_server(ctx, &self.env) {
            Ok((server, extra)) => (Some(server), exec::task_env(ctx, &task_env, &extra)),
            Err(_) => (None, exec::unserved_task_env(ctx)),
        };
        let status = run_untraced(ctx, &child_env, out)?;
        // Declarations do not matter here; draining only lets the tools finish cleanly.
        if let Some(server) = server {
            let _ = server.finish(DRAIN_DEADLINE);
        }
        Ok(Outcome {
            exit_code: exec::exit_code(status),
            duration: start.elapsed(),
            cache: CacheReport::Off {
                reason: self.reason.clone(),
            },
        })
    }
}

/// Runs the task's command without the tracer, its output going to `out`.
pub(super) fn run_untraced(
    ctx: &TaskContext<'_>,
    child_env: &[(OsString, OsString)],
    out: &mut TaskOutput<'_>,
) -> Result<std::process::ExitStatus, Error> {
    let io = |source| Error::Io {
        path: ctx.task.cwd.clone(),
        source,
    };
    let mut child = exec::shell_command(ctx.task, child_env)
        .spawn()
        .map_err(io)?;
    exec::pump(child.stdout.take(), child.stderr.take(), out);
    child.wait().map_err(io)
}

/// Starts the protocol server for a task and returns it with the variables that point the
/// task at it. It answers from the runner's full env and records every tracked request: the
/// user's untracked policy is applied once, by the engine ([`CachedExecutor::classify_options`]).
pub(super) fn start_server(
    ctx: &TaskContext<'_>,
    env: &EnvMap,
) -> Result<(runwire_server::RunningServer, Vec<(OsString, OsString)>), Error> {
    let server_config =
        ServerConfig::new(env.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let server = Server::start(server_config).map_err(|source| Error::Server {
        task: ctx.task.label.clone(),
        source,
    })?;
    let socket: OsString = server.socket_path().as_os_str().to_owned();
    let mut extra = vec![("RUNWIRE_SOCKET".into(), socket)];
    extra.extend(crate::node_addon::child_env(ctx));
    Ok((server, extra))
}
