//! The cached, traced executor: design.md "Data flow of `runwire run build`", steps 2-7.
//!
//! spawn key -> look up entries -> validate every variant -> hit: replay output, restore
//! files. Miss: start the protocol server (answering from the runner's full env with the
//! user's policy), spawn the command under the tracer with the strict env +
//! `RUNWIRE_SOCKET`, wait, drain the server, adapt trace and declarations, classify, store.
//! Every miss reason is reported, and when the run is not stored, every reason why not.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Instant, SystemTime};

use runwire_fingerprint::{
    self as fp, ClassifyOptions, Declaration, EnvKey, EnvMap, HashMemo, Hasher, RelPath, RunRecord,
    SpawnDescription,
};
use runwire_trace::TracedCommand;

use crate::adapt;
use crate::env;
use crate::error::Error;
use crate::exec::{
    self, CacheMode, CacheReport, DirectExecutor, Executor, Outcome, Preview, TaskContext,
};
use crate::globs::Patterns;
use crate::output::TaskOutput;
use crate::plan::PlannedTask;

/// Runs tasks traced and decides cacheability with the fingerprint engine.
#[derive(Debug)]
pub struct CachedExecutor {
    root: PathBuf,
    cache_dir: PathBuf,
    env_key: EnvKey,
    memo: HashMemo,
    /// `--no-cache` and `cache: false` tasks run here.
    direct: DirectExecutor,
}

impl CachedExecutor {
    pub fn new(root: &Path, cache_dir: PathBuf, env_key: EnvKey) -> Self {
        Self {
            root: root.to_owned(),
            cache_dir,
            env_key,
            memo: HashMemo::new(),
            direct: DirectExecutor {
                reason: "--no-cache".into(),
            },
        }
    }

    /// The key's part of the spawn: `sh -c <command>` in the task's cwd with the values of
    /// the user-declared env.
    fn spawn_description(ctx: &TaskContext<'_>) -> Result<SpawnDescription, Error> {
        let task = ctx.task;
        let cwd_rel = if task.cwd_rel == "." {
            String::new()
        } else {
            task.cwd_rel.clone()
        };
        let cwd = RelPath::parse(&cwd_rel)
            .map_err(|e| Error::Task(format!("{}: working directory: {e}", task.label)))?;
        let declared_env = env::tracked(ctx.full_env, &task.config)
            .into_iter()
            .map(|(n, v)| (n.into_vec(), v.map(OsString::into_vec)))
            .collect();
        Ok(SpawnDescription {
            program: "sh".into(),
            args: vec!["-c".into(), task.command.clone().into()],
            cwd,
            declared_env,
        })
    }

    /// Names the user marked pass-through: a tool's tracked request for them is ignored.
    fn untracked_envs(ctx: &TaskContext<'_>) -> BTreeSet<Vec<u8>> {
        let patterns = &ctx.task.config.pass_through_env;
        let mut names: BTreeSet<Vec<u8>> = ctx
            .full_env
            .iter()
            .filter(|(n, _)| {
                patterns
                    .iter()
                    .any(|p| env::glob_match(p.as_bytes(), n.as_bytes()))
            })
            .map(|(n, _)| n.as_bytes().to_vec())
            .collect();
        names.extend(
            patterns
                .iter()
                .filter(|p| !p.contains(['*', '?']))
                .map(|p| p.as_bytes().to_vec()),
        );
        names
    }

