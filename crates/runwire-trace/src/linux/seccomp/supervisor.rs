//! The supervisor thread: polls its Unix socket (installers hand over listeners there)
//! and every listener, answers each notification `CONTINUE` and appends the records of
//! the call ([`classify`]) to the ring, de-duplicated. Also the bare-bones handler the
//! benchmark measures the kernel's own cost with ([`run_continue_only`]).

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::classify::classify;
use super::fdpass::{Installer, recv_fd, sockaddr};
use super::filter::{filter, filter_frame};
use super::memory::Memory;
use crate::record::{Event, RecordKind};
use crate::ring::Appender;

/// How long an installer may take between connecting and sending its listener.
const INSTALLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// `linux/seccomp.h` (not in the libc crate yet).
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// Kernel >= 6.6: wake the handler (and then the stopped process) on the waker's CPU, a
/// direct hand-off instead of a trip through the scheduler. Older kernels refuse it:
/// harmless, only slower.
fn wake_on_this_cpu(listener: RawFd) {
    // SAFETY: ioctl on a listener the caller owns, flag passed by value.
    unsafe {
        libc::ioctl(
            listener,
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        );
    }
}

/// The next pending notification; `None` when it is gone already (the process died or
/// the call was interrupted before it was read: `ENOENT`).
fn receive(listener: RawFd) -> Option<libc::seccomp_notif> {
    // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: ioctl on the listener with a buffer of the size the request names.
    let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &raw mut req) };
    (rc == 0).then_some(req)
}

/// Lets the notified call run unchanged. A failure means the call is gone already.
fn let_continue(listener: RawFd, id: u64) {
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE).expect("1"),
    };
    // SAFETY: ioctl with a response for an id received on this listener.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &raw const resp) };
}

/// Shared between the supervisor thread and [`Supervisor`].
#[derive(Default)]
struct Shared {
    /// Listeners received and not yet hung up (processes under them still exist).
    live: AtomicUsize,
    /// Listeners received in total.
    received: AtomicUsize,
    /// Failures reported by installers, or met while handling notifications.
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// The supervisor thread and its socket.
pub(crate) struct Supervisor {
    sock: PathBuf,
    shared: Arc<Shared>,
    wake: OwnedFd,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("sock", &self.sock)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Binds `sock` and starts the thread that appends to the ring through `appender`.
    pub(crate) fn start(sock: &Path, appender: Appender) -> io::Result<Self> {
        sockaddr(sock)?; // same length check the installers make
        let listener = UnixListener::bind(sock)?;
        listener.set_nonblocking(true)?;
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just created and are owned by nobody else.
        let (wake_r, wake_w) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let shared = Arc::new(Shared::default());
        let mut worker = Worker {
            listener,
            wake: wake_r,
            listeners: Vec::new(),
            appender,
            shared: Arc::clone(&shared),
            filter: filter_frame(&filter()),
            pfds: Vec::new(),
            mem: Memory::default(),
            seen: HashSet::new(),
            key: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("runwire-seccomp".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            sock: sock.to_owned(),
            shared,
            wake: wake_w,
            thread: Some(thread),
        })
    }

    pub(crate) fn sock(&self) -> &Path {
        &self.sock
    }

    /// True when every listener received has hung up (no process under a filter is left).
    pub(crate) fn idle(&self) -> bool {
        self.shared.live.load(Ordering::Acquire) == 0
    }

    pub(crate) fn received(&self) -> usize {
        self.shared.received.load(Ordering::Acquire)
    }

