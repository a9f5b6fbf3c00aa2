//! The output archive: a manifest of (path, mode, symlink target, hash) plus blobs, and its
//! exact restore into a workspace.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use runwire_fingerprint::hash::hash_reader;
use runwire_fingerprint::{Hash32, HashMemo, Hasher, OutputSet, RelPath, StatKey};
use serde::{Deserialize, Serialize};

use crate::blobs::Blobs;
use crate::error::{CacheError, io};

/// The state of one output path after the cached run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    File {
        hash: Hash32,
        size: u64,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: String,
    },
    /// The cached run deleted it: restore deletes it too.
    Deleted,
}

/// What to restore. Paths are plain strings here so that a tampered index is refused with a
/// clear error naming the path rather than failing to decode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub items: BTreeMap<String, Item>,
    /// Directories emptied before writing (the task emptied them: `rm -rf out`, emptyDir).
    #[serde(default)]
    pub emptied_dirs: Vec<String>,
}

impl Manifest {
    /// Blob hashes (with sizes) the manifest references.
    pub fn blobs(&self) -> BTreeMap<Hash32, u64> {
        self.items
            .values()
            .filter_map(|i| match i {
                Item::File { hash, size, .. } => Some((*hash, *size)),
                _ => None,
            })
            .collect()
    }

