//! The client in a real child process (this test binary, re-executed as the "tool") against a
//! real server in the test process. The child checks what its calls return; the parent checks
//! what the server recorded.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use runwire_client::{CALLER_ERROR_CODES, Client, EnvSelector, ErrorCode};
use runwire_server::{
    Declaration, EnvPolicy, EnvSelector as Sel, EnvValue, RunningServer, Server, ServerConfig,
    ServerReport,
};

/// Set in the child: which scenario to play.
const SCENARIO: &str = "RUNWIRE_TEST_SCENARIO";
const DRAIN: Duration = Duration::from_secs(10);

/// The runner's environment in these tests (what the server answers from). The child's own
/// environment holds different values, to show the server does not read the child's.
fn snapshot() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (&b"MODE"[..], &b"production"[..]),
        (b"EMPTY", b""),
        (b"BIN_\xff", b"\xfe\x00\x01"),
        (b"VITE_A", b"a"),
        (b"VITE_B", b"b"),
        (b"VITE_*LIT", b"star"),
        (b"VITEX", b"x"),
        (b"SECRET_TOKEN", b"hunter2"),
        (b"AWS_KEY", b"k"),
        (b"AWS_REGION", b"eu"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_vec(), v.to_vec()))
    .collect()
}

fn start(policy: EnvPolicy) -> RunningServer {
    let mut config = ServerConfig::new(snapshot());
    config.policy = policy;
    Server::start(config).expect("server starts")
}

/// Runs this test binary as the tool, playing `scenario`, and returns its output.
fn run_tool(scenario: &str, socket: Option<&Path>, cwd: &Path) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "tool_entry", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("MODE", "the-child-env-value")
        .current_dir(cwd);
    match socket {
        Some(path) => command.env("RUNWIRE_SOCKET", path),
        None => command.env_remove("RUNWIRE_SOCKET"),
    };
    let output = command.output().expect("the tool process starts");
    assert!(
        output.status.success(),
        "tool scenario {scenario} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run_scenario(scenario: &str, policy: EnvPolicy, cwd: &Path) -> (ServerReport, Output) {
    let server = start(policy);
    let output = run_tool(scenario, Some(server.socket_path()), cwd);
    let report = server.finish(DRAIN);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    (report, output)
}

fn warnings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("runwire:"))
        .map(str::to_owned)
        .collect()
}

fn env(name: &[u8], value: Option<&[u8]>) -> Declaration {
    Declaration::TrackedEnv {
        name: name.to_vec(),
        value: value.map(|v| EnvValue::new(v.to_vec())),
    }
}

fn pairs(list: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, EnvValue)> {
    list.iter()
        .map(|(n, v)| (n.to_vec(), EnvValue::new(v.to_vec())))
        .collect()
}

#[test]
fn every_message_from_a_tool_process_is_answered_and_recorded() {
    let cwd = tempfile::tempdir().unwrap();
    let cwd_path = cwd.path().to_path_buf();
    let (report, output) = run_scenario("every_message", EnvPolicy::new(), &cwd_path);
    assert!(warnings(&output).is_empty(), "{output:?}");
    let mut expected = vec![
        env(b"MODE", Some(b"production")),
        env(b"UNSET", None),
        env(b"EMPTY", Some(b"")),
        env(b"BIN_\xff", Some(b"\xfe\x00\x01")),
        Declaration::TrackedEnvSet {
            selector: Sel::Glob(b"VITE_*".to_vec()),
            matches: pairs(&[
                (b"VITE_*LIT", b"star"),
                (b"VITE_A", b"a"),
                (b"VITE_B", b"b"),
            ]),
        },
        Declaration::TrackedEnvSet {
            selector: Sel::Prefix(b"VITE_*".to_vec()),
            matches: pairs(&[(b"VITE_*LIT", b"star")]),
        },
        Declaration::IgnoreInput {
            path: cwd_path.join("node_modules/.cache"),
        },
        Declaration::IgnoreOutput {
            path: PathBuf::from("/abs/dist"),
        },
        Declaration::DisableCache {
            reason: "reads the network".to_owned(),
            client: runwire_client::DEFAULT_NAME.to_owned(),
        },
        Declaration::ReportInput {
            path: cwd_path.join("extra.json"),
        },
        Declaration::ReportOutput {
            path: PathBuf::from(OsStr::from_bytes(b"/out/\xff")),
        },
        Declaration::ReportGlob {
            base: cwd_path.clone(),
            pattern: b"src/**/*.ts".to_vec(),
        },
        Declaration::Salt {
            key: "rustc".to_owned(),
            value: b"1.95.0".to_vec(),
        },
    ];
    expected.sort();
    assert_eq!(report.declarations, expected);
}

