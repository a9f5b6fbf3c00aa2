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
//!     the comparison; EXPECT is `hit`, `miss` (ran and cached), `uncached` (ran, not
//!     cached) or `ran` (either: where a tool's own timestamps decide whether it rewrites
//!     its state); `uncached:TEXT` also requires TEXT in runwire's reasons;
//!   - `gated TASK FIFO EDIT`: like `run ... uncached`, but the task blocks reading the
//!     named FIFO (created at the root of each tree); once it has opened it, `sh -c EDIT`
//!     runs in that tree, then the FIFO is written and closed. An edit while the task runs,
//!     with no sleep: runwire must say "changed while the task ran".
//!
//! A case with a file `npm-tools` gets the packages of `tests/twins/_tools` (or of the
//! directory the file names, e.g. `_tools_tsdown`; each pinned in its package-lock.json and
//! installed by scripts/install.sh) linked into `node_modules/` of both trees, `.bin`
//! included, so both sides run the very same tool.
//!
//! Mtimes are set explicitly (`touch -d @SECONDS`) where a tool compares them, as the issue
//! asks: make, `cp -u` and Python are wrong without runwire too when an edit lands in the
//! same clock tick as their last write.

use std::path::{Path, PathBuf};

use runwire_oracle::{CacheVerdict, OracleError, TaskSpec, Twins, TwinsSpec};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twins")
}

fn check_expectation(case: &str, step: &str, expect: &str, verdict: CacheVerdict, stderr: &str) {
    let (kind, text) = expect.split_once(':').unwrap_or((expect, ""));
    let want: &[CacheVerdict] = match kind {
        "hit" => &[CacheVerdict::Hit],
        "miss" => &[CacheVerdict::Miss],
        "uncached" => &[CacheVerdict::NotCached],
        "ran" => &[CacheVerdict::Miss, CacheVerdict::NotCached],
        other => panic!("{case}: unknown expectation `{other}`"),
    };
    assert!(
        want.contains(&verdict) && stderr.contains(text),
        "{case}: `{step}`: expected {expect}; runwire said:\n{stderr}"
    );
}

// One case, parsed and run step by step, reads best as one function.
#[allow(clippy::too_many_lines)]
fn run_case(name: &str) {
    let dir = cases_dir().join(name);
    let mut compare = Vec::new();
    let mut compare_stdout = true;
    for line in std::fs::read_to_string(dir.join("compare"))
        .unwrap()
        .lines()
    {
        let line = line.trim();
        if line == "!stdout" {
            compare_stdout = false;
        } else if !line.is_empty() && !line.starts_with('#') {
            compare.push(line.to_owned());
        }
    }
    // `npm-tools` names the tools directory (default `_tools`).
    let tools_dir = std::fs::read_to_string(dir.join("npm-tools"))
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "_tools".to_owned());
    let tools = cases_dir().join(tools_dir).join("node_modules");
    let repo = dir.join("repo");
    let mut twins = Twins::new(&TwinsSpec {
        repo: &repo,
        runwire: Path::new(env!("CARGO_BIN_EXE_runwire")),
        compare: &compare,
        compare_stdout,
        npm_tools: dir.join("npm-tools").exists().then_some(tools.as_path()),
        scratch: Path::new(env!("CARGO_TARGET_TMPDIR")),
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut ran = false;
    let steps = std::fs::read_to_string(dir.join("steps")).unwrap();
    for (number, text) in steps.lines().enumerate() {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let line = &format!("steps:{}: {text}", number + 1);
        let fail = |e: OracleError| -> ! { panic!("{name}: `{line}`: {e}") };
        let report = match verb {
            "sh" => {
                twins.shell(rest).unwrap_or_else(|e| fail(e));
                continue;
            }
            "later" => {
                let paths: Vec<&str> = rest.split_whitespace().collect();
                twins.later(&paths).unwrap_or_else(|e| fail(e));
                continue;
            }
            "export" => {
                let (k, v) = rest.split_once('=').expect("export NAME=VALUE");
                twins.set_env(k, Some(v));
                continue;
            }
            "unset" => {
                twins.set_env(rest, None);
                continue;
            }
            "run" => {
                let (task, expect) = rest.split_once(' ').expect("run TASK EXPECT");
                let report = twins
                    .run(&TaskSpec::named(task))
                    .unwrap_or_else(|e| fail(e));
                (report, expect.to_owned())
            }
            "gated" => {
                let mut parts = rest.splitn(3, ' ');
                let (task, fifo, edit) = (
                    parts.next().unwrap(),
                    parts.next().expect("gated TASK FIFO EDIT"),
                    parts.next().expect("gated TASK FIFO EDIT"),
                );
                let edit_in = |root: &Path| -> Result<(), OracleError> {
                    let out = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(edit)
                        .current_dir(root)
                        .output()
                        .map_err(OracleError::io(root))?;
                    assert!(out.status.success(), "{name}: `{edit}` failed");
                    Ok(())
                };
                let report = twins
                    .gated(&TaskSpec::named(task), fifo, &mut { edit_in })
                    .unwrap_or_else(|e| fail(e));
                (report, "uncached:changed while the task ran".to_owned())
            }
            other => panic!("{name}/steps: unknown step `{other}`"),
        };
        let (report, expect) = report;
        if let Some(diff) = &report.difference {
            panic!(
                "{name}: `{line}`: runwire's result differs from the plain run:\n{diff}runwire said:\n{}",
                report.stderr
            );
        }
        if !ran {
            // The compare globs must name real outputs (a typo would compare nothing).
            let mut globs = globset::GlobSetBuilder::new();
            for g in &compare {
                globs.add(globset::Glob::new(g).unwrap());
            }
            let matched = runwire_oracle::tree::snapshot(
                &twins.work.root,
                &globs.build().unwrap(),
                &<[u8]>::to_vec,
            )
            .unwrap();
            assert!(
                compare.is_empty() || !matched.is_empty(),
                "{name}: the compare globs match nothing after the first run"
            );
            ran = true;
        }
        check_expectation(name, line, &expect, report.verdict, &report.stderr);
    }
}

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
    go_build,
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
    git_status_index,
    file_added_mid_run,
);
