//! The embedded shim and its materialization, through `runwire-artifact` (per-user 0700
//! directory, content-hash name, temp file + atomic rename, re-hash before reuse).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use runwire_artifact::ArtifactError;

use crate::error::TraceError;

/// The shim built by build.rs from shim/runtrace.c.
pub(crate) static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libruntrace.so"));

/// The tracer's errors for an artifact failure (its stable codes predate the shared crate).
fn trace_error(e: ArtifactError) -> TraceError {
    match e {
        ArtifactError::Dir { path, reason } => TraceError::ShimDir { path, reason },
        ArtifactError::Write { path, source } => TraceError::Materialize { path, source },
        other @ ArtifactError::BadName { .. } => TraceError::Materialize {
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// Creates `dir` private (0700, ours) if needed, as for the shim.
pub(crate) fn private_dir(dir: &Path) -> Result<(), TraceError> {
    runwire_artifact::private_dir(dir).map_err(trace_error)
}

/// The per-user artifact directory (see `runwire_artifact::artifact_dir`).
pub(crate) fn artifact_dir() -> PathBuf {
    runwire_artifact::artifact_dir()
}

/// The shim's path, materialized once per process (and re-verified on that first use).
pub(crate) fn shim_path() -> Result<PathBuf, TraceError> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = PATH.get() {
        return Ok(p.clone());
    }
    if SHIM.is_empty() {
        return Err(TraceError::Unsupported(std::env::consts::OS));
    }
    let p = runwire_artifact::materialize(&artifact_dir(), "libruntrace", ".so", SHIM)
        .map_err(trace_error)?;
    Ok(PATH.get_or_init(|| p).clone())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_materialized_shim_is_the_embedded_one() {
        let p = shim_path().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), SHIM);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("libruntrace-"), "{name}");
        assert_eq!(p.extension().unwrap(), "so");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o500);
        let dir_mode = std::fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o077, 0, "the directory is closed to others");
    }

    #[test]
    fn an_unsafe_directory_keeps_the_tracer_error_code() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = private_dir(&link).unwrap_err();
        assert_eq!(err.code(), "trace-shim-dir", "{err}");
    }
}
