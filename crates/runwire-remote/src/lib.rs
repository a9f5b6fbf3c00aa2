//! runwire's remote cache transports. runwire runs no cache server of its own: it speaks the
//! protocols existing servers implement, behind one small blocking trait, [`RemoteStore`]:
//!
//! - [`turbo::TurboStore`]: Turborepo's v8 HTTP artifacts API (`turborepo-remote-cache` and
//!   compatible servers), bearer token, `teamId`/`slug` parameters.
//! - [`reapi::ReapiStore`]: Bazel's Remote Execution API v2, `ActionCache` + CAS over gRPC
//!   (buildgrid, bazel-remote, ...), SHA-256 digests.
//!
//! What travels, whatever the backend ([`Remote`] does the encoding and the checks): content
//! blobs (named by blake3, also carrying SHA-256 for REAPI), one entry record per variant
//! ([`RemoteEntry`]: post-run fingerprint, output manifest, stdio blob, blob list), and per
//! spawn key an index of its variants. Last writer wins on the index: a lost variant only costs
//! a miss. Every download is verified (blobs by hash and size, records by checksum and format),
//! and anything that fails is a miss, never used. Every call has a bounded timeout; after the
//! first transport failure [`Remote`] stops calling the server for the rest of the process and
//! hands out one warning, so a dead server costs one timeout and one line.
//!
//! This crate knows nothing of the local store's types: fingerprints and manifests are opaque
//! bytes here, which keeps it independent of `runwire-cache`'s schema.

pub mod reapi;
pub mod turbo;
mod wire;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runwire_model::Redacted;
use sha2::Digest as _;

pub use wire::{IndexLine, MAX_VARIANTS, RemoteEntry, decode_index, encode_index};

/// Default bound for one remote call (connect + transfer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A content blob as remote stores name it: blake3 (runwire's own name, and the Turborepo
/// artifact name), SHA-256 (the REAPI digest) and its size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobRef {
    pub blake3: [u8; 32],
    pub sha256: [u8; 32],
    pub size: u64,
}

impl BlobRef {
    /// Digests `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            blake3: *blake3::hash(bytes).as_bytes(),
            sha256: sha2::Sha256::digest(bytes).into(),
            size: bytes.len() as u64,
        }
    }

    /// Whether `bytes` are this blob (size, blake3 and SHA-256).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.size && Self::of(bytes) == *self
    }

    pub fn blake3_hex(&self) -> String {
        hex(&self.blake3)
    }

    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }
}

impl fmt::Debug for BlobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BlobRef({}, {} bytes)",
            &self.blake3_hex()[..16],
            self.size
        )
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What went wrong talking to a remote cache. None of these fails a task: callers treat each
/// as a miss (downloads) or a skipped upload, with one warning. Each has a stable code
/// (`remote-*`, listed in docs/errors.md).
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(RemoteErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`RemoteError`], one per variant, with its documentation."
)]
pub enum RemoteError {
    /// The remote cache settings are unusable: an unknown protocol, or a URL the protocol
    /// cannot use.
    ///
    /// Check the `RUNWIRE_REMOTE_CACHE_*` variables (README, "Remote cache").
    #[strum_discriminants(strum(serialize = "remote-config"))]
    #[error("remote cache configuration: {0}")]
    Config(String),
    /// The remote cache refused the credentials; it is not used for the rest of the run.
    ///
    /// Check `RUNWIRE_REMOTE_CACHE_TOKEN`.
    #[strum_discriminants(strum(serialize = "remote-unauthorized"))]
    #[error(
        "remote cache at {url} refused the credentials (HTTP/gRPC {status}): check RUNWIRE_REMOTE_CACHE_TOKEN"
    )]
    Unauthorized { url: String, status: String },
    /// The remote cache did not answer in time or could not be reached; it is not used for
    /// the rest of the run.
    #[strum_discriminants(strum(serialize = "remote-unreachable"))]
    #[error("remote cache at {url} is unreachable or too slow: {detail}")]
    Unreachable { url: String, detail: String },
    /// The remote cache answered with something its protocol does not allow; it is not used
    /// for the rest of the run.
    #[strum_discriminants(strum(serialize = "remote-protocol"))]
    #[error("remote cache at {url} answered unexpectedly: {detail}")]
    Protocol { url: String, detail: String },
    /// A downloaded record or blob failed its checks (truncated, altered, not matching its
    /// hash) and was rejected, so the lookup is a miss; or a local blob to upload could not
    /// be read.
    #[strum_discriminants(strum(serialize = "remote-corrupt"))]
    #[error("remote cache data rejected: {0}")]
    Corrupt(String),
    /// The remote cache is configured read-only here, so nothing is uploaded.
    #[strum_discriminants(strum(serialize = "remote-read-only"))]
    #[error("remote cache is read-only here; nothing is uploaded")]
    ReadOnly,
    /// An earlier failure (credentials, reachability, protocol) switched the remote cache
    /// off for the rest of this run.
    #[strum_discriminants(strum(serialize = "remote-disabled"))]
    #[error("remote cache disabled for the rest of this run after an earlier failure")]
    Disabled,
}

