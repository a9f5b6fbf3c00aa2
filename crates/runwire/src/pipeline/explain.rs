//! `runwire explain`: every cached variant of a task with every difference from now.

use std::time::SystemTime;

use runwire_fingerprint::Hasher;

use super::lookup::miss_reasons;
use super::{CachedExecutor, task_env};
use crate::error::Error;
use crate::exec::TaskContext;

impl CachedExecutor {
    /// Every variant under the task's key with its differences, or why there is none.
    pub(super) fn explain_variants(&self, ctx: &TaskContext<'_>) -> Result<Vec<String>, Error> {
        let task_env = task_env(ctx)?;
        let summary = Self::spawn_description(ctx, &task_env)?.summarize(&self.env_key);
        let patterns = task_env.untracked().globs();
        let world = self.world(&patterns);
        let hasher = Hasher::new(Some(&self.memo), SystemTime::now());
        let cache = self.cache();
        let entries = cache
            .lookup(&summary.spawn_key)
            .map_err(|source| self.cache_error(source))?;
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
