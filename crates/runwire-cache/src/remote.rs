//! The remote cache seam: local first, then a shared remote (`runwire-remote`), with
//! write-through after a cacheable miss.
//!
//! A remote variant is validated against the local world exactly like a local one, before any
//! of its blobs is downloaded; only the valid variant's blobs travel, each verified by hash,
//! and the entry is then committed locally so the normal restore path (and every later run)
//! uses it. Uploads run on background threads ([`RemoteCache::upload`]) and are waited for
//! with a bounded timeout ([`RemoteCache::finish`]); no remote failure ever fails a task.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runwire_fingerprint::{EnvKey, Hash32, Hasher, PostRunFingerprint, SpawnKey, World};
use runwire_remote::{BlobRef, Remote, RemoteEntry, RemoteError};
use rusqlite::params;

use crate::blobs::Blobs;
use crate::first_valid;
use crate::{
    Cache, CacheError, Lookup, Manifest, StoredEntry, VariantMiss, hash_from, insert_variant,
};

/// Where a hit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitSource {
    Local,
    Remote,
}

/// The shared env-hash key from `RUNWIRE_REMOTE_CACHE_KEY`'s value: every machine sharing a
/// remote must use the same secret, or their tracked envs could never validate each other.
pub fn shared_env_key(secret: &str) -> Result<EnvKey, CacheError> {
    if secret.len() < 16 {
        return Err(CacheError::BadOption(
            "RUNWIRE_REMOTE_CACHE_KEY must be at least 16 characters (a shared secret, not a public value)".into(),
        ));
    }
    Ok(EnvKey(blake3::derive_key(
        "runwire shared env key v1",
        secret.as_bytes(),
    )))
}

/// The remote namespace of an env key: machines with another key never see (or overwrite)
/// these indexes. One-way, so the key itself never leaves the machine.
pub fn namespace_of(key: &EnvKey) -> [u8; 32] {
    blake3::derive_key("runwire remote namespace v1", &key.0)
}

/// What the background uploads did, once waited for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    pub uploaded: usize,
    pub failed: usize,
    /// Still running when the wait ended (abandoned; a lost upload only costs a later miss).
    pub unfinished: usize,
    pub bytes: u64,
}

/// A remote store plus its background uploads.
#[derive(Debug)]
pub struct RemoteCache {
    remote: Arc<Remote>,
    tx: mpsc::Sender<Result<u64, RemoteError>>,
    rx: Mutex<mpsc::Receiver<Result<u64, RemoteError>>>,
    started: Mutex<usize>,
}

impl RemoteCache {
    pub fn new(remote: Remote) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            remote: Arc::new(remote),
            tx,
            rx: Mutex::new(rx),
            started: Mutex::new(0),
        }
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The one warning for the first remote failure, if there was one not yet shown.
    pub fn take_warning(&self) -> Option<String> {
        self.remote.take_warning()
    }

    /// Uploads one entry on a background thread. `job` comes from [`Cache::upload_job`].
    pub fn upload(&self, job: UploadJob) {
        if self.remote.read_only() {
            return;
        }
        let remote = Arc::clone(&self.remote);
        let tx = self.tx.clone();
        if let Ok(mut n) = self.started.lock() {
            *n += 1;
        }
        std::thread::spawn(move || {
            let result = job.run(&remote);
            let _ = tx.send(result);
        });
    }

    /// Waits for the uploads started so far, at most `timeout` in all.
    pub fn finish(&self, timeout: Duration) -> UploadReport {
        let mut report = UploadReport::default();
        let total = self
            .started
            .lock()
            .map_or(0, |mut n| std::mem::take(&mut *n));
        let deadline = Instant::now() + timeout;
        let Ok(rx) = self.rx.lock() else {
            report.unfinished = total;
            return report;
        };
        for done in 0..total {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(bytes)) => {
                    report.uploaded += 1;
                    report.bytes += bytes;
                }
                Ok(Err(_)) => report.failed += 1,
                Err(_) => {
                    report.unfinished = total - done;
                    break;
                }
            }
        }
        report
    }
}

