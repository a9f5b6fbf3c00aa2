//! What a run's tools declared ([`Declaration`]) and what went wrong on the wire
//! ([`Diagnostic`]): the server's output, free of protobuf types.

use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

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

/// Which names a `GetEnvs` asked for.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvSelector {
    /// `*`, `?`, `[...]`, `\` over name bytes (`runwire_proto::glob`).
    Glob(#[serde(serialize_with = "lossy")] Vec<u8>),
    /// A literal name prefix.
    Prefix(#[serde(serialize_with = "lossy")] Vec<u8>),
}

/// One fact a tool declared about its run. Paths are absolute and lexically normalized.
/// `Debug` shows byte strings escaped (`b"VITE_\xff"`) and env values as their length.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Declaration {
    /// The run depends on this variable; `None`: it was unset.
    TrackedEnv {
        #[serde(serialize_with = "lossy")]
        name: Vec<u8>,
        value: Option<EnvValue>,
    },
    /// The run depends on the set of variables matching `selector`. `matches` is sorted by
    /// name and leaves out names the user's policy marks untracked; a validator recomputing
    /// the set must apply the same policy.
    TrackedEnvSet {
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
    /// that sent it: the runner names the tool by it, and may treat a client that calls it
    /// by habit (vite-task's, which vite calls under `vitest run`) as not binding.
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
    /// The run depends on the set of paths matching `pattern` under `base`.
    ReportGlob {
        #[serde(serialize_with = "lossy_path")]
        base: PathBuf,
        #[serde(serialize_with = "lossy")]
        pattern: Vec<u8>,
    },
    /// A tool-computed fact the outputs depend on.
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
            Self::Salt { key, value } => f
                .debug_struct("Salt")
                .field("key", key)
                .field("value", &Escaped(value))
                .finish(),
        }
    }
}

/// Stable codes of protocol faults. Every one makes the run uncacheable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticCode {
    /// A length prefix over the maximum; the connection was closed.
    FrameTooLarge,
    /// The peer closed the connection inside a frame.
    TruncatedFrame,
    /// A frame did not decode as a `ClientMessage`.
    MalformedMessage,
    /// A message with no body, or a body the server does not know or did not advertise.
    UnknownMessage,
    /// The first message was not `Hello`.
    HandshakeRequired,
    /// `Hello` listed no version the server speaks.
    UnsupportedVersion,
    /// A second `Hello` on one connection.
    DuplicateHello,
    /// A report with a bad argument (empty or relative path, empty pattern...).
    InvalidReport,
    /// A peer running as another user connected; it was refused.
    ForeignPeer,
    /// A connection was still open at the finish deadline.
    LingeringConnection,
    /// Reading from or writing to a connection failed.
    Io,
    /// A bug in the server (a connection's task panicked); only that connection is lost.
    Internal,
}

impl DiagnosticCode {
    /// The stable `snake_case` name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame_too_large",
            Self::TruncatedFrame => "truncated_frame",
            Self::MalformedMessage => "malformed_message",
            Self::UnknownMessage => "unknown_message",
            Self::HandshakeRequired => "handshake_required",
            Self::UnsupportedVersion => "unsupported_version",
            Self::DuplicateHello => "duplicate_hello",
            Self::InvalidReport => "invalid_report",
            Self::ForeignPeer => "foreign_peer",
            Self::LingeringConnection => "lingering_connection",
            Self::Io => "io",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol fault: what was wrong, and on which connection (numbered from 1 in accept
/// order; `None` for faults of the server as a whole).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Diagnostic {
    pub code: DiagnosticCode,
    pub message: String,
    pub connection: Option<u64>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(connection) = self.connection {
            write!(f, "protocol connection {connection}: ")?;
        }
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Everything a run's server saw: declarations sorted and de-duplicated (they are a set:
/// which connection sent what, in which order, does not matter), diagnostics in the order
/// they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerReport {
    pub declarations: Vec<Declaration>,
    pub diagnostics: Vec<Diagnostic>,
    /// How many connections were accepted (refused foreign peers included). Not serialized:
    /// it depends on how a tool spreads its calls, not on what it declared.
    #[serde(skip)]
    pub connections: u64,
}

impl ServerReport {
    /// Whether any protocol fault happened (the run must not be cached).
    pub fn has_faults(&self) -> bool {
        !self.diagnostics.is_empty()
    }
}

#[allow(clippy::ptr_arg)] // serde's `serialize_with` passes `&Vec<u8>`.
fn lossy<S: Serializer>(bytes: &Vec<u8>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
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
        let declaration = Declaration::TrackedEnvSet {
            selector: EnvSelector::Prefix(b"S_".to_vec()),
            matches: vec![(b"S_KEY".to_vec(), EnvValue::new(b"hunter2".to_vec()))],
        };
        let single = Declaration::TrackedEnv {
            name: b"TOKEN".to_vec(),
            value: Some(EnvValue::new(b"hunter2".to_vec())),
        };
        for text in [
            format!("{declaration:?} {single:?}"),
            serde_json::to_string(&vec![declaration, single]).unwrap(),
        ] {
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
    fn diagnostics_name_the_connection_and_the_code() {
        let diagnostic = Diagnostic {
            code: DiagnosticCode::FrameTooLarge,
            message: "frame length 9 exceeds the maximum of 8 bytes".into(),
            connection: Some(3),
        };
        assert_eq!(
            diagnostic.to_string(),
            "protocol connection 3: frame length 9 exceeds the maximum of 8 bytes (frame_too_large)"
        );
    }
}
