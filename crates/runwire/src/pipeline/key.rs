//! The spawn key of a task: what was spawned, where, with which declared env and which
//! runwire.json settings (spec/fingerprint.md, "Spawn key").

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use runwire_fingerprint::{RelPath, SpawnDescription};

use super::CachedExecutor;
use crate::env::TaskEnv;
use crate::error::Error;
use crate::exec::TaskContext;

impl CachedExecutor {
    /// The spawn description: `sh -c <command>` in the task's cwd with the values of the
    /// user-declared env.
    pub(super) fn spawn_description(
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
            .map_err(|e| Error::TaskSettings(format!("{}: working directory: {e}", task.label)))?;
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
}
