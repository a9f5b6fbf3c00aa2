//! Two copies of one repository: `work/`, where tasks run through runwire, and `twin/`,
//! where the same task runs plainly (no runwire, no cache). Every change is applied to both;
//! every run is compared.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::error::OracleError;
use crate::tree::{self, Tree};

/// What runwire said it did with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheVerdict {
    /// Replayed a cached result.
    Hit,
    /// Ran the task and cached it.
    Miss,
    /// Ran the task and did not cache it.
    NotCached,
    /// None of the above was printed (the run failed, say).
    Unknown,
}

impl CacheVerdict {
    /// Reads runwire's summary lines.
    pub fn of(stderr: &str) -> Self {
        if stderr.contains(", cache hit") {
            Self::Hit
        } else if stderr.contains("not cached:") {
            Self::NotCached
        } else if stderr.contains("cache miss") && stderr.contains("\n  cached") {
            Self::Miss
        } else {
            Self::Unknown
        }
    }
}

/// One run on both sides and how they compare.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub verdict: CacheVerdict,
    /// runwire's stderr (its summary and reasons).
    pub stderr: String,
    /// How the runwire side differs from the plain side (outputs, stdout, exit status).
    pub difference: Option<String>,
}

/// What to run on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The task's name: `runwire run NAME`, and the script the plain side runs.
    pub name: String,
    /// Arguments after `runwire` instead of `run NAME` (`["run", "build", "-r"]`).
    pub runwire_args: Option<Vec<String>>,
    /// The plain side's command instead of the task's own (for a whole workspace).
    pub plain: Option<String>,
}

impl TaskSpec {
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            runwire_args: None,
            plain: None,
        }
    }
}

/// The two trees and everything their commands share.
#[derive(Debug)]
pub struct Twins {
    pub work: Tree,
    pub twin: Tree,
    runwire: PathBuf,
    env: Vec<(String, Option<String>)>,
    globs: globset::GlobSet,
    compare_stdout: bool,
    /// The last mtime a `later` set: a rewritten file must never get back an earlier mtime.
    last_set_mtime: u64,
    tmp: tempfile::TempDir,
}

/// How to set up a pair.
#[derive(Debug, Clone)]
pub struct TwinsSpec<'a> {
    pub repo: &'a Path,
    pub runwire: &'a Path,
    /// Output globs compared after every run (relative to the repo root).
    pub compare: &'a [String],
    pub compare_stdout: bool,
    /// An installed `node_modules` whose packages are linked into both trees.
    pub npm_tools: Option<&'a Path>,
    /// Where the temporary trees go. Not under /tmp: that is a scratch location, and a
    /// write to a tree's `$HOME` must count as a write outside the workspace.
    pub scratch: &'a Path,
}

impl Twins {
    pub fn new(spec: &TwinsSpec<'_>) -> Result<Self, OracleError> {
        std::fs::create_dir_all(spec.scratch).map_err(OracleError::io(spec.scratch))?;
        let tmp = tempfile::tempdir_in(spec.scratch).map_err(OracleError::io(spec.scratch))?;
        let side = |name: &str| -> Result<Tree, OracleError> {
            let t =
                Tree::create(tmp.path(), name, spec.repo).map_err(OracleError::io(spec.repo))?;
            if let Some(tools) = spec.npm_tools {
                tree::link_npm_tools(&t.root, tools).map_err(OracleError::io(tools))?;
            }
            Ok(t)
        };
        let mut globs = globset::GlobSetBuilder::new();
        for g in spec.compare {
            globs.add(globset::Glob::new(g).map_err(|e| OracleError::Scenario {
                what: format!("compare glob `{g}`"),
                why: e.to_string(),
            })?);
        }
        Ok(Self {
            work: side("work")?,
            twin: side("twin")?,
            runwire: spec.runwire.to_owned(),
            env: Vec::new(),
            globs: globs.build().map_err(|e| OracleError::Scenario {
                what: "compare globs".into(),
                why: e.to_string(),
            })?,
            compare_stdout: spec.compare_stdout,
            last_set_mtime: 0,
            tmp,
        })
    }

