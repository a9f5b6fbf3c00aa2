//! The shared-memory ring between traced processes and the supervisor.
//!
//! A file in a private 0700 directory (tmpfs when available), made sparse with
//! `set_len`: pages exist only once written. Every traced process maps it shared and
//! appends records lock-free (see `shim/runtrace.c`); the supervisor reads it after the
//! root process exited, with plain positional reads, so no `unsafe` is needed here.
//!
//! Layout (little-endian); the shim takes these constants from the generated
//! `shim/runtrace_codes.h` (see `record.rs`):
//! - header page: magic `u64` at 0, version `u32` at 8, capacity `u64` at 16,
//!   write offset `u64` at 64, overflow flag `u32` at 128;
//! - records from byte 4096: `u32` length with bit 31 = committed, `u8` kind, `u8` reason,
//!   `u16` zero, `u32` pid, `u32` path length, `u32` aux length, `u32` zero, path bytes,
//!   aux bytes, padded to 8.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::TraceError;
use crate::record::Event;

pub(crate) const MAGIC: u64 = 0x3145_4341_5254_5752; // "RWTRACE1"
pub(crate) const VERSION: u32 = 1;
pub(crate) const DATA_OFFSET: u64 = 4096;
pub(crate) const RECORD_HEADER: usize = 24;
pub(crate) const COMMITTED: u32 = 0x8000_0000;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub kind: u8,
    pub reason: u8,
    pub pid: u32,
    pub path: Vec<u8>,
    pub aux: Vec<u8>,
}

/// Everything read back from a ring.
#[derive(Debug, Default)]
pub(crate) struct RawTrace {
    pub events: Vec<RawEvent>,
    /// A record did not fit in the capacity.
    pub overflow: bool,
    /// A record was reserved but never committed (its writer died mid-append) or is
    /// malformed; nothing after it can be trusted.
    pub torn: bool,
}

/// The supervisor's handle on a ring file.
#[derive(Debug)]
pub(crate) struct Ring {
    file: File,
    path: PathBuf,
    capacity: u64,
}

impl Ring {
    /// Creates a ring of `capacity` record bytes at `path` (which must not exist).
    pub(crate) fn create(path: &Path, capacity: u64) -> Result<Self, TraceError> {
        let err = |source| TraceError::Ring {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        file.set_len(DATA_OFFSET + capacity).map_err(err)?;
        let mut header = [0u8; 136];
        header[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&capacity.to_le_bytes());
        file.write_all_at(&header, 0).map_err(err)?;
        Ok(Self {
            file,
            path: path.to_owned(),
            capacity,
        })
    }

    /// True when no traced process holds its shared lock on the ring any more (each one
    /// takes it at start-up; the kernel releases it when the process exits, even by crash).
    pub(crate) fn all_writers_gone(&self) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            // SAFETY: as above.
            unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
        }
        rc == 0
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every committed record in append order.
    pub(crate) fn read(&self) -> Result<RawTrace, TraceError> {
        let err = |source| TraceError::Ring {
            path: self.path.clone(),
            source,
        };
        let mut header = [0u8; 136];
        self.file.read_exact_at(&mut header, 0).map_err(err)?;
        let write_off = u64::from_le_bytes(header[64..72].try_into().expect("8 bytes"));
        let overflow = u32::from_le_bytes(header[128..132].try_into().expect("4 bytes")) != 0;
        let end = write_off.min(self.capacity);
        let len = usize::try_from(end)
            .map_err(|_| err(std::io::Error::other("ring larger than the address space")))?;
        let mut data = vec![0u8; len];
        self.file
            .read_exact_at(&mut data, DATA_OFFSET)
            .map_err(err)?;
        let mut raw = parse(&data);
        raw.overflow |= overflow;
        if raw.torn && overflow {
            // The gap is the record that straddled the end of the capacity, not a crash.
            raw.torn = false;
        }
        Ok(raw)
    }
}

/// A writer mapping of a ring, for the seccomp supervisor: it appends records with the
/// same lock-free protocol as the shim, while the process that caused them is stopped in
/// its system call, so its records land in ring order among the shim's.
#[derive(Debug)]
pub(crate) struct Appender {
    base: *mut u8,
    len: usize,
    capacity: u64,
}

// SAFETY: the mapping is shared memory written only through atomics and bytes inside
// records reserved by a `fetch_add`; moving the handle to another thread is fine.
unsafe impl Send for Appender {}

