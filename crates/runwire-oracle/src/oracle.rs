//! Seeded random step sequences over a scenario, each step compared with a plain run;
//! failures are checked for nondeterminism, minimized and written as a shell script.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::OracleError;
use crate::scenario::{Mutation, Rng, Scenario, State};
use crate::twins::{CacheVerdict, RunReport, Twins, TwinsSpec};

/// What kind of wrong result a step showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A cache hit whose outputs, stdout or exit status differ from the plain run.
    FalseHit,
    /// runwire ran the task and still ended with a result different from the plain run.
    WrongRun,
    /// An input edited while the task ran, and runwire cached the run anyway.
    MidRunCached,
    /// Not a finding: runwire's result differed from the plain incremental run but equalled
    /// a clean build (the plain tool trusted stale state); the twin was resynced.
    PlainStale,
}

/// One failure, minimized.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The shortest sequence found that still fails (its last step fails).
    pub steps: Vec<Mutation>,
    /// The sequence as drawn, up to the failing step.
    pub original_len: usize,
    pub difference: String,
    /// runwire's stderr at the failing step.
    pub stderr: String,
    /// A script that replays the minimized sequence (see [`script`]).
    pub script: String,
}

/// The result of one seed on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub seed: u64,
    pub steps_run: usize,
    pub hits: usize,
    pub misses: usize,
    pub not_cached: usize,
    /// The scenario's plain command disagreed with itself: not a runwire finding.
    pub nondeterministic: Option<String>,
    /// Steps where runwire's result differed from the plain incremental run but equalled a
    /// clean build: the plain tool was stale (mtime-trusting tools), not runwire.
    pub plain_stale: Vec<usize>,
    pub finding: Option<Finding>,
    /// Wall time of the whole exploration and of the plain (reference) runs in it.
    #[serde(serialize_with = "as_ms")]
    pub elapsed: Duration,
    #[serde(serialize_with = "as_ms")]
    pub plain_time: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// Where the oracle finds what it needs.
#[derive(Debug, Clone)]
pub struct Setup {
    pub runwire: PathBuf,
    /// Installed npm tools linked into scenarios that ask for them.
    pub npm_tools: PathBuf,
    /// Where temporary trees go (not under /tmp, see [`TwinsSpec::scratch`]).
    pub scratch: PathBuf,
    /// Variables set for every command on both sides (`RUNWIRE_TEST_FAULT` to prove the
    /// oracle can fail).
    pub env: Vec<(String, String)>,
}

/// Draws `steps` mutations from `seed` and runs them, stopping at the first failure.
pub fn explore(
    scenario: &Scenario,
    seed: u64,
    steps: usize,
    setup: &Setup,
) -> Result<Outcome, OracleError> {
    let start = Instant::now();
    let mut rng = Rng::new(seed);
    let mut state = State::default();
    let mut drawn = vec![Mutation::Rerun];
    for _ in 1..steps {
        let m = scenario.spec.draw(&mut rng, &state);
        state.apply(&m);
        drawn.push(m);
    }
    let mut outcome = Outcome {
        scenario: scenario.name.clone(),
        seed,
        steps_run: 0,
        hits: 0,
        misses: 0,
        not_cached: 0,
        nondeterministic: None,
        plain_stale: Vec::new(),
        finding: None,
        elapsed: Duration::ZERO,
        plain_time: Duration::ZERO,
    };
    let mut run = Replay::new(scenario, setup)?;
    for (i, m) in drawn.iter().enumerate() {
        let (report, failure) = run.step(m)?;
        outcome.steps_run += 1;
        match report.verdict {
            CacheVerdict::Hit => outcome.hits += 1,
            CacheVerdict::Miss => outcome.misses += 1,
            CacheVerdict::NotCached | CacheVerdict::Unknown => outcome.not_cached += 1,
        }
        let Some(kind) = failure else { continue };
        if kind == FindingKind::PlainStale {
            outcome.plain_stale.push(i + 1);
            continue;
        }
        if kind != FindingKind::MidRunCached
            && !run.twins.plain_is_deterministic(&scenario.task())?
        {
            outcome.nondeterministic = Some(format!(
                "step {}: the plain command gives different results on two runs of one tree",
                i + 1
            ));
            break;
        }
        let failing = &drawn[..=i];
        let steps = minimize(scenario, setup, failing, kind)?;
        outcome.finding = Some(Finding {
            kind,
            script: script(scenario, seed, &steps),
            steps,
            original_len: failing.len(),
            difference: report.difference.clone().unwrap_or_default(),
            stderr: report.stderr.clone(),
        });
        break;
    }
    outcome.plain_time = run.plain_time;
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}

/// A sequence being applied to one pair of trees.
struct Replay<'a> {
    scenario: &'a Scenario,
    twins: Twins,
    plain_time: Duration,
}

