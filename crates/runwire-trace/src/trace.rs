//! The trace model: per path, the first access kind and the later ones, plus completeness.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::record::{IncompleteCode, RecordKind, ServiceCode};
use crate::ring::RawTrace;

/// How a process touched a path. The order of the variants is the sort order of
/// [`PathAccess::later`]; it carries no meaning beyond determinism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// Content was read (open for reading, `readlink`, exec of the program file, the
    /// source of a hard link).
    Read,
    /// A probe (`stat`, `access`, `chdir`...) found something there.
    Stat,
    /// A probe or open found nothing there (`ENOENT`/`ENOTDIR`): creating it later must
    /// invalidate.
    NotFound,
    /// The directory was listed; [`PathAccess::names`] has the names the process saw.
    ListDir,
    /// Opened for writing without truncation or exclusive creation (append, `O_RDWR`).
    Write,
    /// Created: `O_CREAT|O_EXCL`, `O_RDWR|O_CREAT` on a path that did not exist (probed
    /// first), `mkdir`, `symlink`, `mkstemp`, a new hard link.
    Create,
    /// Opened with `O_TRUNC` (`>` in a shell, `fopen("w")`) or `truncate`d.
    Truncate,
    /// Removed (`unlink`, `rmdir`).
    Delete,
    /// Source of a rename: its prior content moved elsewhere (so it was observed, like a
    /// read) and the path no longer exists.
    RenameFrom,
    /// Target of a rename: its content was replaced, like a write.
    RenameTo,
}

impl AccessKind {
    /// True for kinds whose outcome depends on the path's prior state: when such a kind
    /// comes first, the prior state is an input.
    pub fn observes_prior_state(self) -> bool {
        matches!(
            self,
            Self::Read | Self::Stat | Self::NotFound | Self::ListDir | Self::RenameFrom
        )
    }

    /// True for kinds that change the path.
    pub fn modifies(self) -> bool {
        matches!(
            self,
            Self::Write
                | Self::Create
                | Self::Truncate
                | Self::Delete
                | Self::RenameFrom
                | Self::RenameTo
        )
    }
}

/// Everything recorded for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathAccess {
    /// Absolute, lexically normalized (`.`/`..` folded, no symlink resolution).
    pub path: PathBuf,
    /// The kind of the first access in ring order.
    pub first: AccessKind,
    /// Kinds seen after the first access, other than `first` itself.
    pub later: BTreeSet<AccessKind>,
    /// Names seen in listings of this directory (without `.` and `..`).
    #[serde(
        serialize_with = "names_lossy",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub names: BTreeSet<OsString>,
}

impl PathAccess {
    /// All kinds seen, first included.
    pub fn kinds(&self) -> impl Iterator<Item = AccessKind> + '_ {
        std::iter::once(self.first).chain(self.later.iter().copied().filter(|k| *k != self.first))
    }

    /// True if any access had this kind.
    pub fn has(&self, kind: AccessKind) -> bool {
        self.first == kind || self.later.contains(&kind)
    }
}

fn names_lossy<S: Serializer>(names: &BTreeSet<OsString>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(names.iter().map(|n| n.to_string_lossy()))
}

