//! Bazel's Remote Execution API v2 as a cache: `ContentAddressableStorage` for blobs and entry
//! records, `ActionCache` for the per-spawn-key index, `ByteStream` for blobs too large for one
//! batch message. Digests are SHA-256 (what every REAPI server accepts, and the only function
//! buildgrid 0.4 supports), whatever runwire uses locally.
//!
//! The gRPC calls are async (tonic); this store owns a small runtime and blocks on each call
//! under a timeout, so callers stay synchronous and can share the store between threads.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runwire_model::Redacted;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::{BlobRef, Kind, RemoteConfig, RemoteError, RemoteStore, hex};

/// The generated REAPI, ByteStream and Google API types (`cargo xtask codegen`), in
/// `src/third_party/` beside no hand-written code (proto/third_party/README.md says why).
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    missing_debug_implementations
)]
pub mod proto {
    pub mod build {
        pub mod bazel {
            pub mod remote {
                pub mod execution {
                    pub mod v2 {
                        include!("third_party/build.bazel.remote.execution.v2.rs");
                    }
                }
            }
            pub mod semver {
                include!("third_party/build.bazel.semver.rs");
            }
        }
    }
    pub mod google {
        pub mod api {
            include!("third_party/google.api.rs");
        }
        pub mod bytestream {
            include!("third_party/google.bytestream.rs");
        }
        pub mod longrunning {
            include!("third_party/google.longrunning.rs");
        }
        pub mod rpc {
            include!("third_party/google.rpc.rs");
        }
    }
}

use proto::build::bazel::remote::execution::v2 as re;
use proto::google::bytestream as bs;
use re::action_cache_client::ActionCacheClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;

/// Blobs up to this size go in batch calls; larger ones through `ByteStream`. Well under the
/// 4 MiB gRPC message default of most servers.
const BATCH_BLOB_MAX: u64 = 1024 * 1024;
/// `ByteStream` write chunk.
const CHUNK: usize = 1024 * 1024;
/// Largest message accepted from the server.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// The output file name under which an index record hangs off its action result.
const INDEX_FILE: &str = "runwire-index";

/// A REAPI v2 cache (`ActionCache` + CAS + `ByteStream`) over gRPC.
pub struct ReapiStore {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    url: String,
    instance: String,
    token: Option<String>,
    timeout: Duration,
    uploads: AtomicU64,
}

impl fmt::Debug for ReapiStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReapiStore")
            .field("url", &self.url)
            .field("instance", &self.instance)
            .field("token", &self.token.as_ref().map(|_| Redacted))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn sha256_fn() -> i32 {
    re::digest_function::Value::Sha256 as i32
}

fn digest(blob: &BlobRef) -> re::Digest {
    re::Digest {
        hash: blob.sha256_hex(),
        size_bytes: i64::try_from(blob.size).unwrap_or(i64::MAX),
    }
}

