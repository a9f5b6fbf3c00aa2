//! Bad input on a real socket: every fault is a diagnostic that names what was wrong, the
//! faulty connection gets at most an `Error` and a close, and the server keeps serving others.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use prost::Message;
use runwire_client::Client;
use runwire_proto::frame;
use runwire_proto::v1::{self, client_message::Body, server_message};
use runwire_server::{
    Declaration, DiagnosticCode, EnvValue, RunningServer, Server, ServerConfig, ServerReport,
};

const DRAIN: Duration = Duration::from_secs(10);
const MAX: u32 = runwire_proto::DEFAULT_MAX_FRAME_LEN;

fn start() -> RunningServer {
    Server::start(ServerConfig::new(vec![(b"A".to_vec(), b"1".to_vec())])).unwrap()
}

fn raw(server: &RunningServer) -> UnixStream {
    UnixStream::connect(server.socket_path()).unwrap()
}

fn send(stream: &mut UnixStream, id: u64, body: Body) {
    let message = v1::ClientMessage {
        request_id: id,
        body: Some(body),
    };
    frame::write_message(stream, &message, MAX, &mut Vec::new()).unwrap();
}

fn hello_body(versions: Vec<u32>) -> Body {
    Body::Hello(v1::Hello {
        client_name: "bad-input test".into(),
        client_version: "0".into(),
        supported_versions: versions,
    })
}

fn hello(stream: &mut UnixStream) {
    send(stream, 1, hello_body(vec![1]));
    let reply = receive(stream).expect("hello is answered");
    assert!(
        matches!(reply.body, Some(server_message::Body::HelloResponse(_))),
        "{reply:?}"
    );
}

fn receive(stream: &mut UnixStream) -> Option<v1::ServerMessage> {
    frame::read_message(stream, MAX, &mut Vec::new()).unwrap()
}

/// Everything the server sends until it closes the connection, one line per message.
fn replies_until_close(stream: &mut UnixStream) -> String {
    let mut out = String::new();
    while let Ok(Some(message)) =
        frame::read_message::<_, v1::ServerMessage>(stream, MAX, &mut Vec::new())
    {
        describe(&mut out, &message);
    }
    out.push_str("closed\n");
    out
}

fn describe(out: &mut String, message: &v1::ServerMessage) {
    match &message.body {
        Some(server_message::Body::Error(error)) => writeln!(
            out,
            "error {} for request {}: {}",
            v1::ErrorCode::try_from(error.code).unwrap().as_str_name(),
            message.request_id,
            error.message
        ),
        other => writeln!(out, "{other:?} for request {}", message.request_id),
    }
    .unwrap();
}

