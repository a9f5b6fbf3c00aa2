//! Data-driven classification and validation cases: one directory per case under
//! `tests/cases/<name>/` with `case.json` (post-run world, trace, declarations, exit,
//! diagnostics, world changes) and the expected result beside it as an insta snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use runwire_fingerprint::{
    Access, ClassifyOptions, Declaration, Diagnostic, EnvKey, EnvMap, EnvSelector, EnvValue,
    ExitStatus, Hasher, PathAccess, PathGlob, RelPath, RunRecord, TraceModel, World, classify,
    observe_tool_state,
};
use serde::Deserialize;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    description: String,
    world: WorldSpec,
    #[serde(default)]
    untracked_env: Vec<String>,
    /// Env-name globs the user declared untracked (passThroughEnv globs).
    #[serde(default)]
    untracked_env_patterns: Vec<String>,
    #[serde(default)]
    external_inputs: Vec<String>,
    /// Tool-state globs beyond the built-in ones (`toolState` in runwire.json).
    #[serde(default)]
    tool_state: Vec<String>,
    /// Absolute scratch locations outside the workspace (`outsideWrites`).
    #[serde(default)]
    scratch_outside: Vec<String>,
    /// Tool-state files as they were just before the run (path -> text), as the runner
    /// records them (rule 9); the world is as the run left it.
    #[serde(default)]
    prior_tool_state: BTreeMap<String, String>,
    /// The task started before the world was written: every input file changed during
    /// the run. Otherwise it started long after.
    #[serde(default)]
    world_written_during_run: bool,
    trace: TraceSpec,
    #[serde(default)]
    declarations: Vec<Value>,
    #[serde(default)]
    exit: Option<Value>,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
    #[serde(default)]
    changes: BTreeMap<String, ChangeSpec>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct WorldSpec {
    /// path -> file text, or `{"dir": true}`, or `{"symlink": target}`.
    #[serde(default)]
    files: BTreeMap<String, Value>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    salts: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceSpec {
    #[serde(default = "yes")]
    complete: bool,
    #[serde(default)]
    incomplete_reasons: Vec<String>,
    /// path -> [first, later...]; `{"list": [names]}` for a listing.
    accesses: BTreeMap<String, Vec<Value>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ChangeSpec {
    #[serde(default)]
    write: BTreeMap<String, String>,
    #[serde(default)]
    mkdir: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, Option<String>>,
    #[serde(default)]
    salts: BTreeMap<String, String>,
    /// path -> octal mode, e.g. "755".
    #[serde(default)]
    chmod: BTreeMap<String, String>,
    /// Paths whose mtime moves one second later, content unchanged.
    #[serde(default)]
    touch: Vec<String>,
}

/// Every world file gets this mtime, so worlds built apart agree on stamps.
fn world_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

const KEY: EnvKey = EnvKey([7; 32]);

fn abs(root: &Path, p: &str) -> PathBuf {
    if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        root.join(p)
    }
}

fn build_world(root: &Path, w: &WorldSpec) {
    for (p, v) in &w.files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match v {
            Value::String(text) => {
                std::fs::write(&path, text).unwrap();
                set_mtime(&path, world_mtime());
            }
            Value::Object(o) if o.contains_key("dir") => std::fs::create_dir_all(&path).unwrap(),
            Value::Object(o) if o.contains_key("symlink") => {
                std::os::unix::fs::symlink(o["symlink"].as_str().unwrap(), &path).unwrap();
            }
            other => panic!("bad file spec for {p}: {other}"),
        }
    }
}

