//! The real `runwire` binary with a remote cache: two workspaces with their own cache dirs
//! ("two machines") share one real server on 127.0.0.1. A build on the first is a hit on the
//! second with outputs restored; a wrong token, a server stopped before or during the run, and
//! a tampered artifact each leave the task succeeding with correct output and at most one
//! warning.

#[path = "../../runwire-remote/tests/common/mod.rs"]
mod common;

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const KEY: &str = "shared-secret-key-for-tests-0001";

struct Machine {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

/// A workspace whose `build` copies src/in.txt to dist/out.txt and says so.
fn machine(extra_command: &str) -> Machine {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/in.txt"), "input v1\n").unwrap();
    std::fs::write(root.join("package.json"), r#"{ "name": "app" }"#).unwrap();
    let command = format!(
        "mkdir -p dist && cat src/in.txt > dist/out.txt && echo built-from-source{extra_command}"
    );
    std::fs::write(
        root.join("runwire.json"),
        serde_json::json!({
            "tasks": { "build": { "command": command, "passThroughEnv": ["KILL_PID"] } }
        })
        .to_string(),
    )
    .unwrap();
    Machine { _tmp: tmp, root }
}

fn runwire(m: &Machine, url: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runwire"));
    c.current_dir(&m.root)
        .args(["run", "build"])
        .env("RUNWIRE_CACHE_DIR", m.root.parent().unwrap().join("cache"))
        .env("RUNWIRE_REMOTE_CACHE_URL", url)
        .env("RUNWIRE_REMOTE_CACHE_KEY", KEY)
        .env_remove("RUNWIRE_REMOTE_CACHE_TOKEN")
        .env("NO_COLOR", "1");
    if let Some(t) = token {
        c.env("RUNWIRE_REMOTE_CACHE_TOKEN", t);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn out_txt(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join("dist/out.txt")).ok()
}

/// Runs `build` on `m` and checks the task succeeded with the right output; returns
/// (ran from source, stderr).
fn build(m: &Machine, url: &str, token: Option<&str>, extra: &[(&str, &str)]) -> (bool, String) {
    let o = runwire(m, url, token, extra);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(
        o.status.success(),
        "runwire failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(out_txt(&m.root).as_deref(), Some("input v1\n"), "{stderr}");
    assert!(
        stdout.contains("built-from-source"),
        "stdout replayed or printed:\n{stdout}"
    );
    (stderr.contains("cache miss"), stderr)
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("warning")).collect()
}

fn two_machines(url: &str, token: Option<&str>) {
    let a = machine("");
    let b = machine("");
    let (ran, stderr) = build(&a, url, token, &[]);
    assert!(ran, "first build on A runs: {stderr}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    // A dry run on a fourth machine sees A's entry in the remote cache, and downloads nothing: its next run
    // without the remote is a plain miss.
    let peek = machine("");
    let run_on_peek = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runwire"));
        cmd.current_dir(&peek.root)
            .args(["run", "build"])
            .args(args)
            .env(
                "RUNWIRE_CACHE_DIR",
                peek.root.parent().unwrap().join("cache"),
            )
            .env("RUNWIRE_REMOTE_CACHE_URL", url)
            .env("RUNWIRE_REMOTE_CACHE_KEY", KEY)
            .env("NO_COLOR", "1");
        if let Some(t) = token {
            cmd.env("RUNWIRE_REMOTE_CACHE_TOKEN", t);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        format!("{}{}", text(&o.stdout), text(&o.stderr))
    };
    let dry = run_on_peek(&["--dry-run"]);
    assert!(
        dry.contains("cache: hit") && dry.contains("in the remote cache"),
        "{dry}"
    );
    assert_eq!(out_txt(&peek.root), None, "a dry run restores nothing");
    let local = run_on_peek(&["--no-remote"]);
    assert!(
        local.contains("cache miss"),
        "the dry run stored nothing:\n{local}"
    );
    let (ran, stderr) = build(&b, url, token, &[]);
    assert!(
        !ran && stderr.contains("cache hit"),
        "B must hit A's build:\n{stderr}"
    );
    assert!(
        !stderr.contains("saved"),
        "B never ran the build, so it does not claim a saving (was 'saved 0ms'):\n{stderr}"
    );
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    // --no-remote on a third machine: a plain local miss.
    let c = machine("");
    let o = runwire(&c, url, token, &[]);
    assert!(o.status.success());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runwire"));
    let o2 = cmd
        .current_dir(&c.root)
        .args(["run", "build", "--no-remote"])
        .env("RUNWIRE_CACHE_DIR", c.root.parent().unwrap().join("cache2"))
        .env("RUNWIRE_REMOTE_CACHE_URL", url)
        .env("RUNWIRE_REMOTE_CACHE_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        text(&o2.stderr).contains("cache miss"),
        "{}",
        text(&o2.stderr)
    );
}

#[test]
fn turbo_build_on_one_machine_is_a_hit_on_another() {
    let server = common::Turbo::start("cli-token");
    two_machines(&server.url(), Some("cli-token"));
}

#[test]
fn buildgrid_build_on_one_machine_is_a_hit_on_another() {
    let server = common::BuildGrid::start();
    two_machines(&server.url(), None);
}

#[test]
fn wrong_token_is_one_clear_warning_and_a_local_run() {
    let server = common::Turbo::start("right-token");
    let m = machine("");
    let (ran, stderr) = build(&m, &server.url(), Some("wrong-token-abc"), &[]);
    assert!(ran);
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(w[0].contains("RUNWIRE_REMOTE_CACHE_TOKEN"), "{stderr}");
    assert!(
        !stderr.contains("wrong-token-abc"),
        "token printed: {stderr}"
    );
}

#[test]
fn server_stopped_before_the_run_costs_one_warning() {
    let mut server = common::Turbo::start("t");
    let url = server.url();
    server.stop();
    let m = machine("");
    let (ran, stderr) = build(&m, &url, Some("t"), &[]);
    assert!(ran);
    assert_eq!(warnings(&stderr).len(), 1, "{stderr}");
    // The local cache still works.
    let (ran, _) = build(&m, &url, Some("t"), &[]);
    assert!(!ran);
}

#[test]
fn server_stopped_during_the_run_costs_one_warning() {
    let server = common::Turbo::start("t");
    let pid = server.child.as_ref().unwrap().id().to_string();
    // The task itself stops the server after the lookup, before the upload.
    let m = machine(" && kill -9 $KILL_PID");
    let (ran, stderr) = build(&m, &server.url(), Some("t"), &[("KILL_PID", &pid)]);
    assert!(ran);
    assert_eq!(warnings(&stderr).len(), 1, "{stderr}");
}

#[test]
fn tampered_artifact_is_a_miss_never_wrong_output() {
    let server = common::Turbo::start("t");
    let a = machine("");
    let b = machine("");
    build(&a, &server.url(), Some("t"), &[]);
    let blob = runwire_fingerprint::Hash32::of(b"input v1\n").to_hex();
    std::fs::write(server.artifact_path(&format!("rwb1-{blob}")), b"tampered!").unwrap();
    let (ran, stderr) = build(&b, &server.url(), Some("t"), &[]);
    assert!(ran, "a tampered blob must not be used:\n{stderr}");
}

#[test]
fn remote_only_without_a_remote_is_a_clear_error() {
    let m = machine("");
    let o = Command::new(env!("CARGO_BIN_EXE_runwire"))
        .current_dir(&m.root)
        .args(["run", "build", "--remote-only"])
        .env_remove("RUNWIRE_REMOTE_CACHE_URL")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--remote-only needs a remote cache"),
        "{}",
        text(&o.stderr)
    );
}

/// A TCP proxy in front of `upstream` that holds each new connection until another one is
/// open as well (or `GATE_WAIT` passed, then it lets it through alone). If two connections
/// were ever open together, two remote requests were in flight at once.
struct GatedProxy {
    port: u16,
    overlapped: Arc<AtomicBool>,
}

/// Only a safety net for a runner that never opens a second connection: the assertion is on
/// `overlapped`, never on time.
const GATE_WAIT: Duration = Duration::from_secs(30);

impl GatedProxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let overlapped = Arc::new(AtomicBool::new(false));
        let open = Arc::new((Mutex::new(0usize), Condvar::new()));
        let flag = Arc::clone(&overlapped);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (open, flag) = (Arc::clone(&open), Arc::clone(&flag));
                std::thread::spawn(move || {
                    let (count, changed) = &*open;
                    let mut n = count.lock().unwrap();
                    *n += 1;
                    changed.notify_all();
                    let (n, _) = changed
                        .wait_timeout_while(n, GATE_WAIT, |n| *n < 2)
                        .unwrap();
                    if *n >= 2 {
                        flag.store(true, Ordering::SeqCst);
                    }
                    drop(n);
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    pipe(client, server);
                    *count.lock().unwrap() -= 1;
                });
            }
        });
        Self { port, overlapped }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Copies both ways until each side has ended.
