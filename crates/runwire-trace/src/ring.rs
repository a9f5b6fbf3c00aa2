//! The shared-memory ring between traced processes and the supervisor.
//!
//! A file in a private 0700 directory (tmpfs when available), made sparse with
//! `set_len`: pages exist only once written. Every traced process maps it shared and
//! appends records lock-free (see `shim/runtrace.c`); the supervisor reads it after the
//! root process exited, with plain positional reads, so no `unsafe` is needed here.
//!
//! Layout (little-endian), kept in sync with the shim:
//! - header page: magic `u64` at 0, version `u32` at 8, capacity `u64` at 16,
//!   write offset `u64` at 64, overflow flag `u32` at 128;
//! - records from byte 4096: `u32` length with bit 31 = committed, `u8` kind, `u8` reason,
//!   `u16` zero, `u32` pid, `u32` path length, `u32` aux length, `u32` zero, path bytes,
//!   aux bytes, padded to 8.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::TraceError;

pub(crate) const MAGIC: u64 = 0x3145_4341_5254_5752; // "RWTRACE1"
const VERSION: u32 = 1;
const DATA_OFFSET: u64 = 4096;
const RECORD_HEADER: usize = 24;
const COMMITTED: u32 = 0x8000_0000;

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
