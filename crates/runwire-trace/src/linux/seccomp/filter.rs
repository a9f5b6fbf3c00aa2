//! The BPF program the kernel runs at every system call of a process under our filter:
//! which calls stop for the supervisor (user notification) and which pass, plus the frame
//! in which the supervisor hands the same program to the shim.

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
/// program: the supervisor hands it over on each connection (`supervisor.rs`, `accept_all`).
pub(super) fn filter() -> Vec<libc::sock_filter> {
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
pub(super) fn filter_frame(program: &[libc::sock_filter]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::super::AT_FDCWD_ARG;
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
