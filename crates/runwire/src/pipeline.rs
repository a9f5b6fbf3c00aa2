//! The cached, traced executor: design.md "Data flow of `runwire run build`", steps 2-7.
//!
//! spawn key -> look up entries -> validate every variant -> hit: replay output, restore
//! files. Miss: start the protocol server (answering from the runner's full env; the task's
//! untracked policy is the engine's to apply), spawn the command under the tracer with the
//! strict env + `RUNWIRE_SOCKET`, wait, drain the server, adapt the trace, classify, store.
//! Every miss reason is reported, and when the run is not stored, every reason why not.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use runwire_cache::{Cache, CacheOptions, Lookup, NewEntry, StdioChunk};
use runwire_fingerprint::{
    self as fp, ClassifyOptions, Declaration, EnvKey, EnvMap, HashMemo, Hasher, RelPath, RunRecord,
    SpawnDescription, SpawnExplanation, SpawnSummary, World,
};
use runwire_server::{Server, ServerConfig};
use runwire_trace::TracedCommand;

use crate::adapt;
use crate::env::TaskEnv;
use crate::error::Error;
use crate::exec::{self, CacheMode, CacheReport, Executor, Outcome, Preview, Reason, TaskContext};
use crate::globs::Patterns;
use crate::output::{Stream, TaskOutput};
use crate::plan::PlannedTask;
use crate::remote::{self, RemoteSetup};