impl ReapiStore {
    pub fn new(config: &RemoteConfig) -> Result<Self, RemoteError> {
        let url = config.url.trim_end_matches('/').to_string();
        let http = if let Some(rest) = url.strip_prefix("grpc://") {
            format!("http://{rest}")
        } else if url.starts_with("http://") {
            url.clone()
        } else {
            return Err(RemoteError::Config(format!(
                "reapi remote cache url `{url}` must start with grpc:// or http:// (TLS is not supported yet)"
            )));
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runwire-reapi")
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Config(format!("starting the gRPC runtime: {e}")))?;
        let endpoint = Endpoint::from_shared(http)
            .map_err(|e| RemoteError::Config(format!("reapi remote cache url `{url}`: {e}")))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout);
        // Lazy: constructing never waits for the server; the first call connects.
        let channel = {
            let _guard = rt.enter();
            endpoint.connect_lazy()
        };
        Ok(Self {
            rt,
            channel,
            url,
            instance: config.instance.clone(),
            token: config.token.clone(),
            timeout: config.timeout,
            uploads: AtomicU64::new(0),
        })
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = &self.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            req.metadata_mut().insert("authorization", v);
        }
        req
    }

    fn cas(&self) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    fn ac(&self) -> ActionCacheClient<Channel> {
        ActionCacheClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    fn bytestream(&self) -> bs::byte_stream_client::ByteStreamClient<Channel> {
        bs::byte_stream_client::ByteStreamClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    /// Runs one call to completion under the timeout.
    fn block<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, RemoteError> {
        match self
            .rt
            .block_on(async { tokio::time::timeout(self.timeout, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(status)) => Err(self.status_error(what, &status)),
            Err(_) => Err(RemoteError::Unreachable {
                url: self.url.clone(),
                detail: format!("{what}: no answer within {:?}", self.timeout),
            }),
        }
    }

    fn status_error(&self, what: &str, s: &Status) -> RemoteError {
        match s.code() {
            Code::Unauthenticated | Code::PermissionDenied => RemoteError::Unauthorized {
                url: self.url.clone(),
                status: format!("{:?}", s.code()),
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                RemoteError::Unreachable {
                    url: self.url.clone(),
                    detail: format!("{what}: {:?}: {}", s.code(), s.message()),
                }
            }
            _ => RemoteError::Protocol {
                url: self.url.clone(),
                detail: format!("{what}: {:?}: {}", s.code(), s.message()),
            },
        }
    }

    fn protocol(&self, detail: String) -> RemoteError {
        RemoteError::Protocol {
            url: self.url.clone(),
            detail,
        }
    }

    fn resource_prefix(&self) -> String {
        if self.instance.is_empty() {
            String::new()
        } else {
            format!("{}/", self.instance)
        }
    }

    /// The action digest an index name maps to: the SHA-256 of a fixed preimage.
    fn index_action(name: &[u8; 32]) -> re::Digest {
        let preimage = format!("runwire remote index v1 {}", hex(name));
        digest(&BlobRef::of(preimage.as_bytes()))
    }

    fn put_small(&self, blobs: &[(&BlobRef, &[u8])]) -> Result<(), RemoteError> {
        let req = re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests: blobs
                .iter()
                .map(|(b, data)| re::batch_update_blobs_request::Request {
                    digest: Some(digest(b)),
                    data: data.to_vec(),
                    compressor: 0,
                })
                .collect(),
            digest_function: sha256_fn(),
        };
        let resp = self.block("BatchUpdateBlobs", async {
            self.cas().batch_update_blobs(self.request(req)).await
        })?;
        for r in resp.into_inner().responses {
            if let Some(s) = r.status
                && s.code != 0
            {
                let status = Status::new(Code::from_i32(s.code), s.message);
                return Err(self.status_error("BatchUpdateBlobs item", &status));
            }
        }
        Ok(())
    }

    fn put_large(&self, blob: &BlobRef, data: &[u8]) -> Result<(), RemoteError> {
        let n = self.uploads.fetch_add(1, Ordering::Relaxed);
        // A fresh upload id per write, shaped like a UUID as the spec asks.
        let mut h = blake3::Hasher::new();
        h.update(&std::process::id().to_le_bytes());
        h.update(&n.to_le_bytes());
        h.update(
            &std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes(),
        );
        let u = hex(&h.finalize().as_bytes()[..16]);
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &u[..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..32]
        );
        let name = format!(
            "{}uploads/{uuid}/blobs/{}/{}",
            self.resource_prefix(),
            blob.sha256_hex(),
            blob.size
        );
        let mut reqs = Vec::new();
        let mut offset = 0usize;
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            reqs.push(bs::WriteRequest {
                resource_name: if i == 0 { name.clone() } else { String::new() },
                write_offset: i64::try_from(offset).unwrap_or(i64::MAX),
                finish_write: offset + chunk.len() == data.len(),
                data: chunk.to_vec(),
            });
            offset += chunk.len();
        }
        let resp = self.block("ByteStream.Write", async {
            self.bytestream()
                .write(self.request(tokio_stream_iter(reqs)))
                .await
        })?;
        let committed = resp.into_inner().committed_size;
        if u64::try_from(committed).ok() != Some(blob.size) {
            return Err(self.protocol(format!(
                "ByteStream.Write committed {committed} of {} bytes",
                blob.size
            )));
        }
        Ok(())
    }

    fn get_small(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError> {
        let req = re::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: vec![digest(blob)],
            acceptable_compressors: Vec::new(),
            digest_function: sha256_fn(),
        };
        let resp = match self.block("BatchReadBlobs", async {
            self.cas().batch_read_blobs(self.request(req)).await
        }) {
            Ok(r) => r,
            Err(e) => return Self::blob_read_error(e),
        };
        let Some(r) = resp.into_inner().responses.into_iter().next() else {
            return Err(self.protocol("BatchReadBlobs: empty answer".into()));
        };
        match r.status.map_or(0, |s| s.code) {
            0 => Ok(Some(r.data)),
            c => Self::blob_read_error(self.status_error(
                "BatchReadBlobs item",
                &Status::new(Code::from_i32(c), "blob read failed"),
            )),
        }
    }

    fn get_large(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError> {
        let name = format!(
            "{}blobs/{}/{}",
            self.resource_prefix(),
            blob.sha256_hex(),
            blob.size
        );
        let req = bs::ReadRequest {
            resource_name: name,
            read_offset: 0,
            read_limit: 0,
        };
        let r = self.block("ByteStream.Read", async {
            let mut stream = self
                .bytestream()
                .read(self.request(req))
                .await?
                .into_inner();
            let mut out = Vec::new();
            while let Some(msg) = stream.message().await? {
                out.extend_from_slice(&msg.data);
                // A server sending more than the blob's size is wrong; stop reading.
                if out.len() as u64 > blob.size {
                    break;
                }
            }
            Ok(out)
        });
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) => Self::blob_read_error(e),
        }
    }

    /// A server that cannot produce one blob (absent, incomplete, out of range) is a miss
    /// for that blob, not a broken server; transport and credential failures stay errors.
    fn blob_read_error(e: RemoteError) -> Result<Option<Vec<u8>>, RemoteError> {
        match e {
            RemoteError::Protocol { .. } => Ok(None),
            e => Err(e),
        }
    }
}

