//! `runwire._native`: the native half of the Python package `runwire`, a thin pyo3 layer over
//! `runwire-client`. It takes and returns bytes only; the public package (`python/runwire/`)
//! converts `str` and `os.PathLike` arguments and decodes values with the filesystem encoding
//! (surrogateescape), so non-UTF-8 names and values survive the round trip.
//!
//! Failures keep the client's two kinds apart: a caller error raises the `runwire` exception
//! class for its protocol code; a runner-side fault returns the neutral value and becomes one
//! `runwire.RunwireWarning`, issued on the calling Python thread after the call (the client
//! reports it from whatever thread hit the fault, where Python may not be attached).

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, OnceLock, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};
use runwire_client::{CALLER_ERROR_CODES, Client, ClientError, EnvSelector, ErrorCode};

/// The client of the runner that spawned this process, decided on first use: `None` when
/// `RUNWIRE_SOCKET` is unset or empty (then every call is a silent no-op).
static CLIENT: OnceLock<Option<Client>> = OnceLock::new();

/// The fault warning waiting to be issued as a Python warning (the client emits at most one
/// per process).
static PENDING_WARNING: Mutex<Option<String>> = Mutex::new(None);

/// Where the exception and warning classes live (Python code, so they are documented and
/// typed like the rest of the facade).
const ERRORS_MODULE: &str = "runwire._errors";

fn client() -> Option<&'static Client> {
    CLIENT
        .get_or_init(|| {
            Client::from_env().map(|client| {
                client
                    .with_name("runwire (Python)")
                    .with_warning_sink(|message| {
                        *PENDING_WARNING
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Some(message.to_owned());
                    })
            })
        })
        .as_ref()
}

/// A bad argument found on this side of the client (the selector shape), with its code.
struct ArgumentError {
    code: ErrorCode,
    message: String,
}

impl From<ClientError> for ArgumentError {
    fn from(error: ClientError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// The `runwire` exception for `error`: `runwire._errors._error_for(code, message)`.
fn raise(py: Python<'_>, error: ArgumentError) -> PyErr {
    static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let factory = FACTORY.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import(ERRORS_MODULE)?.getattr("_error_for")?.unbind())
    });
    match factory.and_then(|f| f.bind(py).call1((error.code as i32, error.message))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(import_failed) => import_failed,
    }
}

/// Issues the pending fault warning, if any, as a `runwire.RunwireWarning` attributed to the
/// caller of the public function (stack level 2: the facade's frame is level 1). Under
/// `-W error` Python turns it into an exception, as it does for any warning.
fn flush_warning(py: Python<'_>) -> PyResult<()> {
    static CATEGORY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let Some(message) = PENDING_WARNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return Ok(());
    };
    let category = CATEGORY.import(py, ERRORS_MODULE, "RunwireWarning")?;
    let message = CString::new(message.replace('\0', "\\0")).expect("NULs were replaced");
    PyErr::warn(py, category.as_any(), &message, 2)
}

/// Runs `call` on the client with the GIL released (other Python threads run during the
/// round trip), then issues a pending warning and maps a caller error to its exception.
fn with_client<T: Send>(
    py: Python<'_>,
    neutral: T,
    call: impl FnOnce(&Client) -> Result<T, ArgumentError> + Send,
) -> PyResult<T> {
    let Some(client) = client() else {
        return Ok(neutral);
    };
    let outcome = py.detach(|| call(client));
    flush_warning(py)?;
    outcome.map_err(|error| raise(py, error))
}

fn path(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// Whether this process runs under a runner (`RUNWIRE_SOCKET` was set when first asked).
#[pyfunction]
fn active() -> bool {
    client().is_some()
}

/// The runner's value of `name`, or `None` when it is unset or there is no runner.
#[pyfunction]
#[pyo3(signature = (name, tracked))]
fn get_env<'py>(
    py: Python<'py>,
    name: &[u8],
    tracked: bool,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let value = with_client(py, None, |client| Ok(client.get_env(name, tracked)?))?;
    Ok(value.map(|value| PyBytes::new(py, &value)))
}

