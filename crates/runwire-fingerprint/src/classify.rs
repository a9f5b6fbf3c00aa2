//! Classification of a finished run: trace + declarations + exit + diagnostics ->
//! post-run fingerprint, output set and cacheability with every reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::EnvName;
use crate::error::FingerprintError;
use crate::fingerprint::{
    ContentFact, EnvSetFact, Existence, GlobFact, ListingFact, PathFact, PostRunFingerprint,
};
use crate::hash::{EnvKey, Hasher};
use crate::model::{Access, ClassifyOptions, Declaration, ExitStatus, PathAccess, RunRecord};
use crate::path::{Placement, RelPath, external, normalize_abs, place};

/// Why a run must not be cached. A verdict lists all of them, not the first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotCacheableReason {
    NonZeroExit(ExitStatus),
    DisabledByTool {
        reason: String,
    },
    /// Paths whose prior state was an input and which the task then changed.
    ReadWriteOverlap {
        paths: Vec<RelPath>,
    },
    IncompleteTrace {
        reasons: Vec<String>,
    },
    ProtocolDiagnostic {
        code: String,
        message: String,
    },
    /// A declaration that cannot be honoured (relative path, output outside the workspace,
    /// bad glob).
    InvalidDeclaration {
        detail: String,
    },
    /// A path that cannot be put in canonical form (not UTF-8, not absolute).
    UnsupportedPath {
        path: String,
        why: String,
    },
    /// An input that exists but could not be hashed.
    UnreadableInput {
        path: RelPath,
        error: String,
    },
}

impl fmt::Display for NotCacheableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonZeroExit(ExitStatus::Code(c)) => write!(f, "exited with code {c}"),
            Self::NonZeroExit(ExitStatus::Signal(s)) => write!(f, "killed by signal {s}"),
            Self::DisabledByTool { reason } => write!(f, "a tool disabled caching: {reason}"),
            Self::ReadWriteOverlap { paths } => {
                let shown: Vec<String> = paths.iter().take(10).map(ToString::to_string).collect();
                write!(f, "read and then written by the task: {}", shown.join(", "))?;
                if paths.len() > 10 {
                    write!(f, " and {} more", paths.len() - 10)?;
                }
                Ok(())
            }
            Self::IncompleteTrace { reasons } => write!(
                f,
                "file accesses not fully observed: {}",
                reasons.join("; ")
            ),
            Self::ProtocolDiagnostic { code, message } => {
                write!(f, "protocol problem {code}: {message}")
            }
            Self::InvalidDeclaration { detail } => write!(f, "invalid declaration: {detail}"),
            Self::UnsupportedPath { path, why } => write!(f, "unsupported path {path}: {why}"),
            Self::UnreadableInput { path, error } => {
                write!(f, "input {path} could not be read: {error}")
            }
        }
    }
}

/// The cacheability verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Empty when the run is cacheable; sorted.
    pub reasons: Vec<NotCacheableReason>,
}