impl RemoteError {
    /// The stable code, such as `remote-unreachable`.
    pub fn code(&self) -> &'static str {
        RemoteErrorCode::from(self).into()
    }

    /// Whether the server itself is unusable (so further calls would only cost time).
    pub fn disables(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. } | Self::Unreachable { .. } | Self::Protocol { .. }
        )
    }
}

/// A remote key-value + content store. Implementations are blocking, bounded by their
/// timeout, and safe to share between upload threads.
pub trait RemoteStore: Send + Sync + fmt::Debug {
    /// Which protocol, for messages.
    fn kind(&self) -> Kind;
    /// Reachability and credentials, in one cheap round trip.
    fn check(&self) -> Result<(), RemoteError>;
    /// The index record stored under `name` (a hash derived from the spawn key), unverified.
    fn get_index(&self, name: &[u8; 32]) -> Result<Option<Vec<u8>>, RemoteError>;
    /// Replaces the index record under `name` (last writer wins).
    fn put_index(&self, name: &[u8; 32], bytes: &[u8]) -> Result<(), RemoteError>;
    /// Which of `blobs` the server lacks.
    fn missing(&self, blobs: &[BlobRef]) -> Result<Vec<BlobRef>, RemoteError>;
    /// The stored bytes of `blob`, unverified (`None`: not there).
    fn get_blob(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError>;
    /// Stores `bytes` as `blob` (the caller made `blob` from them).
    fn put_blob(&self, blob: &BlobRef, bytes: &[u8]) -> Result<(), RemoteError>;
}

/// The protocols runwire speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Turborepo's v8 HTTP API.
    Turbo,
    /// Bazel's Remote Execution API v2 (`ActionCache` + CAS).
    Reapi,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Self, RemoteError> {
        match s {
            "turbo" | "turborepo" | "http" => Ok(Self::Turbo),
            "reapi" | "bazel" | "grpc" => Ok(Self::Reapi),
            other => Err(RemoteError::Config(format!(
                "unknown remote cache kind `{other}` (expected `turbo` or `reapi`)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Turbo => "turbo",
            Self::Reapi => "reapi",
        }
    }
}

/// Where and how to reach a remote cache.
#[derive(Clone)]
pub struct RemoteConfig {
    pub kind: Kind,
    /// `http(s)://host:port` (Turborepo) or `grpc://host:port` / `http://host:port` (REAPI).
    pub url: String,
    /// Bearer token; never printed (`Debug` shows only whether one is set).
    pub token: Option<String>,
    /// Turborepo `teamId` query parameter.
    pub team: Option<String>,
    /// Turborepo `slug` query parameter.
    pub slug: Option<String>,
    /// REAPI instance name.
    pub instance: String,
    /// Bound for one call.
    pub timeout: Duration,
}

impl RemoteConfig {
    pub fn new(kind: Kind, url: impl Into<String>) -> Self {
        Self {
            kind,
            url: url.into(),
            token: None,
            team: None,
            slug: None,
            instance: String::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Opens the backend. Connections are made lazily, so this never blocks on the server.
    pub fn connect(&self) -> Result<Box<dyn RemoteStore>, RemoteError> {
        Ok(match self.kind {
            Kind::Turbo => Box::new(turbo::TurboStore::new(self)?),
            Kind::Reapi => Box::new(reapi::ReapiStore::new(self)?),
        })
    }
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| Redacted))
            .field("team", &self.team)
            .field("slug", &self.slug)
            .field("instance", &self.instance)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A verified, fail-soft view of a [`RemoteStore`]: encodes and checks what travels, and
/// after the first transport failure stops calling the server.
#[derive(Debug)]
pub struct Remote {
    store: Box<dyn RemoteStore>,
    namespace: [u8; 32],
    read_only: bool,
    disabled: AtomicBool,
    warning: Mutex<Option<String>>,
    rejected: std::sync::atomic::AtomicU64,
}

impl Remote {
    /// `namespace` separates groups of machines on one server that must not mix indexes
    /// (derive it from the shared env key). `read_only`: never upload.
    pub fn new(store: Box<dyn RemoteStore>, namespace: [u8; 32], read_only: bool) -> Self {
        Self {
            store,
            namespace,
            read_only,
            disabled: AtomicBool::new(false),
            warning: Mutex::new(None),
            rejected: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn kind(&self) -> Kind {
        self.store.kind()
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The warning for the first failure, once (later calls: `None`).
    pub fn take_warning(&self) -> Option<String> {
        self.warning.lock().ok()?.take()
    }

    /// How many downloaded records or blobs were rejected (corrupt, truncated, altered).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn guard<T>(&self, r: Result<T, RemoteError>) -> Result<T, RemoteError> {
        if let Err(e) = &r
            && e.disables()
            && !self.disabled.swap(true, Ordering::SeqCst)
            && let Ok(mut w) = self.warning.lock()
        {
            *w = Some(format!(
                "warning: {e} [{}]; continuing without the remote cache",
                e.code()
            ));
        }
        r
    }

    fn live(&self) -> Result<(), RemoteError> {
        if self.disabled.load(Ordering::SeqCst) {
            Err(RemoteError::Disabled)
        } else {
            Ok(())
        }
    }

    /// Checks reachability and credentials once, up front.
    pub fn check(&self) -> Result<(), RemoteError> {
        self.live()?;
        self.guard(self.store.check())
    }

    fn index_name(&self, spawn_key: &[u8; 32]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("runwire remote index v1");
        h.update(&self.namespace);
        h.update(spawn_key);
        *h.finalize().as_bytes()
    }

    fn index(&self, spawn_key: &[u8; 32]) -> Result<Vec<IndexLine>, RemoteError> {
        let Some(bytes) = self.guard(self.store.get_index(&self.index_name(spawn_key)))? else {
            return Ok(Vec::new());
        };
        Ok(decode_index(&bytes).unwrap_or_else(|_| {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        }))
    }

    /// Every variant stored remotely under `spawn_key`, newest first. Records that fail their
    /// checks are left out (and counted in [`Remote::rejected`]).
    pub fn variants(&self, spawn_key: &[u8; 32]) -> Result<Vec<RemoteEntry>, RemoteError> {
        self.live()?;
        let mut out = Vec::new();
        for line in self.index(spawn_key)? {
            let Some(bytes) = self.fetch_blob(&line.entry)? else {
                continue;
            };
            match RemoteEntry::decode(&bytes) {
                Ok(e) if e.spawn_key == *spawn_key && e.fingerprint_id == line.fingerprint_id => {
                    out.push(e);
                }
                _ => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(out)
    }

    /// The bytes of `blob`, verified: `None` if absent or if what came back is not that blob.
    pub fn fetch_blob(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError> {
        self.live()?;
        match self.guard(self.store.get_blob(blob))? {
            Some(bytes) if blob.matches(&bytes) => Ok(Some(bytes)),
            Some(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Uploads an entry: the blobs the server lacks (read through `read_blob`), the entry
    /// record, then the spawn key's index with this variant first (replacing one with the
    /// same fingerprint, keeping at most [`MAX_VARIANTS`]).
    pub fn publish(
        &self,
        entry: &RemoteEntry,
        read_blob: &dyn Fn(&BlobRef) -> std::io::Result<Vec<u8>>,
    ) -> Result<PublishStats, RemoteError> {
        if self.read_only {
            return Err(RemoteError::ReadOnly);
        }
        self.live()?;
        let mut stats = PublishStats::default();
        let mut wanted: Vec<BlobRef> = entry.blobs.clone();
        wanted.extend(entry.stdio);
        wanted.sort();
        wanted.dedup();
        for blob in self.guard(self.store.missing(&wanted))? {
            let bytes = read_blob(&blob).map_err(|e| {
                RemoteError::Corrupt(format!("reading local blob {blob:?} to upload: {e}"))
            })?;
            if !blob.matches(&bytes) {
                return Err(RemoteError::Corrupt(format!(
                    "local blob {blob:?} changed on disk; not uploaded"
                )));
            }
            self.guard(self.store.put_blob(&blob, &bytes))?;
            stats.blobs += 1;
            stats.bytes += blob.size;
        }
        let record = entry.encode();
        let entry_ref = BlobRef::of(&record);
        self.guard(self.store.put_blob(&entry_ref, &record))?;
        let name = self.index_name(&entry.spawn_key);
        let mut lines = self.index(&entry.spawn_key)?;
        lines.retain(|l| l.fingerprint_id != entry.fingerprint_id);
        lines.insert(
            0,
            IndexLine {
                fingerprint_id: entry.fingerprint_id,
                entry: entry_ref,
            },
        );
        lines.truncate(MAX_VARIANTS);
        self.guard(self.store.put_index(&name, &encode_index(&lines)))?;
        Ok(stats)
    }

    /// The underlying store (tests put tampered data through it).
    pub fn store(&self) -> &dyn RemoteStore {
        &*self.store
    }

    /// The backend name of the index of `spawn_key` (tests tamper with it).
    pub fn index_name_of(&self, spawn_key: &[u8; 32]) -> [u8; 32] {
        self.index_name(spawn_key)
    }
}

/// What an upload sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    pub blobs: u64,
    pub bytes: u64,
}
