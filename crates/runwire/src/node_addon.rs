//! The Node addon handed to every traced task: embedded in the `runwire` binary by build.rs
//! (so a binary copied alone still has it; a build without it looks beside the binary, where
//! the same `cargo build` puts it), materialized once per process in the per-user 0700
//! artifact directory as `runwire-node-<hash>.node` (vite's loader requires the `.node`
//! suffix and an absolute path), and named in the child's env:
//!
//! - `RUNWIRE_NODE_ADDON`: read by the npm package `runwire`;
//! - `VP_RUN_NODE_CLIENT_PATH`: read by vite-task's client, which vite 8 bundles, so an
//!   unmodified vite declares its envs and private dirs. `RUNWIRE_VITE_COMPAT=0` in the
//!   runner's env leaves this one out (to compare with and without, or to opt out).
//!
//! A missing or unusable addon never fails a run: the task runs without it (its tools fall
//! back to no-op clients), and a run in which a Node runtime was exec'd (seen in the trace)
//! is not cached, since its tools could not declare the envs they read. One note goes to
//! stderr, but only for a task that can run a Node package (a `node_modules` directory
//! between its package and the workspace root): elsewhere it would be noise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::exec::TaskContext;

/// Read by the npm package `runwire`.
pub const ADDON_ENV: &str = "RUNWIRE_NODE_ADDON";
/// Read by vite-task's Node client (bundled in vite 8).
pub const VITE_TASK_ENV: &str = "VP_RUN_NODE_CLIENT_PATH";
/// `0` (or `false`/`off`/`no`) in the runner's env: do not set [`VITE_TASK_ENV`].
pub const COMPAT_SWITCH_ENV: &str = "RUNWIRE_VITE_COMPAT";

/// The `Hello.client_name` of the addon's vite-task compatibility object (what `load()`
/// returns, which vite 8 calls); the npm package's object sends its own name. Kept in step
/// with `clients/node/src/lib.rs`.
pub const COMPAT_CLIENT_NAME: &str = "vite-task compat (runwire Node addon)";

/// The cdylib's file name as cargo writes it.
const BUILT_NAME: &str = "librunwire_node.so";

/// The addon built by build.rs; empty when the build left it out.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/librunwire_node.so"));

/// The variables to add to a task's strict env: both names pointing at the materialized
/// addon, or only `RUNWIRE_NODE_ADDON` when compatibility is switched off, or nothing when
/// the addon is unavailable (said once per process on stderr).
pub fn child_env(ctx: &TaskContext<'_>) -> Vec<(OsString, OsString)> {
    let package_dir = &ctx.ws.packages[ctx.task.package].dir;
    let Some(path) = materialized(|| uses_node_modules(package_dir, &ctx.ws.root)) else {
        return Vec::new();
    };
    let mut vars = vec![(ADDON_ENV.into(), path.clone().into_os_string())];
    if compat_enabled(ctx.full_env) {
        vars.push((VITE_TASK_ENV.into(), path.into_os_string()));
    }
    vars
}

/// Whether the runner's env leaves vite-task compatibility on (the default).
pub fn compat_enabled(runner_env: &[(OsString, OsString)]) -> bool {
    let value = runner_env
        .iter()
        .rev()
        .find(|(name, _)| name == COMPAT_SWITCH_ENV)
        .map(|(_, value)| value.to_string_lossy().to_ascii_lowercase());
    !matches!(value.as_deref(), Some("0" | "false" | "off" | "no"))
}

/// The addon's materialized path or why there is none, computed once per process.
static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Why the addon is unavailable to the tasks started so far (`None`: it is available, or
/// no task asked for it yet).
pub fn unavailable() -> Option<String> {
    PATH.get().and_then(|r| r.as_ref().err().cloned())
}

/// The addon's materialized path. When it is unavailable, the note is printed the first
/// time `relevant()` says a task could have used it.
fn materialized(relevant: impl FnOnce() -> bool) -> Option<PathBuf> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    match PATH.get_or_init(locate_and_materialize) {
        Ok(path) => Some(path.clone()),
        Err(reason) => {
            if !NOTED.load(Ordering::Relaxed) && relevant() && !NOTED.swap(true, Ordering::Relaxed)
            {
                eprintln!(
                    "runwire: note: the Node client addon is unavailable ({reason}); Node tools run without it and cannot declare envs or ignored paths"
                );
            }
            None
        }
    }
}

/// Whether a `node_modules` directory with an installed package exists in `package_dir` or
/// an ancestor up to `root` (`.cache` alone does not count: the runner's own cache lives in
/// `node_modules/.cache/runwire`).
fn uses_node_modules(package_dir: &Path, root: &Path) -> bool {
    package_dir
        .ancestors()
        .take_while(|dir| dir.starts_with(root))
        .any(|dir| {
            std::fs::read_dir(dir.join("node_modules")).is_ok_and(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|entry| entry.file_name() != ".cache")
            })
        })
}

fn locate_and_materialize() -> Result<PathBuf, String> {
    let bytes = if EMBEDDED.is_empty() {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot locate the runwire binary: {e}"))?;
        let built = beside(&exe);
        std::borrow::Cow::Owned(
            std::fs::read(&built).map_err(|e| format!("{}: {e}", built.display()))?,
        )
    } else {
        std::borrow::Cow::Borrowed(EMBEDDED)
    };
    runwire_artifact::materialize(
        &runwire_artifact::artifact_dir(),
        "runwire-node",
        ".node",
        &bytes,
    )
    .map_err(|e| format!("{e} [{}]", e.code()))
}

/// Where the build puts the addon relative to the binary: the same directory (cargo's
/// `target/<profile>/`); a `deps/` parent covers binaries run from `target/<profile>/deps`.
fn beside(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let here = dir.join(BUILT_NAME);
    if !here.exists() && dir.file_name().is_some_and(|n| n == "deps") {
        if let Some(up) = dir.parent() {
            return up.join(BUILT_NAME);
        }
    }
    here
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn compat_is_on_unless_switched_off() {
        assert!(compat_enabled(&env(&[])));
        assert!(compat_enabled(&env(&[("RUNWIRE_VITE_COMPAT", "1")])));
        for off in ["0", "false", "OFF", "no"] {
            assert!(
                !compat_enabled(&env(&[("RUNWIRE_VITE_COMPAT", off)])),
                "{off}"
            );
        }
    }

    #[test]
    fn node_modules_is_searched_up_to_the_root_only() {
        let root = tempfile::tempdir().unwrap();
        let pkg = root.path().join("packages/app");
        std::fs::create_dir_all(&pkg).unwrap();
        assert!(!uses_node_modules(&pkg, root.path()));
        std::fs::create_dir_all(root.path().join("node_modules/.cache/runwire")).unwrap();
        assert!(!uses_node_modules(&pkg, root.path()));
        std::fs::create_dir(root.path().join("node_modules/vite")).unwrap();
        assert!(uses_node_modules(&pkg, root.path()));
        // Above the root does not count.
        assert!(!uses_node_modules(&pkg, &root.path().join("packages")));
    }

    #[test]
    fn addon_is_looked_up_beside_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("runwire");
        assert_eq!(beside(&exe), dir.path().join(BUILT_NAME));
        let deps = dir.path().join("deps");
        std::fs::create_dir(&deps).unwrap();
        assert_eq!(beside(&deps.join("e2e-123")), dir.path().join(BUILT_NAME));
    }
}
