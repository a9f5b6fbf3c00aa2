//! The argument rules: what a valid env name, env prefix, env glob, path, file glob and salt
//! key is. The client checks them before sending, the server checks them on arrival and the
//! runner checks its config with them, so one bad argument gets one code and one sentence
//! everywhere.

/// A bad argument: which rule it broke (a stable code, [`ArgError::code`]) and a sentence
/// naming what was wrong and where. `Display` is the sentence followed by the code in
/// parentheses: `environment variable name is empty (EMPTY_NAME)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A message is malformed in a way no more specific code covers (a query without its
    /// selector).
    #[error("{0} (INVALID_ARGUMENT)")]
    InvalidArgument(String),
    #[error("{0} (EMPTY_NAME)")]
    EmptyName(String),
    /// An env name with a NUL or `=` byte.
    #[error("{0} (INVALID_NAME)")]
    InvalidName(String),
    /// An empty glob or prefix.
    #[error("{0} (EMPTY_PATTERN)")]
    EmptyPattern(String),
    /// A glob or prefix that breaks the syntax or holds a byte names never hold.
    #[error("{0} (INVALID_PATTERN)")]
    InvalidPattern(String),
    #[error("{0} (EMPTY_PATH)")]
    EmptyPath(String),
    /// A path with a NUL byte, or one that cannot be made absolute.
    #[error("{0} (INVALID_PATH)")]
    InvalidPath(String),
    /// An empty salt key.
    #[error("{0} (EMPTY_KEY)")]
    EmptyKey(String),
}

impl ArgError {
    /// Every code, in the order of the protocol's caller-error values.
    pub const CODES: &'static [&'static str] = &[
        "INVALID_ARGUMENT",
        "EMPTY_NAME",
        "INVALID_NAME",
        "EMPTY_PATTERN",
        "INVALID_PATTERN",
        "EMPTY_PATH",
        "INVALID_PATH",
        "EMPTY_KEY",
    ];

    /// The stable code: the protocol's `ErrorCode` name without its `ERROR_CODE_` prefix.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "INVALID_ARGUMENT",
            Self::EmptyName(_) => "EMPTY_NAME",
            Self::InvalidName(_) => "INVALID_NAME",
            Self::EmptyPattern(_) => "EMPTY_PATTERN",
            Self::InvalidPattern(_) => "INVALID_PATTERN",
            Self::EmptyPath(_) => "EMPTY_PATH",
            Self::InvalidPath(_) => "INVALID_PATH",
            Self::EmptyKey(_) => "EMPTY_KEY",
        }
    }

    /// The error with `code` (one of [`Self::CODES`]) and `message`; an unknown code gives
    /// [`Self::InvalidArgument`], the generic caller error.
    pub fn with_code(code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        match code {
            "EMPTY_NAME" => Self::EmptyName(message),
            "INVALID_NAME" => Self::InvalidName(message),
            "EMPTY_PATTERN" => Self::EmptyPattern(message),
            "INVALID_PATTERN" => Self::InvalidPattern(message),
            "EMPTY_PATH" => Self::EmptyPath(message),
            "INVALID_PATH" => Self::InvalidPath(message),
            "EMPTY_KEY" => Self::EmptyKey(message),
            _ => Self::InvalidArgument(message),
        }
    }

    /// What was wrong and where, without the code.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidArgument(m)
            | Self::EmptyName(m)
            | Self::InvalidName(m)
            | Self::EmptyPattern(m)
            | Self::InvalidPattern(m)
            | Self::EmptyPath(m)
            | Self::InvalidPath(m)
            | Self::EmptyKey(m) => m,
        }
    }

    pub(crate) fn forbidden_pattern_byte(what: &str, byte: u8, at: usize) -> Self {
        Self::InvalidPattern(format!(
            "{what} contains the byte {} at byte {at}; environment names never contain it",
            describe_byte(byte)
        ))
    }
}

fn describe_byte(byte: u8) -> String {
    match byte {
        0 => "NUL (0x00)".to_owned(),
        b => format!("'{}' (0x{b:02x})", char::from(b)),
    }
}

/// The first NUL or `=` byte and where it is: bytes no environment name holds.
pub(crate) fn forbidden_name_byte(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .iter()
        .position(|&b| b == 0 || b == b'=')
        .map(|at| (at, bytes[at]))
}

