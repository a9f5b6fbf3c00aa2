//! Argument rules of protocol v1, shared by client and server so both give the same code and
//! the same message for the same bad argument.

use std::fmt;

use crate::ErrorCode;

/// A bad argument: a caller-error [`ErrorCode`] and a sentence naming what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    code: ErrorCode,
    message: String,
}

impl ArgError {
    /// An error with an explicit code; `code` should be a caller error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn empty_pattern(what: &str) -> Self {
        Self::new(ErrorCode::EmptyPattern, format!("{what} is empty"))
    }

    pub(crate) fn invalid_pattern(message: String) -> Self {
        Self::new(ErrorCode::InvalidPattern, message)
    }

    pub(crate) fn forbidden_pattern_byte(what: &str, byte: u8, at: usize) -> Self {
        Self::invalid_pattern(format!(
            "{what} contains the byte {} at byte {at}; environment names never contain it",
            describe_byte(byte)
        ))
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.short_name())
    }
}

impl std::error::Error for ArgError {}

fn describe_byte(byte: u8) -> String {
    match byte {
        0 => "NUL (0x00)".to_owned(),
        b => format!("'{}' (0x{b:02x})", char::from(b)),
    }
}

/// An environment variable name: non-empty, no NUL, no `=`.
pub fn env_name(name: &[u8]) -> Result<(), ArgError> {
    if name.is_empty() {
        return Err(ArgError::new(
            ErrorCode::EmptyName,
            "environment variable name is empty",
        ));
    }
    if let Some(at) = name.iter().position(|&b| b == 0 || b == b'=') {
        return Err(ArgError::new(
            ErrorCode::InvalidName,
            format!(
                "environment variable name contains {} at byte {at}",
                describe_byte(name[at])
            ),
        ));
    }
    Ok(())
}

/// A `GetEnvs.prefix`: non-empty, no NUL, no `=`; every other byte is literal.
pub fn env_prefix(prefix: &[u8]) -> Result<(), ArgError> {
    if prefix.is_empty() {
        return Err(ArgError::empty_pattern("prefix"));
    }
    if let Some(at) = prefix.iter().position(|&b| b == 0 || b == b'=') {
        return Err(ArgError::forbidden_pattern_byte("prefix", prefix[at], at));
    }
    Ok(())
}

/// A path argument as the caller gave it: non-empty, no NUL. (Absolute-ness is checked on the
/// wire, after the client has resolved it; see [`crate::path`].)
pub fn path(what: &str, path: &[u8]) -> Result<(), ArgError> {
    if path.is_empty() {
        return Err(ArgError::new(
            ErrorCode::EmptyPath,
            format!("{what} is empty"),
        ));
    }
    if let Some(at) = path.iter().position(|&b| b == 0) {
        return Err(ArgError::new(
            ErrorCode::InvalidPath,
            format!("{what} contains NUL (0x00) at byte {at}"),
        ));
    }
    Ok(())
}

/// A `ReportGlob.pattern`: non-empty, no NUL. Its syntax is spec/fingerprint.md's.
pub fn file_glob(pattern: &[u8]) -> Result<(), ArgError> {
    if pattern.is_empty() {
        return Err(ArgError::empty_pattern("file glob"));
    }
    if let Some(at) = pattern.iter().position(|&b| b == 0) {
        return Err(ArgError::invalid_pattern(format!(
            "file glob contains NUL (0x00) at byte {at}"
        )));
    }
    Ok(())
}

/// A `Salt.key`: non-empty.
pub fn salt_key(key: &str) -> Result<(), ArgError> {
    if key.is_empty() {
        return Err(ArgError::new(ErrorCode::EmptyKey, "salt key is empty"));
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
        assert_eq!(env_name(b"").unwrap_err().code(), ErrorCode::EmptyName);
        let err = env_name(b"A=B").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidName);
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
        assert_eq!(env_prefix(b"").unwrap_err().code(), ErrorCode::EmptyPattern);
        assert_eq!(
            env_prefix(b"A=").unwrap_err().code(),
            ErrorCode::InvalidPattern
        );
    }

    #[test]
    fn paths_keys_and_file_globs() {
        assert_eq!(path("path", b"").unwrap_err().code(), ErrorCode::EmptyPath);
        assert_eq!(
            path("path", b"a\0b").unwrap_err().code(),
            ErrorCode::InvalidPath
        );
        assert!(path("path", b"relative/ok").is_ok());
        assert_eq!(salt_key("").unwrap_err().code(), ErrorCode::EmptyKey);
        assert_eq!(file_glob(b"").unwrap_err().code(), ErrorCode::EmptyPattern);
        assert_eq!(
            file_glob(b"a\0").unwrap_err().code(),
            ErrorCode::InvalidPattern
        );
    }
}
