//! Serving a miss: the task runs under the tracer with the protocol server, then its run
//! is classified and stored. `run_traced` is the normal path; a missing server or tracer
//! falls back to an untraced run that is never stored.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Instant, SystemTime};

use runwire_fingerprint::{
    self as fp, ClassifyOptions, Declaration, Hasher, RunRecord, SpawnSummary,
};
use runwire_trace::TracedCommand;

use super::served::{run_untraced, start_server};
use super::{CachedExecutor, DRAIN_DEADLINE};
use crate::adapt;
use crate::env::TaskEnv;
use crate::error::Error;
use crate::exec::{self, CacheReport, Outcome, Reason, TaskContext};
use crate::globs::Patterns;
use crate::output::TaskOutput;

/// Programs that load the Node addon through `RUNWIRE_NODE_ADDON` or vite-task's
/// `VP_RUN_NODE_CLIENT_PATH` (bun loads napi addons too).
fn is_node_runtime(program: &Path) -> bool {
    program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "node" | "nodejs" | "bun"))
}

/// What an untraced fallback run needs: the task's server, its env, and why the tracer
/// could not start.
struct Untraced<'a> {
    /// `None` when the server is what could not start.
    server: Option<runwire_server::RunningServer>,
    child_env: &'a [(OsString, OsString)],
    reason: Reason,
}

/// Without the addon a Node tool cannot declare the envs it reads (vite's `VITE_*`): a run
/// that exec'd a Node runtime then is not cached. Decided from the programs that really
/// ran, not from `node_modules`.
fn node_without_addon(trace: &runwire_trace::Trace) -> Option<Reason> {
    let why = crate::node_addon::unavailable()?;
    let node = trace.programs().iter().find(|p| is_node_runtime(p))?;
    Some(Reason::runner(
        "node_addon_unavailable",
        format!(
            "{} ran without the runwire Node addon ({why}), so its tools could not declare what they read",
            node.display()
        ),
    ))
}

impl CachedExecutor {
    pub(super) fn run_traced(
        &self,
        ctx: &TaskContext<'_>,
        out: &mut TaskOutput<'_>,
        task_env: &TaskEnv,
        summary: &SpawnSummary,
        miss: Vec<Reason>,
        verify: Option<&runwire_cache::StoredEntry>,
    ) -> Result<Outcome, Error> {
        let task = ctx.task;
        let start = Instant::now();
        let wall_start = SystemTime::now();
        let package_dir = ctx.ws.packages[task.package].dir.clone();
        let inputs = Patterns::new(&task.config.inputs, &format!("tasks.{}.inputs", task.task))?;
        let outputs = Patterns::new(
            &task.config.outputs,
            &format!("tasks.{}.outputs", task.task),
        )?;
        let skip = [self.cache_dir.clone()];
        let input_files = inputs.walk(&package_dir, &skip);

        let mut options = self.classify_options(ctx, task_env)?;
        options.prior_tool_state = self.prior_tool_state(ctx, wall_start);
        // The server answers from the runner's full env. Without
        // it no tool can ask for its variables: the task runs as it would outside runwire,
        // with the whole environment, untraced and not cached.
        let (server, extra) = match start_server(ctx, &self.env) {
            Ok(started) => started,
            Err(e) => return self.run_without_server(ctx, out, summary, miss, &e),
        };
        let child_env = exec::task_env(ctx, task_env, &extra);

        let spawned_at = crate::clock::spawn_instant();
        let mut child = match traced_shell(task, &child_env).spawn() {
            Ok(child) => child,
            Err(source @ runwire_trace::TraceError::Spawn { .. }) => {
                return Err(Error::Trace {
                    task: task.label.clone(),
                    source,
                });
            }
            // The tracer itself could not be set up (no shim, no ring): the task still
            // runs, untraced, and is not cached.
            Err(e) => {
                let reason = Reason::runner(
                    "tracer_unavailable",
                    format!(
                        "the tracer could not start, the run was not traced: {e} [{}]",
                        e.code()
                    ),
                );
                let untraced = Untraced {
                    server: Some(server),
                    child_env: &child_env,
                    reason,
                };
                return self.run_without_tracer(ctx, out, summary, miss, untraced);
            }
        };
        exec::pump(child.stdout.take(), child.stderr.take(), out);
        let finished = child.wait().map_err(|source| Error::Trace {
            task: task.label.clone(),
            source,
        })?;
        crate::clock::note_workspace_write();
        let report = server.finish(DRAIN_DEADLINE);
        let duration = start.elapsed();
        let exit_code = exec::exit_code(finished.status);
        let exit = exit_status(finished.status);

        let trace = adapt::trace::to_model(&finished.trace);
        let mut declarations =
            self.config_declarations(&package_dir, &trace, &input_files, &inputs, &outputs);
        let converted = adapt::report::convert(report);
        declarations.extend(converted.declarations);
        let record = RunRecord {
            trace,
            declarations,
            diagnostics: converted.diagnostics,
            exit,
        };
        options.spawned_at = Some(spawned_at);
        let hasher = Hasher::new(Some(&self.memo), wall_start);
        let classified =
            fp::classify(&record, &options, &self.env_key, &hasher).map_err(|source| {
                Error::Fingerprint {
                    task: task.label.clone(),
                    source,
                }
            })?;
        let mut not_cached: Vec<Reason> =
            classified.verdict.reasons.iter().map(Reason::of).collect();
        not_cached.extend(node_without_addon(&finished.trace));
        // A server or a watcher is not a build, even when it exits 0 (`vite dev` quit
        // with `q`): what it did depended on requests and file changes while it ran.
        not_cached.extend(finished.trace.services().iter().map(|s| Reason {
            message: s.to_string(),
            detail: serde_json::json!({ "runner": "service", "code": s.code() }),
        }));
        let verified = verify.map(|entry| self.verify(entry, &classified, out));
        self.store(ctx, summary, &classified, out, duration, &mut not_cached);
        Ok(Outcome {
            exit_code,
            duration,
            cache: CacheReport::Ran {
                miss,
                not_cached,
                verified,
                notes: converted.notes,
            },
        })
    }

