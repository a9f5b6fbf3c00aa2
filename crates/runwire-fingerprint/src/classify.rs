//! Classification of a finished run: trace + declarations + exit + diagnostics ->
//! post-run fingerprint, output set and cacheability with every reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::env::EnvName;
use crate::error::FingerprintError;
use crate::fingerprint::{
    ContentFact, EnvSetFact, Existence, GlobFact, ListingFact, OutputContent, PathFact,
    PostRunFingerprint,
};
use crate::hash::{EnvKey, FileHash, Hasher};
use crate::hash::{Hash32, StatKey};
use crate::model::{
    Access, ClassifyOptions, Declaration, ExitStatus, OTHER_RUNNER_DIRS, PathAccess, RunRecord,
};
use crate::path::{Placement, RelPath, external, normalize_abs, place};

/// Why a run must not be cached. A verdict lists all of them, not the first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotCacheableReason {
    NonZeroExit(ExitStatus),
    DisabledByTool {
        reason: String,
        /// The tool's client name; empty when unknown.
        #[serde(skip_serializing_if = "String::is_empty")]
        tool: String,
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
    /// Inputs whose ctime is at or after the task's start (rule 10): what was hashed after
    /// the run may not be what the task read.
    ChangedDuringRun {
        paths: Vec<RelPath>,
    },
    /// Writes outside the workspace and outside every scratch location (rule 12): a hit
    /// could not recreate them.
    WroteOutsideWorkspace {
        paths: Vec<String>,
    },
    /// Tool state the task found, then rewrote, whose prior content the runner had not
    /// recorded before the run (rule 9): what the run did may depend on it.
    ToolStateUnrecorded {
        paths: Vec<RelPath>,
    },
}

/// At most ten paths, then "and N more".
fn fmt_paths<T: fmt::Display>(f: &mut fmt::Formatter<'_>, paths: &[T]) -> fmt::Result {
    let shown: Vec<String> = paths.iter().take(10).map(ToString::to_string).collect();
    f.write_str(&shown.join(", "))?;
    if paths.len() > 10 {
        write!(f, " and {} more", paths.len() - 10)?;
    }
    Ok(())
}