/// Every variable of the runner matching exactly one of `glob` and `prefix`, as sorted
/// `(name, value)` pairs.
#[pyfunction]
#[pyo3(signature = (glob, prefix, tracked))]
fn get_envs<'py>(
    py: Python<'py>,
    glob: Option<&[u8]>,
    prefix: Option<&[u8]>,
    tracked: bool,
) -> PyResult<Bound<'py, PyList>> {
    let selector = match (glob, prefix) {
        (Some(glob), None) => Some(EnvSelector::Glob(glob.to_vec())),
        (None, Some(prefix)) => Some(EnvSelector::Prefix(prefix.to_vec())),
        _ => None,
    };
    let vars = with_client(py, Vec::new(), |client| {
        let selector = selector.ok_or_else(|| ArgumentError {
            code: ErrorCode::InvalidArgument,
            message: "get_envs needs exactly one of glob and prefix".to_owned(),
        })?;
        Ok(client.get_envs(selector, tracked)?)
    })?;
    let pairs = vars
        .iter()
        .map(|(name, value)| PyTuple::new(py, [PyBytes::new(py, name), PyBytes::new(py, value)]));
    PyList::new(py, pairs.collect::<PyResult<Vec<_>>>()?)
}

/// Nothing at or under `path` is an input of this run.
#[pyfunction]
fn ignore_input(py: Python<'_>, path: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.ignore_input(self::path(path))?))
}

/// Nothing at or under `path` is an output of this run.
#[pyfunction]
fn ignore_output(py: Python<'_>, path: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.ignore_output(self::path(path))?))
}

/// `path` is an input even if the runner did not see it read.
#[pyfunction]
fn report_input(py: Python<'_>, path: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.report_input(self::path(path))?))
}

/// `path` is an output of this run.
#[pyfunction]
fn report_output(py: Python<'_>, path: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.report_output(self::path(path))?))
}

/// The run depends on the set of paths matching `pattern` under the current directory.
#[pyfunction]
fn report_glob(py: Python<'_>, pattern: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.report_glob(pattern)?))
}

/// This run must not be cached; `reason` is shown to the user.
#[pyfunction]
fn disable_cache(py: Python<'_>, reason: &str) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.disable_cache(reason)?))
}

/// A fact the outputs depend on that the runner cannot observe.
#[pyfunction]
fn salt(py: Python<'_>, key: &str, value: &[u8]) -> PyResult<()> {
    with_client(py, (), |client| Ok(client.salt(key, value)?))
}

/// `(name, value)` of every code of the protocol's `ErrorCode` enum, in value order.
fn all_error_codes() -> Vec<(&'static str, i32)> {
    // The enum is sparse (1-99 caller errors, 100+ faults); its values stay below 1000.
    (0..1000)
        .filter_map(|value| ErrorCode::try_from(value).ok())
        .map(|code| (code.short_name(), code as i32))
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let caller: Vec<(&str, i32)> = CALLER_ERROR_CODES
        .iter()
        .map(|code| (code.short_name(), *code as i32))
        .collect();
    m.add("CALLER_ERROR_CODES", PyTuple::new(m.py(), caller)?)?;
    m.add("ERROR_CODES", PyTuple::new(m.py(), all_error_codes())?)?;
    m.add_function(wrap_pyfunction!(active, m)?)?;
    m.add_function(wrap_pyfunction!(get_env, m)?)?;
    m.add_function(wrap_pyfunction!(get_envs, m)?)?;
    m.add_function(wrap_pyfunction!(ignore_input, m)?)?;
    m.add_function(wrap_pyfunction!(ignore_output, m)?)?;
    m.add_function(wrap_pyfunction!(report_input, m)?)?;
    m.add_function(wrap_pyfunction!(report_output, m)?)?;
    m.add_function(wrap_pyfunction!(report_glob, m)?)?;
    m.add_function(wrap_pyfunction!(disable_cache, m)?)?;
    m.add_function(wrap_pyfunction!(salt, m)?)?;
    Ok(())
}
