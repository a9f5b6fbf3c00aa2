//! SIGINT and SIGTERM to the runner stop the run: the signal is forwarded to every task's
//! process group, the tasks get a grace period (5 s; `RUNWIRE_KILL_GRACE_MS` overrides it),
//! then the groups still alive are `SIGKILL`ed, nothing more is stored in the cache, and
//! runwire exits with 128 + the signal (130, 143) after one line saying so. A second signal
//! during the grace period kills at once.
//!
//! How: [`install`] sets a handler and starts no thread: a run of cache hits never starts
//! a task, and a thread would cost it ~0.15 ms. Until a task is about to start there is
//! nothing to stop, so the handler prints the line and ends the runner itself (`write` and
//! `_exit` are async-signal-safe; a store cut short is crash-safe, see runwire-cache).
//! [`watch_tasks`], called before a task's command is spawned, starts the watcher thread
//! once; from then on the handler only writes the signal's number into the watcher's pipe
//! (async-signal-safe too) and the watcher forwards it to every task's process group,
//! waits out the grace period and decides the exit. Tasks are found as the runner's own
//! children (`/proc/*/stat` with our pid as parent): each runs in a process group of its
//! own (`runwire_trace::contain`), led by that child. A child between fork and exec shares
//! the handler and leaves the signal alone; exec resets it.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The write end of the watcher's pipe; -1 until the watcher runs.
static WATCHER: AtomicI32 = AtomicI32::new(-1);
/// The runner's pid, for the handler to tell a freshly forked child from the runner.
static RUNNER_PID: AtomicI32 = AtomicI32::new(0);

/// Called by `main` when the run is over: if a signal is being handled, the watcher
/// decides the exit (code and message), so this thread waits for it and never returns.
pub fn defer_to_interruption() {
    if INTERRUPTED.load(SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// The grace period when `RUNWIRE_KILL_GRACE_MS` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Sets the handler of SIGINT and SIGTERM. Call first thing in `main`.
pub fn install() {
    // SAFETY: getpid has no preconditions.
    RUNNER_PID.store(unsafe { libc::getpid() }, SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is valid; the mask is initialized by sigemptyset and
        // the handler has the signature `sa_handler` expects (no SA_SIGINFO).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut action.sa_mask);
            libc::sigaction(sig, &raw const action, std::ptr::null_mut());
        }
    }
}

/// Starts the watcher that stops the tasks on a signal (once; later calls do nothing).
/// Call before spawning a task's command.
pub fn watch_tasks() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let mut fds = [-1; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            // No watcher: a signal then ends the runner at once, and the tasks die with it
            // through their parent-death signal.
            return;
        }
        let [read_end, write_end] = fds;
        let spawned = std::thread::Builder::new()
            .name("runwire-signals".into())
            .spawn(move || {
                loop {
                    if let Some(sig) = next_signal(read_end, None) {
                        interrupted(sig, read_end);
                    }
                }
            });
        if spawned.is_ok() {
            WATCHER.store(write_end, SeqCst);
        } else {
            // SAFETY: both descriptors were opened above and are closed exactly once.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
        }
    });
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: only async-signal-safe calls (getpid, write, _exit), atomics and errno, which
    // is restored for the code the signal interrupted.
    unsafe {
        if libc::getpid() != RUNNER_PID.load(SeqCst) {
            return;
        }
        let errno = *libc::__errno_location();
        let watcher = WATCHER.load(SeqCst);
        if watcher >= 0 {
            #[allow(clippy::cast_sign_loss)] // SIGINT or SIGTERM
            let byte = sig as u8;
            libc::write(watcher, (&raw const byte).cast(), 1);
            *libc::__errno_location() = errno;
            return;
        }
        let line: &[u8] = if sig == libc::SIGINT {
            b"runwire: interrupted by SIGINT before any task started; nothing of this run was cached\n"
        } else {
            b"runwire: interrupted by SIGTERM before any task started; nothing of this run was cached\n"
        };
        libc::write(2, line.as_ptr().cast(), line.len());
        libc::_exit(128 + sig);
    }
}

/// The next signal number from the watcher's pipe, or `None` when `timeout` passes first
/// (or the wait was interrupted: the caller asks again).
fn next_signal(read_end: RawFd, timeout: Option<Duration>) -> Option<i32> {
    let mut pfd = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&raw mut pfd, 1, ms) } <= 0 {
        return None;
    }
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`.
    let n = unsafe { libc::read(read_end, (&raw mut byte).cast(), 1) };
    (n == 1).then_some(i32::from(byte))
}

/// The grace period in milliseconds; `u64::MAX` until [`set_grace`] runs.
static GRACE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// Sets the grace period (from the resolved settings; [`DEFAULT_GRACE`] when `None`).
pub fn set_grace(grace: Option<Duration>) {
    let ms = grace.unwrap_or(DEFAULT_GRACE).as_millis();
    GRACE_MS.store(u64::try_from(ms).unwrap_or(u64::MAX - 1), SeqCst);
}

fn grace() -> Duration {
    match GRACE_MS.load(SeqCst) {
        u64::MAX => DEFAULT_GRACE,
        ms => Duration::from_millis(ms),
    }
}

fn interrupted(sig: i32, read_end: RawFd) -> ! {
    INTERRUPTED.store(true, SeqCst);
    runwire_cache::close_stores();
    let grace = grace();
    let deadline = Instant::now() + grace;
    let mut signalled: Vec<i32> = Vec::new();
    let mut forced = false;
    loop {
        // Tasks started meanwhile get the signal too.
        for child in children() {
            if !signalled.contains(&child) {
                signal_task(child, sig);
                signalled.push(child);
            }
        }
        if !signalled.iter().any(|&g| group_alive(g)) && children().is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            forced = true;
            break;
        }
        // A second signal means "now"; otherwise poll again soon.
        if next_signal(
            read_end,
            Some((deadline - now).min(Duration::from_millis(20))),
        )
        .is_some()
        {
            forced = true;
            break;
        }
    }
    if forced {
        for child in children() {
            if !signalled.contains(&child) {
                signalled.push(child);
            }
        }
        for &group in &signalled {
            signal_task(group, libc::SIGKILL);
        }
    }
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    let how = if forced {
        format!(
            "tasks still running after {}ms were killed",
            grace.as_millis()
        )
    } else {
        "the tasks stopped".to_owned()
    };
    eprintln!("runwire: interrupted by {name}: {how}; nothing of this run was cached");
    std::process::exit(128 + sig);
}

/// Signals a task: its whole process group when it leads one (as runwire's tasks do),
/// else the process alone.
fn signal_task(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects; a vanished pid is ESRCH, which is fine.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, sig);
        } else {
            libc::kill(pid, sig);
        }
    }
}

/// `(pid, ppid, pgrp, state)` of every process, from `/proc/*/stat`.
fn processes() -> Vec<(i32, i32, i32, u8)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name is in parentheses and may hold anything: parse after it.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split(' ');
            let state = fields.next()?.bytes().next()?;
            let parent = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            Some((pid, parent, pgrp, state))
        })
        .collect()
}

/// The runner's living child processes (not yet exited).
fn children() -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    processes()
        .into_iter()
        .filter(|&(_, ppid, _, state)| ppid == me && state != b'Z' && state != b'X')
        .map(|(pid, ..)| pid)
        .collect()
}

/// Whether any process of group `pgid` is alive (zombies waiting to be reaped are not).
fn group_alive(pgid: i32) -> bool {
    processes()
        .into_iter()
        .any(|(_, _, pgrp, state)| pgrp == pgid && state != b'Z' && state != b'X')
}