impl Verdict {
    pub fn is_cacheable(&self) -> bool {
        self.reasons.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reasons.is_empty() {
            return f.write_str("cacheable");
        }
        f.write_str("not cacheable:")?;
        for r in &self.reasons {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

/// What a cacheable run produced, for the cache to archive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutputSet {
    /// Paths the task changed: archived as their state after the run (file, dir, symlink,
    /// or deleted).
    pub paths: BTreeSet<RelPath>,
    /// Paths a tool reported as outputs: archived with their whole subtree.
    pub trees: BTreeSet<RelPath>,
    /// Directories the task emptied (listed, then deleted everything listed): restore
    /// empties them before writing so no stale file of another variant survives.
    pub emptied_dirs: BTreeSet<RelPath>,
}

/// The result of classifying one run.
#[derive(Clone, Debug)]
pub struct Classified {
    pub fingerprint: PostRunFingerprint,
    pub outputs: OutputSet,
    pub verdict: Verdict,
}

#[derive(Default)]
struct FactRequest {
    content: bool,
    listing: bool,
}

/// Classifies a finished run by the trace rules of spec/fingerprint.md.
// The numbered steps read best in order; each heavy step is its own function.
#[allow(clippy::too_many_lines)]
pub fn classify(
    run: &RunRecord,
    opts: &ClassifyOptions,
    env_key: &EnvKey,
    hasher: &Hasher<'_>,
) -> Result<Classified, FingerprintError> {
    let root = opts.workspace_root.as_path();
    if normalize_abs(root).as_deref() != Some(root) {
        return Err(FingerprintError::BadRoot(root.to_path_buf()));
    }
    let mut reasons: Vec<NotCacheableReason> = Vec::new();
    let runner: Vec<RelPath> = opts
        .runner_paths
        .iter()
        .filter_map(|p| match place(root, p) {
            Placement::Inside(r) => Some(r),
            _ => None,
        })
        .collect();
    let externals: Vec<PathBuf> = opts
        .external_inputs
        .iter()
        .filter_map(|p| normalize_abs(p))
        .collect();

    let (inside, outside) = place_trace(run, root, &runner, &externals, &mut reasons);

    // 2. Emptied directories, on the raw trace (before declarations).
    let emptied = emptied_dirs(&inside);
    let emptied_roots: BTreeSet<RelPath> = emptied
        .iter()
        .filter(|d| !emptied.iter().any(|o| o != *d && d.is_within(o)))
        .cloned()
        .collect();

    // 3. Declarations.
    let Decls {
        ignore_in,
        ignore_out,
        reported_in,
        mut outputs,
        mut fp,
    } = apply_declarations(run, opts, env_key, &mut reasons);
    let under = |list: &[RelPath], r: &RelPath| list.iter().any(|x| r.is_within(x));

    // 4. First-access rules per path.
    let mut requests: BTreeMap<RelPath, FactRequest> = BTreeMap::new();
    let mut overlap: Vec<RelPath> = Vec::new();
    let ruled: Vec<(&RelPath, Vec<&Access>, bool)> = inside
        .iter()
        .map(|(r, a)| (r, *a))
        .chain(outside.iter().map(|(r, a)| (r, *a)))
        .map(|(r, acc)| {
            let (inputs, changed) = path_rule(r, acc, &emptied, &ignore_in, &ignore_out);
            (r, inputs, changed)
        })
        .collect();
    for (r, _, changed) in &ruled {
        if *changed {
            outputs.paths.insert((*r).clone());
        }
    }
    for (r, mut inputs, changed) in ruled {
        if !changed && output_dir_existence_only(root, r, &inputs, &outputs) {
            inputs.clear();
        }
        if !inputs.is_empty() && changed {
            overlap.push(r.clone());
        }
        if !inputs.is_empty() {
            let req = requests.entry(r.clone()).or_default();
            req.content |= inputs.iter().any(|k| matches!(k, Access::Read));
            req.listing |= inputs.iter().any(|k| matches!(k, Access::ListDir(_)));
        }
    }
    for r in reported_in {
        requests.entry(r).or_default().content = true;
    }
    outputs.emptied_dirs = emptied_roots
        .into_iter()
        .chain(created_dirs(root, &inside, &outputs, &ignore_out))
        .filter(|d| !under(&ignore_out, d))
        .collect();
    // Only the outermost: emptying a parent empties its children.
    let all = outputs.emptied_dirs.clone();
    outputs
        .emptied_dirs
        .retain(|d| !all.iter().any(|o| o != d && d.is_within(o)));
    outputs.trees.retain(|t| !under(&ignore_out, t));
    if !overlap.is_empty() {
        reasons.push(NotCacheableReason::ReadWriteOverlap { paths: overlap });
    }

    // 5. Facts about the world now (after the run), content hashed in parallel.
    let skip_child = |child: &RelPath| {
        outputs.paths.contains(child)
            || outputs.trees.iter().any(|t| child.is_within(t))
            || under(&ignore_in, child)
            || under(&ignore_out, child)
            || under(&runner, child)
            // An ancestor of the runner's dir (node_modules/.cache) may appear because of the runner.
            || runner.iter().any(|x| x.is_within(child))
    };
    for (r, f) in gather_facts(root, requests, &skip_child, hasher) {
        match f {
            Ok(f) => {
                fp.paths.insert(r, f);
            }
            Err(reason) => reasons.push(reason),
        }
    }

    // 6. The rest of the verdict.
    if !run.exit.success() {
        reasons.push(NotCacheableReason::NonZeroExit(run.exit));
    }
    if !run.trace.complete {
        reasons.push(NotCacheableReason::IncompleteTrace {
            reasons: run.trace.incomplete_reasons.clone(),
        });
    }
    for d in &run.diagnostics {
        reasons.push(NotCacheableReason::ProtocolDiagnostic {
            code: d.code.clone(),
            message: d.message.clone(),
        });
    }
    reasons.sort();
    reasons.dedup();
    Ok(Classified {
        fingerprint: fp,
        outputs,
        verdict: Verdict { reasons },
    })
}

/// Observes the requested facts now (after the run), hashing contents in parallel.
fn gather_facts(
    root: &Path,
    requests: BTreeMap<RelPath, FactRequest>,
    skip_child: &(dyn Fn(&RelPath) -> bool + Sync),
    hasher: &Hasher<'_>,
) -> Vec<(RelPath, Result<PathFact, NotCacheableReason>)> {
    let reqs: Vec<(RelPath, FactRequest)> = requests.into_iter().collect();
    let facts = hasher.map_parallel(&reqs, |(r, req), buf| {
        let abs = r.to_abs(root);
        let meta = std::fs::metadata(&abs);
        let existence = Existence::of(&meta);
        let mut fact = PathFact {
            existence,
            content: None,
            listing: None,
        };
        if req.content && existence == Existence::File {
            match hasher.hash_file(&abs, buf) {
                Ok(h) => {
                    fact.content = Some(ContentFact {
                        hash: h.hash,
                        stat: h.stable,
                    });
                }
                Err(e) => {
                    return Err(NotCacheableReason::UnreadableInput {
                        path: r.clone(),
                        error: e.to_string(),
                    });
                }
            }
        }
        if req.listing && existence == Existence::Dir {
            match crate::validate::read_names(&abs) {
                Ok(all) => {
                    let (skip, names): (BTreeSet<String>, BTreeSet<String>) =
                        all.into_iter().partition(|n| skip_child(&r.join(n)));
                    fact.listing = Some(ListingFact { names, skip });
                }
                Err(e) => {
                    return Err(NotCacheableReason::UnreadableInput {
                        path: r.clone(),
                        error: e.to_string(),
                    });
                }
            }
        }
        Ok(fact)
    });
    reqs.into_iter().map(|(r, _)| r).zip(facts).collect()
}

type Placed<'a> = BTreeMap<RelPath, &'a PathAccess>;

/// Puts every traced path in canonical form: inside the workspace, or a user-listed
/// external input; everything else is dropped.
fn place_trace<'a>(
    run: &'a RunRecord,
    root: &Path,
    runner: &[RelPath],
    externals: &[PathBuf],
    reasons: &mut Vec<NotCacheableReason>,
) -> (Placed<'a>, Placed<'a>) {
    let mut inside: BTreeMap<RelPath, &PathAccess> = BTreeMap::new();
    let mut outside: BTreeMap<RelPath, &PathAccess> = BTreeMap::new();
    for (p, acc) in &run.trace.accesses {
        match place(root, p) {
            Placement::Inside(r) => {
                if !runner.iter().any(|x| r.is_within(x)) {
                    inside.insert(r, acc);
                }
            }
            Placement::Outside(abs) => {
                if externals.iter().any(|e| abs.starts_with(e)) {
                    match external(&abs) {
                        Some(r) => {
                            outside.insert(r, acc);
                        }
                        None => reasons.push(unsupported(&abs, "not valid UTF-8")),
                    }
                }
            }
            Placement::NonUtf8(abs) => reasons.push(unsupported(&abs, "not valid UTF-8")),
            Placement::Relative(rel) => reasons.push(unsupported(&rel, "not absolute")),
        }
    }

    (inside, outside)
}

/// The trace rules for one path: its input observations and whether it counts as changed.
fn path_rule<'a>(
    r: &RelPath,
    acc: &'a PathAccess,
    emptied: &BTreeSet<RelPath>,
    ignore_in: &[RelPath],
    ignore_out: &[RelPath],
) -> (Vec<&'a Access>, bool) {
    let under = |list: &[RelPath], r: &RelPath| list.iter().any(|x| r.is_within(x));
    let in_emptied = emptied.iter().any(|e| r.is_within(e));
    let mut inputs: Vec<&Access> = if acc.first.is_observation() {
        acc.all().filter(|k| k.is_observation()).collect()
    } else {
        Vec::new()
    };
    if in_emptied {
        // Listings and stats made while emptying are not inputs; a content read still is.
        inputs.retain(|k| matches!(k, Access::Read));
    }
    let mut changed = acc.all().any(Access::is_change);
    if r.is_external() || under(ignore_out, r) {
        changed = false;
    }
    if under(ignore_in, r) {
        inputs.clear();
    }
    // A probe that found nothing, then the task created the path: an output, not an
    // input (every `mkdir -p` and "write if missing" does this). Not when the path was only
    // ever written in place (`>>` on a missing file): what it holds after the run depends
    // on its absence, an input the task changed itself (a read-write overlap).
    if acc.first == Access::NotFound && changed && !written_in_place_only(acc) {
        inputs.clear();
    }
    (inputs, changed)
}

