//! The Node addon of the runwire protocol: a thin napi-rs binding of `runwire-client`.
//!
//! The runner, not the tool, supplies this file (it materializes it beside each run and
//! names it in `RUNWIRE_NODE_ADDON` and `VP_RUN_NODE_CLIENT_PATH`), so it always matches the
//! runner. It exports `load()`, returning an object with the method names and shapes of
//! vite-task's client (`getEnv`, `getEnvs`, `ignoreInput`, `ignoreOutput`, `disableCache`)
//! plus runwire's extras (`reportInput`, `reportOutput`, `reportGlob`, `salt`). vite 8 calls
//! `require(VP_RUN_NODE_CLIENT_PATH).load()` itself. The npm package `runwire` wraps the
//! object `loadRunwire()` returns: the same methods on a connection of its own, with its own
//! client name, because the runner treats the two differently: a `disableCache` through
//! `load()` (vite calls it on every server start, `vitest run` included) is shown, not
//! binding; the npm package's binds.
//!
//! Contract points that come from how vite uses the object (see clients/node/README.md):
//! `load()` never throws and never returns `undefined`; outside a runner it returns the same
//! object in no-op mode; `getEnv` answers `undefined`, never `null`, for an unset variable;
//! `getEnvs` takes a glob string or `{prefix}`; an explicit `undefined` options argument is
//! fine. Runner-side faults never throw (the Rust client turns them into a no-op and one
//! warning); caller errors throw an `Error` whose `code` is the proto's error enum name
//! (`ERROR_CODE_EMPTY_NAME`...).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use napi::bindgen_prelude::{Object, Undefined, Unknown};
use napi::{Either, ValueType};
use napi_derive::napi;
use runwire_client::{Client, ClientError, EnvSelector, ErrorCode};

/// The error `code` a JS caller sees: the proto enum name.
#[derive(Debug, Clone, Copy)]
pub struct Code(ErrorCode);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0.as_str_name()
    }
}

type Result<T> = napi::Result<T, Code>;

fn caller_error(error: &ClientError) -> napi::Error<Code> {
    napi::Error::new(Code(error.code()), error.message().to_owned())
}

fn invalid(message: String) -> napi::Error<Code> {
    napi::Error::new(Code(ErrorCode::InvalidArgument), message)
}

/// The `Hello.client_name` of the object `load()` returns (vite-task's compatibility
/// object). The runner shows its `disableCache` without letting it decide: vite's server
/// code calls it on every start, `vitest run` included. Kept in step with
/// `crates/runwire/src/node_addon.rs`.
const COMPAT_NAME: &str = "vite-task compat (runwire Node addon)";
/// The `Hello.client_name` of the object `loadRunwire()` returns (the npm package `runwire`).
const NPM_NAME: &str = "runwire (npm)";

/// One client per process and object kind, shared by every `load()` (or `loadRunwire()`)
/// result on every thread (vite and each plugin that bundles the vite-task client call
/// `load()` separately; worker threads load the addon again). The two kinds use separate
/// connections, since the runner knows a tool by its connection's Hello. `None` outside a
/// runner.
fn client(compat: bool) -> Option<&'static Client> {
    static COMPAT: OnceLock<Option<Client>> = OnceLock::new();
    static NPM: OnceLock<Option<Client>> = OnceLock::new();
    let (cell, name) = if compat {
        (&COMPAT, COMPAT_NAME)
    } else {
        (&NPM, NPM_NAME)
    };
    cell.get_or_init(|| Client::from_env().map(|c| c.with_name(name)))
        .as_ref()
}

/// The object `load()` and `loadRunwire()` return. Its methods are the whole API; it only
/// knows which of the two it is.
#[napi]
#[derive(Debug)]
pub struct RunwireClient {
    compat: bool,
}

/// Returns the vite-task compatible client object. Arguments are ignored: the vite-task
/// wrapper calls it with none today and may pass `{version}` one day.
#[napi(ts_args_type = "options?: unknown")]
pub fn load() -> RunwireClient {
    RunwireClient { compat: true }
}

/// Returns the npm package's client object: the same methods, its own connection and name,
/// and its `disableCache` decides.
#[napi]
pub fn load_runwire() -> RunwireClient {
    RunwireClient { compat: false }
}

