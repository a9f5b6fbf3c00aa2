//! Turborepo's v8 artifacts API over HTTP(S): `GET/PUT/HEAD /v8/artifacts/:hash` and
//! `GET /v8/artifacts/status`, scoped by `teamId` or `slug`, with a bearer token.
//!
//! Artifacts are opaque bytes to the server, so runwire stores its three kinds under
//! prefixed names: `rwb1-<blake3>` (content blobs and entry records, immutable) and
//! `rwi1-<name>` (the index of a spawn key, overwritten by each writer).

use std::fmt;
use std::io::Read as _;

use runwire_model::Redacted;
use ureq::Agent;

use crate::{BlobRef, Kind, RemoteConfig, RemoteError, RemoteStore, hex};

/// Largest artifact read back (turborepo-remote-cache's default body limit is 100 MiB).
const MAX_BODY: u64 = 1024 * 1024 * 1024;

/// A Turborepo-compatible HTTP cache.
pub struct TurboStore {
    agent: Agent,
    base: String,
    query: String,
    token: Option<String>,
}

impl fmt::Debug for TurboStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurboStore")
            .field("base", &self.base)
            .field("query", &self.query)
            .field("token", &self.token.as_ref().map(|_| Redacted))
            .finish_non_exhaustive()
    }
}

fn encode_query_value(v: &str) -> String {
    use std::fmt::Write;
    v.bytes().fold(String::new(), |mut s, b| {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
        s
    })
}

impl TurboStore {
    pub fn new(config: &RemoteConfig) -> Result<Self, RemoteError> {
        let base = config.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RemoteError::Config(format!(
                "turbo remote cache url `{base}` must start with http:// or https://"
            )));
        }
        // The API wants a team or a slug; one fixed slug when neither is configured.
        let mut params = Vec::new();
        if let Some(team) = &config.team {
            params.push(format!("teamId={}", encode_query_value(team)));
        }
        if let Some(slug) = &config.slug {
            params.push(format!("slug={}", encode_query_value(slug)));
        }
        if params.is_empty() {
            params.push("slug=runwire".into());
        }
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            agent,
            base,
            query: params.join("&"),
            token: config.token.clone(),
        })
    }

    fn url(&self, artifact: &str) -> String {
        format!("{}/v8/artifacts/{artifact}?{}", self.base, self.query)
    }

    fn unreachable(&self, e: &ureq::Error) -> RemoteError {
        RemoteError::Unreachable {
            url: self.base.clone(),
            detail: e.to_string(),
        }
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    /// Maps a non-success status to an error (401/403: credentials).
    fn status_error(&self, status: u16, what: &str) -> RemoteError {
        if status == 401 || status == 403 {
            RemoteError::Unauthorized {
                url: self.base.clone(),
                status: status.to_string(),
            }
        } else {
            RemoteError::Protocol {
                url: self.base.clone(),
                detail: format!("{what}: HTTP {status}"),
            }
        }
    }

    fn get(&self, artifact: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let mut resp = self
            .auth(self.agent.get(&self.url(artifact)))
            .call()
            .map_err(|e| self.unreachable(&e))?;
        match resp.status().as_u16() {
            200 => {
                let mut buf = Vec::new();
                resp.body_mut()
                    .as_reader()
                    .take(MAX_BODY)
                    .read_to_end(&mut buf)
                    .map_err(|e| RemoteError::Unreachable {
                        url: self.base.clone(),
                        detail: format!("reading artifact {artifact}: {e}"),
                    })?;
                Ok(Some(buf))
            }
            404 => Ok(None),
            s => Err(self.status_error(s, &format!("GET artifact {artifact}"))),
        }
    }

    fn head(&self, artifact: &str) -> Result<bool, RemoteError> {
        let resp = self
            .auth(self.agent.head(&self.url(artifact)))
            .call()
            .map_err(|e| self.unreachable(&e))?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(self.status_error(s, &format!("HEAD artifact {artifact}"))),
        }
    }

    fn put(&self, artifact: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        let resp = self
            .auth(self.agent.put(&self.url(artifact)))
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .map_err(|e| self.unreachable(&e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            s => Err(self.status_error(s, &format!("PUT artifact {artifact}"))),
        }
    }
}

fn blob_name(blob: &BlobRef) -> String {
    format!("rwb1-{}", blob.blake3_hex())
}

fn index_name(name: &[u8; 32]) -> String {
    format!("rwi1-{}", hex(name))
}

impl RemoteStore for TurboStore {
    fn kind(&self) -> Kind {
        Kind::Turbo
    }

    fn check(&self) -> Result<(), RemoteError> {
        let resp = self
            .auth(
                self.agent
                    .get(&format!("{}/v8/artifacts/status?{}", self.base, self.query)),
            )
            .call()
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(self.status_error(status, "GET /v8/artifacts/status"));
        }
        // Some servers answer status without checking the token; a HEAD does check it.
        self.head("rwi1-credentials-check").map(|_| ())
    }

    fn get_index(&self, name: &[u8; 32]) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get(&index_name(name))
    }

    fn put_index(&self, name: &[u8; 32], bytes: &[u8]) -> Result<(), RemoteError> {
        self.put(&index_name(name), bytes)
    }

    fn missing(&self, blobs: &[BlobRef]) -> Result<Vec<BlobRef>, RemoteError> {
        let mut out = Vec::new();
        for b in blobs {
            if !self.head(&blob_name(b))? {
                out.push(*b);
            }
        }
        Ok(out)
    }

    fn get_blob(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get(&blob_name(blob))
    }

    fn put_blob(&self, blob: &BlobRef, bytes: &[u8]) -> Result<(), RemoteError> {
        self.put(&blob_name(blob), bytes)
    }
}
