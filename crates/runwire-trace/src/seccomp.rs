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
/// A server or watcher call (see `enum service` in the shim); the path is the program.
const K_SERVICE: u8 = 41;
const S_LISTEN: u8 = 1;
const S_INOTIFY: u8 = 2;
const S_FANOTIFY: u8 = 3;

const PATH_MAX: usize = 4096;
/// Traced threads whose `/proc/PID/mem` stays open (see [`Worker::procs`]).
const CACHED_PIDS: usize = 256;
/// How long an installer may take between connecting and sending its listener.
const INSTALLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// `linux/seccomp.h` (not in the libc crate yet).
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
/// `AT_FDCWD` as the kernel passes it in a 64-bit argument register (only the low 32
/// bits are read for an `int`).
#[allow(clippy::cast_sign_loss)]
const AT_FDCWD_ARG: u64 = libc::AT_FDCWD as u32 as u64;

/// The system calls the filter always reports. `newfstatat` and `statx` are reported too,
/// unless they only name a descriptor ([`PATH_ONLY_IF_NO_FLAG`]). `chdir` and `fchdir` are
/// here for the working-directory cache, not for a record of their own (`chdir` also probes).
#[cfg(target_arch = "x86_64")]
const SYSCALLS: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_stat,
    libc::SYS_lstat,
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
    libc::SYS_utimensat,
    libc::SYS_utimes,
    libc::SYS_utime,
    libc::SYS_futimesat,
    libc::SYS_chmod,
    libc::SYS_fchmodat,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_io_uring_setup,
    libc::SYS_listen,
    libc::SYS_inotify_add_watch,
    libc::SYS_fanotify_mark,
];
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64

#[cfg(target_arch = "aarch64")]
const SYSCALLS: &[libc::c_long] = &[
    libc::SYS_openat,
    libc::SYS_openat2,
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
    libc::SYS_utimensat,
    libc::SYS_fchmodat,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_io_uring_setup,
    libc::SYS_listen,
    libc::SYS_inotify_add_watch,
    libc::SYS_fanotify_mark,
];
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// Stat calls whose path argument is ignored when a flag is set (`AT_EMPTY_PATH`: musl's
/// and Go's `fstat` are `newfstatat(fd, "", AT_EMPTY_PATH)`): (system call, index of the
/// flags argument, flag). The filter lets them through without a notification, since a
/// descriptor's file was recorded when it was opened. A non-empty path with the flag set
/// still names a file; no program we know of passes one, and such a call goes unrecorded.
const PATH_ONLY_IF_NO_FLAG: &[(libc::c_long, u32, u32)] = &[
    (libc::SYS_newfstatat, 3, 0x1000), // AT_EMPTY_PATH
    (libc::SYS_statx, 2, 0x1000),
];

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `offsetof(struct seccomp_data, args)`: six 64-bit arguments, low word first.
const ARGS_OFFSET: u32 = 16;

/// Where a conditional jump goes, resolved to a relative offset once the program is laid out.
#[derive(Clone, Copy)]
enum To {
    Next,
    Allow,
    Notify,
    /// Skip this many instructions after the jump.
    Skip(u8),
}

