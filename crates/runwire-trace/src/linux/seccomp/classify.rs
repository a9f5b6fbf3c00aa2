//! From a notified system call to the records the shim would have written: the call has
//! not run yet, so its outcome is predicted from the file system as it is now (an open
//! for reading of an existing file is a `Read`, of nothing a `NotFound`, and so on), with
//! the arguments read through [`Memory`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::AT_FDCWD_ARG;
use super::memory::{Memory, exe_of, read_link};
use crate::record::{Event, IncompleteCode, ServiceCode};
use crate::trace::AccessKind;

/// What is left to look at once a call that changes nothing has been let through. The file
/// system looks the same after such a call runs, and the caller's next call that could
/// change it waits for this thread, so looking afterwards gives the same answer; meanwhile
/// the caller runs.
pub(super) enum After {
    /// An open for reading only: its flags.
    Open(Vec<u8>, i32),
    /// A stat or access: follows symbolic links or not.
    Probe(Vec<u8>, bool),
    Readlink(Vec<u8>),
    /// The first `getdents` of a listing: the directory's entries.
    List(Vec<u8>),
}

impl After {
    pub(super) fn events(self) -> Vec<Event> {
        let mut ev: Vec<Event> = Vec::new();
        let mut one = |op: AccessKind, path: Vec<u8>| ev.push(Event::Access { op, path });
        match self {
            After::Open(path, flags) => open_kinds(path, flags, &mut one),
            After::Probe(path, follow) => probe_kinds(path, follow, AccessKind::Stat, &mut one),
            After::Readlink(path) => readlink_kinds(path, &mut one),
            After::List(dir) => {
                let Ok(entries) = std::fs::read_dir(Path::new(OsStr::from_bytes(&dir))) else {
                    return ev;
                };
                ev.push(Event::Access {
                    op: AccessKind::ListDir,
                    path: dir.clone(),
                });
                for e in entries.flatten() {
                    ev.push(Event::DirEntry {
                        dir: dir.clone(),
                        name: e.file_name().into_encoded_bytes(),
                    });
                }
            }
        }
        ev
    }
}

/// Whether an open with these flags only reads (no create, truncate, write or tmpfile).
fn read_only(flags: i32) -> bool {
    flags & libc::O_ACCMODE == libc::O_RDONLY
        && flags & (libc::O_CREAT | libc::O_TRUNC) == 0
        && flags & libc::O_TMPFILE != libc::O_TMPFILE
}

