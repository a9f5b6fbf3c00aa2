//! Tracing static programs through seccomp user notification (see the crate docs,
//! "Static programs").
//!
//! The filter ([`filter`]) makes the kernel stop a process at each file system call and
//! notify a listener descriptor; the process (shim or runner) that installs it sends that
//! descriptor here over a Unix socket (`SCM_RIGHTS`). One supervisor thread polls the
//! socket and every listener, reads the call's path arguments from `/proc/PID/mem`,
//! classifies the access by looking at the file system itself (the call has not run yet),
//! appends the same records the shim would to the ring, and lets the call continue
//! unchanged (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): it records, it never enforces.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::ring::Appender;

/// Names the supervisor's socket for traced processes (the shim re-injects it).
pub(crate) const SOCK_ENV: &str = "RUNWIRE_TRACE_SECCOMP_SOCK";
/// Set in the environment of a process running under our filter: a second listener in the
/// same chain fails with `EBUSY`, so nothing below installs again, and the shim stays idle.
pub(crate) const ACTIVE_ENV: &str = "RUNWIRE_TRACE_SECCOMP_ACTIVE";
/// `RUNWIRE_TRACE_SECCOMP=0` turns the feature off (static programs are then incomplete).
pub(crate) const SWITCH_ENV: &str = "RUNWIRE_TRACE_SECCOMP";

// Record kinds and reasons, as in shim/runtrace.c.
const K_READ: u8 = 1;
const K_STAT: u8 = 2;
const K_NOTFOUND: u8 = 3;
const K_LISTDIR: u8 = 4;
const K_WRITE: u8 = 5;
const K_CREATE: u8 = 6;
const K_TRUNCATE: u8 = 7;
const K_DELETE: u8 = 8;
const K_RENAME_FROM: u8 = 9;
const K_RENAME_TO: u8 = 10;
const K_DIRENTRY: u8 = 20;
const K_INCOMPLETE: u8 = 40;
const R_IO_URING: u8 = 3;

const PATH_MAX: usize = 4096;
/// `linux/seccomp.h` (not in the libc crate yet).
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
/// `AT_FDCWD` as the kernel passes it in a 64-bit argument register (only the low 32
/// bits are read for an `int`).
#[allow(clippy::cast_sign_loss)]
const AT_FDCWD_ARG: u64 = libc::AT_FDCWD as u32 as u64;

/// The system calls the filter reports. `fchdir` is left out on purpose: the working
/// directory is read from `/proc/PID/cwd` at every notification, so no state needs it.
#[cfg(target_arch = "x86_64")]
const SYSCALLS: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_getdents,
    libc::SYS_getdents64,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_rmdir,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_link,
    libc::SYS_linkat,
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    libc::SYS_truncate,
    libc::SYS_chdir,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_io_uring_setup,
];
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64

#[cfg(target_arch = "aarch64")]
const SYSCALLS: &[libc::c_long] = &[
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_getdents64,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    libc::SYS_mkdirat,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_truncate,
    libc::SYS_chdir,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_io_uring_setup,
];
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The BPF program: native architecture only, no x32, notify on [`SYSCALLS`], allow the
/// rest. Kept in step with `seccomp_filter()` in the shim.
pub(crate) fn filter() -> Vec<libc::sock_filter> {
    let k = u8::try_from(SYSCALLS.len()).expect("fewer than 256 system calls");
    let mut p = vec![
        stmt(BPF_LD_W_ABS, 4), // seccomp_data.arch
        libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: k + 2,
            k: AUDIT_ARCH,
        },
        stmt(BPF_LD_W_ABS, 0), // seccomp_data.nr
        libc::sock_filter {
            code: BPF_JGE_K,
            jt: k,
            jf: 0,
            k: X32_SYSCALL_BIT,
        },
    ];
    for (i, nr) in SYSCALLS.iter().enumerate() {
        let i = u8::try_from(i).expect("fewer than 256");
        p.push(libc::sock_filter {
            code: BPF_JEQ_K,
            jt: k - i,
            jf: 0,
            k: u32::try_from(*nr).expect("system call numbers are small"),
        });
    }
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF));
    p
}

/// Everything the runner's child needs to install the filter between fork and exec,
/// prepared before the fork: only system calls on this memory happen in the child.
pub(crate) struct Installer {
    prog: Vec<libc::sock_filter>,
    addr: libc::sockaddr_un,
    addr_len: libc::socklen_t,
}

