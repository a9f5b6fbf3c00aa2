//! The connection, the handshake and one method per message.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prost::Message;
use runwire_model::arg::{self as validate, ArgError};
use runwire_model::{EnvGlob, EnvSelector};
use runwire_proto::frame::{self, FrameError};
use runwire_proto::v1::{self, client_message::Body, get_envs::Selector, server_message};
use runwire_proto::{DEFAULT_MAX_FRAME_LEN, ErrorCode, SOCKET_ENV, SUPPORTED_VERSIONS};

use crate::error::ClientError;

/// Set once the first warning of this process is printed: one warning per process, however
/// many clients or calls fail.
static WARNED: AtomicBool = AtomicBool::new(false);

/// `(name, value)` pairs answered by `get_envs`, sorted by name bytes.
pub type EnvVars = Vec<(Vec<u8>, Vec<u8>)>;

/// The client name a [`Client`] sends unless a binding sets its own ([`Client::with_name`]).
pub const DEFAULT_NAME: &str = "runwire-client (Rust)";

/// A connection to the runner. Cheap to create (nothing happens until the first call), safe
/// to share between threads (calls on one client are serialized on one connection; use one
/// client per thread for parallel round trips).
pub struct Client {
    socket: PathBuf,
    /// Sent in `Hello`: the runner names the tool by it in what it shows.
    name: String,
    state: Mutex<State>,
    faulted: AtomicBool,
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

#[derive(Default)]
struct State {
    conn: Option<Conn>,
    next_id: u64,
}

struct Conn {
    /// Buffered for reading only (an answer arrives in one read call instead of two: length,
    /// then payload); writes go straight to the socket through `get_mut`.
    stream: BufReader<UnixStream>,
    /// The process that opened it: a forked child must not share its parent's connection
    /// (their frames would interleave), so it opens its own.
    pid: u32,
    max_frame_len: u32,
    capabilities: Vec<String>,
    write_buf: Vec<u8>,
    read_buf: Vec<u8>,
}

/// Why a call could not reach the runner: becomes the warning, never an error.
struct Fault(String);

impl From<FrameError> for Fault {
    fn from(error: FrameError) -> Self {
        Self(error.to_string())
    }
}

impl From<io::Error> for Fault {
    fn from(error: io::Error) -> Self {
        Self(error.to_string())
    }
}

/// The outcome of a query: an answer, a caller error, or a fault (already handled).
enum Answer {
    Body(server_message::Body),
    Fault,
}

impl Client {
    /// The runner's client when this process runs under one (`RUNWIRE_SOCKET` set and
    /// non-empty), else `None`.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(SOCKET_ENV)
            .filter(|path| !path.is_empty())
            .map(Self::connect)
    }

    /// A client of the socket at `path`. Connects and shakes hands on first use.
    pub fn connect(path: impl Into<PathBuf>) -> Self {
        Self {
            socket: path.into(),
            name: DEFAULT_NAME.to_owned(),
            state: Mutex::new(State::default()),
            faulted: AtomicBool::new(false),
            warn: Box::new(|message| eprintln!("{message}")),
        }
    }

    /// The client name sent in `Hello` (default "runwire-client (Rust)"): each binding
    /// sends its own, and the runner names the tool by it ("runwire (npm) disabled
    /// caching: ..."). For diagnostics only; it never changes the cache key.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sends the fault warning to `sink` instead of stderr (a binding may route it to its
    /// language's console). Still at most one warning per process.
    #[must_use]
    pub fn with_warning_sink(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warn = Box::new(sink);
        self
    }