/// The records of the notified call `req` to append before answering it, and what is left
/// to look at after the answer (for calls that change nothing, see [`After`]).
#[allow(clippy::too_many_lines, clippy::cast_possible_truncation)]
pub(super) fn classify(mem: &mut Memory, req: &libc::seccomp_notif) -> (Vec<Event>, Option<After>) {
    let pid = req.pid;
    let a = req.data.args;
    let nr = libc::c_long::from(req.data.nr);
    let cwd = AT_FDCWD_ARG;
    let mut ev: Vec<Event> = Vec::new();
    let mut after = None;
    let mut one = |op: AccessKind, path: Vec<u8>| ev.push(Event::Access { op, path });
    match nr {
        libc::SYS_io_uring_setup => {
            ev.push(Event::Incomplete {
                reason: IncompleteCode::IoUring,
                program: exe_of(pid),
            });
        }
        // Seen before it runs, so recorded whatever its outcome (the shim records
        // successes only): a server or watcher is not a build either way.
        libc::SYS_listen => ev.push(service(ServiceCode::Listen, pid)),
        libc::SYS_inotify_add_watch => ev.push(service(ServiceCode::Inotify, pid)),
        libc::SYS_fanotify_mark => ev.push(service(ServiceCode::Fanotify, pid)),
        libc::SYS_getdents64 | libc::SYS_getdents => {
            let fd = a[0] as i32;
            if mem.listing_starts(pid, fd) {
                if let Some(dir) = read_link(&format!("/proc/{pid}/fd/{fd}")) {
                    after = Some(After::List(dir));
                }
            }
        }
        libc::SYS_execve | libc::SYS_execveat => {
            let (d, p) = if nr == libc::SYS_execve {
                (cwd, a[0])
            } else {
                (a[0], a[1])
            };
            // The next read of this pid's memory must see the new image.
            if let Some(path) = mem.absolute(pid, d, p) {
                // An empty path with AT_EMPTY_PATH (fexecve) names the fd itself.
                match probe(&path, true) {
                    Probe::Missing => one(AccessKind::NotFound, path),
                    Probe::Dir | Probe::Other => one(AccessKind::Stat, path),
                    Probe::File => one(AccessKind::Read, path),
                }
            }
            mem.forget(pid);
        }
        libc::SYS_openat | libc::SYS_openat2 => {
            let flags = if nr == libc::SYS_openat {
                a[2]
            } else {
                let mut how = [0u8; 8];
                match mem.read_mem(pid, a[2], &mut how) {
                    Some(8) => u64::from_le_bytes(how),
                    _ => 0,
                }
            };
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                if read_only(flags as i32) {
                    after = Some(After::Open(path, flags as i32));
                } else {
                    open_kinds(path, flags as i32, &mut one);
                }
            }
        }
        libc::SYS_newfstatat | libc::SYS_statx | libc::SYS_faccessat | libc::SYS_faccessat2 => {
            let flags = match nr {
                libc::SYS_newfstatat | libc::SYS_faccessat2 => a[3] as i32,
                libc::SYS_statx => a[2] as i32,
                _ => 0,
            };
            let raw = mem.read_cstr(pid, a[1]);
            if let Some(raw) = raw {
                // fstatat(fd, "", AT_EMPTY_PATH) is an fstat: recorded when opened.
                if !(raw.is_empty() && flags & libc::AT_EMPTY_PATH != 0) {
                    if let Some(path) = mem.resolve(pid, a[0], raw) {
                        let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
                        after = Some(After::Probe(path, follow));
                    }
                }
            }
        }
        libc::SYS_readlinkat => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                after = Some(After::Readlink(path));
            }
        }
        libc::SYS_unlinkat => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                delete_kinds(path, a[2] as i32 & libc::AT_REMOVEDIR != 0, &mut one);
            }
        }
        libc::SYS_renameat2 => {
            let from = mem.absolute(pid, a[0], a[1]);
            let to = mem.absolute(pid, a[2], a[3]);
            rename_kinds(from, to, &mut one);
        }
        libc::SYS_mkdirat => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                create_kinds(path, &mut one);
            }
        }
        libc::SYS_linkat => {
            let from = mem.absolute(pid, a[0], a[1]);
            let to = mem.absolute(pid, a[2], a[3]);
            link_kinds(from, to, &mut one);
        }
        libc::SYS_symlinkat => {
            if let Some(path) = mem.absolute(pid, a[1], a[2]) {
                create_kinds(path, &mut one);
            }
        }
        libc::SYS_truncate => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                probe_kinds(path, true, AccessKind::Truncate, &mut one);
            }
        }
        // Times and modes change the file in place, as the shim records them: a write.
        // utimensat(fd, NULL) is a futimens, recorded at the open.
        libc::SYS_utimensat if a[1] != 0 => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                probe_kinds(
                    path,
                    a[3] as i32 & libc::AT_SYMLINK_NOFOLLOW == 0,
                    AccessKind::Write,
                    &mut one,
                );
            }
        }
        libc::SYS_fchmodat => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                probe_kinds(path, true, AccessKind::Write, &mut one);
            }
        }
        libc::SYS_chdir => {
            let path = mem.absolute(pid, cwd, a[0]);
            mem.changing_cwd(pid, path.clone());
            if let Some(path) = path {
                probe_kinds(path, true, AccessKind::Stat, &mut one);
            }
        }
        libc::SYS_fchdir => {
            let target = read_link(&format!("/proc/{pid}/fd/{}", a[0] as i32));
            mem.changing_cwd(pid, target);
        }
        #[cfg(target_arch = "x86_64")]
        _ => classify_legacy(mem, &mut after, pid, nr, a, &mut one),
        #[cfg(not(target_arch = "x86_64"))]
        _ => {}
    }
    (ev, after)
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::cast_possible_truncation)]
fn classify_legacy(
    mem: &mut Memory,
    after: &mut Option<After>,
    pid: u32,
    nr: libc::c_long,
    a: [u64; 6],
    one: &mut impl FnMut(AccessKind, Vec<u8>),
) {
    let cwd = AT_FDCWD_ARG;
    match nr {
        libc::SYS_open | libc::SYS_creat => {
            let flags = if nr == libc::SYS_open {
                a[1] as i32
            } else {
                libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC
            };
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                if read_only(flags) {
                    *after = Some(After::Open(path, flags));
                } else {
                    open_kinds(path, flags, one);
                }
            }
        }
        libc::SYS_stat | libc::SYS_access | libc::SYS_lstat => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                *after = Some(After::Probe(path, nr != libc::SYS_lstat));
            }
        }
        libc::SYS_readlink => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                *after = Some(After::Readlink(path));
            }
        }
        libc::SYS_unlink | libc::SYS_rmdir => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                delete_kinds(path, nr == libc::SYS_rmdir, one);
            }
        }
        libc::SYS_mkdir => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                create_kinds(path, one);
            }
        }
        libc::SYS_symlink => {
            if let Some(path) = mem.absolute(pid, cwd, a[1]) {
                create_kinds(path, one);
            }
        }
        libc::SYS_rename | libc::SYS_renameat => {
            let (from, to) = if nr == libc::SYS_rename {
                (mem.absolute(pid, cwd, a[0]), mem.absolute(pid, cwd, a[1]))
            } else {
                (mem.absolute(pid, a[0], a[1]), mem.absolute(pid, a[2], a[3]))
            };
            rename_kinds(from, to, one);
        }
        libc::SYS_link => {
            let from = mem.absolute(pid, cwd, a[0]);
            let to = mem.absolute(pid, cwd, a[1]);
            link_kinds(from, to, one);
        }
        libc::SYS_utimes | libc::SYS_utime | libc::SYS_chmod => {
            if let Some(path) = mem.absolute(pid, cwd, a[0]) {
                probe_kinds(path, true, AccessKind::Write, one);
            }
        }
        libc::SYS_futimesat if a[1] != 0 => {
            if let Some(path) = mem.absolute(pid, a[0], a[1]) {
                probe_kinds(path, true, AccessKind::Write, one);
            }
        }
        _ => {}
    }
}

