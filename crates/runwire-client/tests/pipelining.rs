//! The first message of a connection rides in Hello's write when the spec allows it
//! (spec/protocol.md, "Pipelining after Hello"), and waits for `HelloResponse` when not.
//!
//! A hand-written runner looks at its first `read`: the client blocks on `HelloResponse`
//! after that write, so the first read holds exactly what was sent before the answer, with
//! no dependence on timing.

use std::io::{Cursor, Read};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use runwire_client::Client;
use runwire_proto::frame;
use runwire_proto::v1::{self, client_message::Body, server_message};

const MAX: u32 = 1 << 20;

/// What the runner saw: the bodies of its first read, then of everything after it.
#[derive(Debug, PartialEq)]
struct Seen {
    first_read: Vec<&'static str>,
    later: Vec<&'static str>,
}

/// A runner for one connection: answers Hello (every v1 body listed) and `GetEnv` (value
/// "v"), and records which bodies arrived in its first read.
fn runner() -> (tempfile::TempDir, PathBuf, JoinHandle<Seen>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut first = vec![0u8; 1 << 16];
        let n = stream.read(&mut first).unwrap();
        let mut first = Cursor::new(first[..n].to_vec());
        let mut buf = Vec::new();
        let mut seen = Seen {
            first_read: Vec::new(),
            later: Vec::new(),
        };
        loop {
            let from_first = (first.position() as usize) < n;
            let message: Option<v1::ClientMessage> = if from_first {
                frame::read_message(&mut first, MAX, &mut buf).unwrap()
            } else {
                frame::read_message(&mut stream, MAX, &mut buf).unwrap()
            };
            let Some(message) = message else { break };
            let name = runwire_proto::body_name(message.body.as_ref());
            if from_first {
                seen.first_read.push(name);
            } else {
                seen.later.push(name);
            }
            let answer = match message.body {
                Some(Body::Hello(_)) => server_message::Body::HelloResponse(v1::HelloResponse {
                    version: 1,
                    capabilities: runwire_proto::V1_CAPABILITIES
                        .iter()
                        .map(|c| (*c).to_owned())
                        .collect(),
                    ..Default::default()
                }),
                Some(Body::GetEnv(_)) => server_message::Body::GetEnv(v1::GetEnvResponse {
                    value: Some(b"v".to_vec()),
                }),
                _ => continue,
            };
            let reply = v1::ServerMessage {
                request_id: message.request_id,
                body: Some(answer),
            };
            frame::write_message(&mut stream, &reply, MAX, &mut Vec::new()).unwrap();
        }
        seen
    });
    (dir, path, thread)
}

fn seen_after(calls: impl FnOnce(&Client)) -> Seen {
    let (_dir, path, runner) = runner();
    let client = Client::connect(&path).with_warning_sink(|w| panic!("unexpected warning: {w}"));
    calls(&client);
    assert!(!client.faulted());
    drop(client);
    runner.join().unwrap()
}

#[test]
fn a_first_query_is_sent_with_hello_one_round_trip() {
    let seen = seen_after(|client| {
        assert_eq!(
            client.get_env(b"NAME", true).unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(
            client.get_env(b"NEXT", true).unwrap().as_deref(),
            Some(&b"v"[..])
        );
    });
    assert_eq!(
        seen,
        Seen {
            first_read: vec!["hello", "get_env"],
            later: vec!["get_env"],
        }
    );
}

#[test]
fn a_first_report_is_sent_with_hello() {
    let seen = seen_after(|client| {
        client.ignore_input("/p").unwrap();
        client.disable_cache("later").unwrap();
    });
    assert_eq!(
        seen,
        Seen {
            first_read: vec!["hello", "ignore_input"],
            later: vec!["disable_cache"],
        }
    );
}

#[test]
fn a_first_message_over_the_pipelining_limit_waits_for_the_answer() {
    let limit = runwire_proto::PIPELINED_FRAME_MAX_LEN as usize;
    // GetEnv{name} with request id 2: the name alone is over the limit.
    let long_name = vec![b'N'; limit];
    let seen = seen_after(|client| {
        assert_eq!(
            client.get_env(&long_name, true).unwrap().as_deref(),
            Some(&b"v"[..])
        );
    });
    assert_eq!(
        seen,
        Seen {
            first_read: vec!["hello"],
            later: vec!["get_env"],
        }
    );
}

#[test]
fn pipelining_is_limited_to_v1_bodies_and_small_frames() {
    let limit = runwire_proto::PIPELINED_FRAME_MAX_LEN as usize;
    for body in runwire_proto::V1_CAPABILITIES {
        assert_eq!(
            runwire_proto::pipelinable(&[1], body, limit),
            *body != "hello",
            "{body}"
        );
        assert!(!runwire_proto::pipelinable(&[1], body, limit + 1), "{body}");
        // A version whose bodies this client cannot know rules pipelining out.
        assert!(!runwire_proto::pipelinable(&[1, 2], body, 8), "{body}");
        assert!(!runwire_proto::pipelinable(&[], body, 8), "{body}");
    }
    assert!(!runwire_proto::pipelinable(&[1], "report_future_thing", 8));
}