/// Everything an upload needs, detached from the database so it can run on another thread.
#[derive(Debug)]
pub struct UploadJob {
    spawn_key: [u8; 32],
    fingerprint_id: [u8; 32],
    fingerprint: Vec<u8>,
    manifest: Vec<u8>,
    stdio: Option<Hash32>,
    /// blake3 -> (size, file in the local blob store).
    blobs: BTreeMap<Hash32, (u64, PathBuf)>,
}

impl UploadJob {
    fn run(self, remote: &Remote) -> Result<u64, RemoteError> {
        // SHA-256 for REAPI is computed here, off the task's critical path.
        let mut refs = BTreeMap::new();
        for (h, (size, path)) in &self.blobs {
            let bytes = std::fs::read(path)
                .map_err(|e| RemoteError::Corrupt(format!("reading local blob {h}: {e}")))?;
            let r = BlobRef::of(&bytes);
            if r.blake3 != h.0 || r.size != *size {
                return Err(RemoteError::Corrupt(format!(
                    "local blob {h} changed on disk"
                )));
            }
            refs.insert(*h, (r, path.clone()));
        }
        let entry = RemoteEntry {
            spawn_key: self.spawn_key,
            fingerprint_id: self.fingerprint_id,
            fingerprint: self.fingerprint,
            manifest: self.manifest,
            stdio: self.stdio.and_then(|h| refs.get(&h).map(|(r, _)| *r)),
            blobs: refs.values().map(|(r, _)| *r).collect(),
        };
        let paths: BTreeMap<[u8; 32], PathBuf> =
            refs.values().map(|(r, p)| (r.blake3, p.clone())).collect();
        let stats = remote.publish(&entry, &|b| match paths.get(&b.blake3) {
            Some(p) => std::fs::read(p),
            None => Err(std::io::Error::other("blob not part of the entry")),
        })?;
        Ok(stats.bytes)
    }
}

/// The blob store of a [`Cache`], usable without holding the cache: remote downloads go
/// here while other tasks keep using the cache (a runner shares one `Cache` between its
/// jobs behind a lock, and a remote lookup is network time).
#[derive(Debug, Clone)]
pub struct BlobStore(Blobs);

/// A valid remote variant whose blobs are all in the local store, verified; not yet an
/// entry until [`Cache::commit_fetched`].
#[derive(Debug)]
pub struct Fetched {
    key: SpawnKey,
    fingerprint: PostRunFingerprint,
    manifest: Manifest,
    stdio: Option<Hash32>,
    refs: BTreeMap<Hash32, u64>,
}

/// What the remote had for a key.
#[derive(Debug)]
pub enum RemoteLookup {
    /// A valid variant, downloaded.
    Fetched(Box<Fetched>),
    /// No variant is valid (one item per variant), or the valid ones could not be fetched.
    /// Empty too when the remote could not be asked (the warning is in
    /// [`RemoteCache::take_warning`]).
    Miss(Vec<VariantMiss>),
}

impl BlobStore {
    /// The remote's variants of `key`, each validated against `world` before anything else
    /// is downloaded; the first valid one whose blobs all arrive and verify is returned.
    pub fn fetch_remote(
        &self,
        remote: &RemoteCache,
        key: &SpawnKey,
        world: &World<'_>,
        hasher: &Hasher<'_>,
    ) -> Result<RemoteLookup, CacheError> {
        let Some(variants) = checked_remote_variants(remote, key, world, hasher) else {
            return Ok(RemoteLookup::Miss(Vec::new()));
        };
        let mut misses = Vec::new();
        for checked in variants {
            match checked {
                Err(miss) => misses.push(miss),
                Ok((fingerprint, v)) => {
                    if let Some(fetched) = self.download(remote.remote(), key, fingerprint, &v)? {
                        return Ok(RemoteLookup::Fetched(Box::new(fetched)));
                    }
                }
            }
        }
        Ok(RemoteLookup::Miss(misses))
    }

