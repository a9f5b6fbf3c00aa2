//! Signals to a real `runwire` running a real task tree (issue #22 item 4). No sleeps: the
//! test waits for a file the task writes once its traps are set (polling with a generous
//! bound), then signals runwire's pid and waits for its exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

const PACKAGE_JSON: &str = r#"{ "name": "app", "scripts": {
  "trapper": "trap 'echo got the signal > marker.txt; exit 0' INT TERM; echo $$ > task.pid; while :; do sleep 0.05; done",
  "stubborn": "trap '' TERM; echo $$ > task.pid; while :; do sleep 0.05; done",
  "sleeper": "echo $$ > task.pid; exec sleep 1000",
  "quick": "echo quick"
} }"#;

/// A workspace `ws/` next to `rt/`, the runtime dir where its runners put their protocol
/// socket directories.
struct Repo {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
}

impl Repo {
    fn path(&self) -> &Path {
        &self.ws
    }
}

fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("package.json"), PACKAGE_JSON).unwrap();
    std::fs::create_dir(runtime_dir(&ws)).unwrap();
    Repo { _tmp: tmp, ws }
}

fn runtime_dir(ws: &Path) -> PathBuf {
    ws.parent().unwrap().join("rt")
}

fn socket_dirs(repo: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runtime_dir(repo))
        .unwrap()
        .map(|e| e.unwrap().path())
        // The protocol server's (the runtime dir also holds the tracer's and artifacts).
        .filter(|p| p.join("s").exists())
        .collect();
    dirs.sort();
    dirs
}

fn runwire(repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runwire"));
    c.args(args)
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .env("RUNWIRE_KILL_GRACE_MS", "300")
        .env("XDG_RUNTIME_DIR", runtime_dir(repo))
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUNWIRE_") && k != "RUNWIRE_KILL_GRACE_MS" {
            c.env_remove(k);
        }
    }
    c
}

fn start(repo: &Path, task: &str) -> Child {
    runwire(repo, &["run", task])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The task's pid, once it has written it (its traps are set by then).
fn task_pid(repo: &Path, runner: &mut Child) -> i32 {
    let file: PathBuf = repo.join("task.pid");
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Some(line) = text.strip_suffix('\n')
        {
            return line.parse().unwrap();
        }
        if let Some(status) = runner.try_wait().unwrap() {
            panic!("runwire exited ({status}) before the task started");
        }
        assert!(start.elapsed() < BOUND, "the task never wrote its pid");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory effects.
    let rc = unsafe { libc::kill(i32::try_from(pid).unwrap(), sig) };
    assert_eq!(rc, 0, "kill failed");
}

/// Gone, or a zombie nobody reaps (runwire is dead; its orphans go to init).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .is_some_and(|i| stat[i + 2..].starts_with('Z')),
    }
}

fn wait_gone(pid: i32) {
    let start = Instant::now();
    while !process_gone(pid) {
        assert!(
            start.elapsed() < BOUND,
            "task pid {pid} still alive after runwire ended"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish(runner: Child) -> (Option<i32>, String) {
    let out = runner.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigint_is_forwarded_exits_130_and_caches_nothing() {
    let repo = repo();
    let mut runner = start(repo.path(), "trapper");
    let pid = task_pid(repo.path(), &mut runner);
    signal(runner.id(), libc::SIGINT);
    let (code, stderr) = finish(runner);
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(
        stderr.matches("runwire: interrupted by SIGINT").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("the tasks stopped"), "{stderr}");
    // The task's trap ran: the signal reached its process group.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("marker.txt")).unwrap(),
        "got the signal\n"
    );
    wait_gone(pid);
    // It exited 0 from its trap, yet nothing was stored: the plan still says miss.
    let plan = runwire(repo.path(), &["run", "trapper", "--dry-run"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stderr);
    assert!(plan.contains("cache: miss"), "{plan}");
}

#[test]
fn sigterm_ignored_by_the_task_ends_with_a_group_sigkill_and_143() {
    let repo = repo();
    let mut runner = start(repo.path(), "stubborn");
    let pid = task_pid(repo.path(), &mut runner);
    signal(runner.id(), libc::SIGTERM);
    let (code, stderr) = finish(runner);
    assert_eq!(code, Some(143), "{stderr}");
    assert_eq!(
        stderr.matches("runwire: interrupted by SIGTERM").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("were killed"), "{stderr}");
    wait_gone(pid);
}

/// Before any task has started there is nothing to forward: the runner ends at once with
/// the signal's code and says so. It is held where it would wait longest: another runner
/// (here the test) holds the lock under which a runner opens the cache.
#[test]
fn a_signal_before_any_task_started_ends_the_runner_at_once() {
    use std::os::fd::AsRawFd;
    let repo = repo();
    let cache = repo.path().join("node_modules/.cache/runwire");
    std::fs::create_dir_all(&cache).unwrap();
    let lock = std::fs::File::create(cache.join("index.lock")).unwrap();
    // SAFETY: flock on an open fd.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut runner = start(repo.path(), "quick");
    // Waiting for the lock once it holds the lock file open (its handler is set by then).
    let fds = PathBuf::from(format!("/proc/{}/fd", runner.id()));
    let start = Instant::now();
    while !std::fs::read_dir(&fds).is_ok_and(|d| {
        d.flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.ends_with("index.lock")))
    }) {
        assert!(runner.try_wait().unwrap().is_none(), "runwire exited early");
        assert!(
            start.elapsed() < BOUND,
            "runwire never opened the lock file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(runner.id(), libc::SIGTERM);
    let out = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "runwire: interrupted by SIGTERM before any task started; nothing of this run was cached"
    );
    assert!(out.stdout.is_empty(), "a task ran: {out:?}");
}

#[test]
fn sigkilled_runner_takes_its_task_along() {
    let repo = repo();
    let mut runner = start(repo.path(), "sleeper");
    let pid = task_pid(repo.path(), &mut runner);
    let stale = socket_dirs(repo.path());
    assert_eq!(stale.len(), 1, "the running task's socket dir: {stale:?}");
    signal(runner.id(), libc::SIGKILL);
    let status = runner.wait().unwrap();
    assert!(status.code().is_none(), "killed by a signal");
    wait_gone(pid);
    // Nobody removed the dead runner's socket dir...
    assert_eq!(socket_dirs(repo.path()), stale);
    // ... until the next runner starts a server; a live runner's dir stays.
    std::fs::remove_file(repo.path().join("task.pid")).unwrap();
    let mut live = start(repo.path(), "trapper");
    let live_pid = task_pid(repo.path(), &mut live);
    let dirs = socket_dirs(repo.path());
    assert!(!dirs.contains(&stale[0]), "stale dir left: {dirs:?}");
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let quick = runwire(repo.path(), &["run", "quick"]).output().unwrap();
    assert!(quick.status.success(), "{quick:?}");
    assert_eq!(
        socket_dirs(repo.path()),
        dirs,
        "the live runner's dir is kept"
    );
    signal(live.id(), libc::SIGTERM);
    let (code, stderr) = finish(live);
    assert_eq!(code, Some(143), "{stderr}");
    wait_gone(live_pid);
}
