//! Scenarios: a template repository, the task to run, the outputs to compare, and the
//! mutations a step may draw. One directory each: `scenario.json` beside `repo/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::OracleError;

/// `scenario.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub description: String,
    /// The task `runwire run` gets; the plain side runs its command.
    pub task: String,
    /// Arguments after `runwire` instead of `run TASK` (e.g. `["run", "build", "-r"]`).
    #[serde(default)]
    pub runwire_args: Option<Vec<String>>,
    /// The plain side's command instead of the task's script (a whole workspace, say).
    #[serde(default)]
    pub plain: Option<String>,
    /// Output globs compared after every run.
    #[serde(default)]
    pub compare: Vec<String>,
    /// Compare stdout too (off for incremental tools, whose plain runs print less when
    /// they find less to do while a hit replays the log of the run that made its outputs).
    #[serde(default = "yes")]
    pub compare_stdout: bool,
    /// Link the packages of `tests/twins/_tools/node_modules` into both trees.
    #[serde(default)]
    pub npm_tools: bool,
    /// Files whose content a step may set to one of these texts (the first is the repo's
    /// own, so going back to it is "revert to an earlier content"). Give same-size variants
    /// too: a tool that trusts size and mtime is fooled only by those.
    #[serde(default)]
    pub edits: BTreeMap<String, Vec<String>>,
    /// Files a step may create (with this content) and delete again.
    #[serde(default)]
    pub creates: BTreeMap<String, String>,
    /// Files whose execute bit a step may flip.
    #[serde(default)]
    pub executables: Vec<String>,
    /// Outputs (files or whole directories) a step may delete.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// What to remove for a clean build (default: `outputs`): outputs and the tool's own
    /// state. A result that differs from the plain incremental run but equals a clean
    /// build is the plain tool's staleness (make and `cp -u` trust mtimes), not a false hit.
    #[serde(default)]
    pub clean: Option<Vec<String>>,
    /// Variables the task tracks (declared in its config or asked for through the
    /// protocol), with the values a step may set; a step may also unset them.
    #[serde(default)]
    pub tracked_env: BTreeMap<String, Vec<String>>,
    /// Variables nothing tracks: changing them must never be a miss nor change outputs.
    #[serde(default)]
    pub untracked_env: BTreeMap<String, Vec<String>>,
    /// runwire.json texts a step may switch to (the plain side ignores runwire.json unless
    /// a task's `command` is set there).
    #[serde(default)]
    pub configs: Vec<String>,
    /// A FIFO the task waits on when it exists: a step may edit one of `edits` while the
    /// task waits there (after it read its inputs), and the run must not be cached.
    #[serde(default)]
    pub gate: Option<String>,
}

fn yes() -> bool {
    true
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub dir: PathBuf,
    pub spec: ScenarioSpec,
}

impl Scenario {
    /// Loads `<dir>/scenario.json`.
    pub fn load(dir: &Path) -> Result<Self, OracleError> {
        let path = dir.join("scenario.json");
        let text = std::fs::read_to_string(&path).map_err(OracleError::io(&path))?;
        let spec: ScenarioSpec =
            serde_json::from_str(&text).map_err(|e| OracleError::Scenario {
                what: path.display().to_string(),
                why: e.to_string(),
            })?;
        for (file, texts) in &spec.edits {
            if texts.len() < 2 {
                return Err(OracleError::Scenario {
                    what: path.display().to_string(),
                    why: format!("edits of {file}: give at least two contents"),
                });
            }
        }
        Ok(Self {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_owned(),
            spec,
        })
    }

    /// Every scenario under `dir` (directories holding a `scenario.json`), by name.
    pub fn load_all(dir: &Path) -> Result<Vec<Self>, OracleError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(OracleError::io(dir))? {
            let e = e.map_err(OracleError::io(dir))?;
            if e.path().join("scenario.json").is_file() {
                out.push(Self::load(&e.path())?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    /// What each side runs.
    pub fn task(&self) -> crate::twins::TaskSpec {
        crate::twins::TaskSpec {
            name: self.spec.task.clone(),
            runwire_args: self.spec.runwire_args.clone(),
            plain: self.spec.plain.clone(),
        }
    }
}

/// One change a step makes before it runs the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mutation {
    /// No change: run again (the first step, and "a repeated state is a hit").
    Rerun,
    /// Set a file to `edits[path][index]`, mtime a later whole second.
    Edit {
        path: String,
        index: usize,
    },
    /// Move a file's mtime a whole second later, content unchanged.
    Touch {
        path: String,
    },
    /// Set or clear the execute bits.
    Chmod {
        path: String,
        executable: bool,
    },
    Create {
        path: String,
    },
    Delete {
        path: String,
    },
    /// Delete an output (file or directory) the task made.
    DeleteOutput {
        path: String,
    },
    /// Set (`Some`) or unset (`None`) an env var, tracked or not.
    Env {
        name: String,
        value: Option<String>,
        tracked: bool,
    },
    /// Write `configs[index]` as runwire.json.
    Config {
        index: usize,
    },
    /// Edit a file while the task waits on the gate.
    MidRunEdit {
        path: String,
        index: usize,
    },
}

/// The state a sequence has reached, to draw changes that change something.
#[derive(Debug, Clone, Default)]
pub struct State {
    content: BTreeMap<String, usize>,
    executable: BTreeMap<String, bool>,
    created: BTreeMap<String, bool>,
    env: BTreeMap<String, Option<String>>,
    config: Option<usize>,
}

impl State {
    /// Records what `m` changed.
    pub fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::Edit { path, index } | Mutation::MidRunEdit { path, index } => {
                self.content.insert(path.clone(), *index);
            }
            Mutation::Chmod { path, executable } => {
                self.executable.insert(path.clone(), *executable);
            }
            Mutation::Create { path } => {
                self.created.insert(path.clone(), true);
            }
            Mutation::Delete { path } => {
                self.created.insert(path.clone(), false);
            }
            Mutation::Env { name, value, .. } => {
                self.env.insert(name.clone(), value.clone());
            }
            Mutation::Config { index } => self.config = Some(*index),
            Mutation::Rerun | Mutation::Touch { .. } | Mutation::DeleteOutput { .. } => {}
        }
    }
}