// SAFETY: plain data; the raw pointer built from `prog` lives only inside `install`.
unsafe impl Send for Installer {}
// SAFETY: as above; `install` only reads.
unsafe impl Sync for Installer {}

impl Installer {
    pub(crate) fn new(sock: &Path) -> io::Result<Self> {
        let (addr, addr_len) = sockaddr(sock)?;
        Ok(Self {
            prog: filter(),
            addr,
            addr_len,
        })
    }

    /// Runs in the forked child just before exec: async-signal-safe system calls only.
    /// Connects first (a filter whose listener never reaches the supervisor would make
    /// every file call fail with `ENOSYS`), installs, then sends the listener; a failure
    /// is reported on the same connection as a stage byte plus errno, and the program
    /// runs untraced (the supervisor marks the trace incomplete).
    pub(crate) fn install(&self) {
        // SAFETY: raw system calls on memory prepared before the fork; every pointer
        // passed points into `self` or the stack and outlives the call.
        unsafe {
            let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if s < 0 {
                return;
            }
            if libc::connect(s, (&raw const self.addr).cast(), self.addr_len) != 0 {
                libc::close(s);
                return;
            }
            let fail = |stage: u8| {
                let e = *libc::__errno_location();
                let mut msg = [stage, 0, 0, 0, 0];
                msg[1..].copy_from_slice(&e.to_le_bytes());
                libc::send(s, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL);
                libc::close(s);
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail(1);
            }
            let fprog = libc::sock_fprog {
                len: u16::try_from(self.prog.len()).unwrap_or(0),
                filter: self.prog.as_ptr().cast_mut(),
            };
            let lfd = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &raw const fprog,
            );
            if lfd < 0 {
                return fail(2);
            }
            #[allow(clippy::cast_possible_truncation)]
            let lfd = lfd as RawFd;
            send_fd(s, lfd);
            libc::close(lfd);
            libc::close(s);
        }
    }
}

fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::sa_family_t::try_from(libc::AF_UNIX).expect("small");
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::other(format!(
            "socket path {} is longer than {} bytes",
            path.display(),
            addr.sun_path.len() - 1
        )));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = libc::c_char::from_ne_bytes([*s]);
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, libc::socklen_t::try_from(len).expect("small")))
}

/// Sends `fd` over the connected socket `s` with one data byte 0 ("ok").
///
/// # Safety
/// `s` and `fd` must be open descriptors.
unsafe fn send_fd(s: RawFd, fd: RawFd) {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Room for one descriptor, aligned for cmsghdr.
    let mut space = [0u64; 4];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    // SAFETY: CMSG_* compute sizes and pointers inside `space`, which is big enough.
    unsafe {
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&raw const msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        libc::sendmsg(s, &raw const msg, libc::MSG_NOSIGNAL);
    }
}