/// What is at a path now, as the call about to run will find it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    File,
    Dir,
    Missing,
    /// Cannot tell (`EACCES`, `ELOOP`...): something is there, like the shim's `Stat`.
    Other,
}

fn probe(path: &[u8], follow: bool) -> Probe {
    let p = Path::new(OsStr::from_bytes(path));
    let m = if follow {
        std::fs::metadata(p)
    } else {
        std::fs::symlink_metadata(p)
    };
    match m {
        Ok(m) if m.is_dir() => Probe::Dir,
        Ok(_) => Probe::File,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Probe::Missing,
        Err(_) => Probe::Other,
    }
}

fn parent_exists(path: &[u8]) -> bool {
    let p = Path::new(OsStr::from_bytes(path));
    p.parent()
        .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
}

/// An open, classified like the shim's `note_open` from the state before the call.
fn open_kinds(path: Vec<u8>, flags: i32, one: &mut impl FnMut(AccessKind, Vec<u8>)) {
    let acc = flags & libc::O_ACCMODE;
    let creat = flags & libc::O_CREAT != 0;
    let trunc = flags & libc::O_TRUNC != 0;
    let excl = flags & libc::O_EXCL != 0;
    let follow = flags & libc::O_NOFOLLOW == 0 || (creat && excl);
    let state = probe(&path, follow);
    if flags & libc::O_PATH != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        return one(
            if state == Probe::Missing {
                AccessKind::NotFound
            } else {
                AccessKind::Stat
            },
            path,
        );
    }
    if acc == libc::O_RDONLY && !creat && !trunc {
        return one(
            match state {
                Probe::File => AccessKind::Read,
                Probe::Missing => AccessKind::NotFound,
                Probe::Dir | Probe::Other => AccessKind::Stat,
            },
            path,
        );
    }
    match state {
        // EISDIR, EACCES, EEXIST...: the call fails but proves something is there.
        Probe::Dir | Probe::Other => one(AccessKind::Stat, path),
        Probe::File if creat && excl => one(AccessKind::Stat, path),
        Probe::File => {
            // Writing without truncation keeps the prior content: a read first, as the
            // shim records it (`>>` on a log is read-then-write).
            if !trunc {
                one(AccessKind::Read, path.clone());
            }
            one(
                if trunc {
                    AccessKind::Truncate
                } else {
                    AccessKind::Write
                },
                path,
            );
        }
        Probe::Missing if !creat || !parent_exists(&path) => one(AccessKind::NotFound, path),
        // An append to a missing file: its absence is an input, as the shim records it.
        Probe::Missing if flags & libc::O_APPEND != 0 && !trunc && !excl => {
            one(AccessKind::NotFound, path.clone());
            one(AccessKind::Write, path);
        }
        // A new file: O_TRUNC (without O_EXCL) -> Truncate, anything else -> Create.
        Probe::Missing => one(
            if trunc && !excl {
                AccessKind::Truncate
            } else {
                AccessKind::Create
            },
            path,
        ),
    }
}