/// How long the server may drain connections after the task's process exits.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Runs tasks traced, serves the protocol, and caches results.
#[derive(Debug)]
pub struct CachedExecutor {
    root: PathBuf,
    cache_dir: PathBuf,
    /// rusqlite connections are not `Sync`; cache operations are short, so tasks take turns.
    cache: Mutex<Cache>,
    env_key: EnvKey,
    memo: HashMemo,
    /// The runner's full environment as the engine and the server want it.
    env: EnvMap,
    /// `cache: false` tasks run here.
    served: ServedExecutor,
    /// The shared remote cache, when configured (README "Remote cache").
    remote: Option<RemoteSetup>,
}

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
fn run_untraced(
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

/// A task's env configuration, read once per task: the child's environment, the spawn key's
/// tracked values and the untracked policy all come from it.
fn task_env(ctx: &TaskContext<'_>) -> Result<TaskEnv, Error> {
    TaskEnv::new(&ctx.task.config)
        .map_err(|e| Error::Task(format!("{}: tasks.{}.{e}", ctx.task.label, ctx.task.task)))
}

/// Starts the protocol server for a task and returns it with the variables that point the
/// task at it. It answers from the runner's full env and records every tracked request: the
/// user's untracked policy is applied once, by the engine ([`CachedExecutor::classify_options`]).
fn start_server(
    ctx: &TaskContext<'_>,
    env: &EnvMap,
) -> Result<(runwire_server::RunningServer, Vec<(OsString, OsString)>), Error> {
    let server_config =
        ServerConfig::new(env.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let server = Server::start(server_config).map_err(|e| {
        Error::Task(format!(
            "{}: protocol server: {e} [{}]",
            ctx.task.label,
            e.code()
        ))
    })?;
    let socket: OsString = server.socket_path().as_os_str().to_owned();
    let mut extra = vec![("RUNWIRE_SOCKET".into(), socket)];
    extra.extend(crate::node_addon::child_env(ctx));
    Ok((server, extra))
}

/// Why a lookup found nothing usable, every reason.
fn miss_reasons(
    cache: &Cache,
    task: &PlannedTask,
    summary: &SpawnSummary,
    variants: &[runwire_cache::VariantMiss],
    world: &World<'_>,
    hasher: &Hasher<'_>,
) -> Vec<Reason> {
    // The closest variant (fewest differences) explains the miss best.
    if let Some(first) = variants.iter().min_by_key(|v| v.differences.len()) {
        let mut reasons: Vec<Reason> = first.differences.iter().map(Reason::of).collect();
        if variants.len() > 1 {
            reasons.push(Reason::runner(
                "other_variants_differ",
                format!(
                    "{} other cached variant(s) differ too (`runwire explain {}` lists them)",
                    variants.len() - 1,
                    task.task
                ),
            ));
        }
        return reasons;
    }
    match cache.explain(&task.package_rel, &task.task, summary) {
        Ok(SpawnExplanation::NoHistory) => vec![Reason::runner(
            "no_history",
            "no cached run of this task yet",
        )],
        Ok(SpawnExplanation::SameSpawn) => vec![Reason::runner(
            "not_cached_before",
            "no cached result for this command (earlier runs were not cached)",
        )],
        Ok(SpawnExplanation::Changed(differences)) if !differences.is_empty() => {
            let mut reasons: Vec<Reason> = differences.iter().map(Reason::of).collect();
            // The spawn changed, but the files and tool envs may have changed too: compare
            // with the closest variant of the previous spawn so every reason is listed.
            reasons.extend(previous_spawn_differences(cache, task, world, hasher));
            reasons
        }
        Ok(SpawnExplanation::Changed(_)) => vec![Reason::runner(
            "no_entry",
            "no cached result for this command",
        )],
        Err(e) => vec![Reason::runner(
            "history_unreadable",
            format!("task history unreadable: {e}"),
        )],
    }
}

/// Differences between now and the closest variant stored under the task's previous spawn
/// key (none when there is no such variant).
fn previous_spawn_differences(
    cache: &Cache,
    task: &PlannedTask,
    world: &World<'_>,
    hasher: &Hasher<'_>,
) -> Vec<Reason> {
    let Some(previous) = cache
        .history(&task.package_rel, &task.task)
        .ok()
        .and_then(|h| h.into_iter().next())
    else {
        return Vec::new();
    };
    let entries = cache.lookup(&previous.spawn_key).unwrap_or_default();
    entries
        .iter()
        .map(|e| e.fingerprint.validate(world, hasher))
        .min_by_key(Vec::len)
        .unwrap_or_default()
        .iter()
        .map(Reason::of)
        .collect()
}

/// Where a lookup may look.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// Local entries, then the remote's (a valid remote entry is downloaded and stored).
    LocalAndRemote,
    /// Local entries; the remote is only asked whether it holds a valid one (dry runs must
    /// not change the cache).
    LocalOnly,
}

/// What a lookup found.
enum Found {
    Hit(Box<runwire_cache::StoredEntry>),
    /// A valid entry is in the remote cache, not fetched ([`Fetch::LocalOnly`]).
    InRemote,
    Miss(Vec<Reason>),
}

impl CachedExecutor {
    /// Opens the cache in `cache_dir` for the workspace at `root`.
    pub fn open(
        root: &Path,
        cache_dir: PathBuf,
        full_env: &[(OsString, OsString)],
        remote: Option<RemoteSetup>,
    ) -> Result<Self, Error> {
        // With a remote, env hashes use the key every machine sharing it has.
        let options = CacheOptions {
            shared_env_key: remote.as_ref().map(|r| r.key.clone()),
            ..CacheOptions::default()
        };
        let cache = Cache::open(&cache_dir, options)
            .map_err(|e| Error::Cache(format!("{}: {e}", cache_dir.display())))?;
        let env_key = cache.env_key().clone();
        let memo = cache
            .load_memo()
            .map_err(|e| Error::Cache(format!("{}: {e}", cache_dir.display())))?;
        Ok(Self {
            root: root.to_owned(),
            cache_dir,
            cache: Mutex::new(cache),
            env_key,
            memo,
            env: env_map(full_env),
            served: ServedExecutor::new(full_env, "`cache: false` in runwire.json"),
            remote,
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spawn description: `sh -c <command>` in the task's cwd with the values of the
    /// user-declared env.
    fn spawn_description(
        ctx: &TaskContext<'_>,
        task_env: &TaskEnv,
    ) -> Result<SpawnDescription, Error> {
        let task = ctx.task;
        let cwd_rel = if task.cwd_rel == "." {
            String::new()
        } else {
            task.cwd_rel.clone()
        };
        let cwd = RelPath::parse(&cwd_rel)
            .map_err(|e| Error::Task(format!("{}: working directory: {e}", task.label)))?;
        let mut declared_env: BTreeMap<Vec<u8>, Option<Vec<u8>>> = task_env
            .tracked(ctx.full_env)
            .into_iter()
            .map(|(n, v)| (n.into_vec(), v.map(OsString::into_vec)))
            .collect();
        // The compat switch decides whether vite-task clients (vite 8) reach the runner at
        // all, so runs with and without it must never share entries. Normalized, so every
        // spelling of "on" is one key.
        let compat = crate::node_addon::compat_enabled(ctx.full_env);
        declared_env.insert(
            crate::node_addon::COMPAT_SWITCH_ENV.as_bytes().to_vec(),
            Some(if compat {
                b"on".to_vec()
            } else {
                b"off".to_vec()
            }),
        );
        Ok(SpawnDescription {
            program: "sh".into(),
            args: vec!["-c".into(), task.command.clone().into()],
            cwd,
            declared_env,
            config: Self::config_in_key(&task.config),
        })
    }

    /// The runwire.json fields that shape the run or its fingerprint, as the spawn key
    /// takes them (spec/fingerprint.md, "Spawn key"); `command` and `cwd` are already in it.
    fn config_in_key(config: &crate::config::TaskConfig) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (field, list) in [
            ("inputs", &config.inputs),
            ("outputs", &config.outputs),
            ("env", &config.env),
            ("passThroughEnv", &config.pass_through_env),
            ("toolState", &config.tool_state),
            ("outsideWrites", &config.outside_writes),
        ] {
            if !list.is_empty() {
                out.insert(field.to_owned(), list.clone());
            }
        }
        if let Some(cache) = config.cache {
            out.insert("cache".to_owned(), vec![cache.to_string()]);
        }
        out
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
                    Error::Task(format!(
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

    /// Looks the task up, in the remote cache too when one is set up.
    fn lookup(
        &self,
        ctx: &TaskContext<'_>,
        task_env: &TaskEnv,
        summary: &SpawnSummary,
        fetch: Fetch,
    ) -> Result<Found, Error> {
        let patterns = task_env.untracked().globs();
        let world = World {
            workspace_root: &self.root,
            env: &self.env,
            env_key: &self.env_key,
            salts: &std::collections::BTreeMap::new(),
            untracked_env_patterns: &patterns,
        };
        let hasher = Hasher::new(Some(&self.memo), SystemTime::now());
        let remote = self.remote.as_ref().map(|r| &r.cache);
        // The cache is locked step by step, never across a remote call: with -j > 1 the
        // other jobs' lookups and stores go on while this one waits for the network.
        let found = runwire_cache::find_hit_with_remote(
            || self.cache(),
            &summary.spawn_key,
            &world,
            &hasher,
            remote.filter(|_| fetch == Fetch::LocalAndRemote),
            self.remote.as_ref().is_none_or(|r| r.lookup_local),
        )
        .map(|(lookup, _source)| lookup);
        if fetch == Fetch::LocalOnly
            && matches!(found, Ok(Lookup::Miss(_)))
            && remote.is_some_and(|r| {
                runwire_cache::Cache::remote_would_hit(&summary.spawn_key, &world, &hasher, r)
            })
        {
            return Ok(Found::InRemote);
        }
        if let Some(r) = &self.remote {
            remote::warn_once(&r.cache);
        }
        match found {
            Ok(Lookup::Hit(entry)) => Ok(Found::Hit(entry)),
            Ok(Lookup::Miss(variants)) => Ok(Found::Miss(miss_reasons(
                &self.cache(),
                ctx.task,
                summary,
                &variants,
                &world,
                &hasher,
            ))),
            Err(e) if e.is_miss() => Ok(Found::Miss(vec![Reason::runner(
                "unusable_entry",
                e.to_string(),
            )])),
            Err(e) => Err(Error::Cache(e.to_string())),
        }
    }

    /// Records history and, when nothing stands in the way, stores the run; a failure to
    /// store is one more "not cached" reason, never a failed task.
    fn store(
        &self,
        ctx: &TaskContext<'_>,
        summary: &SpawnSummary,
        classified: &fp::Classified,
        out: &mut TaskOutput<'_>,
        duration: Duration,
        not_cached: &mut Vec<Reason>,
    ) {
        let task = ctx.task;
        let cache = self.cache();
        // History explains the next miss ("command changed"), cached or not.
        if let Err(e) = cache.record_history(&task.package_rel, &task.task, summary) {
            not_cached.push(Reason::runner(
                "history_not_written",
                format!("task history not written: {e}"),
            ));
        }
        let tool_state = classified.tool_state.iter().map(fp::RelPath::as_str);
        if let Err(e) = cache.record_tool_state(&task.package_rel, &task.task, tool_state) {
            not_cached.push(Reason::runner(
                "tool_state_not_written",
                format!("the task's tool state paths not written: {e}"),
            ));
        }
        if not_cached.is_empty() {
            let stdio: Vec<StdioChunk> = out
                .take_recorded()
                .into_iter()
                .map(|(stream, data)| StdioChunk {
                    stream: match stream {
                        Stream::Stdout => runwire_cache::Stream::Stdout,
                        Stream::Stderr => runwire_cache::Stream::Stderr,
                    },
                    data,
                })
                .collect();
            let entry = NewEntry {
                spawn_key: summary.spawn_key,
                fingerprint: &classified.fingerprint,
                outputs: &classified.outputs,
                workspace_root: &self.root,
                stdio: &stdio,
                run_time: Some(duration),
            };
            match cache.store(&entry) {
                Ok(id) => {
                    // Write-through: the upload runs on its own thread while later tasks
                    // run; a failed upload is never a failed task.
                    if let Some(r) = &self.remote
                        && let Ok(Some(job)) = cache.upload_job(&summary.spawn_key, id)
                    {
                        r.cache.upload(job);
                    }
                }
                Err(e) => not_cached.push(Reason::runner(
                    "store_failed",
                    format!("storing failed: {e}"),
                )),
            }
        }
    }

    fn run_traced(
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
        let spawned_at = crate::clock::spawn_instant();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e @ runwire_trace::TraceError::Spawn { .. }) => {
                return Err(Error::Task(format!(
                    "{}: cannot start: {e} [{}]",
                    task.label,
                    e.code()
                )));
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
        let finished = child
            .wait()
            .map_err(|e| Error::Task(format!("{}: {e} [{}]", task.label, e.code())))?;
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
        let classified = fp::classify(&record, &options, &self.env_key, &hasher)
            .map_err(|e| Error::Task(format!("{}: classifying the run: {e}", task.label)))?;
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
                "the protocol server could not start, the task ran untraced with the whole environment: {cause}"
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

    /// `--verify`: how the fresh run differs from what `entry` would have restored and
    /// replayed: output paths (content, mode, kind, presence, and outputs only one side
    /// wrote) and the recorded stdout and stderr, durations masked.
    fn verify(
        &self,
        entry: &runwire_cache::StoredEntry,
        fresh: &fp::Classified,
        out: &TaskOutput<'_>,
    ) -> Vec<String> {
        let (mut differences, cached_stdio) = match self.cache().verify_against(entry, &self.root) {
            Ok(found) => found,
            Err(e) => return vec![format!("the cached result cannot be read: {e}")],
        };
        for p in &fresh.outputs.paths {
            if !entry.manifest.items.contains_key(p.as_str()) {
                differences.push(format!(
                    "{p}: written by the fresh run, not by the cached one"
                ));
            }
        }
        // One stream's bytes, in order, durations masked.
        let joined = |chunks: &[(Stream, &[u8])], want: Stream| {
            let all: Vec<u8> = chunks
                .iter()
                .filter(|(s, _)| *s == want)
                .flat_map(|(_, data)| data.iter().copied())
                .collect();
            crate::output::mask_durations(&String::from_utf8_lossy(&all))
        };
        let cached: Vec<(Stream, &[u8])> = cached_stdio
            .iter()
            .map(|c| (from_cache_stream(c.stream), c.data.as_slice()))
            .collect();
        let now: Vec<(Stream, &[u8])> = out
            .recorded()
            .iter()
            .map(|(s, d)| (*s, d.as_slice()))
            .collect();
        for (stream, name) in [(Stream::Stdout, "stdout"), (Stream::Stderr, "stderr")] {
            if joined(&cached, stream) != joined(&now, stream) {
                differences.push(format!("{name} differs (durations ignored)"));
            }
        }
        differences
    }

    /// Replays a hit; `Err(reason)` when the entry turned out unusable (then it is a miss).
    fn replay(
        &self,
        entry: &runwire_cache::StoredEntry,
        out: &mut TaskOutput<'_>,
    ) -> Result<Option<Duration>, String> {
        let restored = self
            .cache()
            .restore_with_memo(entry, &self.root, Some(&self.memo));
        crate::clock::note_workspace_write();
        let restored = restored.map_err(|e| e.to_string())?;
        for chunk in &restored.stdio {
            out.replay(from_cache_stream(chunk.stream), &chunk.data);
        }
        out.finish();
        Ok(entry.run_time)
    }

    /// Every variant under the task's key with its differences, or why there is none.
    fn explain_variants(&self, ctx: &TaskContext<'_>) -> Result<Vec<String>, Error> {
        let task_env = task_env(ctx)?;
        let summary = Self::spawn_description(ctx, &task_env)?.summarize(&self.env_key);
        let patterns = task_env.untracked().globs();
        let world = World {
            workspace_root: &self.root,
            env: &self.env,
            env_key: &self.env_key,
            salts: &std::collections::BTreeMap::new(),
            untracked_env_patterns: &patterns,
        };
        let hasher = Hasher::new(Some(&self.memo), SystemTime::now());
        let cache = self.cache();
        let entries = cache
            .lookup(&summary.spawn_key)
            .map_err(|e| Error::Cache(e.to_string()))?;
        if entries.is_empty() {
            return Ok(
                miss_reasons(&cache, ctx.task, &summary, &[], &world, &hasher)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            );
        }
        let mut lines = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let differences = entry.fingerprint.validate(&world, &hasher);
            if differences.is_empty() {
                lines.push(format!(
                    "variant {}: valid (a run would be a cache hit)",
                    i + 1
                ));
            } else {
                lines.push(format!(
                    "variant {}: {} difference(s)",
                    i + 1,
                    differences.len()
                ));
                lines.extend(differences.iter().map(|d| format!("  {d}")));
            }
        }
        Ok(lines)
    }
}

/// How often a run collects what killed writers left in the cache (a full blob directory
/// walk, so not on every run).
const GC_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Files younger than this may belong to a store still under way.
const GC_MIN_AGE: Duration = Duration::from_secs(3600);

impl CachedExecutor {
    /// Runs `Cache::gc` when the marker file `cli/gc` is older than [`GC_EVERY`] (or
    /// missing), then touches it. Best effort: a failure only leaves garbage for later.
    fn gc_now_and_then(&self) {
        let marker = self.cache_dir.join("cli").join("gc");
        let due = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age >= GC_EVERY);
        if !due {
            return;
        }
        // Touch first: concurrent runners then mostly skip the walk.
        let touched = std::fs::create_dir_all(self.cache_dir.join("cli"))
            .and_then(|()| std::fs::write(&marker, b""));
        if touched.is_ok() {
            let _ = self.cache().gc(GC_MIN_AGE);
        }
    }
}

/// The output stream a recorded chunk was written to.
fn from_cache_stream(s: runwire_cache::Stream) -> Stream {
    match s {
        runwire_cache::Stream::Stdout => Stream::Stdout,
        runwire_cache::Stream::Stderr => Stream::Stderr,
    }
}

fn exit_status(status: std::process::ExitStatus) -> fp::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => fp::ExitStatus::Code(c),
        (None, Some(s)) => fp::ExitStatus::Signal(s),
        (None, None) => fp::ExitStatus::Code(1),
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
            return Ok(Preview {
                status: "off",
                reasons: vec!["--no-cache".into()],
            });
        }
        if !ctx.task.config.cache_enabled() {
            return self.served.preview(ctx);
        }
        if ctx.mode == CacheMode::Force {
            return Ok(Preview {
                status: "miss",
                reasons: vec!["--force".into()],
            });
        }
        let task_env = task_env(ctx)?;
        let summary = Self::spawn_description(ctx, &task_env)?.summarize(&self.env_key);
        Ok(
            match self.lookup(ctx, &task_env, &summary, Fetch::LocalOnly)? {
                Found::Hit(_) => Preview {
                    status: "hit",
                    reasons: Vec::new(),
                },
                Found::InRemote => Preview {
                    status: "hit",
                    reasons: vec![
                        "in the remote cache (a real run downloads it; a dry run does not)".into(),
                    ],
                },
                Found::Miss(reasons) => Preview {
                    status: "miss",
                    reasons: reasons.iter().map(ToString::to_string).collect(),
                },
            },
        )
    }

    fn execute(&self, ctx: &TaskContext<'_>, out: &mut TaskOutput<'_>) -> Result<Outcome, Error> {
        if ctx.mode == CacheMode::Off {
            let mut outcome = self.served.execute(ctx, out)?;
            outcome.cache = CacheReport::Off {
                reason: "--no-cache".into(),
            };
            return Ok(outcome);
        }
        if !ctx.task.config.cache_enabled() {
            return self.served.execute(ctx, out);
        }
        let start = Instant::now();
        let task_env = task_env(ctx)?;
        let summary = Self::spawn_description(ctx, &task_env)?.summarize(&self.env_key);
        let mut verify = None;
        let miss = if ctx.mode == CacheMode::Force {
            vec![Reason::runner("force", "--force")]
        } else if ctx.mode == CacheMode::Verify {
            match self.lookup(ctx, &task_env, &summary, Fetch::LocalAndRemote)? {
                Found::Hit(entry) => {
                    verify = Some(entry);
                    vec![Reason::runner(
                        "verify",
                        "--verify: ran to compare with the cached result",
                    )]
                }
                Found::Miss(reasons) => reasons,
                Found::InRemote => vec![Reason::runner("remote_not_fetched", "not fetched")],
            }
        } else {
            match self.lookup(ctx, &task_env, &summary, Fetch::LocalAndRemote)? {
                Found::Hit(entry) => match self.replay(&entry, out) {
                    Ok(saved) => {
                        return Ok(Outcome {
                            exit_code: 0,
                            duration: start.elapsed(),
                            cache: CacheReport::Hit { saved },
                        });
                    }
                    Err(reason) => vec![Reason::runner("restore_failed", reason)],
                },
                Found::Miss(reasons) => reasons,
                // Only a local-only lookup answers this.
                Found::InRemote => vec![Reason::runner("remote_not_fetched", "not fetched")],
            }
        };
        self.run_traced(ctx, out, &task_env, &summary, miss, verify.as_deref())
    }

    fn explain(&self, ctx: &TaskContext<'_>) -> Result<Vec<String>, Error> {
        if !ctx.task.config.cache_enabled() {
            return Ok(vec!["cache: off (`cache: false` in runwire.json)".into()]);
        }
        self.explain_variants(ctx)
    }

    fn finish(&self) {
        // Remembered hashes make the next validation cheap, and the hits' recency keeps
        // eviction least-recently-used; losing either costs only time.
        let _ = self.cache().save_memo(&self.memo);
        let _ = self.cache().flush();
        self.gc_now_and_then();
        if let Some(r) = &self.remote {
            let report = r.cache.finish(remote::UPLOAD_WAIT);
            remote::warn_once(&r.cache);
            if report.unfinished > 0 {
                eprintln!(
                    "runwire: warning: {} remote cache upload(s) did not finish within {}s and were abandoned",
                    report.unfinished,
                    remote::UPLOAD_WAIT.as_secs()
                );
            }
        }
    }
}