/// Receives one message: `Ok(Some(Ok(fd)))` for a listener, `Ok(Some(Err(cause)))` for an
/// installer's failure report, `Ok(None)` when the installer hung up without a word (the
/// shim reports its failures through the ring itself).
fn recv_fd(s: RawFd) -> io::Result<Option<Result<OwnedFd, String>>> {
    let mut buf = [0u8; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut space = [0u64; 8];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    // SAFETY: recvmsg into buffers that live for the call.
    let n = unsafe { libc::recvmsg(s, &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fd = None;
    // SAFETY: walking the control buffer the kernel filled, with the CMSG_* helpers.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    match (n, buf[0], fd) {
        (0, _, None) => Ok(None),
        (1.., 0, Some(fd)) => Ok(Some(Ok(fd))),
        (5.., stage, _) if stage != 0 => {
            let errno = i32::from_le_bytes(buf[1..5].try_into().expect("4 bytes"));
            let what = match stage {
                1 => "prctl(PR_SET_NO_NEW_PRIVS)",
                2 => "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)",
                _ => "sending the listener",
            };
            Ok(Some(Err(format!(
                "{what}: {}",
                io::Error::from_raw_os_error(errno)
            ))))
        }
        _ => Ok(Some(Err("the installer sent no listener".into()))),
    }
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
            mem: HashMap::new(),
            seen: HashSet::new(),
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
    /// `/proc/PID/mem` per pid, reopened after an exec.
    mem: HashMap<u32, File>,
    /// (kind, path, aux) already appended: repeated accesses cost no record.
    seen: HashSet<(u8, Vec<u8>, Vec<u8>)>,
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
            let mut pfds = vec![
                libc::pollfd {
                    // Once stopped, the write end may be closed: a hung-up pipe would spin.
                    fd: if stopped { -1 } else { self.wake.as_raw_fd() },
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            pfds.extend(self.listeners.iter().map(|l| libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }));
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
            for i in gone.into_iter().rev() {
                self.listeners.swap_remove(i);
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
            }
            // Stopped with processes still under a filter (they outlived the linger time):
            // keep answering them until they are gone, so they never block or see ENOSYS.
            if self.shared.stop.load(Ordering::Acquire) && self.listeners.is_empty() {
                return;
            }
            if pfds[0].revents != 0 {
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
            match recv_fd(conn.as_raw_fd()) {
                Ok(None) => {}
                Ok(Some(Ok(fd))) => {
                    // Kernel >= 6.6: wake us (and then the stopped process) on the waker's
                    // CPU, a direct hand-off instead of a trip through the scheduler.
                    // Older kernels refuse it: harmless, only slower.
                    // SAFETY: ioctl on the listener we own, flag passed by value.
                    unsafe {
                        libc::ioctl(
                            fd.as_raw_fd(),
                            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
                        );
                    }
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
        // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl on our listener with a buffer of the size the request names.
        let rc = unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_RECV, &raw mut req) };
        if rc != 0 {
            // ENOENT: the process died or the call was interrupted before we read it.
            return;
        }
        let events = self.classify(&req);
        // The pid and memory we read are only trustworthy if the call is still pending.
        // SAFETY: ioctl with a pointer to the u64 id.
        let valid =
            unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &raw const req.id) } == 0;
        if valid {
            for (kind, reason, path, aux) in events {
                let fresh =
                    kind == K_INCOMPLETE || self.seen.insert((kind, path.clone(), aux.clone()));
                if fresh {
                    self.appender.append(kind, reason, req.pid, &path, &aux);
                }
            }
        }
        let resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: 0,
            flags: u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE).expect("1"),
        };
        // SAFETY: ioctl with a response for the id we received; failure means the call
        // is gone already.
        unsafe { libc::ioctl(lfd, libc::SECCOMP_IOCTL_NOTIF_SEND, &raw const resp) };
    }

    /// Reads `len` bytes at `addr` of `pid`, reopening `/proc/PID/mem` once if the cached
    /// one belongs to an image that has since been replaced by exec.
    fn read_mem(&mut self, pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
        for attempt in 0..2 {
            if attempt == 1 || !self.mem.contains_key(&pid) {
                let f = File::open(format!("/proc/{pid}/mem")).ok()?;
                self.mem.insert(pid, f);
            }
            if let Ok(n) = self.mem[&pid].read_at(buf, addr) {
                if n > 0 {
                    return Some(n);
                }
            }
        }
        None
    }

    fn read_cstr(&mut self, pid: u32, addr: u64) -> Option<Vec<u8>> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut at = addr;
        let mut buf = [0u8; 256];
        while out.len() < PATH_MAX {
            // Most paths are short: read 256 bytes at a time, never past the end of the
            // page (the next one may be unmapped).
            let room = usize::try_from(4096 - (at % 4096)).ok()?.min(buf.len());
            let n = self.read_mem(pid, at, &mut buf[..room])?;
            if let Some(end) = buf[..n].iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..end]);
                return Some(out);
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        None
    }

    /// Absolute form of (dirfd, path) as the process sees it now.
    fn absolute(&mut self, pid: u32, dirfd: u64, addr: u64) -> Option<Vec<u8>> {
        let path = self.read_cstr(pid, addr)?;
        at_path(pid, dirfd, path)
    }

    #[allow(clippy::too_many_lines, clippy::cast_possible_truncation)]
    fn classify(&mut self, req: &libc::seccomp_notif) -> Vec<(u8, u8, Vec<u8>, Vec<u8>)> {
        let pid = req.pid;
        let a = req.data.args;
        let nr = libc::c_long::from(req.data.nr);
        let cwd = AT_FDCWD_ARG;
        let mut ev: Vec<(u8, u8, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut one = |k: u8, p: Vec<u8>| ev.push((k, 0, p, Vec::new()));
        match nr {
            libc::SYS_io_uring_setup => {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                    .map(|p| p.into_os_string().into_encoded_bytes())
                    .unwrap_or_default();
                ev.push((K_INCOMPLETE, R_IO_URING, exe, Vec::new()));
            }
            libc::SYS_getdents64 | libc::SYS_getdents => {
                Self::listing(pid, a[0] as i32, &mut ev);
            }
            libc::SYS_execve | libc::SYS_execveat => {
                let (d, p) = if nr == libc::SYS_execve {
                    (cwd, a[0])
                } else {
                    (a[0], a[1])
                };
                // The next read of this pid's memory must see the new image.
                if let Some(path) = self.absolute(pid, d, p) {
                    // An empty path with AT_EMPTY_PATH (fexecve) names the fd itself.
                    match probe(&path, true) {
                        Probe::Missing => one(K_NOTFOUND, path),
                        Probe::Dir | Probe::Other => one(K_STAT, path),
                        Probe::File => one(K_READ, path),
                    }
                }
                self.mem.remove(&pid);
            }
            libc::SYS_openat | libc::SYS_openat2 => {
                let flags = if nr == libc::SYS_openat {
                    a[2]
                } else {
                    let mut how = [0u8; 8];
                    match self.read_mem(pid, a[2], &mut how) {
                        Some(8) => u64::from_le_bytes(how),
                        _ => 0,
                    }
                };
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    open_kinds(path, flags as i32, &mut one);
                }
            }
            libc::SYS_newfstatat | libc::SYS_statx | libc::SYS_faccessat | libc::SYS_faccessat2 => {
                let flags = match nr {
                    libc::SYS_newfstatat | libc::SYS_faccessat2 => a[3] as i32,
                    libc::SYS_statx => a[2] as i32,
                    _ => 0,
                };
                let raw = self.read_cstr(pid, a[1]);
                if let Some(raw) = raw {
                    // fstatat(fd, "", AT_EMPTY_PATH) is an fstat: recorded when opened.
                    if !(raw.is_empty() && flags & libc::AT_EMPTY_PATH != 0) {
                        if let Some(path) = at_path(pid, a[0], raw) {
                            let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
                            probe_kinds(path, follow, K_STAT, &mut one);
                        }
                    }
                }
            }
            libc::SYS_readlinkat => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    readlink_kinds(path, &mut one);
                }
            }
            libc::SYS_unlinkat => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    delete_kinds(path, a[2] as i32 & libc::AT_REMOVEDIR != 0, &mut one);
                }
            }
            libc::SYS_renameat2 => {
                let from = self.absolute(pid, a[0], a[1]);
                let to = self.absolute(pid, a[2], a[3]);
                rename_kinds(from, to, &mut one);
            }
            libc::SYS_mkdirat => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    create_kinds(path, &mut one);
                }
            }
            libc::SYS_linkat => {
                let from = self.absolute(pid, a[0], a[1]);
                let to = self.absolute(pid, a[2], a[3]);
                link_kinds(from, to, &mut one);
            }
            libc::SYS_symlinkat => {
                if let Some(path) = self.absolute(pid, a[1], a[2]) {
                    create_kinds(path, &mut one);
                }
            }
            libc::SYS_truncate => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    probe_kinds(path, true, K_TRUNCATE, &mut one);
                }
            }
            libc::SYS_chdir => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    probe_kinds(path, true, K_STAT, &mut one);
                }
            }
            #[cfg(target_arch = "x86_64")]
            _ => self.classify_legacy(pid, nr, a, &mut one),
            #[cfg(not(target_arch = "x86_64"))]
            _ => {}
        }
        ev
    }

    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::cast_possible_truncation)]
    fn classify_legacy(
        &mut self,
        pid: u32,
        nr: libc::c_long,
        a: [u64; 6],
        one: &mut impl FnMut(u8, Vec<u8>),
    ) {
        let cwd = AT_FDCWD_ARG;
        match nr {
            libc::SYS_open | libc::SYS_creat => {
                let flags = if nr == libc::SYS_open {
                    a[1] as i32
                } else {
                    libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC
                };
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    open_kinds(path, flags, one);
                }
            }
            libc::SYS_stat | libc::SYS_access | libc::SYS_lstat => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    probe_kinds(path, nr != libc::SYS_lstat, K_STAT, one);
                }
            }
            libc::SYS_readlink => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    readlink_kinds(path, one);
                }
            }
            libc::SYS_unlink | libc::SYS_rmdir => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    delete_kinds(path, nr == libc::SYS_rmdir, one);
                }
            }
            libc::SYS_mkdir => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    create_kinds(path, one);
                }
            }
            libc::SYS_symlink => {
                if let Some(path) = self.absolute(pid, cwd, a[1]) {
                    create_kinds(path, one);
                }
            }
            libc::SYS_rename | libc::SYS_renameat => {
                let (from, to) = if nr == libc::SYS_rename {
                    (self.absolute(pid, cwd, a[0]), self.absolute(pid, cwd, a[1]))
                } else {
                    (
                        self.absolute(pid, a[0], a[1]),
                        self.absolute(pid, a[2], a[3]),
                    )
                };
                rename_kinds(from, to, one);
            }
            libc::SYS_link => {
                let from = self.absolute(pid, cwd, a[0]);
                let to = self.absolute(pid, cwd, a[1]);
                link_kinds(from, to, one);
            }
            _ => {}
        }
    }

    /// A `getdents` call: on the first call of a listing (the descriptor's offset is 0)
    /// the supervisor lists the directory itself; the names are those present now.
    fn listing(pid: u32, fd: i32, ev: &mut Vec<(u8, u8, Vec<u8>, Vec<u8>)>) {
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let at_start = info
            .lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .is_some_and(|v| v.trim() == "0");
        if !at_start {
            return;
        }
        let Ok(dir) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let dir = dir.into_os_string().into_encoded_bytes();
        ev.push((K_LISTDIR, 0, dir.clone(), Vec::new()));
        for e in entries.flatten() {
            ev.push((
                K_DIRENTRY,
                0,
                dir.clone(),
                e.file_name().into_encoded_bytes(),
            ));
        }
    }
}

