//! What a run's tools declared: [`Declaration`], with the [`EnvSelector`] of a `GetEnvs` and
//! the [`EnvValue`]s answered. The protocol server produces these (its converter is the one
//! place wire messages become them) and the fingerprint engine consumes them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};

use crate::Redacted;

/// An environment variable's value. Kept in memory only: `Debug` prints the length and
/// `Serialize` writes a blake3 hash, never the bytes, so a value cannot leak through a log or
/// a report by accident.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvValue(Vec<u8>);

impl EnvValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for EnvValue {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvValue(<{} bytes>)", self.0.len())
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("blake3:{}", blake3::hash(&self.0).to_hex()))
    }
}

/// Which names a `GetEnvs` asked for. Serialized with its bytes as they are (a stored
/// fingerprint keeps them exactly); a server report shows them as text instead.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvSelector {
    /// The env-name glob ([`crate::glob`]) over name bytes, as the tool wrote it.
    Glob(Vec<u8>),
    /// A literal name prefix: every byte, `*` included, matches itself.
    Prefix(Vec<u8>),
}

impl EnvSelector {
    /// Whether `name` is selected. A malformed glob (never recorded: the server refuses it)
    /// selects nothing.
    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Self::Prefix(prefix) => name.starts_with(prefix),
            Self::Glob(pattern) => crate::glob::matches(pattern, name),
        }
    }
}

/// One fact a tool declared about its run. Paths are absolute and lexically normalized.
/// `Debug` shows byte strings escaped (`b"VITE_\xff"`) and never an env or salt value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Declaration {
    /// The run depends on this variable; `None`: it was unset.
    TrackedEnv {
        #[serde(serialize_with = "lossy")]
        name: Vec<u8>,
        value: Option<EnvValue>,
    },
    /// The run depends on the set of variables matching `selector`, answered as `matches`
    /// (sorted by name).
    TrackedEnvSet {
        #[serde(serialize_with = "lossy_selector")]
        selector: EnvSelector,
        #[serde(serialize_with = "lossy_pairs")]
        matches: Vec<(Vec<u8>, EnvValue)>,
    },
    /// Nothing at or under this path is an input.
    IgnoreInput {
        #[serde(serialize_with = "lossy_path")]
        path: PathBuf,
    },
    /// Nothing at or under this path is an output.
    IgnoreOutput {
        #[serde(serialize_with = "lossy_path")]
        path: PathBuf,
    },
    /// The run must not be cached. `client` is the `Hello.client_name` of the connection
    /// that sent it (empty when unknown): the runner names the tool by it, and may treat a
    /// client that calls it by habit (vite-task's, which vite calls under `vitest run`) as
    /// not binding.
    DisableCache { reason: String, client: String },
    /// This path is an input even if the tracer did not see it read.
    ReportInput {
        #[serde(serialize_with = "lossy_path")]
        path: PathBuf,
    },
    /// This path is an output.
    ReportOutput {
        #[serde(serialize_with = "lossy_path")]
        path: PathBuf,
    },
    /// The run depends on the set of paths under `base` matching `pattern` (a file glob:
    /// `*`, `?`, classes within a segment, `**` for any number of segments).
    ReportGlob {
        #[serde(serialize_with = "lossy_path")]
        base: PathBuf,
        #[serde(serialize_with = "lossy")]
        pattern: Vec<u8>,
    },
    /// A tool-computed fact the outputs depend on (a compiler version...). The engine
    /// stores it only as a keyed hash; a server report shows it (it is no secret to the
    /// tool that computed it), `Debug` does not.
    Salt {
        key: String,
        #[serde(serialize_with = "lossy")]
        value: Vec<u8>,
    },
}

/// Shows a byte string as escaped ASCII, as Rust's `b"..."` literals do.
struct Escaped<'a>(&'a [u8]);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for EnvSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glob(p) => f.debug_tuple("Glob").field(&Escaped(p)).finish(),
            Self::Prefix(p) => f.debug_tuple("Prefix").field(&Escaped(p)).finish(),
        }
    }
}