/// Why a trace cannot be trusted to list every access. Each reason has a stable code
/// (`trace-*`, listed in docs/errors.md).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::EnumDiscriminants,
)]
#[strum_discriminants(
    name(IncompleteReasonKind),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The kinds of [`IncompleteReason`], without their data: each has the code and documentation of its variant."
)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum IncompleteReason {
    /// A statically linked program (no `PT_INTERP`) ran: `LD_PRELOAD` cannot enter it, and
    /// the seccomp tracer was switched off (or a `posix_spawn` started it, see the crate
    /// docs).
    ///
    /// Unless it was set on purpose, unset `RUNWIRE_TRACE_SECCOMP=0`: the seccomp tracer
    /// follows such programs.
    #[strum_discriminants(strum(serialize = "trace-static-binary"))]
    StaticBinary { program: PathBuf },
    /// A statically linked or Go program ran and the seccomp tracer could not follow it:
    /// installing the filter or reading a call's arguments failed (`cause` says how).
    #[strum_discriminants(strum(serialize = "trace-seccomp-unavailable"))]
    SeccompUnavailable { program: PathBuf, cause: String },
    /// A setuid/setgid program ran: the loader ignores `LD_PRELOAD` for it.
    #[strum_discriminants(strum(serialize = "trace-setuid-binary"))]
    SetuidBinary { program: PathBuf },
    /// A program for another architecture or ELF class ran (the shim cannot load there).
    #[strum_discriminants(strum(serialize = "trace-unsupported-binary"))]
    UnsupportedBinary { program: PathBuf },
    /// A Go program ran: it makes file system calls directly, not through libc, and the
    /// seccomp tracer was switched off (or a `posix_spawn` started it).
    ///
    /// Unless it was set on purpose, unset `RUNWIRE_TRACE_SECCOMP=0`: the seccomp tracer
    /// follows such programs.
    #[strum_discriminants(strum(serialize = "trace-go-binary"))]
    GoBinary { program: PathBuf },
    /// A process set up `io_uring`, whose file operations bypass libc.
    #[strum_discriminants(strum(serialize = "trace-io-uring"))]
    IoUring { program: PathBuf },
    /// A process was exec'd or spawned but the shim never reported from it.
    #[strum_discriminants(strum(serialize = "trace-shim-not-loaded"))]
    ShimNotLoaded { program: PathBuf },
    /// Traced processes were still running when the trace was read (the root exited and
    /// the linger time passed): their later accesses are missing.
    #[strum_discriminants(strum(serialize = "trace-still-running"))]
    ProcessesStillRunning,
    /// The ring ran out of space; later events were dropped.
    #[strum_discriminants(strum(serialize = "trace-ring-overflow"))]
    RingOverflow,
    /// A record was reserved but never completed: a process died while appending, or was
    /// still running when the trace was read.
    #[strum_discriminants(strum(serialize = "trace-torn-record"))]
    TornRecord,
}

impl IncompleteReason {
    /// The stable code, such as `trace-static-binary`.
    pub fn code(&self) -> &'static str {
        IncompleteReasonKind::from(self).into()
    }
}

impl std::fmt::Display for IncompleteReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StaticBinary { program } => {
                write!(
                    f,
                    "statically linked program {} cannot be traced",
                    program.display()
                )
            }
            Self::SeccompUnavailable { program, cause } => write!(
                f,
                "statically linked program {} could not be traced through seccomp: {cause}",
                program.display()
            ),
            Self::SetuidBinary { program } => {
                write!(
                    f,
                    "setuid/setgid program {} cannot be traced",
                    program.display()
                )
            }
            Self::UnsupportedBinary { program } => write!(
                f,
                "program {} is for another architecture and cannot be traced",
                program.display()
            ),
            Self::GoBinary { program } => write!(
                f,
                "Go program {} makes file system calls directly, bypassing the tracer",
                program.display()
            ),
            Self::IoUring { program } => {
                write!(
                    f,
                    "{} used io_uring, which bypasses the tracer",
                    program.display()
                )
            }
            Self::ShimNotLoaded { program } => {
                write!(f, "the tracer did not load in {}", program.display())
            }
            Self::ProcessesStillRunning => f.write_str(
                "traced processes were still running after the command exited; later accesses are missing",
            ),
            Self::RingOverflow => f.write_str("the trace ring overflowed; events were dropped"),
            Self::TornRecord => {
                f.write_str("a traced process died or was still running while writing an event")
            }
        }
    }
}

/// Something a traced process did that makes the run a service rather than a build: its
/// result depends on what happened while it ran (requests, file changes), so it is never a
/// cacheable result, even when it exits 0 (a dev server quit with `q`). Each has a stable
/// code (`trace-*`, listed in docs/errors.md).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::EnumDiscriminants,
)]
#[strum_discriminants(
    name(ServiceKind),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The kinds of [`Service`], without their data: each has the code and documentation of its variant."
)]
#[serde(tag = "service", rename_all = "snake_case")]
pub enum Service {
    /// `listen()` on a socket: a server.
    #[strum_discriminants(strum(serialize = "trace-listen"))]
    Listen { program: PathBuf },
    /// An inotify watch was added: a watcher.
    #[strum_discriminants(strum(serialize = "trace-inotify"))]
    Inotify { program: PathBuf },
    /// A fanotify mark was set: a watcher.
    #[strum_discriminants(strum(serialize = "trace-fanotify"))]
    Fanotify { program: PathBuf },
}

impl Service {
    /// The stable code, such as `trace-listen`.
    pub fn code(&self) -> &'static str {
        ServiceKind::from(self).into()
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Listen { program } => {
                write!(f, "{} listened on a socket (a server)", program.display())
            }
            Self::Inotify { program } => {
                write!(f, "{} set an inotify watch (a watcher)", program.display())
            }
            Self::Fanotify { program } => {
                write!(f, "{} set a fanotify mark (a watcher)", program.display())
            }
        }
    }
}

