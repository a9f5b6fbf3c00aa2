//! Content hashes, keyed env hashes and fast file hashing (streaming, parallel, memoized).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use runwire_model::Redacted;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A blake3 digest (content hash, keyed env hash, spawn key, fingerprint id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            use fmt::Write as _;
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Parses 64 hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }

    /// blake3 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }
}

impl From<blake3::Hash> for Hash32 {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// The secret key of keyed env hashes. Env values are only ever stored or shown as
/// `blake3::keyed_hash(key, len(name) ++ name ++ value)`, so a copied cache does not reveal them.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvKey(pub [u8; 32]);

impl fmt::Debug for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key: it would make every keyed hash brute-forceable.
        f.debug_tuple("EnvKey").field(&Redacted).finish()
    }
}

impl EnvKey {
    /// The keyed hash of one env value under its name.
    pub fn hash_env(&self, name: &[u8], value: &[u8]) -> Hash32 {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name);
        h.update(value);
        h.finalize().into()
    }

    /// The keyed hash of a tool salt under its key.
    pub fn hash_salt(&self, key: &str, value: &[u8]) -> Hash32 {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"salt\0");
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
        h.update(value);
        h.finalize().into()
    }
}

/// The metadata that must be unchanged for a remembered content hash to be reused
/// (git's "racy" rule decides whether it may be remembered at all, see [`StatKey::is_stable_before`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatKey {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

impl StatKey {
    pub fn from_metadata(m: &std::fs::Metadata) -> Self {
        Self {
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        }
    }

    /// True when both mtime and ctime are older than the whole second in which `start`
    /// falls, and older than `start` by more than [`TICK_MARGIN`]. A file changed at or
    /// after `start` then always gets a newer timestamp: on file systems with one-second
    /// granularity, and where the kernel stamps times from a clock that advances per tick
    /// (a change just after `start` can carry the tick's time, which may lie before the
    /// second began), so its stale hash can never be reused. Coarser file systems (vfat's
    /// two seconds) and a file server whose clock is behind are not covered, as in git.
    pub fn is_stable_before(&self, start: SystemTime) -> bool {
        let start = start.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = i64::try_from(start.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000);
        let ticked =
            i64::try_from(start.saturating_sub(TICK_MARGIN).as_nanos()).unwrap_or(i64::MAX);
        let limit = second.min(ticked);
        self.mtime_ns < limit && self.ctime_ns < limit
    }
}

/// More than a kernel timestamp tick (1-10 ms at HZ 1000-100): a stat must predate the
/// start of hashing by this much before the hash may be remembered.
pub const TICK_MARGIN: std::time::Duration = std::time::Duration::from_millis(20);

/// Remembered content hashes keyed by absolute path. The cache persists one between runs.
#[derive(Debug, Default)]
pub struct HashMemo {
    inner: Mutex<MemoInner>,
}

#[derive(Debug, Default)]
struct MemoInner {
    map: HashMap<PathBuf, (StatKey, Hash32)>,
    dirty: std::collections::HashSet<PathBuf>,
}