impl fmt::Display for NotCacheableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonZeroExit(ExitStatus::Code(c)) => write!(f, "exited with code {c}"),
            Self::NonZeroExit(ExitStatus::Signal(s)) => write!(f, "killed by signal {s}"),
            Self::DisabledByTool { reason, tool } => {
                let tool = if tool.is_empty() { "a tool" } else { tool };
                let reason = if reason.is_empty() {
                    "(no reason given)"
                } else {
                    reason
                };
                write!(f, "{tool} disabled caching: {reason}")
            }
            Self::ReadWriteOverlap { paths } => {
                f.write_str("read and then written by the task: ")?;
                fmt_paths(f, paths)
            }
            Self::ChangedDuringRun { paths } => {
                f.write_str("changed while the task ran: ")?;
                fmt_paths(f, paths)
            }
            Self::WroteOutsideWorkspace { paths } => {
                f.write_str("wrote outside the workspace: ")?;
                fmt_paths(f, paths)?;
                f.write_str(" (list it in `outsideWrites` in runwire.json if it is scratch)")
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
            Self::ToolStateUnrecorded { paths } => {
                f.write_str("tool state found and rewritten, what it held before is unknown: ")?;
                fmt_paths(f, paths)?;
                f.write_str(" (recorded from now on)")
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
    /// Tool state the run touched (rule 9), cacheable or not: the runner remembers these
    /// paths, and before the task's next run records what they hold
    /// ([`ClassifyOptions::prior_tool_state`]), since that run may find and rewrite them.
    pub tool_state: BTreeSet<RelPath>,
}

// Four independent questions about one path, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default)]
struct FactRequest {
    /// Hash the content if the path is a regular file (a read, or a stat: rule 1).
    content: bool,
    /// List the directory if the path is one (a listing, or a stat: rule 1).
    listing: bool,
    /// Only stats observed it: an empty file keeps its mtime (a stamp, rule 1).
    stat_only: bool,
    /// Stat'ed, then truncated in place: its mode survives into the output (rule 3).
    mode_only: bool,
    /// Probed absent, then created: "absent, or this output" (rule 3).
    absent_or_output: bool,
    /// A directory the run created: "absent, or holding exactly these names" (rule 4).
    absent_or_listing: bool,
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

    let Placed {
        inside,
        outside,
        outside_writes,
    } = place_trace(run, root, &runner, &externals, opts, &mut reasons);
    if !outside_writes.is_empty() {
        reasons.push(NotCacheableReason::WroteOutsideWorkspace {
            paths: outside_writes,
        });
    }

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
    let mut mode_inputs: BTreeSet<RelPath> = BTreeSet::new();
    let mut probe_created: BTreeSet<RelPath> = BTreeSet::new();
    let mut prior_state_read: Vec<RelPath> = Vec::new();
    let mut tool_state_seen: BTreeSet<RelPath> = BTreeSet::new();
    let ruled: Vec<(&RelPath, Vec<&Access>, bool, bool)> = inside
        .iter()
        .map(|(r, a)| (r, *a))
        .chain(outside.iter().map(|(r, a)| (r, *a)))
        .map(|(r, acc)| {
            let tool_state = !r.is_external() && opts.is_tool_state(r.as_str());
            let rule = PathRule {
                emptied: &emptied,
                ignore_in: &ignore_in,
                ignore_out: &ignore_out,
                tool_state,
                self_validating: ClassifyOptions::is_self_validating_tool_state(r.as_str()),
            };
            let ruling = rule.apply(r, acc);
            if ruling.mode_only {
                mode_inputs.insert(r.clone());
            }
            if ruling.probe_created {
                probe_created.insert(r.clone());
            }
            if ruling.prior_state_read {
                prior_state_read.push(r.clone());
            }
            if tool_state {
                tool_state_seen.insert(r.clone());
            }
            (r, ruling.inputs, ruling.changed, tool_state)
        })
        .collect();
    for (r, _, changed, _) in &ruled {
        if *changed {
            outputs.paths.insert((*r).clone());
        }
    }
    for (r, mut inputs, changed, tool_state) in ruled {
        if !changed && output_dir_existence_only(root, r, &inputs, &outputs) {
            inputs.clear();
        }
        // A touch leaves the file as it found it: the prior (empty) content is an input
        // and the same content is the output, so the two agree (rule 3).
        let touch = changed && touched_empty_file(root, r, inside.get(r).copied());
        if !inputs.is_empty() && changed && !touch {
            overlap.push(r.clone());
        }
        if !inputs.is_empty() {
            let stat = inputs.iter().any(|k| matches!(k, Access::Stat));
            let read = inputs.iter().any(|k| matches!(k, Access::Read));
            let listed = inputs.iter().any(|k| matches!(k, Access::ListDir(_)));
            let req = requests.entry(r.clone()).or_default();
            // Rule 1: a stat returns what make and Python decide from (size, mtime, kind),
            // so a stat'ed file's content and a stat'ed directory's listing are inputs.
            req.content |= read || (stat && !injected_fault("stat-is-existence"));
            // A tool's own state directory is its bookkeeping, never a listing fact. A stat of
            // `node_modules` (module resolution) or `.git` (repository discovery) checks that
            // it exists: what is used inside is looked up by name (facts of its own); the set
            // of names matters only to a task that lists it.
            let resolution_root = matches!(r.file_name(), "node_modules" | ".git");
            req.listing |= !tool_state && (listed || (stat && !resolution_root));
            req.stat_only = stat && !read && !listed;
        }
    }
    for r in reported_in {
        requests.entry(r).or_default().content = true;
    }
    for r in mode_inputs {
        requests.entry(r).or_default().mode_only = true;
    }
    // Probe then create (rule 3): a tool that writes only what is missing (make's target,
    // `cp -u`) keeps a file that is already there, so a hit may not restore over an existing
    // file that differs from the output. Not inside a directory the task itself emptied:
    // there every run starts from nothing. (A directory it created is no such guarantee:
    // the next run may find it there, with files a write-if-missing tool keeps.)
    for r in probe_created {
        if !emptied.iter().any(|d| r.is_within(d)) && !requests.contains_key(&r) {
            requests.entry(r).or_default().absent_or_output = true;
        }
    }
    // Rule 13: the programs the task ran from outside the workspace (its shell, node,
    // python3, gcc) are inputs by content, so an upgraded interpreter is a miss while
    // machines with the same versions share entries. Inside the workspace they are reads.
    for p in &run.trace.programs {
        if let Placement::Outside(abs) = place(root, p)
            && let Some(r) = external(&abs)
        {
            requests.entry(r).or_default().content = true;
        }
    }
    let created = created_dirs(root, &inside, &outputs, &ignore_out);
    outputs.emptied_dirs = emptied_roots
        .iter()
        .cloned()
        .chain(created.iter().cloned())
        .filter(|d| !under(&ignore_out, d))
        .collect();
    // Only the outermost: emptying a parent empties its children.
    let all = outputs.emptied_dirs.clone();
    outputs
        .emptied_dirs
        .retain(|d| !all.iter().any(|o| o != d && d.is_within(o)));
    // A directory the run created is emptied by restore, which is right only where the
    // next run would start from nothing too: the fact "absent, or holding exactly what the
    // run left" (a tool like tsc -b keeps what is already there).
    for d in &created {
        if outputs.emptied_dirs.contains(d) && !emptied_roots.contains(d) {
            requests.entry(d.clone()).or_default().absent_or_listing = true;
        }
    }
    outputs.trees.retain(|t| !under(&ignore_out, t));
    if !overlap.is_empty() {
        reasons.push(NotCacheableReason::ReadWriteOverlap { paths: overlap });
    }

    // 5. Facts about the world now (after the run), content hashed in parallel.
    let skip_child = |child: &RelPath| {
        OTHER_RUNNER_DIRS.contains(&child.file_name())
            || opts.is_tool_state(child.as_str())
            || outputs.paths.contains(child)
            || outputs.trees.iter().any(|t| child.is_within(t))
            || under(&ignore_in, child)
            || under(&ignore_out, child)
            || under(&runner, child)
            // An ancestor of the runner's dir (node_modules/.cache) may appear because of the runner.
            || runner.iter().any(|x| x.is_within(child))
    };
    let mut changed_during_run = Vec::new();
    let stable_before = opts.spawned_at.map(ns_since_epoch);
    // The task's own changes move ctimes: those paths are outputs or overlaps already.
    let changed_by_task = |r: &RelPath| {
        inside
            .get(r)
            .or_else(|| outside.get(r))
            .is_some_and(|a| a.all().any(Access::is_change))
    };
    // A directory's ctime moves with every entry made or removed in it: only one the task
    // changed nothing directly inside can show that someone else did, mid-run.
    let dirs_changed_by_task: BTreeSet<RelPath> = inside
        .iter()
        .filter(|(_, a)| a.all().any(Access::is_change))
        .filter_map(|(r, _)| r.parent())
        .collect();
    for (r, f) in gather_facts(root, requests, &skip_child, hasher) {
        match f {
            Ok(None) => {}
            Ok(Some(f)) => {
                let file_changed = f
                    .ctime_ns
                    .is_some_and(|c| stable_before.is_some_and(|t| c >= t) && !changed_by_task(&r));
                let listing_changed = f.listing_ctime_ns.is_some_and(|c| {
                    stable_before.is_some_and(|t| c >= t)
                        && !changed_by_task(&r)
                        && !dirs_changed_by_task.contains(&r)
                });
                if file_changed || listing_changed {
                    changed_during_run.push(r.clone());
                }
                fp.paths.insert(r, f.fact);
            }
            Err(reason) => reasons.push(reason),
        }
    }
    if !changed_during_run.is_empty() {
        reasons.push(NotCacheableReason::ChangedDuringRun {
            paths: changed_during_run,
        });
    }
    // Rule 9: tool state the run found and rewrote is an input by what it held before the
    // run (a delta build did only what that state said was missing), recorded before the
    // spawn because the run overwrote it. After the facts gathered from the world now:
    // the prior content is the one the run saw.
    // Its fact is "what it held before, or what the run left": with the state the run
    // left, the tool finds its work done, and a hit writes exactly that work.
    let (recorded, unrecorded): (Vec<RelPath>, Vec<RelPath>) =
        prior_state_read.into_iter().partition(|r| {
            opts.prior_tool_state
                .get(r)
                .is_some_and(|f| f.existence == Existence::File && f.content.is_some())
        });
    let left = hasher.map_parallel(&recorded, |r, buf| {
        hash_regular_file(hasher, &r.to_abs(root), buf).map(|h| OutputContent {
            hash: h.hash,
            executable: h.executable,
        })
    });
    for (r, or_output) in recorded.into_iter().zip(left) {
        let mut fact = opts.prior_tool_state[&r].clone();
        if let Some(content) = &mut fact.content {
            content.or_output = or_output;
        }
        fp.paths.insert(r, fact);
    }
    if !unrecorded.is_empty() {
        reasons.push(NotCacheableReason::ToolStateUnrecorded { paths: unrecorded });
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
        tool_state: tool_state_seen,
        verdict: Verdict { reasons },
    })
}

