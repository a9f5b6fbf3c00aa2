//! The post-run fingerprint: every fact about the world a cached result depends on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::FORMAT_VERSION;
use crate::canon::Canon;
use crate::env::EnvName;
use crate::error::FingerprintError;
use crate::hash::{Hash32, StatKey};
use crate::model::EnvSelector;
use crate::path::RelPath;

/// What kind of thing a path was when observed (symlinks followed, as the task saw it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Existence {
    Absent,
    File,
    Dir,
    /// A socket, fifo, device...
    Other,
}

impl Existence {
    fn tag(self) -> u8 {
        match self {
            Self::Absent => 0,
            Self::File => 1,
            Self::Dir => 2,
            Self::Other => 3,
        }
    }

    pub fn of(meta: &std::io::Result<std::fs::Metadata>) -> Self {
        match meta {
            Err(_) => Self::Absent,
            Ok(m) if m.is_file() => Self::File,
            Ok(m) if m.is_dir() => Self::Dir,
            Ok(_) => Self::Other,
        }
    }
}

/// A file's content hash, with the stat it had when hashed if that stat was older than the
/// run start (then an unchanged stat proves unchanged content without rehashing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFact {
    pub hash: Hash32,
    /// Any execute bit set (rule 11): `chmod +x` changes what a copy of the file does.
    /// Only the execute bit, as git keeps it, so umasks of other machines do not matter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// The modification time, kept only for an empty file the task observed by stat alone
    /// (rule 1): a stamp file (`touch $@`) carries its meaning in its mtime, and make
    /// decides from it whether a recipe whose real outputs it never stats must run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp_mtime_ns: Option<i64>,
    /// The other content the file may hold: tool state the task found and rewrote is "what
    /// it held before the run, or what the run left" (rule 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or_output: Option<OutputContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<StatKey>,
}

/// A file's content as a run left it: its hash and execute bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputContent {
    pub hash: Hash32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
}

/// A directory listing an entry depends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingFact {
    /// Sorted names seen, without `skip`.
    pub names: BTreeSet<String>,
    /// Names left out on both sides of a comparison: children that are the task's own
    /// outputs, or ignored, or the runner's own files.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skip: BTreeSet<String>,
}

/// Input facts about one path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathFact {
    pub existence: Existence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentFact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingFact>,
    /// The execute bit of a file whose content is not an input but whose mode shaped the
    /// result: a file truncated in place keeps its mode (`cp` onto an existing target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_only: Option<bool>,
}

/// The env vars a `getEnvs` selector matched, as keyed hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSetFact {
    pub selector: EnvSelector,
    pub matches: BTreeMap<EnvName, Hash32>,
    /// Names the user declared untracked: left out now and at validation.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub excluded: BTreeSet<EnvName>,
}

/// A `ReportGlob` match set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobFact {
    pub base: RelPath,
    pub pattern: String,
    pub matches: BTreeSet<String>,
}

/// The post-run fingerprint of one cache entry. Contains no env value in plain text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRunFingerprint {
    pub paths: BTreeMap<RelPath, PathFact>,
    /// Individually tracked envs (`None`: was unset).
    pub envs: BTreeMap<EnvName, Option<Hash32>>,
    pub env_sets: Vec<EnvSetFact>,
    pub globs: Vec<GlobFact>,
    /// Tool salts, keyed-hashed.
    pub salts: BTreeMap<String, Hash32>,
    /// A hint, not a fact (left out of the id, like remembered stats): every directory the
    /// glob match sets were computed from, with the digest of what matching saw in it
    /// (`glob::Listings::digest`). While each still lists the same, every match set is as
    /// stored and validation need not match the globs again. Empty: match them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub glob_dirs: BTreeMap<RelPath, Hash32>,
}

impl PostRunFingerprint {
    /// The entry's identity: blake3 over the canonical form (spec/fingerprint.md). The
    /// remembered stats are hints, not facts, and are left out.
    pub fn id(&self) -> Hash32 {
        let mut c = Canon::new("runwire fingerprint", FORMAT_VERSION);
        c.count(self.paths.len());
        for (p, f) in &self.paths {
            c.str(p.as_str()).u8(f.existence.tag());
            c.opt_hash(f.content.as_ref().map(|x| &x.hash));
            if let Some(x) = &f.content {
                c.u8(u8::from(x.executable));
                // A stamp and an alternative never come together (rule 1, rule 9).
                match (x.stamp_mtime_ns, &x.or_output) {
                    (Some(t), _) => c.u8(1).u64(u64::from_le_bytes(t.to_le_bytes())),
                    (None, Some(o)) => c.u8(2).hash(&o.hash).u8(u8::from(o.executable)),
                    (None, None) => c.u8(0),
                };
            }
            match f.mode_only {
                None => c.u8(0),
                Some(x) => c.u8(1 + u8::from(x)),
            };
            match &f.listing {
                None => {
                    c.u8(0);
                }
                Some(l) => {
                    c.u8(1).count(l.names.len());
                    for n in &l.names {
                        c.str(n);
                    }
                    c.count(l.skip.len());
                    for n in &l.skip {
                        c.str(n);
                    }
                }
            }
        }
        c.count(self.envs.len());
        for (n, v) in &self.envs {
            c.bytes(n.as_bytes()).opt_hash(v.as_ref());
        }
        c.count(self.env_sets.len());
        for s in &self.env_sets {
            match &s.selector {
                EnvSelector::Glob(g) => c.u8(0).bytes(g),
                EnvSelector::Prefix(p) => c.u8(1).bytes(p),
            };
            c.count(s.matches.len());
            for (n, h) in &s.matches {
                c.bytes(n.as_bytes()).hash(h);
            }
            c.count(s.excluded.len());
            for n in &s.excluded {
                c.bytes(n.as_bytes());
            }
        }
        c.count(self.globs.len());
        for g in &self.globs {
            c.str(g.base.as_str())
                .str(&g.pattern)
                .count(g.matches.len());
            for m in &g.matches {
                c.str(m);
            }
        }
        c.count(self.salts.len());
        for (k, h) in &self.salts {
            c.str(k).hash(h);
        }
        c.finish()
    }

    /// Serialized form stored by the cache (JSON; hashes as hex).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a fingerprint always serializes")
    }

    pub fn from_json(data: &[u8]) -> Result<Self, FingerprintError> {
        serde_json::from_slice(data).map_err(|e| FingerprintError::Decode(e.to_string()))
    }

    /// Number of input facts (paths, envs, env sets, globs, salts).
    pub fn fact_count(&self) -> usize {
        self.paths.len()
            + self.envs.len()
            + self.env_sets.len()
            + self.globs.len()
            + self.salts.len()
    }
}