    /// The task run without the protocol server, which could not start: untraced, with
    /// the whole environment, never stored.
    fn run_without_server(
        &self,
        ctx: &TaskContext<'_>,
        out: &mut TaskOutput<'_>,
        summary: &SpawnSummary,
        miss: Vec<Reason>,
        cause: &Error,
    ) -> Result<Outcome, Error> {
        let child_env = exec::unserved_task_env(ctx);
        let reason = Reason::runner(
            "protocol_server_unavailable",
            format!(
                "the protocol server could not start, the task ran untraced with the whole environment: {cause} [{}]",
                cause.code()
            ),
        );
        let untraced = Untraced {
            server: None,
            child_env: &child_env,
            reason,
        };
        self.run_without_tracer(ctx, out, summary, miss, untraced)
    }

    /// The task run without the tracer, which could not start: the run is never stored,
    /// only its history is.
    fn run_without_tracer(
        &self,
        ctx: &TaskContext<'_>,
        out: &mut TaskOutput<'_>,
        summary: &SpawnSummary,
        miss: Vec<Reason>,
        untraced: Untraced<'_>,
    ) -> Result<Outcome, Error> {
        let start = Instant::now();
        let status = run_untraced(ctx, untraced.child_env, out)?;
        crate::clock::note_workspace_write();
        if let Some(server) = untraced.server {
            let _ = server.finish(DRAIN_DEADLINE);
        }
        let mut not_cached = vec![untraced.reason];
        let task = ctx.task;
        if let Err(e) = self
            .cache()
            .record_history(&task.package_rel, &task.task, summary)
        {
            not_cached.push(Reason::runner(
                "history_not_written",
                format!("task history not written: {e}"),
            ));
        }
        Ok(Outcome {
            exit_code: exec::exit_code(status),
            duration: start.elapsed(),
            cache: CacheReport::Ran {
                miss,
                not_cached,
                verified: None,
                notes: Vec::new(),
            },
        })
    }