/// The files a process tree touched, in first-access order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trace {
    complete: bool,
    incomplete_reasons: Vec<IncompleteReason>,
    accesses: Vec<PathAccess>,
    /// Servers and watchers seen, de-duplicated, in order found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    services: Vec<Service>,
    /// Every program the tree exec'd or spawned (the first one included), sorted: a task's
    /// interpreter and tools are inputs even where their files are not (spec/fingerprint.md
    /// rule 13).
    #[serde(skip)]
    programs: Vec<PathBuf>,
}

impl Trace {
    /// The programs the tree exec'd or spawned, lexically normalized, sorted.
    pub fn programs(&self) -> &[PathBuf] {
        &self.programs
    }

    /// What made the run a server or a watcher (empty for a plain build).
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// True when every process in the tree was traced and no event was lost.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Why the trace is incomplete (empty when complete), de-duplicated, in order found.
    pub fn incomplete_reasons(&self) -> &[IncompleteReason] {
        &self.incomplete_reasons
    }

    /// Paths in first-access order.
    pub fn iter(&self) -> std::slice::Iter<'_, PathAccess> {
        self.accesses.iter()
    }

    /// Paths sorted by path (deterministic regardless of process interleaving).
    pub fn sorted(&self) -> Vec<&PathAccess> {
        let mut v: Vec<_> = self.accesses.iter().collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// The same trace with paths sorted by path instead of first-access order: a form that
    /// does not depend on directory listing order (which varies between file systems).
    #[must_use]
    pub fn into_sorted(mut self) -> Trace {
        self.accesses.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }

    /// The record for one absolute path (normalized the same way as the trace).
    pub fn get(&self, path: &Path) -> Option<&PathAccess> {
        let want = normalize(path.as_os_str().as_bytes());
        self.accesses.iter().find(|a| a.path == want)
    }

    /// Number of paths recorded.
    pub fn len(&self) -> usize {
        self.accesses.len()
    }

    /// True when no path was recorded.
    pub fn is_empty(&self) -> bool {
        self.accesses.is_empty()
    }

    /// The part of the trace under `root`, with paths relative to it (`root` itself
    /// becomes `.`), keeping order and completeness: the form tests snapshot.
    #[must_use]
    pub fn relative_to(&self, root: &Path) -> Trace {
        let root = normalize(root.as_os_str().as_bytes());
        let accesses = self
            .accesses
            .iter()
            .filter_map(|a| {
                let rel = a.path.strip_prefix(&root).ok()?;
                let mut a = a.clone();
                a.path = if rel.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    rel.to_owned()
                };
                Some(a)
            })
            .collect();
        Trace {
            complete: self.complete,
            incomplete_reasons: self.incomplete_reasons.clone(),
            accesses,
            services: self.services.clone(),
            programs: self.programs.clone(),
        }
    }

    /// Folds raw ring events into a trace. `root` is the pid and program of the process
    /// the supervisor spawned (expected to report in) or `None` if it could not be traced.
    pub(crate) fn from_raw(raw: RawTrace, root: Option<(u32, PathBuf)>) -> Self {
        let mut b = Builder::default();
        if let Some((pid, program)) = root {
            // The supervisor exec'd it, not a shim: record the program file here.
            b.access(program.clone(), AccessKind::Read);
            b.programs.insert(program.clone());
            b.expect(pid, program);
        }
        for ev in raw.events {
            b.event(ev.kind, ev.reason, ev.pid, &ev.path, &ev.aux);
        }
        if raw.overflow {
            b.reason(IncompleteReason::RingOverflow);
        }
        if raw.torn {
            b.reason(IncompleteReason::TornRecord);
        }
        b.finish()
    }

    pub(crate) fn without_shim_not_loaded(mut self) -> Self {
        self.incomplete_reasons
            .retain(|r| !matches!(r, IncompleteReason::ShimNotLoaded { .. }));
        self.complete = self.incomplete_reasons.is_empty();
        self
    }

    pub(crate) fn with_reason(mut self, reason: IncompleteReason) -> Self {
        if !self.incomplete_reasons.contains(&reason) {
            self.incomplete_reasons.push(reason);
        }
        self.complete = false;
        self
    }
}