impl Appender {
    pub(crate) fn open(ring: &Ring) -> Result<Self, TraceError> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(DATA_OFFSET + ring.capacity).map_err(|_| TraceError::Ring {
            path: ring.path.clone(),
            source: std::io::Error::other("ring larger than the address space"),
        })?;
        // SAFETY: maps a file we own, shared, with its exact length; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                ring.file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(TraceError::Ring {
                path: ring.path.clone(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Self {
            base: base.cast(),
            len,
            capacity: ring.capacity,
        })
    }

    /// Appends one record (layout in the module docs); sets the overflow flag if full.
    pub(crate) fn append(&self, pid: u32, event: &Event) {
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        let (kind, reason, path, aux) = (event.kind(), event.reason(), event.path(), event.aux());
        let (Ok(plen), Ok(alen)) = (u32::try_from(path.len()), u32::try_from(aux.len())) else {
            return;
        };
        let len = (RECORD_HEADER + path.len() + aux.len()).div_ceil(8) * 8;
        let Ok(len32) = u32::try_from(len) else {
            return;
        };
        // SAFETY: offsets 64 and 128 are inside the header page and 8-aligned (mmap
        // returns page-aligned memory); the shim uses the same words atomically.
        #[allow(clippy::cast_ptr_alignment)]
        let (write_off, overflow) = unsafe {
            (
                &*self.base.add(64).cast::<AtomicU64>(),
                &*self.base.add(128).cast::<AtomicU32>(),
            )
        };
        let off = write_off.fetch_add(len as u64, Ordering::Relaxed);
        if off + len as u64 > self.capacity {
            overflow.store(1, Ordering::Relaxed);
            return;
        }
        let mut rec = vec![0u8; len];
        rec[4] = kind.into();
        rec[5] = reason;
        rec[8..12].copy_from_slice(&pid.to_le_bytes());
        rec[12..16].copy_from_slice(&plen.to_le_bytes());
        rec[16..20].copy_from_slice(&alen.to_le_bytes());
        rec[RECORD_HEADER..RECORD_HEADER + path.len()].copy_from_slice(path);
        rec[RECORD_HEADER + path.len()..RECORD_HEADER + path.len() + aux.len()]
            .copy_from_slice(aux);
        let at = usize::try_from(DATA_OFFSET + off).expect("inside the mapping");
        // Records start 8-aligned in a page-aligned map.
        #[allow(clippy::cast_ptr_alignment)]
        // SAFETY: [at, at + len) was reserved for us by the fetch_add and lies inside the
        // mapping (off + len <= capacity); the first word is published last, atomically.
        unsafe {
            let dst = self.base.add(at);
            std::ptr::copy_nonoverlapping(rec.as_ptr().add(4), dst.add(4), len - 4);
            (*dst.cast::<AtomicU32>()).store(len32 | COMMITTED, Ordering::Release);
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// Decodes records until the end or the first uncommitted / malformed one.
pub(crate) fn parse(data: &[u8]) -> RawTrace {
    let mut out = RawTrace::default();
    let mut pos = 0usize;
    while pos + RECORD_HEADER <= data.len() {
        let word = u32_at(data, pos);
        let len = (word & !COMMITTED) as usize;
        if word & COMMITTED == 0 || len < RECORD_HEADER || len % 8 != 0 || pos + len > data.len() {
            out.torn = true;
            break;
        }
        let path_len = u32_at(data, pos + 12) as usize;
        let aux_len = u32_at(data, pos + 16) as usize;
        if RECORD_HEADER + path_len + aux_len > len {
            out.torn = true;
            break;
        }
        let body = pos + RECORD_HEADER;
        out.events.push(RawEvent {
            kind: data[pos + 4],
            reason: data[pos + 5],
            pid: u32_at(data, pos + 8),
            path: data[body..body + path_len].to_vec(),
            aux: data[body + path_len..body + path_len + aux_len].to_vec(),
        });
        pos += len;
    }
    if pos < data.len() && !out.torn {
        out.torn = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, pid: u32, path: &[u8], aux: &[u8], committed: bool) -> Vec<u8> {
        let len = (RECORD_HEADER + path.len() + aux.len()).div_ceil(8) * 8;
        let mut r = vec![0u8; len];
        let word = len as u32 | if committed { COMMITTED } else { 0 };
        r[0..4].copy_from_slice(&word.to_le_bytes());
        r[4] = kind;
        r[8..12].copy_from_slice(&pid.to_le_bytes());
        r[12..16].copy_from_slice(&(path.len() as u32).to_le_bytes());
        r[16..20].copy_from_slice(&(aux.len() as u32).to_le_bytes());
        r[24..24 + path.len()].copy_from_slice(path);
        r[24 + path.len()..24 + path.len() + aux.len()].copy_from_slice(aux);
        r
    }

    #[test]
    fn parses_committed_records_in_order() {
        let mut data = record(1, 7, b"/a", b"", true);
        data.extend(record(20, 7, b"/d", b"name", true));
        let raw = parse(&data);
        assert!(!raw.torn);
        assert_eq!(raw.events.len(), 2);
        assert_eq!(raw.events[1].aux, b"name");
    }

    #[test]
    fn stops_at_an_uncommitted_record_and_says_so() {
        let mut data = record(1, 7, b"/a", b"", true);
        data.extend(record(1, 8, b"/b", b"", false));
        data.extend(record(1, 9, b"/c", b"", true));
        let raw = parse(&data);
        assert!(raw.torn);
        assert_eq!(raw.events.len(), 1);
    }

    #[test]
    fn a_reserved_but_unwritten_record_is_torn() {
        let mut data = record(1, 7, b"/a", b"", true);
        data.extend(vec![0u8; 32]);
        let raw = parse(&data);
        assert!(raw.torn);
        assert_eq!(raw.events.len(), 1);
    }
}
