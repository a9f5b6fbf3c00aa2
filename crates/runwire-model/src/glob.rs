//! The environment-name glob (spec/protocol.md, "Glob syntax"): `*`, `?`, `[...]` classes and
//! `\` escapes over bytes. It is the one matcher of the workspace: `GetEnvs.glob` on both
//! ends of the protocol, the runner's `env` and `passThroughEnv` entries, a recorded selector
//! re-evaluated at validation, and one path segment of a `ReportGlob`.

use crate::arg::{ArgError, forbidden_name_byte};

/// A parsed, valid environment-name glob. It keeps the pattern as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvGlob {
    pattern: Vec<u8>,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Byte(u8),
    AnyByte,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl EnvGlob {
    /// Parses `pattern`; the error names the first problem and its byte offset.
    pub fn new(pattern: &[u8]) -> Result<Self, ArgError> {
        if pattern.is_empty() {
            return Err(ArgError::EmptyPattern("glob is empty".to_owned()));
        }
        if let Some((at, byte)) = forbidden_name_byte(pattern) {
            return Err(ArgError::forbidden_pattern_byte("glob", byte, at));
        }
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let byte = pattern[i];
            i += 1;
            let token = match byte {
                b'*' => Token::AnyRun,
                b'?' => Token::AnyByte,
                b'\\' => {
                    let Some(&escaped) = pattern.get(i) else {
                        return Err(ArgError::InvalidPattern(format!(
                            "glob ends with an escape `\\` at byte {}",
                            i - 1
                        )));
                    };
                    i += 1;
                    Token::Byte(escaped)
                }
                b'[' => {
                    let (token, next) = parse_class(pattern, i)?;
                    i = next;
                    token
                }
                other => Token::Byte(other),
            };
            // Consecutive stars match what one star matches.
            if !(token == Token::AnyRun && tokens.last() == Some(&Token::AnyRun)) {
                tokens.push(token);
            }
        }
        Ok(Self {
            pattern: pattern.to_vec(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.pattern
    }

    /// The one name this glob matches when it has no wildcard and no class (escapes
    /// resolved: `FOO_\*` is the name `FOO_*`); `None` for a glob that can match more.
    pub fn literal(&self) -> Option<Vec<u8>> {
        self.tokens
            .iter()
            .map(|token| match token {
                Token::Byte(b) => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// The bytes every match starts with: the pattern up to its first wildcard or class
    /// (all of it when [`EnvGlob::literal`] is `Some`).
    pub fn literal_prefix(&self) -> Vec<u8> {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Byte(b) => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &[u8]) -> bool {
        // Iterative matcher with one backtrack point (the last `*`): linear in practice and
        // never recursive, so hostile patterns cannot blow the stack.
        let (mut t, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::AnyRun) => {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(token) if token.matches_byte(name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            let Some((star_t, star_n)) = star else {
                return false;
            };
            star = Some((star_t, star_n + 1));
            t = star_t + 1;
            n = star_n + 1;
        }
        self.tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }
}

/// Matches `name` against `pattern` parsed on the spot; a malformed pattern matches nothing.
/// For patterns that were checked when they were recorded (a stored selector).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    EnvGlob::new(pattern).is_ok_and(|glob| glob.matches(name))
}

impl Token {
    fn matches_byte(&self, byte: u8) -> bool {
        match self {
            Self::Byte(b) => *b == byte,
            Self::AnyByte => true,
            Self::AnyRun => false,
            Self::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&byte)) != *negated
            }
        }
    }
}

/// Parses a class whose `[` is at `start - 1`; returns the token and the index after `]`.
fn parse_class(pattern: &[u8], start: usize) -> Result<(Token, usize), ArgError> {
    let unclosed = || {
        ArgError::InvalidPattern(format!(
            "glob has an unclosed `[` class starting at byte {}",
            start - 1
        ))
    };
    let mut i = start;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&byte) = pattern.get(i) else {
            return Err(unclosed());
        };
        if byte == b']' && !first {
            return Ok((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        let (lo, after) = class_byte(pattern, i).ok_or_else(unclosed)?;
        i = after;
        // `a-z` is a range unless the `-` is the last byte before `]`.
        if pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&b| b != b']') {
            let (hi, after) = class_byte(pattern, i + 1).ok_or_else(unclosed)?;
            if hi < lo {
                return Err(ArgError::InvalidPattern(format!(
                    "glob has a reversed range at byte {i} (the start is above the end)"
                )));
            }
            ranges.push((lo, hi));
            i = after;
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// One possibly escaped byte of a class at `i`; `None` if the pattern ends first.
fn class_byte(pattern: &[u8], i: usize) -> Option<(u8, usize)> {
    match pattern.get(i)? {
        b'\\' => pattern.get(i + 1).map(|&b| (b, i + 2)),
        &b => Some((b, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_patterns_name_the_problem_and_where() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"", "EMPTY_PATTERN", "glob is empty"),
            (
                b"AB[C",
                "INVALID_PATTERN",
                "glob has an unclosed `[` class starting at byte 2",
            ),
            (
                b"A\\",
                "INVALID_PATTERN",
                "glob ends with an escape `\\` at byte 1",
            ),
            (
                b"A=*",
                "INVALID_PATTERN",
                "glob contains the byte '=' (0x3d) at byte 1; environment names never contain it",
            ),
            (
                b"[z-a]",
                "INVALID_PATTERN",
                "glob has a reversed range at byte 2 (the start is above the end)",
            ),
        ];
        for &(pattern, code, message) in cases {
            let err = EnvGlob::new(pattern).unwrap_err();
            assert_eq!((err.code(), err.message()), (code, message));
        }
    }

    #[test]
    fn a_glob_without_wildcards_is_one_name() {
        let literal = |p: &[u8]| EnvGlob::new(p).unwrap().literal();
        assert_eq!(literal(b"NODE_ENV"), Some(b"NODE_ENV".to_vec()));
        assert_eq!(literal(b"FOO_\\*"), Some(b"FOO_*".to_vec()));
        assert_eq!(literal(b"A\\B"), Some(b"AB".to_vec()));
        for glob in [&b"FOO_*"[..], b"A?", b"[AB]", b"[A]"] {
            assert_eq!(literal(glob), None, "{}", glob.escape_ascii());
        }
        assert!(!matches(b"[", b"["), "a malformed pattern matches nothing");
    }

    #[test]
    fn every_match_starts_with_the_literal_prefix() {
        let lead = |p: &[u8]| EnvGlob::new(p).unwrap().literal_prefix();
        assert_eq!(lead(b"f01*.txt"), b"f01");
        assert_eq!(lead(b"NODE_ENV"), b"NODE_ENV");
        assert_eq!(lead(b"FOO_\\*X*"), b"FOO_*X");
        assert_eq!(lead(b"a?b"), b"a");
        assert_eq!(lead(b"[ab]c"), b"");
        assert_eq!(lead(b"*"), b"");
    }
}
