//! The engine's input model: what a run looked like, independent of any producer.
//!
//! What tools declared is the shared vocabulary of `runwire-model` ([`Declaration`],
//! [`EnvSelector`]), produced by the protocol server and taken as is; the CLI converts
//! `runwire_trace::Trace` into [`TraceModel`] with a small adapter (1:1, see the crate docs).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use runwire_model::{Declaration, EnvSelector, EnvValue};

use crate::fingerprint::PathFact;
use crate::glob::PathGlob;
use crate::path::RelPath;

/// One kind of file-system access, as the tracer saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Content read (open for reading, mmap, exec).
    Read,
    /// Metadata read of an existing path (stat, access, readlink).
    Stat,
    /// A lookup that found nothing (ENOENT).
    NotFound,
    /// A directory listing, with the names seen.
    ListDir(BTreeSet<OsString>),
    /// Content written to an existing file.
    Write,
    /// The path was created (file, directory, symlink).
    Create,
    /// Truncated.
    Truncate,
    /// Deleted (unlink, rmdir).
    Delete,
    /// Source of a rename (the path no longer exists afterwards).
    RenameFrom,
    /// Target of a rename (the path now exists with new content).
    RenameTo,
}

impl Access {
    /// True for kinds that observe the path's prior state.
    pub fn is_observation(&self) -> bool {
        matches!(
            self,
            Self::Read | Self::Stat | Self::NotFound | Self::ListDir(_)
        )
    }

    /// True for kinds that change the path.
    pub fn is_change(&self) -> bool {
        !self.is_observation()
    }
}

/// The accesses to one path: the first one, and the set of kinds seen after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathAccess {
    pub first: Access,
    pub later: BTreeSet<Access>,
}

impl PathAccess {
    pub fn new(first: Access) -> Self {
        Self {
            first,
            later: BTreeSet::new(),
        }
    }

    /// Every kind, first included.
    pub fn all(&self) -> impl Iterator<Item = &Access> {
        std::iter::once(&self.first).chain(self.later.iter())
    }
}

/// The whole trace of a task run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceModel {
    /// Per absolute, lexically normalized path.
    pub accesses: BTreeMap<PathBuf, PathAccess>,
    /// False when the tracer knows it missed accesses (static binary, lost events...).
    pub complete: bool,
    /// Why the trace is incomplete.
    pub incomplete_reasons: Vec<String>,
    /// Absolute paths of the programs the task exec'd or spawned (rule 13).
    pub programs: Vec<PathBuf>,
}

/// A problem the protocol server recorded (bad report, unknown message, lingering connection).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub code: String,
    pub message: String,
}

/// How the task's process ended.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == Self::Code(0)
    }
}

/// Everything known about one finished run.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub trace: TraceModel,
    pub declarations: Vec<Declaration>,
    pub diagnostics: Vec<Diagnostic>,
    pub exit: ExitStatus,
}

/// Settings of classification that come from the runner and the user's config.
#[derive(Clone, Debug)]
pub struct ClassifyOptions {
    /// Absolute, normalized workspace root.
    pub workspace_root: PathBuf,
    /// Absolute paths outside the workspace the user listed as inputs (prefixes).
    pub external_inputs: Vec<PathBuf>,
    /// Paths the runner owns (its cache dir): neither inputs nor outputs, and hidden from
    /// listings of their parents.
    pub runner_paths: Vec<PathBuf>,
    /// Env names the user declared untracked / pass-through: the user's config wins, so a
    /// tool's tracked request for them is not fingerprinted.
    pub untracked_envs: BTreeSet<Vec<u8>>,
    /// Env-name globs the user declared untracked (the env-name glob of
    /// `runwire_model::glob`, like [`EnvSelector::Glob`]): kept as patterns, not expanded into the names present at run
    /// time, so a variable that appears later and matches one stays untracked.
    pub untracked_env_patterns: Vec<Vec<u8>>,
    /// Tool state (spec/fingerprint.md rule 9): files a tool reads and rewrites to remember
    /// its own work (`*.tsbuildinfo`, `__pycache__`...). [`BUILTIN_TOOL_STATE`] plus the
    /// user's `toolState` globs.
    pub tool_state: Vec<PathGlob>,
    /// Absolute directories outside the workspace where a task may write without the run
    /// becoming uncacheable: temp dirs and tool caches ([`scratch_outside_workspace`]) plus
    /// the user's list. Writes there are neither inputs nor outputs.
    pub scratch_outside: Vec<PathBuf>,
    /// When the task was spawned, by the coarse clock file timestamps come from: an input
    /// file whose ctime is at or after it changed while the task ran (rule 10). `None`
    /// skips the check (classification of a synthetic trace).
    pub spawned_at: Option<SystemTime>,
    /// What the tool-state files the task touched on earlier runs held just before this
    /// run ([`crate::classify::observe_tool_state`]): a run that finds tool state and
    /// rewrites it depends on what it found (rule 9), which after the run is gone.
    pub prior_tool_state: BTreeMap<RelPath, PathFact>,
}