#[test]
fn untracked_queries_are_answered_but_not_recorded() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("untracked", EnvPolicy::new(), cwd.path());
    assert_eq!(report.declarations, vec![]);
}

#[test]
fn tracking_is_monotonic() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("monotonic", EnvPolicy::new(), cwd.path());
    // MODE: tracked then untracked; VITE_A: untracked then tracked. Both stay tracked, once.
    assert_eq!(
        report.declarations,
        vec![
            env(b"MODE", Some(b"production")),
            env(b"VITE_A", Some(b"a"))
        ]
    );
}

#[test]
fn the_users_policy_wins_over_the_tool() {
    let cwd = tempfile::tempdir().unwrap();
    let policy = EnvPolicy::new()
        .untrack_name(b"SECRET_TOKEN".to_vec())
        .untrack_glob(b"AWS_*")
        .unwrap();
    let (report, _) = run_scenario("policy", policy, cwd.path());
    // The tool got every value (the child asserts that); the recorded set leaves out the
    // untracked names, and the untracked single query is not recorded at all.
    assert_eq!(
        report.declarations,
        vec![
            env(b"MODE", Some(b"production")),
            Declaration::TrackedEnvSet {
                selector: Sel::Glob(b"*".to_vec()),
                matches: pairs(&[
                    (b"BIN_\xff", b"\xfe\x00\x01"),
                    (b"EMPTY", b""),
                    (b"MODE", b"production"),
                    (b"VITEX", b"x"),
                    (b"VITE_*LIT", b"star"),
                    (b"VITE_A", b"a"),
                    (b"VITE_B", b"b"),
                ]),
            },
        ]
    );
}

#[test]
fn reports_survive_an_immediate_exit() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("exit_right_after_reports", EnvPolicy::new(), cwd.path());
    let expected: Vec<Declaration> = (0..50)
        .map(|i| Declaration::ReportInput {
            path: PathBuf::from(format!("/in/{i:02}")),
        })
        .chain([Declaration::DisableCache {
            reason: "last words".to_owned(),
            client: runwire_client::DEFAULT_NAME.to_owned(),
        }])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(report.declarations, expected);
}

#[test]
fn without_a_runner_the_client_is_absent() {
    let cwd = tempfile::tempdir().unwrap();
    run_tool("no_runner", None, cwd.path());
    let mut command = Command::new(std::env::current_exe().unwrap());
    let output = command
        .args(["--exact", "tool_entry", "--nocapture"])
        .env(SCENARIO, "no_runner")
        .env("RUNWIRE_SOCKET", "")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_missing_socket_makes_every_call_a_no_op_with_one_warning() {
    let cwd = tempfile::tempdir().unwrap();
    let gone = cwd.path().join("no-such.sock");
    let output = run_tool("runner_gone", Some(&gone), cwd.path());
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("no-such.sock") && warnings[0].contains("will not cache"),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_server_that_stops_mid_run_is_a_fault_not_an_error() {
    let cwd = tempfile::tempdir().unwrap();
    let server = start(EnvPolicy::new());
    let socket = server.socket_path().to_path_buf();
    // The child waits on stdin between its two phases; the server is finished in between.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tool_entry", "--nocapture"])
        .env(SCENARIO, "server_stops")
        .env("RUNWIRE_SOCKET", &socket)
        .current_dir(cwd.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "child ended early"
        );
        if line.trim() == "phase one done" {
            break;
        }
    }
    // The child still holds its connection: finishing now is a lingering connection.
    let report = server.finish(Duration::from_millis(1));
    assert_eq!(report.declarations, vec![env(b"MODE", Some(b"production"))]);
    assert_eq!(report.diagnostics.len(), 1, "{:#?}", report.diagnostics);
    drop(child.stdin.take()); // lets phase two start
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(warnings(&output).len(), 1, "{output:?}");
}

#[test]
fn a_refused_handshake_is_a_fault_not_an_error() {
    use runwire_proto::v1;
    // A runner that speaks only a future version: a hand-written server, since the real one
    // speaks every version the client does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let refuser = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let hello: v1::ClientMessage =
            runwire_proto::frame::read_message(&mut stream, 1 << 20, &mut buf)
                .unwrap()
                .unwrap();
        let refusal = v1::ServerMessage {
            request_id: hello.request_id,
            body: Some(v1::server_message::Body::Error(v1::Error {
                code: ErrorCode::UnsupportedVersion as i32,
                message: "this runner speaks version 9 only".to_owned(),
            })),
        };
        runwire_proto::frame::write_message(&mut stream, &refusal, 1 << 20, &mut Vec::new())
            .unwrap();
    });
    let output = run_tool("refused", Some(&path), dir.path());
    refuser.join().unwrap();
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("this runner speaks version 9 only"),
        "{}",
        warnings[0]
    );
}