/// Changed only by writes that keep what was there (appends), never created, truncated,
/// deleted or renamed over: the result builds on the prior state.
fn written_in_place_only(acc: &PathAccess) -> bool {
    acc.later.contains(&Access::Write)
        && !acc.all().any(|k| {
            matches!(
                k,
                Access::Create
                    | Access::Truncate
                    | Access::Delete
                    | Access::RenameFrom
                    | Access::RenameTo
            )
        })
}

/// An existence-only fact (stats that found a directory; no listing, no content read) about
/// a directory that is an output path or tree, or an ancestor of one, is not an input:
/// restore recreates it, so whether it existed before cannot change the outcome
/// (`mkdir -p dist` when `dist/` already exists, then `rm -rf dist`, must still hit).
/// Only for a path the task did not change: its kind now is then its kind before.
fn output_dir_existence_only(
    root: &Path,
    r: &RelPath,
    inputs: &[&Access],
    outputs: &OutputSet,
) -> bool {
    !inputs.is_empty()
        && !r.is_external()
        && inputs.iter().all(|k| matches!(k, Access::Stat))
        && outputs
            .paths
            .iter()
            .chain(outputs.trees.iter())
            .any(|o| o.is_within(r))
        // A real directory now (not a symlink: restore never writes below one).
        && std::fs::symlink_metadata(r.to_abs(root)).is_ok_and(|m| m.is_dir())
}

