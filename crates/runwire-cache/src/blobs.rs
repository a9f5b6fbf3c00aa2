//! Content-addressed blob files: `blobs/<first two hex>/<hex>`, written to `tmp/` and
//! renamed into place, so a blob file is always complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use runwire_fingerprint::Hash32;

use crate::error::{CacheError, io};

const BLOCK: usize = 128 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Blobs {
    pub(crate) fn new(cache_dir: &Path) -> Result<Self, CacheError> {
        let dir = cache_dir.join("blobs");
        let tmp = cache_dir.join("tmp");
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
        Ok(Self { dir, tmp })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn path(&self, h: &Hash32) -> PathBuf {
        let hex = h.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// A fresh temp file name, unique across processes and threads.
    pub(crate) fn temp_path(&self) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.tmp.join(format!("{}.{t}.{n}", std::process::id()))
    }

    /// True when the blob file exists with the expected size.
    pub(crate) fn present(&self, h: &Hash32, size: u64) -> bool {
        fs::symlink_metadata(self.path(h)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Copies `src` into the store while hashing it; returns (hash, size).
    pub(crate) fn put_file(
        &self,
        src: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Hash32, u64), CacheError> {
        let f = File::open(src).map_err(io("reading output", src))?;
        self.put_reader(f, src, progress)
    }

    pub(crate) fn put_bytes(
        &self,
        data: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Hash32, u64), CacheError> {
        self.put_reader(data, Path::new("<stdio>"), progress)
    }

    /// Streams into a temp file while hashing, reporting each block's size to `progress`.
    fn put_reader(
        &self,
        mut r: impl Read,
        what: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Hash32, u64), CacheError> {
        let tmp = self.temp_path();
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; BLOCK];
        let mut size = 0u64;
        let res: io::Result<()> = (|| {
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                h.update(&buf[..n]);
                out.write_all(&buf[..n])?;
                size += n as u64;
                progress(n as u64);
            }
            out.flush()
        })();
        drop(out);
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(CacheError::Io {
                action: "archiving",
                path: what.to_path_buf(),
                source: e,
            });
        }
        let hash: Hash32 = h.finalize().into();
        let dest = self.path(&hash);
        if self.present(&hash, size) {
            // Shared with another entry (or another runner got here first): keep one copy.
            let _ = fs::remove_file(&tmp);
            return Ok((hash, size));
        }
        let parent = dest.parent().expect("blob paths have a parent");
        let placed = fs::create_dir_all(parent)
            .map_err(io("creating", parent))
            .and_then(|()| place(&tmp, &dest));
        if placed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        placed.map(|()| (hash, size))
    }

    /// Reads a blob and checks it against its name. `None` when missing or corrupt.
    pub(crate) fn read_verified(&self, h: &Hash32) -> Option<Vec<u8>> {
        let data = fs::read(self.path(h)).ok()?;
        (Hash32::of(&data) == *h).then_some(data)
    }

    /// Streams a blob through blake3; true when it matches its name.
    pub(crate) fn verify(&self, h: &Hash32) -> bool {
        runwire_fingerprint::hash_path(&self.path(h)).is_ok_and(|x| x == *h)
    }

    /// [`Blobs::verify`] through the caller's read buffer (a restore verifies thousands).
    pub(crate) fn verify_with(&self, h: &Hash32, buf: &mut [u8]) -> bool {
        File::open(self.path(h))
            .and_then(|f| runwire_fingerprint::hash::hash_reader(f, buf))
            .is_ok_and(|x| x == *h)
    }

    pub(crate) fn remove(&self, h: &Hash32) {
        // Already gone is fine: removal is idempotent.
        let _ = fs::remove_file(self.path(h));
    }

    /// Removes temp files older than `age` (left by killed writers).
    pub(crate) fn sweep_tmp(&self, age: std::time::Duration) {
        let Ok(rd) = fs::read_dir(&self.tmp) else {
            return;
        };
        let now = std::time::SystemTime::now();
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= age);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Renames a finished temp file to its blob name. Whatever else sits at that name (a
/// directory, a file of the wrong size: damage, or tampering) is not the blob the name
/// promises, so it is removed first, once; a rename over a file replaces it anyway.
fn place(tmp: &Path, dest: &Path) -> Result<(), CacheError> {
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(dest).map_err(io("removing what is not a blob at", dest))?;
    }
    fs::rename(tmp, dest).map_err(io("renaming blob into", dest))
}
