//! Finding a valid cached result (locally, then in the remote cache) and replaying it, or
//! saying why there is none: every miss reason.

use std::time::{Duration, SystemTime};

use std::sync::PoisonError;

use runwire_cache::{Cache, LocalVariants, Lookup};
use runwire_fingerprint::{Hasher, SpawnExplanation, SpawnKey, SpawnSummary, World};

use super::{CachedExecutor, from_cache_stream};
use crate::env::TaskEnv;
use crate::error::Error;
use crate::exec::{Reason, TaskContext};
use crate::output::TaskOutput;
use crate::plan::PlannedTask;
use crate::remote;

/// Where a lookup may look.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fetch {
    /// Local entries, then the remote's (a valid remote entry is downloaded and stored).
    LocalAndRemote,
    /// Local entries; the remote is only asked whether it holds a valid one (dry runs must
    /// not change the cache).
    LocalOnly,
}

/// What a lookup found.
pub(super) enum Found {
    Hit(Box<runwire_cache::StoredEntry>),
    /// A valid entry is in the remote cache, not fetched ([`Fetch::LocalOnly`]).
    InRemote,
    Miss(Vec<Reason>),
}

impl CachedExecutor {
    /// Looks the task up, in the remote cache too when one is set up.
    pub(super) fn lookup(
        &self,
        ctx: &TaskContext<'_>,
        task_env: &TaskEnv,
        summary: &SpawnSummary,
        fetch: Fetch,
    ) -> Result<Found, Error> {
        let patterns = task_env.untracked().globs();
        let world = self.world(&patterns);
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
            self.local_variants(&summary.spawn_key),
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
            Err(e) => Err(self.cache_error(e)),
        }
    }

    /// Replays a hit; `Err(reason)` when the entry turned out unusable (then it is a miss).
    /// Where this lookup's local variants come from: the rows read ahead for its key, else
    /// the index now (`--remote-only`: none).
    fn local_variants(&self, key: &SpawnKey) -> LocalVariants {
        if !self.looks_up_locally() {
            return LocalVariants::Skip;
        }
        let rows = self
            .prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        rows.map_or(LocalVariants::Query, LocalVariants::Prefetched)
    }

    pub(super) fn replay(
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
}

/// Why a lookup found nothing usable, every reason.
pub(super) fn miss_reasons(
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