/// A hand-written runner that accepts the handshake, then answers every query with an
/// `Error` of the given raw code: error classification must not depend on knowing the code.
fn erroring_runner(code: i32) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
    use runwire_proto::v1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        while let Ok(Some(message)) = runwire_proto::frame::read_message::<_, v1::ClientMessage>(
            &mut stream,
            1 << 20,
            &mut buf,
        ) {
            let body = match message.body {
                Some(v1::client_message::Body::Hello(_)) => {
                    v1::server_message::Body::HelloResponse(v1::HelloResponse {
                        version: 1,
                        capabilities: runwire_proto::V1_CAPABILITIES
                            .iter()
                            .map(|c| (*c).to_owned())
                            .collect(),
                        ..Default::default()
                    })
                }
                _ => v1::server_message::Body::Error(v1::Error {
                    code,
                    message: format!("code {code} from a newer runner"),
                }),
            };
            let reply = v1::ServerMessage {
                request_id: message.request_id,
                body: Some(body),
            };
            if runwire_proto::frame::write_message(&mut stream, &reply, 1 << 20, &mut Vec::new())
                .is_err()
            {
                break;
            }
        }
    });
    (dir, path, thread)
}

#[test]
fn an_unknown_caller_error_code_is_still_a_caller_error() {
    let (_dir, path, runner) = erroring_runner(42);
    let client = Client::connect(&path).with_warning_sink(|_| panic!("no warning expected"));
    let error = client.get_env(b"NAME", true).unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidArgument);
    assert_eq!(error.message(), "code 42 from a newer runner");
    assert!(!client.faulted());
    drop(client);
    runner.join().unwrap();
}

#[test]
fn an_unknown_fault_code_is_a_fault() {
    let (_dir, path, runner) = erroring_runner(150);
    let warned = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&warned);
    let client =
        Client::connect(&path).with_warning_sink(move |w| sink.lock().unwrap().push(w.to_owned()));
    assert_eq!(client.get_env(b"NAME", true).unwrap(), None);
    assert!(client.faulted());
    drop(client);
    runner.join().unwrap();
    // At most one warning per process, and other tests of this process may have used it up.
    for warning in warned.lock().unwrap().iter() {
        assert!(
            warning.contains("code 150 from a newer runner"),
            "{warning}"
        );
    }
}

#[test]
fn thirty_two_connections_times_a_thousand_calls_are_all_recorded() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("concurrency", EnvPolicy::new(), cwd.path());
    let mut expected = Vec::new();
    for t in 0..32 {
        for i in 0..500 {
            expected.push(Declaration::ReportInput {
                path: PathBuf::from(format!("/c/{t}/{i}")),
            });
            expected.push(env(format!("T{t}_{i}").as_bytes(), None));
        }
    }
    expected.sort();
    assert_eq!(report.declarations.len(), 32_000);
    assert!(report.declarations == expected, "declarations differ");
}

#[test]
fn one_client_shared_by_threads_keeps_answers_matched() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("shared_client", EnvPolicy::new(), cwd.path());
    assert_eq!(report.declarations.len(), 8 * 100);
}

