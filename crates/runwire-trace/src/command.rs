//! `TracedCommand`: `std::process::Command` with the tracer attached.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::elf;
use crate::error::TraceError;
use crate::platform::{self, Installer, Supervisor};
use crate::ring::{Appender, Ring};
use crate::shim;
use crate::trace::{IncompleteReason, Trace};

/// Makes a command's process the leader of a new process group (so a runner can signal
/// the whole task tree with `kill(-pgid)` without signalling itself or its own parent), and
/// asks the kernel to `SIGKILL` it when its parent goes away (`PR_SET_PDEATHSIG`), so a
/// runner killed with `SIGKILL` does not leave its task running.
///
/// Caveats: the death signal fires when the *thread* that forked the child exits, not the
/// process, so spawn from a thread that outlives the child (runwire spawns and waits on the
/// same worker thread). It reaches the direct child only: descendants that outlive it are
/// not killed by the kernel (a runner that is signalled kills the whole group instead). A
/// task in its own group is not in the terminal's foreground group: Ctrl-C reaches the
/// runner, which forwards it; a task that reads the terminal directly would be stopped.
pub fn contain(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe system calls on no shared memory.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody will signal us.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Default time [`TracedChild::wait`] gives descendants that outlive the root process.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// Default ring size. The file is sparse: only the bytes written use memory.
pub const DEFAULT_RING_CAPACITY: u64 = 1 << 30;

/// The caller's decision about one environment variable.
#[derive(Debug, Clone, Default)]
enum EnvChoice {
    #[default]
    Inherit,
    Set(OsString),
    Removed,
}

/// A command to run under the tracer; the builder mirrors `std::process::Command`.
pub struct TracedCommand {
    inner: Command,
    program: OsString,
    cwd: Option<PathBuf>,
    cleared: bool,
    /// What the caller did with the variables the tracer also sets or reads.
    ld_preload: EnvChoice,
    uv_io_uring: EnvChoice,
    path_var: EnvChoice,
    ring_capacity: u64,
    linger: Duration,
    stdin_set: bool,
    seccomp: Option<bool>,
}

// Hand-written so environment values never reach a log through `{:?}`.
impl std::fmt::Debug for TracedCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedCommand")
            .field("program", &self.program)
            .field("args", &self.inner.get_args().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

impl TracedCommand {
    /// A command running `program` (looked up in `PATH` like `Command::new`). The root runs
    /// in a process group of its own and is `SIGKILL`ed when the spawning thread dies
    /// ([`contain`]).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let mut inner = Command::new(program.as_ref());
        contain(&mut inner);
        Self {
            inner,
            program: program.as_ref().to_owned(),
            cwd: None,
            cleared: false,
            ld_preload: EnvChoice::Inherit,
            uv_io_uring: EnvChoice::Inherit,
            path_var: EnvChoice::Inherit,
            ring_capacity: DEFAULT_RING_CAPACITY,
            linger: DEFAULT_LINGER,
            stdin_set: false,
            seccomp: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self.inner.current_dir(dir);
        self
    }

    fn remember(&mut self, key: &OsStr, val: Option<&OsStr>) -> bool {
        let slot = match key.to_str() {
            Some(platform::PRELOAD_ENV) => &mut self.ld_preload,
            Some("UV_USE_IO_URING") => &mut self.uv_io_uring,
            Some("PATH") => &mut self.path_var,
            _ => return false,
        };
        *slot = val.map_or(EnvChoice::Removed, |v| EnvChoice::Set(v.to_owned()));
        true
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        // LD_PRELOAD is combined with the shim at spawn; the others are also passed now.
        if !self.remember(key.as_ref(), Some(val.as_ref())) || key.as_ref() != platform::PRELOAD_ENV
        {
            self.inner.env(key, val);
        }
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.remember(key.as_ref(), None);
        self.inner.env_remove(key);
        self
    }

    pub fn env_clear(&mut self) -> &mut Self {
        self.cleared = true;
        self.ld_preload = EnvChoice::Inherit;
        self.uv_io_uring = EnvChoice::Inherit;
        self.path_var = EnvChoice::Inherit;
        self.inner.env_clear();
        self
    }

    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stdin_set = true;
        self.inner.stdin(cfg);
        self
    }

    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdout(cfg);
        self
    }

    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stderr(cfg);
        self
    }

    /// Bytes of event space (default [`DEFAULT_RING_CAPACITY`]); running out marks the
    /// trace incomplete with [`IncompleteReason::RingOverflow`].
    pub fn ring_capacity(&mut self, bytes: u64) -> &mut Self {
        self.ring_capacity = bytes.max(64);
        self
    }

    /// How long [`TracedChild::wait`] waits, after the root process exited, for traced
    /// descendants it left running (default [`DEFAULT_LINGER`]); any still running then
    /// make the trace incomplete ([`IncompleteReason::ProcessesStillRunning`]).
    pub fn linger(&mut self, time: Duration) -> &mut Self {
        self.linger = time;
        self
    }

    /// Whether statically linked programs are traced through seccomp user notification
    /// (default: on unless `RUNWIRE_TRACE_SECCOMP=0` is set in the runner's environment).
    /// Off, a static program makes the trace incomplete
    /// ([`IncompleteReason::StaticBinary`]).
    pub fn seccomp(&mut self, on: bool) -> &mut Self {
        self.seccomp = Some(on);
        self
    }

    /// The value a child-visible variable will have (caller's choice, else inherited).
    fn child_var(&self, choice: &EnvChoice, name: &str) -> Option<OsString> {
        match choice {
            EnvChoice::Set(v) => Some(v.clone()),
            EnvChoice::Removed => None,
            EnvChoice::Inherit if self.cleared => None,
            EnvChoice::Inherit => std::env::var_os(name),
        }
    }

    /// Starts the command with the tracer attached.
    pub fn spawn(&mut self) -> Result<TracedChild, TraceError> {
        let shim = shim::shim_path()?;
        let (dir, capacity) = ring_dir(self.ring_capacity)?;
        let ring = Ring::create(&dir.path().join("ring"), capacity)?;

        let mut preload = shim.clone().into_os_string();
        if let Some(theirs) = self.child_var(&self.ld_preload, platform::PRELOAD_ENV) {
            if !theirs.is_empty() {
                preload.push(":");
                preload.push(theirs);
            }
        }
        self.inner.env(platform::PRELOAD_ENV, preload);
        self.inner.env("RUNWIRE_TRACE_RING", ring.path());
        if matches!(self.uv_io_uring, EnvChoice::Inherit) {
            // io_uring file operations bypass libc; libuv honours this switch.
            self.inner.env("UV_USE_IO_URING", "0");
        }

        let path_var = self.child_var(&self.path_var, "PATH");
        let resolved = elf::resolve(&self.program, self.cwd.as_deref(), path_var.as_deref());
        let mut untraceable = resolved.as_deref().and_then(elf::untraceable);
        let program = self.program.to_string_lossy().into_owned();

        // Variables of an outer tracer must not leak into this tree.
        self.inner.env_remove(platform::ACTIVE_ENV);
        self.inner.env_remove(platform::SOCK_ENV);
        let mut supervisor = None;
        let mut static_root = None;
        if platform::enabled(self.seccomp) {
            let sock = dir.path().join("seccomp.sock");
            let started = Appender::open(&ring)
                .map_err(|e| e.to_string())
                .and_then(|a| Supervisor::start(&sock, a).map_err(|e| e.to_string()));
            match started {
                Ok(s) => {
                    self.inner.env(platform::SOCK_ENV, s.sock());
                    supervisor = Some(s);
                }
                Err(cause) => {
                    if let Some(
                        IncompleteReason::StaticBinary { program }
                        | IncompleteReason::GoBinary { program },
                    ) = &untraceable
                    {
                        untraceable = Some(IncompleteReason::SeccompUnavailable {
                            program: program.clone(),
                            cause,
                        });
                    }
                }
            }
        }
        if let (
            Some(
                IncompleteReason::StaticBinary { program: exe }
                | IncompleteReason::GoBinary { program: exe },
            ),
            Some(sup),
        ) = (&untraceable, &supervisor)
        {
            match Installer::new(sup.sock()) {
                Ok(installer) => {
                    use std::os::unix::process::CommandExt;
                    // SAFETY: the closure only makes system calls on memory prepared
                    // before the fork (see `Installer::install`).
                    unsafe {
                        self.inner.pre_exec(move || {
                            installer.install();
                            Ok(())
                        });
                    }
                    self.inner.env(platform::ACTIVE_ENV, "1");
                    static_root = Some(exe.clone());
                    untraceable = None;
                }
                Err(e) => {
                    untraceable = Some(IncompleteReason::SeccompUnavailable {
                        program: exe.clone(),
                        cause: e.to_string(),
                    });
                }
            }
        }

        let mut child = self.inner.spawn().map_err(|source| TraceError::Spawn {
            program: program.clone(),
            source,
        })?;
        // A static root reports through the supervisor (its exec is a notification), not
        // through a shim START record.
        let expected = (untraceable.is_none() && static_root.is_none()).then(|| {
            let shown = resolved
                .clone()
                .unwrap_or_else(|| PathBuf::from(&self.program));
            (child.id(), shown)
        });
        Ok(TracedChild {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            supervisor,
            static_root,
            ring,
            _dir: dir,
            expected,
            untraceable,
            program,
            linger: self.linger,
        })
    }

    /// Runs the command to completion, capturing stdout and stderr (stdin is null unless
    /// set), like `Command::output`.
    pub fn output(&mut self) -> Result<TracedOutput, TraceError> {
        if !self.stdin_set {
            self.inner.stdin(Stdio::null());
        }
        self.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn()?.wait_with_output()
    }
}