/// Directories that did not exist before the run (first access: not found, or deleted) and
/// that the run created: they hold only what the run put there, so restore empties them
/// first, like emptied directories (`rm -rf out && mkdir out` on a fresh checkout). Not when
/// an ignored output lies inside: restore must not touch it.
fn created_dirs(
    root: &Path,
    inside: &Placed<'_>,
    outputs: &OutputSet,
    ignore_out: &[RelPath],
) -> Vec<RelPath> {
    inside
        .iter()
        .filter(|(r, acc)| {
            !r.is_root()
                && matches!(acc.first, Access::NotFound | Access::Delete)
                && acc.later.contains(&Access::Create)
                && outputs.paths.contains(*r)
                && !ignore_out.iter().any(|p| p.is_within(r))
                && std::fs::symlink_metadata(r.to_abs(root)).is_ok_and(|m| m.is_dir())
        })
        .map(|(r, _)| r.clone())
        .collect()
}

struct Decls {
    ignore_in: Vec<RelPath>,
    ignore_out: Vec<RelPath>,
    reported_in: Vec<RelPath>,
    outputs: OutputSet,
    fp: PostRunFingerprint,
}

/// Applies the tools' declarations: ignores, reports, tracked envs, globs, salts.
fn apply_declarations(
    run: &RunRecord,
    opts: &ClassifyOptions,
    env_key: &EnvKey,
    reasons: &mut Vec<NotCacheableReason>,
) -> Decls {
    let root = opts.workspace_root.as_path();
    let mut ignore_in: Vec<RelPath> = Vec::new();
    let mut ignore_out: Vec<RelPath> = Vec::new();
    let mut reported_in: Vec<RelPath> = Vec::new();
    let mut outputs = OutputSet::default();
    let mut fp = PostRunFingerprint::default();
    let mut sets: BTreeMap<crate::model::EnvSelector, EnvSetFact> = BTreeMap::new();
    for d in &run.declarations {
        match d {
            Declaration::IgnoreInput(p) => {
                if let Some(r) = decl_path(root, p, true, "ignoreInput", reasons) {
                    ignore_in.push(r);
                }
            }
            Declaration::IgnoreOutput(p) => {
                if let Some(r) = decl_path(root, p, false, "ignoreOutput", reasons) {
                    ignore_out.push(r);
                }
            }
            Declaration::ReportInput(p) => {
                if let Some(r) = decl_path(root, p, true, "reportInput", reasons) {
                    reported_in.push(r);
                }
            }
            Declaration::ReportOutput(p) => {
                if let Some(r) = decl_path(root, p, false, "reportOutput", reasons) {
                    if r.is_external() {
                        reasons.push(NotCacheableReason::InvalidDeclaration {
                            detail: format!("reportOutput of {r}, outside the workspace"),
                        });
                    } else {
                        outputs.trees.insert(r);
                    }
                }
            }
            Declaration::DisableCache { reason } => {
                reasons.push(NotCacheableReason::DisabledByTool {
                    reason: reason.clone(),
                });
            }
            Declaration::TrackedEnv { name, value } => {
                // The user's config wins: an env declared untracked stays untracked.
                if !opts.is_untracked(name) {
                    fp.envs.insert(
                        EnvName(name.clone()),
                        value.as_ref().map(|v| env_key.hash_env(name, v)),
                    );
                }
            }
            Declaration::TrackedEnvSet { selector, matches } => {
                let set = sets.entry(selector.clone()).or_insert_with(|| EnvSetFact {
                    selector: selector.clone(),
                    matches: BTreeMap::new(),
                    excluded: opts
                        .untracked_envs
                        .iter()
                        .filter(|n| selector.matches(n))
                        .map(|n| EnvName(n.clone()))
                        .collect(),
                });
                for (n, v) in matches {
                    let name = EnvName(n.clone());
                    if !set.excluded.contains(&name) && !opts.is_untracked(n) {
                        set.matches.insert(name, env_key.hash_env(n, v));
                    }
                }
            }
            Declaration::ReportGlob { base, pattern } => {
                let Some(b) = decl_path(root, base, false, "reportGlob base", reasons) else {
                    continue;
                };
                match crate::glob::match_paths(&b.to_abs(root), pattern) {
                    Ok(matches) => fp.globs.push(GlobFact {
                        base: b,
                        pattern: pattern.clone(),
                        matches,
                    }),
                    Err(e) => reasons.push(NotCacheableReason::InvalidDeclaration {
                        detail: e.to_string(),
                    }),
                }
            }
            Declaration::Salt { key, value } => {
                fp.salts.insert(key.clone(), env_key.hash_salt(key, value));
            }
        }
    }
    fp.env_sets = sets.into_values().collect();
    fp.globs
        .sort_by(|a, b| (&a.base, &a.pattern).cmp(&(&b.base, &b.pattern)));
    fp.globs
        .dedup_by(|a, b| a.base == b.base && a.pattern == b.pattern);
    Decls {
        ignore_in,
        ignore_out,
        reported_in,
        outputs,
        fp,
    }
}