impl HashMemo {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads remembered hashes (not marked dirty).
    pub fn extend(&self, items: impl IntoIterator<Item = (PathBuf, StatKey, Hash32)>) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (p, k, h) in items {
            g.map.insert(p, (k, h));
        }
    }

    pub fn get(&self, path: &Path, key: &StatKey) -> Option<Hash32> {
        let g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.map.get(path).filter(|(k, _)| k == key).map(|(_, h)| *h)
    }

    pub fn put(&self, path: &Path, key: StatKey, hash: Hash32) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.map.insert(path.to_path_buf(), (key, hash)) != Some((key, hash)) {
            g.dirty.insert(path.to_path_buf());
        }
    }

    /// Entries added or changed since loading, for persisting; clears the dirty list.
    pub fn take_dirty(&self) -> Vec<(PathBuf, StatKey, Hash32)> {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dirty = std::mem::take(&mut g.dirty);
        dirty
            .into_iter()
            .filter_map(|p| g.map.get(&p).map(|(k, h)| (p.clone(), *k, *h)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a file in large blocks; blake3's `update` hashes the chunks of one block with SIMD.
const BLOCK: usize = 128 * 1024;

/// Hashes one open file, streaming (constant memory whatever the size).
pub fn hash_reader(mut r: impl Read, buf: &mut [u8]) -> io::Result<Hash32> {
    let mut h = blake3::Hasher::new();
    loop {
        match r.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

/// The result of hashing one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHash {
    pub hash: Hash32,
    /// The stat of the open file, taken before reading it.
    pub stat: StatKey,
    /// Any execute bit set.
    pub executable: bool,
    /// Present when the stat was stable before the run start: safe to remember.
    pub stable: Option<StatKey>,
}

/// Hashes files, in parallel, reusing remembered hashes under the racy rule.
#[derive(Debug)]
pub struct Hasher<'m> {
    memo: Option<&'m HashMemo>,
    run_start: SystemTime,
    threads: usize,
}

impl<'m> Hasher<'m> {
    /// `run_start`: when the task (or the validation) started; files touched since then are
    /// hashed but never remembered.
    pub fn new(memo: Option<&'m HashMemo>, run_start: SystemTime) -> Self {
        let threads = cpu_count();
        Self {
            memo,
            run_start,
            threads,
        }
    }

    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn run_start(&self) -> SystemTime {
        self.run_start
    }

    /// Hashes one regular file (following symlinks, as a read does).
    pub fn hash_file(&self, path: &Path, buf: &mut [u8]) -> io::Result<FileHash> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let key = StatKey::from_metadata(&meta);
        let executable = meta.mode() & 0o111 != 0;
        let stable = key.is_stable_before(self.run_start).then_some(key);
        let found = |hash| FileHash {
            hash,
            stat: key,
            executable,
            stable,
        };
        if let (Some(memo), Some(k)) = (self.memo, stable) {
            if let Some(hash) = memo.get(path, &k) {
                return Ok(found(hash));
            }
        }
        let hash = hash_reader(file, buf)?;
        if let (Some(memo), Some(k)) = (self.memo, stable) {
            memo.put(path, k, hash);
        }
        Ok(found(hash))
    }

    /// The remembered hash of the file at `path` when its stat is still `key` and `key`
    /// may be trusted (the racy rule of [`Hasher::hash_file`]).
    pub fn remembered(&self, path: &Path, key: &StatKey) -> Option<Hash32> {
        let memo = self.memo?;
        key.is_stable_before(self.run_start)
            .then(|| memo.get(path, key))
            .flatten()
    }

    /// Remembers `hash` as the content of `path` at `key`, when `key` may be trusted later.
    pub fn remember(&self, path: &Path, key: StatKey, hash: Hash32) {
        if let Some(memo) = self.memo
            && key.is_stable_before(self.run_start)
        {
            memo.put(path, key, hash);
        }
    }

    /// Hashes many files on `threads` scoped threads; results in input order.
    pub fn hash_files(&self, paths: &[PathBuf]) -> Vec<io::Result<FileHash>> {
        self.map_parallel(paths, |p, buf| self.hash_file(p, buf))
    }

    /// [`Hasher::map_parallel`] when `parallel`, else on this thread alone (for work too
    /// small to pay for starting threads).
    pub fn map_parallel_if<T: Sync, R: Send>(
        &self,
        parallel: bool,
        items: &[T],
        f: impl Fn(&T, &mut [u8]) -> R + Sync,
    ) -> Vec<R> {
        let threads = if parallel { self.threads } else { 1 };
        map_on(threads, items, f)
    }

    /// Runs `f` over `items` on scoped threads sharing an atomic cursor (cheap work
    /// stealing), each thread with its own read buffer. Results keep the input order.
    pub fn map_parallel<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T, &mut [u8]) -> R + Sync,
    ) -> Vec<R> {
        map_on(self.threads, items, f)
    }
}

/// [`Hasher::map_parallel`] on at most `threads` threads, and one per 16 items.
fn map_on<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T, &mut [u8]) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len().div_ceil(16)).max(1);
    if threads == 1 {
        return with_read_buffer(|buf| items.iter().map(|i| f(i, buf)).collect());
    }
    let cursor = AtomicUsize::new(0);
    let work = |buf: &mut [u8]| {
        let mut out = Vec::new();
        loop {
            // Small batches keep threads balanced without contending on every item.
            let start = cursor.fetch_add(8, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            for (i, item) in items.iter().enumerate().skip(start).take(8) {
                out.push((i, f(item, buf)));
            }
        }
        out
    };
    // The calling thread is one of the workers: one thread fewer to start and wait for.
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads)
            .map(|_| s.spawn(|| work(&mut vec![0u8; BLOCK])))
            .collect();
        let mut parts = vec![with_read_buffer(|buf| work(buf))];
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
        );
        parts
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for part in &mut parts {
        for (i, r) in part.drain(..) {
            slots[i] = Some(r);
        }
    }
    slots
        .into_iter()
        .map(|r| r.expect("every index is visited once"))
        .collect()
}

