//! Twin-tree tests: real tools run through `runwire` in one copy of a repository and plainly
//! (no runwire, no cache) in a second copy, step by step, and after **every** run the
//! outputs must be equal. A cache hit whose restored outputs differ from what the plain
//! command produced is exactly the failure a cache must never have.
//!
//! One directory per case under `tests/twins/<case>/`:
//! - `repo/`: copied twice, to `work/` (runwire) and `twin/` (plain);
//! - `compare`: globs (relative to the repo root, one per line) naming the outputs compared
//!   after each run: the set of matching paths, their bytes and their permission bits. The
//!   stdout of the two runs is compared too, unless a line says `!stdout`: a hit replays the
//!   log of the run that made its outputs, where an incremental tool (make) run plainly may
//!   print less, having found less to do;
//! - `steps`, one step a line (`#` starts a comment), applied to both trees:
//!   - `sh COMMAND`: a change (run with `sh -c` at the tree's root; `$HOME` is the tree's
//!     own home directory);
//!   - `later PATH...`: sets the paths' mtimes, in both trees, to one explicit whole second
//!     later than every mtime in either tree (no sleep, no reliance on the clock);
//!   - `export NAME=VALUE` / `unset NAME`;
//!   - `run TASK EXPECT`: `runwire run TASK` in `work/`, the task's plain command in `twin/`
//!     (its `runwire.json` command or package.json script, with `sh -c` at the root), then
//!     the comparison; EXPECT is `hit`, `miss` (ran and cached) or `uncached` (ran, not
//!     cached); `uncached:TEXT` also requires TEXT in runwire's reasons;
//!   - `gated TASK FIFO EDIT`: like `run ... uncached`, but the task blocks reading the
//!     named FIFO (created at the root of each tree); once it has opened it, `sh -c EDIT`
//!     runs in that tree, then the FIFO is written and closed. An edit while the task runs,
//!     with no sleep: runwire must say "changed while the task ran".
//!
//! A case with a file `npm-tools` gets the packages of `tests/twins/_tools` (pinned in its
//! package-lock.json, installed by scripts/install.sh) linked into `node_modules/` of both
//! trees, `.bin` included, so both sides run the very same tool.
//!
//! Mtimes are set explicitly (`touch -d @SECONDS`) where a tool compares them, as the issue
//! asks: make, `cp -u` and Python are wrong without runwire too when an edit lands in the
//! same clock tick as their last write.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twins")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // Git ignores `node_modules/`, so fixtures keep theirs as `_node_modules`.
        let name = if name == "_node_modules" {
            "node_modules".into()
        } else {
            name
        };
        let target = to.join(name);
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One side of the comparison.
struct Tree {
    root: PathBuf,
    home: PathBuf,
}

/// What a compared path holds: kind, bytes and permission bits.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, mode: u32 },
    Dir,
    Symlink(PathBuf),
}

fn snapshot(root: &Path, globs: &globset::GlobSet) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("node_modules/.cache/runwire") {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(path.clone());
            }
            if !globs.is_match(&rel) {
                continue;
            }
            let entry = if ft.is_symlink() {
                Entry::Symlink(std::fs::read_link(&path).unwrap())
            } else if ft.is_dir() {
                Entry::Dir
            } else {
                Entry::File {
                    bytes: std::fs::read(&path).unwrap(),
                    mode: e.metadata().unwrap().permissions().mode() & 0o7777,
                }
            };
            out.insert(rel, entry);
        }
    }
    out
}

fn describe_difference(
    work: &BTreeMap<String, Entry>,
    twin: &BTreeMap<String, Entry>,
) -> Option<String> {
    let mut text = String::new();
    for (p, w) in work {
        match twin.get(p) {
            None => writeln!(text, "  {p}: only with runwire").unwrap(),
            Some(t) if t != w => match (w, t) {
                (Entry::File { bytes: a, mode: ma }, Entry::File { bytes: b, mode: mb }) => {
                    writeln!(
                        text,
                        "  {p}: runwire {:?} (mode {ma:o}) vs plain {:?} (mode {mb:o})",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    )
                    .unwrap();
                }
                _ => writeln!(text, "  {p}: runwire {w:?} vs plain {t:?}").unwrap(),
            },
            Some(_) => {}
        }
    }
    for p in twin.keys() {
        if !work.contains_key(p) {
            writeln!(text, "  {p}: only without runwire").unwrap();
        }
    }
    (!text.is_empty()).then_some(text)
}