    /// The socket this client talks to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Whether a runner-side fault happened; from then on every call is a no-op.
    pub fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Relaxed)
    }

    /// The runner's value of the variable `name` (`None`: unset). `tracked`: the run depends
    /// on it (see `GetEnv.tracked` in the protocol).
    pub fn get_env(&self, name: &[u8], tracked: bool) -> Result<Option<Vec<u8>>, ClientError> {
        validate::env_name(name)?;
        let body = Body::GetEnv(v1::GetEnv {
            name: name.to_vec(),
            tracked,
        });
        Ok(match self.query(body, "get_env")? {
            Answer::Body(server_message::Body::GetEnv(response)) => response.value,
            Answer::Body(other) => {
                self.fault(&unexpected("get_env", &other));
                None
            }
            Answer::Fault => None,
        })
    }

    /// Every variable of the runner matching `selector`, sorted by name bytes.
    pub fn get_envs(&self, selector: EnvSelector, tracked: bool) -> Result<EnvVars, ClientError> {
        let selector = match selector {
            EnvSelector::Glob(pattern) => {
                EnvGlob::new(&pattern)?;
                Selector::Glob(pattern)
            }
            EnvSelector::Prefix(prefix) => {
                validate::env_prefix(&prefix)?;
                Selector::Prefix(prefix)
            }
        };
        let body = Body::GetEnvs(v1::GetEnvs {
            selector: Some(selector),
            tracked,
        });
        Ok(match self.query(body, "get_envs")? {
            Answer::Body(server_message::Body::GetEnvs(response)) => response
                .vars
                .into_iter()
                .map(|var| (var.name, var.value))
                .collect(),
            Answer::Body(other) => {
                self.fault(&unexpected("get_envs", &other));
                Vec::new()
            }
            Answer::Fault => Vec::new(),
        })
    }

    /// Nothing at or under `path` is an input of this run. Relative paths are resolved
    /// against the current directory now, lexically.
    pub fn ignore_input(&self, path: impl AsRef<Path>) -> Result<(), ClientError> {
        let path = absolute("ignore_input path", path.as_ref())?;
        self.report(Body::IgnoreInput(v1::IgnoreInput { path }), "ignore_input");
        Ok(())
    }

    /// Nothing at or under `path` is an output of this run.
    pub fn ignore_output(&self, path: impl AsRef<Path>) -> Result<(), ClientError> {
        let path = absolute("ignore_output path", path.as_ref())?;
        self.report(
            Body::IgnoreOutput(v1::IgnoreOutput { path }),
            "ignore_output",
        );
        Ok(())
    }

    /// This run must not be cached; `reason` is shown to the user.
    pub fn disable_cache(&self, reason: &str) -> Result<(), ClientError> {
        let body = Body::DisableCache(v1::DisableCache {
            reason: reason.to_owned(),
        });
        self.report(body, "disable_cache");
        Ok(())
    }

    /// `path` is an input even if the runner's tracer did not see it read.
    pub fn report_input(&self, path: impl AsRef<Path>) -> Result<(), ClientError> {
        let path = absolute("report_input path", path.as_ref())?;
        self.report(Body::ReportInput(v1::ReportInput { path }), "report_input");
        Ok(())
    }

    /// `path` is an output of this run.
    pub fn report_output(&self, path: impl AsRef<Path>) -> Result<(), ClientError> {
        let path = absolute("report_output path", path.as_ref())?;
        self.report(
            Body::ReportOutput(v1::ReportOutput { path }),
            "report_output",
        );
        Ok(())
    }

    /// The run depends on the set of paths matching `pattern`, relative to the current
    /// directory (sent along as the base).
    pub fn report_glob(&self, pattern: impl AsRef<[u8]>) -> Result<(), ClientError> {
        let pattern = pattern.as_ref();
        validate::file_glob(pattern)?;
        let base = absolute("report_glob base", Path::new("."))?;
        let body = Body::ReportGlob(v1::ReportGlob {
            base,
            pattern: pattern.to_vec(),
        });
        self.report(body, "report_glob");
        Ok(())
    }

    /// A fact the outputs depend on that the runner cannot observe (a compiler version).
    pub fn salt(&self, key: &str, value: &[u8]) -> Result<(), ClientError> {
        validate::salt_key(key)?;
        let body = Body::Salt(v1::Salt {
            key: key.to_owned(),
            value: value.to_vec(),
        });
        self.report(body, "salt");
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a query and reads its answer. A caller error from the server becomes `Err`.
    fn query(&self, body: Body, capability: &str) -> Result<Answer, ClientError> {
        if self.faulted() {
            return Ok(Answer::Fault);
        }
        let mut state = self.lock();
        let outcome = self.round_trip(&mut state, body, capability);
        match outcome {
            Ok(server_message::Body::Error(error)) => {
                // Classified by value range, so a caller-error code added after this client
                // was built is still reported to the caller (as the generic code).
                if (1..100).contains(&error.code) {
                    let code =
                        ErrorCode::try_from(error.code).unwrap_or(ErrorCode::InvalidArgument);
                    return Err(runwire_proto::arg_error(code, error.message).into());
                }
                let code = ErrorCode::try_from(error.code).unwrap_or(ErrorCode::Unspecified);
                drop(state);
                self.fault(&format!(
                    "the runner refused {capability}: {} ({})",
                    error.message,
                    code.short_name()
                ));
                Ok(Answer::Fault)
            }
            Ok(body) => Ok(Answer::Body(body)),
            Err(Fault(reason)) => {
                state.conn = None;
                drop(state);
                self.fault(&reason);
                Ok(Answer::Fault)
            }
        }
    }

    fn round_trip(
        &self,
        state: &mut State,
        body: Body,
        capability: &str,
    ) -> Result<server_message::Body, Fault> {
        let (conn, request_id) = self.send(state, body, capability)?;
        conn.receive(request_id)
    }

    /// Sends `body` on the connection, opening it first if needed. A new connection carries
    /// the message in Hello's write (pipelining, spec/protocol.md), so a process's first
    /// query costs one round trip, not two. Returns the connection and the request id.
    fn send<'s>(
        &self,
        state: &'s mut State,
        body: Body,
        capability: &str,
    ) -> Result<(&'s mut Conn, u64), Fault> {
        let pid = std::process::id();
        if state.conn.as_ref().is_some_and(|conn| conn.pid != pid) {
            // Forked: the parent keeps its connection; this process opens its own.
            state.conn = None;
        }
        let hello_id = state.conn.is_none().then(|| next_id(state));
        let request_id = next_id(state);
        let message = v1::ClientMessage {
            request_id,
            body: Some(body),
        };
        if let Some(hello_id) = hello_id {
            let conn = Conn::open(
                &self.socket,
                &self.name,
                pid,
                hello_id,
                &message,
                capability,
            )?;
            return Ok((state.conn.insert(conn), request_id));
        }
        let conn = state.conn.as_mut().expect("kept: no Hello was needed");
        conn.require(capability)?;
        conn.send(&message)?;
        Ok((conn, request_id))
    }

    /// Sends a report; it is in the socket when this returns.
    fn report(&self, body: Body, capability: &str) {
        if self.faulted() {
            return;
        }
        let mut state = self.lock();
        if let Err(Fault(reason)) = self.send(&mut state, body, capability).map(drop) {
            state.conn = None;
            drop(state);
            self.fault(&reason);
        }
    }

    fn fault(&self, reason: &str) {
        self.faulted.store(true, Ordering::Relaxed);
        if !WARNED.swap(true, Ordering::Relaxed) {
            (self.warn)(&format!(
                "runwire: lost contact with the task runner at {} ({reason}); continuing without it, and the runner will not cache this run",
                self.socket.display()
            ));
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .field("name", &self.name)
            .field("faulted", &self.faulted())
            .finish_non_exhaustive()
    }
}

