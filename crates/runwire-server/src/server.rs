//! Starting, draining and stopping one server. Plain sync API: the tokio runtime lives on a
//! thread of its own (current-thread runtime: one wake-up per message, no cross-thread
//! hand-off, which is what keeps a round trip close to a raw socket's).

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use interprocess::local_socket::traits::StreamCommon;
use interprocess::local_socket::traits::tokio::Listener as _;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::uds_local_socket::tokio::{Listener, Stream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::config::{ServerConfig, ServerError};
use crate::declaration::{DiagnosticCode, ServerReport};
use crate::session::{self, Recorded, Shared, lock};

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Entry point: `Server::start(config)`.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Creates a fresh 0700 directory, binds the socket in it and starts serving on a
    /// background thread. Returns once the socket accepts connections.
    pub fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        if config.max_frame_len < runwire_proto::PIPELINED_FRAME_MAX_LEN {
            return Err(ServerError::FrameLimitTooSmall {
                len: config.max_frame_len,
                min: runwire_proto::PIPELINED_FRAME_MAX_LEN,
            });
        }
        let parent = config
            .socket_parent
            .clone()
            .or_else(|| {
                std::env::var_os("XDG_RUNTIME_DIR")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
            })
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        remove_stale_dirs(&parent);
        let (dir, owner) = private_dir(&parent)?;
        let socket_path = dir.path().join("s");
        let len = socket_path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(ServerError::SocketPathTooLong {
                path: socket_path,
                len,
                max: MAX_SOCKET_PATH,
            });
        }

        let shared = Arc::new(Shared {
            // The runner's secrets are not in the snapshot at all: every query then answers
            // them exactly as it answers a variable that is not set.
            env: config
                .env
                .into_iter()
                .filter(|(name, _)| !crate::config::is_runner_secret(name))
                .collect(),
            policy: config.policy,
            max_frame_len: config.max_frame_len,
            server_name: config.server_name,
            server_version: config.server_version,
            recorded: Mutex::new(Recorded::default()),
            open: Mutex::new(BTreeSet::new()),
            accepted: AtomicU64::new(0),
        });
        let (ready_tx, ready_rx) = mpsc::channel();
        let (finish_tx, finish_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_path = socket_path.clone();
        let thread = std::thread::Builder::new()
            .name("runwire-server".to_owned())
            .spawn(move || run(&thread_path, thread_shared, &ready_tx, finish_rx))
            .map_err(ServerError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(RunningServer {
                _owner: owner,
                dir: Some(dir),
                socket_path,
                finish: Some(finish_tx),
                thread: Some(thread),
                shared,
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(ServerError::Runtime(std::io::Error::other(
                "the server thread stopped before binding",
            ))),
        }
    }
}

/// A server that is accepting connections. Call [`RunningServer::finish`] after the tool's
/// process tree has exited; dropping it instead stops at once and discards the report.
#[derive(Debug)]
pub struct RunningServer {
    /// The locked `owner.lock` of the socket directory: held for the server's lifetime,
    /// released by the kernel when this process dies, however it dies.
    _owner: std::fs::File,
    dir: Option<tempfile::TempDir>,
    socket_path: PathBuf,
    finish: Option<oneshot::Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl RunningServer {
    /// The socket to put in `RUNWIRE_SOCKET`.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Stops accepting, serves every connection that is already open or waiting in the
    /// backlog until it closes or `deadline` passes (a connection still open then is a
    /// `lingering_connection` diagnostic and is closed), removes the socket directory and
    /// returns what was declared.
    pub fn finish(mut self, deadline: Duration) -> ServerReport {
        self.stop(deadline);
        let mut recorded = std::mem::take(&mut *lock(&self.shared.recorded));
        recorded.declarations.sort();
        recorded.declarations.dedup();
        ServerReport {
            declarations: recorded.declarations,
            diagnostics: recorded.diagnostics,
            connections: self.shared.accepted.load(Ordering::Relaxed),
        }
    }

    fn stop(&mut self, deadline: Duration) {
        if let Some(finish) = self.finish.take() {
            let _ = finish.send(deadline);
        }
        if let Some(thread) = self.thread.take() {
            // The thread catches nothing: a panic there would be a bug, reported as such.
            if thread.join().is_err() {
                self.shared.diagnose(
                    None,
                    DiagnosticCode::Internal,
                    "the server thread panicked; declarations may be incomplete".to_owned(),
                );
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// The lock file in each socket directory, locked (`flock`) by the server's process for as
/// long as it runs.
const OWNER_LOCK: &str = "owner.lock";

/// A fresh 0700 `runwire-*` directory with its `owner.lock` already locked: the lock is
/// taken on a temporary name and then renamed, so `owner.lock` is never seen unlocked while
/// its owner lives.
fn private_dir(parent: &Path) -> Result<(tempfile::TempDir, std::fs::File), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let socket_dir = |source| ServerError::SocketDir {
        parent: parent.to_path_buf(),
        source,
    };
    let dir = tempfile::Builder::new()
        .prefix("runwire-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(socket_dir)?;
    let tmp = dir.path().join(".owner.lock.tmp");
    let owner = std::fs::File::create(&tmp).map_err(socket_dir)?;
    if !try_lock(&owner) {
        return Err(socket_dir(std::io::Error::last_os_error()));
    }
    std::fs::rename(&tmp, dir.path().join(OWNER_LOCK)).map_err(socket_dir)?;
    Ok((dir, owner))
}

/// An exclusive, non-blocking `flock`.
fn try_lock(file: &std::fs::File) -> bool {
    // SAFETY: flock on a valid, open fd.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes the socket directories of servers whose process died without cleaning up (a
/// runner killed with SIGKILL): a `runwire-*` directory of ours whose `owner.lock` nobody
/// holds. A live server's directory is never touched (its lock is held), nor a directory
/// without `owner.lock` (another program's, or one being created). Best effort.
fn remove_stale_dirs(parent: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let uid = current_euid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().starts_with(b"runwire-") {
            continue;
        }
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if !ours {
            continue;
        }
        let Ok(lock) = std::fs::File::open(path.join(OWNER_LOCK)) else {
            continue;
        };
        if try_lock(&lock) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn run(
    path: &Path,
    shared: Arc<Shared>,
    ready: &mpsc::Sender<Result<(), ServerError>>,
    finish: oneshot::Receiver<Duration>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(ServerError::Runtime(error)));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match bind(path) {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        serve(listener, shared, finish).await;
    });
}

fn bind(path: &Path) -> Result<Listener, ServerError> {
    let bind_error = |source| ServerError::Bind {
        path: path.to_path_buf(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(bind_error)?;
    ListenerOptions::new()
        .name(name)
        .create_tokio_as::<Listener>()
        .map_err(bind_error)
}

async fn serve(listener: Listener, shared: Arc<Shared>, mut finish: oneshot::Receiver<Duration>) {
    let uid = current_euid();
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    let deadline = loop {
        tokio::select! {
            deadline = &mut finish => break deadline.unwrap_or(Duration::ZERO),
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    next_id += 1;
                    admit(next_id, stream, uid, &shared, &mut sessions);
                }
                Err(error) => shared.diagnose(None, DiagnosticCode::Io, format!("accept failed: {error}")),
            },
            // Reap finished sessions as we go so the set stays small.
            Some(done) = sessions.join_next(), if !sessions.is_empty() => reaped(done, &shared),
        }
    };

    // The tool's processes have exited, so every connection they made is established or
    // waiting in the backlog; take the backlog before waiting, so none is missed.
    while backlog_ready(&listener) {
        match listener.accept().await {
            Ok(stream) => {
                next_id += 1;
                admit(next_id, stream, uid, &shared, &mut sessions);
            }
            Err(_) => break,
        }
    }
    drop(listener);

    let drained = tokio::time::timeout(deadline, async {
        while let Some(done) = sessions.join_next().await {
            reaped(done, &shared);
        }
    })
    .await;
    if drained.is_err() {
        let open: Vec<u64> = lock(&shared.open).iter().copied().collect();
        for id in open {
            shared.diagnose(
                Some(id),
                DiagnosticCode::LingeringConnection,
                format!(
                    "still open {} ms after the task exited; closed (a process outlived the task while holding the connection)",
                    deadline.as_millis()
                ),
            );
        }
        sessions.abort_all();
        while sessions.join_next().await.is_some() {}
    }
}

/// A session task ended; a panic in it (a server bug) is reported, not propagated.
fn reaped(done: Result<(), tokio::task::JoinError>, shared: &Shared) {
    if let Err(error) = done
        && error.is_panic()
    {
        shared.diagnose(
            None,
            DiagnosticCode::Internal,
            "a connection's task panicked (a runwire bug); its declarations may be incomplete"
                .to_owned(),
        );
    }
}

fn admit(id: u64, stream: Stream, uid: u32, shared: &Arc<Shared>, sessions: &mut JoinSet<()>) {
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    match stream.peer_creds().map(|creds| (creds.euid(), creds.pid())) {
        Ok((Some(peer_uid), _)) if peer_uid == uid => {}
        Ok((peer_uid, pid)) => {
            shared.diagnose(
                Some(id),
                DiagnosticCode::ForeignPeer,
                format!(
                    "peer process {} runs as uid {}, not the server's uid {uid}; refused without reading",
                    pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                    peer_uid.map_or_else(|| "?".to_owned(), |u| u.to_string()),
                ),
            );
            return;
        }
        Err(error) => {
            shared.diagnose(
                Some(id),
                DiagnosticCode::ForeignPeer,
                format!("cannot read the peer's credentials ({error}); refused without reading"),
            );
            return;
        }
    }
    lock(&shared.open).insert(id);
    let shared = Arc::clone(shared);
    sessions.spawn(async move {
        session::serve(id, stream, &shared).await;
        lock(&shared.open).remove(&id);
    });
}

/// Whether a connection waits in the listener's backlog (non-blocking `poll`).
fn backlog_ready(listener: &Listener) -> bool {
    let mut fds = libc::pollfd {
        fd: std::os::fd::AsFd::as_fd(listener).as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&raw mut fds, 1, 0) };
    n == 1 && fds.revents & libc::POLLIN != 0
}

fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