    /// Declarations that come from the user's `inputs` / `outputs` globs.
    fn config_declarations(
        &self,
        task: &PlannedTask,
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
                pattern: pattern.clone(),
            });
        }
        out.extend(before.iter().cloned().map(Declaration::ReportInput));
        for path in trace.accesses.keys() {
            if inputs.excludes(package_dir, path) {
                out.push(Declaration::IgnoreInput(path.clone()));
            }
            if outputs.excludes(package_dir, path) {
                out.push(Declaration::IgnoreOutput(path.clone()));
            }
        }
        let skip = [self.cache_dir.clone()];
        out.extend(
            outputs
                .walk(package_dir, &skip)
                .into_iter()
                .map(Declaration::ReportOutput),
        );
        let _ = task;
        out
    }

    fn run_traced(
        &self,
        ctx: &TaskContext<'_>,
        out: &mut TaskOutput<'_>,
        miss: Vec<String>,
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

        let child_env = exec::task_env(ctx, &[]);
        let mut command = TracedCommand::new("sh");
        command
            .arg("-c")
            .arg(&task.command)
            .current_dir(&task.cwd)
            .env_clear()
            .envs(child_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            Error::Task(format!("{}: cannot start: {e} [{}]", task.label, e.code()))
        })?;
        exec::pump(child.stdout.take(), child.stderr.take(), out);
        let finished = child
            .wait()
            .map_err(|e| Error::Task(format!("{}: {e} [{}]", task.label, e.code())))?;
        let duration = start.elapsed();
        let exit_code = exec::exit_code(finished.status);
        let exit = {
            use std::os::unix::process::ExitStatusExt;
            match (finished.status.code(), finished.status.signal()) {
                (Some(c), _) => fp::ExitStatus::Code(c),
                (None, Some(s)) => fp::ExitStatus::Signal(s),
                (None, None) => fp::ExitStatus::Code(1),
            }
        };

        let trace = adapt::trace::to_model(&finished.trace);
        let mut declarations =
            self.config_declarations(task, &package_dir, &trace, &input_files, &inputs, &outputs);
        let (tool_declarations, diagnostics) = (Vec::new(), Vec::new());
        declarations.extend(tool_declarations);
        let record = RunRecord {
            trace,
            declarations,
            diagnostics,
            exit,
        };
        let options = ClassifyOptions {
            workspace_root: self.root.clone(),
            external_inputs: Vec::new(),
            runner_paths: vec![self.cache_dir.clone()],
            untracked_envs: Self::untracked_envs(ctx),
        };
        let hasher = Hasher::new(Some(&self.memo), wall_start);
        let classified = fp::classify(&record, &options, &self.env_key, &hasher)
            .map_err(|e| Error::Task(format!("{}: classifying the run: {e}", task.label)))?;
        let mut not_cached: Vec<String> = classified
            .verdict
            .reasons
            .iter()
            .map(ToString::to_string)
            .collect();
        if classified.verdict.is_cacheable() {
            not_cached.push("no cache store in this build".into());
        }
        Ok(Outcome {
            exit_code,
            duration,
            cache: CacheReport::Ran { miss, not_cached },
        })
    }
}

/// Env map of the runner's full environment, as the engine wants it.
pub fn env_map(full: &[(OsString, OsString)]) -> EnvMap {
    full.iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

impl Executor for CachedExecutor {
    fn preview(&self, ctx: &TaskContext<'_>) -> Result<Preview, Error> {
        if ctx.mode == CacheMode::Off {
            return self.direct.preview(ctx);
        }
        if !ctx.task.config.cache_enabled() {
            return Ok(Preview {
                status: "off",
                reasons: vec!["`cache: false` in runwire.json".into()],
            });
        }
        let _ = Self::spawn_description(ctx)?;
        Ok(Preview {
            status: "miss",
            reasons: vec!["no cache store in this build".into()],
        })
    }

    fn execute(&self, ctx: &TaskContext<'_>, out: &mut TaskOutput<'_>) -> Result<Outcome, Error> {
        if ctx.mode == CacheMode::Off {
            return self.direct.execute(ctx, out);
        }
        let spawn = Self::spawn_description(ctx)?;
        let summary = spawn.summarize(&self.env_key);
        let _ = summary;
        let miss = vec!["no cache store in this build".into()];
        if !ctx.task.config.cache_enabled() {
            let mut outcome = self.direct.execute(ctx, out)?;
            outcome.cache = CacheReport::Off {
                reason: "`cache: false` in runwire.json".into(),
            };
            return Ok(outcome);
        }
        self.run_traced(ctx, out, miss)
    }
}