impl<'a> Replay<'a> {
    fn new(scenario: &'a Scenario, setup: &Setup) -> Result<Self, OracleError> {
        let spec = &scenario.spec;
        let repo = scenario.repo();
        let twins = Twins::new(&TwinsSpec {
            repo: &repo,
            runwire: &setup.runwire,
            compare: &spec.compare,
            compare_stdout: spec.compare_stdout,
            npm_tools: spec.npm_tools.then_some(setup.npm_tools.as_path()),
            scratch: &setup.scratch,
        })?;
        let mut twins = twins;
        for (k, v) in &setup.env {
            twins.set_env(k, Some(v));
        }
        Ok(Self {
            scenario,
            twins,
            plain_time: Duration::ZERO,
        })
    }

    /// After a difference: did runwire's side equal a clean build? (See
    /// [`Twins::work_equals_clean_build`].)
    fn plain_was_stale(&self) -> Result<bool, OracleError> {
        let spec = &self.scenario.spec;
        let clean = spec.clean.as_ref().unwrap_or(&spec.outputs);
        if clean.is_empty() {
            return Ok(false);
        }
        self.twins
            .work_equals_clean_build(&self.scenario.task(), clean)
    }

    /// Applies one mutation and runs the task; the failure it shows, if any.
    fn step(&mut self, m: &Mutation) -> Result<(RunReport, Option<FindingKind>), OracleError> {
        let spec = &self.scenario.spec;
        let task = &self.scenario.task();
        match m {
            Mutation::Rerun => {}
            Mutation::Edit { path, index } => self.twins.write(path, &spec.edits[path][*index])?,
            Mutation::Touch { path } => self.twins.later(&[path])?,
            Mutation::Chmod { path, executable } => self
                .twins
                .chmod(path, if *executable { 0o755 } else { 0o644 })?,
            Mutation::Create { path } => {
                self.twins.write(path, &spec.creates[path])?;
                // The directory changed too: make compares a directory's mtime.
                if let Some(parent) = parent_of(path) {
                    self.twins.later(&[parent])?;
                }
            }
            Mutation::Delete { path } => {
                self.twins.remove(path)?;
                if let Some(parent) = parent_of(path) {
                    self.twins.later(&[parent])?;
                }
            }
            Mutation::DeleteOutput { path } => self.twins.remove(path)?,
            Mutation::Env { name, value, .. } => self.twins.set_env(name, value.as_deref()),
            Mutation::Config { index } => {
                self.twins.write("runwire.json", &spec.configs[*index])?;
            }
            Mutation::MidRunEdit { path, index } => {
                let gate = spec.gate.as_deref().unwrap_or("gate");
                let text = spec.edits[path][*index].clone();
                let rel = path.clone();
                let report = self.twins.gated(task, gate, &mut |root: &Path| {
                    let p = root.join(&rel);
                    std::fs::write(&p, &text).map_err(OracleError::io(&p))
                })?;
                let cached = matches!(report.verdict, CacheVerdict::Miss | CacheVerdict::Hit);
                return Ok((report, cached.then_some(FindingKind::MidRunCached)));
            }
        }
        let started = Instant::now();
        let report = self.twins.run(task)?;
        // Both sides ran; count half as the reference run's share (they take about as
        // long on a miss, and a hit is what the oracle is after).
        self.plain_time += started.elapsed() / 2;
        let mut failure = report.difference.as_ref().map(|_| {
            if report.verdict == CacheVerdict::Hit {
                FindingKind::FalseHit
            } else {
                FindingKind::WrongRun
            }
        });
        if failure.is_some() && self.plain_was_stale()? {
            // The trees differ for a reason of the plain tool's own: give the twin runwire's
            // outputs (they equal a clean build) and go on from equal trees.
            self.twins.resync_outputs_from_work()?;
            failure = Some(FindingKind::PlainStale);
        }
        Ok((report, failure))
    }
}

fn parent_of(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(dir, _)| dir)
}

/// Replays `steps` on fresh trees; true when the last step fails with `kind`.
fn fails(
    scenario: &Scenario,
    setup: &Setup,
    steps: &[Mutation],
    kind: FindingKind,
) -> Result<bool, OracleError> {
    let mut run = Replay::new(scenario, setup)?;
    for (i, m) in steps.iter().enumerate() {
        let (_, failure) = run.step(m)?;
        if failure.is_some() && failure != Some(FindingKind::PlainStale) {
            return Ok(i + 1 == steps.len() && failure == Some(kind));
        }
    }
    Ok(false)
}