/// Joins a path argument with the process's working directory or directory descriptor.
#[allow(clippy::cast_possible_truncation)]
fn at_path(pid: u32, dirfd: u64, path: Vec<u8>) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return Some(path);
    }
    let fd = dirfd as i32;
    let base = if fd == libc::AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?
    } else {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?
    };
    let mut out = base.into_os_string().into_encoded_bytes();
    if !path.is_empty() {
        out.push(b'/');
        out.extend_from_slice(&path);
    }
    Some(out)
}

/// What is at a path now, as the call about to run will find it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    File,
    Dir,
    Missing,
    /// Cannot tell (`EACCES`, `ELOOP`...): something is there, like the shim's `Stat`.
    Other,
}

fn probe(path: &[u8], follow: bool) -> Probe {
    let p = Path::new(OsStr::from_bytes(path));
    let m = if follow {
        std::fs::metadata(p)
    } else {
        std::fs::symlink_metadata(p)
    };
    match m {
        Ok(m) if m.is_dir() => Probe::Dir,
        Ok(_) => Probe::File,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Probe::Missing,
        Err(_) => Probe::Other,
    }
}

fn parent_exists(path: &[u8]) -> bool {
    let p = Path::new(OsStr::from_bytes(path));
    p.parent()
        .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
}

/// An open, classified like the shim's `note_open` from the state before the call.
fn open_kinds(path: Vec<u8>, flags: i32, one: &mut impl FnMut(u8, Vec<u8>)) {
    let acc = flags & libc::O_ACCMODE;
    let creat = flags & libc::O_CREAT != 0;
    let trunc = flags & libc::O_TRUNC != 0;
    let excl = flags & libc::O_EXCL != 0;
    let follow = flags & libc::O_NOFOLLOW == 0 || (creat && excl);
    let state = probe(&path, follow);
    if flags & libc::O_PATH != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        return one(
            if state == Probe::Missing {
                K_NOTFOUND
            } else {
                K_STAT
            },
            path,
        );
    }
    if acc == libc::O_RDONLY && !creat && !trunc {
        return one(
            match state {
                Probe::File => K_READ,
                Probe::Missing => K_NOTFOUND,
                Probe::Dir | Probe::Other => K_STAT,
            },
            path,
        );
    }
    match state {
        // EISDIR, EACCES, EEXIST...: the call fails but proves something is there.
        Probe::Dir | Probe::Other => one(K_STAT, path),
        Probe::File if creat && excl => one(K_STAT, path),
        Probe::File => {
            // Writing without truncation keeps the prior content: a read first, as the
            // shim records it (`>>` on a log is read-then-write).
            if !trunc {
                one(K_READ, path.clone());
            }
            one(if trunc { K_TRUNCATE } else { K_WRITE }, path);
        }
        Probe::Missing if !creat || !parent_exists(&path) => one(K_NOTFOUND, path),
        // A new file: O_TRUNC (without O_EXCL) -> Truncate, anything else -> Create.
        Probe::Missing => one(if trunc && !excl { K_TRUNCATE } else { K_CREATE }, path),
    }
}