/// A fact observed after the run, with the ctime of the file it describes, or of the
/// directory whose listing it records (`None` otherwise).
struct Observed {
    fact: PathFact,
    ctime_ns: Option<i64>,
    listing_ctime_ns: Option<i64>,
}

impl Observed {
    /// A fact about an output the task made itself ("absent, or ..."): its ctimes say
    /// nothing about changes by others.
    fn of_output(fact: PathFact) -> Self {
        Self {
            fact,
            ctime_ns: None,
            listing_ctime_ns: None,
        }
    }
}

fn ns_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Observes the requested facts now (after the run), hashing contents in parallel. `None`:
/// no fact after all (an "absent, or ..." request whose path is not of its kind).
// One arm per kind of fact request, each short; split, the shared observation would repeat.
#[allow(clippy::too_many_lines)]
fn gather_facts(
    root: &Path,
    requests: BTreeMap<RelPath, FactRequest>,
    skip_child: &(dyn Fn(&RelPath) -> bool + Sync),
    hasher: &Hasher<'_>,
) -> Vec<(RelPath, Result<Option<Observed>, NotCacheableReason>)> {
    let reqs: Vec<(RelPath, FactRequest)> = requests.into_iter().collect();
    let facts = hasher.map_parallel(&reqs, |(r, req), buf| {
        let abs = r.to_abs(root);
        let meta = std::fs::metadata(&abs);
        let existence = Existence::of(&meta);
        let mut ctime_ns = match &meta {
            Ok(m) if m.is_file() => Some(StatKey::from_metadata(m).ctime_ns),
            _ => None,
        };
        let mut fact = PathFact {
            existence,
            content: None,
            listing: None,
            mode_only: None,
        };
        if req.absent_or_listing {
            let names = match crate::validate::read_names(&abs) {
                Ok(names) if existence == Existence::Dir => names,
                _ => return Ok(None),
            };
            fact.existence = Existence::Absent;
            fact.listing = Some(ListingFact {
                names,
                skip: BTreeSet::new(),
            });
            return Ok(Some(Observed::of_output(fact)));
        }
        if req.absent_or_output {
            // Regular files only: a directory made by `mkdir -p` is the same whether or not
            // it was there.
            if existence != Existence::File {
                return Ok(None);
            }
            return match hasher.hash_file(&abs, buf) {
                Ok(h) => {
                    fact.existence = Existence::Absent;
                    fact.content = Some(ContentFact {
                        hash: h.hash,
                        executable: h.executable,
                        stamp_mtime_ns: None,
                        or_output: None,
                        stat: h.stable,
                    });
                    Ok(Some(Observed::of_output(fact)))
                }
                Err(e) => Err(NotCacheableReason::UnreadableInput {
                    path: r.clone(),
                    error: e.to_string(),
                }),
            };
        }
        if req.mode_only
            && let Ok(m) = &meta
            && m.is_file()
        {
            let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions());
            fact.mode_only = Some(mode & 0o111 != 0);
        }
        if req.content && existence == Existence::File {
            match hasher.hash_file(&abs, buf) {
                Ok(h) => {
                    // The stat taken with the hash decides: a change between the two
                    // stats is a change during the run too.
                    ctime_ns = Some(ctime_ns.map_or(h.stat.ctime_ns, |c| c.max(h.stat.ctime_ns)));
                    let empty_stamp = req.stat_only && h.stat.size == 0;
                    fact.content = Some(ContentFact {
                        hash: h.hash,
                        executable: h.executable,
                        stamp_mtime_ns: empty_stamp.then_some(h.stat.mtime_ns),
                        or_output: None,
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
        let listing_ctime_ns = match (&fact.listing, &meta) {
            (Some(_), Ok(m)) => Some(StatKey::from_metadata(m).ctime_ns),
            _ => None,
        };
        Ok(Some(Observed {
            fact,
            ctime_ns,
            listing_ctime_ns,
        }))
    });
    reqs.into_iter().map(|(r, _)| r).zip(facts).collect()
}

/// What tool-state files hold now, before a run: the facts a run that finds and rewrites
/// one of them depends on (rule 9, [`ClassifyOptions::prior_tool_state`]). A path that is
/// not a regular file, or cannot be read, gets no fact: a run that found it so is not
/// cached.
pub fn observe_tool_state(
    root: &Path,
    paths: &[RelPath],
    hasher: &Hasher<'_>,
) -> BTreeMap<RelPath, PathFact> {
    let facts = hasher.map_parallel(paths, |r, buf| {
        let h = hash_regular_file(hasher, &r.to_abs(root), buf)?;
        Some(PathFact {
            existence: Existence::File,
            content: Some(ContentFact {
                hash: h.hash,
                executable: h.executable,
                stamp_mtime_ns: None,
                or_output: None,
                stat: h.stable,
            }),
            listing: None,
            mode_only: None,
        })
    });
    paths
        .iter()
        .cloned()
        .zip(facts)
        .filter_map(|(r, f)| Some((r, f?)))
        .collect()
}

/// The hash of `abs` when it is a regular file that can be read; never opens anything
/// else (a fifo would block).
fn hash_regular_file(hasher: &Hasher<'_>, abs: &Path, buf: &mut [u8]) -> Option<FileHash> {
    if !std::fs::metadata(abs).ok()?.is_file() {
        return None;
    }
    hasher.hash_file(abs, buf).ok()
}

/// The trace in canonical form: paths inside the workspace, user-listed external inputs,
/// and the absolute paths changed outside both and outside every scratch location.
struct Placed<'a> {
    inside: BTreeMap<RelPath, &'a PathAccess>,
    outside: BTreeMap<RelPath, &'a PathAccess>,
    outside_writes: Vec<String>,
}

/// Puts every traced path in canonical form: inside the workspace, or a user-listed
/// external input; everything else is dropped.
fn place_trace<'a>(
    run: &'a RunRecord,
    root: &Path,
    runner: &[RelPath],
    externals: &[PathBuf],
    opts: &ClassifyOptions,
    reasons: &mut Vec<NotCacheableReason>,
) -> Placed<'a> {
    let mut inside: BTreeMap<RelPath, &PathAccess> = BTreeMap::new();
    let mut outside: BTreeMap<RelPath, &PathAccess> = BTreeMap::new();
    let mut outside_writes = Vec::new();
    for (p, acc) in &run.trace.accesses {
        match place(root, p) {
            Placement::Inside(r) => {
                if !runner.iter().any(|x| r.is_within(x)) {
                    inside.insert(r, acc);
                }
            }
            Placement::Outside(abs) => {
                // Rule 12: a change outside the workspace is something a hit cannot
                // recreate, unless it is scratch (temp dirs, tool caches).
                if acc.all().any(Access::is_change)
                    && !opts.scratch_outside.iter().any(|s| abs.starts_with(s))
                {
                    outside_writes.push(abs.to_string_lossy().into_owned());
                }
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
    Placed {
        inside,
        outside,
        outside_writes,
    }
}

/// A deliberately broken rule, for proving that the correctness oracle (crates/runwire-oracle)
/// can fail: `RUNWIRE_TEST_FAULT=<name>` in the runner's environment, debug builds only.
/// `stat-is-existence` brings back the old rule that a stat records existence alone.
fn injected_fault(name: &str) -> bool {
    cfg!(debug_assertions) && std::env::var_os("RUNWIRE_TEST_FAULT").is_some_and(|v| v == name)
}

/// What the trace rules need to know about a path beyond its own accesses.
struct PathRule<'a> {
    emptied: &'a BTreeSet<RelPath>,
    ignore_in: &'a [RelPath],
    ignore_out: &'a [RelPath],
    /// The path is tool state (rule 9).
    tool_state: bool,
    /// Tool state validated file by file by its tool (rule 9: `__pycache__`).
    self_validating: bool,
}

/// A content read the rules stand in for a traced access: a rename source that comes first
/// (it carried the prior content elsewhere), git's refreshed index (its content after the
/// run is the input).
static CONTENT_READ: Access = Access::Read;

/// What the trace rules make of one path.
// Independent findings about one path, not a state machine.
#[allow(clippy::struct_excessive_bools)]
struct Ruling<'a> {
    /// The observations that are inputs.
    inputs: Vec<&'a Access>,
    /// The path counts as changed: an output.
    changed: bool,
    /// Only its existence and mode are an input (stat, then truncate in place).
    mode_only: bool,
    /// Probed absent, then created (not tool state): "absent, or this output".
    probe_created: bool,
    /// Tool state found (read, stat'ed, listed or renamed away), then changed: its prior
    /// content is an input, recorded before the run (rule 9).
    prior_state_read: bool,
}

impl PathRule<'_> {
    /// The trace rules for one path.
    fn apply<'a>(&self, r: &RelPath, acc: &'a PathAccess) -> Ruling<'a> {
        let under = |list: &[RelPath], r: &RelPath| list.iter().any(|x| r.is_within(x));
        let in_emptied = self.emptied.iter().any(|e| r.is_within(e));
        let later_observations = acc.later.iter().filter(|k| k.is_observation());
        let mut inputs: Vec<&Access> = if acc.first.is_observation() {
            acc.all().filter(|k| k.is_observation()).collect()
        } else if acc.first == Access::RenameFrom {
            std::iter::once(&CONTENT_READ)
                .chain(later_observations)
                .collect()
        } else {
            Vec::new()
        };
        if in_emptied {
            // Listings and stats made while emptying are not inputs; a content read still is.
            inputs.retain(|k| matches!(k, Access::Read));
        }
        let mut changed = acc.all().any(Access::is_change);
        if r.is_external() || under(self.ignore_out, r) {
            changed = false;
        }
        if under(self.ignore_in, r) {
            inputs.clear();
        }
        // A probe that found nothing, then the task created the path: an output, not an
        // input (every `mkdir -p` and "write if missing" does this). Not when the path was
        // only ever written in place (`>>` on a missing file): what it holds after the run
        // depends on its absence, an input the task changed itself (a read-write overlap).
        let probe_created = acc.first == Access::NotFound && changed && !written_in_place_only(acc);
        if probe_created {
            inputs.clear();
        }
        // Stat, then replace (make's target, `cp -u`'s destination): only the metadata was
        // observed and the content was then thrown away, so the old file shaped nothing
        // that survives. A read, a rename source or a link source (traced as a read) carries
        // content on and keeps the path an input.
        let mut mode_only = false;
        if changed
            && inputs
                .iter()
                .all(|k| matches!(k, Access::Stat | Access::NotFound))
            && replaced_without_carrying(acc)
        {
            // A truncation keeps the inode and its mode (`cp` onto an existing target keeps
            // the target's mode): the prior mode is an input while the content is not.
            mode_only = inputs.iter().any(|k| matches!(k, Access::Stat))
                && acc.all().any(|k| matches!(k, Access::Truncate))
                && !acc
                    .all()
                    .any(|k| matches!(k, Access::Delete | Access::RenameTo | Access::Create));
            inputs.clear();
        }
        // Tool state the task rewrote describes the outputs of this run, which a hit
        // restores with it; no observation of it is an input the usual way, since the
        // content after the run is not what the task saw (rule 9). Only what it held before
        // the run is, when the task found it there (a delta build) rather than creating it.
        let mut prior_state_read = false;
        if self.tool_state && changed {
            // A self-validating cache file found stale is replaced whole: its body is unused.
            prior_state_read = !self.self_validating
                && matches!(
                    acc.first,
                    Access::Read | Access::Stat | Access::ListDir(_) | Access::RenameFrom
                );
            inputs.clear();
            mode_only = false;
        }
        // Rule 14: git's index, refreshed by `git status` (go build stamps VCS info that
        // way). The refresh rewrites stat data only: what the index says is the same before
        // and after, so its content after the run is the input; it is never an output
        // (restore never writes into .git) and its lock file is neither.
        let untouched = |inputs| Ruling {
            inputs,
            changed: false,
            mode_only: false,
            probe_created: false,
            prior_state_read: false,
        };
        match git_index_file(r) {
            Some(GitIndex::Index) if changed => return untouched(vec![&CONTENT_READ]),
            Some(GitIndex::Lock) => return untouched(Vec::new()),
            _ => {}
        }
        Ruling {
            inputs,
            changed,
            mode_only,
            probe_created: probe_created && !self.tool_state,
            prior_state_read,
        }
    }
}

