//! The oracle's own failures (not the ones it finds): each with a stable code (`oracle-*`,
//! listed in docs/errors.md).

use std::path::{Path, PathBuf};

/// Why the oracle could not do what it was asked.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OracleErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`OracleError`], one per variant, with its documentation."
)]
pub enum OracleError {
    /// A file operation on the twin trees or the scenarios failed.
    #[strum_discriminants(strum(serialize = "oracle-io"))]
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A scenario (its `scenario.json`, repository or globs) is malformed.
    #[strum_discriminants(strum(serialize = "oracle-scenario"))]
    #[error("{what}: {why}")]
    Scenario { what: String, why: String },
    /// A change step of a scenario could not be applied.
    #[strum_discriminants(strum(serialize = "oracle-step"))]
    #[error("`{step}` failed: {why}")]
    Step { step: String, why: String },
}

impl OracleError {
    /// `map_err` helper naming the path.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// The stable code, such as `oracle-io`.
    pub fn code(&self) -> &'static str {
        OracleErrorCode::from(self).into()
    }
}