impl fmt::Debug for Declaration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrackedEnv { name, value } => f
                .debug_struct("TrackedEnv")
                .field("name", &Escaped(name))
                .field("value", value)
                .finish(),
            Self::TrackedEnvSet { selector, matches } => f
                .debug_struct("TrackedEnvSet")
                .field("selector", selector)
                .field(
                    "matches",
                    &matches
                        .iter()
                        .map(|(name, value)| (Escaped(name), value))
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Self::IgnoreInput { path } => f.debug_tuple("IgnoreInput").field(path).finish(),
            Self::IgnoreOutput { path } => f.debug_tuple("IgnoreOutput").field(path).finish(),
            Self::DisableCache { reason, client } => f
                .debug_struct("DisableCache")
                .field("reason", reason)
                .field("client", client)
                .finish(),
            Self::ReportInput { path } => f.debug_tuple("ReportInput").field(path).finish(),
            Self::ReportOutput { path } => f.debug_tuple("ReportOutput").field(path).finish(),
            Self::ReportGlob { base, pattern } => f
                .debug_struct("ReportGlob")
                .field("base", base)
                .field("pattern", &Escaped(pattern))
                .finish(),
            Self::Salt { key, .. } => f
                .debug_struct("Salt")
                .field("key", key)
                .field("value", &Redacted)
                .finish(),
        }
    }
}

#[allow(clippy::ptr_arg)] // serde's `serialize_with` passes `&Vec<u8>`.
fn lossy<S: Serializer>(bytes: &Vec<u8>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// A selector in a report: `{"glob": "VITE_*"}`, its bytes shown as text.
fn lossy_selector<S: Serializer>(selector: &EnvSelector, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let (kind, bytes) = match selector {
        EnvSelector::Glob(b) => ("glob", b),
        EnvSelector::Prefix(b) => ("prefix", b),
    };
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(kind, &String::from_utf8_lossy(bytes))?;
    map.end()
}

/// Paths need not be UTF-8 (serde refuses those): shown the way `lossy` shows byte strings.
fn lossy_path<S: Serializer>(path: &std::path::Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

fn lossy_pairs<S: Serializer>(
    pairs: &[(Vec<u8>, EnvValue)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(pairs.len()))?;
    for (name, value) in pairs {
        seq.serialize_element(&(String::from_utf8_lossy(name), value))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_never_show_in_debug_or_serialized_output() {
        let declarations = vec![
            Declaration::TrackedEnvSet {
                selector: EnvSelector::Prefix(b"S_".to_vec()),
                matches: vec![(b"S_KEY".to_vec(), EnvValue::new(b"hunter2".to_vec()))],
            },
            Declaration::TrackedEnv {
                name: b"TOKEN".to_vec(),
                value: Some(EnvValue::new(b"hunter2".to_vec())),
            },
            Declaration::Salt {
                key: "SALTKEY".into(),
                value: b"hunter2".to_vec(),
            },
        ];
        let json = serde_json::to_string(&declarations[..2]).unwrap();
        for text in [format!("{declarations:?}"), json] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("S_KEY") && text.contains("TOKEN"), "{text}");
        }
    }

    #[test]
    fn paths_that_are_not_utf8_serialize_lossily_instead_of_failing() {
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/w/caf\xe9"));
        let json = serde_json::to_string(&Declaration::IgnoreInput { path }).unwrap();
        assert_eq!(
            json,
            "{\"kind\":\"ignore_input\",\"path\":\"/w/caf\u{fffd}\"}"
        );
    }

    #[test]
    fn selectors_keep_their_bytes_but_reports_show_text() {
        let selector = EnvSelector::Glob(b"V_\xff*".to_vec());
        let stored = serde_json::to_string(&selector).unwrap();
        assert_eq!(stored, "{\"glob\":[86,95,255,42]}");
        assert_eq!(
            serde_json::from_str::<EnvSelector>(&stored).unwrap(),
            selector
        );
        let report = serde_json::to_string(&Declaration::TrackedEnvSet {
            selector,
            matches: vec![],
        })
        .unwrap();
        assert_eq!(
            report,
            "{\"kind\":\"tracked_env_set\",\"selector\":{\"glob\":\"V_\u{fffd}*\"},\"matches\":[]}"
        );
        assert!(EnvSelector::Glob(b"V_*".to_vec()).matches(b"V_A"));
        assert!(EnvSelector::Prefix(b"V_*".to_vec()).matches(b"V_*A"));
        assert!(!EnvSelector::Prefix(b"V_*".to_vec()).matches(b"V_A"));
    }
}