#[test]
fn a_forked_child_opens_its_own_connection() {
    let cwd = tempfile::tempdir().unwrap();
    let (report, _) = run_scenario("fork", EnvPolicy::new(), cwd.path());
    assert_eq!(
        report.connections, 2,
        "the child did not reuse the parent's connection"
    );
    assert_eq!(
        report.declarations,
        vec![
            env(b"MODE", Some(b"production")),
            env(b"VITE_A", Some(b"a")),
            env(b"VITE_B", Some(b"b")),
            Declaration::ReportInput {
                path: PathBuf::from("/from/child")
            },
            Declaration::ReportInput {
                path: PathBuf::from("/from/parent")
            },
        ]
    );
}

#[test]
fn bindings_can_list_every_caller_error_code() {
    let names: Vec<&str> = CALLER_ERROR_CODES.iter().map(|c| c.short_name()).collect();
    assert_eq!(
        names,
        [
            "INVALID_ARGUMENT",
            "EMPTY_NAME",
            "INVALID_NAME",
            "EMPTY_PATTERN",
            "INVALID_PATTERN",
            "EMPTY_PATH",
            "INVALID_PATH",
            "EMPTY_KEY"
        ]
    );
}

// ----- the tool side -------------------------------------------------------------------------

/// Not a test of its own: the entry point of the re-executed child. Without the scenario
/// variable (a normal test run) it does nothing.
#[test]
fn tool_entry() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    match scenario.as_str() {
        "every_message" => every_message(),
        "untracked" => untracked(),
        "monotonic" => monotonic(),
        "policy" => policy(),
        "exit_right_after_reports" => exit_right_after_reports(),
        "no_runner" => assert!(Client::from_env().is_none()),
        "runner_gone" | "refused" => runner_gone(),
        "server_stops" => server_stops(),
        "concurrency" => concurrency(),
        "shared_client" => shared_client(),
        "fork" => fork(),
        other => panic!("unknown scenario {other}"),
    }
}

fn client() -> Client {
    Client::from_env().expect("RUNWIRE_SOCKET is set")
}

fn every_message() {
    let c = client();
    assert_eq!(
        c.get_env(b"MODE", true).unwrap().as_deref(),
        Some(&b"production"[..])
    );
    assert_eq!(c.get_env(b"UNSET", true).unwrap(), None);
    assert_eq!(
        c.get_env(b"EMPTY", true).unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        c.get_env(b"BIN_\xff", true).unwrap().as_deref(),
        Some(&b"\xfe\x00\x01"[..])
    );
    let glob = c
        .get_envs(EnvSelector::Glob(b"VITE_*".to_vec()), true)
        .unwrap();
    let names: Vec<&[u8]> = glob.iter().map(|(n, _)| n.as_slice()).collect();
    assert_eq!(
        names,
        [&b"VITE_*LIT"[..], b"VITE_A", b"VITE_B"],
        "sorted by bytes"
    );
    let prefix = c
        .get_envs(EnvSelector::Prefix(b"VITE_*".to_vec()), true)
        .unwrap();
    assert_eq!(
        prefix,
        vec![(b"VITE_*LIT".to_vec(), b"star".to_vec())],
        "the star is literal"
    );
    c.ignore_input("node_modules/./.cache").unwrap();
    c.ignore_output("/abs/dist/").unwrap();
    c.disable_cache("reads the network").unwrap();
    c.report_input("sub/../extra.json").unwrap();
    c.report_output(OsStr::from_bytes(b"/out/\xff")).unwrap();
    c.report_glob("src/**/*.ts").unwrap();
    c.salt("rustc", b"1.95.0").unwrap();
    // Caller errors come back as errors with their code, and the connection stays usable.
    assert_eq!(
        c.get_env(b"", true).unwrap_err().code(),
        ErrorCode::EmptyName
    );
    assert_eq!(
        c.get_envs(EnvSelector::Glob(b"[".to_vec()), true)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidPattern
    );
    assert_eq!(
        c.get_env(b"MODE", false).unwrap().as_deref(),
        Some(&b"production"[..])
    );
    assert!(!c.faulted());
}

fn untracked() {
    let c = client();
    assert_eq!(
        c.get_env(b"MODE", false).unwrap().as_deref(),
        Some(&b"production"[..])
    );
    assert_eq!(
        c.get_envs(EnvSelector::Prefix(b"AWS_".to_vec()), false)
            .unwrap()
            .len(),
        2
    );
}

