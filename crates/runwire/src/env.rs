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
//! key) are not part of that environment: [`without_secrets`] leaves them out of the
//! runner's snapshot (`settings::EnvSnapshot::runner`), so no task gets them, whatever its
//! `env` or `passThroughEnv` says, and no tool can read them.
//!
//! A task's `env` and `passThroughEnv` are read once, into a [`TaskEnv`]: every entry is an
//! env-name glob (`runwire_model::EnvPattern`, spec/protocol.md "Glob syntax"), and one
//! without wildcards names one variable. It gives the child's environment, the tracked
//! values of the spawn key, and the untracked policy the engine applies.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use runwire_model::{ArgError, EnvPattern, EnvPolicy};

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

/// `vars` without the runner's secrets.
pub fn without_secrets(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
        .collect()
}

/// [`DEFAULT_PASS_THROUGH`], parsed.
static DEFAULT_PATTERNS: LazyLock<Vec<EnvPattern>> = LazyLock::new(|| {
    DEFAULT_PASS_THROUGH
        .iter()
        .map(|p| EnvPattern::parse(p.as_bytes()).expect("the defaults are valid globs"))
        .collect()
});

/// A task's env configuration, read once: what the child sees, what the spawn key tracks,
/// and which names stay untracked whatever a tool asks.
#[derive(Debug, Clone)]
pub struct TaskEnv {
    /// `env`: passed and tracked.
    tracked: Vec<EnvPattern>,
    /// `passThroughEnv`: passed, never tracked.
    untracked: EnvPolicy,
    pass_through: Vec<EnvPattern>,
}

/// An `env` or `passThroughEnv` entry that is not a valid env-name glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}[{index}] `{entry}`: {error}")]
pub struct EnvEntryError {
    pub field: &'static str,
    pub index: usize,
    pub entry: String,
    pub error: ArgError,
}

impl TaskEnv {
    /// Reads a task's `env` and `passThroughEnv`.
    pub fn new(config: &TaskConfig) -> Result<Self, EnvEntryError> {
        let parse = |field: &'static str, list: &[String]| {
            list.iter()
                .enumerate()
                .map(|(index, entry)| {
                    EnvPattern::parse(entry.as_bytes()).map_err(|error| EnvEntryError {
                        field,
                        index,
                        entry: entry.clone(),
                        error,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let pass_through = parse("passThroughEnv", &config.pass_through_env)?;
        Ok(Self {
            tracked: parse("env", &config.env)?,
            untracked: EnvPolicy::untracking(pass_through.iter().cloned()),
            pass_through,
        })
    }

    /// The names and globs the user left untracked (`passThroughEnv`): the engine applies
    /// it, the one layer that decides what a run depends on.
    pub fn untracked(&self) -> &EnvPolicy {
        &self.untracked
    }

    /// The user-tracked variables of the task: every set variable matching `env`, plus each
    /// name of `env` that is unset (as `None`, so setting it later is a change). Sorted by
    /// name.
    pub fn tracked(&self, full: &[(OsString, OsString)]) -> Vec<(OsString, Option<OsString>)> {
        let mut out: Vec<(OsString, Option<OsString>)> = full
            .iter()
            .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
            .filter(|(name, _)| matches_any(&self.tracked, name))
            .map(|(n, v)| (n.clone(), Some(v.clone())))
            .collect();
        for pattern in &self.tracked {
            if let EnvPattern::Name(name) = pattern
                && !out.iter().any(|(n, _)| n.as_bytes() == name.as_slice())
            {
                out.push((OsString::from_vec(name.clone()), None));
            }
        }
        out.sort();
        out
    }

    /// The child's environment from the runner's full one: the defaults, `env` and
    /// `passThroughEnv`, the bin dirs in front of `PATH`, then `extra`.
    pub fn child_env(
        &self,
        full: &[(OsString, OsString)],
        bin_dirs: &[PathBuf],
        extra: &[(OsString, OsString)],
    ) -> Vec<(OsString, OsString)> {
        let mut out: Vec<(OsString, OsString)> = full
            .iter()
            .filter(|(name, _)| !runwire_server::is_runner_secret(name.as_bytes()))
            .filter(|(name, _)| {
                matches_any(&DEFAULT_PATTERNS, name)
                    || matches_any(&self.tracked, name)
                    || matches_any(&self.pass_through, name)
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
}

fn matches_any(patterns: &[EnvPattern], name: &OsStr) -> bool {
    patterns.iter().any(|p| p.matches(name.as_bytes()))
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
    use std::collections::BTreeSet;

    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect()
    }

    fn task_env(env: &[&str], pass_through: &[&str]) -> TaskEnv {
        let config = TaskConfig {
            env: env.iter().map(ToString::to_string).collect(),
            pass_through_env: pass_through.iter().map(ToString::to_string).collect(),
            ..TaskConfig::default()
        };
        TaskEnv::new(&config).unwrap()
    }

    #[test]
    fn entries_are_env_globs_and_names_are_globs_without_wildcards() {
        let env = task_env(&["NODE_ENV", "VITE_*", "[AB]_MODE"], &["CI", "AWS_*", "X?"]);
        let policy = env.untracked();
        assert_eq!(policy.names(), BTreeSet::from([b"CI".to_vec()]));
        assert_eq!(policy.globs(), vec![b"AWS_*".to_vec(), b"X?".to_vec()]);
        let full = os(&[("A_MODE", "a"), ("C_MODE", "c"), ("VITE_A", "v")]);
        let names: Vec<_> = env.tracked(&full).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A_MODE", "NODE_ENV", "VITE_A"]);
    }

    /// The one glob meaning the spec settles (spec/protocol.md, "Glob syntax": `\` makes the
    /// next byte literal): `FOO_\*` names the variable `FOO_*`. It used to count as a glob
    /// because it holds a `\` (`is_glob`), so an unset `FOO_*` was not recorded as unset and a
    /// pass-through `FOO_\*` was not a name the engine leaves out of a recorded set.
    #[test]
    fn an_escaped_entry_is_one_name() {
        let env = task_env(&["FOO_\\*"], &["BAR_\\*"]);
        assert_eq!(
            env.tracked(&os(&[("FOO_X", "x")])),
            vec![("FOO_*".into(), None)]
        );
        assert_eq!(
            env.tracked(&os(&[("FOO_*", "1")])),
            vec![("FOO_*".into(), Some("1".into()))]
        );
        assert_eq!(env.untracked().names(), BTreeSet::from([b"BAR_*".to_vec()]));
        assert!(env.untracked().globs().is_empty());
        assert!(!env.untracked().is_untracked(b"BAR_X"));
        let child = env.child_env(&os(&[("FOO_X", "x"), ("BAR_*", "b")]), &[], &[]);
        let names: Vec<_> = child.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert_eq!(names, ["BAR_*", "PATH"]);
    }

    #[test]
    fn an_invalid_entry_is_an_error_naming_it() {
        let config = TaskConfig {
            pass_through_env: vec!["OK".into(), "BAD[".into()],
            ..TaskConfig::default()
        };
        assert_eq!(
            TaskEnv::new(&config).unwrap_err().to_string(),
            "passThroughEnv[1] `BAD[`: glob has an unclosed `[` class starting at byte 3 (INVALID_PATTERN)"
        );
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
        let env = TaskEnv::new(&config).unwrap().child_env(
            &full,
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
        let env = TaskEnv::new(&config).unwrap().child_env(&full, &[], &[]);
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "RUNWIRE_OTHER"]);
        let t = TaskEnv::new(&config).unwrap().tracked(&full);
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
        let t = TaskEnv::new(&config).unwrap().tracked(&full);
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
