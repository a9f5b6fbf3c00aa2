//! The spawn instant of a task, on the clock file timestamps come from, and far enough from
//! the runner's own writes that they are never mistaken for a change during the run
//! (spec/fingerprint.md rule 10).
//!
//! The kernel stamps ctime from `CLOCK_REALTIME_COARSE` (or a finer clock that is never
//! behind it), so a file changed after the spawn has a ctime at or after the coarse time
//! read at the spawn. A file the runner itself wrote just before (a dependency's output,
//! a restore) may carry that same tick, or a fine-grained time inside it, so before a
//! spawn the runner waits until the coarse clock has moved past its last write.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The coarse time of the runner's last write into the workspace; 0 until first used.
static LAST_WRITE_NS: AtomicI64 = AtomicI64::new(0);

/// `CLOCK_REALTIME_COARSE` in ns since the epoch.
fn coarse_now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &raw mut ts) };
    if rc != 0 {
        // No coarse clock: the precise one is never behind a file timestamp either.
        return SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    }
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// The coarse clock's tick.
fn tick() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &raw mut ts) };
    let ns = if rc == 0 { ts.tv_nsec } else { 4_000_000 };
    Duration::from_nanos(u64::try_from(ns).unwrap_or(4_000_000).max(1))
}

/// Records that the runner (or a task it ran) has just written into the workspace.
pub fn note_workspace_write() {
    LAST_WRITE_NS.fetch_max(coarse_now_ns(), Ordering::SeqCst);
}

/// The instant to spawn a task at: the first coarse tick after every write the runner knows
/// of (the first call counts everything before it, the user's edits included, as such a
/// write). Waits at most about one tick.
pub fn spawn_instant() -> SystemTime {
    let now = coarse_now_ns();
    // First use: whatever happened before this process counts as written "now".
    let _ = LAST_WRITE_NS.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    let tick = tick();
    loop {
        let now = coarse_now_ns();
        if now > LAST_WRITE_NS.load(Ordering::SeqCst) {
            let ns = u64::try_from(now).unwrap_or(0);
            return UNIX_EPOCH + Duration::from_nanos(ns);
        }
        std::thread::sleep(tick / 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_before_the_spawn_instant_is_older_and_one_written_after_is_not() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let before = d.path().join("before");
        std::fs::write(&before, "x").unwrap();
        note_workspace_write();
        let spawned = spawn_instant();
        let after = d.path().join("after");
        std::fs::write(&after, "y").unwrap();
        let ctime = |p: &std::path::Path| {
            let m = std::fs::metadata(p).unwrap();
            m.ctime() * 1_000_000_000 + m.ctime_nsec()
        };
        let spawned_ns =
            i64::try_from(spawned.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
        assert!(
            ctime(&before) < spawned_ns,
            "the runner's own write counts as before"
        );
        assert!(
            ctime(&after) >= spawned_ns,
            "a later write is at or after the spawn"
        );
    }
}
