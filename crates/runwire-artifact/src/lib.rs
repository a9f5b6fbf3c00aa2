//! Materialized artifacts: files the runner hands to the processes it spawns (the tracer's
//! `LD_PRELOAD` shim, the Node addon) written to a per-user 0700 directory under a name
//! derived from their content.
//!
//! Why each rule:
//! - per-user and 0700: another user must not be able to swap the file a child will load;
//! - content-hash name: two runner versions never fight over one file, and a path seen in a
//!   log identifies the exact bytes;
//! - temp file + atomic rename: a concurrent runner never loads a half-written file;
//! - re-hash before reuse: a file changed under that name is replaced, never loaded.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an artifact could not be materialized.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The per-user directory could not be created or is unsafe to use.
    #[error("cannot use the artifact directory {path}: {reason}")]
    Dir { path: PathBuf, reason: String },
    /// Writing the artifact failed.
    #[error("cannot write the artifact {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The name parts would not make a plain file name.
    #[error("artifact name part {part:?} must be non-empty and contain no '/' or NUL")]
    BadName { part: String },
}

impl ArtifactError {
    /// Stable code for reports and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Dir { .. } => "ARTIFACT_DIR",
            Self::Write { .. } => "ARTIFACT_WRITE",
            Self::BadName { .. } => "ARTIFACT_BAD_NAME",
        }
    }
}

/// The per-user directory for materialized artifacts: `$XDG_RUNTIME_DIR/runwire`, else
/// `$XDG_CACHE_HOME/runwire` or `~/.cache/runwire`, else `<tmp>/runwire-<uid>`. Relative
/// values of those variables are ignored (the XDG spec says so).
pub fn artifact_dir() -> PathBuf {
    let abs = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(d) = abs(std::env::var_os("XDG_RUNTIME_DIR")) {
        return d.join("runwire");
    }
    if let Some(d) = abs(std::env::var_os("XDG_CACHE_HOME")) {
        return d.join("runwire");
    }
    if let Some(h) = abs(std::env::var_os("HOME")) {
        return h.join(".cache").join("runwire");
    }
    std::env::temp_dir().join(format!("runwire-{}", current_uid()))
}

/// Our effective uid, without libc: the owner of our own `/proc` entry.
fn current_uid() -> u32 {
    fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// Creates `dir` (mode 0700) if needed and checks it is a real directory owned by us and
/// closed to others; a looser mode on our own directory is tightened.
pub fn private_dir(dir: &Path) -> Result<(), ArtifactError> {
    let fail = |reason: String| ArtifactError::Dir {
        path: dir.to_owned(),
        reason,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(e.to_string()))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| fail(e.to_string()))?;
    if !meta.is_dir() {
        return Err(fail("not a directory (or a symlink)".into()));
    }
    if meta.uid() != current_uid() {
        return Err(fail(format!("owned by uid {}, not by us", meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("cannot restrict its mode to 0700: {e}")))?;
    }
    Ok(())
}

/// Writes `bytes` as `<dir>/<stem>-<hash><suffix>` (mode 0500) unless a file with exactly
/// these bytes is already there, and returns that path. `dir` is created private first.
pub fn materialize(
    dir: &Path,
    stem: &str,
    suffix: &str,
    bytes: &[u8],
) -> Result<PathBuf, ArtifactError> {
    for part in [stem, suffix] {
        if part.contains(['/', '\0']) {
            return Err(ArtifactError::BadName { part: part.into() });
        }
    }
    if stem.is_empty() {
        return Err(ArtifactError::BadName { part: stem.into() });
    }
    private_dir(dir)?;
    let hash = blake3::hash(bytes);
    let path = dir.join(format!("{stem}-{}{suffix}", &hash.to_hex()[..32]));
    if fs::read(&path).is_ok_and(|existing| blake3::hash(&existing) == hash) {
        return Ok(path);
    }
    let err = |source| ArtifactError::Write {
        path: path.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o500)).map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn materializes_once_and_replaces_a_tampered_copy() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("art");
        let p1 = materialize(&dir, "x", ".node", b"hello").unwrap();
        let name = p1.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("x-"), "{name}");
        assert_eq!(p1.extension().unwrap(), "node");
        assert_eq!(name.len(), "x-".len() + 32 + ".node".len());
        assert_eq!(fs::read(&p1).unwrap(), b"hello");
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&p1).unwrap().mode() & 0o777, 0o500);

        fs::set_permissions(&p1, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&p1, b"evil!").unwrap();
        let p2 = materialize(&dir, "x", ".node", b"hello").unwrap();
        assert_eq!(p1, p2);
        assert_eq!(fs::read(&p2).unwrap(), b"hello");

        let other = materialize(&dir, "x", ".node", b"other").unwrap();
        assert_ne!(other, p1);
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn tightens_a_loose_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("loose");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn refuses_a_symlink_and_bad_names() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = materialize(&link, "x", ".so", b"a").unwrap_err();
        assert_eq!(err.code(), "ARTIFACT_DIR", "{err}");
        let err = materialize(&real, "a/b", ".so", b"a").unwrap_err();
        assert_eq!(err.code(), "ARTIFACT_BAD_NAME");
        let err = materialize(&real, "", ".so", b"a").unwrap_err();
        assert_eq!(err.code(), "ARTIFACT_BAD_NAME");
    }
}