impl<'a> IntoIterator for &'a Trace {
    type Item = &'a PathAccess;
    type IntoIter = std::slice::Iter<'a, PathAccess>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[derive(Default)]
struct Builder {
    /// Normalized path bytes -> position in `accesses`.
    index: HashMap<Vec<u8>, usize>,
    accesses: Vec<PathAccess>,
    reasons: Vec<IncompleteReason>,
    services: Vec<Service>,
    /// Per pid: programs it exec'd or was spawned as, still waiting for the shim's report.
    obligations: HashMap<u32, Vec<PathBuf>>,
    /// Every program exec'd or spawned.
    programs: BTreeSet<PathBuf>,
    /// Per pid: reports that arrived before the spawner wrote its `SPAWNED` record (or from
    /// processes started by libc internals such as `system()`).
    unclaimed: HashMap<u32, u32>,
}

impl Builder {
    fn expect(&mut self, pid: u32, program: PathBuf) {
        self.obligations.entry(pid).or_default().push(program);
    }

    fn spawned(&mut self, pid: u32, program: PathBuf) {
        match self.unclaimed.get_mut(&pid) {
            Some(n) if *n > 0 => *n -= 1,
            _ => self.expect(pid, program),
        }
    }

    fn started(&mut self, pid: u32) {
        if self.obligations.get_mut(&pid).and_then(Vec::pop).is_none() {
            *self.unclaimed.entry(pid).or_default() += 1;
        }
    }

    fn exec_failed(&mut self, pid: u32) {
        self.obligations.get_mut(&pid).and_then(Vec::pop);
    }

    fn reason(&mut self, r: IncompleteReason) {
        if !self.reasons.contains(&r) {
            self.reasons.push(r);
        }
    }

    /// Records `kind` for the raw path bytes the shim sent.
    fn access_raw(&mut self, raw: &[u8], kind: AccessKind) -> usize {
        // Hot path: most paths are already normal and seen before; look them up by bytes.
        if is_normal(raw) {
            if let Some(&i) = self.index.get(raw) {
                self.touch(i, kind);
                return i;
            }
            return self.access(PathBuf::from(std::ffi::OsStr::from_bytes(raw)), kind);
        }
        self.access(normalize(raw), kind)
    }

    fn touch(&mut self, i: usize, kind: AccessKind) {
        let a = &mut self.accesses[i];
        if a.first != kind {
            a.later.insert(kind);
        }
    }

    fn access(&mut self, path: PathBuf, kind: AccessKind) -> usize {
        if let Some(&i) = self.index.get(path.as_os_str().as_bytes()) {
            let a = &mut self.accesses[i];
            if a.first != kind {
                a.later.insert(kind);
            }
            i
        } else {
            let i = self.accesses.len();
            self.index.insert(path.as_os_str().as_bytes().to_vec(), i);
            self.accesses.push(PathAccess {
                path,
                first: kind,
                later: BTreeSet::new(),
                names: BTreeSet::new(),
            });
            i
        }
    }

    fn event(&mut self, kind: u8, reason: u8, pid: u32, path: &[u8], aux: &[u8]) {
        // Unknown record kinds come from a newer shim: say so rather than guess.
        let Some(kind) = RecordKind::from_u8(kind) else {
            return self.reason(IncompleteReason::TornRecord);
        };
        if let Some(k) = kind.access() {
            self.access_raw(path, k);
            return;
        }
        let program = || normalize(path);
        match kind {
            RecordKind::DirEntry => {
                let i = self.access_raw(path, AccessKind::ListDir);
                self.accesses[i]
                    .names
                    .insert(OsString::from_vec(aux.to_vec()));
            }
            RecordKind::Start => self.started(pid),
            RecordKind::ExecFailed => self.exec_failed(pid),
            RecordKind::Exec => {
                self.programs.insert(program());
                self.expect(pid, program());
            }
            RecordKind::Spawned => {
                self.programs.insert(program());
                self.spawned(pid, program());
            }
            RecordKind::Incomplete => self.reason(match IncompleteCode::from_u8(reason) {
                Some(IncompleteCode::Static) => {
                    IncompleteReason::StaticBinary { program: program() }
                }
                Some(IncompleteCode::Setuid) => {
                    IncompleteReason::SetuidBinary { program: program() }
                }
                Some(IncompleteCode::IoUring) => IncompleteReason::IoUring { program: program() },
                Some(IncompleteCode::Go) => IncompleteReason::GoBinary { program: program() },
                Some(IncompleteCode::Seccomp) => IncompleteReason::SeccompUnavailable {
                    program: program(),
                    cause: String::from_utf8_lossy(aux).into_owned(),
                },
                Some(IncompleteCode::Foreign) | None => {
                    IncompleteReason::UnsupportedBinary { program: program() }
                }
            }),
            RecordKind::Service => {
                let service = match ServiceCode::from_u8(reason) {
                    Some(ServiceCode::Listen) => Service::Listen { program: program() },
                    Some(ServiceCode::Inotify) => Service::Inotify { program: program() },
                    Some(ServiceCode::Fanotify) => Service::Fanotify { program: program() },
                    // A newer shim's service: say so rather than guess.
                    None => return self.reason(IncompleteReason::TornRecord),
                };
                if !self.services.contains(&service) {
                    self.services.push(service);
                }
            }
            // The ten access kinds were handled above.
            RecordKind::Read
            | RecordKind::Stat
            | RecordKind::NotFound
            | RecordKind::ListDir
            | RecordKind::Write
            | RecordKind::Create
            | RecordKind::Truncate
            | RecordKind::Delete
            | RecordKind::RenameFrom
            | RecordKind::RenameTo => {}
        }
    }