    /// How to classify this task's run: the user's env policy, tool state and scratch
    /// locations (the spawn instant and the prior tool state are the run's to add).
    fn classify_options(
        &self,
        ctx: &TaskContext<'_>,
        task_env: &TaskEnv,
    ) -> Result<ClassifyOptions, Error> {
        let config = &ctx.task.config;
        let var = |name: &str| {
            ctx.full_env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| PathBuf::from(v))
                .filter(|p| p.is_absolute())
        };
        let home = var("HOME");
        let mut options = ClassifyOptions::new(self.root.clone());
        options.runner_paths = vec![self.cache_dir.clone()];
        options.untracked_envs = task_env.untracked().names();
        options.untracked_env_patterns = task_env.untracked().globs();
        for (i, pattern) in config.tool_state.iter().enumerate() {
            options
                .tool_state
                .push(fp::PathGlob::new(pattern).map_err(|e| {
                    Error::TaskSettings(format!(
                        "{}: tasks.{}.toolState[{i}]: {e}",
                        ctx.task.label, ctx.task.task
                    ))
                })?);
        }
        options.scratch_outside =
            fp::scratch_outside_workspace(home.as_deref(), var("TMPDIR").as_deref());
        for p in &config.outside_writes {
            match (p.strip_prefix("~/"), &home) {
                (Some(rest), Some(home)) => options.scratch_outside.push(home.join(rest)),
                (Some(_), None) => {}
                (None, _) => options.scratch_outside.push(PathBuf::from(p)),
            }
        }
        Ok(options)
    }

    /// What the tool state this task touched on earlier runs holds now, before it runs
    /// again (fingerprint rule 9): a delta build depends on what it finds there, which it
    /// then overwrites. Unknown paths cost a cached run, never a wrong hit.
    fn prior_tool_state(
        &self,
        ctx: &TaskContext<'_>,
        run_start: SystemTime,
    ) -> BTreeMap<fp::RelPath, fp::PathFact> {
        let task = ctx.task;
        let Ok(paths) = self.cache().tool_state(&task.package_rel, &task.task) else {
            return BTreeMap::new();
        };
        let paths: Vec<fp::RelPath> = paths
            .iter()
            .filter_map(|p| fp::RelPath::parse(p).ok())
            .collect();
        fp::observe_tool_state(
            &self.root,
            &paths,
            &Hasher::new(Some(&self.memo), run_start),
        )
    }

    /// Declarations that come from the user's `inputs` / `outputs` globs.
    fn config_declarations(
        &self,
        package_dir: &Path,
        trace: &fp::TraceModel,
        before: &[PathBuf],
        inputs: &Patterns,
        outputs: &Patterns,
    ) -> Vec<Declaration> {
        let mut out = Vec::new();
        for pattern in &inputs.include_sources {
            out.push(Declaration::ReportGlob {
                base: package_dir.to_owned(),
                pattern: pattern.clone().into_bytes(),
            });
        }
        out.extend(
            before
                .iter()
                .map(|path| Declaration::ReportInput { path: path.clone() }),
        );
        for path in trace.accesses.keys() {
            if inputs.excludes(package_dir, path) {
                out.push(Declaration::IgnoreInput { path: path.clone() });
            }
            if outputs.excludes(package_dir, path) {
                out.push(Declaration::IgnoreOutput { path: path.clone() });
            }
        }
        let skip = [self.cache_dir.clone()];
        out.extend(
            outputs
                .walk(package_dir, &skip)
                .into_iter()
                .map(|path| Declaration::ReportOutput { path }),
        );
        out
    }
}

/// `sh -c <command>` under the tracer, in the task's cwd with exactly `env`, output piped.
fn traced_shell(task: &crate::plan::PlannedTask, env: &[(OsString, OsString)]) -> TracedCommand {
    // A task is about to exist: a signal must now reach it.
    crate::signals::watch_tasks();
    let mut command = TracedCommand::new("sh");
    command
        .arg("-c")
        .arg(&task.command)
        .current_dir(&task.cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn exit_status(status: std::process::ExitStatus) -> fp::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => fp::ExitStatus::Code(c),
        (None, Some(s)) => fp::ExitStatus::Signal(s),
        (None, None) => fp::ExitStatus::Code(1),
    }
}
