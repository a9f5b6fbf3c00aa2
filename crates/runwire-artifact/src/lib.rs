//! Materialized artifacts: files the runner hands to the processes it spawns (the tracer's
//! `LD_PRELOAD` shim, the Node addon) written to a per-user 0700 directory under a name
//! derived from their content.
//!
//! Why each rule:
//! - per-user and 0700: another user must not be able to swap the file a child will load;
//! - content-hash name: two runner versions never fight over one file, and a path seen in a
//!   log identifies the exact bytes;
//! - temp file + atomic rename: a concurrent runner never loads a half-written file;
//! - re-hash before reuse: a file changed under that name is replaced, never loaded;
//! - stale copies pruned: each reuse refreshes the file's modification time, and writing a
//!   new version removes the versions of the same artifact unused for [`STALE_AFTER`]
//!   (every runner upgrade would otherwise leave one behind). A runner still using a removed
//!   copy writes it again on its next run; a process it already started keeps its mapping.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How long a materialized version may go unused before a newer one removes it.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Why an artifact could not be materialized. Each has a stable code (`artifact-*`, listed
/// in docs/errors.md).
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ArtifactErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`ArtifactError`], one per variant, with its documentation."
)]
pub enum ArtifactError {
    /// The per-user directory for runner artifacts could not be created or is unsafe to
    /// use (a symlink or not a directory, owned by another user).
    ///
    /// It is `$XDG_RUNTIME_DIR/runwire`, else `$XDG_CACHE_HOME/runwire` or
    /// `~/.cache/runwire`: fix or remove what is there.
    #[strum_discriminants(strum(serialize = "artifact-dir"))]
    #[error("cannot use the artifact directory {path}: {reason}")]
    Dir { path: PathBuf, reason: String },
    /// Writing an artifact (the tracer shim, the Node addon) into that directory failed.
    ///
    /// Check that the directory's file system is writable and not full.
    #[strum_discriminants(strum(serialize = "artifact-write"))]
    #[error("cannot write the artifact {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An artifact's name parts would not make a plain file name (a bug in the caller).
    #[strum_discriminants(strum(serialize = "artifact-bad-name"))]
    #[error("artifact name part {part:?} must be non-empty and contain no '/' or NUL")]
    BadName { part: String },
}

impl ArtifactError {
    /// The stable code, such as `artifact-write`.
    pub fn code(&self) -> &'static str {
        ArtifactErrorCode::from(self).into()
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
        // Marks it in use for the pruning below; failing to is harmless.
        let _ = fs::File::open(&path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
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
    prune(dir, stem, suffix, &path);
    Ok(path)
}

/// Removes other versions of `<stem>-<hash><suffix>` and abandoned temp files that have not
/// been used for [`STALE_AFTER`]. Best effort: an error leaves the file where it is.
fn prune(dir: &Path, stem: &str, suffix: &str, keep: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let version = name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !(version || name.starts_with(".tmp-")) || entry.path() == keep {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= STALE_AFTER));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
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
    fn a_new_version_prunes_the_unused_ones_and_reuse_keeps_a_version_alive() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("art");
        let long_ago = std::time::SystemTime::now() - STALE_AFTER - STALE_AFTER / 7;
        let age = |p: &Path, t: std::time::SystemTime| {
            fs::File::open(p).unwrap().set_modified(t).unwrap();
        };
        let old = materialize(&dir, "lib", ".so", b"v1").unwrap();
        let reused = materialize(&dir, "lib", ".so", b"v2").unwrap();
        let recent = materialize(&dir, "lib", ".so", b"v3").unwrap();
        let other_stem = materialize(&dir, "addon", ".so", b"v1").unwrap();
        for p in [&old, &reused, &other_stem] {
            age(p, long_ago);
        }
        let unrelated = dir.join("lib-notahash.so");
        fs::write(&unrelated, b"mine").unwrap();
        age(&unrelated, long_ago);
        let abandoned = dir.join(".tmp-abc");
        fs::write(&abandoned, b"half").unwrap();
        age(&abandoned, long_ago);
        // Reusing v2 marks it in use again.
        assert_eq!(materialize(&dir, "lib", ".so", b"v2").unwrap(), reused);

        let new = materialize(&dir, "lib", ".so", b"v4").unwrap();
        let exists = |p: &Path| p.exists();
        assert!(!exists(&old), "an unused old version is pruned");
        assert!(!exists(&abandoned), "an abandoned temp file is pruned");
        for p in [&reused, &recent, &new, &other_stem, &unrelated] {
            assert!(exists(p), "{} must stay", p.display());
        }
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
        assert_eq!(err.code(), "artifact-dir", "{err}");
        let err = materialize(&real, "a/b", ".so", b"a").unwrap_err();
        assert_eq!(err.code(), "artifact-bad-name");
        let err = materialize(&real, "", ".so", b"a").unwrap_err();
        assert_eq!(err.code(), "artifact-bad-name");
    }
}