    /// Stops the thread and returns the failures met. With listeners still alive the
    /// thread is left running (detached) until they hang up.
    pub(crate) fn finish(&mut self) -> Vec<String> {
        self.shared.stop.store(true, Ordering::Release);
        // SAFETY: one byte to a pipe we own, to wake poll.
        unsafe { libc::write(self.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        if let Some(t) = self.thread.take() {
            if self.idle() {
                let _ = t.join();
            }
        }
        std::mem::take(
            &mut *self
                .shared
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.finish();
    }
}

struct Worker {
    listener: UnixListener,
    wake: OwnedFd,
    listeners: Vec<OwnedFd>,
    appender: Appender,
    shared: Arc<Shared>,
    /// The filter program, framed for the shim ([`filter_frame`]).
    filter: Vec<u8>,
    /// The poll set, rebuilt in place each round.
    pfds: Vec<libc::pollfd>,
    /// The traced threads' memory and working directories.
    mem: Memory,
    /// `kind, path, 0, aux` of every record appended: repeated accesses cost no record.
    seen: HashSet<Vec<u8>>,
    /// Scratch for a `seen` key.
    key: Vec<u8>,
}

impl Worker {
    fn run(&mut self) {
        loop {
            // One load decides both the exit and whether to wait on the wake pipe: with two
            // loads, a stop landing between them left a thread polling forever with no
            // listener and no wake fd (finish() then joined it forever).
            let stopped = self.shared.stop.load(Ordering::Acquire);
            if stopped && self.listeners.is_empty() {
                return;
            }
            let mut pfds = std::mem::take(&mut self.pfds);
            pfds.clear();
            let poll_in = |fd: RawFd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // Once stopped, the write end may be closed: a hung-up pipe would spin.
            pfds.push(poll_in(if stopped { -1 } else { self.wake.as_raw_fd() }));
            pfds.push(poll_in(self.listener.as_raw_fd()));
            pfds.extend(self.listeners.iter().map(|l| poll_in(l.as_raw_fd())));
            // SAFETY: poll on a vector of pollfd we own.
            let n = unsafe {
                libc::poll(
                    pfds.as_mut_ptr(),
                    libc::nfds_t::try_from(pfds.len()).unwrap_or(0),
                    -1,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.fail(format!("poll: {}", io::Error::last_os_error()));
                return;
            }
            let wake = pfds[0].revents != 0;
            if pfds[1].revents != 0 {
                self.accept_all();
            }
            let mut gone = Vec::new();
            for (i, p) in pfds[2..].iter().enumerate() {
                if p.revents & libc::POLLIN != 0 {
                    self.notification(i);
                } else if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    gone.push(i);
                }
            }
            self.pfds = pfds;
            for i in gone.into_iter().rev() {
                self.listeners.swap_remove(i);
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
            }
            // Stopped with processes still under a filter (they outlived the linger time):
            // keep answering them until they are gone, so they never block or see ENOSYS.
            if self.shared.stop.load(Ordering::Acquire) && self.listeners.is_empty() {
                return;
            }
            if wake {
                let mut sink = [0u8; 16];
                // SAFETY: drains our own non-blocking pipe.
                unsafe { libc::read(self.wake.as_raw_fd(), sink.as_mut_ptr().cast(), sink.len()) };
            }
        }
    }

    fn fail(&self, cause: String) {
        let mut f = self
            .shared
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !f.contains(&cause) {
            f.push(cause);
        }
    }

    fn accept_all(&mut self) {
        while let Ok((conn, _)) = self.listener.accept() {
            let _ = conn.set_nonblocking(false);
            // An installer that never answers must not hold up every traced process.
            let _ = conn.set_read_timeout(Some(INSTALLER_TIMEOUT));
            // The shim installs the program it is given here; the runner's own installer
            // has it already and may be gone before this lands: errors are ignored.
            // SAFETY: send from a buffer we own; MSG_NOSIGNAL: a closed peer is no signal.
            unsafe {
                libc::send(
                    conn.as_raw_fd(),
                    self.filter.as_ptr().cast(),
                    self.filter.len(),
                    libc::MSG_NOSIGNAL,
                );
            }
            match recv_fd(conn.as_raw_fd()) {
                Ok(None) => {}
                Ok(Some(Ok(fd))) => {
                    wake_on_this_cpu(fd.as_raw_fd());
                    self.shared.live.fetch_add(1, Ordering::AcqRel);
                    self.shared.received.fetch_add(1, Ordering::AcqRel);
                    self.listeners.push(fd);
                }
                Ok(Some(Err(cause))) => self.fail(cause),
                Err(e) => self.fail(format!("receiving a listener: {e}")),
            }
        }
    }

    fn notification(&mut self, i: usize) {
        let lfd = self.listeners[i].as_raw_fd();
        let Some(req) = receive(lfd) else { return };
        self.mem.settle_chdirs(req.pid);
        // No SECCOMP_IOCTL_NOTIF_ID_VALID check after reading: it costs a system call on
        // every notification, and a process killed in between (its pid reused within
        // microseconds) could at worst add a path it never used: a spurious input makes
        // a cache miss, never a wrong hit.
        let (events, after) = classify(&mut self.mem, &req);
        self.record(req.pid, events);
        let_continue(lfd, req.id);
        if let Some(after) = after {
            self.record(req.pid, after.events());
        }
    }

    /// Appends the events not recorded before.
    fn record(&mut self, pid: u32, events: Vec<Event>) {
        for event in events {
            let kind = event.kind();
            // Program-level records are few; their reason byte is what differs.
            if kind != RecordKind::Incomplete && kind != RecordKind::Service {
                self.key.clear();
                self.key.push(kind.into());
                self.key.extend_from_slice(event.path());
                self.key.push(0); // never inside a path
                self.key.extend_from_slice(event.aux());
                if self.seen.contains(self.key.as_slice()) {
                    continue;
                }
                self.seen.insert(self.key.clone());
            }
            self.appender.append(pid, &event);
        }
    }
}

/// Runs `command` under the same filter with a handler that answers every notification
/// `CONTINUE` without looking at it: the floor under the supervisor's cost (two context
/// switches per notified call), for the benchmark to print beside the real thing.
///
/// # Errors
/// Setting up the socket, spawning, or receiving the listener fails.
pub fn run_continue_only(
    command: &mut std::process::Command,
) -> io::Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("s");
    let listener = UnixListener::bind(&sock)?;
    let installer = Arc::new(Installer::new(&sock)?);
    let child_installer = Arc::clone(&installer);
    // SAFETY: `install` makes async-signal-safe system calls on memory prepared before.
    unsafe {
        command.pre_exec(move || {
            child_installer.install();
            Ok(())
        });
    }
    // The handler must be running before spawn() returns: spawn waits for the exec, and
    // the exec is itself a notified call.
    let handler = std::thread::spawn(move || -> io::Result<()> {
        let (conn, _) = listener.accept()?;
        let lfd = match recv_fd(conn.as_raw_fd())? {
            Some(Ok(fd)) => fd,
            Some(Err(cause)) => return Err(io::Error::other(cause)),
            None => return Err(io::Error::other("no listener")),
        };
        wake_on_this_cpu(lfd.as_raw_fd());
        loop {
            let mut pfd = libc::pollfd {
                fd: lfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd we own.
            if unsafe { libc::poll(&raw mut pfd, 1, -1) } < 0 {
                continue; // EINTR
            }
            if pfd.revents & libc::POLLIN == 0 {
                return Ok(()); // hung up: every process under the filter is gone
            }
            if let Some(req) = receive(lfd.as_raw_fd()) {
                let_continue(lfd.as_raw_fd(), req.id);
            }
        }
    });
    let mut child = command.spawn()?;
    let status = child.wait()?;
    handler
        .join()
        .map_err(|_| io::Error::other("the handler panicked"))??;
    drop(dir);
    Ok(status)
}