    /// Refuses a manifest restore must never carry out (spec/fingerprint.md, "What restore
    /// may write"): a path that is absolute, empty or leaves the workspace; anything inside
    /// `.git` or a `node_modules/.bin`; setuid, setgid or sticky bits; a symlink whose target
    /// leaves the workspace; emptying `.git`, a `node_modules` or the workspace root. Checked
    /// whole before anything is written, and at store time, so nothing is stored that could
    /// never be restored.
    pub fn check(&self) -> Result<(), CacheError> {
        for p in self.items.keys().chain(self.emptied_dirs.iter()) {
            check_path(p)?;
            check_place(p)?;
        }
        for (p, item) in &self.items {
            match item {
                Item::File { mode, .. } | Item::Dir { mode } if mode & !0o777 != 0 => {
                    return Err(unsafe_path(
                        p,
                        &format!("its mode {mode:o} has setuid, setgid or sticky bits"),
                    ));
                }
                Item::Symlink { target } => check_symlink_target(p, target)?,
                _ => {}
            }
        }
        for d in &self.emptied_dirs {
            if d.rsplit('/').next() == Some("node_modules") {
                return Err(unsafe_path(d, "restore never empties a node_modules"));
            }
        }
        let symlinks: Vec<&String> = self
            .items
            .iter()
            .filter(|(_, i)| matches!(i, Item::Symlink { .. }))
            .map(|(p, _)| p)
            .collect();
        for p in self.items.keys() {
            for s in &symlinks {
                if p.len() > s.len() && p.starts_with(s.as_str()) && p.as_bytes()[s.len()] == b'/' {
                    return Err(unsafe_path(
                        p,
                        &format!("it lies under the restored symlink {s}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn unsafe_path(p: &str, why: &str) -> CacheError {
    CacheError::UnsafePath {
        path: p.to_owned(),
        why: why.to_owned(),
    }
}

/// Places restore never writes into, wherever they are: git's own directory (hooks run
/// code) and package managers' command directories.
fn check_place(p: &str) -> Result<(), CacheError> {
    let parts: Vec<&str> = p.split('/').collect();
    if parts.contains(&".git") {
        return Err(unsafe_path(p, "it is inside .git"));
    }
    if parts.windows(2).any(|w| w == ["node_modules", ".bin"]) {
        return Err(unsafe_path(p, "it is inside a node_modules/.bin"));
    }
    Ok(())
}

/// A symlink's target, read from the link's directory, must stay inside the workspace.
fn check_symlink_target(p: &str, target: &str) -> Result<(), CacheError> {
    if target.starts_with('/') {
        return Err(unsafe_path(p, "its symlink target is absolute"));
    }
    let mut depth = p.split('/').count() - 1;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." if depth == 0 => {
                return Err(unsafe_path(p, "its symlink target leaves the workspace"));
            }
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    Ok(())
}

/// A manifest path must be a canonical workspace-relative path.
pub fn check_path(p: &str) -> Result<(), CacheError> {
    if p.starts_with('/') {
        return Err(unsafe_path(p, "it is absolute"));
    }
    if p.is_empty() {
        return Err(unsafe_path(p, "it is empty (the workspace root itself)"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(unsafe_path(p, "it leaves the workspace (`..`)"));
    }
    if p.contains('\0') || p.split('/').any(|c| c.is_empty() || c == ".") {
        return Err(unsafe_path(p, "it is not in canonical form"));
    }
    Ok(())
}

/// Archives the outputs as they are now into blobs and a manifest.
pub(crate) fn build(
    root: &Path,
    outputs: &OutputSet,
    blobs: &Blobs,
    remember: Option<&Hasher<'_>>,
    observe: &mut dyn FnMut(crate::StoreStep),
) -> Result<Manifest, CacheError> {
    let mut m = Manifest {
        items: BTreeMap::new(),
        emptied_dirs: Vec::new(),
    };
    // Restore refuses to write through a symlinked directory of the workspace; refused
    // here, before any blob is written, such a run is not cached (with the reason) instead
    // of being stored again on every run and refused at every hit.
    let mut guard = SymlinkGuard {
        root,
        checked: HashSet::new(),
    };
    for p in outputs
        .paths
        .iter()
        .chain(&outputs.trees)
        .chain(&outputs.emptied_dirs)
        .filter(|p| !p.is_root() && !p.is_external())
    {
        guard.check_parents(p.as_str())?;
    }
    let mut adding = Adding {
        root,
        blobs,
        remember,
        observe,
    };
    for p in &outputs.paths {
        adding.add(p, &mut m.items, false)?;
    }
    for p in &outputs.trees {
        adding.add(p, &mut m.items, true)?;
    }
    m.emptied_dirs = outputs
        .emptied_dirs
        .iter()
        .map(|d| d.as_str().to_owned())
        .collect();
    // What restore would refuse is never stored: the run is then not cached, with the reason.
    m.check()?;
    Ok(m)
}

/// What archiving the outputs of one store needs at every path.
struct Adding<'a, 'h> {
    root: &'a Path,
    blobs: &'a Blobs,
    remember: Option<&'a Hasher<'h>>,
    observe: &'a mut dyn FnMut(crate::StoreStep),
}

impl Adding<'_, '_> {
    fn add(
        &mut self,
        rel: &RelPath,
        items: &mut BTreeMap<String, Item>,
        recursive: bool,
    ) -> Result<(), CacheError> {
        let root = self.root;
        if rel.is_root() || rel.is_external() || items.contains_key(rel.as_str()) {
            return Ok(());
        }
        let abs = rel.to_abs(root);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            // Gone, or a parent is no longer a directory: either way the path does not exist.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                items.insert(rel.as_str().to_owned(), Item::Deleted);
                (self.observe)(crate::StoreStep::Archived(rel.as_str().to_owned()));
                return Ok(());
            }
            Err(e) => {
                return Err(CacheError::Io {
                    action: "reading output",
                    path: abs,
                    source: e,
                });
            }
        };
        let ft = meta.file_type();
        let item = if ft.is_symlink() {
            let t = fs::read_link(&abs).map_err(io("reading symlink", &abs))?;
            let target =
                t.into_os_string()
                    .into_string()
                    .map_err(|_| CacheError::Unarchivable {
                        path: rel.to_string(),
                        why: "symlink target is not UTF-8".into(),
                    })?;
            Item::Symlink { target }
        } else if ft.is_dir() {
            Item::Dir {
                mode: meta.mode() & 0o7777,
            }
        } else if ft.is_file() {
            let observe = &mut *self.observe;
            let (hash, size) = self
                .blobs
                .put_file(&abs, &mut |n| observe(crate::StoreStep::Bytes(n)))?;
            // Taken before the read: a change after it leaves a stat that never comes back, so
            // the remembered hash is only ever used for the content it was computed from.
            if let Some(hasher) = self.remember {
                hasher.remember(&abs, StatKey::from_metadata(&meta), hash);
            }
            Item::File {
                hash,
                size,
                mode: meta.mode() & 0o7777,
            }
        } else {
            return Err(CacheError::Unarchivable {
                path: rel.to_string(),
                why: "not a file, directory or symlink".into(),
            });
        };
        let is_dir = matches!(item, Item::Dir { .. });
        items.insert(rel.as_str().to_owned(), item);
        (self.observe)(crate::StoreStep::Archived(rel.as_str().to_owned()));
        if recursive && is_dir {
            let rd = fs::read_dir(&abs).map_err(io("listing output", &abs))?;
            for e in rd {
                let e = e.map_err(io("listing output", &abs))?;
                let name = e
                    .file_name()
                    .into_string()
                    .map_err(|n| CacheError::Unarchivable {
                        path: format!("{rel}/{}", n.to_string_lossy()),
                        why: "name is not UTF-8".into(),
                    })?;
                self.add(&rel.join(&name), items, true)?;
            }
        }
        Ok(())
    }
}

/// Counts of what a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RestoreStats {
    /// Files written (or whose mode was set).
    pub files: usize,
    /// Files and symlinks already equal to the archive: left alone (inode, mtime, ctime).
    pub unchanged: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub deleted: usize,
    pub emptied_dirs: usize,
}

/// Makes the workspace's outputs byte-identical to the archive. The manifest must have been
/// checked and its blobs verified.
pub(crate) fn restore(
    root: &Path,
    m: &Manifest,
    blobs: &Blobs,
    compared: &Compared,
) -> Result<RestoreStats, CacheError> {
    let staging = Staging::new(root, blobs.tmp_dir());
    let stats = restore_via(root, m, blobs, &staging, compared);
    staging.remove();
    stats
}

/// How each archived regular file compares with the file now at its path, with the stat
/// the comparison saw: a hit whose outputs are in place reads each of them once (in
/// parallel) and no blob at all.
#[derive(Default)]
pub(crate) struct Compared {
    files: HashMap<String, Comparison>,
}

/// A file's sameness and the stat it was judged at (`None`: absent, or changed meanwhile).
type Comparison = (Sameness, Option<StatKey>);

impl Compared {
    /// Compares every file item of `m` with the workspace, in parallel when there are
    /// many (the fingerprint engine's work-stealing map, a read buffer per thread). With a
    /// `memo`, a file whose stat is the one its remembered hash was taken at is judged by
    /// that hash without being read: the same rule (and the same racy guard) by which
    /// validation trusts an input, so 50,000 outputs in place cost 50,000 `lstat`s.
    pub(crate) fn new(root: &Path, m: &Manifest, memo: Option<&HashMemo>) -> Self {
        let items: Vec<(&String, Hash32, u64, u32)> = m
            .items
            .iter()
            .filter_map(|(p, item)| match item {
                Item::File { hash, size, mode } => Some((p, *hash, *size, *mode)),
                _ => None,
            })
            .collect();
        let hasher = Hasher::new(memo, std::time::SystemTime::now());
        let compared = hasher.map_parallel(&items, |(p, hash, size, mode), buf| {
            let archived = Archived {
                hash: *hash,
                size: *size,
                mode: *mode,
            };
            compare_file(&root.join(p), archived, &hasher, buf)
        });
        Self {
            files: items
                .iter()
                .map(|(p, ..)| (*p).clone())
                .zip(compared)
                .collect(),
        }
    }

    /// The blobs a restore will read: those of files not already equal on disk.
    pub(crate) fn needed_blobs(&self, m: &Manifest) -> Vec<Hash32> {
        let mut out: Vec<Hash32> = m
            .items
            .iter()
            .filter_map(|(p, item)| match item {
                Item::File { hash, .. }
                    if !self.files.get(p).is_some_and(|(s, _)| {
                        matches!(s, Sameness::Equal | Sameness::ModeDiffers)
                    }) =>
                {
                    Some(*hash)
                }
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The comparison made earlier if the file has not changed since (same stat; looked at
    /// again only when `recheck`: the restore's own pruning and deletions may have removed
    /// it), else a fresh one.
    fn sameness(
        &self,
        p: &str,
        abs: &Path,
        archived: Archived,
        recheck: bool,
        buf: &mut [u8],
    ) -> Sameness {
        match self.files.get(p) {
            Some((s, Some(seen)))
                if !recheck
                    || fs::symlink_metadata(abs)
                        .is_ok_and(|m| StatKey::from_metadata(&m) == *seen) =>
            {
                return *s;
            }
            // Absent then and nothing removed since: written without looking again (a file
            // that appeared meanwhile is replaced all the same).
            Some((Sameness::Differs, None)) if !recheck => return Sameness::Differs,
            _ => {}
        }
        equal_file(abs, archived, buf).0
    }

    /// Whether nothing was at `p` when compared.
    fn absent_when_compared(&self, p: &str) -> bool {
        matches!(self.files.get(p), Some((Sameness::Differs, None)))
    }

    /// Whether the file at `p` was equal in content when compared (its parent exists then).
    fn equal_when_compared(&self, p: &str) -> bool {
        self.files
            .get(p)
            .is_some_and(|(s, _)| matches!(s, Sameness::Equal | Sameness::ModeDiffers))
    }
}

/// Where restored files are written before they are renamed into place: a directory of
/// this process's own, on the workspace's file system, so a crash leaves nothing in the
/// outputs (spec/fingerprint.md, "Cache store"). It is the cache's `tmp/` when that is on
/// the same file system, else a `.runwire-restore` directory beside the workspace root;
/// failing both, files are staged beside their target as before. Directories of dead
/// processes are swept when the next restore starts.
struct Staging {
    root: PathBuf,
    cache_tmp: PathBuf,
    /// `restore-<pid>` in a directory on the workspace's file system, once made (`None`
    /// inside: it could not be). Shared by the threads writing files.
    dir: std::sync::OnceLock<Option<PathBuf>>,
}

impl Staging {
    /// Where this restore would stage; nothing is looked at or created until a file is to
    /// be written (a hit whose outputs are in place writes none).
    fn new(root: &Path, cache_tmp: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            cache_tmp: cache_tmp.to_path_buf(),
            dir: std::sync::OnceLock::new(),
        }
    }

    /// The directory staging directories go in: the cache's tmp dir when it is on the
    /// workspace's file system (a rename must not cross devices), else beside the workspace.
    fn base(&self) -> Option<PathBuf> {
        let dev = |p: &Path| fs::metadata(p).ok().map(|m| m.dev());
        let root_dev = dev(&self.root)?;
        if dev(&self.cache_tmp) == Some(root_dev) {
            return Some(self.cache_tmp.clone());
        }
        self.root
            .parent()
            .filter(|parent| dev(parent) == Some(root_dev))
            .map(|parent| parent.join(".runwire-restore"))
    }

    /// This process's staging directory, made (and dead processes' swept, once per
    /// process) on first use; `None` when neither place works.
    fn dir(&self) -> Option<&PathBuf> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        self.dir
            .get_or_init(|| {
                let base = self.base()?;
                SWEPT.call_once(|| sweep_dead(&base));
                let dir = base.join(format!("restore-{}", std::process::id()));
                fs::create_dir_all(&dir).is_ok().then_some(dir)
            })
            .as_ref()
    }

    /// A temporary path for `target`.
    fn temp_for(&self, target: &Path) -> PathBuf {
        // Unique within the process: files are written by several threads.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(d) = self.dir() {
            return d.join(format!("{n}.tmp"));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.runwire-{}.tmp", std::process::id()))
    }

    fn remove(&self) {
        if let Some(Some(d)) = self.dir.get() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Removes `restore-<pid>` directories under `base` whose process is gone.
fn sweep_dead(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("restore-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn restore_via(
    root: &Path,
    m: &Manifest,
    blobs: &Blobs,
    staging: &Staging,
    compared: &Compared,
) -> Result<RestoreStats, CacheError> {
    let mut guard = SymlinkGuard {
        root,
        checked: HashSet::new(),
    };
    // Refuse before touching anything: no write may go through a symlinked directory.
    for p in m.items.keys().chain(m.emptied_dirs.iter()) {
        guard.check_parents(p)?;
    }
    let mut stats = RestoreStats::default();
    for d in &m.emptied_dirs {
        // Emptied, except for what the archive itself holds there: those are compared and
        // left alone when equal (below), so a hit does not rewrite an unchanged `dist/`.
        prune_dir(root, d, m)?;
        stats.emptied_dirs += 1;
    }
    for (p, item) in m.items.iter().rev() {
        if matches!(item, Item::Deleted) {
            remove_any(&root.join(p))?;
            stats.deleted += 1;
        }
    }
    let mut dirs: Vec<(&String, u32)> = Vec::new();
    let mut files: Vec<(&String, Archived)> = Vec::new();
    // Directories that exist now: a file's parent is made once, not once per file.
    let mut made: HashSet<PathBuf> = HashSet::new();
    for (p, item) in &m.items {
        let abs = root.join(p);
        match item {
            Item::Deleted => {}
            Item::Dir { mode } => {
                if fs::symlink_metadata(&abs).is_ok_and(|x| !x.is_dir()) {
                    remove_any(&abs)?;
                }
                fs::create_dir_all(&abs).map_err(io("creating", &abs))?;
                made.insert(abs);
                dirs.push((p, *mode));
                stats.dirs += 1;
            }
            Item::File { hash, size, mode } => {
                let needs_parent = !compared.equal_when_compared(p);
                if needs_parent
                    && let Some(parent) = abs.parent()
                    && !made.contains(parent)
                {
                    prepare_parent(&abs)?;
                    made.insert(parent.to_path_buf());
                }
                let archived = Archived {
                    hash: *hash,
                    size: *size,
                    mode: *mode,
                };
                files.push((p, archived));
            }
            Item::Symlink { target } => {
                let same = fs::read_link(&abs).is_ok_and(|t| t.as_os_str() == target.as_str());
                if same {
                    stats.unchanged += 1;
                } else {
                    prepare_parent(&abs)?;
                    remove_any(&abs)?;
                    std::os::unix::fs::symlink(target, &abs)
                        .map_err(io("creating symlink", &abs))?;
                    stats.symlinks += 1;
                }
            }
        }
    }
    // Only pruning and deletions (above) can have changed a compared file since; a hit
    // whose outputs are all in place then costs one stat per file, not two.
    let removed_any = stats.emptied_dirs > 0 || stats.deleted > 0;
    let (written, unchanged) = restore_files(root, &files, blobs, staging, compared, removed_any)?;
    stats.files += written;
    stats.unchanged += unchanged;
    // Directory modes last, deepest first: a read-only dir must not block its own contents.
    for (p, mode) in dirs.into_iter().rev() {
        let abs = root.join(p);
        // Setting a mode it already has would still move its ctime.
        if fs::symlink_metadata(&abs).is_ok_and(|m| m.mode() & 0o7777 == mode) {
            continue;
        }
        fs::set_permissions(&abs, fs::Permissions::from_mode(mode))
            .map_err(io("setting mode of", &abs))?;
    }
    Ok(stats)
}

/// Writes the regular files of a restore, in parallel: a many-file output is syscall-bound,
/// one file at a time. Returns how many were written (or had their mode set) and how many
/// were left alone.
fn restore_files(
    root: &Path,
    files: &[(&String, Archived)],
    blobs: &Blobs,
    staging: &Staging,
    compared: &Compared,
    recheck: bool,
) -> Result<(usize, usize), CacheError> {
    let hasher = Hasher::new(None, std::time::SystemTime::now());
    let results = hasher.map_parallel(files, |(p, archived), buf| {
        let abs = root.join(p);
        match compared.sameness(p, &abs, *archived, recheck, buf) {
            Sameness::Equal => Ok(false),
            Sameness::ModeDiffers => {
                fs::set_permissions(&abs, fs::Permissions::from_mode(archived.mode))
                    .map(|()| true)
                    .map_err(io("setting mode of", &abs))
            }
            Sameness::Differs if compared.absent_when_compared(p) => {
                write_new_file(&abs, &blobs.path(&archived.hash), archived.mode, staging)
                    .map(|()| true)
            }
            Sameness::Differs => write_file(
                &abs,
                &blobs.path(&archived.hash),
                archived.mode,
                &staging.temp_for(&abs),
            )
            .map(|()| true),
        }
    });
    let (mut written, mut unchanged) = (0, 0);
    for result in results {
        if result? {
            written += 1;
        } else {
            unchanged += 1;
        }
    }
    Ok((written, unchanged))
}

/// Every way the workspace now differs from what restoring `m` would leave, one line per
/// path (`runwire run --verify`): content, mode, kind, a symlink's target, presence.
pub fn differences(root: &Path, m: &Manifest) -> Vec<String> {
    let kind = |meta: &fs::Metadata| {
        if meta.is_dir() {
            "a directory"
        } else if meta.file_type().is_symlink() {
            "a symlink"
        } else if meta.is_file() {
            "a file"
        } else {
            "a special file"
        }
    };
    let mut out = Vec::new();
    let mut buf = vec![0; READ_BUFFER];
    for (p, item) in &m.items {
        let abs = root.join(p);
        let now = fs::symlink_metadata(&abs).ok();
        let line = match (item, &now) {
            (Item::Deleted, None) => None,
            (Item::Deleted, Some(meta)) => Some(format!(
                "{p}: the cached run deleted it, the fresh run left {}",
                kind(meta)
            )),
            (_, None) => Some(format!(
                "{p}: the cached run left it, the fresh run did not"
            )),
            (Item::File { hash, size, mode }, Some(meta)) => {
                let archived = Archived {
                    hash: *hash,
                    size: *size,
                    mode: *mode,
                };
                match equal_file(&abs, archived, &mut buf).0 {
                    Sameness::Equal => None,
                    Sameness::ModeDiffers => Some(format!(
                        "{p}: mode differs (cached {mode:o}, fresh {:o})",
                        meta.mode() & 0o7777
                    )),
                    Sameness::Differs if meta.is_file() => Some(format!("{p}: content differs")),
                    Sameness::Differs => Some(format!(
                        "{p}: the cached run left a file, the fresh run {}",
                        kind(meta)
                    )),
                }
            }
            (Item::Dir { .. }, Some(meta)) => (!meta.is_dir()).then(|| {
                format!(
                    "{p}: the cached run left a directory, the fresh run {}",
                    kind(meta)
                )
            }),
            (Item::Symlink { target }, Some(_)) => {
                let same = fs::read_link(&abs).is_ok_and(|t| t.as_os_str() == target.as_str());
                (!same).then(|| format!("{p}: symlink target differs"))
            }
        };
        out.extend(line);
    }
    out
}

/// How a file on disk compares with an archived one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sameness {
    Equal,
    ModeDiffers,
    Differs,
}

/// The read buffer of a comparison made on its own (not through [`Compared::new`]).
const READ_BUFFER: usize = 64 * 1024;

/// An archived regular file, as a comparison needs it.
#[derive(Clone, Copy)]
struct Archived {
    hash: Hash32,
    size: u64,
    mode: u32,
}

/// Compares the regular file at `abs` with an archived one: size first, then content read
/// through `buf` (no memo) or judged by `hasher`'s memo. The stat returned is the one taken
/// before hashing (a change during the hash moves the ctime).
fn equal_file(abs: &Path, archived: Archived, buf: &mut [u8]) -> Comparison {
    let hasher = Hasher::new(None, std::time::SystemTime::now());
    compare_file(abs, archived, &hasher, buf)
}

fn compare_file(abs: &Path, archived: Archived, hasher: &Hasher<'_>, buf: &mut [u8]) -> Comparison {
    let Ok(meta) = fs::symlink_metadata(abs) else {
        return (Sameness::Differs, None);
    };
    let key = StatKey::from_metadata(&meta);
    if !meta.is_file() || meta.len() != archived.size {
        return (Sameness::Differs, Some(key));
    }
    let by_mode = |equal: bool| match (equal, meta.mode() & 0o7777 == archived.mode) {
        (false, _) => Sameness::Differs,
        (true, true) => Sameness::Equal,
        (true, false) => Sameness::ModeDiffers,
    };
    if let Some(remembered) = hasher.remembered(abs, &key) {
        return (by_mode(remembered == archived.hash), Some(key));
    }
    let content = fs::File::open(abs).and_then(|f| hash_reader(f, buf));
    // Changed while it was hashed: no comparison to keep, nothing to remember.
    let after = fs::symlink_metadata(abs)
        .ok()
        .map(|m| StatKey::from_metadata(&m));
    let unchanged = after == Some(key);
    match content {
        Ok(h) => {
            if unchanged {
                hasher.remember(abs, key, h);
            }
            (by_mode(h == archived.hash), Some(key).filter(|_| unchanged))
        }
        Err(_) => (Sameness::Differs, None),
    }
}

/// Empties the emptied directory `dir` (workspace-relative) of everything the manifest does
/// not hold; what it holds is compared and written afterwards.
fn prune_dir(root: &Path, dir: &str, m: &Manifest) -> Result<(), CacheError> {
    let abs = root.join(dir);
    match fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(CacheError::Io {
                action: "inspecting",
                path: abs,
                source: e,
            });
        }
        Ok(meta) if !meta.is_dir() => return remove_any(&abs),
        Ok(_) => {}
    }
    for e in fs::read_dir(&abs).map_err(io("listing", &abs))? {
        let e = e.map_err(io("listing", &abs))?;
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            remove_any(&path)?;
            continue;
        };
        let rel = format!("{dir}/{name}");
        let is_real_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let holds_below = m
            .items
            .range(format!("{rel}/")..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&format!("{rel}/")));
        match m.items.get(&rel) {
            Some(Item::Dir { .. }) if is_real_dir => prune_dir(root, &rel, m)?,
            Some(Item::File { .. } | Item::Symlink { .. }) if !is_real_dir => {}
            None if is_real_dir && holds_below => prune_dir(root, &rel, m)?,
            _ => remove_any(&path)?,
        }
    }
    Ok(())
}

struct SymlinkGuard<'a> {
    root: &'a Path,
    checked: HashSet<PathBuf>,
}

impl SymlinkGuard<'_> {
    fn check_parents(&mut self, p: &str) -> Result<(), CacheError> {
        let mut cur = self.root.to_path_buf();
        let parts: Vec<&str> = p.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            cur.push(part);
            if self.checked.contains(&cur) {
                continue;
            }
            if fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(unsafe_path(
                    p,
                    &format!(
                        "{} is a symlink; restore never writes through one",
                        cur.display()
                    ),
                ));
            }
            self.checked.insert(cur.clone());
        }
        Ok(())
    }
}

fn remove_any(p: &Path) -> Result<(), CacheError> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CacheError::Io {
            action: "inspecting",
            path: p.to_path_buf(),
            source: e,
        }),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).map_err(io("removing", p)),
        Ok(_) => fs::remove_file(p).map_err(io("removing", p)),
    }
}