#[napi]
impl RunwireClient {
    fn client(&self) -> Option<&'static Client> {
        client(self.compat)
    }

    /// Whether this process runs under a runwire runner (`RUNWIRE_SOCKET` set). Outside a
    /// runner every method is a no-op.
    #[napi(getter)]
    pub fn active(&self) -> bool {
        self.client().is_some()
    }

    /// The runner's value of the variable `name`, or `undefined` when it is unset (or when
    /// there is no runner). `tracked` (default `true`): a change of this variable, including
    /// it appearing or disappearing, invalidates the cached run.
    #[napi(
        ts_args_type = "name: string, options?: GetEnvOptions | undefined",
        ts_return_type = "string | undefined"
    )]
    pub fn get_env(
        &self,
        name: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Either<String, Undefined>> {
        // No runner: nothing is checked, arguments included (spec/protocol.md, "Discovery").
        let Some(client) = self.client() else {
            return Ok(Either::B(()));
        };
        let name = string_arg("getEnv name", &name)?;
        let tracked = tracked_option("getEnv", options.as_ref())?;
        let value = client
            .get_env(name.as_bytes(), tracked)
            .map_err(|e| caller_error(&e))?;
        Ok(match value {
            Some(bytes) => Either::A(String::from_utf8_lossy(&bytes).into_owned()),
            None => Either::B(()),
        })
    }

    /// Every runner variable matching `query` (a glob such as `"VITE_*"`, or `{prefix}` for a
    /// literal prefix) as a plain object, names sorted. `{}` outside a runner. `tracked`
    /// (default `true`): the set of matches and their values become part of the cache key.
    #[napi(
        ts_args_type = "query: string | { prefix: string }, options?: GetEnvOptions | undefined",
        ts_return_type = "Record<string, string>"
    )]
    pub fn get_envs(
        &self,
        query: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<BTreeMap<String, String>> {
        let Some(client) = self.client() else {
            return Ok(BTreeMap::new());
        };
        let selector = selector_arg(&query)?;
        let tracked = tracked_option("getEnvs", options.as_ref())?;
        let vars = client
            .get_envs(selector, tracked)
            .map_err(|e| caller_error(&e))?;
        Ok(vars
            .into_iter()
            .map(|(name, value)| {
                (
                    String::from_utf8_lossy(&name).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect())
    }

    /// Reads at or under `path` are not inputs of this run (a tool's private cache dir).
    #[napi(ts_args_type = "path: string")]
    pub fn ignore_input(&self, path: Unknown<'_>) -> Result<()> {
        path_call(self.client(), "ignoreInput path", &path, |c, p| {
            c.ignore_input(p)
        })
    }

    /// Writes at or under `path` are not outputs of this run and are never archived.
    #[napi(ts_args_type = "path: string")]
    pub fn ignore_output(&self, path: Unknown<'_>) -> Result<()> {
        path_call(self.client(), "ignoreOutput path", &path, |c, p| {
            c.ignore_output(p)
        })
    }

    /// This run must not be cached (a dev server, a watch mode); `reason` is shown to the
    /// user. The vite-task client passes no reason.
    #[napi(ts_args_type = "reason?: string | undefined")]
    pub fn disable_cache(&self, reason: Option<Unknown<'_>>) -> Result<()> {
        let Some(client) = self.client() else {
            return Ok(());
        };
        let reason = match reason {
            Some(value) if !is_nullish(&value)? => string_arg("disableCache reason", &value)?,
            _ => String::new(),
        };
        client.disable_cache(&reason).map_err(|e| caller_error(&e))
    }

    /// `path` is an input even if the runner did not see it read.
    #[napi(ts_args_type = "path: string")]
    pub fn report_input(&self, path: Unknown<'_>) -> Result<()> {
        path_call(self.client(), "reportInput path", &path, |c, p| {
            c.report_input(p)
        })
    }

    /// `path` is an output of this run even if the runner did not see it written.
    #[napi(ts_args_type = "path: string")]
    pub fn report_output(&self, path: Unknown<'_>) -> Result<()> {
        path_call(self.client(), "reportOutput path", &path, |c, p| {
            c.report_output(p)
        })
    }

    /// The run depends on the set of files matching `pattern`, relative to the current
    /// directory.
    #[napi(ts_args_type = "pattern: string")]
    pub fn report_glob(&self, pattern: Unknown<'_>) -> Result<()> {
        let Some(client) = self.client() else {
            return Ok(());
        };
        let pattern = string_arg("reportGlob pattern", &pattern)?;
        client.report_glob(&pattern).map_err(|e| caller_error(&e))
    }

    /// A fact the outputs depend on that the runner cannot observe (a compiler version).
    #[napi(ts_args_type = "key: string, value: string")]
    pub fn salt(&self, key: Unknown<'_>, value: Unknown<'_>) -> Result<()> {
        let Some(client) = self.client() else {
            return Ok(());
        };
        let key = string_arg("salt key", &key)?;
        let value = string_arg("salt value", &value)?;
        client
            .salt(&key, value.as_bytes())
            .map_err(|e| caller_error(&e))
    }
}

/// Options of `getEnv` and `getEnvs`.
#[napi(object)]
#[derive(Debug)]
pub struct GetEnvOptions {
    /// Default `true`: the run depends on the answer.
    pub tracked: Option<bool>,
}

fn js_error(error: &napi::Error) -> napi::Error<Code> {
    invalid(error.reason.clone())
}

fn is_nullish(value: &Unknown<'_>) -> Result<bool> {
    let kind = value.get_type().map_err(|e| js_error(&e))?;
    Ok(matches!(kind, ValueType::Undefined | ValueType::Null))
}

/// A string argument, or a caller error naming the argument and what was passed instead.
fn string_arg(what: &str, value: &Unknown<'_>) -> Result<String> {
    let kind = value.get_type().map_err(|e| js_error(&e))?;
    if kind != ValueType::String {
        return Err(invalid(format!("{what} must be a string, got {kind}")));
    }
    // SAFETY: the type was checked just above.
    unsafe { value.cast::<String>() }.map_err(|e| js_error(&e))
}

/// `options.tracked`: absent, `undefined` or `null` options and an absent or `undefined`
/// `tracked` mean `true` (vite passes `undefined`).
fn tracked_option(what: &str, options: Option<&Unknown<'_>>) -> Result<bool> {
    let Some(options) = options else {
        return Ok(true);
    };
    match options.get_type().map_err(|e| js_error(&e))? {
        ValueType::Undefined | ValueType::Null => Ok(true),
        ValueType::Object => {
            // SAFETY: the type was checked just above.
            let object = unsafe { options.cast::<Object<'_>>() }.map_err(|e| js_error(&e))?;
            let tracked: Option<Unknown<'_>> = object.get("tracked").map_err(|e| js_error(&e))?;
            match tracked {
                None => Ok(true),
                Some(value) => match value.get_type().map_err(|e| js_error(&e))? {
                    ValueType::Undefined => Ok(true),
                    // SAFETY: the type was checked just above.
                    ValueType::Boolean => unsafe { value.cast::<bool>() }.map_err(|e| js_error(&e)),
                    other => Err(invalid(format!(
                        "{what} options.tracked must be a boolean, got {other}"
                    ))),
                },
            }
        }
        other => Err(invalid(format!(
            "{what} options must be an object, got {other}"
        ))),
    }
}

/// `"GLOB*"` or `{prefix: "..."}`: vite sends the object form, the published typings allow
/// both.
fn selector_arg(query: &Unknown<'_>) -> Result<EnvSelector> {
    match query.get_type().map_err(|e| js_error(&e))? {
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let glob = unsafe { query.cast::<String>() }.map_err(|e| js_error(&e))?;
            Ok(EnvSelector::Glob(glob.into_bytes()))
        }
        ValueType::Object => {
            // SAFETY: the type was checked just above.
            let object = unsafe { query.cast::<Object<'_>>() }.map_err(|e| js_error(&e))?;
            let prefix: Option<Unknown<'_>> = object.get("prefix").map_err(|e| js_error(&e))?;
            match prefix {
                Some(prefix) => {
                    let prefix = string_arg("getEnvs query.prefix", &prefix)?;
                    Ok(EnvSelector::Prefix(prefix.into_bytes()))
                }
                None => Err(invalid(
                    "getEnvs query must be a glob string or {prefix: string}; the object has no prefix"
                        .to_owned(),
                )),
            }
        }
        other => Err(invalid(format!(
            "getEnvs query must be a glob string or {{prefix: string}}, got {other}"
        ))),
    }
}

fn path_call(
    client: Option<&Client>,
    what: &str,
    path: &Unknown<'_>,
    call: impl FnOnce(&Client, &OsStr) -> std::result::Result<(), ClientError>,
) -> Result<()> {
    let Some(client) = client else {
        return Ok(());
    };
    let path = string_arg(what, path)?;
    call(client, OsStr::from_bytes(path.as_bytes())).map_err(|e| caller_error(&e))
}
