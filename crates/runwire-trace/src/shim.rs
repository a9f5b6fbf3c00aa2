//! Materializing the embedded shim: a per-user 0700 directory, a content-hash file name,
//! temp file + atomic rename, and a re-hash before every reuse (a file someone swapped
//! under that name is replaced, never loaded).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::TraceError;

/// The shim built by build.rs from shim/runtrace.c.
pub(crate) static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libruntrace.so"));

/// The per-user directory for materialized artifacts: `$XDG_RUNTIME_DIR/runwire`, else
/// `$XDG_CACHE_HOME/runwire` or `~/.cache/runwire`, else `<tmp>/runwire-<uid>`.
pub(crate) fn artifact_dir() -> PathBuf {
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

fn current_uid() -> u32 {
    // The owner of a fresh file in our own /proc entry is our effective uid.
    fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// Creates `dir` (mode 0700) if needed and checks it is a real directory owned by us and
/// closed to others; a looser mode on our own directory is tightened.
pub(crate) fn private_dir(dir: &Path) -> Result<(), TraceError> {
    let fail = |reason: String| TraceError::ShimDir {
        path: dir.to_owned(),
        reason,
    };
    if let Err(e) = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err(fail(e.to_string()));
    }
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

/// Writes `bytes` as `<dir>/<stem>-<hash><suffix>` unless an identical file is there.
pub(crate) fn materialize(
    dir: &Path,
    stem: &str,
    suffix: &str,
    bytes: &[u8],
) -> Result<PathBuf, TraceError> {
    private_dir(dir)?;
    let hash = blake3::hash(bytes).to_hex();
    let path = dir.join(format!("{stem}-{}{suffix}", &hash[..32]));
    let err = |source| TraceError::Materialize {
        path: path.clone(),
        source,
    };
    if let Ok(existing) = fs::read(&path) {
        if blake3::hash(&existing) == blake3::hash(bytes) {
            return Ok(path);
        }
    }
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

/// The shim's path, materialized once per process (and re-verified on that first use).
pub(crate) fn shim_path() -> Result<PathBuf, TraceError> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = PATH.get() {
        return Ok(p.clone());
    }
    if SHIM.is_empty() {
        return Err(TraceError::Unsupported(std::env::consts::OS));
    }
    let p = materialize(&artifact_dir(), "libruntrace", ".so", SHIM)?;
    Ok(PATH.get_or_init(|| p).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn materializes_once_and_replaces_a_tampered_copy() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("art");
        let p1 = materialize(&dir, "x", ".so", b"hello").unwrap();
        assert_eq!(fs::read(&p1).unwrap(), b"hello");
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&p1, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&p1, b"evil!").unwrap();
        let p2 = materialize(&dir, "x", ".so", b"hello").unwrap();
        assert_eq!(p1, p2);
        assert_eq!(fs::read(&p2).unwrap(), b"hello");
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
}
