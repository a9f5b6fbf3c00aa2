//! The strict environment a task runs with.
//!
//! A task does not inherit the user's shell environment: a variable it sees but the cache
//! does not know about would make a hit replay output built for another value. It gets:
//!
//! - the pass-through defaults below (what every process needs to run and print: paths,
//!   locale, terminal, CI and color switches), untracked;
//! - the task's `env` names/globs from runwire.json, tracked (their values are in the
//!   spawn key);
//! - the task's `passThroughEnv` names/globs, untracked;
//! - `RUNWIRE_SOCKET` and the client variables the runner adds for a run.
//!
//! `PATH` gets the `node_modules/.bin` directories of the package and of every directory up
//! to the workspace root in front, as npm does for scripts. Anything else a tool needs it
//! asks for through the protocol (`getEnv`), answered from the runner's full environment.
//!
//! The runner's own secrets (`runwire_server::RUNNER_SECRETS`: the remote cache token and
//! key) are not part of that environment: [`runner_env`] leaves them out, so no task gets
//! them, whatever its `env` or `passThroughEnv` says, and no tool can read them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::config::TaskConfig;

/// Names and globs passed to every task without being tracked.
pub const DEFAULT_PASS_THROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "COLORTERM",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TMPDIR",
    "TZ",
    "CI",
    "NO_COLOR",
    "FORCE_COLOR",
];

/// The runner's environment as tasks, tools and the cache engine see it: the process
/// environment without the runner's secrets.
pub fn runner_env() -> Vec<(OsString, OsString)> {
    without_secrets(std::env::vars_os())
}

/// `vars` without the runner's secrets.
pub fn without_secrets(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
        .collect()
}

/// Matches an env name against a `env` or `passThroughEnv` pattern: the protocol's env-name
/// glob (spec/protocol.md, "Glob syntax"), the same matcher the server's policy and the
/// validator use, so a pattern means one thing everywhere. Names are bytes because an
/// environment need not be UTF-8. A malformed pattern matches nothing.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    runwire_fingerprint::glob::match_bytes(pattern, name)
}

/// Whether an `env` or `passThroughEnv` entry is a glob rather than one literal name: it uses
/// a byte the glob syntax gives a meaning (`*`, `?`, `[`, `\`).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

fn matches_any<S: AsRef<str>>(patterns: &[S], name: &OsStr) -> bool {
    patterns
        .iter()
        .any(|p| glob_match(p.as_ref().as_bytes(), name.as_bytes()))
}

/// The user-tracked variables of a task: every set variable matching `env`, plus each
/// literal name of `env` that is unset (as `None`, so setting it later is a change).
/// Sorted by name.
pub fn tracked(
    full: &[(OsString, OsString)],
    config: &TaskConfig,
) -> Vec<(OsString, Option<OsString>)> {
    let mut out: Vec<(OsString, Option<OsString>)> = full
        .iter()
        .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
        .filter(|(name, _)| matches_any(&config.env, name))
        .map(|(n, v)| (n.clone(), Some(v.clone())))
        .collect();
    for pattern in &config.env {
        let literal = !is_glob(pattern);
        if literal && !out.iter().any(|(n, _)| n.as_bytes() == pattern.as_bytes()) {
            out.push((OsString::from(pattern), None));
        }
    }
    out.sort();
    out
}

/// `node_modules/.bin` of `dir` and each parent up to and including `root`.
pub fn bin_dirs(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for ancestor in dir.ancestors() {
        dirs.push(ancestor.join("node_modules").join(".bin"));
        if ancestor == root || !ancestor.starts_with(root) {
            break;
        }
    }
    dirs
}

/// Builds the child's environment from the runner's full one.
pub fn child_env(
    full: &[(OsString, OsString)],
    config: &TaskConfig,
    bin_dirs: &[PathBuf],
    extra: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = full
        .iter()
        .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
        .filter(|(name, _)| {
            matches_any(DEFAULT_PASS_THROUGH, name)
                || matches_any(&config.env, name)
                || matches_any(&config.pass_through_env, name)
        })
        .cloned()
        .collect();
    prepend_bin_dirs(&mut out, bin_dirs);
    for (name, value) in extra {
        out.retain(|(n, _)| n != name);
        out.push((name.clone(), value.clone()));
    }
    out.sort();
    out
}

/// The environment of a task run without the protocol server (it could not start): the
/// runner's whole environment but its own secrets, as outside runwire, since no tool can
/// ask for the variables the strict environment leaves out.
pub fn unserved_child_env(
    full: &[(OsString, OsString)],
    bin_dirs: &[PathBuf],
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = full
        .iter()
        .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
        .cloned()
        .collect();
    prepend_bin_dirs(&mut out, bin_dirs);
    out.sort();
    out
}

