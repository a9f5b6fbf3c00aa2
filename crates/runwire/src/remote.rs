//! The remote cache settings: `remoteCache` in runwire.json, overridden by the
//! `RUNWIRE_REMOTE_CACHE_*` environment, and the `--remote-only` / `--no-remote` flags.
//!
//! The token and the shared key come from the environment only (never from a committed
//! file) and are never printed. Without the shared key the remote is turned off with one
//! warning: machines with different env-hash keys could never validate each other's entries.

use std::path::Path;
use std::time::Duration;

use runwire_cache::{RemoteCache, namespace_of, shared_env_key};
use runwire_fingerprint::EnvKey;
use runwire_remote::{Kind, Remote, RemoteConfig};
use serde::Deserialize;

use crate::error::Error;
use crate::settings::EnvSnapshot;

/// How long the run waits at exit for uploads still in flight.
pub const UPLOAD_WAIT: Duration = Duration::from_secs(60);

/// `remoteCache` in runwire.json.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoteCacheConfig {
    /// `turbo` (Turborepo v8 HTTP API) or `reapi` (Bazel REAPI v2 over gRPC). Default: from
    /// the URL's scheme (`grpc://` is REAPI, `http(s)://` Turborepo).
    #[serde(default)]
    pub kind: Option<String>,
    /// Server address; `RUNWIRE_REMOTE_CACHE_URL` overrides it.
    #[serde(default)]
    pub url: Option<String>,
    /// Turborepo `teamId`.
    #[serde(default)]
    pub team: Option<String>,
    /// Turborepo `slug`.
    #[serde(default)]
    pub slug: Option<String>,
    /// REAPI instance name.
    #[serde(default)]
    pub instance: Option<String>,
    /// Only download; never upload.
    #[serde(default)]
    pub read_only: Option<bool>,
    /// Bound for one remote call, in seconds (default 10).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// The command-line switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteFlags {
    /// Look results up in the remote only (not in the local cache); still stores locally.
    pub remote_only: bool,
    /// Do not use the remote cache at all.
    pub no_remote: bool,
}

/// A ready remote: the store with its uploads, the shared env key, and the lookup order.
#[derive(Debug)]
pub struct RemoteSetup {
    pub cache: RemoteCache,
    pub key: EnvKey,
    pub lookup_local: bool,
}

fn var(env: &EnvSnapshot, name: &str) -> Option<String> {
    env.non_empty(name)
        .and_then(std::ffi::OsStr::to_str)
        .map(str::to_owned)
}

fn truthy(v: &str) -> bool {
    !matches!(v, "0" | "false" | "off" | "no")
}

/// Resolves the remote from config, env and flags. `Ok(None)`: no remote this run (the
/// reason, if worth saying, was printed once as a warning).
pub fn setup(
    config: Option<&RemoteCacheConfig>,
    config_path: Option<&Path>,
    env: &EnvSnapshot,
    flags: RemoteFlags,
) -> Result<Option<RemoteSetup>, Error> {
    let where_ = || {
        config_path.map_or_else(
            || "RUNWIRE_REMOTE_CACHE_URL".to_owned(),
            |p| format!("{} `remoteCache`", p.display()),
        )
    };
    let unusable = |source| Error::Remote {
        place: where_(),
        source,
    };
    let url = var(env, "RUNWIRE_REMOTE_CACHE_URL").or_else(|| config.and_then(|c| c.url.clone()));
    let Some(url) = url else {
        if flags.remote_only {
            return Err(Error::NoRemote);
        }
        return Ok(None);
    };
    if flags.no_remote {
        return Ok(None);
    }
    let kind_name =
        var(env, "RUNWIRE_REMOTE_CACHE_KIND").or_else(|| config.and_then(|c| c.kind.clone()));
    let kind = match kind_name {
        Some(k) => Kind::parse(&k).map_err(unusable)?,
        None if url.starts_with("grpc://") => Kind::Reapi,
        None => Kind::Turbo,
    };
    let mut remote_config = RemoteConfig::new(kind, url);
    remote_config.token = var(env, "RUNWIRE_REMOTE_CACHE_TOKEN");
    if let Some(c) = config {
        remote_config.team.clone_from(&c.team);
        remote_config.slug.clone_from(&c.slug);
        if let Some(i) = &c.instance {
            remote_config.instance.clone_from(i);
        }
        if let Some(t) = c.timeout_seconds {
            remote_config.timeout = Duration::from_secs(t.max(1));
        }
    }
    let read_only = var(env, "RUNWIRE_REMOTE_CACHE_READ_ONLY").map_or_else(
        || config.and_then(|c| c.read_only).unwrap_or(false),
        |v| truthy(&v),
    );
    let store = remote_config.connect().map_err(unusable)?;
    let Some(secret) = var(env, "RUNWIRE_REMOTE_CACHE_KEY") else {
        eprintln!(
            "runwire: warning: remote cache off: RUNWIRE_REMOTE_CACHE_KEY is not set (every machine sharing a remote cache needs the same secret key)"
        );
        return Ok(None);
    };
    let key = shared_env_key(&secret).map_err(|source| Error::Cache {
        place: "RUNWIRE_REMOTE_CACHE_KEY".to_owned(),
        source,
    })?;
    Ok(Some(RemoteSetup {
        cache: RemoteCache::new(Remote::new(store, namespace_of(&key), read_only)),
        key,
        lookup_local: !flags.remote_only,
    }))
}

/// Prints the remote's one warning, if there is one not yet shown.
pub fn warn_once(remote: &RemoteCache) {
    if let Some(w) = remote.take_warning() {
        // It may quote what the server answered.
        eprintln!("runwire: {}", crate::output::escape_line(&w));
    }
}