/// Tool state every workspace has (spec/fingerprint.md rule 9), matched at any depth.
pub const BUILTIN_TOOL_STATE: &[&str] = &[
    "**/*.tsbuildinfo",
    "**/__pycache__/**",
    "node_modules/.vite/vitest/**",
    ".eslintcache",
    "node_modules/.cache/**",
    ".pytest_cache/**",
    ".mypy_cache/**",
    ".ruff_cache/**",
    ".next/cache/**",
];

/// Tool state that is a cache of whole files, each judged fresh by its tool on its own and,
/// when stale, replaced without its old body being used (spec/fingerprint.md rule 9):
/// Python checks a `.pyc` against its source's stat, recorded in its header. Found and
/// rewritten, such a file is an output only; its prior content shaped nothing.
pub const SELF_VALIDATING_TOOL_STATE: &[&str] = &["**/__pycache__/**"];

/// Other task runners' private directories: left out of listings wherever they appear, like
/// runwire's own cache dir, so running turbo or nx beside runwire changes no fingerprint.
pub const OTHER_RUNNER_DIRS: &[&str] = &[".turbo", ".nx"];

/// Where tasks write outside the workspace as a matter of course (spec/fingerprint.md,
/// "Writes outside the workspace"): temp locations and the caches of package managers and
/// compilers. `home` and `tmpdir` come from the runner's environment.
pub fn scratch_outside_workspace(home: Option<&Path>, tmpdir: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["/tmp", "/var/tmp", "/dev", "/proc"]
        .iter()
        .map(PathBuf::from)
        .collect();
    out.extend(tmpdir.map(Path::to_path_buf));
    if let Some(home) = home {
        for rel in HOME_TOOL_CACHES {
            out.push(home.join(rel));
        }
    }
    out
}

/// Tool caches under `$HOME` (spec/fingerprint.md and README list the same).
pub const HOME_TOOL_CACHES: &[&str] = &[
    ".cache/go-build",
    "go/pkg/mod",
    ".cache/pip",
    ".cache/uv",
    ".npm",
    ".yarn",
    ".cache/yarn",
    ".local/share/pnpm",
    ".cache/pnpm",
    ".pnpm-store",
    ".cache/node/corepack",
    ".node-gyp",
    ".cache/node-gyp",
    ".cargo/registry",
    ".cargo/git",
    ".cargo/.package-cache",
    ".cargo/.package-cache-mutate",
    ".cargo/.global-cache",
    ".cache/typescript",
    ".cache/ms-playwright",
    ".bun/install/cache",
];

impl ClassifyOptions {
    /// Options with the built-in tool state and nothing else configured.
    pub fn new(workspace_root: PathBuf) -> Self {
        Self {
            workspace_root,
            external_inputs: Vec::new(),
            runner_paths: Vec::new(),
            untracked_envs: BTreeSet::new(),
            untracked_env_patterns: Vec::new(),
            tool_state: builtin_tool_state(),
            scratch_outside: Vec::new(),
            spawned_at: None,
            prior_tool_state: BTreeMap::new(),
        }
    }

    /// True when `path` (workspace-relative) is tool state.
    pub fn is_tool_state(&self, path: &str) -> bool {
        self.tool_state.iter().any(|g| g.matches(path))
    }

    /// True when `path` is tool state its tool validates file by file
    /// ([`SELF_VALIDATING_TOOL_STATE`]).
    pub fn is_self_validating_tool_state(path: &str) -> bool {
        static GLOBS: std::sync::LazyLock<Vec<PathGlob>> = std::sync::LazyLock::new(|| {
            SELF_VALIDATING_TOOL_STATE
                .iter()
                .map(|p| PathGlob::new(p).expect("built-in globs are valid"))
                .collect()
        });
        GLOBS.iter().any(|g| g.matches(path))
    }

    /// True when the user's config makes `name` untracked (by name or by pattern).
    pub fn is_untracked(&self, name: &[u8]) -> bool {
        self.untracked_envs.contains(name) || matches_any(&self.untracked_env_patterns, name)
    }
}

/// [`BUILTIN_TOOL_STATE`], parsed.
pub fn builtin_tool_state() -> Vec<PathGlob> {
    BUILTIN_TOOL_STATE
        .iter()
        .map(|p| PathGlob::new(p).expect("built-in tool-state globs are valid"))
        .collect()
}

/// True when `name` matches one of the env-name globs.
pub(crate) fn matches_any(patterns: &[Vec<u8>], name: &[u8]) -> bool {
    patterns.iter().any(|p| crate::glob::match_bytes(p, name))
}