    fn command(&self, tree: &Tree, program: &Path) -> Command {
        let mut c = Command::new(program);
        // The same small environment on both sides, whatever this process has
        // (PYTHONDONTWRITEBYTECODE, say, would make the two trees different programs).
        c.current_dir(&tree.root).env_clear();
        let bins = tree.root.join("node_modules/.bin");
        let path = format!(
            "{}:{}",
            bins.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("HOME", &tree.home)
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    fn sides(&self) -> [&Tree; 2] {
        [&self.work, &self.twin]
    }

    /// Runs `script` with `sh -c` at the root of both trees.
    pub fn shell(&self, script: &str) -> Result<(), OracleError> {
        for tree in self.sides() {
            self.shell_in(tree, script)?;
        }
        Ok(())
    }

    fn shell_in(&self, tree: &Tree, script: &str) -> Result<(), OracleError> {
        let out = self
            .command(tree, Path::new("sh"))
            .arg("-c")
            .arg(script)
            .output()
            .map_err(OracleError::io(&tree.root))?;
        if !out.status.success() {
            return Err(OracleError::Step {
                step: script.to_owned(),
                why: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// Writes a file in both trees (parents created), then moves its mtime later.
    pub fn write(&mut self, rel: &str, content: &str) -> Result<(), OracleError> {
        for tree in self.sides() {
            let p = tree.root.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(OracleError::io(parent))?;
            }
            std::fs::write(&p, content).map_err(OracleError::io(&p))?;
        }
        self.later(&[rel])
    }

    /// Removes a file or directory in both trees (absent is fine).
    pub fn remove(&self, rel: &str) -> Result<(), OracleError> {
        for tree in self.sides() {
            let p = tree.root.join(rel);
            tree::remove_path(&p).map_err(OracleError::io(&p))?;
        }
        Ok(())
    }

    /// Sets a file's permission bits in both trees.
    pub fn chmod(&self, rel: &str, mode: u32) -> Result<(), OracleError> {
        for tree in self.sides() {
            let p = tree.root.join(rel);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .map_err(OracleError::io(&p))?;
        }
        Ok(())
    }

    /// Sets the paths' mtimes, in both trees, to one explicit whole second later than every
    /// mtime in either tree and every time set before (no sleep, no reliance on the clock).
    pub fn later(&mut self, rels: &[&str]) -> Result<(), OracleError> {
        let latest = |t: &Tree| tree::latest_mtime(&t.root).map_err(OracleError::io(&t.root));
        let t = latest(&self.work)?
            .max(latest(&self.twin)?)
            .max(self.last_set_mtime)
            + 1;
        self.last_set_mtime = t;
        for tree in self.sides() {
            for rel in rels {
                let p = tree.root.join(rel);
                tree::set_mtime(&p, t).map_err(OracleError::io(&p))?;
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) a variable for every later command.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.map(str::to_owned)));
    }

    /// The task's plain command: runwire.json's `command`, else the package.json script.
    fn plain_command(&self, task: &str) -> Result<String, OracleError> {
        let root = &self.twin.root;
        if let Ok(text) = std::fs::read_to_string(root.join("runwire.json")) {
            if let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(c) = config["tasks"][task]["command"].as_str() {
                    return Ok(c.to_owned());
                }
            }
        }
        let pkg_path = root.join("package.json");
        let text = std::fs::read_to_string(&pkg_path).map_err(OracleError::io(&pkg_path))?;
        let pkg: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| OracleError::Scenario {
                what: pkg_path.display().to_string(),
                why: e.to_string(),
            })?;
        pkg["scripts"][task]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| OracleError::Scenario {
                what: pkg_path.display().to_string(),
                why: format!("no script `{task}`"),
            })
    }

    fn runwire_command(&self, task: &TaskSpec) -> Command {
        let mut c = self.command(&self.work, &self.runwire);
        let args = match &task.runwire_args {
            Some(args) => args.clone(),
            None => vec!["run".to_owned(), task.name.clone()],
        };
        // stdout is compared byte for byte with the plain run's: no `package:task` prefix.
        if args.first().is_some_and(|a| a == "run") {
            c.arg("run").args(["--log-prefix", "none"]).args(&args[1..]);
        } else {
            c.args(&args);
        }
        c
    }

    fn plain(&self, task: &TaskSpec, tree: &Tree) -> Result<Command, OracleError> {
        let mut c = self.command(tree, Path::new("sh"));
        let script = match &task.plain {
            Some(p) => p.clone(),
            None => self.plain_command(&task.name)?,
        };
        c.arg("-c").arg(script);
        Ok(c)
    }

    /// Runs `task` through runwire in `work/` and plainly in `twin/`, then compares.
    pub fn run(&self, task: &TaskSpec) -> Result<RunReport, OracleError> {
        let runwire = self
            .runwire_command(task)
            .output()
            .map_err(OracleError::io(&self.runwire))?;
        let plain = self
            .plain(task, &self.twin)?
            .output()
            .map_err(OracleError::io(&self.twin.root))?;
        self.report(&runwire, &plain)
    }

    /// `twin/` as it is now, and its home, copied to `<base>/<side>` and `<base>/home-<side>`.
    fn copy_of_twin(&self, base: &Path, side: &str) -> Result<Tree, OracleError> {
        let t = Tree {
            root: base.join(side),
            home: base.join(format!("home-{side}")),
        };
        tree::copy_dir(&self.twin.root, &t.root).map_err(OracleError::io(&t.root))?;
        tree::copy_dir(&self.twin.home, &t.home).map_err(OracleError::io(&t.home))?;
        Ok(t)
    }

    /// Runs the plain command once more in a fresh copy of `twin/` as it is now and says
    /// whether its outputs and stdout equal those of `twin/` after `task` runs there: a
    /// scenario whose plain command disagrees with itself is nondeterministic.
    pub fn plain_is_deterministic(&self, task: &TaskSpec) -> Result<bool, OracleError> {
        let tmp =
            tempfile::tempdir_in(self.tmp.path()).map_err(OracleError::io(self.tmp.path()))?;
        let copies = [
            self.copy_of_twin(tmp.path(), "a")?,
            self.copy_of_twin(tmp.path(), "b")?,
        ];
        let mut results = Vec::new();
        for t in &copies {
            let out = self
                .plain(task, t)?
                .output()
                .map_err(OracleError::io(&t.root))?;
            let mask = |b: &[u8]| mask_root(b, &t.root);
            let snap =
                tree::snapshot(&t.root, &self.globs, &mask).map_err(OracleError::io(&t.root))?;
            results.push((out.status.code(), mask(&out.stdout), snap));
        }
        Ok(results[0] == results[1])
    }

    /// Builds `task` from scratch in a copy of `twin/` (`clean` removed first) and says
    /// whether, on every output path where runwire's side and the plain side differ,
    /// runwire's side equals the clean build: then the difference is the plain tool's own
    /// staleness (it trusted state a clean build does not have), not a wrong hit.
    pub fn work_equals_clean_build(
        &self,
        task: &TaskSpec,
        clean: &[String],
    ) -> Result<bool, OracleError> {
        let tmp =
            tempfile::tempdir_in(self.tmp.path()).map_err(OracleError::io(self.tmp.path()))?;
        let t = self.copy_of_twin(tmp.path(), "clean")?;
        for rel in clean {
            let p = t.root.join(rel);
            tree::remove_path(&p).map_err(OracleError::io(&p))?;
        }
        let out = self
            .plain(task, &t)?
            .output()
            .map_err(OracleError::io(&t.root))?;
        if !out.status.success() {
            return Ok(false);
        }
        let clean_mask = |b: &[u8]| mask_root(b, &t.root);
        let work_mask = |b: &[u8]| self.mask(b);
        let clean_snap =
            tree::snapshot(&t.root, &self.globs, &clean_mask).map_err(OracleError::io(&t.root))?;
        let work_snap = tree::snapshot(&self.work.root, &self.globs, &work_mask)
            .map_err(OracleError::io(&self.work.root))?;
        // Only where runwire's side and the plain side differ: a path both got wrong the
        // same way (an output the plain tool never rebuilt, on both sides) is not runwire's.
        let twin_mask = |b: &[u8]| self.mask(b);
        let twin_snap = tree::snapshot(&self.twin.root, &self.globs, &twin_mask)
            .map_err(OracleError::io(&self.twin.root))?;
        let differing = work_snap
            .keys()
            .chain(twin_snap.keys())
            .filter(|k| work_snap.get(*k) != twin_snap.get(*k));
        Ok(differing
            .into_iter()
            .all(|k| work_snap.get(k) == clean_snap.get(k)))
    }

    /// Makes the compared outputs of `twin/` those of `work/` (after a step where the plain
    /// tool was stale and runwire's side equals a clean build), so the sequence can go on
    /// from equal trees.
    pub fn resync_outputs_from_work(&self) -> Result<(), OracleError> {
        let keep = |_: &[u8]| Vec::new();
        let work = tree::snapshot(&self.work.root, &self.globs, &keep)
            .map_err(OracleError::io(&self.work.root))?;
        let twin = tree::snapshot(&self.twin.root, &self.globs, &keep)
            .map_err(OracleError::io(&self.twin.root))?;
        for rel in twin.keys().rev() {
            if !work.contains_key(rel) {
                let p = self.twin.root.join(rel);
                tree::remove_path(&p).map_err(OracleError::io(&p))?;
            }
        }
        for (rel, entry) in &work {
            let (from, to) = (self.work.root.join(rel), self.twin.root.join(rel));
            match entry {
                tree::Entry::Dir => {
                    std::fs::create_dir_all(&to).map_err(OracleError::io(&to))?;
                }
                tree::Entry::File { .. } => {
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(OracleError::io(parent))?;
                    }
                    std::fs::copy(&from, &to).map_err(OracleError::io(&to))?;
                }
                tree::Entry::Symlink(target) => {
                    let _ = std::fs::remove_file(&to);
                    std::os::unix::fs::symlink(target, &to).map_err(OracleError::io(&to))?;
                }
            }
        }
        Ok(())
    }