/// The smallest ring worth tracing into: below it nearly every run would overflow.
const MIN_RING_CAPACITY: u64 = 1 << 20;

/// Where the ring goes: a private directory on tmpfs when there is room (the runtime dir,
/// else /dev/shm), else under the per-user artifact directory with a capacity clamped to
/// half the free space (a full file system would turn appends into SIGBUS); with less than
/// [`MIN_RING_CAPACITY`] there, no ring (the caller runs untraced rather than risk SIGBUS).
fn ring_dir(capacity: u64) -> Result<(tempfile::TempDir, u64), TraceError> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        bases.push(d);
    }
    bases.push(PathBuf::from("/dev/shm"));
    for base in &bases {
        if base.is_absolute() && free_bytes(base).is_some_and(|free| free / 2 >= capacity) {
            if let Ok(d) = tempfile::Builder::new()
                .prefix("runwire-trace-")
                .tempdir_in(base)
            {
                return Ok((d, capacity));
            }
        }
    }
    let base = shim::artifact_dir();
    shim::private_dir(&base)?;
    let clamp = free_bytes(&base).map_or(capacity, |free| (free / 2).min(capacity));
    if clamp < MIN_RING_CAPACITY.min(capacity) {
        return Err(TraceError::Ring {
            path: base,
            source: std::io::Error::other(format!(
                "only {clamp} bytes of room for the trace ring, {MIN_RING_CAPACITY} needed"
            )),
        });
    }
    let d = tempfile::Builder::new()
        .prefix("ring-")
        .tempdir_in(&base)
        .map_err(|source| TraceError::Ring {
            path: base.clone(),
            source,
        })?;
    Ok((d, clamp))
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is writable for one statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// A running traced command; the pipes are those of `std::process::Child`.
#[derive(Debug)]
pub struct TracedChild {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    child: Child,
    /// Declared before `ring`: dropped (stopped) first.
    supervisor: Option<Supervisor>,
    static_root: Option<PathBuf>,
    ring: Ring,
    _dir: tempfile::TempDir,
    expected: Option<(u32, PathBuf)>,
    untraceable: Option<IncompleteReason>,
    program: String,
    linger: Duration,
}