/// Links every package of `tests/twins/_tools/node_modules` into the tree's own
/// `node_modules/` (a real directory, so runwire's cache stays per tree).
fn link_npm_tools(root: &Path) {
    let tools = cases_dir().join("_tools/node_modules");
    assert!(
        tools.join(".bin").is_dir(),
        "{} is missing: run scripts/install.sh",
        tools.display()
    );
    let modules = root.join("node_modules");
    std::fs::create_dir_all(&modules).unwrap();
    for e in std::fs::read_dir(&tools).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".package-lock.json" || name == ".cache" {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), modules.join(&name)).unwrap();
    }
}

/// The latest mtime in a tree, in whole seconds rounded up (the cache dir left out).
fn latest_mtime(root: &Path) -> u64 {
    let mut latest = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.path().ends_with("node_modules/.cache") {
                continue;
            }
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let m = meta
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            latest = latest.max(m.as_secs() + u64::from(m.subsec_nanos() > 0));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    latest
}

/// The plain command of a task: runwire.json's `command`, else the package.json script.
fn plain_command(root: &Path, task: &str) -> String {
    if let Ok(text) = std::fs::read_to_string(root.join("runwire.json")) {
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(c) = config["tasks"][task]["command"].as_str() {
            return c.to_owned();
        }
    }
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("package.json")).unwrap()).unwrap();
    pkg["scripts"][task]
        .as_str()
        .unwrap_or_else(|| panic!("no script `{task}`"))
        .to_owned()
}

struct Case {
    name: String,
    env: Vec<(String, Option<String>)>,
    globs: globset::GlobSet,
    work: Tree,
    twin: Tree,
    /// The last mtime a `later` step set.
    last_set_mtime: u64,
    compare_stdout: bool,
    /// `compare` names output globs (they must then match something).
    has_globs: bool,
}