    /// Runs `task` on both sides, each blocked on the FIFO `fifo` (created at each root)
    /// until it has opened it; then `edit` changes that tree and the FIFO is written.
    pub fn gated(
        &mut self,
        task: &TaskSpec,
        fifo: &str,
        edit: &mut dyn FnMut(&Path) -> Result<(), OracleError>,
    ) -> Result<RunReport, OracleError> {
        let runwire = Self::gated_one(self.runwire_command(task), &self.work, fifo, edit)?;
        let plain = Self::gated_one(self.plain(task, &self.twin)?, &self.twin, fifo, edit)?;
        self.report(&runwire, &plain)
    }

    fn gated_one(
        mut command: Command,
        tree: &Tree,
        fifo: &str,
        edit: &mut dyn FnMut(&Path) -> Result<(), OracleError>,
    ) -> Result<Output, OracleError> {
        let fifo_path = tree.root.join(fifo);
        let c = std::ffi::CString::new(fifo_path.as_os_str().as_encoded_bytes()).map_err(|_| {
            OracleError::Step {
                step: format!("gate {fifo}"),
                why: "path holds a NUL".into(),
            }
        })?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(OracleError::io(&fifo_path)(std::io::Error::last_os_error()));
        }
        let mut child: Child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(OracleError::io(&tree.root))?;
        // Opening for writing without blocking fails (ENXIO) until the task opens the FIFO
        // for reading: by then it has done everything before the gate.
        let mut gate = loop {
            if let Some(status) = child.try_wait().map_err(OracleError::io(&tree.root))? {
                let out = child
                    .wait_with_output()
                    .map_err(OracleError::io(&tree.root))?;
                return Err(OracleError::Step {
                    step: format!("gated run ({status})"),
                    why: format!(
                        "the task ended before opening the gate: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ),
                });
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo_path)
            {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(OracleError::io(&fifo_path)(e)),
            }
        };
        edit(&tree.root)?;
        gate.write_all(b"go\n")
            .map_err(OracleError::io(&fifo_path))?;
        drop(gate);
        let out = child
            .wait_with_output()
            .map_err(OracleError::io(&tree.root))?;
        std::fs::remove_file(&fifo_path).map_err(OracleError::io(&fifo_path))?;
        Ok(out)
    }

