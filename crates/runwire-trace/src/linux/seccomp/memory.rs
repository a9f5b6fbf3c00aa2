//! What the supervisor reads of a traced process through `/proc`: path arguments from
//! `/proc/PID/mem`, the working directory (cached per thread until a `chdir`/`fchdir` is
//! seen and settled), the targets of its descriptors, and whether a listing starts.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

const PATH_MAX: usize = 4096;
/// Traced threads whose `/proc/PID/mem` stays open (see [`Memory::procs`]).
const CACHED_PIDS: usize = 256;

/// The program a traced process runs, as bytes (empty if it is gone).
pub(super) fn exe_of(pid: u32) -> Vec<u8> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
}

/// A traced thread as the supervisor knows it.
struct Proc {
    /// `/proc/PID/mem`, opened on first use. A read through it fails once the image is
    /// replaced (exec) or the process is gone, and it is reopened: the pid may be reused.
    mem: File,
    /// `/proc/PID/cwd`, cached until a `chdir`/`fchdir` anywhere or until `mem` is reopened.
    cwd: Option<Vec<u8>>,
    /// A pidfd, opened on the first `getdents` (see [`Memory::listing_starts`]).
    pidfd: Option<OwnedFd>,
}

/// The supervisor's view of the traced threads' memory and working directories.
#[derive(Default)]
pub(super) struct Memory {
    /// What is kept per traced thread id; at most [`CACHED_PIDS`] (then all are dropped, so
    /// a big build does not pile up descriptors).
    procs: HashMap<u32, Proc>,
    /// `chdir`/`fchdir` calls let through and maybe not done yet: (tid, target directory
    /// when known). While one is pending no working directory is cached, since another
    /// thread sharing it could read the old one. Settled by [`Memory::settle_chdirs`].
    chdirs: Vec<(u32, Option<Vec<u8>>)>,
}

impl Memory {
    /// Forgets `pid` (its image is about to be replaced): the next read of its memory
    /// must see the new image.
    pub(super) fn forget(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }

    /// Reads `len` bytes at `addr` of `pid`, reopening `/proc/PID/mem` once if the cached
    /// one belongs to an image that has since been replaced (exec) or to a process that is
    /// gone (the pid reused): then the cached working directory goes too.
    pub(super) fn read_mem(&mut self, pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
        for attempt in 0..2 {
            if attempt == 1 || !self.procs.contains_key(&pid) {
                let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
                if !self.procs.contains_key(&pid) && self.procs.len() >= CACHED_PIDS {
                    self.procs.clear();
                }
                self.procs.insert(
                    pid,
                    Proc {
                        mem,
                        cwd: None,
                        pidfd: None,
                    },
                );
            }
            if let Ok(n) = self.procs[&pid].mem.read_at(buf, addr) {
                if n > 0 {
                    return Some(n);
                }
            }
        }
        None
    }

    /// The working directory of `pid`, from the cache when it can be trusted.
    pub(super) fn cwd(&mut self, pid: u32) -> Option<Vec<u8>> {
        if let Some(cwd) = self.procs.get(&pid).and_then(|p| p.cwd.as_ref()) {
            return Some(cwd.clone());
        }
        let cwd = read_link(&format!("/proc/{pid}/cwd"))?;
        if self.chdirs.is_empty() {
            if let Some(p) = self.procs.get_mut(&pid) {
                p.cwd = Some(cwd.clone());
            }
        }
        Some(cwd)
    }

    /// A `chdir`/`fchdir` by `pid` is about to run: forget every cached working directory
    /// (threads share theirs) and cache none until it is settled.
    pub(super) fn changing_cwd(&mut self, pid: u32, target: Option<Vec<u8>>) {
        for p in self.procs.values_mut() {
            p.cwd = None;
        }
        self.chdirs.push((pid, target));
    }

    /// Drops the pending `chdir`s that are done: their caller is making another call
    /// (`pid`), its working directory already reads as the target, or it is gone.
    pub(super) fn settle_chdirs(&mut self, pid: u32) {
        if self.chdirs.is_empty() {
            return;
        }
        // Nothing needs forgetting here: `changing_cwd` forgot every cached directory, and
        // none is cached while a change is pending.
        self.chdirs.retain(|(tid, target)| {
            *tid != pid
                && read_link(&format!("/proc/{tid}/cwd"))
                    .is_some_and(|cwd| target.as_ref() != Some(&cwd))
        });
    }

    /// Absolute form of (dirfd, path) as the process sees it now.
    #[allow(clippy::cast_possible_truncation)]
    pub(super) fn resolve(&mut self, pid: u32, dirfd: u64, path: Vec<u8>) -> Option<Vec<u8>> {
        if path.first() == Some(&b'/') {
            return Some(path);
        }
        let fd = dirfd as i32;
        let mut out = if fd == libc::AT_FDCWD {
            self.cwd(pid)?
        } else {
            read_link(&format!("/proc/{pid}/fd/{fd}"))?
        };
        if !path.is_empty() {
            out.push(b'/');
            out.extend_from_slice(&path);
        }
        Some(out)
    }

    pub(super) fn read_cstr(&mut self, pid: u32, addr: u64) -> Option<Vec<u8>> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut at = addr;
        let mut buf = [0u8; 256];
        while out.len() < PATH_MAX {
            // Most paths are short: read 256 bytes at a time, never past the end of the
            // page (the next one may be unmapped).
            let room = usize::try_from(4096 - (at % 4096)).ok()?.min(buf.len());
            let n = self.read_mem(pid, at, &mut buf[..room])?;
            if let Some(end) = buf[..n].iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..end]);
                return Some(out);
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        None
    }

    /// Absolute form of the (dirfd, path at `addr`) arguments of a call.
    pub(super) fn absolute(&mut self, pid: u32, dirfd: u64, addr: u64) -> Option<Vec<u8>> {
        let path = self.read_cstr(pid, addr)?;
        self.resolve(pid, dirfd, path)
    }

    /// Whether a `getdents` on `fd` of `pid` starts a listing: the descriptor's offset is
    /// 0. Read through a copy of the descriptor (`pidfd_getfd`, which shares the offset),
    /// or from `/proc/PID/fdinfo` where that is refused.
    pub(super) fn listing_starts(&mut self, pid: u32, fd: i32) -> bool {
        let pidfd = match self.procs.get_mut(&pid) {
            Some(p) => {
                if p.pidfd.is_none() {
                    p.pidfd = pidfd_open(pid);
                }
                p.pidfd.as_ref().map(AsRawFd::as_raw_fd)
            }
            None => None,
        };
        if let Some(pidfd) = pidfd {
            // SAFETY: plain system calls; the copy is closed right away.
            unsafe {
                let copy = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0);
                if copy >= 0 {
                    #[allow(clippy::cast_possible_truncation)]
                    let copy = copy as RawFd;
                    let pos = libc::lseek(copy, 0, libc::SEEK_CUR);
                    libc::close(copy);
                    if pos >= 0 {
                        return pos == 0;
                    }
                }
            }
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .is_some_and(|v| v.trim() == "0")
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor we then own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    #[allow(clippy::cast_possible_truncation)]
    // SAFETY: a fresh descriptor owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The target of a symbolic link (here: `/proc` links) as bytes.
pub(super) fn read_link(path: &str) -> Option<Vec<u8>> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.into_os_string().into_encoded_bytes())
}