/// Runs `f` with this thread's read buffer: a hit validates and compares a few files on
/// the calling thread, and zeroing a fresh [`BLOCK`] each time cost more than reading them.
/// A nested call (the buffer is in use) gets a fresh one.
fn with_read_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < BLOCK {
                // Zeroed by the allocator (fresh pages are zero), not written here: a hit
                // whose files are all remembered reads nothing, and writing 128 KiB of
                // zeros cost it 32 page faults.
                *buf = vec![0u8; BLOCK];
            }
            f(&mut buf)
        }
        Err(_) => f(&mut vec![0u8; BLOCK]),
    })
}

/// Hashes a whole file without a memo (used for blobs).
pub fn hash_path(path: &Path) -> io::Result<Hash32> {
    let mut buf = vec![0u8; BLOCK];
    hash_reader(File::open(path)?, &mut buf)
}

/// The CPUs this process may use, asked once: `available_parallelism` reads the cgroup
/// files on every call, which a run of 1,000 hits would otherwise do 2,000 times.
pub fn cpu_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn memo_is_reused_only_for_unchanged_files_older_than_the_run() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"one").unwrap();
        let memo = HashMemo::new();
        let mut buf = vec![0u8; BLOCK];

        // Written in the run's own second: hashed, never remembered (racy).
        let now = Hasher::new(Some(&memo), SystemTime::now() - Duration::from_secs(2));
        let h = now.hash_file(&p, &mut buf).unwrap();
        assert_eq!(h.hash, Hash32::of(b"one"));
        assert!(h.stable.is_none());
        assert!(memo.is_empty());

        // Older than the run start: remembered, and reused while the stat is unchanged
        // (a planted hash proves the file is not read again).
        let later = Hasher::new(Some(&memo), SystemTime::now() + Duration::from_secs(5));
        let key = later.hash_file(&p, &mut buf).unwrap().stable.unwrap();
        memo.put(&p, key, Hash32::of(b"planted"));
        assert_eq!(
            later.hash_file(&p, &mut buf).unwrap().hash,
            Hash32::of(b"planted")
        );

        // Same size, new content: the stat changes (mtime/ctime), so it is hashed again.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&p, b"two").unwrap();
        assert_eq!(
            later.hash_file(&p, &mut buf).unwrap().hash,
            Hash32::of(b"two")
        );
        let dirty = memo.take_dirty();
        assert_eq!(dirty.len(), 1, "one path, remembered once");
        assert_eq!(dirty[0].2, Hash32::of(b"two"));
        assert!(memo.take_dirty().is_empty());
    }

    #[test]
    fn stable_needs_both_times_a_margin_before_the_whole_start_second() {
        let start = UNIX_EPOCH + Duration::from_millis(10_500);
        let k = |m: i64, c: i64| StatKey {
            size: 1,
            mtime_ns: m,
            ctime_ns: c,
            ino: 1,
            dev: 1,
        };
        assert!(k(9_999_999_999, 9_999_999_999).is_stable_before(start));
        assert!(
            !k(10_000_000_000, 1).is_stable_before(start),
            "same second as the start"
        );
        // Just after a second began, a coarse tick may still read the previous second: a
        // change right after `start` can carry a time a few ms before it.
        let early = UNIX_EPOCH + Duration::from_millis(10_005);
        assert!(
            !k(9_990_000_000, 9_990_000_000).is_stable_before(early),
            "within a tick of the start"
        );
        assert!(k(9_980_000_000, 9_980_000_000).is_stable_before(early));
        assert!(
            !k(1, 10_200_000_000).is_stable_before(start),
            "ctime counts too"
        );
    }

    #[test]
    fn parallel_hashing_keeps_order() {
        let d = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..100)
            .map(|i| {
                let p = d.path().join(format!("{i}"));
                std::fs::write(&p, i.to_string()).unwrap();
                p
            })
            .collect();
        let r = Hasher::new(None, SystemTime::now())
            .with_threads(4)
            .hash_files(&paths);
        for (i, h) in r.iter().enumerate() {
            assert_eq!(
                h.as_ref().unwrap().hash,
                Hash32::of(i.to_string().as_bytes())
            );
        }
        assert!(
            Hasher::new(None, SystemTime::now()).hash_files(&[d.path().join("missing")])[0]
                .is_err()
        );
    }
}
