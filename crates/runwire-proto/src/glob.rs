//! The environment-name glob of `GetEnvs.glob`: `*`, `?`, `[...]` classes and `\` escapes over
//! bytes (the `.proto` comment is the definition). Both ends use this one implementation, so a
//! pattern the client accepts is the pattern the server matches.

use crate::validate::ArgError;

/// A parsed, valid environment-name glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvGlob {
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
            return Err(ArgError::empty_pattern("glob"));
        }
        if let Some(at) = pattern.iter().position(|&b| b == 0 || b == b'=') {
            return Err(ArgError::forbidden_pattern_byte("glob", pattern[at], at));
        }
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let byte = pattern[i];
            i += 1;
            tokens.push(match byte {
                b'*' => {
                    // Consecutive stars match what one star matches.
                    if tokens.last() == Some(&Token::AnyRun) {
                        continue;
                    }
                    Token::AnyRun
                }
                b'?' => Token::AnyByte,
                b'\\' => {
                    let Some(&escaped) = pattern.get(i) else {
                        return Err(ArgError::invalid_pattern(format!(
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
            });
        }
        Ok(Self { tokens })
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
            match star {
                Some((star_t, star_n)) => {
                    star = Some((star_t, star_n + 1));
                    t = star_t + 1;
                    n = star_n + 1;
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }
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
        ArgError::invalid_pattern(format!(
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
                return Err(ArgError::invalid_pattern(format!(
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
    use crate::ErrorCode;

    fn m(pattern: &str, name: &str) -> bool {
        EnvGlob::new(pattern.as_bytes())
            .unwrap()
            .matches(name.as_bytes())
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("VITE_*", "VITE_", true),
            ("VITE_*", "VITE_API_URL", true),
            ("VITE_*", "XVITE_A", false),
            ("*_URL", "VITE_API_URL", true),
            ("*_URL", "VITE_API_URLX", false),
            ("A?C", "ABC", true),
            ("A?C", "AC", false),
            ("A*B*C", "AxxBxxBxxC", true),
            ("A*B*C", "AxxBxxC_", false),
            ("[AB]X", "BX", true),
            ("[!AB]X", "BX", false),
            ("[^AB]X", "CX", true),
            ("[A-C]", "B", true),
            ("[A-C]", "D", false),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("\\*", "*", true),
            ("\\*", "A", false),
            ("[\\]]", "]", true),
            ("**", "", true),
            ("*", "anything", true),
        ];
        for &(pattern, name, expected) in cases {
            assert_eq!(m(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn non_utf8_bytes_match_as_bytes() {
        let glob = EnvGlob::new(b"X_\xff*").unwrap();
        assert!(glob.matches(b"X_\xff\xfe"));
        assert!(!glob.matches(b"X_\xfe"));
        assert!(EnvGlob::new(b"[\x80-\xff]").unwrap().matches(b"\x90"));
    }

    #[test]
    fn malformed_patterns_name_the_problem_and_where() {
        let cases: &[(&[u8], ErrorCode, &str)] = &[
            (b"", ErrorCode::EmptyPattern, "glob is empty"),
            (
                b"AB[C",
                ErrorCode::InvalidPattern,
                "glob has an unclosed `[` class starting at byte 2",
            ),
            (
                b"A\\",
                ErrorCode::InvalidPattern,
                "glob ends with an escape `\\` at byte 1",
            ),
            (
                b"A=*",
                ErrorCode::InvalidPattern,
                "glob contains the byte '=' (0x3d) at byte 1; environment names never contain it",
            ),
            (
                b"[z-a]",
                ErrorCode::InvalidPattern,
                "glob has a reversed range at byte 2 (the start is above the end)",
            ),
        ];
        for &(pattern, code, message) in cases {
            let err = EnvGlob::new(pattern).unwrap_err();
            assert_eq!((err.code(), err.message()), (code, message));
        }
    }
}