/// After the bad connection: a real client still gets answers and its report is recorded.
fn good_client_still_served(server: &RunningServer) {
    let client = Client::connect(server.socket_path());
    assert_eq!(
        client.get_env(b"A", true).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    client.ignore_input("/still/served").unwrap();
    assert!(!client.faulted());
}

fn finish_and_describe(server: RunningServer, replies: &str) -> String {
    let report = server.finish(DRAIN);
    assert_good_client_recorded(&report);
    let mut out = format!("replies to the bad connection:\n{replies}diagnostics:\n");
    for diagnostic in &report.diagnostics {
        writeln!(out, "{diagnostic}").unwrap();
    }
    out
}

fn assert_good_client_recorded(report: &ServerReport) {
    for expected in [
        Declaration::TrackedEnv {
            name: b"A".to_vec(),
            value: Some(EnvValue::new(b"1".to_vec())),
        },
        Declaration::IgnoreInput {
            path: PathBuf::from("/still/served"),
        },
    ] {
        assert!(
            report.declarations.contains(&expected),
            "{:#?}",
            report.declarations
        );
    }
}

/// One bad-input case: writes `bytes` (after a handshake when `handshake`), optionally half-
/// closes, collects the replies, then proves the server still serves and snapshots it all.
fn case(name: &str, handshake: bool, bytes: &[u8], half_close: bool) {
    let server = start();
    let mut stream = raw(&server);
    if handshake {
        hello(&mut stream);
    }
    stream.write_all(bytes).unwrap();
    if half_close {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let replies = replies_until_close(&mut stream);
    good_client_still_served(&server);
    insta::assert_snapshot!(name, finish_and_describe(server, &replies));
}

fn framed(message: &v1::ClientMessage) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_frame(message, &mut out);
    out
}

#[test]
fn truncated_length_prefix() {
    case("truncated_length_prefix", true, &[7, 0], true);
}

#[test]
fn length_ffffffff() {
    case("length_ffffffff", true, &[0xff; 4], false);
}

#[test]
fn garbage_bytes_instead_of_a_frame() {
    case(
        "garbage_bytes",
        false,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    );
}

#[test]
fn garbage_payload_in_a_valid_frame() {
    case(
        "garbage_payload",
        true,
        &[6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        false,
    );
}

#[test]
fn unknown_oneof_field() {
    // request_id = 5 (field 1), then field 99 (a body from the future), length-delimited, empty.
    case(
        "unknown_oneof_field",
        true,
        &[5, 0, 0, 0, 0x08, 0x05, 0x9a, 0x06, 0x00],
        false,
    );
}

#[test]
fn empty_frame_has_no_body() {
    case("empty_frame", true, &[0, 0, 0, 0], false);
}

#[test]
fn no_hello_before_a_query() {
    let get_env = framed(&v1::ClientMessage {
        request_id: 9,
        body: Some(Body::GetEnv(v1::GetEnv {
            name: b"A".to_vec(),
            tracked: true,
        })),
    });
    case("no_hello_query", false, &get_env, false);
}

#[test]
fn no_hello_before_a_report() {
    let report = framed(&v1::ClientMessage {
        request_id: 4,
        body: Some(Body::IgnoreInput(v1::IgnoreInput {
            path: b"/x".to_vec(),
        })),
    });
    case("no_hello_report", false, &report, false);
}

#[test]
fn unsupported_version() {
    let hello = framed(&v1::ClientMessage {
        request_id: 1,
        body: Some(hello_body(vec![2, 3])),
    });
    case("unsupported_version", false, &hello, false);
}

#[test]
fn disconnect_mid_frame() {
    let mut bytes = vec![100, 0, 0, 0];
    bytes.extend_from_slice(&[0x08; 10]);
    case("disconnect_mid_frame", true, &bytes, true);
}

#[test]
fn duplicate_hello_and_bad_arguments_keep_the_connection() {
    let server = start();
    let mut stream = raw(&server);
    hello(&mut stream);
    let mut replies = String::new();
    send(&mut stream, 2, hello_body(vec![1]));
    describe(&mut replies, &receive(&mut stream).unwrap());
    // A report with a relative path: recorded as a diagnostic, never answered.
    send(
        &mut stream,
        3,
        Body::ReportInput(v1::ReportInput {
            path: b"relative/x".to_vec(),
        }),
    );
    // A query with a bad argument: answered with the caller-error code, no diagnostic.
    send(
        &mut stream,
        4,
        Body::GetEnv(v1::GetEnv {
            name: Vec::new(),
            tracked: true,
        }),
    );
    describe(&mut replies, &receive(&mut stream).unwrap());
    send(
        &mut stream,
        5,
        Body::GetEnvs(v1::GetEnvs {
            selector: None,
            tracked: true,
        }),
    );
    describe(&mut replies, &receive(&mut stream).unwrap());
    // The same connection still works.
    send(
        &mut stream,
        6,
        Body::GetEnv(v1::GetEnv {
            name: b"A".to_vec(),
            tracked: false,
        }),
    );
    describe(&mut replies, &receive(&mut stream).unwrap());
    drop(stream);
    good_client_still_served(&server);
    insta::assert_snapshot!("connection_survives", finish_and_describe(server, &replies));
}

#[test]
fn an_answer_over_the_frame_limit_is_an_error_and_a_diagnostic() {
    let mut config = ServerConfig::new(vec![(b"BIG".to_vec(), vec![b'x'; 300])]);
    config.max_frame_len = 256;
    let server = Server::start(config).unwrap();
    let client = Client::connect(server.socket_path()).with_warning_sink(|_| {});
    assert_eq!(client.get_env(b"BIG", false).unwrap(), None);
    assert!(
        client.faulted(),
        "a FRAME_TOO_LARGE answer is a runner-side fault"
    );
    drop(client);
    let report = server.finish(DRAIN);
    let lines: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "protocol connection 1: the answer to request 2 is 308 bytes, over the maximum frame of 256 bytes (frame_too_large)"
        ]
    );
}

/// spec/framing.md, "Maximum frame length": the replacement error carries the query's
/// request id, and the connection stays open (the framing is intact).
#[test]
fn an_answer_over_the_frame_limit_keeps_its_request_id_and_the_connection() {
    let mut config = ServerConfig::new(vec![
        (b"BIG".to_vec(), vec![b'x'; 300]),
        (b"SMALL".to_vec(), b"s".to_vec()),
    ]);
    config.max_frame_len = 256;
    let server = Server::start(config).unwrap();
    let mut stream = raw(&server);
    hello(&mut stream);
    let get = |name: &[u8]| {
        Body::GetEnv(v1::GetEnv {
            name: name.to_vec(),
            tracked: false,
        })
    };
    send(&mut stream, 7, get(b"BIG"));
    let answer = receive(&mut stream).expect("an answer, not a close");
    assert_eq!(answer.request_id, 7);
    assert!(matches!(
        answer.body,
        Some(server_message::Body::Error(v1::Error { code, .. }))
            if code == runwire_proto::ErrorCode::FrameTooLarge as i32
    ));
    send(&mut stream, 8, get(b"SMALL"));
    let answer = receive(&mut stream).expect("the connection stays open");
    assert_eq!(answer.request_id, 8);
    assert!(matches!(
        answer.body,
        Some(server_message::Body::GetEnv(v1::GetEnvResponse { value: Some(ref v) })) if v == b"s"
    ));
    drop(stream);
    let report = server.finish(DRAIN);
    let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["frame_too_large"]);
}