fn unsupported(p: &Path, why: &str) -> NotCacheableReason {
    NotCacheableReason::UnsupportedPath {
        path: p.to_string_lossy().into_owned(),
        why: why.to_owned(),
    }
}

/// Places a declared path; outside paths are kept (absolute) only where `allow_external`.
fn decl_path(
    root: &Path,
    p: &Path,
    allow_external: bool,
    what: &str,
    reasons: &mut Vec<NotCacheableReason>,
) -> Option<RelPath> {
    match place(root, p) {
        Placement::Inside(r) => Some(r),
        Placement::Outside(abs) => {
            if allow_external {
                if let Some(r) = external(&abs) {
                    return Some(r);
                }
            }
            if allow_external {
                reasons.push(unsupported(&abs, "not valid UTF-8"));
            } else {
                reasons.push(NotCacheableReason::InvalidDeclaration {
                    detail: format!("{what} of {}, outside the workspace", abs.display()),
                });
            }
            None
        }
        Placement::NonUtf8(abs) => {
            reasons.push(unsupported(&abs, "not valid UTF-8"));
            None
        }
        Placement::Relative(rel) => {
            reasons.push(NotCacheableReason::InvalidDeclaration {
                detail: format!("{what} of {}: paths must be absolute", rel.display()),
            });
            None
        }
    }
}