/// Drops steps one at a time (last but one first) while the sequence still fails the same
/// way at its last step. At most `MAX_REPLAYS` replays.
fn minimize(
    scenario: &Scenario,
    setup: &Setup,
    failing: &[Mutation],
    kind: FindingKind,
) -> Result<Vec<Mutation>, OracleError> {
    const MAX_REPLAYS: usize = 80;
    let mut steps = failing.to_vec();
    let mut replays = 0;
    let mut i = steps.len().saturating_sub(1);
    while i > 0 && replays < MAX_REPLAYS {
        i -= 1;
        let mut candidate = steps.clone();
        candidate.remove(i);
        replays += 1;
        if fails(scenario, setup, &candidate, kind)? {
            steps = candidate;
        }
    }
    Ok(steps)
}

// One arm per mutation kind; splitting it would scatter the script's shape.
#[allow(clippy::too_many_lines)]
/// A shell script that replays `steps` in two fresh copies of the scenario's repository,
/// runwire on one side and the plain command on the other, and prints `diff -r` after
/// every run.
pub fn script(scenario: &Scenario, seed: u64, steps: &[Mutation]) -> String {
    let spec = &scenario.spec;
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# runwire-oracle: scenario {}, seed {seed}, {} step(s). Needs `runwire` on PATH.",
        scenario.name,
        steps.len()
    );
    let _ = writeln!(s, "set -u");
    let _ = writeln!(s, "base=$(mktemp -d); last=0");
    let _ = writeln!(
        s,
        "for side in work twin; do cp -r {} \"$base/$side\"; done",
        q(&scenario.repo().display().to_string())
    );
    if spec.npm_tools {
        let _ = writeln!(
            s,
            "# This scenario also needs tests/twins/_tools/node_modules linked into both node_modules/."
        );
    }
    let _ = writeln!(
        s,
        "later() {{ t=$(( $(date +%s) + 1 )); [ \"$t\" -gt \"$last\" ] || t=$((last + 1)); last=$t; for side in work twin; do touch -d \"@$t\" \"$base/$side/$1\"; done; }}"
    );
    let _ = writeln!(
        s,
        "both() {{ for side in work twin; do (cd \"$base/$side\" && sh -c \"$1\"); done; }}"
    );
    let _ = writeln!(
        s,
        "run() {{ (cd \"$base/work\" && runwire run {task}); (cd \"$base/twin\" && npm_config_loglevel=silent sh -c \"$(node -p 'require(\"./package.json\").scripts[\"{task}\"]' 2>/dev/null || echo false)\"); diff -r -x node_modules -x .runwire \"$base/work\" \"$base/twin\" && echo '-- outputs equal'; }}",
        task = spec.task
    );
    for (n, m) in steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "# step {}: {}",
            n + 1,
            serde_json::to_string(m).unwrap_or_default()
        );
        match m {
            Mutation::Rerun => {}
            Mutation::Edit { path, index } | Mutation::MidRunEdit { path, index } => {
                if matches!(m, Mutation::MidRunEdit { .. }) {
                    let _ = writeln!(
                        s,
                        "# (the oracle made this edit while the task waited on its gate)"
                    );
                }
                let _ = writeln!(
                    s,
                    "both {}",
                    q(&format!(
                        "printf %s {} > {}",
                        q(&spec.edits[path][*index]),
                        q(path)
                    ))
                );
                let _ = writeln!(s, "later {}", q(path));
            }
            Mutation::Touch { path } => {
                let _ = writeln!(s, "later {}", q(path));
            }
            Mutation::Chmod { path, executable } => {
                let _ = writeln!(
                    s,
                    "both {}",
                    q(&format!(
                        "chmod {} {}",
                        if *executable { "755" } else { "644" },
                        q(path)
                    ))
                );
            }
            Mutation::Create { path } => {
                let _ = writeln!(
                    s,
                    "both {}",
                    q(&format!(
                        "mkdir -p \"$(dirname {p})\" && printf %s {} > {p}",
                        q(&spec.creates[path]),
                        p = q(path)
                    ))
                );
                let _ = writeln!(s, "later {}", q(path));
            }
            Mutation::Delete { path } | Mutation::DeleteOutput { path } => {
                let _ = writeln!(s, "both {}", q(&format!("rm -rf {}", q(path))));
            }
            Mutation::Env { name, value, .. } => match value {
                Some(v) => {
                    let _ = writeln!(s, "export {name}={}", q(v));
                }
                None => {
                    let _ = writeln!(s, "unset {name}");
                }
            },
            Mutation::Config { index } => {
                let _ = writeln!(
                    s,
                    "both {}",
                    q(&format!(
                        "printf %s {} > runwire.json",
                        q(&spec.configs[*index])
                    ))
                );
                let _ = writeln!(s, "later runwire.json");
            }
        }
        let _ = writeln!(s, "run");
    }
    s
}
