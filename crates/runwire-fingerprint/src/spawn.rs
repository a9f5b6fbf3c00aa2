//! Spawn keys and the per-task history that explains misses ("command changed").

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};

use crate::FORMAT_VERSION;
use crate::canon::Canon;
use crate::env::{EnvMap, EnvName};
use crate::hash::{EnvKey, Hash32};
use crate::path::RelPath;
use crate::validate::Difference;

/// What the runner is about to spawn. Lives only in memory: env values are plain here (and
/// redacted from `Debug`).
#[derive(Clone)]
pub struct SpawnDescription {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The task's cwd relative to the workspace root.
    pub cwd: RelPath,
    /// Env vars the user declared in config, with their values (`None`: unset).
    pub declared_env: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Every config field that shapes the run or its fingerprint (`inputs`, `outputs`,
    /// `env`, `passThroughEnv`, `toolState`, `outsideWrites`, `cache`), by its name in
    /// runwire.json, as the list of strings written there (a scalar is a one-item list).
    /// Order is kept: `!` globs depend on it.
    pub config: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for SpawnDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<String> = self
            .declared_env
            .keys()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        f.debug_struct("SpawnDescription")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("cwd", &self.cwd)
            .field("declared_env", &env)
            .field("config", &self.config)
            .finish()
    }
}

impl SpawnDescription {
    /// Fills `declared_env` from the runner's env for the names the user declared.
    #[must_use]
    pub fn with_declared_env<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a [u8]>,
        env: &EnvMap,
    ) -> Self {
        for n in names {
            self.declared_env.insert(n.to_vec(), env.get(n).cloned());
        }
        self
    }

    /// The non-secret summary stored in history: hashes and names only.
    pub fn summarize(&self, key: &EnvKey) -> SpawnSummary {
        let mut c = Canon::new("runwire command", FORMAT_VERSION);
        c.bytes(self.program.as_bytes()).count(self.args.len());
        for a in &self.args {
            c.bytes(a.as_bytes());
        }
        let command = c.finish();
        let declared_env = self
            .declared_env
            .iter()
            .map(|(n, v)| (EnvName(n.clone()), v.as_ref().map(|v| key.hash_env(n, v))))
            .collect();
        let config = self
            .config
            .iter()
            .map(|(field, values)| (field.clone(), config_field_hash(field, values)))
            .collect();
        let mut s = SpawnSummary {
            format_version: FORMAT_VERSION,
            spawn_key: SpawnKey(Hash32([0; 32])),
            command,
            cwd: self.cwd.clone(),
            declared_env,
            config,
        };
        s.spawn_key = s.compute_key();
        s
    }

    /// The spawn key: which entries to look at.
    pub fn spawn_key(&self, key: &EnvKey) -> SpawnKey {
        self.summarize(key).spawn_key
    }
}

/// `blake3("runwire config field", v, bytes(field), list(bytes(value)))`.
pub fn config_field_hash(field: &str, values: &[String]) -> Hash32 {
    let mut c = Canon::new("runwire config field", FORMAT_VERSION);
    c.str(field).count(values.len());
    for v in values {
        c.str(v);
    }
    c.finish()
}

/// blake3 over the canonical spawn description (spec/fingerprint.md, "Spawn key").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpawnKey(pub Hash32);

impl std::fmt::Display for SpawnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A spawn description with secrets removed: the command as a hash, env values keyed-hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnSummary {
    pub format_version: u32,
    pub spawn_key: SpawnKey,
    /// blake3 of the canonical program + args (args can hold secrets, so never stored plain).
    pub command: Hash32,
    pub cwd: RelPath,
    pub declared_env: BTreeMap<EnvName, Option<Hash32>>,
    /// [`SpawnDescription::config`], one hash per field (history names the field that
    /// changed; the values are not secret, but one hash per field is all a diff needs).
    #[serde(default)]
    pub config: BTreeMap<String, Hash32>,
}

impl SpawnSummary {
    fn compute_key(&self) -> SpawnKey {
        let mut c = Canon::new("runwire spawn key", self.format_version);
        c.hash(&self.command)
            .str(self.cwd.as_str())
            .count(self.declared_env.len());
        for (n, v) in &self.declared_env {
            c.bytes(n.as_bytes()).opt_hash(v.as_ref());
        }
        c.count(self.config.len());
        for (field, h) in &self.config {
            c.str(field).hash(h);
        }
        SpawnKey(c.finish())
    }

    /// How `self` (now) differs from `previous`: every difference, names only.
    pub fn changes_since(&self, previous: &SpawnSummary) -> Vec<Difference> {
        let mut out = Vec::new();
        if self.format_version != previous.format_version {
            out.push(Difference::FormatVersionChanged {
                was: previous.format_version,
                now: self.format_version,
            });
        }
        if self.command != previous.command {
            out.push(Difference::CommandChanged);
        }
        if self.cwd != previous.cwd {
            out.push(Difference::CwdChanged {
                was: previous.cwd.clone(),
                now: self.cwd.clone(),
            });
        }
        for (n, v) in &self.declared_env {
            match previous.declared_env.get(n) {
                None => out.push(Difference::DeclaredEnvAdded(n.clone())),
                Some(p) if p == v => {}
                Some(None) => out.push(Difference::DeclaredEnvSet(n.clone())),
                Some(Some(_)) if v.is_none() => out.push(Difference::DeclaredEnvUnset(n.clone())),
                Some(Some(_)) => out.push(Difference::DeclaredEnvChanged(n.clone())),
            }
        }
        for n in previous.declared_env.keys() {
            if !self.declared_env.contains_key(n) {
                out.push(Difference::DeclaredEnvRemoved(n.clone()));
            }
        }
        let fields: std::collections::BTreeSet<&String> =
            self.config.keys().chain(previous.config.keys()).collect();
        for field in fields {
            if self.config.get(field) != previous.config.get(field) {
                out.push(Difference::ConfigChanged(field.clone()));
            }
        }
        out
    }
}

/// Why a spawn key has no usable entry, judged from the task's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SpawnExplanation {
    /// The task never ran (or its history was cleaned).
    NoHistory,
    /// The same spawn description ran before: the post-run facts must have changed.
    SameSpawn,
    /// The spawn description differs from the most recent one in history.
    Changed(Vec<Difference>),
}

/// Compares `now` with the task's history (most recent first).
pub fn explain_spawn(now: &SpawnSummary, history: &[SpawnSummary]) -> SpawnExplanation {
    let Some(last) = history.first() else {
        return SpawnExplanation::NoHistory;
    };
    if history.iter().any(|h| h.spawn_key == now.spawn_key) {
        return SpawnExplanation::SameSpawn;
    }
    SpawnExplanation::Changed(now.changes_since(last))
}