/// A probe (stat, access, chdir) or a call that needs the path to exist (truncate).
fn probe_kinds(
    path: Vec<u8>,
    follow: bool,
    ok: AccessKind,
    one: &mut impl FnMut(AccessKind, Vec<u8>),
) {
    match probe(&path, follow) {
        Probe::Missing => one(AccessKind::NotFound, path),
        Probe::Other => one(AccessKind::Stat, path),
        Probe::Dir if ok == AccessKind::Truncate => one(AccessKind::Stat, path),
        Probe::File | Probe::Dir => one(ok, path),
    }
}

fn readlink_kinds(path: Vec<u8>, one: &mut impl FnMut(AccessKind, Vec<u8>)) {
    let p = Path::new(OsStr::from_bytes(&path));
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => one(AccessKind::Read, path),
        // Not a link: EINVAL, which the shim does not record either.
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            one(AccessKind::NotFound, path);
        }
        Err(_) => one(AccessKind::Stat, path),
    }
}

fn delete_kinds(path: Vec<u8>, dir: bool, one: &mut impl FnMut(AccessKind, Vec<u8>)) {
    match probe(&path, false) {
        Probe::Missing => one(AccessKind::NotFound, path),
        Probe::Other => one(AccessKind::Stat, path),
        Probe::Dir if !dir => one(AccessKind::Stat, path), // EISDIR
        Probe::File if dir => one(AccessKind::Stat, path), // ENOTDIR on the last component
        Probe::Dir => {
            let p = Path::new(OsStr::from_bytes(&path));
            let empty = std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none());
            one(
                if empty {
                    AccessKind::Delete
                } else {
                    AccessKind::Stat
                },
                path,
            ); // ENOTEMPTY
        }
        Probe::File => one(AccessKind::Delete, path),
    }
}

fn create_kinds(path: Vec<u8>, one: &mut impl FnMut(AccessKind, Vec<u8>)) {
    match probe(&path, false) {
        Probe::Missing if parent_exists(&path) => one(AccessKind::Create, path),
        Probe::Missing => one(AccessKind::NotFound, path),
        _ => one(AccessKind::Stat, path), // EEXIST
    }
}

fn rename_kinds(
    from: Option<Vec<u8>>,
    to: Option<Vec<u8>>,
    one: &mut impl FnMut(AccessKind, Vec<u8>),
) {
    let Some(from) = from else { return };
    match probe(&from, false) {
        Probe::Missing => one(AccessKind::NotFound, from),
        Probe::Other => one(AccessKind::Stat, from),
        Probe::File | Probe::Dir => {
            one(AccessKind::RenameFrom, from);
            if let Some(to) = to {
                one(AccessKind::RenameTo, to);
            }
        }
    }
}

fn link_kinds(
    from: Option<Vec<u8>>,
    to: Option<Vec<u8>>,
    one: &mut impl FnMut(AccessKind, Vec<u8>),
) {
    let Some(from) = from else { return };
    match probe(&from, false) {
        Probe::Missing => one(AccessKind::NotFound, from),
        Probe::Other | Probe::Dir => one(AccessKind::Stat, from),
        Probe::File => {
            let to_free = to
                .as_deref()
                .is_some_and(|t| probe(t, false) == Probe::Missing);
            if to_free {
                one(AccessKind::Read, from);
                if let Some(to) = to {
                    one(AccessKind::Create, to);
                }
            } else {
                one(AccessKind::Stat, from); // EEXIST
            }
        }
    }
}

