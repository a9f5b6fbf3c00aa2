//! File-access tracer of runwire: runs a command and reports every file its process tree
//! read, probed, listed, wrote or deleted, in first-access order per path, so the runner
//! knows a task's real inputs and outputs without configuration. No runner logic lives
//! here: classification (inputs, outputs, emptied directories) belongs to the caller.
//!
//! ```no_run
//! use runwire_trace::{AccessKind, TracedCommand};
//! let outcome = TracedCommand::new("cat").arg("/etc/hostname").spawn()?.wait()?;
//! assert!(outcome.status.success() && outcome.trace.complete());
//! let hostname = outcome.trace.get("/etc/hostname".as_ref()).unwrap();
//! assert_eq!(hostname.first, AccessKind::Read);
//! # Ok::<(), runwire_trace::TraceError>(())
//! ```
//!
//! # How it works on Linux (`x86_64`, glibc)
//!
//! - **Shim.** `shim/runtrace.c` is compiled by build.rs into a standalone `.so`, embedded
//!   with `include_bytes!` and materialized at run time into a per-user 0700 directory
//!   (`$XDG_RUNTIME_DIR/runwire`, else the cache dir, else `<tmp>/runwire-<uid>`) under a
//!   content-hash name, via temp file + rename, re-hashed before reuse (`runwire-artifact`). The command gets
//!   it through `LD_PRELOAD`. It interposes the open/fopen/creat families (+64 and
//!   `__open_2` fortify variants), stat/lstat/fstatat/statx and the `__xstat` family,
//!   access/faccessat, opendir/fdopendir/readdir/scandir/getdents64, readlink(at),
//!   realpath, mkdir/rmdir/unlink/rename/link/symlink (+`at` forms), truncate, chdir,
//!   mkstemp & co, `dlopen` by path, `syscall()` for file syscall numbers and
//!   `io_uring_setup`, `system`/`popen` (the tracer's variables are restored in
//!   `environ` first), and `exec*`/`posix_spawn*`. Relative paths resolve against `getcwd()` or, for a dirfd,
//!   `/proc/self/fd/N`; lexical normalization happens in the supervisor.
//! - **Channel.** The supervisor creates a sparse ring file on tmpfs; every traced process
//!   maps it shared and appends records lock-free (atomic `fetch_add` on a write offset,
//!   then a release store of the record's committed length). Nothing blocks, and a record
//!   committed before a crash is in shared memory already. No space left: the overflow
//!   flag is set and the trace is incomplete, never silently short. The shim keeps a
//!   per-process lock-free set of (kind, path) hashes so repeated accesses cost no record.
//! - **Children.** `exec*`/`posix_spawn*` re-inject `LD_PRELOAD`, `RUNWIRE_TRACE_RING` and
//!   (unless the tool chose a value) `UV_USE_IO_URING=0`, so `env -i` does not escape.
//!   Before exec the shim inspects the target: a static program (no `PT_INTERP`) or a Go
//!   program (build-id ELF note, even when dynamically linked) is followed through seccomp
//!   (next section); a setuid/setgid or foreign-architecture program makes the trace
//!   incomplete with the program named. Every exec and spawn also leaves an expectation that the new image reports in
//!   (`START` record); one that never does is reported as
//!   [`IncompleteReason::ShimNotLoaded`].
//!
//! # Static programs: seccomp user notification
//!
//! Busybox-static, musl builds and `gcc -static` programs never load the shim, and Go
//! programs (static, or dynamic with cgo) make their file calls without libc. When one is
//! exec'd by a traced process (the shim's `execve` hooks) or is the command itself (the
//! runner, between fork and exec), that process calls `prctl(PR_SET_NO_NEW_PRIVS)` and
//! installs a seccomp filter with `SECCOMP_FILTER_FLAG_NEW_LISTENER` just before the exec,
//! and sends the listener descriptor over the supervisor's Unix socket (`SCM_RIGHTS`; the
//! path travels in `RUNWIRE_TRACE_SECCOMP_SOCK`, re-injected like the ring). The BPF
//! program has one source, `filter()` in `src/linux/seccomp/filter.rs`: the supervisor sends it to the
//! shim on each connection. The filter stops the process at open/creat/openat/openat2,
//! stat/lstat/access/faccessat/faccessat2, newfstatat/statx with a path (not the
//! `AT_EMPTY_PATH` form that musl's and Go's `fstat` use), readlink(at),
//! getdents/getdents64, unlink(at)/rmdir, rename/renameat/renameat2, mkdir(at), link(at),
//! symlink(at), truncate, chdir/fchdir, execve/execveat, `io_uring_setup`, and `listen`,
//! `inotify_add_watch` and `fanotify_mark` (see "Servers and watchers" below) (native
//! architecture only; x32 calls pass). One supervisor thread polls the socket and every
//! listener: it reads the path arguments from `/proc/PID/mem`, resolves relative paths
//! against the working directory (`/proc/PID/cwd`, cached per thread until a
//! `chdir`/`fchdir` is seen and settled) or `/proc/PID/fd/DIRFD`, appends the records the
//! shim would write to the same ring (so the order among all processes is ring order), and
//! always answers `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the call runs unchanged. For calls
//! that change nothing (reading opens, stats, readlink, a listing) it answers first and
//! looks at the file system afterwards, while the caller runs: the caller's next call that
//! could change what it looked at waits for the supervisor anyway.
//!
//! The call has not run when the supervisor sees it, so it looks at the file system
//! itself to predict the outcome the shim would have classified: an open for reading of
//! an existing file is a `Read`, of a directory a `Stat`, of nothing a `NotFound`; a create
//! whose parent is missing is a `NotFound`; `rmdir` of a non-empty directory is a `Stat`;
//! and so on (`open_kinds` & co in `src/linux/seccomp/classify.rs`). For `getdents64` it lists the
//! directory itself when the descriptor's offset is 0 (read through a `pidfd_getfd` copy,
//! or `/proc/PID/fdinfo`), i.e. once per listing. `io_uring_setup` makes the trace incomplete as soon as it is called (even a
//! setup the kernel then refuses).
//!
//! Descendants inherit the filter, and a second listener in the same chain fails with
//! `EBUSY`, so it is installed once per static subtree: the installer puts
//! `RUNWIRE_TRACE_SECCOMP_ACTIVE=1` in the exec'd environment, and a shim loading under it
//! (a dynamic program started inside the subtree, confirmed by `Seccomp_filters` in
//! `/proc/self/status`) reports in and then stays idle, since the supervisor already sees
//! its calls. Dynamic programs outside static subtrees keep the `LD_PRELOAD` path only.
//! The feature is on by default; [`TracedCommand::seccomp`]`(false)` or
//! `RUNWIRE_TRACE_SECCOMP=0` in the runner's environment turns it off, and static programs
//! are then [`IncompleteReason::StaticBinary`] again. Any failure to install (another
//! listener already in the chain, a socket path too long, ...) gives
//! [`IncompleteReason::SeccompUnavailable`] with the cause.
//!
//! Races and limits of this path (it records, it never enforces):
//! - Paths are read from another process's memory: another thread of that process can
//!   change the string between our read and the kernel's, so the recorded path can differ
//!   from the one used. Build tools do not do this; a hostile program could.
//! - The outcome is predicted from the file system state at notification time: another
//!   process changing the path between our look and the call makes the kind wrong (a
//!   `NotFound` recorded for a file created in between, or the reverse); getdents names are
//!   the ones present when the listing started, not necessarily those the process read.
//! - The notification is not re-checked with `SECCOMP_IOCTL_NOTIF_ID_VALID` after the
//!   memory read (a system call on every notification): a process killed in between, its
//!   pid reused within microseconds, could at worst add a path it never used (a spurious
//!   input: a cache miss, never a wrong hit).
//! - Each notified call costs two context switches before the supervisor does anything:
//!   `cargo bench -p runwire-trace -- busybox` prints that floor beside the real cost.
//! - `PR_SET_NO_NEW_PRIVS` is inherited: setuid programs below a static program run
//!   without their privileges (`sudo` inside such a subtree fails).
//! - `posix_spawn` of a static program from a dynamic one cannot install the filter in the
//!   child (the call is made by the parent): such a program stays
//!   [`IncompleteReason::StaticBinary`]. Shells (fork + exec), busybox and the runner's
//!   own spawn are covered.
//! - A process that execs a static program and whose exec then fails keeps the filter;
//!   its later calls are recorded twice (shim and supervisor), harmlessly.
//! - Reading `/proc/PID/mem` needs ptrace access: a daemon re-parented away from the runner
//!   under Yama `ptrace_scope` 1 can no longer be read (its calls go unrecorded while they
//!   continue). A process that stays under the filter after the trace was read keeps being
//!   answered (the supervisor thread lingers until its listeners hang up), never blocked.
//! - Only native-architecture calls are reported: a program making 32-bit (`int 0x80`) or
//!   x32 system calls passes unrecorded. Compilers do not emit those in 64-bit programs.
//! - Each notified call costs two context switches plus the supervisor's reads; the
//!   supervisor de-duplicates (kind, path) so repeated calls cost no record.
//!
//! # Servers and watchers
//!
//! A process that calls `listen()` on a socket or sets an inotify watch or a fanotify mark
//! is serving or watching: the run's result depends on what happened while it ran, so it is
//! not a build result even when it exits 0 (a dev server quit with `q`). The shim hooks
//! those libc functions (and `syscall()` with their numbers) and records one `SERVICE`
//! record (`K_SERVICE`, reason `S_LISTEN`, `S_INOTIFY` or `S_FANOTIFY`, path = the program) per process
//! and kind, on success; the seccomp filter records the same for static and Go programs,
//! before the call runs. [`Trace::services`] lists them; the trace stays complete.
//!
//! # Recording rules
//!
//! Each hook calls the real function first and classifies the outcome: success gives the
//! call's own kind; `ENOENT`/`ENOTDIR` give [`AccessKind::NotFound`] (creating the path
//! later must invalidate); any other failure (`EEXIST`, `EACCES`, `EISDIR`...) proves
//! something is there and gives [`AccessKind::Stat`]. A read-only open of a directory is
//! a `Stat` (its listing is recorded separately); `O_RDWR` without `O_TRUNC` records a
//! `Read` before the write when the file existed. An exec records the program file as a
//! `Read` and every `PATH` miss before it as `NotFound`. Per path, the supervisor keeps
//! the first kind in ring order and the set of later kinds; listings collect the names
//! seen, without `.` and `..`.
//!
//! # Limits (each makes the trace incomplete or is documented as not seen)
//!
//! - Calls libc makes internally are not interposable: this is why fopen, scandir,
//!   realpath and friends are hooked themselves. The dynamic loader's own opens
//!   (`DT_NEEDED` libraries) are not recorded; `dlopen` by path (node addons, Python
//!   extensions) is, as a read. `dlopen` by bare name or with `$ORIGIN` passes through
//!   as a tail call, unrecorded, so the loader still sees the real caller.
//! - Raw `syscall` instructions (Go, static binaries, `io_uring`) bypass libc. Static
//!   binaries and Go programs (their build-id ELF note, even when dynamically linked) are
//!   followed through seccomp (above); `io_uring` is detected and reported; another
//!   dynamic program issuing raw syscalls inline (not through `syscall()`) is not seen.
//! - A dirfd resolves through `/proc/self/fd`, i.e. the kernel's path (symlinks resolved),
//!   while `AT_FDCWD`-relative paths use `getcwd()` (also physical).
//! - `readdir_r` and `fts` inside glibc are not hooked (coreutils ships its own fts, which
//!   calls the hooked functions).
//! - The trace is read when the root process has exited, no traced process holds its
//!   shared `flock` on the ring any more and every seccomp listener has hung up (or the linger time passed: then
//!   [`IncompleteReason::ProcessesStillRunning`]). The lock descriptor (number 512 or more,
//!   64 or more under a low descriptor limit; named in `RUNWIRE_TRACE_LOCK_FD`) is inherited
//!   across fork and exec, so there is no gap while a child execs. A daemon that closes
//!   every descriptor drops it early: its later accesses are missed without notice.
//! - File capabilities (`security.capability`) also put the loader in secure mode; only the
//!   setuid/setgid bits are checked.
//!
//! # Other platforms (designed, not built)
//!
//! - **Linux aarch64.** Same shim, ring and record format; build.rs compiles the shim for
//!   the target. What differs is prepared in the code but not yet built or tested here (no
//!   cross toolchain on this machine): aarch64 has only the `*at` path syscalls (no `open`,
//!   `stat`, `access`, `rename`, `renameat`), so the `syscall()` switch guards those with
//!   `#ifdef`; the ELF checks compare `e_machine` with `EM_AARCH64` (shim and `elf.rs`);
//!   the `__xstat` family exists there only for old binaries and binds lazily, like every
//!   hook. Still to do: CI on an aarch64 runner, and checking libuv's aarch64 `syscall()`
//!   use (same `statx`/`io_uring_setup` calls through `SYS_*`).
//! - **macOS and Windows.** The plan (DYLD interposing; Detours-like injection with ETW
//!   as the follower), what they share with Linux (records, codes, ring protocol, the
//!   `Trace` model) and what differs is in `src/platform/README.md`, the documentation
//!   of the platform seam: the items `command.rs` calls, which a new platform provides
//!   from its own `src/<os>/` module.
//!
//! # Layout
//!
//! - `command.rs`: the builder and the run (OS-neutral apart from what it asks of
//!   `platform`); `trace.rs`: the `Trace` model, folded from records; `ring.rs`: the
//!   shared-memory ring; `record.rs`: the record codes as `#[repr(u8)]` enums, the typed
//!   `Event` the supervisor appends, and the generator of `shim/runtrace_codes.h`, the
//!   header the shim includes (a test fails when the committed one is stale; `cargo xtask
//!   codegen` rewrites it).
//! - `platform/`: the seam; `linux/seccomp/`: the supervisor path on Linux, one concern per
//!   module (`filter`, `fdpass`, `supervisor`, `memory`, `classify`); `shim.rs` + build.rs:
//!   the injected library; `elf.rs`: which programs it cannot enter.

mod command;
mod elf;
mod error;
#[cfg(target_os = "linux")]
mod linux;
mod platform;
mod record;
mod ring;
mod shim;
mod trace;

pub use command::{
    DEFAULT_LINGER, DEFAULT_RING_CAPACITY, TraceOutcome, TracedChild, TracedCommand, TracedOutput,
    contain,
};
pub use error::{TraceError, TraceErrorCode};
pub use trace::{
    AccessKind, IncompleteReason, IncompleteReasonKind, PathAccess, Service, ServiceKind, Trace,
};

/// For the benchmark only (`benches/trace.rs`): the kernel's own cost of the seccomp path.
#[doc(hidden)]
pub mod floor {
    pub use crate::platform::run_continue_only;
}

/// For `cargo xtask codegen` and its freshness test only: the C header of the record codes.
#[doc(hidden)]
pub mod codegen {
    pub use crate::record::{C_HEADER_PATH, c_header};
}