    /// Downloads what a valid remote variant needs into the store. `None`: something was
    /// missing or did not verify (a miss, nothing to commit).
    fn download(
        &self,
        remote: &Remote,
        key: &SpawnKey,
        fingerprint: PostRunFingerprint,
        v: &RemoteEntry,
    ) -> Result<Option<Fetched>, CacheError> {
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&v.manifest) else {
            return Ok(None);
        };
        if manifest.check().is_err() {
            return Ok(None);
        }
        let listed: BTreeMap<[u8; 32], BlobRef> = v.blobs.iter().map(|b| (b.blake3, *b)).collect();
        let mut refs = manifest.blobs();
        if let Some(s) = &v.stdio {
            refs.insert(Hash32(s.blake3), s.size);
        }
        for (h, size) in &refs {
            let Some(r) = listed.get(&h.0).filter(|r| r.size == *size) else {
                return Ok(None);
            };
            if self.0.present(h, *size) {
                continue;
            }
            let Ok(Some(bytes)) = remote.fetch_blob(r) else {
                return Ok(None);
            };
            let (got, _) = self.0.put_bytes(&bytes, &mut |_| {})?;
            if got != *h {
                return Ok(None);
            }
        }
        Ok(Some(Fetched {
            key: *key,
            fingerprint,
            manifest,
            stdio: v.stdio.map(|s| Hash32(s.blake3)),
            refs,
        }))
    }
}

/// The remote's variants of `key`, each validated against `world` as it is reached: the
/// fingerprint and entry of a valid one, or why it misses. `None`: the remote could not be
/// asked.
fn checked_remote_variants<'a>(
    remote: &RemoteCache,
    key: &SpawnKey,
    world: &'a World<'a>,
    hasher: &'a Hasher<'a>,
) -> Option<impl Iterator<Item = Result<(PostRunFingerprint, RemoteEntry), VariantMiss>> + 'a> {
    let variants = remote.remote().variants(&key.0.0).ok()?;
    Some(variants.into_iter().filter_map(move |v| {
        let fp = PostRunFingerprint::from_bytes(&v.fingerprint).ok()?;
        if fp.id().0 != v.fingerprint_id {
            return None;
        }
        let differences = fp.validate(world, hasher);
        Some(if differences.is_empty() {
            Ok((fp, v))
        } else {
            // Remote variants have no local id.
            Err(VariantMiss {
                entry_id: 0,
                differences,
            })
        })
    }))
}

/// Where the local variants of a lookup come from.
#[derive(Debug)]
pub enum LocalVariants {
    /// Not looked up (`--remote-only`).
    Skip,
    /// Read from the index now.
    Query,
    /// Read earlier with the other keys of the run ([`Cache::prefetch`]). Only the index
    /// rows are older: they are validated against the world as it is now, like any others.
    Prefetched(Vec<crate::EntryRow>),
}

/// Local lookup first (unless `local` skips it), then the remote's variants, each validated
/// against `world` before anything else is downloaded. A valid remote variant is fetched
/// (blobs verified) and committed locally, then returned as a hit like a local one. Remote
/// failures are misses (the warning is in [`RemoteCache::take_warning`]).
///
/// `cache` is called for each local step (`|| &cache` for a cache held alone) and its guard dropped after it, so a cache shared
/// behind a lock (`|| mutex.lock()`) is not held while the network is waited for: other jobs
/// keep looking up and storing meanwhile.
pub fn find_hit_with_remote<G: Deref<Target = Cache>>(
    cache: impl Fn() -> G,
    key: &SpawnKey,
    world: &World<'_>,
    hasher: &Hasher<'_>,
    remote: Option<&RemoteCache>,
    local: LocalVariants,
) -> Result<(Lookup, HitSource), CacheError> {
    let mut misses = Vec::new();
    // Only the index read holds the cache: decoding and validating (stats, hashes) run
    // without it, so other jobs need not wait.
    let entries = match local {
        LocalVariants::Skip => None,
        LocalVariants::Query => Some(cache().lookup(key)?),
        LocalVariants::Prefetched(rows) => {
            let decoded = crate::Decoded::new(*key, rows);
            Some(if decoded.is_settled() {
                decoded.into_entries()
            } else {
                cache().settle(decoded)?
            })
        }
    };
    if let Some(entries) = entries {
        match first_valid(entries, world, hasher) {
            Ok(entry) => {
                cache().touch(entry.id);
                return Ok((Lookup::Hit(Box::new(entry)), HitSource::Local));
            }
            Err(m) => misses = m,
        }
    }
    let Some(remote) = remote else {
        return Ok((Lookup::Miss(misses), HitSource::Local));
    };
    let store = cache().blob_store();
    match store.fetch_remote(remote, key, world, hasher)? {
        RemoteLookup::Fetched(fetched) => {
            if let Some(entry) = cache().commit_fetched(*fetched)? {
                return Ok((Lookup::Hit(Box::new(entry)), HitSource::Remote));
            }
        }
        RemoteLookup::Miss(m) => misses.extend(m),
    }
    Ok((Lookup::Miss(misses), HitSource::Remote))
}