    /// `text` with each tree's root replaced by `<root>` (tools print absolute paths).
    fn mask(&self, text: &[u8]) -> Vec<u8> {
        mask_root(&mask_root(text, &self.work.root), &self.twin.root)
    }

    fn report(&self, runwire: &Output, plain: &Output) -> Result<RunReport, OracleError> {
        let stderr = String::from_utf8_lossy(&runwire.stderr).into_owned();
        let mut difference = String::new();
        if runwire.status.code() != plain.status.code() {
            let _ = writeln!(
                difference,
                "  exit status: runwire {:?} vs plain {:?}",
                runwire.status.code(),
                plain.status.code()
            );
        }
        if self.compare_stdout && self.mask(&runwire.stdout) != self.mask(&plain.stdout) {
            let _ = writeln!(
                difference,
                "  stdout: runwire {:?} vs plain {:?}",
                String::from_utf8_lossy(&self.mask(&runwire.stdout)),
                String::from_utf8_lossy(&self.mask(&plain.stdout))
            );
        }
        let mask = |b: &[u8]| self.mask(b);
        // Both sides may legitimately hold none of the outputs (a tool that does not rebuild
        // what was deleted behind its back); equal is equal.
        let work = tree::snapshot(&self.work.root, &self.globs, &mask)
            .map_err(OracleError::io(&self.work.root))?;
        let twin = tree::snapshot(&self.twin.root, &self.globs, &mask)
            .map_err(OracleError::io(&self.twin.root))?;
        if let Some(d) = tree::describe_difference(&work, &twin) {
            difference.push_str(&d);
        }
        Ok(RunReport {
            verdict: CacheVerdict::of(&stderr),
            stderr,
            difference: (!difference.is_empty()).then_some(difference),
        })
    }
}

fn mask_root(text: &[u8], root: &Path) -> Vec<u8> {
    let needle = root.as_os_str().as_encoded_bytes();
    if needle.is_empty() {
        return text.to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(needle) {
            out.extend_from_slice(b"<root>");
            i += needle.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}