impl Case {
    fn command(&self, tree: &Tree, program: &str) -> Command {
        let mut c = Command::new(program);
        // The same small environment on both sides, whatever the test process has
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

    fn runwire(&self, task: &str) -> Command {
        let mut c = self.command(&self.work, env!("CARGO_BIN_EXE_runwire"));
        c.args(["run", task]);
        c
    }

    fn plain(&self, task: &str) -> Command {
        let mut c = self.command(&self.twin, "sh");
        c.arg("-c").arg(plain_command(&self.twin.root, task));
        c
    }

    fn shell(&self, tree: &Tree, script: &str) {
        let out = self
            .command(tree, "sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: `{script}` failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a task whose command blocks on `fifo`, and edits the tree while it does.
    fn gated(&self, mut command: Command, tree: &Tree, fifo: &str, edit: &str) -> Output {
        let fifo_path = tree.root.join(fifo);
        let c = std::ffi::CString::new(fifo_path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let mut child: Child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Opening for writing without blocking fails (ENXIO) until the task opens it for
        // reading: then it has read everything before the gate.
        let mut gate = loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{}: the gated task ended before the gate ({status})",
                    self.name
                );
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
                Err(e) => panic!("{}: opening the gate: {e}", self.name),
            }
        };
        self.shell(tree, edit);
        gate.write_all(b"go\n").unwrap();
        drop(gate);
        let out = child.wait_with_output().unwrap();
        std::fs::remove_file(&fifo_path).unwrap();
        out
    }

    /// `text` with each tree's root replaced by `<root>` (tools print absolute paths).
    fn mask(&self, text: &[u8]) -> String {
        String::from_utf8_lossy(text)
            .replace(&self.work.root.display().to_string(), "<root>")
            .replace(&self.twin.root.display().to_string(), "<root>")
    }

    fn compare(&self, step: &str, runwire: &Output, plain: &Output) {
        let stderr = String::from_utf8_lossy(&runwire.stderr);
        assert_eq!(
            runwire.status.code(),
            plain.status.code(),
            "{}: `{step}`: exit status differs; runwire said:\n{stderr}",
            self.name
        );
        if self.compare_stdout {
            assert_eq!(
                self.mask(&runwire.stdout),
                self.mask(&plain.stdout),
                "{}: `{step}`: stdout differs; runwire said:\n{stderr}",
                self.name
            );
        }
        let work = snapshot(&self.work.root, &self.globs);
        let twin = snapshot(&self.twin.root, &self.globs);
        assert!(
            !work.is_empty() || !twin.is_empty() || !self.has_globs,
            "{}: the compare globs match nothing",
            self.name
        );
        if let Some(diff) = describe_difference(&work, &twin) {
            panic!(
                "{}: `{step}`: outputs differ from the plain run:\n{diff}runwire said:\n{stderr}",
                self.name
            );
        }
    }
}

fn check_expectation(case: &str, step: &str, expect: &str, stderr: &str) {
    let (kind, text) = expect.split_once(':').unwrap_or((expect, ""));
    let ok = match kind {
        "hit" => stderr.contains(", cache hit"),
        "miss" => stderr.contains("cache miss") && stderr.contains("\n  cached"),
        "uncached" => stderr.contains("not cached:"),
        other => panic!("{case}: unknown expectation `{other}`"),
    };
    assert!(
        ok && stderr.contains(text),
        "{case}: `{step}`: expected {expect}; runwire said:\n{stderr}"
    );
}

fn run_case(name: &str) {
    let dir = cases_dir().join(name);
    // Not under /tmp: that is a scratch location, and a write to the trees' `$HOME` must
    // count as a write outside the workspace.
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tree = |side: &str| {
        let t = Tree {
            root: tmp.path().join(side),
            home: tmp.path().join(format!("home-{side}")),
        };
        copy_dir(&dir.join("repo"), &t.root);
        std::fs::create_dir_all(&t.home).unwrap();
        if dir.join("npm-tools").exists() {
            link_npm_tools(&t.root);
        }
        t
    };
    let mut globs = globset::GlobSetBuilder::new();
    let mut compare_stdout = true;
    let mut has_globs = false;
    for line in std::fs::read_to_string(dir.join("compare"))
        .unwrap()
        .lines()
    {
        let line = line.trim();
        if line == "!stdout" {
            compare_stdout = false;
        } else if !line.is_empty() && !line.starts_with('#') {
            globs.add(globset::Glob::new(line).unwrap());
            has_globs = true;
        }
    }
    let mut case = Case {
        name: name.to_owned(),
        env: Vec::new(),
        globs: globs.build().unwrap(),
        work: tree("work"),
        twin: tree("twin"),
        last_set_mtime: 0,
        compare_stdout,
        has_globs,
    };
    let steps = std::fs::read_to_string(dir.join("steps")).unwrap();
    for (number, text) in steps.lines().enumerate() {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let line = &format!("steps:{}: {text}", number + 1);
        match verb {
            "sh" => {
                case.shell(&case.work, rest);
                case.shell(&case.twin, rest);
            }
            "later" => {
                // Past every mtime in the trees and every time set before: a rewritten file
                // must never get back the mtime an earlier content had.
                let t = latest_mtime(&case.work.root)
                    .max(latest_mtime(&case.twin.root))
                    .max(case.last_set_mtime)
                    + 1;
                case.last_set_mtime = t;
                for side in [&case.work, &case.twin] {
                    for p in rest.split_whitespace() {
                        // Read-only: directories too (setting times needs ownership only).
                        std::fs::File::open(side.root.join(p))
                            .unwrap()
                            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
                            .unwrap();
                    }
                }
            }
            "export" => {
                let (k, v) = rest.split_once('=').expect("export NAME=VALUE");
                case.env.push((k.into(), Some(v.into())));
            }
            "unset" => case.env.push((rest.into(), None)),
            "run" => {
                let (task, expect) = rest.split_once(' ').expect("run TASK EXPECT");
                let runwire = case.runwire(task).output().unwrap();
                let plain = case.plain(task).output().unwrap();
                case.compare(line, &runwire, &plain);
                check_expectation(
                    name,
                    line,
                    expect,
                    &String::from_utf8_lossy(&runwire.stderr),
                );
            }
            "gated" => {
                let mut parts = rest.splitn(3, ' ');
                let (task, fifo, edit) = (
                    parts.next().unwrap(),
                    parts.next().expect("gated TASK FIFO EDIT"),
                    parts.next().expect("gated TASK FIFO EDIT"),
                );
                let runwire = case.gated(case.runwire(task), &case.work, fifo, edit);
                let plain = case.gated(case.plain(task), &case.twin, fifo, edit);
                case.compare(line, &runwire, &plain);
                check_expectation(
                    name,
                    line,
                    "uncached:changed while the task ran",
                    &String::from_utf8_lossy(&runwire.stderr),
                );
            }
            other => panic!("{name}/steps: unknown step `{other}`"),
        }
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        #[test]
        fn every_case_is_listed() {
            let listed = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(cases_dir()).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.starts_with('_') {
                    continue;
                }
                assert!(listed.contains(&name.as_str()), "twin case `{name}` has no test");
            }
        }
    };
}

cases!(
    python_imports,
    make_targets_stamps_and_dirs,
    cp_u_and_chmod,
    input_edited_mid_run,
    config_changes,
    write_outside_workspace,
    tsc_build_mode,
    interpreter_swapped,
    eslint_cache,
    tsdown_clean,
    node22_reads,
);