/// A probe (stat, access, chdir) or a call that needs the path to exist (truncate).
fn probe_kinds(path: Vec<u8>, follow: bool, ok: u8, one: &mut impl FnMut(u8, Vec<u8>)) {
    match probe(&path, follow) {
        Probe::Missing => one(K_NOTFOUND, path),
        Probe::Other => one(K_STAT, path),
        Probe::Dir if ok == K_TRUNCATE => one(K_STAT, path),
        Probe::File | Probe::Dir => one(ok, path),
    }
}

fn readlink_kinds(path: Vec<u8>, one: &mut impl FnMut(u8, Vec<u8>)) {
    let p = Path::new(OsStr::from_bytes(&path));
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => one(K_READ, path),
        // Not a link: EINVAL, which the shim does not record either.
        Ok(_) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            one(K_NOTFOUND, path);
        }
        Err(_) => one(K_STAT, path),
    }
}

fn delete_kinds(path: Vec<u8>, dir: bool, one: &mut impl FnMut(u8, Vec<u8>)) {
    match probe(&path, false) {
        Probe::Missing => one(K_NOTFOUND, path),
        Probe::Other => one(K_STAT, path),
        Probe::Dir if !dir => one(K_STAT, path), // EISDIR
        Probe::File if dir => one(K_STAT, path), // ENOTDIR on the last component
        Probe::Dir => {
            let p = Path::new(OsStr::from_bytes(&path));
            let empty = std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none());
            one(if empty { K_DELETE } else { K_STAT }, path); // ENOTEMPTY
        }
        Probe::File => one(K_DELETE, path),
    }
}