/// Directories D the task listed and whose every listed entry it then deleted (recursively:
/// a deleted subdirectory had to be emptied first). An empty listing counts only when D
/// itself was deleted (`rm -rf` of an empty dir).
fn emptied_dirs(inside: &BTreeMap<RelPath, &PathAccess>) -> BTreeSet<RelPath> {
    let deleted = |r: &RelPath| {
        inside.get(r).is_some_and(|a| {
            a.all()
                .any(|k| matches!(k, Access::Delete | Access::RenameFrom))
        })
    };
    let mut out = BTreeSet::new();
    for (r, acc) in inside {
        // Any one listing whose every name was then deleted: a later listing may already
        // show the new outputs.
        let emptied = acc.all().any(|k| match k {
            Access::ListDir(names) => {
                (!names.is_empty() || deleted(r))
                    && names
                        .iter()
                        .all(|n| n.to_str().is_some_and(|n| deleted(&r.join(n))))
            }
            _ => false,
        });
        if emptied {
            out.insert(r.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::time::SystemTime;

    use super::*;
    use crate::model::TraceModel;

    fn run(accesses: BTreeMap<PathBuf, PathAccess>, declarations: Vec<Declaration>) -> Classified {
        let record = RunRecord {
            trace: TraceModel {
                accesses,
                complete: true,
                incomplete_reasons: vec![],
            },
            declarations,
            diagnostics: vec![],
            exit: ExitStatus::Code(0),
        };
        let opts = ClassifyOptions {
            workspace_root: PathBuf::from("/nonexistent-ws"),
            external_inputs: vec![],
            runner_paths: vec![],
            untracked_envs: BTreeSet::new(),
            untracked_env_patterns: Vec::new(),
        };
        classify(
            &record,
            &opts,
            &EnvKey([0; 32]),
            &Hasher::new(None, SystemTime::now()),
        )
        .unwrap()
    }

    #[test]
    fn non_utf8_and_relative_paths_are_reasons_not_panics() {
        let mut acc = BTreeMap::new();
        acc.insert(
            PathBuf::from(OsStr::from_bytes(b"/nonexistent-ws/bad-\xff-name")),
            PathAccess::new(Access::Read),
        );
        acc.insert(
            PathBuf::from("relative/path"),
            PathAccess::new(Access::Read),
        );
        let c = run(acc, vec![Declaration::IgnoreInput(PathBuf::from("rel"))]);
        let shown: Vec<String> = c.verdict.reasons.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|s| s.contains("ignoreInput of rel: paths must be absolute"))
        );
        assert!(
            shown
                .iter()
                .any(|s| s.contains("relative/path: not absolute"))
        );
        assert!(shown.iter().any(|s| s.contains("not valid UTF-8")));
    }

    #[test]
    fn debug_output_never_shows_env_or_salt_values() {
        let d = vec![
            Declaration::TrackedEnv {
                name: b"TOKEN".to_vec(),
                value: Some(b"hunter2".to_vec()),
            },
            Declaration::TrackedEnvSet {
                selector: crate::model::EnvSelector::Prefix(b"VITE_".to_vec()),
                matches: vec![(b"VITE_KEY".to_vec(), b"hunter3".to_vec())],
            },
            Declaration::Salt {
                key: "k".into(),
                value: b"hunter4".to_vec(),
            },
        ];
        let shown = format!("{d:?}");
        assert!(shown.contains("TOKEN") && shown.contains("VITE_KEY"));
        assert!(!shown.contains("hunter"), "{shown}");
        let s = crate::spawn::SpawnDescription {
            program: "node".into(),
            args: vec!["--token=hunter5".into()],
            cwd: RelPath::root(),
            declared_env: [(b"API".to_vec(), Some(b"hunter6".to_vec()))]
                .into_iter()
                .collect(),
        };
        assert!(!format!("{s:?}").contains("hunter"));
    }
}