/// An environment variable name: non-empty, no NUL, no `=`.
pub fn env_name(name: &[u8]) -> Result<(), ArgError> {
    if name.is_empty() {
        return Err(ArgError::EmptyName(
            "environment variable name is empty".to_owned(),
        ));
    }
    if let Some((at, byte)) = forbidden_name_byte(name) {
        return Err(ArgError::InvalidName(format!(
            "environment variable name contains {} at byte {at}",
            describe_byte(byte)
        )));
    }
    Ok(())
}

/// A `GetEnvs` prefix: non-empty, no NUL, no `=`; every other byte is literal.
pub fn env_prefix(prefix: &[u8]) -> Result<(), ArgError> {
    if prefix.is_empty() {
        return Err(ArgError::EmptyPattern("prefix is empty".to_owned()));
    }
    if let Some((at, byte)) = forbidden_name_byte(prefix) {
        return Err(ArgError::forbidden_pattern_byte("prefix", byte, at));
    }
    Ok(())
}

/// A path argument as the caller gave it: non-empty, no NUL. `what` names the argument in
/// the message. (Absolute-ness is the wire's rule: a client resolves relative paths first,
/// see [`crate::path`], and a server refuses a relative one.)
pub fn path(what: &str, path: &[u8]) -> Result<(), ArgError> {
    if path.is_empty() {
        return Err(ArgError::EmptyPath(format!("{what} is empty")));
    }
    if let Some(at) = path.iter().position(|&b| b == 0) {
        return Err(ArgError::InvalidPath(format!(
            "{what} contains NUL (0x00) at byte {at}"
        )));
    }
    Ok(())
}

/// A file glob (`ReportGlob.pattern`): non-empty, no NUL. Its syntax is
/// spec/fingerprint.md's, judged by the engine.
pub fn file_glob(pattern: &[u8]) -> Result<(), ArgError> {
    if pattern.is_empty() {
        return Err(ArgError::EmptyPattern("file glob is empty".to_owned()));
    }
    if let Some(at) = pattern.iter().position(|&b| b == 0) {
        return Err(ArgError::InvalidPattern(format!(
            "file glob contains NUL (0x00) at byte {at}"
        )));
    }
    Ok(())
}

/// A salt key: non-empty.
pub fn salt_key(key: &str) -> Result<(), ArgError> {
    if key.is_empty() {
        return Err(ArgError::EmptyKey("salt key is empty".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(env_name(b"PATH").is_ok());
        assert!(env_name(b"\xff\xfe").is_ok());
        assert_eq!(env_name(b"").unwrap_err().code(), "EMPTY_NAME");
        let err = env_name(b"A=B").unwrap_err();
        assert_eq!(err.code(), "INVALID_NAME");
        assert_eq!(
            err.to_string(),
            "environment variable name contains '=' (0x3d) at byte 1 (INVALID_NAME)"
        );
        assert_eq!(
            env_name(b"A\0").unwrap_err().message(),
            "environment variable name contains NUL (0x00) at byte 1"
        );
    }

    #[test]
    fn prefixes_are_literal_but_not_empty() {
        assert!(env_prefix(b"VITE_*").is_ok());
        assert_eq!(env_prefix(b"").unwrap_err().code(), "EMPTY_PATTERN");
        assert_eq!(env_prefix(b"A=").unwrap_err().code(), "INVALID_PATTERN");
    }

    #[test]
    fn paths_keys_and_file_globs() {
        assert_eq!(path("path", b"").unwrap_err().code(), "EMPTY_PATH");
        assert_eq!(path("path", b"a\0b").unwrap_err().code(), "INVALID_PATH");
        assert!(path("path", b"relative/ok").is_ok());
        assert_eq!(salt_key("").unwrap_err().code(), "EMPTY_KEY");
        assert_eq!(file_glob(b"").unwrap_err().code(), "EMPTY_PATTERN");
        assert_eq!(file_glob(b"a\0").unwrap_err().code(), "INVALID_PATTERN");
    }

    #[test]
    fn codes_round_trip() {
        for &code in ArgError::CODES {
            let error = ArgError::with_code(code, "m");
            assert_eq!((error.code(), error.message()), (code, "m"));
            assert_eq!(error.to_string(), format!("m ({code})"));
        }
        assert_eq!(
            ArgError::with_code("NEW_CODE", "m").code(),
            "INVALID_ARGUMENT"
        );
    }
}
