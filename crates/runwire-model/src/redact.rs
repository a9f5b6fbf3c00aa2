//! How a secret shows in `Debug` output: as `<redacted>`, so that no log line, panic message or
//! `{:?}` of a config carries it. The one stand-in of every crate: a salt's value here, the
//! env-hash key in the engine, the remote cache token in the transports.

use std::fmt;

/// Stands in for a secret in a hand-written `Debug`: prints `<redacted>`. An optional secret
/// shows whether it is set with `secret.as_ref().map(|_| Redacted)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn shows_neither_the_secret_nor_its_length() {
        let token = Some("s3cr3t-t0ken".to_owned());
        assert_eq!(format!("{Redacted:?}"), "<redacted>");
        assert_eq!(
            format!("{:?}", token.as_ref().map(|_| Redacted)),
            "Some(<redacted>)"
        );
    }
}