impl Cache {
    /// Whether the remote holds a variant of `key` valid against `world`, without
    /// downloading or storing anything (`--dry-run` must not change the cache).
    pub fn remote_would_hit(
        key: &SpawnKey,
        world: &World<'_>,
        hasher: &Hasher<'_>,
        remote: &RemoteCache,
    ) -> bool {
        checked_remote_variants(remote, key, world, hasher)
            .is_some_and(|mut variants| variants.any(|v| v.is_ok()))
    }

    /// This cache's blob store, for downloads made without holding the cache.
    pub fn blob_store(&self) -> BlobStore {
        BlobStore(self.blobs.clone())
    }

    /// Commits a fetched remote variant as a local entry. `None`: one of its blobs is gone
    /// again (evicted or collected by another runner meanwhile), a miss; nothing committed.
    pub fn commit_fetched(&self, fetched: Fetched) -> Result<Option<StoredEntry>, CacheError> {
        let Fetched {
            key,
            fingerprint,
            manifest,
            stdio,
            refs,
        } = fetched;
        let tx = self.begin()?;
        // Under the write lock: an eviction may have removed a blob we found present.
        if refs.iter().any(|(h, s)| !self.blobs.present(h, *s)) {
            return Ok(None);
        }
        self.fold_recency(&tx)?;
        let (id, _) = insert_variant(&tx, &key, &fingerprint, &manifest, stdio, &refs, None)?;
        let size: u64 = refs.values().sum();
        let fid = fingerprint.id();
        self.gc_orphans(&tx)?;
        tx.commit()?;
        self.evict(Some(id))?;
        Ok(Some(StoredEntry {
            id,
            spawn_key: key,
            fingerprint_id: fid,
            fingerprint,
            manifest,
            stdio,
            size,
            run_time: None,
        }))
    }
}

impl Cache {
    /// The upload of entry `id` (just stored under `key`), ready for [`RemoteCache::upload`].
    /// `None` if the entry is gone (evicted by another runner meanwhile).
    pub fn upload_job(&self, key: &SpawnKey, id: i64) -> Result<Option<UploadJob>, CacheError> {
        let row = self
            .conn
            .query_row(
                "SELECT fingerprint_id, fingerprint, manifest, stdio FROM entries WHERE id = ?1 AND spawn_key = ?2",
                params![id, key.0.0.as_slice()],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                },
            )
            .ok();
        let Some((fid, fingerprint, manifest_bytes, stdio)) = row else {
            return Ok(None);
        };
        let Some(fid) = hash_from(&fid) else {
            return Ok(None);
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&manifest_bytes) else {
            return Ok(None);
        };
        let stdio = stdio.as_deref().and_then(hash_from);
        let mut blobs: BTreeMap<Hash32, (u64, PathBuf)> = manifest
            .blobs()
            .into_iter()
            .map(|(h, s)| (h, (s, self.blobs.path(&h))))
            .collect();
        if let Some(h) = stdio {
            let path = self.blobs.path(&h);
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            blobs.insert(h, (size, path));
        }
        Ok(Some(UploadJob {
            spawn_key: key.0.0,
            fingerprint_id: fid.0,
            fingerprint,
            manifest: manifest_bytes,
            stdio,
            blobs,
        }))
    }
}