/// A small deterministic generator (splitmix64): the same seed draws the same steps on
/// every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x05EE_D0F0_AC1E)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One kind of mutation: draws its parameters (`None`: nothing applies).
type Draw = fn(&ScenarioSpec, &mut Rng, &State) -> Option<Mutation>;

impl ScenarioSpec {
    /// Draws one mutation that applies in `state`.
    pub fn draw(&self, rng: &mut Rng, state: &State) -> Mutation {
        let mut kinds: Vec<Draw> = vec![|_, _, _| Some(Mutation::Rerun)];
        if !self.edits.is_empty() {
            kinds.push(|s, r, st| {
                let files: Vec<&String> = s.edits.keys().collect();
                let path = (*r.pick(&files)).clone();
                let now = st.content.get(&path).copied().unwrap_or(0);
                let n = s.edits[&path].len();
                let index = (now + 1 + r.below(n - 1)) % n;
                Some(Mutation::Edit { path, index })
            });
            kinds.push(|s, r, _| {
                let files: Vec<&String> = s.edits.keys().collect();
                Some(Mutation::Touch {
                    path: (*r.pick(&files)).clone(),
                })
            });
        }
        if !self.executables.is_empty() {
            kinds.push(|s, r, st| {
                let path = r.pick(&s.executables).clone();
                let now = st.executable.get(&path).copied().unwrap_or(false);
                Some(Mutation::Chmod {
                    path,
                    executable: !now,
                })
            });
        }
        if !self.creates.is_empty() {
            kinds.push(|s, r, st| {
                let files: Vec<&String> = s.creates.keys().collect();
                let path = (*r.pick(&files)).clone();
                Some(if st.created.get(&path).copied().unwrap_or(false) {
                    Mutation::Delete { path }
                } else {
                    Mutation::Create { path }
                })
            });
        }
        if !self.outputs.is_empty() {
            kinds.push(|s, r, _| {
                Some(Mutation::DeleteOutput {
                    path: r.pick(&s.outputs).clone(),
                })
            });
        }
        for tracked in [true, false] {
            let vars = if tracked {
                &self.tracked_env
            } else {
                &self.untracked_env
            };
            if vars.is_empty() {
                continue;
            }
            kinds.push(if tracked {
                |s, r, st| Some(env_change(&s.tracked_env, true, r, st))
            } else {
                |s, r, st| Some(env_change(&s.untracked_env, false, r, st))
            });
        }
        if !self.configs.is_empty() {
            kinds.push(|s, r, st| {
                let n = s.configs.len();
                let index = match st.config {
                    Some(now) if n > 1 => (now + 1 + r.below(n - 1)) % n,
                    _ => r.below(n),
                };
                Some(Mutation::Config { index })
            });
        }
        if self.gate.is_some() && !self.edits.is_empty() {
            kinds.push(|s, r, st| {
                let files: Vec<&String> = s.edits.keys().collect();
                let path = (*r.pick(&files)).clone();
                let now = st.content.get(&path).copied().unwrap_or(0);
                let n = s.edits[&path].len();
                Some(Mutation::MidRunEdit {
                    index: (now + 1 + r.below(n - 1)) % n,
                    path,
                })
            });
        }
        let kind = kinds[rng.below(kinds.len())];
        kind(self, rng, state).unwrap_or(Mutation::Rerun)
    }
}

fn env_change(
    vars: &BTreeMap<String, Vec<String>>,
    tracked: bool,
    rng: &mut Rng,
    state: &State,
) -> Mutation {
    let names: Vec<&String> = vars.keys().collect();
    let name = (*rng.pick(&names)).clone();
    let now = state.env.get(&name).cloned().flatten();
    // The choices: every value and "unset", without the current one.
    let mut choices: Vec<Option<String>> = vars[&name].iter().cloned().map(Some).collect();
    choices.push(None);
    choices.retain(|c| *c != now);
    let value = rng.pick(&choices).clone();
    Mutation::Env {
        name,
        value,
        tracked,
    }
}