/// Exit status and trace of a finished command.
#[derive(Debug)]
pub struct TraceOutcome {
    pub status: ExitStatus,
    pub trace: Trace,
}

/// Like `std::process::Output`, plus the trace.
#[derive(Debug)]
pub struct TracedOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub trace: Trace,
}

impl TracedChild {
    /// OS pid of the root process.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to the root process.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits for the root process, then reads the trace. Processes it left running may
    /// still be writing; a record they have reserved but not finished makes the trace
    /// incomplete ([`IncompleteReason::TornRecord`]) rather than silently short.
    pub fn wait(mut self) -> Result<TraceOutcome, TraceError> {
        drop(self.stdin.take());
        let status = self.child.wait().map_err(|source| TraceError::Wait {
            program: self.program.clone(),
            source,
        })?;
        let trace = self.read_trace()?;
        Ok(TraceOutcome { status, trace })
    }

    /// Waits while collecting stdout and stderr (the ones set to `Stdio::piped()`).
    pub fn wait_with_output(mut self) -> Result<TracedOutput, TraceError> {
        use std::io::Read;
        drop(self.stdin.take());
        let err_pipe = self.stderr.take();
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = err_pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        });
        let mut stdout = Vec::new();
        if let Some(mut p) = self.stdout.take() {
            let _ = p.read_to_end(&mut stdout);
        }
        let stderr = err_thread.join().unwrap_or_default();
        let TraceOutcome { status, trace } = self.wait()?;
        Ok(TracedOutput {
            status,
            stdout,
            stderr,
            trace,
        })
    }

    fn read_trace(&mut self) -> Result<Trace, TraceError> {
        // Descendants may outlive the root: give them the linger time, polling the
        // liveness lock and, for processes under a seccomp filter, the listeners (no
        // signal exists for "the last traced process exited").
        let gone = |c: &Self| {
            c.ring.all_writers_gone() && c.supervisor.as_ref().is_none_or(Supervisor::idle)
        };
        let deadline = Instant::now() + self.linger;
        let mut settled = gone(self);
        // Usually the last process is gone within microseconds of the root (the supervisor
        // has yet to see its listener hang up): start with short naps, back off to 5 ms.
        let mut nap = Duration::from_micros(50);
        while !settled && Instant::now() < deadline {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
            settled = gone(self);
        }
        let mut failures = Vec::new();
        let mut received = 0;
        if let Some(sup) = self.supervisor.as_mut() {
            failures = sup.finish();
            received = sup.received();
        }
        let raw = self.ring.read()?;
        let mut trace = Trace::from_raw(raw, self.expected.clone());
        if let Some(exe) = &self.static_root {
            if received == 0 && failures.is_empty() {
                failures.push("the root process sent no seccomp listener".into());
            }
            for cause in failures {
                trace = trace.with_reason(IncompleteReason::SeccompUnavailable {
                    program: exe.clone(),
                    cause,
                });
            }
        } else if !failures.is_empty() {
            let program = self
                .expected
                .as_ref()
                .map_or_else(|| PathBuf::from(&self.program), |(_, p)| p.clone());
            for cause in failures {
                trace = trace.with_reason(IncompleteReason::SeccompUnavailable {
                    program: program.clone(),
                    cause,
                });
            }
        }
        if let Some(r) = &self.untraceable {
            trace = trace.with_reason(r.clone());
        }
        if !settled {
            // A process still starting has not reported in yet: that is this reason, not
            // a shim that failed to load.
            trace = trace
                .without_shim_not_loaded()
                .with_reason(IncompleteReason::ProcessesStillRunning);
        }
        Ok(trace)
    }
}