fn monotonic() {
    let c = client();
    c.get_env(b"MODE", true).unwrap();
    c.get_env(b"MODE", false).unwrap();
    c.get_env(b"MODE", true).unwrap();
    c.get_env(b"VITE_A", false).unwrap();
    c.get_env(b"VITE_A", true).unwrap();
}

fn policy() {
    let c = client();
    assert_eq!(
        c.get_env(b"SECRET_TOKEN", true).unwrap().as_deref(),
        Some(&b"hunter2"[..])
    );
    assert_eq!(
        c.get_env(b"AWS_KEY", true).unwrap().as_deref(),
        Some(&b"k"[..])
    );
    c.get_env(b"MODE", true).unwrap();
    let all = c.get_envs(EnvSelector::Glob(b"*".to_vec()), true).unwrap();
    assert_eq!(
        all.len(),
        snapshot().len(),
        "untracked names are still answered"
    );
}

fn exit_right_after_reports() {
    let c = client();
    for i in 0..50 {
        c.report_input(format!("/in/{i:02}")).unwrap();
    }
    c.disable_cache("last words").unwrap();
    // No destructor, no flush: what was written must already be in the socket.
    // SAFETY: _exit ends the process at once; nothing here relies on cleanup.
    unsafe { libc::_exit(0) };
}

fn runner_gone() {
    let c = client();
    assert_eq!(c.get_env(b"MODE", true).unwrap(), None);
    assert_eq!(
        c.get_envs(EnvSelector::Glob(b"*".to_vec()), true).unwrap(),
        vec![]
    );
    c.ignore_input("x").unwrap();
    c.disable_cache("r").unwrap();
    c.salt("k", b"v").unwrap();
    // A second client of the same process warns no more.
    let other = client();
    assert_eq!(other.get_env(b"MODE", true).unwrap(), None);
    // Caller errors are still errors.
    assert_eq!(
        c.get_env(b"", true).unwrap_err().code(),
        ErrorCode::EmptyName
    );
    assert!(c.faulted() && other.faulted());
}

fn server_stops() {
    let c = client();
    assert_eq!(
        c.get_env(b"MODE", true).unwrap().as_deref(),
        Some(&b"production"[..])
    );
    println!("phase one done");
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink); // EOF once the parent finished the server
    assert_eq!(c.get_env(b"MODE", true).unwrap(), None);
    c.report_input("/x").unwrap();
    assert!(c.faulted());
}

fn concurrency() {
    let threads: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let c = client();
                for i in 0..500 {
                    c.report_input(format!("/c/{t}/{i}")).unwrap();
                    assert_eq!(
                        c.get_env(format!("T{t}_{i}").as_bytes(), true).unwrap(),
                        None
                    );
                }
                assert!(!c.faulted());
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn fork() {
    let c = client();
    assert_eq!(
        c.get_env(b"MODE", true).unwrap().as_deref(),
        Some(&b"production"[..])
    );
    // SAFETY: the child only uses the client (its mutex is free: no other thread of this
    // process touches it) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // The parent waits for this child before its next call, so the two never race: a
        // shared connection would show as one connection at the server.
        // SAFETY: alarm only schedules SIGALRM: a child stuck on a lost answer dies instead
        // of holding the test's pipes open forever.
        unsafe { libc::alarm(60) };
        // Were the parent's connection shared, these frames would interleave with the
        // parent's and answers would cross.
        let ok = c.get_env(b"VITE_A", true).ok().flatten().as_deref() == Some(&b"a"[..])
            && c.report_input("/from/child").is_ok()
            && !c.faulted();
        // SAFETY: ends the forked child at once, without running the parent's test harness.
        unsafe { libc::_exit(i32::from(!ok)) };
    }
    assert_eq!(
        c.get_env(b"VITE_B", true).unwrap().as_deref(),
        Some(&b"b"[..])
    );
    c.report_input("/from/parent").unwrap();
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    assert!(!c.faulted());
}

fn shared_client() {
    let c = Arc::new(client());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..50 {
                    assert_eq!(
                        c.get_env(b"MODE", false).unwrap().as_deref(),
                        Some(&b"production"[..])
                    );
                    c.report_output(format!("/o/{t}/{i}")).unwrap();
                    c.salt(&format!("k{t}"), format!("{i}").as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(!c.faulted());
}