#[test]
fn a_client_that_never_closes_is_cut_at_the_deadline() {
    let server = start();
    let mut lingering = raw(&server);
    hello(&mut lingering);
    send(
        &mut lingering,
        2,
        Body::DisableCache(v1::DisableCache {
            reason: "kept".into(),
        }),
    );
    good_client_still_served(&server);
    // `lingering` stays open across finish: it is connection 1 whatever the timing.
    let report = server.finish(Duration::from_millis(200));
    assert_good_client_recorded(&report);
    assert!(report.declarations.contains(&Declaration::DisableCache {
        reason: "kept".into(),
        client: "bad-input test".into(),
    }));
    let for_lingering: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| d.connection == Some(1))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        for_lingering,
        [
            "protocol connection 1: still open 200 ms after the task exited; closed (a process outlived the task while holding the connection) (lingering_connection)"
        ]
    );
    // The server closed it.
    let mut rest = Vec::new();
    assert_eq!(lingering.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn the_socket_lives_in_a_private_directory_removed_at_finish() {
    use std::os::unix::fs::PermissionsExt;
    let server = start();
    let dir = server.socket_path().parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
    let report = server.finish(DRAIN);
    assert_eq!(report, ServerReport::default());
    assert!(!dir.exists());
}

// ----- a peer running as another user ----------------------------------------------------------

const PEER_ENV: &str = "RUNWIRE_TEST_FOREIGN_PEER";

#[test]
fn a_peer_with_another_uid_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching to another uid needs root");
        return;
    }
    let server = start();
    let dir = server.socket_path().parent().unwrap().to_path_buf();
    // Let `nobody` reach the socket: the private directory normally keeps it out, and this
    // test is about the second line of defence, the uid check.
    set_mode(&dir, 0o711);
    set_mode(server.socket_path(), 0o777);
    // The test binary may sit under a directory `nobody` cannot enter (~/.cache in CI): run a
    // world-readable copy.
    let copy_dir = tempfile::tempdir().unwrap();
    set_mode(copy_dir.path(), 0o755);
    let exe = copy_dir.path().join("peer");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    set_mode(&exe, 0o755);
    let output = Command::new(&exe)
        .args(["--exact", "foreign_peer_entry", "--nocapture"])
        .env(PEER_ENV, server.socket_path())
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    good_client_still_served(&server);
    let report = server.finish(DRAIN);
    assert_good_client_recorded(&report);
    assert_eq!(report.diagnostics.len(), 1, "{:#?}", report.diagnostics);
    let diagnostic = &report.diagnostics[0];
    assert_eq!(diagnostic.code, DiagnosticCode::ForeignPeer);
    assert_eq!(diagnostic.connection, Some(1));
    assert!(
        diagnostic
            .message
            .contains("runs as uid 65534, not the server's uid 0; refused without reading"),
        "{diagnostic}"
    );
    // The refused peer's report was never read.
    assert!(
        !report
            .declarations
            .iter()
            .any(|d| matches!(d, Declaration::DisableCache { .. }))
    );
}

use std::os::unix::process::CommandExt as _;

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The foreign peer's side (runs as `nobody` in a child process); a no-op in a normal run.
#[test]
fn foreign_peer_entry() {
    let Some(socket) = std::env::var_os(PEER_ENV) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 65534, "runs as nobody");
    let mut stream = UnixStream::connect(&socket).expect("nobody can reach the socket");
    // The server closes without reading: writes may succeed (they land in the buffer) or fail
    // with EPIPE; either way nothing is answered.
    let _ = stream.write_all(&framed(&v1::ClientMessage {
        request_id: 1,
        body: Some(hello_body(vec![1])),
    }));
    let _ = stream.write_all(&framed(&v1::ClientMessage {
        request_id: 2,
        body: Some(Body::DisableCache(v1::DisableCache {
            reason: "from nobody".into(),
        })),
    }));
    let mut buf = Vec::new();
    let read = stream.read_to_end(&mut buf);
    assert!(matches!(read, Ok(0)) || read.is_err(), "no answer: {buf:?}");
    let _ = Message::encoded_len(&v1::Hello::default());
}

#[test]
fn disable_cache_carries_the_client_name_of_its_connection() {
    let server = start();
    for (name, reason) in [("tool one", "watching"), ("tool two", "")] {
        let mut stream = raw(&server);
        send(
            &mut stream,
            1,
            Body::Hello(v1::Hello {
                client_name: name.into(),
                client_version: "1".into(),
                supported_versions: vec![1],
            }),
        );
        assert!(receive(&mut stream).is_some());
        send(
            &mut stream,
            2,
            Body::DisableCache(v1::DisableCache {
                reason: reason.into(),
            }),
        );
    }
    let report = server.finish(Duration::from_secs(5));
    assert_eq!(
        report.declarations,
        [
            Declaration::DisableCache {
                reason: String::new(),
                client: "tool two".into(),
            },
            Declaration::DisableCache {
                reason: "watching".into(),
                client: "tool one".into(),
            },
        ]
    );
}
