//! The cached, traced executor (ARCHITECTURE.md, "Inside the CLI"), split by phase:
//!
//! - `key`: the task's spawn key (command, cwd, declared env, settings);
//! - `lookup`: validate every cached variant, local then remote; replay a hit, or list
//!   every miss reason;
//! - `run`: on a miss, start the protocol server (answering from the runner's full env;
//!   the task's untracked policy is the engine's to apply), spawn the command under the
//!   tracer with the strict env + `RUNWIRE_SOCKET`, wait, drain the server, adapt the
//!   trace and classify;
//! - `store`: record history and store the run, or say every reason why it is not
//!   stored;
//! - `explain`: every variant's differences, for `runwire explain`;
//! - `served`: tasks that run without caching (`--no-cache`, `cache: false`).

mod explain;
mod key;
mod lookup;
mod run;
mod served;
mod store;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use runwire_cache::{Cache, CacheOptions, EntryRow};
use runwire_fingerprint::{EnvKey, EnvMap, HashMemo, SpawnKey, World};

use self::lookup::{Fetch, Found};
pub use self::served::ServedExecutor;
use crate::env::TaskEnv;
use crate::error::Error;
use crate::exec::{CacheMode, CacheReport, Executor, Outcome, Preview, Reason, TaskContext};
use crate::output::{Stream, TaskOutput};
use crate::remote::{self, RemoteSetup};

/// How long the server may drain connections after the task's process exits.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Runs tasks traced, serves the protocol, and caches results.
#[derive(Debug)]
pub struct CachedExecutor {
    /// Look up, force or verify: the same for every task of the run.
    mode: CacheMode,
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
    /// The index rows of the run's spawn keys, read in one transaction before the run
    /// ([`Executor::prepare`]); a lookup takes its key's rows out.
    prefetched: Mutex<HashMap<SpawnKey, Vec<EntryRow>>>,
}

/// A task's env configuration, read once per task: the child's environment, the spawn key's
/// tracked values and the untracked policy all come from it.
fn task_env(ctx: &TaskContext<'_>) -> Result<TaskEnv, Error> {
    TaskEnv::new(&ctx.task.config).map_err(|e| {
        Error::TaskSettings(format!("{}: tasks.{}.{e}", ctx.task.label, ctx.task.task))
    })
}

impl CachedExecutor {
    /// Opens the cache in `cache_dir` for the workspace at `root`; every task of the run
    /// uses it in `mode`.
    pub fn open(
        mode: CacheMode,
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
        let place = |source| Error::Cache {
            place: cache_dir.display().to_string(),
            source,
        };
        let cache = Cache::open(&cache_dir, options).map_err(place)?;
        let env_key = cache.env_key().clone();
        let memo = cache.load_memo().map_err(place)?;
        Ok(Self {
            mode,
            root: root.to_owned(),
            cache_dir,
            cache: Mutex::new(cache),
            env_key,
            memo,
            env: env_map(full_env),
            served: ServedExecutor::new(full_env, "`cache: false` in runwire.json"),
            remote,
            prefetched: Mutex::new(HashMap::new()),
        })
    }

    /// A cache failure as the CLI's error, naming the cache directory.
    fn cache_error(&self, source: runwire_cache::CacheError) -> Error {
        Error::Cache {
            place: self.cache_dir.display().to_string(),
            source,
        }
    }

    /// Whether lookups read the local cache (not with `--remote-only`).
    fn looks_up_locally(&self) -> bool {
        self.remote.as_ref().is_none_or(|r| r.lookup_local)
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What validation compares an entry with: the workspace, the runner's env and the
    /// task's untracked env patterns.
    fn world<'a>(&'a self, untracked_env_patterns: &'a [Vec<u8>]) -> World<'a> {
        World {
            workspace_root: &self.root,
            env: &self.env,
            env_key: &self.env_key,
            salts: &EMPTY_SALTS,
            untracked_env_patterns,
        }
    }
}

/// Runs carry no salts today; `World` borrows them.
static EMPTY_SALTS: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();

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

/// Env map of the runner's full environment, as the engine wants it.
pub fn env_map(full: &[(OsString, OsString)]) -> EnvMap {
    full.iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

impl Executor for CachedExecutor {
    fn preview(&self, ctx: &TaskContext<'_>) -> Result<Preview, Error> {
        if !ctx.task.config.cache_enabled() {
            return self.served.preview(ctx);
        }
        if self.mode == CacheMode::Force {
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
        if !ctx.task.config.cache_enabled() {
            return self.served.execute(ctx, out);
        }
        let start = Instant::now();
        let task_env = task_env(ctx)?;
        let summary = Self::spawn_description(ctx, &task_env)?.summarize(&self.env_key);
        let mut verify = None;
        let miss = match self.mode {
            CacheMode::Force => vec![Reason::runner("force", "--force")],
            CacheMode::Verify => {
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
            }
            CacheMode::Normal => {
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

    fn prepare(&self, tasks: &[TaskContext<'_>]) {
        // `--force` looks nothing up. A task whose key cannot be made now fails the same
        // way when it runs, which reports it.
        if self.mode == CacheMode::Force || !self.looks_up_locally() {
            return;
        }
        let keys: Vec<SpawnKey> = tasks
            .iter()
            .filter(|ctx| ctx.task.config.cache_enabled())
            .filter_map(|ctx| {
                let task_env = task_env(ctx).ok()?;
                let spawn = Self::spawn_description(ctx, &task_env).ok()?;
                Some(spawn.summarize(&self.env_key).spawn_key)
            })
            .collect();
        // Best effort: without the rows every lookup reads its own.
        if let Ok(rows) = self.cache().prefetch(&keys) {
            *self
                .prefetched
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = rows;
        }
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