fn next_id(state: &mut State) -> u64 {
    state.next_id += 1;
    state.next_id
}

impl Conn {
    /// Connects, shakes hands and sends `first`: in Hello's write when the spec allows it
    /// (pipelining), else once `HelloResponse` has listed its body.
    fn open(
        socket: &Path,
        name: &str,
        pid: u32,
        hello_id: u64,
        first: &v1::ClientMessage,
        capability: &str,
    ) -> Result<Self, Fault> {
        let stream = UnixStream::connect(socket)
            .map_err(|error| Fault(format!("cannot connect: {error}")))?;
        let mut conn = Self {
            stream: BufReader::with_capacity(4096, stream),
            pid,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            capabilities: vec!["hello".to_owned()],
            write_buf: Vec::with_capacity(256),
            read_buf: Vec::with_capacity(256),
        };
        let hello = v1::ClientMessage {
            request_id: hello_id,
            body: Some(Body::Hello(v1::Hello {
                client_name: name.to_owned(),
                client_version: env!("CARGO_PKG_VERSION").to_owned(),
                supported_versions: SUPPORTED_VERSIONS.to_vec(),
            })),
        };
        let pipelined =
            runwire_proto::pipelinable(SUPPORTED_VERSIONS, capability, first.encoded_len());
        conn.write_buf.clear();
        frame::encode_frame(&hello, &mut conn.write_buf);
        if pipelined {
            frame::encode_frame(first, &mut conn.write_buf);
        }
        conn.stream
            .get_mut()
            .write_all(&conn.write_buf)
            .map_err(|error| Fault(format!("cannot send: {error}")))?;
        conn.handshake(hello_id)?;
        // Checked after a pipelined send too: a server that leaves out a v1 body breaks the
        // spec and has already refused the message; this client stops here either way.
        conn.require(capability)?;
        if !pipelined {
            conn.send(first)?;
        }
        Ok(conn)
    }

    /// Reads the answer to Hello and takes on what it says.
    fn handshake(&mut self, hello_id: u64) -> Result<(), Fault> {
        match self.receive(hello_id)? {
            server_message::Body::HelloResponse(hello) => {
                if !SUPPORTED_VERSIONS.contains(&hello.version) {
                    return Err(Fault(format!(
                        "the runner chose protocol version {}, which this client does not speak",
                        hello.version
                    )));
                }
                if (1..runwire_proto::PIPELINED_FRAME_MAX_LEN).contains(&hello.max_frame_length) {
                    // A frame that size may already be in the socket behind Hello: the
                    // runner broke a MUST, so the handshake failed (spec/framing.md).
                    return Err(Fault(format!(
                        "the runner advertised a maximum frame of {} bytes, below the {} a client may already have sent",
                        hello.max_frame_length,
                        runwire_proto::PIPELINED_FRAME_MAX_LEN
                    )));
                }
                if hello.max_frame_length != 0 {
                    self.max_frame_len = hello.max_frame_length;
                }
                self.capabilities = hello.capabilities;
                Ok(())
            }
            server_message::Body::Error(error) => Err(Fault(format!(
                "the runner refused the handshake: {} ({})",
                error.message,
                ErrorCode::try_from(error.code).map_or("unknown code", ErrorCode::short_name)
            ))),
            other => Err(Fault(unexpected("hello", &other))),
        }
    }