/// The BPF program: native architecture only, no x32, notify on [`SYSCALLS`] and on the
/// path forms of [`PATH_ONLY_IF_NO_FLAG`], allow the rest. The shim installs the same
/// program: the supervisor hands it over on each connection ([`Worker::accept_all`]).
pub(crate) fn filter() -> Vec<libc::sock_filter> {
    let mut code: Vec<(u16, To, To, u32)> = vec![
        (BPF_LD_W_ABS, To::Next, To::Next, 4), // seccomp_data.arch
        (BPF_JEQ_K, To::Next, To::Allow, AUDIT_ARCH),
        (BPF_LD_W_ABS, To::Next, To::Next, 0), // seccomp_data.nr
        (BPF_JGE_K, To::Allow, To::Next, X32_SYSCALL_BIT),
    ];
    for &(nr, arg, flag) in PATH_ONLY_IF_NO_FLAG {
        let nr = u32::try_from(nr).expect("system call numbers are small");
        code.push((BPF_JEQ_K, To::Next, To::Skip(2), nr));
        code.push((BPF_LD_W_ABS, To::Next, To::Next, ARGS_OFFSET + 8 * arg));
        code.push((BPF_JSET_K, To::Allow, To::Notify, flag));
    }
    for &nr in SYSCALLS {
        let nr = u32::try_from(nr).expect("system call numbers are small");
        code.push((BPF_JEQ_K, To::Notify, To::Next, nr));
    }
    let allow = code.len();
    let notify = allow + 1;
    let offset = |at: usize, to: To| -> u8 {
        let target = match to {
            To::Next => return 0,
            To::Skip(n) => return n,
            To::Allow => allow,
            To::Notify => notify,
        };
        u8::try_from(target - at - 1).expect("the program is shorter than 256 instructions")
    };
    let mut program: Vec<libc::sock_filter> = code
        .iter()
        .enumerate()
        .map(|(at, &(op, jt, jf, k))| libc::sock_filter {
            code: op,
            jt: offset(at, jt),
            jf: offset(at, jf),
            k,
        })
        .collect();
    program.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    program.push(stmt(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF));
    program
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The program as the shim receives it: a little-endian `u16` count of instructions, then
/// the instructions in the kernel's layout (`code: u16, jt: u8, jf: u8, k: u32`, native
/// endianness, as the same machine reads them).
fn filter_frame(program: &[libc::sock_filter]) -> Vec<u8> {
    let count = u16::try_from(program.len()).expect("short program");
    let mut frame = count.to_le_bytes().to_vec();
    for i in program {
        frame.extend_from_slice(&i.code.to_ne_bytes());
        frame.push(i.jt);
        frame.push(i.jf);
        frame.extend_from_slice(&i.k.to_ne_bytes());
    }
    frame
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

/// The program a traced process runs, as bytes (empty if it is gone).
fn exe_of(pid: u32) -> Vec<u8> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default()
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

/// One record for the ring: (kind, reason, path, aux).
type Event = (u8, u8, Vec<u8>, Vec<u8>);

/// What is left to look at once a call that changes nothing has been let through. The file
/// system looks the same after such a call runs, and the caller's next call that could
/// change it waits for this thread, so looking afterwards gives the same answer; meanwhile
/// the caller runs.
enum After {
    /// An open for reading only: its flags.
    Open(Vec<u8>, i32),
    /// A stat or access: follows symbolic links or not.
    Probe(Vec<u8>, bool),
    Readlink(Vec<u8>),
    /// The first `getdents` of a listing: the directory's entries.
    List(Vec<u8>),
}

impl After {
    fn events(self) -> Vec<Event> {
        let mut ev: Vec<Event> = Vec::new();
        let mut one = |k: u8, p: Vec<u8>| ev.push((k, 0, p, Vec::new()));
        match self {
            After::Open(path, flags) => open_kinds(path, flags, &mut one),
            After::Probe(path, follow) => probe_kinds(path, follow, K_STAT, &mut one),
            After::Readlink(path) => readlink_kinds(path, &mut one),
            After::List(dir) => {
                let Ok(entries) = std::fs::read_dir(Path::new(OsStr::from_bytes(&dir))) else {
                    return ev;
                };
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
        ev
    }
}

/// Whether an open with these flags only reads (no create, truncate, write or tmpfile).
fn read_only(flags: i32) -> bool {
    flags & libc::O_ACCMODE == libc::O_RDONLY
        && flags & (libc::O_CREAT | libc::O_TRUNC) == 0
        && flags & libc::O_TMPFILE != libc::O_TMPFILE
}

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
            procs: HashMap::new(),
            chdirs: Vec::new(),
            seen: HashSet::new(),
            key: Vec::new(),
            after: None,
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
    /// What is kept per traced thread id; at most [`CACHED_PIDS`] (then all are dropped, so
    /// a big build does not pile up descriptors).
    procs: HashMap<u32, Proc>,
    /// `chdir`/`fchdir` calls let through and maybe not done yet: (tid, target directory
    /// when known). While one is pending no working directory is cached, since another
    /// thread sharing it could read the old one. Settled by [`Worker::settle_chdirs`].
    chdirs: Vec<(u32, Option<Vec<u8>>)>,
    /// `kind, path, 0, aux` of every record appended: repeated accesses cost no record.
    seen: HashSet<Vec<u8>>,
    /// Scratch for a `seen` key.
    key: Vec<u8>,
    /// Set by [`Worker::classify`] for work done after the answer.
    after: Option<After>,
}

/// A traced thread as the supervisor knows it.
struct Proc {
    /// `/proc/PID/mem`, opened on first use. A read through it fails once the image is
    /// replaced (exec) or the process is gone, and it is reopened: the pid may be reused.
    mem: File,
    /// `/proc/PID/cwd`, cached until a `chdir`/`fchdir` anywhere or until `mem` is reopened.
    cwd: Option<Vec<u8>>,
    /// A pidfd, opened on the first `getdents` (see [`Worker::listing_starts`]).
    pidfd: Option<OwnedFd>,
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
        self.settle_chdirs(req.pid);
        // No SECCOMP_IOCTL_NOTIF_ID_VALID check after reading: it costs a system call on
        // every notification, and a process killed in between (its pid reused within
        // microseconds) could at worst add a path it never used: a spurious input makes
        // a cache miss, never a wrong hit.
        let events = self.classify(&req);
        self.record(req.pid, events);
        let_continue(lfd, req.id);
        if let Some(after) = self.after.take() {
            self.record(req.pid, after.events());
        }
    }

    /// Appends the events not recorded before.
    fn record(&mut self, pid: u32, events: Vec<Event>) {
        for (kind, reason, path, aux) in events {
            // Program-level records are few; their reason byte is what differs.
            if kind != K_INCOMPLETE && kind != K_SERVICE {
                self.key.clear();
                self.key.push(kind);
                self.key.extend_from_slice(&path);
                self.key.push(0); // never inside a path
                self.key.extend_from_slice(&aux);
                if self.seen.contains(self.key.as_slice()) {
                    continue;
                }
                self.seen.insert(self.key.clone());
            }
            self.appender.append(kind, reason, pid, &path, &aux);
        }
    }

    /// Reads `len` bytes at `addr` of `pid`, reopening `/proc/PID/mem` once if the cached
    /// one belongs to an image that has since been replaced (exec) or to a process that is
    /// gone (the pid reused): then the cached working directory goes too.
    fn read_mem(&mut self, pid: u32, addr: u64, buf: &mut [u8]) -> Option<usize> {
        for attempt in 0..2 {
            if attempt == 1 || !self.procs.contains_key(&pid) {
                let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
                if !self.procs.contains_key(&pid) && self.procs.len() >= CACHED_PIDS {
                    self.procs.clear();
                }
                self.procs.insert(
                    pid,
                    Proc {
                        mem,
                        cwd: None,
                        pidfd: None,
                    },
                );
            }
            if let Ok(n) = self.procs[&pid].mem.read_at(buf, addr) {
                if n > 0 {
                    return Some(n);
                }
            }
        }
        None
    }

    /// The working directory of `pid`, from the cache when it can be trusted.
    fn cwd(&mut self, pid: u32) -> Option<Vec<u8>> {
        if let Some(cwd) = self.procs.get(&pid).and_then(|p| p.cwd.as_ref()) {
            return Some(cwd.clone());
        }
        let cwd = read_link(&format!("/proc/{pid}/cwd"))?;
        if self.chdirs.is_empty() {
            if let Some(p) = self.procs.get_mut(&pid) {
                p.cwd = Some(cwd.clone());
            }
        }
        Some(cwd)
    }

    /// A `chdir`/`fchdir` by `pid` is about to run: forget every cached working directory
    /// (threads share theirs) and cache none until it is settled.
    fn changing_cwd(&mut self, pid: u32, target: Option<Vec<u8>>) {
        for p in self.procs.values_mut() {
            p.cwd = None;
        }
        self.chdirs.push((pid, target));
    }

    /// Drops the pending `chdir`s that are done: their caller is making another call
    /// (`pid`), its working directory already reads as the target, or it is gone.
    fn settle_chdirs(&mut self, pid: u32) {
        if self.chdirs.is_empty() {
            return;
        }
        // Nothing needs forgetting here: `changing_cwd` forgot every cached directory, and
        // none is cached while a change is pending.
        self.chdirs.retain(|(tid, target)| {
            *tid != pid
                && read_link(&format!("/proc/{tid}/cwd"))
                    .is_some_and(|cwd| target.as_ref() != Some(&cwd))
        });
    }

    /// Absolute form of (dirfd, path) as the process sees it now.
    #[allow(clippy::cast_possible_truncation)]
    fn resolve(&mut self, pid: u32, dirfd: u64, path: Vec<u8>) -> Option<Vec<u8>> {
        if path.first() == Some(&b'/') {
            return Some(path);
        }
        let fd = dirfd as i32;
        let mut out = if fd == libc::AT_FDCWD {
            self.cwd(pid)?
        } else {
            read_link(&format!("/proc/{pid}/fd/{fd}"))?
        };
        if !path.is_empty() {
            out.push(b'/');
            out.extend_from_slice(&path);
        }
        Some(out)
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

    /// Absolute form of the (dirfd, path at `addr`) arguments of a call.
    fn absolute(&mut self, pid: u32, dirfd: u64, addr: u64) -> Option<Vec<u8>> {
        let path = self.read_cstr(pid, addr)?;
        self.resolve(pid, dirfd, path)
    }

    #[allow(clippy::too_many_lines, clippy::cast_possible_truncation)]
    fn classify(&mut self, req: &libc::seccomp_notif) -> Vec<Event> {
        let pid = req.pid;
        let a = req.data.args;
        let nr = libc::c_long::from(req.data.nr);
        let cwd = AT_FDCWD_ARG;
        let mut ev: Vec<Event> = Vec::new();
        let mut one = |k: u8, p: Vec<u8>| ev.push((k, 0, p, Vec::new()));
        match nr {
            libc::SYS_io_uring_setup => {
                ev.push((K_INCOMPLETE, R_IO_URING, exe_of(pid), Vec::new()));
            }
            // Seen before it runs, so recorded whatever its outcome (the shim records
            // successes only): a server or watcher is not a build either way.
            libc::SYS_listen => ev.push((K_SERVICE, S_LISTEN, exe_of(pid), Vec::new())),
            libc::SYS_inotify_add_watch => {
                ev.push((K_SERVICE, S_INOTIFY, exe_of(pid), Vec::new()));
            }
            libc::SYS_fanotify_mark => ev.push((K_SERVICE, S_FANOTIFY, exe_of(pid), Vec::new())),
            libc::SYS_getdents64 | libc::SYS_getdents => {
                let fd = a[0] as i32;
                if self.listing_starts(pid, fd) {
                    if let Some(dir) = read_link(&format!("/proc/{pid}/fd/{fd}")) {
                        self.after = Some(After::List(dir));
                    }
                }
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
                self.procs.remove(&pid);
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
                    if read_only(flags as i32) {
                        self.after = Some(After::Open(path, flags as i32));
                    } else {
                        open_kinds(path, flags as i32, &mut one);
                    }
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
                        if let Some(path) = self.resolve(pid, a[0], raw) {
                            let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
                            self.after = Some(After::Probe(path, follow));
                        }
                    }
                }
            }
            libc::SYS_readlinkat => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    self.after = Some(After::Readlink(path));
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
            // Times and modes change the file in place, as the shim records them: a write.
            // utimensat(fd, NULL) is a futimens, recorded at the open.
            libc::SYS_utimensat if a[1] != 0 => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    probe_kinds(
                        path,
                        a[3] as i32 & libc::AT_SYMLINK_NOFOLLOW == 0,
                        K_WRITE,
                        &mut one,
                    );
                }
            }
            libc::SYS_fchmodat => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    probe_kinds(path, true, K_WRITE, &mut one);
                }
            }
            libc::SYS_chdir => {
                let path = self.absolute(pid, cwd, a[0]);
                self.changing_cwd(pid, path.clone());
                if let Some(path) = path {
                    probe_kinds(path, true, K_STAT, &mut one);
                }
            }
            libc::SYS_fchdir => {
                let target = read_link(&format!("/proc/{pid}/fd/{}", a[0] as i32));
                self.changing_cwd(pid, target);
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
                    if read_only(flags) {
                        self.after = Some(After::Open(path, flags));
                    } else {
                        open_kinds(path, flags, one);
                    }
                }
            }
            libc::SYS_stat | libc::SYS_access | libc::SYS_lstat => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    self.after = Some(After::Probe(path, nr != libc::SYS_lstat));
                }
            }
            libc::SYS_readlink => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    self.after = Some(After::Readlink(path));
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
            libc::SYS_utimes | libc::SYS_utime | libc::SYS_chmod => {
                if let Some(path) = self.absolute(pid, cwd, a[0]) {
                    probe_kinds(path, true, K_WRITE, one);
                }
            }
            libc::SYS_futimesat if a[1] != 0 => {
                if let Some(path) = self.absolute(pid, a[0], a[1]) {
                    probe_kinds(path, true, K_WRITE, one);
                }
            }
            _ => {}
        }
    }

    /// Whether a `getdents` on `fd` of `pid` starts a listing: the descriptor's offset is
    /// 0. Read through a copy of the descriptor (`pidfd_getfd`, which shares the offset),
    /// or from `/proc/PID/fdinfo` where that is refused.
    fn listing_starts(&mut self, pid: u32, fd: i32) -> bool {
        let pidfd = match self.procs.get_mut(&pid) {
            Some(p) => {
                if p.pidfd.is_none() {
                    p.pidfd = pidfd_open(pid);
                }
                p.pidfd.as_ref().map(AsRawFd::as_raw_fd)
            }
            None => None,
        };
        if let Some(pidfd) = pidfd {
            // SAFETY: plain system calls; the copy is closed right away.
            unsafe {
                let copy = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0);
                if copy >= 0 {
                    #[allow(clippy::cast_possible_truncation)]
                    let copy = copy as RawFd;
                    let pos = libc::lseek(copy, 0, libc::SEEK_CUR);
                    libc::close(copy);
                    if pos >= 0 {
                        return pos == 0;
                    }
                }
            }
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .is_some_and(|v| v.trim() == "0")
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor we then own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    #[allow(clippy::cast_possible_truncation)]
    // SAFETY: a fresh descriptor owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The target of a symbolic link (here: `/proc` links) as bytes.
fn read_link(path: &str) -> Option<Vec<u8>> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.into_os_string().into_encoded_bytes())
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
        // An append to a missing file: its absence is an input, as the shim records it.
        Probe::Missing if flags & libc::O_APPEND != 0 && !trunc && !excl => {
            one(K_NOTFOUND, path.clone());
            one(K_WRITE, path);
        }
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