fn prepare_parent(abs: &Path) -> Result<(), CacheError> {
    if let Some(parent) = abs.parent() {
        if fs::symlink_metadata(parent).is_ok_and(|m| !m.is_dir()) {
            remove_any(parent)?;
        }
        fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    Ok(())
}

/// Writes a file where nothing is: into an unnamed file (`O_TMPFILE`) in the target's
/// directory, linked under its name once complete. As atomic as a rename (a crash leaves
/// no name behind) at half the directory operations, which is what a restore of 50,000
/// files after `rm -rf` costs. Where the file system cannot (or the name appeared
/// meanwhile), it falls back to [`write_file`].
fn write_new_file(abs: &Path, blob: &Path, mode: u32, staging: &Staging) -> Result<(), CacheError> {
    match link_new_file(abs, blob, mode) {
        Ok(()) => Ok(()),
        Err(_) => write_file(abs, blob, mode, &staging.temp_for(abs)),
    }
}

fn link_new_file(abs: &Path, blob: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let parent = abs.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    let mut from = fs::File::open(blob)?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(parent)?;
    std::io::copy(&mut from, &mut to)?;
    to.set_permissions(fs::Permissions::from_mode(mode))?;
    // Linking an fd by its /proc path needs no privilege (AT_EMPTY_PATH would).
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", to.as_raw_fd()))?;
    let target = std::ffi::CString::new(abs.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call; the fd
    // named by `proc_path` stays open until `to` drops after it.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes via a temp file (`tmp`, on the same file system) and a rename: readers never see
/// half a file, and a crash leaves nothing beside the outputs. The parent is expected to
/// exist (made once per directory by the caller); a directory in the file's place, or a
/// parent removed meanwhile, is dealt with when the rename says so.
fn write_file(abs: &Path, blob: &Path, mode: u32, tmp: &Path) -> Result<(), CacheError> {
    use std::os::unix::fs::OpenOptionsExt;
    let copied = (|| {
        let mut from = fs::File::open(blob)?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?;
        std::io::copy(&mut from, &mut to)?;
        // Exactly the archived mode: the creation mode was masked by the umask.
        to.set_permissions(fs::Permissions::from_mode(mode))
    })();
    let renamed = copied.and_then(|()| match fs::rename(tmp, abs) {
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || fs::symlink_metadata(abs).is_ok_and(|m| m.is_dir()) =>
        {
            prepare_parent(abs).map_err(std::io::Error::other)?;
            if fs::symlink_metadata(abs).is_ok_and(|m| m.is_dir()) {
                remove_any(abs).map_err(std::io::Error::other)?;
            }
            fs::rename(tmp, abs)
        }
        other => other,
    });
    if let Err(e) = renamed {
        let _ = fs::remove_file(tmp);
        return Err(CacheError::Io {
            action: "restoring",
            path: abs.to_path_buf(),
            source: e,
        });
    }
    Ok(())
}