    /// A body the server did not advertise must not be sent (spec/versioning.md).
    fn require(&self, capability: &str) -> Result<(), Fault> {
        if self.capabilities.iter().any(|c| c == capability) {
            Ok(())
        } else {
            Err(Fault(format!("the runner does not accept {capability}")))
        }
    }

    fn send(&mut self, message: &v1::ClientMessage) -> Result<(), Fault> {
        frame::write_message(
            self.stream.get_mut(),
            message,
            self.max_frame_len,
            &mut self.write_buf,
        )
        .map_err(|error| Fault(format!("cannot send: {error}")))
    }

    fn receive(&mut self, request_id: u64) -> Result<server_message::Body, Fault> {
        let message: v1::ServerMessage =
            frame::read_message(&mut self.stream, self.max_frame_len, &mut self.read_buf)?
                .ok_or_else(|| Fault("the runner closed the connection".to_owned()))?;
        if message.request_id != request_id {
            return Err(Fault(format!(
                "the runner answered request {} while request {request_id} was waiting",
                message.request_id
            )));
        }
        message
            .body
            .ok_or_else(|| Fault("the runner sent an answer with no body".to_owned()))
    }
}

fn unexpected(query: &str, body: &server_message::Body) -> String {
    let got = match body {
        server_message::Body::HelloResponse(_) => "hello_response",
        server_message::Body::GetEnv(_) => "get_env",
        server_message::Body::GetEnvs(_) => "get_envs",
        server_message::Body::Error(_) => "error",
    };
    format!("the runner answered {query} with {got}")
}

/// Checks a path argument and makes it absolute against the current directory, lexically.
fn absolute(what: &str, path: &Path) -> Result<Vec<u8>, ClientError> {
    validate::path(what, path.as_os_str().as_bytes())?;
    let resolved = if path.is_absolute() {
        runwire_model::path::normalize(path)
    } else {
        let cwd = std::env::current_dir().map_err(|error| {
            ArgError::InvalidPath(format!(
                "{what} {} is relative and the current directory is unavailable ({error})",
                path.display()
            ))
        })?;
        runwire_model::path::absolutize(&cwd, path)
    };
    Ok(OsStr::as_bytes(resolved.as_os_str()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
    }

    #[test]
    fn caller_errors_come_before_any_io() {
        // No socket exists at this path: a caller error must still be reported as such,
        // and must not fault the client.
        let client = Client::connect("/nonexistent/runwire.sock").with_warning_sink(|_| {});
        let cases: Vec<(Result<(), ClientError>, ErrorCode)> = vec![
            (client.get_env(b"", true).map(drop), ErrorCode::EmptyName),
            (
                client.get_env(b"A=B", true).map(drop),
                ErrorCode::InvalidName,
            ),
            (
                client.get_env(b"A\0", false).map(drop),
                ErrorCode::InvalidName,
            ),
            (
                client.get_envs(EnvSelector::Glob(vec![]), true).map(drop),
                ErrorCode::EmptyPattern,
            ),
            (
                client
                    .get_envs(EnvSelector::Glob(b"A[".to_vec()), true)
                    .map(drop),
                ErrorCode::InvalidPattern,
            ),
            (
                client.get_envs(EnvSelector::Prefix(vec![]), true).map(drop),
                ErrorCode::EmptyPattern,
            ),
            (client.ignore_input(""), ErrorCode::EmptyPath),
            (
                client.ignore_output(OsStr::from_bytes(b"a\0b")),
                ErrorCode::InvalidPath,
            ),
            (client.report_input(""), ErrorCode::EmptyPath),
            (client.report_output(""), ErrorCode::EmptyPath),
            (client.report_glob(""), ErrorCode::EmptyPattern),
            (client.salt("", b"v"), ErrorCode::EmptyKey),
        ];
        for (i, (result, code)) in cases.into_iter().enumerate() {
            assert_eq!(result.map_err(|e| e.code()), Err(code), "case {i}");
        }
        assert!(!client.faulted());
    }

    #[test]
    fn relative_paths_resolve_against_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let resolved = absolute("path", Path::new("a/../b/./c")).unwrap();
        assert_eq!(Path::new(OsStr::from_bytes(&resolved)), cwd.join("b/c"));
        assert_eq!(absolute("path", Path::new("/x/./y/")).unwrap(), b"/x/y");
    }
}
