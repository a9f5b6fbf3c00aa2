//! The task-execution seam: the scheduler hands each planned task to an [`Executor`] and
//! reports what it returns. Two executors stand behind it: the cached, traced
//! [`crate::pipeline::CachedExecutor`], and [`crate::pipeline::ServedExecutor`] for runs
//! without the cache. The helpers here spawn a task's shell and collect its output.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::env;
use crate::error::Error;
use crate::output::{Stream, TaskOutput};
use crate::plan::PlannedTask;
use crate::workspace::Workspace;

/// How a run with the cache on uses it (`--no-cache` runs tasks through
/// [`crate::pipeline::ServedExecutor`] instead, which never opens the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Look up, run on a miss, store.
    Normal,
    /// `--force`: run without looking up, then store.
    Force,
    /// `--verify`: run even when a cached variant matches, compare the fresh result with
    /// what that variant would have restored and replayed, then store like `--force`.
    Verify,
}

/// Everything an executor needs about one task.
#[derive(Debug, Clone, Copy)]
pub struct TaskContext<'a> {
    pub ws: &'a Workspace,
    pub task: &'a PlannedTask,
    /// The runner's environment without its secrets ([`crate::settings::EnvSnapshot`]).
    pub full_env: &'a [(OsString, OsString)],
}

/// One reason a task missed or was not stored: a line for people and the engine's
/// structured form for machines (`runwire run --json`). Names paths and env names, never
/// env values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    pub message: String,
    /// The engine's difference or not-cacheable reason as data, or `{"runner": KIND}` for
    /// the runner's own reasons (`--force`, a failed store...).
    pub detail: serde_json::Value,
}

impl Reason {
    /// A reason of the runner itself, of kind `kind`.
    pub fn runner(kind: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            detail: serde_json::json!({ "runner": kind }),
        }
    }

    /// A reason from the engine: its `Display` for people, its serialized form as detail.
    pub fn of<T: std::fmt::Display + serde::Serialize>(value: &T) -> Self {
        Self {
            message: value.to_string(),
            detail: serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What happened with the cache for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheReport {
    /// Replayed from the cache; `saved` is the duration of the original run, when this
    /// machine recorded it (not for an entry that came from a remote cache).
    Hit { saved: Option<Duration> },
    /// Ran. `miss` lists why no entry matched (every reason); `not_cached` lists why the
    /// result was not stored (empty when it was).
    Ran {
        miss: Vec<Reason>,
        not_cached: Vec<Reason>,
        /// With `--verify` and a matching cached variant: how the fresh result differs from
        /// it (empty: identical). `None` otherwise.
        verified: Option<Vec<String>>,
        /// Things shown that did not decide anything (a `disableCache` that does not bind).
        notes: Vec<String>,
    },
    /// Caching did not apply: `cache: false`, `--no-cache`, or no cache in this build.
    Off { reason: String },
}

/// The result of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 0 on success; the child's exit code, or 128 + signal number.
    pub exit_code: i32,
    pub duration: Duration,
    pub cache: CacheReport,
}

/// What `--dry-run` says about a task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// `hit`, `miss` or `off`.
    pub status: &'static str,
    /// Why (miss reasons, or why caching is off).
    pub reasons: Vec<String>,
}

/// Runs one task. Implementations must be usable from several worker threads at once.
pub trait Executor: Sync {
    /// What running the task would do, without running it.
    fn preview(&self, ctx: &TaskContext<'_>) -> Result<Preview, Error>;
    /// Runs (or replays) the task, writing its output to `out`.
    fn execute(&self, ctx: &TaskContext<'_>, out: &mut TaskOutput<'_>) -> Result<Outcome, Error>;
    /// Lines explaining the task's cache state in full (`runwire explain`).
    fn explain(&self, ctx: &TaskContext<'_>) -> Result<Vec<String>, Error> {
        let preview = self.preview(ctx)?;
        let mut lines = vec![format!("cache: {}", preview.status)];
        lines.extend(preview.reasons);
        Ok(lines)
    }
    /// Called once with every task before any runs (read ahead what the tasks will need).
    fn prepare(&self, _tasks: &[TaskContext<'_>]) {}
    /// Called once after the whole run (persist what is worth keeping).
    fn finish(&self) {}
}

/// The child's strict environment for a task, plus `extra` (such as `RUNWIRE_SOCKET`).
pub fn task_env(
    ctx: &TaskContext<'_>,
    task_env: &env::TaskEnv,
    extra: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    let bins = env::bin_dirs(&ctx.ws.root, &ctx.ws.packages[ctx.task.package].dir);
    task_env.child_env(ctx.full_env, &bins, extra)
}

/// The env of a task run without the protocol server ([`env::unserved_child_env`]).
pub fn unserved_task_env(ctx: &TaskContext<'_>) -> Vec<(OsString, OsString)> {
    let bins = env::bin_dirs(&ctx.ws.root, &ctx.ws.packages[ctx.task.package].dir);
    env::unserved_child_env(ctx.full_env, &bins)
}

/// A `sh -c <command>` command for a task with its cwd and env, stdio piped for capture.
pub fn shell_command(task: &PlannedTask, env: &[(OsString, OsString)]) -> Command {
    // A task is about to exist: a signal must now reach it.
    crate::signals::watch_tasks();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&task.command)
        .current_dir(&task.cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group (signals are forwarded to it) and killed with the runner.
    runwire_trace::contain(&mut cmd);
    cmd
}

/// Exit code of a finished child: its code, or 128 + signal like a shell.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Copies a child's stdout and stderr into `out` until both close. Reads happen on two
/// threads so neither pipe can fill up and block the child; chunks are forwarded in the
/// order they arrive.
pub fn pump<O, E>(stdout: Option<O>, stderr: Option<E>, out: &mut TaskOutput<'_>)
where
    O: Read + Send,
    E: Read + Send,
{
    let (tx, rx) = std::sync::mpsc::channel::<(Stream, Vec<u8>)>();
    std::thread::scope(|scope| {
        fn reader<R: Read>(
            mut r: R,
            stream: Stream,
            tx: &std::sync::mpsc::Sender<(Stream, Vec<u8>)>,
        ) {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send((stream, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if let Some(r) = stdout {
            let tx = tx.clone();
            scope.spawn(move || reader(r, Stream::Stdout, &tx));
        }
        if let Some(r) = stderr {
            let tx = tx.clone();
            scope.spawn(move || reader(r, Stream::Stderr, &tx));
        }
        drop(tx);
        for (stream, bytes) in rx {
            out.write(stream, &bytes);
        }
    });
    out.finish();
}
