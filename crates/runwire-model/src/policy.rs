//! The user's env configuration as values: an [`EnvPattern`] is one `env` or `passThroughEnv`
//! entry, an [`EnvPolicy`] the set of names and globs the user marked untracked.

use std::collections::BTreeSet;

use crate::arg::ArgError;
use crate::glob::EnvGlob;

/// One `env` or `passThroughEnv` entry: an env-name glob (spec/protocol.md, "Glob syntax").
/// A glob without wildcards or classes names exactly one variable and is kept as that name,
/// escapes resolved (`FOO_\*` is the variable `FOO_*`): the runner records it as unset when
/// it is, and a stored fingerprint names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvPattern {
    Name(Vec<u8>),
    Glob(EnvGlob),
}

impl EnvPattern {
    /// Parses an entry by the glob rules; the error says what is wrong with it.
    pub fn parse(entry: &[u8]) -> Result<Self, ArgError> {
        let glob = EnvGlob::new(entry)?;
        Ok(match glob.literal() {
            Some(name) => Self::Name(name),
            None => Self::Glob(glob),
        })
    }

    /// Whether `name` is the named variable or matches the glob.
    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Self::Name(own) => own == name,
            Self::Glob(glob) => glob.matches(name),
        }
    }
}

/// Names and globs the user marked untracked (pass-through): answered to a tool, never a
/// dependency, whatever the tool asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    untracked: Vec<EnvPattern>,
}

impl EnvPolicy {
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy with these entries untracked.
    pub fn untracking(patterns: impl IntoIterator<Item = EnvPattern>) -> Self {
        Self {
            untracked: patterns.into_iter().collect(),
        }
    }

    /// Marks one exact name untracked (any bytes: a name is never parsed as a glob).
    #[must_use]
    pub fn untrack_name(mut self, name: impl Into<Vec<u8>>) -> Self {
        self.untracked.push(EnvPattern::Name(name.into()));
        self
    }

    /// Marks every name matching `pattern` (the env-name glob) untracked. The error names
    /// what is wrong with the pattern.
    pub fn untrack_glob(mut self, pattern: &[u8]) -> Result<Self, ArgError> {
        self.untracked.push(EnvPattern::parse(pattern)?);
        Ok(self)
    }

    /// Whether the user marked `name` untracked.
    pub fn is_untracked(&self, name: &[u8]) -> bool {
        self.untracked.iter().any(|p| p.matches(name))
    }

    /// The untracked entries that name one variable.
    pub fn names(&self) -> BTreeSet<Vec<u8>> {
        self.untracked
            .iter()
            .filter_map(|p| match p {
                EnvPattern::Name(name) => Some(name.clone()),
                EnvPattern::Glob(_) => None,
            })
            .collect()
    }

    /// The untracked globs as written: kept as patterns, so a variable that appears later
    /// and matches one is untracked too.
    pub fn globs(&self) -> Vec<Vec<u8>> {
        self.untracked
            .iter()
            .filter_map(|p| match p {
                EnvPattern::Name(_) => None,
                EnvPattern::Glob(glob) => Some(glob.as_bytes().to_vec()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_without_wildcards_are_names() {
        let policy = EnvPolicy::new()
            .untrack_glob(b"AWS_*")
            .unwrap()
            .untrack_glob(b"FOO_\\*")
            .unwrap()
            .untrack_glob(b"CI")
            .unwrap()
            .untrack_name(b"A=B".to_vec());
        assert_eq!(
            policy.names(),
            [&b"A=B"[..], b"CI", b"FOO_*"]
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect()
        );
        assert_eq!(policy.globs(), vec![b"AWS_*".to_vec()]);
        assert!(policy.is_untracked(b"AWS_KEY"));
        assert!(policy.is_untracked(b"FOO_*"));
        assert!(!policy.is_untracked(b"FOO_X"), "an escaped star is a star");
        assert!(policy.is_untracked(b"A=B"));
        assert_eq!(
            EnvPolicy::new().untrack_glob(b"[").unwrap_err().code(),
            "INVALID_PATTERN"
        );
    }
}