enum GitIndex {
    Index,
    Lock,
}

/// `.git/index` or `.git/index.lock`, at the root or in a nested repository.
fn git_index_file(r: &RelPath) -> Option<GitIndex> {
    let p = r.as_str();
    let in_git = |name: &str| p == format!(".git/{name}") || p.ends_with(&format!("/.git/{name}"));
    if in_git("index") {
        Some(GitIndex::Index)
    } else if in_git("index.lock") {
        Some(GitIndex::Lock)
    } else {
        None
    }
}

/// Truncated, deleted, renamed over or created anew, and never a rename source.
fn replaced_without_carrying(acc: &PathAccess) -> bool {
    acc.all().any(|k| {
        matches!(
            k,
            Access::Truncate | Access::Delete | Access::RenameTo | Access::Create
        )
    }) && !acc
        .all()
        .any(|k| matches!(k, Access::RenameFrom | Access::Read))
}

/// A touch: opened for writing in place (traced as a read, then a write), nothing else,
/// and an empty regular file afterwards. Writing in place cannot shrink a file, so it was
/// empty before too: its content did not change.
fn touched_empty_file(root: &Path, r: &RelPath, acc: Option<&PathAccess>) -> bool {
    let Some(acc) = acc else {
        return false;
    };
    acc.all()
        .all(|k| matches!(k, Access::Stat | Access::Read | Access::Write))
        && acc.all().any(|k| matches!(k, Access::Write))
        && std::fs::symlink_metadata(r.to_abs(root)).is_ok_and(|m| m.is_file() && m.len() == 0)
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
    inside: &BTreeMap<RelPath, &PathAccess>,
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
/// The directories the glob matches listed, workspace-relative, with their digests; empty
/// when one of them has no canonical workspace path (validation then matches every glob).
pub(crate) fn glob_dirs(
    root: &Path,
    listings: &crate::glob::Listings,
) -> BTreeMap<RelPath, Hash32> {
    let relative = |dir: &Path| {
        let rel = dir.strip_prefix(root).ok()?.to_str()?;
        RelPath::parse(rel).ok().filter(|p| !p.is_external())
    };
    listings
        .digests()
        .into_iter()
        .map(|(dir, digest)| Some((relative(&dir)?, digest)))
        .collect::<Option<_>>()
        .unwrap_or_default()
}

/// The match set of a `ReportGlob`, or the reason it cannot be fingerprinted.
fn glob_fact(
    root: &Path,
    base: &Path,
    pattern: &[u8],
    listings: &crate::glob::Listings,
    reasons: &mut Vec<NotCacheableReason>,
) -> Option<GlobFact> {
    let b = decl_path(root, base, false, "reportGlob base", reasons)?;
    // File names are matched as text: a pattern that is not UTF-8 cannot be fingerprinted,
    // and says so.
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        reasons.push(NotCacheableReason::InvalidDeclaration {
            detail: format!("reportGlob pattern under {b} is not UTF-8"),
        });
        return None;
    };
    match crate::glob::match_paths_in(&b.to_abs(root), pattern, listings) {
        Ok(matches) => Some(GlobFact {
            base: b,
            pattern: pattern.to_owned(),
            matches,
        }),
        Err(e) => {
            reasons.push(NotCacheableReason::InvalidDeclaration {
                detail: e.to_string(),
            });
            None
        }
    }
}

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
    let listings = crate::glob::Listings::default();
    for d in &run.declarations {
        match d {
            Declaration::IgnoreInput { path: p } => {
                if let Some(r) = decl_path(root, p, true, "ignoreInput", reasons) {
                    ignore_in.push(r);
                }
            }
            Declaration::IgnoreOutput { path: p } => {
                if let Some(r) = decl_path(root, p, false, "ignoreOutput", reasons) {
                    ignore_out.push(r);
                }
            }
            Declaration::ReportInput { path: p } => {
                if let Some(r) = decl_path(root, p, true, "reportInput", reasons) {
                    reported_in.push(r);
                }
            }
            Declaration::ReportOutput { path: p } => {
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
            Declaration::DisableCache { reason, client } => {
                reasons.push(NotCacheableReason::DisabledByTool {
                    reason: reason.clone(),
                    tool: client.clone(),
                });
            }
            Declaration::TrackedEnv { name, value } => {
                // The user's config wins: an env declared untracked stays untracked.
                if !opts.is_untracked(name) {
                    fp.envs.insert(
                        EnvName(name.clone()),
                        value.as_ref().map(|v| env_key.hash_env(name, v.as_bytes())),
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
                        set.matches.insert(name, env_key.hash_env(n, v.as_bytes()));
                    }
                }
            }
            Declaration::ReportGlob { base, pattern } => {
                fp.globs
                    .extend(glob_fact(root, base, pattern, &listings, reasons));
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
    if !fp.globs.is_empty() {
        fp.glob_dirs = glob_dirs(root, &listings);
    }
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
                programs: Vec::new(),
            },
            declarations,
            diagnostics: vec![],
            exit: ExitStatus::Code(0),
        };
        let opts = ClassifyOptions::new(PathBuf::from("/nonexistent-ws"));
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
        let c = run(
            acc,
            vec![Declaration::IgnoreInput {
                path: PathBuf::from("rel"),
            }],
        );
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
                value: Some(b"hunter2".to_vec().into()),
            },
            Declaration::TrackedEnvSet {
                selector: crate::model::EnvSelector::Prefix(b"VITE_".to_vec()),
                matches: vec![(b"VITE_KEY".to_vec(), b"hunter3".to_vec().into())],
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
            config: BTreeMap::default(),
        };
        assert!(!format!("{s:?}").contains("hunter"));
    }
}
