//! Handing a seccomp listener to the supervisor: the installer (the runner's child between
//! fork and exec; the shim does the same in C) connects to the supervisor's Unix socket,
//! installs the filter and sends the listener descriptor with `SCM_RIGHTS`, or a stage
//! byte plus errno when a step failed.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::filter::filter;

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

pub(super) fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
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
pub(super) fn recv_fd(s: RawFd) -> io::Result<Option<Result<OwnedFd, String>>> {
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