/// A finished request stream from a list (tonic takes any `Stream`).
fn tokio_stream_iter<T: Send + 'static>(
    items: Vec<T>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(items)
}

impl RemoteStore for ReapiStore {
    fn kind(&self) -> Kind {
        Kind::Reapi
    }

    fn check(&self) -> Result<(), RemoteError> {
        // FindMissingBlobs of the empty blob: one cheap round trip that needs the CAS and
        // the credentials; the index lookup then needs the ActionCache.
        self.missing(&[BlobRef::of(b"")]).map(|_| ())?;
        self.get_index(&[0; 32]).map(|_| ())
    }

    fn get_index(&self, name: &[u8; 32]) -> Result<Option<Vec<u8>>, RemoteError> {
        let req = re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(Self::index_action(name)),
            inline_stdout: false,
            inline_stderr: false,
            inline_output_files: Vec::new(),
            digest_function: sha256_fn(),
        };
        let result = match self.block("GetActionResult", async {
            self.ac().get_action_result(self.request(req)).await
        }) {
            Ok(r) => r.into_inner(),
            Err(RemoteError::Protocol { detail, .. }) if detail.contains("NotFound") => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(file) = result
            .output_files
            .into_iter()
            .find(|f| f.path == INDEX_FILE)
        else {
            return Ok(None);
        };
        let Some(d) = file.digest else {
            return Ok(None);
        };
        // The index is fetched by its SHA-256 digest only; `Remote` checks its own checksum.
        let Ok(size) = u64::try_from(d.size_bytes) else {
            return Ok(None);
        };
        let Some(sha) = parse_sha256(&d.hash) else {
            return Ok(None);
        };
        let blob = BlobRef {
            blake3: [0; 32],
            sha256: sha,
            size,
        };
        if size <= BATCH_BLOB_MAX {
            self.get_small(&blob)
        } else {
            self.get_large(&blob)
        }
    }

    fn put_index(&self, name: &[u8; 32], bytes: &[u8]) -> Result<(), RemoteError> {
        let blob = BlobRef::of(bytes);
        self.put_blob(&blob, bytes)?;
        let req = re::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(Self::index_action(name)),
            action_result: Some(re::ActionResult {
                output_files: vec![re::OutputFile {
                    path: INDEX_FILE.into(),
                    digest: Some(digest(&blob)),
                    ..Default::default()
                }],
                exit_code: 0,
                ..Default::default()
            }),
            results_cache_policy: None,
            digest_function: sha256_fn(),
        };
        self.block("UpdateActionResult", async {
            self.ac().update_action_result(self.request(req)).await
        })?;
        Ok(())
    }

    fn missing(&self, blobs: &[BlobRef]) -> Result<Vec<BlobRef>, RemoteError> {
        let mut out = Vec::new();
        for group in blobs.chunks(1000) {
            let req = re::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: group.iter().map(digest).collect(),
                digest_function: sha256_fn(),
            };
            let resp = self.block("FindMissingBlobs", async {
                self.cas().find_missing_blobs(self.request(req)).await
            })?;
            let missing: std::collections::HashSet<(String, i64)> = resp
                .into_inner()
                .missing_blob_digests
                .into_iter()
                .map(|d| (d.hash, d.size_bytes))
                .collect();
            out.extend(group.iter().filter(|b| {
                let d = digest(b);
                missing.contains(&(d.hash, d.size_bytes))
            }));
        }
        Ok(out)
    }

    fn get_blob(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError> {
        if blob.size <= BATCH_BLOB_MAX {
            self.get_small(blob)
        } else {
            self.get_large(blob)
        }
    }

    fn put_blob(&self, blob: &BlobRef, bytes: &[u8]) -> Result<(), RemoteError> {
        if blob.size <= BATCH_BLOB_MAX {
            self.put_small(&[(blob, bytes)])
        } else {
            self.put_large(blob, bytes)
        }
    }
}

fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