fn pipe(client: TcpStream, server: TcpStream) {
    let (mut client_in, mut server_out) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Write);
    });
    let (mut server_in, mut client_out) = (server, client);
    let _ = std::io::copy(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// A workspace of two packages whose `build` scripts copy their input to dist/out.txt.
fn two_package_machine() -> Machine {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("ws");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("package.json"),
        r#"{ "name": "root", "private": true, "workspaces": ["packages/*"] }"#,
    )
    .unwrap();
    for name in ["one", "two"] {
        let dir = root.join("packages").join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/in.txt"), format!("{name} v1\n")).unwrap();
        std::fs::write(
            dir.join("package.json"),
            serde_json::json!({
                "name": name,
                "scripts": { "build": "mkdir -p dist && cat src/in.txt > dist/out.txt" }
            })
            .to_string(),
        )
        .unwrap();
    }
    Machine { _tmp: tmp, root }
}

#[test]
fn remote_lookups_of_parallel_jobs_overlap() {
    // A job waiting for the remote must not hold the cache: with -j2 the second job's
    // lookup reaches the server while the first one's is still held by the proxy.
    let server = common::Turbo::start("par-token");
    let run = |m: &Machine, url: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_runwire"))
            .current_dir(&m.root)
            .args(["run", "build", "-r", "-j2"])
            .env("RUNWIRE_CACHE_DIR", m.root.parent().unwrap().join("cache"))
            .env("RUNWIRE_REMOTE_CACHE_URL", url)
            .env("RUNWIRE_REMOTE_CACHE_KEY", KEY)
            .env("RUNWIRE_REMOTE_CACHE_TOKEN", "par-token")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = text(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        stderr
    };
    let a = two_package_machine();
    let stderr = run(&a, &server.url());
    assert_eq!(stderr.matches("cache miss").count(), 2, "{stderr}");
    let proxy = GatedProxy::start(server.port);
    let b = two_package_machine();
    let stderr = run(&b, &proxy.url());
    assert_eq!(stderr.matches("cache hit").count(), 2, "{stderr}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    for name in ["one", "two"] {
        let out = std::fs::read_to_string(b.root.join("packages").join(name).join("dist/out.txt"));
        assert_eq!(out.unwrap(), format!("{name} v1\n"));
    }
    assert!(
        proxy.overlapped.load(Ordering::SeqCst),
        "the two jobs' remote lookups never overlapped: one waited for the other's network"
    );
}
