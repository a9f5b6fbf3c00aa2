//! Where a workspace's cache lives: `RUNWIRE_CACHE_DIR` (relative to the workspace root),
//! else `<root>/node_modules/.cache/runwire` when the root has a `node_modules`, else
//! `<root>/.runwire/cache`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::workspace::Workspace;

/// The cache directory of a workspace without `node_modules`, relative to its root.
pub const DEFAULT_CACHE_DIR: &str = ".runwire/cache";

/// The cache directory; `chosen` is `RUNWIRE_CACHE_DIR` when set and not empty. Nothing is
/// created here (see [`prepare`]).
pub fn locate(ws: &Workspace, chosen: Option<&OsStr>) -> PathBuf {
    match chosen {
        Some(dir) => ws.root.join(dir),
        None if ws.root.join("node_modules").is_dir() => {
            ws.root.join("node_modules").join(".cache").join("runwire")
        }
        None => ws.root.join(DEFAULT_CACHE_DIR),
    }
}

/// [`locate`], created when missing. The default `.runwire/cache` gets a `.gitignore`
/// holding `*` when it is created, so git never sees the cache (a directory the user chose
/// with `RUNWIRE_CACHE_DIR`, or `node_modules`, which is ignored already, gets none).
pub fn prepare(ws: &Workspace, chosen: Option<&OsStr>) -> Result<PathBuf, Error> {
    let dir = locate(ws, chosen);
    let default = ws.root.join(DEFAULT_CACHE_DIR);
    if dir == default && !dir.exists() {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Private to the user, as the cache makes a directory it creates itself.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io(&dir))?;
        let ignore = dir.join(".gitignore");
        std::fs::write(&ignore, "*\n").map_err(io(&ignore))?;
    }
    Ok(dir)
}