fn create_kinds(path: Vec<u8>, one: &mut impl FnMut(u8, Vec<u8>)) {
    match probe(&path, false) {
        Probe::Missing if parent_exists(&path) => one(K_CREATE, path),
        Probe::Missing => one(K_NOTFOUND, path),
        _ => one(K_STAT, path), // EEXIST
    }
}

fn rename_kinds(from: Option<Vec<u8>>, to: Option<Vec<u8>>, one: &mut impl FnMut(u8, Vec<u8>)) {
    let Some(from) = from else { return };
    match probe(&from, false) {
        Probe::Missing => one(K_NOTFOUND, from),
        Probe::Other => one(K_STAT, from),
        Probe::File | Probe::Dir => {
            one(K_RENAME_FROM, from);
            if let Some(to) = to {
                one(K_RENAME_TO, to);
            }
        }
    }
}

fn link_kinds(from: Option<Vec<u8>>, to: Option<Vec<u8>>, one: &mut impl FnMut(u8, Vec<u8>)) {
    let Some(from) = from else { return };
    match probe(&from, false) {
        Probe::Missing => one(K_NOTFOUND, from),
        Probe::Other | Probe::Dir => one(K_STAT, from),
        Probe::File => {
            let to_free = to
                .as_deref()
                .is_some_and(|t| probe(t, false) == Probe::Missing);
            if to_free {
                one(K_READ, from);
                if let Some(to) = to {
                    one(K_CREATE, to);
                }
            } else {
                one(K_STAT, from); // EEXIST
            }
        }
    }
}

/// Is the feature on for this spawn: the builder's choice, else `RUNWIRE_TRACE_SECCOMP`.
pub(crate) fn enabled(choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| std::env::var_os(SWITCH_ENV).is_none_or(|v| v != "0"))
}
