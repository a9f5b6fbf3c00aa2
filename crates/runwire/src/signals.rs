//! SIGINT and SIGTERM to the runner stop the run: the signal is forwarded to every task's
//! process group, the tasks get a grace period (5 s; `RUNWIRE_KILL_GRACE_MS` overrides it),
//! then the groups still alive are `SIGKILL`ed, nothing more is stored in the cache, and
//! runwire exits with 128 + the signal (130, 143) after one line saying so. A second signal
//! during the grace period kills at once.
//!
//! How: [`install`] blocks both signals in the main thread before any other thread exists
//! (threads inherit the mask; `std::process::Command` clears it in children), and one
//! thread takes them with `sigtimedwait`. Tasks are found as the runner's own children
//! (`/proc/*/stat` with our pid as parent): each runs in a process group of its own
//! (`runwire_trace::contain`), led by that child.

use std::time::{Duration, Instant};

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by `main` when the run is over: if a signal is being handled, the signal thread
/// decides the exit (code and message), so this thread waits for it and never returns.
pub fn defer_to_interruption() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// The grace period when `RUNWIRE_KILL_GRACE_MS` is not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Blocks SIGINT and SIGTERM in this thread and starts the thread that handles them. Call
/// first thing in `main`, before any other thread is started.
pub fn install() {
    let set = signal_set();
    // SAFETY: a valid, initialized signal set; only this thread's mask changes.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
    }
    let spawned = std::thread::Builder::new()
        .name("runwire-signals".into())
        .spawn(move || {
            loop {
                let sig = wait_signal(&set, None);
                if let Some(sig) = sig {
                    interrupted(sig, &set);
                }
            }
        });
    if spawned.is_err() {
        // Without the thread, fall back to the default: the signal ends the runner (the
        // tasks still die with it through their parent-death signal).
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
        }
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set; sigaddset with valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        set
    }
}

/// The next signal of `set`, or `None` when `timeout` passes first.
fn wait_signal(set: &libc::sigset_t, timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
    // SAFETY: valid set and timespec (or null: wait forever); no siginfo wanted.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), ts_ptr) };
    (sig > 0).then_some(sig)
}

/// The grace period in milliseconds; `u64::MAX` until [`set_grace`] runs.
static GRACE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// Sets the grace period (from the resolved settings; [`DEFAULT_GRACE`] when `None`).
pub fn set_grace(grace: Option<Duration>) {
    let ms = grace.unwrap_or(DEFAULT_GRACE).as_millis();
    GRACE_MS.store(
        u64::try_from(ms).unwrap_or(u64::MAX - 1),
        std::sync::atomic::Ordering::SeqCst,
    );
}

fn grace() -> Duration {
    match GRACE_MS.load(std::sync::atomic::Ordering::SeqCst) {
        u64::MAX => DEFAULT_GRACE,
        ms => Duration::from_millis(ms),
    }
}

fn interrupted(sig: i32, set: &libc::sigset_t) -> ! {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
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
        if wait_signal(set, Some((deadline - now).min(Duration::from_millis(20)))).is_some() {
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