/// The record of a server or watcher call by `pid`: the path is its program.
fn service(service: ServiceCode, pid: u32) -> Event {
    Event::Service {
        service,
        program: exe_of(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(f: impl FnOnce(&mut dyn FnMut(AccessKind, Vec<u8>))) -> Vec<AccessKind> {
        let mut out = Vec::new();
        f(&mut |k, _| out.push(k));
        out
    }

    fn bytes(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn opens_are_predicted_from_the_state_before_the_call() {
        use AccessKind::{Create, NotFound, Read, Stat, Truncate, Write};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let missing = dir.path().join("m");
        let orphan = dir.path().join("no/such");
        let open =
            |p: &Path, flags: i32| kinds(|one| open_kinds(bytes(p), flags, &mut |k, p| one(k, p)));
        assert_eq!(open(&file, libc::O_RDONLY), [Read]);
        assert_eq!(open(dir.path(), libc::O_RDONLY), [Stat]);
        assert_eq!(open(&missing, libc::O_RDONLY), [NotFound]);
        assert_eq!(open(&file, libc::O_RDWR), [Read, Write]);
        assert_eq!(open(&file, libc::O_WRONLY | libc::O_TRUNC), [Truncate]);
        let create = libc::O_WRONLY | libc::O_CREAT;
        assert_eq!(open(&file, create | libc::O_EXCL), [Stat]);
        assert_eq!(open(&missing, create | libc::O_TRUNC), [Truncate]);
        assert_eq!(open(&missing, create | libc::O_EXCL), [Create]);
        assert_eq!(open(&missing, create | libc::O_APPEND), [NotFound, Write]);
        assert_eq!(open(&orphan, create), [NotFound]);
        assert_eq!(open(&file, libc::O_PATH), [Stat]);
        assert!(read_only(libc::O_RDONLY | libc::O_CLOEXEC));
        assert!(!read_only(libc::O_RDONLY | libc::O_CREAT));
    }

    #[test]
    fn changes_are_predicted_from_the_state_before_the_call() {
        use AccessKind::{Create, Delete, NotFound, Read, RenameFrom, RenameTo, Stat};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let empty = dir.path().join("e");
        std::fs::create_dir(&empty).unwrap();
        let missing = dir.path().join("m");
        let delete = |p: &Path, rmdir: bool| {
            kinds(|one| delete_kinds(bytes(p), rmdir, &mut |k, p| one(k, p)))
        };
        assert_eq!(delete(&file, false), [Delete]);
        assert_eq!(delete(&file, true), [Stat]);
        assert_eq!(delete(&empty, true), [Delete]);
        assert_eq!(delete(dir.path(), true), [Stat]);
        assert_eq!(delete(&missing, false), [NotFound]);
        let create = |p: &Path| kinds(|one| create_kinds(bytes(p), &mut |k, p| one(k, p)));
        assert_eq!(create(&missing), [Create]);
        assert_eq!(create(&empty), [Stat]);
        assert_eq!(create(&missing.join("x")), [NotFound]);
        let rename = |a: &Path, b: &Path| {
            kinds(|one| rename_kinds(Some(bytes(a)), Some(bytes(b)), &mut |k, p| one(k, p)))
        };
        assert_eq!(rename(&file, &missing), [RenameFrom, RenameTo]);
        assert_eq!(rename(&missing, &file), [NotFound]);
        let link = |a: &Path, b: &Path| {
            kinds(|one| link_kinds(Some(bytes(a)), Some(bytes(b)), &mut |k, p| one(k, p)))
        };
        assert_eq!(link(&file, &missing), [Read, Create]);
        assert_eq!(link(&file, &empty), [Stat]);
    }

    #[test]
    fn a_listing_is_the_directory_then_one_record_per_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "").unwrap();
        let d = bytes(dir.path());
        let events = After::List(d.clone()).events();
        assert_eq!(
            events,
            [
                Event::Access {
                    op: AccessKind::ListDir,
                    path: d.clone()
                },
                Event::DirEntry {
                    dir: d,
                    name: b"a".to_vec()
                },
            ]
        );
    }
}