/// Puts the packages' `node_modules/.bin` directories in front of `PATH`.
fn prepend_bin_dirs(env: &mut Vec<(OsString, OsString)>, bin_dirs: &[PathBuf]) {
    let path_index = env.iter().position(|(n, _)| n == "PATH");
    let mut path: Vec<u8> = Vec::new();
    for dir in bin_dirs {
        path.extend_from_slice(dir.as_os_str().as_bytes());
        path.push(b':');
    }
    if let Some(i) = path_index {
        path.extend_from_slice(env[i].1.as_bytes());
        env[i].1 = OsString::from_vec(path);
    } else {
        // No PATH at all: the POSIX default after the bin dirs.
        path.extend_from_slice(b"/usr/local/bin:/usr/bin:/bin");
        env.push(("PATH".into(), OsString::from_vec(path)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect()
    }

    /// A glob or name of the shared vectors: a UTF-8 string, or an array of byte values.
    fn vector_bytes(value: &serde_json::Value) -> Vec<u8> {
        match value {
            serde_json::Value::String(text) => text.as_bytes().to_vec(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|b| u8::try_from(b.as_u64().expect("a byte value")).expect("0 to 255"))
                .collect(),
            other => panic!("not a string or byte array: {other}"),
        }
    }

    /// `spec/test_vectors/glob/env_glob.jsonl` (spec/protocol.md, "Glob syntax"): the
    /// patterns of runwire.json mean what they mean to the protocol server.
    #[test]
    fn globs_run_the_shared_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../spec/test_vectors/glob/env_glob.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut rows = 0;
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let glob = vector_bytes(&row["glob"]);
            rows += 1;
            if row.get("invalid").is_some() {
                assert!(
                    !glob_match(&glob, &glob),
                    "{row}: an invalid glob matches nothing"
                );
                continue;
            }
            for name in row["matches"].as_array().unwrap() {
                assert!(
                    glob_match(&glob, &vector_bytes(name)),
                    "{row}: must match {name}"
                );
            }
            for name in row["rejects"].as_array().unwrap() {
                assert!(
                    !glob_match(&glob, &vector_bytes(name)),
                    "{row}: must not match {name}"
                );
            }
        }
        assert!(rows >= 40, "the vectors file lost rows");
    }

    #[test]
    fn literal_names_and_globs() {
        assert!(!is_glob("NODE_ENV"));
        for glob in ["VITE_*", "A?", "[AB]", "A\\B"] {
            assert!(is_glob(glob), "{glob}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"VITE_*", b"VITE_API"));
        assert!(glob_match(b"VITE_*", b"VITE_"));
        assert!(!glob_match(b"VITE_*", b"VITEX"));
        assert!(glob_match(b"*_URL", b"API_URL"));
        assert!(glob_match(b"A?C", b"ABC"));
        assert!(!glob_match(b"A?C", b"AC"));
        assert!(glob_match(b"*a*b", b"xxaxxb"));
        assert!(!glob_match(b"*a*b", b"xxaxxbc"));
        assert!(glob_match(b"LC_*", b"LC_ALL"));
    }

    #[test]
    fn strict_env_drops_undeclared() {
        let full = os(&[
            ("PATH", "/bin"),
            ("SECRET", "x"),
            ("VITE_A", "1"),
            ("KEEP", "k"),
            ("LC_ALL", "C"),
        ]);
        let config = TaskConfig {
            env: vec!["VITE_*".into()],
            pass_through_env: vec!["KEEP".into()],
            ..TaskConfig::default()
        };
        let env = child_env(
            &full,
            &config,
            &[PathBuf::from("/w/node_modules/.bin")],
            &[],
        );
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert_eq!(names, ["KEEP", "LC_ALL", "PATH", "VITE_A"]);
        assert_eq!(env[2].1, "/w/node_modules/.bin:/bin");
    }

    #[test]
    fn runner_secrets_never_reach_a_task() {
        let full = os(&[
            ("PATH", "/bin"),
            ("RUNWIRE_REMOTE_CACHE_TOKEN", "t"),
            ("RUNWIRE_REMOTE_CACHE_KEY", "k"),
            ("RUNWIRE_OTHER", "o"),
        ]);
        let config = TaskConfig {
            env: vec!["RUNWIRE_*".into()],
            pass_through_env: vec!["RUNWIRE_REMOTE_CACHE_TOKEN".into()],
            ..TaskConfig::default()
        };
        let env = child_env(&full, &config, &[], &[]);
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "RUNWIRE_OTHER"]);
        let t = tracked(&full, &config);
        assert_eq!(t, vec![("RUNWIRE_OTHER".into(), Some("o".into()))]);
        let names: Vec<_> = without_secrets(full)
            .into_iter()
            .map(|(n, _)| n.into_string().unwrap())
            .collect();
        assert_eq!(names, ["PATH", "RUNWIRE_OTHER"]);
    }

    #[test]
    fn tracked_includes_unset_literals() {
        let full = os(&[("NODE_ENV", "production"), ("VITE_B", "2")]);
        let config = TaskConfig {
            env: vec!["VITE_*".into(), "API_URL".into(), "NODE_ENV".into()],
            ..TaskConfig::default()
        };
        let t = tracked(&full, &config);
        assert_eq!(
            t,
            vec![
                ("API_URL".into(), None),
                ("NODE_ENV".into(), Some("production".into())),
                ("VITE_B".into(), Some("2".into())),
            ]
        );
    }
}
