//! After a run: recording the task's history and storing its result, and `--verify`'s
//! comparison of a fresh result with the cached one.

use std::time::{Duration, SystemTime};

use runwire_cache::{NewEntry, StdioChunk};
use runwire_fingerprint::{self as fp, Hasher, SpawnSummary};

use super::{CachedExecutor, from_cache_stream};
use crate::exec::{Reason, TaskContext};
use crate::output::{Stream, TaskOutput};

impl CachedExecutor {
    /// Records history and, when nothing stands in the way, stores the run; a failure to
    /// store is one more "not cached" reason, never a failed task.
    pub(super) fn store(
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
            // Started before any output is read: the racy rule's reference.
            let hasher = Hasher::new(Some(&self.memo), SystemTime::now());
            let entry = NewEntry {
                spawn_key: summary.spawn_key,
                fingerprint: &classified.fingerprint,
                outputs: &classified.outputs,
                workspace_root: &self.root,
                stdio: &stdio,
                run_time: Some(duration),
                remember: Some(&hasher),
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

    /// `--verify`: how the fresh run differs from what `entry` would have restored and
    /// replayed: output paths (content, mode, kind, presence, and outputs only one side
    /// wrote) and the recorded stdout and stderr, durations masked.
    pub(super) fn verify(
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
}
