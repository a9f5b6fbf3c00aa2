//! Messages written right behind `Hello`, before its answer was read (spec/protocol.md,
//! "Pipelining after Hello"): handled in order under the negotiated version, or dropped
//! unread with the connection when the handshake is refused.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use runwire_proto::frame;
use runwire_proto::v1::{self, client_message::Body, get_envs::Selector, server_message};
use runwire_server::{
    Declaration, DiagnosticCode, EnvSelector, EnvValue, Server, ServerConfig, ServerError,
};

const DRAIN: Duration = Duration::from_secs(10);
const MAX: u32 = runwire_proto::DEFAULT_MAX_FRAME_LEN;

/// Hello offering `versions`, then `rest`, all framed into one buffer for one write.
fn pipelined(versions: Vec<u32>, rest: Vec<Body>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let hello = Body::Hello(v1::Hello {
        client_name: "pipelining test".into(),
        client_version: "0".into(),
        supported_versions: versions,
    });
    for (id, body) in (1..).zip(std::iter::once(hello).chain(rest)) {
        let message = v1::ClientMessage {
            request_id: id,
            body: Some(body),
        };
        frame::encode_frame(&message, &mut bytes);
    }
    bytes
}

fn get_env(name: &[u8]) -> Body {
    Body::GetEnv(v1::GetEnv {
        name: name.to_vec(),
        tracked: true,
    })
}

/// Every answer until the server closes: `(request_id, body kind)`.
fn answers_until_close(stream: &mut UnixStream) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Ok(Some(message)) =
        frame::read_message::<_, v1::ServerMessage>(stream, MAX, &mut Vec::new())
    {
        let kind = match message.body {
            Some(server_message::Body::HelloResponse(hello)) => format!("hello v{}", hello.version),
            Some(server_message::Body::GetEnv(answer)) => {
                format!("get_env {:?}", answer.value.map(String::from_utf8))
            }
            Some(server_message::Body::GetEnvs(answer)) => {
                format!("get_envs {}", answer.vars.len())
            }
            Some(server_message::Body::Error(error)) => format!(
                "error {}",
                v1::ErrorCode::try_from(error.code).unwrap().as_str_name()
            ),
            None => "none".to_owned(),
        };
        out.push((message.request_id, kind));
    }
    out
}

#[test]
fn queries_and_reports_behind_hello_are_handled_in_order() {
    let server = Server::start(ServerConfig::new(vec![(b"A".to_vec(), b"1".to_vec())])).unwrap();
    let mut stream = UnixStream::connect(server.socket_path()).unwrap();
    let bytes = pipelined(
        vec![1],
        vec![
            get_env(b"A"),
            Body::IgnoreInput(v1::IgnoreInput {
                path: b"/behind/hello".to_vec(),
            }),
            Body::GetEnvs(v1::GetEnvs {
                selector: Some(Selector::Prefix(b"A".to_vec())),
                tracked: true,
            }),
        ],
    );
    stream.write_all(&bytes).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        answers_until_close(&mut stream),
        [
            (1, "hello v1".to_owned()),
            (2, "get_env Some(Ok(\"1\"))".to_owned()),
            (4, "get_envs 1".to_owned()),
        ]
    );
    let report = server.finish(DRAIN);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let value = EnvValue::new(b"1".to_vec());
    // The report lists declarations by kind, not in arrival order.
    assert_eq!(
        report.declarations,
        [
            Declaration::TrackedEnv {
                name: b"A".to_vec(),
                value: Some(value.clone()),
            },
            Declaration::TrackedEnvSet {
                selector: EnvSelector::Prefix(b"A".to_vec()),
                matches: vec![(b"A".to_vec(), value)],
            },
            Declaration::IgnoreInput {
                path: PathBuf::from("/behind/hello"),
            },
        ]
    );
}

#[test]
fn messages_behind_a_refused_hello_are_not_recorded() {
    let server = Server::start(ServerConfig::new(vec![(b"A".to_vec(), b"1".to_vec())])).unwrap();
    let mut stream = UnixStream::connect(server.socket_path()).unwrap();
    let bytes = pipelined(
        vec![9],
        vec![
            get_env(b"A"),
            Body::DisableCache(v1::DisableCache {
                reason: "never seen".into(),
            }),
        ],
    );
    stream.write_all(&bytes).unwrap();
    assert_eq!(
        answers_until_close(&mut stream),
        [(1, "error ERROR_CODE_UNSUPPORTED_VERSION".to_owned())]
    );
    let report = server.finish(DRAIN);
    assert!(report.declarations.is_empty(), "{:?}", report.declarations);
    let codes: Vec<DiagnosticCode> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [DiagnosticCode::UnsupportedVersion]);
}

#[test]
fn a_frame_limit_below_the_pipelined_frame_size_is_refused() {
    let min = runwire_proto::PIPELINED_FRAME_MAX_LEN;
    let mut config = ServerConfig::new(Vec::new());
    config.max_frame_len = min - 1;
    let error = Server::start(config).expect_err("refused");
    assert!(
        matches!(error, ServerError::FrameLimitTooSmall { len, min: m } if len == min - 1 && m == min),
        "{error}"
    );
    assert_eq!(error.code(), "server-frame-limit-too-small");
    assert_eq!(
        error.to_string(),
        "max_frame_len 255 is below 256, the size of a frame a client may send right behind Hello"
    );
    let mut config = ServerConfig::new(Vec::new());
    config.max_frame_len = min;
    Server::start(config).unwrap().finish(DRAIN);
}