/// Is the feature on for this spawn: the builder's choice, else `RUNWIRE_TRACE_SECCOMP`.
pub(crate) fn enabled(choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| std::env::var_os(SWITCH_ENV).is_none_or(|v| v != "0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic-BPF subset the filter uses over a `seccomp_data`.
    fn verdict(program: &[libc::sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&u32::try_from(nr).unwrap().to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes()); // instruction pointer
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = program[pc];
            pc += 1;
            let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
            match i.code {
                BPF_LD_W_ABS => {
                    let at = usize::try_from(i.k).unwrap();
                    acc = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                }
                BPF_JEQ_K => pc += jump(acc == i.k),
                BPF_JGE_K => pc += jump(acc >= i.k),
                BPF_JSET_K => pc += jump(acc & i.k != 0),
                BPF_RET_K => return i.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn filter_notifies_exactly_the_file_calls() {
        let p = filter();
        let notify = libc::SECCOMP_RET_USER_NOTIF;
        let allow = libc::SECCOMP_RET_ALLOW;
        for &nr in SYSCALLS {
            assert_eq!(verdict(&p, AUDIT_ARCH, nr, [0; 6]), notify, "nr {nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_close,
            libc::SYS_mmap,
        ] {
            assert_eq!(verdict(&p, AUDIT_ARCH, nr, [0; 6]), allow, "nr {nr}");
        }
        // Path stats notify; descriptor stats (AT_EMPTY_PATH) do not.
        let cwd = AT_FDCWD_ARG;
        let empty = u64::try_from(libc::AT_EMPTY_PATH).unwrap();
        let nofollow = u64::try_from(libc::AT_SYMLINK_NOFOLLOW).unwrap();
        for (nr, flags_at) in [(libc::SYS_newfstatat, 3), (libc::SYS_statx, 2)] {
            let mut args = [cwd, 0x1000, 0, 0, 0, 0];
            args[flags_at] = nofollow;
            assert_eq!(verdict(&p, AUDIT_ARCH, nr, args), notify, "nr {nr}");
            args[flags_at] = empty | nofollow;
            assert_eq!(verdict(&p, AUDIT_ARCH, nr, args), allow, "nr {nr}");
        }
        // Another architecture's or an x32 call passes untouched.
        assert_eq!(verdict(&p, 0x4000_0003, libc::SYS_openat, [0; 6]), allow);
        let x32 = libc::SYS_openat | i64::from(X32_SYSCALL_BIT);
        assert_eq!(verdict(&p, AUDIT_ARCH, x32, [0; 6]), allow);
    }

    #[test]
    fn filter_frame_is_a_count_then_the_kernel_layout() {
        let p = filter();
        let frame = filter_frame(&p);
        assert_eq!(
            usize::from(u16::from_le_bytes([frame[0], frame[1]])),
            p.len()
        );
        assert_eq!(frame.len(), 2 + 8 * p.len());
        assert_eq!(std::mem::size_of::<libc::sock_filter>(), 8);
        let back = frame[2..].chunks(8).map(|c| {
            // SAFETY: 8 bytes of plain data, read unaligned (the shim's buffer is aligned).
            unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<libc::sock_filter>()) }
        });
        for (a, b) in p.iter().zip(back) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
    }
}