fn access(v: &Value) -> Access {
    match v {
        Value::String(s) => match s.as_str() {
            "read" => Access::Read,
            "stat" => Access::Stat,
            "not_found" => Access::NotFound,
            "write" => Access::Write,
            "create" => Access::Create,
            "truncate" => Access::Truncate,
            "delete" => Access::Delete,
            "rename_from" => Access::RenameFrom,
            "rename_to" => Access::RenameTo,
            other => panic!("unknown access kind {other}"),
        },
        Value::Object(o) => Access::ListDir(
            o["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| OsString::from(n.as_str().unwrap()))
                .collect(),
        ),
        other => panic!("bad access {other}"),
    }
}

fn env_map(env: &BTreeMap<String, String>) -> EnvMap {
    env.iter()
        .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
        .collect()
}

/// Declarations as a tool would send them; env values come from the world, as the server
/// answers from the runner's environment.
fn declaration(root: &Path, v: &Value, env: &EnvMap) -> Declaration {
    let (kind, arg) = v.as_object().unwrap().iter().next().unwrap();
    let s = || arg.as_str().unwrap().to_owned();
    match kind.as_str() {
        "ignore_input" => Declaration::IgnoreInput {
            path: abs(root, &s()),
        },
        "ignore_output" => Declaration::IgnoreOutput {
            path: abs(root, &s()),
        },
        "report_input" => Declaration::ReportInput {
            path: abs(root, &s()),
        },
        "report_output" => Declaration::ReportOutput {
            path: abs(root, &s()),
        },
        "disable_cache" => Declaration::DisableCache {
            reason: s(),
            client: String::new(),
        },
        "tracked_env" => Declaration::TrackedEnv {
            name: s().into_bytes(),
            value: env.get(s().as_bytes()).cloned().map(EnvValue::new),
        },
        "tracked_env_glob" | "tracked_env_prefix" => {
            let selector = if kind == "tracked_env_glob" {
                EnvSelector::Glob(s().into_bytes())
            } else {
                EnvSelector::Prefix(s().into_bytes())
            };
            let matches = env
                .iter()
                .filter(|(n, _)| selector.matches(n))
                .map(|(n, v)| (n.clone(), EnvValue::new(v.clone())))
                .collect();
            Declaration::TrackedEnvSet { selector, matches }
        }
        "report_glob" => Declaration::ReportGlob {
            base: abs(root, arg["base"].as_str().unwrap()),
            pattern: arg["pattern"].as_str().unwrap().as_bytes().to_vec(),
        },
        "salt" => Declaration::Salt {
            key: arg["key"].as_str().unwrap().to_owned(),
            value: arg["value"].as_str().unwrap().as_bytes().to_vec(),
        },
        other => panic!("unknown declaration {other}"),
    }
}

// One case, end to end, reads best as one function.
#[allow(clippy::too_many_lines)]
fn run_case(dir: &Path) -> String {
    let case: Case = serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("ws");
    build_world(&root, &case.world);
    std::fs::create_dir_all(&root).unwrap();
    let env = env_map(&case.world.env);

    let mut accesses = BTreeMap::new();
    for (p, kinds) in &case.trace.accesses {
        let mut acc = PathAccess::new(access(&kinds[0]));
        acc.later = kinds[1..].iter().map(access).collect::<BTreeSet<_>>();
        accesses.insert(abs(&root, p), acc);
    }
    let exit = match &case.exit {
        None => ExitStatus::Code(0),
        Some(Value::Number(n)) => ExitStatus::Code(i32::try_from(n.as_i64().unwrap()).unwrap()),
        Some(v) => ExitStatus::Signal(i32::try_from(v["signal"].as_i64().unwrap()).unwrap()),
    };
    let run = RunRecord {
        trace: TraceModel {
            accesses,
            complete: case.trace.complete,
            incomplete_reasons: case.trace.incomplete_reasons.clone(),
            programs: Vec::new(),
        },
        declarations: case
            .declarations
            .iter()
            .map(|d| declaration(&root, d, &env))
            .collect(),
        diagnostics: case.diagnostics.clone(),
        exit,
    };
    let untracked_patterns: Vec<Vec<u8>> = case
        .untracked_env_patterns
        .iter()
        .map(|s| s.clone().into_bytes())
        .collect();
    let mut opts = ClassifyOptions::new(root.clone());
    opts.external_inputs = case.external_inputs.iter().map(PathBuf::from).collect();
    opts.runner_paths = vec![root.join("node_modules/.cache/runwire")];
    opts.untracked_envs = case
        .untracked_env
        .iter()
        .map(|s| s.clone().into_bytes())
        .collect();
    opts.untracked_env_patterns.clone_from(&untracked_patterns);
    opts.tool_state
        .extend(case.tool_state.iter().map(|g| PathGlob::new(g).unwrap()));
    opts.scratch_outside = case.scratch_outside.iter().map(PathBuf::from).collect();
    opts.spawned_at = Some(if case.world_written_during_run {
        SystemTime::UNIX_EPOCH
    } else {
        SystemTime::now() + std::time::Duration::from_secs(3600)
    });
    let hasher = Hasher::new(None, SystemTime::now());
    // The world before the run, as far as the case says: the tool state it found.
    let before_tmp = tempfile::tempdir().unwrap();
    let before = before_tmp.path().canonicalize().unwrap().join("ws");
    build_world(&before, &case.world);
    std::fs::create_dir_all(&before).unwrap();
    for (p, text) in &case.prior_tool_state {
        std::fs::write(before.join(p), text).unwrap();
    }
    let prior: Vec<RelPath> = case
        .prior_tool_state
        .keys()
        .map(|p| RelPath::parse(p).unwrap())
        .collect();
    opts.prior_tool_state = observe_tool_state(&before, &prior, &hasher);
    let c = classify(&run, &opts, &KEY, &hasher).unwrap();

    let mut out = String::new();
    writeln!(out, "{}", c.verdict).unwrap();
    writeln!(out, "inputs:").unwrap();
    for (p, f) in &c.fingerprint.paths {
        write!(out, "  {p}: {:?}", f.existence).unwrap();
        if let Some(c) = &f.content {
            out.push_str(" +content");
            // Outside paths are the machine's own files: their modes vary.
            if c.executable && !p.is_external() {
                out.push_str(" +exec");
            }
            if c.stamp_mtime_ns.is_some() {
                out.push_str(" +stamp");
            }
            if c.or_output.is_some() {
                out.push_str(" or the output");
            }
        }
        if let Some(x) = f.mode_only {
            out.push_str(if x { " +mode(exec)" } else { " +mode" });
        }
        if let Some(l) = &f.listing {
            write!(out, " listing={:?}", l.names).unwrap();
            if !l.skip.is_empty() {
                write!(out, " skip={:?}", l.skip).unwrap();
            }
        }
        out.push('\n');
    }
    for (n, v) in &c.fingerprint.envs {
        writeln!(
            out,
            "  env {n}: {}",
            if v.is_some() { "set" } else { "unset" }
        )
        .unwrap();
    }
    for s in &c.fingerprint.env_sets {
        let names: Vec<String> = s.matches.keys().map(ToString::to_string).collect();
        let excl: Vec<String> = s.excluded.iter().map(ToString::to_string).collect();
        let sel = match &s.selector {
            EnvSelector::Glob(g) => format!("glob {}", String::from_utf8_lossy(g)),
            EnvSelector::Prefix(p) => format!("prefix {}", String::from_utf8_lossy(p)),
        };
        writeln!(out, "  envs {sel}: {names:?} excluded={excl:?}").unwrap();
    }
    for g in &c.fingerprint.globs {
        writeln!(out, "  glob {} {}: {:?}", g.base, g.pattern, g.matches).unwrap();
    }
    for k in c.fingerprint.salts.keys() {
        writeln!(out, "  salt {k}").unwrap();
    }
    writeln!(out, "outputs:").unwrap();
    writeln!(out, "  paths: {:?}", c.outputs.paths).unwrap();
    writeln!(out, "  trees: {:?}", c.outputs.trees).unwrap();
    writeln!(out, "  emptied: {:?}", c.outputs.emptied_dirs).unwrap();

    // The stored form must round-trip and keep its id.
    let json = c.fingerprint.to_json();
    let back = runwire_fingerprint::PostRunFingerprint::from_json(&json).unwrap();
    assert_eq!(back.id(), c.fingerprint.id());
    // So must the binary storage form, and every truncation of it must fail cleanly.
    let bin = c.fingerprint.to_bytes();
    assert_eq!(
        runwire_fingerprint::PostRunFingerprint::from_bytes(&bin).unwrap(),
        c.fingerprint
    );
    for cut in 0..bin.len() {
        assert!(runwire_fingerprint::PostRunFingerprint::from_bytes(&bin[..cut]).is_err());
    }
    for (name, value) in &case.world.env {
        assert!(
            !String::from_utf8_lossy(&json).contains(value.as_str()) || value.len() < 4,
            "env {name}'s value leaked into the stored fingerprint"
        );
    }

    // The world the run started from: always valid (with no tool state it found and
    // rewrote, that is the world it left).
    let world_salts: BTreeMap<String, Vec<u8>> = case
        .world
        .salts
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let unchanged = back.validate(
        &World {
            workspace_root: &before,
            env: &env,
            env_key: &KEY,
            salts: &world_salts,
            untracked_env_patterns: &untracked_patterns,
        },
        &Hasher::new(None, SystemTime::now()),
    );
    assert!(
        unchanged.is_empty(),
        "{}: unchanged world must validate, got {unchanged:?}",
        dir.display()
    );

    writeln!(out, "changes:").unwrap();
    for (name, ch) in &case.changes {
        let tmp2 = tempfile::tempdir().unwrap();
        let root2 = tmp2.path().canonicalize().unwrap().join("ws");
        build_world(&root2, &case.world);
        std::fs::create_dir_all(&root2).unwrap();
        for p in &ch.remove {
            let path = root2.join(p);
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            } else {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (p, text) in &ch.write {
            let path = root2.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        for p in &ch.mkdir {
            std::fs::create_dir_all(root2.join(p)).unwrap();
        }
        for (p, mode) in &ch.chmod {
            let mode = u32::from_str_radix(mode, 8).unwrap();
            std::fs::set_permissions(root2.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        for p in &ch.touch {
            set_mtime(
                &root2.join(p),
                world_mtime() + std::time::Duration::from_secs(1),
            );
        }
        let mut env2 = env.clone();
        for (k, v) in &ch.env {
            match v {
                Some(v) => env2.insert(k.clone().into_bytes(), v.clone().into_bytes()),
                None => env2.remove(k.as_bytes()),
            };
        }
        let mut salts2 = world_salts.clone();
        for (k, v) in &ch.salts {
            salts2.insert(k.clone(), v.clone().into_bytes());
        }
        let diffs = back.validate(
            &World {
                workspace_root: &root2,
                env: &env2,
                env_key: &KEY,
                salts: &salts2,
                untracked_env_patterns: &untracked_patterns,
            },
            &Hasher::new(None, SystemTime::now()),
        );
        writeln!(out, "  {name}:").unwrap();
        if diffs.is_empty() {
            writeln!(out, "    valid (hit)").unwrap();
        }
        for d in &diffs {
            writeln!(out, "    - {d}").unwrap();
        }
        for (k, v) in &ch.env {
            if let Some(v) = v {
                let shown = diffs.iter().map(ToString::to_string).collect::<String>();
                assert!(
                    !shown.contains(v.as_str()),
                    "env {k}'s value shown in a difference"
                );
            }
        }
    }
    out
}

#[test]
fn cases() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the full case set, found {}",
        dirs.len()
    );
    for dir in dirs {
        let text = run_case(&dir);
        insta::with_settings!({snapshot_path => dir.clone(), prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!("result", text);
        });
    }
}