    fn finish(mut self) -> Trace {
        let mut missing: Vec<(u32, PathBuf)> = self
            .obligations
            .drain()
            .flat_map(|(pid, programs)| programs.into_iter().map(move |p| (pid, p)))
            .collect();
        missing.sort();
        for (_, program) in missing {
            self.reason(IncompleteReason::ShimNotLoaded { program });
        }
        Trace {
            complete: self.reasons.is_empty(),
            incomplete_reasons: self.reasons,
            accesses: self.accesses,
            services: self.services,
            programs: self.programs.into_iter().collect(),
        }
    }
}

/// True when `raw` is absolute and already lexically normal (no empty, `.` or `..`
/// component, no trailing slash): then it is its own normal form.
fn is_normal(raw: &[u8]) -> bool {
    raw.first() == Some(&b'/')
        && (raw.len() == 1
            || (raw.last() != Some(&b'/')
                && raw[1..]
                    .split(|b| *b == b'/')
                    .all(|c| !c.is_empty() && c != b"." && c != b"..")))
}

/// Lexical normalization: makes `.`/`..`/duplicate separators disappear without touching
/// the file system. Relative input (never sent by the shim) is kept relative.
pub(crate) fn normalize(raw: &[u8]) -> PathBuf {
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !path.has_root() {
                    out.push("..");
                }
                if out.as_os_str().is_empty() && path.has_root() {
                    out.push("/");
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(if path.has_root() { "/" } else { "." });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{RawEvent, RawTrace};

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(b"/a/./b//c/../d/"), PathBuf::from("/a/b/d"));
        assert_eq!(normalize(b"/../x"), PathBuf::from("/x"));
        assert_eq!(normalize(b"/"), PathBuf::from("/"));
        for normal in [&b"/"[..], b"/a", b"/a/b.c/d"] {
            assert!(is_normal(normal));
            assert_eq!(normalize(normal).as_os_str().as_bytes(), normal);
        }
        for not in [&b"/a/"[..], b"/a//b", b"/a/./b", b"/a/..", b"a/b", b""] {
            assert!(!is_normal(not), "{}", String::from_utf8_lossy(not));
        }
    }

    fn ev(kind: u8, pid: u32, path: &str) -> RawEvent {
        RawEvent {
            kind,
            reason: 0,
            pid,
            path: path.as_bytes().to_vec(),
            aux: Vec::new(),
        }
    }

    #[test]
    fn keeps_first_kind_and_later_set() {
        let raw = RawTrace {
            events: vec![
                ev(7, 1, "/t/a"),
                ev(1, 1, "/t/a"),
                ev(1, 2, "/t/b/../a"),
                ev(2, 1, "/t/c"),
            ],
            ..RawTrace::default()
        };
        let t = Trace::from_raw(raw, None);
        assert!(t.complete());
        let a = t.get(Path::new("/t/a")).unwrap();
        assert_eq!(a.first, AccessKind::Truncate);
        assert_eq!(a.later, BTreeSet::from([AccessKind::Read]));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn an_exec_without_a_report_is_incomplete() {
        let raw = RawTrace {
            events: vec![
                ev(30, 1, "/bin/sh"),
                ev(31, 1, "/opt/x"),
                ev(31, 2, "/bin/ok"),
                ev(30, 2, "/bin/ok"),
            ],
            ..RawTrace::default()
        };
        let t = Trace::from_raw(raw, Some((1, PathBuf::from("/bin/sh"))));
        assert_eq!(
            t.incomplete_reasons(),
            &[IncompleteReason::ShimNotLoaded {
                program: PathBuf::from("/opt/x")
            }]
        );
    }
}
