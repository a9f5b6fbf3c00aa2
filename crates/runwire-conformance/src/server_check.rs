//! Server mode: checks a runwire server implementation with raw frames, well-formed and not,
//! against spec/. The server must answer from an environment holding [`FIXTURE_ENV`] (the
//! harness puts it in the environment of the command it starts).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use prost::Message;
use runwire_proto::v1::{self, client_message::Body, get_envs, server_message};
use runwire_proto::{ErrorCode, V1_CAPABILITIES};

use crate::bytes::{Pairs, show};

/// Variables the server under test must see in its environment; no other name may start with
/// `RWCONF_`.
pub const FIXTURE_ENV: &[(&str, &str)] = &[
    ("RWCONF_A", "alpha"),
    ("RWCONF_B", "beta"),
    ("RWCONF_EMPTY", ""),
    ("RWCONF_a", "lower"),
];

/// A safety net against a server that never answers; not a measurement.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// What a case reports when the server hung up where it should have answered.
const SERVER_CLOSED: &str = "the server closed the connection instead of answering";

type Check = fn(&Path) -> Result<(), String>;

/// One server check: its name (with the tier prefix), the rule it checks in a sentence (what
/// `list` prints and conformance/README.md repeats), and the check.
#[derive(Debug)]
pub struct ServerCheck {
    pub name: &'static str,
    pub rule: &'static str,
    pub check: Check,
}

const fn check(name: &'static str, rule: &'static str, check: Check) -> ServerCheck {
    ServerCheck { name, rule, check }
}

/// Every server check, in the order they run.
pub const CHECKS: &[ServerCheck] = &[
    check(
        "Required.Server.Handshake.Version1",
        "Hello [1] is answered HelloResponse{version 1} with the Hello's request id (versioning.md \"Negotiation\").",
        handshake_version_1,
    ),
    check(
        "Required.Server.Handshake.HighestCommonVersion",
        "Hello [9, 1, 4000] to a v1 server picks version 1, the highest in common (versioning.md \"Negotiation\").",
        handshake_highest_common,
    ),
    check(
        "Required.Server.Handshake.UnpackedVersions",
        "Hello with supported_versions unpacked (field 3 as a varint) is the same Hello: answered version 1 (framing.md \"Presence\").",
        handshake_unpacked_versions,
    ),
    check(
        "Required.Server.Handshake.AllV1Capabilities",
        "HelloResponse.capabilities lists all ten v1 bodies (versioning.md \"Capabilities\").",
        handshake_capabilities,
    ),
    check(
        "Required.Server.Handshake.UnsupportedVersion",
        "Hello [99]: Error{UNSUPPORTED_VERSION} with the Hello's request id, then a close (versioning.md \"Negotiation\").",
        handshake_unsupported,
    ),
    check(
        "Required.Server.Handshake.EmptyVersionList",
        "Hello with no versions: Error{UNSUPPORTED_VERSION} with the Hello's request id, then a close (versioning.md \"Negotiation\").",
        handshake_empty_versions,
    ),
    check(
        "Required.Server.Handshake.QueryBeforeHello",
        "A query as the first message: Error{HANDSHAKE_REQUIRED} with its request id, then a close (protocol.md \"Connection lifecycle\").",
        query_before_hello,
    ),
    check(
        "Required.Server.Handshake.ReportBeforeHello",
        "A report as the first message: no answer, a close (protocol.md \"Connection lifecycle\").",
        report_before_hello,
    ),
    check(
        "Required.Server.Handshake.DuplicateHello",
        "A second Hello: Error{DUPLICATE_HELLO}, and the connection stays usable (protocol.md \"Connection lifecycle\").",
        duplicate_hello,
    ),
    check(
        "Required.Server.Handshake.MessagesBehindHello",
        "Hello, a query, a report and a query in one write: answered in order (1, 2, 4), the report never, the connection usable after (protocol.md \"Pipelining after Hello\").",
        messages_behind_hello,
    ),
    check(
        "Required.Server.GetEnv.Set",
        "GetEnv of a fixture variable answers its value, from the server's own environment (protocol.md \"Environment queries\").",
        get_env_set,
    ),
    check(
        "Required.Server.GetEnv.EmptyIsNotUnset",
        "A variable set to \"\" answers value \"\" (present), an unset one no value (runwire.proto GetEnvResponse.value).",
        get_env_empty_vs_unset,
    ),
    check(
        "Required.Server.GetEnv.CaseSensitive",
        "Names match exactly and case-sensitively (runwire.proto GetEnv.name).",
        get_env_case_sensitive,
    ),
    check(
        "Required.Server.GetEnv.CallerErrors",
        "An empty name is EMPTY_NAME, a name with '=' or NUL INVALID_NAME; the connection goes on (runwire.proto GetEnv.name).",
        get_env_caller_errors,
    ),
    check(
        "Required.Server.GetEnvs.GlobSortedExact",
        "Glob RWCONF_* answers exactly the four fixture variables, sorted by name bytes (runwire.proto GetEnvsResponse.vars).",
        get_envs_glob,
    ),
    check(
        "Required.Server.GetEnvs.GlobClassesAndQuestionMark",
        "Classes, ranges, negation and ? match as protocol.md \"Glob syntax\" says.",
        get_envs_classes,
    ),
    check(
        "Required.Server.GetEnvs.GlobEscape",
        "\\ makes the next byte literal; an escaped * matches only a star (protocol.md \"Glob syntax\").",
        get_envs_escape,
    ),
    check(
        "Required.Server.GetEnvs.PrefixIsLiteral",
        "A prefix matches names starting with its bytes; a * in it is a literal star (runwire.proto GetEnvs.prefix).",
        get_envs_prefix_literal,
    ),
    check(
        "Required.Server.GetEnvs.CallerErrors",
        "No selector is INVALID_ARGUMENT, an empty glob or prefix EMPTY_PATTERN, a malformed glob or a NUL or '=' INVALID_PATTERN; the connection goes on (runwire.proto GetEnvs).",
        get_envs_caller_errors,
    ),
    check(
        "Required.Server.GetEnvs.WholeEnvSortedUnique",
        "Glob * lists the whole environment, each name once, in byte order (runwire.proto GetEnvsResponse.vars).",
        get_envs_whole_env,
    ),
    check(
        "Required.Server.Reports.NeverAnswered",
        "None of the seven reports is answered: the next frame answers the query after them (protocol.md \"Queries and reports\").",
        reports_never_answered,
    ),
    check(
        "Required.Server.Reports.BadReportKeepsConnection",
        "A report with a relative path or an empty salt key is not answered and the connection stays usable (protocol.md \"Queries and reports\").",
        bad_report_keeps_connection,
    ),
    check(
        "Required.Server.Queries.AnsweredInOrder",
        "Forty pipelined queries are answered in the order sent (protocol.md \"Queries and reports\").",
        pipelined_queries,
    ),
    check(
        "Required.Server.Queries.ManyConnections",
        "Sixteen connections open at once are all served (protocol.md \"Concurrency\").",
        many_connections,
    ),
    check(
        "Required.Server.Framing.LengthOverMaximumCloses",
        "A length of ff ff ff ff closes the connection, with at most Error{FRAME_TOO_LARGE} id 0 first (framing.md \"Bad frames\").",
        too_large_closes,
    ),
    check(
        "Recommended.Server.Framing.LengthOverMaximumAnswered",
        "A length of ff ff ff ff is answered Error{FRAME_TOO_LARGE} with request id 0 before the close (framing.md \"Bad frames\": a courtesy, so SHOULD).",
        too_large_answered,
    ),
    check(
        "Required.Server.Framing.HttpRequestCloses",
        "An HTTP request (GET read as a length of 542,393,671) closes the connection without a reply other than FRAME_TOO_LARGE (framing.md \"Bad frames\").",
        http_request_closes,
    ),
    check(
        "Required.Server.Framing.MalformedPayloadCloses",
        "A whole frame that is not a ClientMessage closes the connection, with at most Error{MALFORMED_MESSAGE} id 0 first (framing.md \"Bad frames\").",
        malformed_closes,
    ),
    check(
        "Recommended.Server.Framing.MalformedPayloadAnswered",
        "A whole frame that is not a ClientMessage is answered Error{MALFORMED_MESSAGE} with request id 0 before the close (framing.md \"Bad frames\": a courtesy, so SHOULD).",
        malformed_answered,
    ),
    check(
        "Required.Server.Framing.EmptyFrameIsNoBody",
        "A frame of length 0 is a ClientMessage with no body: a close, with at most Error{UNKNOWN_MESSAGE} first (framing.md \"Frame\").",
        empty_frame,
    ),
    check(
        "Required.Server.Framing.UnknownBody",
        "A body the server does not know (field 50): Error{UNKNOWN_MESSAGE} with the message's request id, then a close (framing.md \"Bad frames\").",
        unknown_body,
    ),
    check(
        "Required.Server.Framing.TruncatedLength",
        "End of stream inside a length prefix: a close, nothing but at most an error sent (framing.md \"Bad frames\").",
        truncated_length,
    ),
    check(
        "Required.Server.Framing.TruncatedPayload",
        "End of stream inside a payload: a close, nothing but at most an error sent (framing.md \"Bad frames\").",
        truncated_payload,
    ),
    check(
        "Required.Server.Decoding.MalformedBodyInValidEnvelope",
        "A GetEnv whose name is sent as a varint (a known field, wrong wire type) in an envelope with request id 9: malformed as a whole, at most Error{MALFORMED_MESSAGE} with id 0 (not 9), then a close (framing.md \"Decoding\").",
        malformed_body,
    ),
    check(
        "Required.Server.Decoding.StringNotUtf8IsMalformed",
        "A DisableCache whose reason (a string) is the byte ff: malformed, at most Error{MALFORMED_MESSAGE} id 0, then a close (framing.md \"Decoding\").",
        string_not_utf8,
    ),
    check(
        "Required.Server.Decoding.LastOneofMemberWins",
        "A ClientMessage carrying disable_cache then get_env is a GetEnv query and is answered as one (framing.md \"Decoding\").",
        last_oneof_member_wins,
    ),
    check(
        "Required.Server.Decoding.UnknownGroupSkipped",
        "An unknown field with the group wire type after a GetEnv is skipped: the query is answered (framing.md \"Decoding\").",
        unknown_group_skipped,
    ),
    check(
        "Required.Server.Faults.OtherConnectionsUnaffected",
        "A framing fault on one connection leaves another connection served (protocol.md \"Concurrency\").",
        fault_isolated,
    ),
];

struct Conn {
    stream: UnixStream,
}

impl Conn {
    fn open(socket: &Path) -> Result<Self, String> {
        let stream = UnixStream::connect(socket)
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(Self { stream })
    }

    /// Connected and past the handshake.
    fn ready(socket: &Path) -> Result<Self, String> {
        let mut conn = Self::open(socket)?;
        let answer = conn.query(1, hello(vec![1]))?;
        match answer.body {
            Some(server_message::Body::HelloResponse(_)) => Ok(conn),
            other => Err(format!("hello [1] was answered with {other:?}")),
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            // Whether a hang-up shows on the write or on the read that
            // follows is a race; both are the same failure of the server.
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => SERVER_CLOSED.to_owned(),
            _ => format!("cannot write: {e}"),
        })
    }

    fn send(&mut self, request_id: u64, body: Body) -> Result<(), String> {
        let payload = v1::ClientMessage {
            request_id,
            body: Some(body),
        }
        .encode_to_vec();
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&payload);
        self.raw(&frame)
    }

    /// The next message, or `None` when the server closed the connection.
    fn receive(&mut self) -> Result<Option<v1::ServerMessage>, String> {
        let mut prefix = [0u8; 4];
        match read_full(&mut self.stream, &mut prefix) {
            Ok(0) => return Ok(None),
            Ok(4) => {}
            Ok(n) => {
                return Err(format!(
                    "the server closed inside a length prefix ({n} of 4 bytes)"
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(format!("no answer: {e}")),
        }
        let len = u32::from_le_bytes(prefix);
        if len > runwire_proto::DEFAULT_MAX_FRAME_LEN {
            return Err(format!(
                "the server sent a frame of {len} bytes, over the maximum"
            ));
        }
        let mut payload = vec![0u8; len as usize];
        self.stream
            .read_exact(&mut payload)
            .map_err(|e| format!("the server's frame is truncated: {e}"))?;
        v1::ServerMessage::decode(payload.as_slice())
            .map(Some)
            .map_err(|e| format!("the server sent a frame that is not a ServerMessage: {e}"))
    }

    fn query(&mut self, request_id: u64, body: Body) -> Result<v1::ServerMessage, String> {
        self.send(request_id, body)?;
        let answer = self.receive()?.ok_or(SERVER_CLOSED)?;
        if answer.request_id != request_id {
            return Err(format!(
                "the answer carries request id {}, expected {request_id}",
                answer.request_id
            ));
        }
        Ok(answer)
    }

    /// Reads until the server closes; returns what it sent first.
    fn until_closed(&mut self) -> Result<Vec<v1::ServerMessage>, String> {
        let mut got = Vec::new();
        while let Some(message) = self.receive()? {
            got.push(message);
            if got.len() > 1 {
                return Err(format!("the server kept sending after a fault: {got:?}"));
            }
        }
        Ok(got)
    }
}

fn read_full(stream: &mut UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn hello(versions: Vec<u32>) -> Body {
    Body::Hello(v1::Hello {
        client_name: "runwire-conformance".to_owned(),
        client_version: env!("CARGO_PKG_VERSION").to_owned(),
        supported_versions: versions,
    })
}

fn get_env(name: &[u8]) -> Body {
    Body::GetEnv(v1::GetEnv {
        name: name.to_vec(),
        tracked: false,
    })
}

fn glob(pattern: &[u8]) -> Body {
    Body::GetEnvs(v1::GetEnvs {
        selector: Some(get_envs::Selector::Glob(pattern.to_vec())),
        tracked: false,
    })
}

fn prefix(prefix: &[u8]) -> Body {
    Body::GetEnvs(v1::GetEnvs {
        selector: Some(get_envs::Selector::Prefix(prefix.to_vec())),
        tracked: false,
    })
}

fn error_of(message: &v1::ServerMessage) -> Option<i32> {
    match &message.body {
        Some(server_message::Body::Error(e)) => Some(e.code),
        _ => None,
    }
}

fn expect_error(message: &v1::ServerMessage, code: ErrorCode) -> Result<(), String> {
    match error_of(message) {
        Some(c) if c == code as i32 => Ok(()),
        _ => Err(format!(
            "expected Error{{{}}}, got {message:?}",
            code.short_name()
        )),
    }
}

fn value_of(message: &v1::ServerMessage) -> Result<Option<Vec<u8>>, String> {
    match &message.body {
        Some(server_message::Body::GetEnv(r)) => Ok(r.value.clone()),
        other => Err(format!("expected a GetEnvResponse, got {other:?}")),
    }
}

fn vars_of(message: &v1::ServerMessage) -> Result<Pairs, String> {
    match &message.body {
        Some(server_message::Body::GetEnvs(r)) => Ok(r
            .vars
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()),
        other => Err(format!("expected a GetEnvsResponse, got {other:?}")),
    }
}

fn fixture(names: &[&str]) -> Vec<(Vec<u8>, Vec<u8>)> {
    names
        .iter()
        .map(|n| {
            let value = FIXTURE_ENV
                .iter()
                .find(|(k, _)| k == n)
                .map_or("", |(_, v)| v);
            (n.as_bytes().to_vec(), value.as_bytes().to_vec())
        })
        .collect()
}

fn expect_vars(
    got: &[(Vec<u8>, Vec<u8>)],
    want: &[(Vec<u8>, Vec<u8>)],
    what: &str,
) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let names =
        |v: &[(Vec<u8>, Vec<u8>)]| v.iter().map(|(n, _)| show(n)).collect::<Vec<_>>().join(" ");
    Err(format!(
        "{what}: answered [{}], expected [{}] (values compared too)",
        names(got),
        names(want)
    ))
}

fn handshake_version_1(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    match conn.query(7, hello(vec![1]))?.body {
        Some(server_message::Body::HelloResponse(r)) if r.version == 1 => Ok(()),
        other => Err(format!(
            "hello [1] must be answered with version 1, got {other:?}"
        )),
    }
}

fn handshake_highest_common(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    match conn.query(1, hello(vec![9, 1, 4000]))?.body {
        Some(server_message::Body::HelloResponse(r)) if r.version == 1 => Ok(()),
        other => Err(format!(
            "hello [9, 1, 4000] to a v1 server must pick version 1, got {other:?}"
        )),
    }
}

fn handshake_capabilities(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    match conn.query(1, hello(vec![1]))?.body {
        Some(server_message::Body::HelloResponse(r)) => {
            let missing: Vec<&&str> = V1_CAPABILITIES
                .iter()
                .filter(|c| !r.capabilities.iter().any(|have| have == *c))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "a v1 server must list every v1 body; missing {missing:?}"
                ))
            }
        }
        other => Err(format!("expected a HelloResponse, got {other:?}")),
    }
}

/// Hello, a report and two queries in one write, as a client pipelines them: answered in
/// order, the report never answered, the connection still usable.
fn messages_behind_hello(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    let mut bytes = Vec::new();
    for (id, body) in [
        (1, hello(vec![1])),
        (2, get_env(b"RWCONF_A")),
        (
            3,
            Body::IgnoreInput(v1::IgnoreInput {
                path: b"/rwconf/behind-hello".to_vec(),
            }),
        ),
        (4, prefix(b"RWCONF_E")),
    ] {
        runwire_proto::frame::encode_frame(
            &v1::ClientMessage {
                request_id: id,
                body: Some(body),
            },
            &mut bytes,
        );
    }
    conn.raw(&bytes)?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let answer = conn.receive()?.ok_or("closed while answers were due")?;
        if let Some(code) = error_of(&answer) {
            return Err(format!(
                "request {} behind Hello was refused with error code {code}",
                answer.request_id
            ));
        }
        ids.push(answer.request_id);
    }
    if ids != [1, 2, 4] {
        return Err(format!(
            "Hello and the queries behind it must be answered in order (1, 2, 4), got {ids:?}"
        ));
    }
    value_of(&conn.query(5, get_env(b"RWCONF_A"))?)
        .map(drop)
        .map_err(|e| format!("after pipelined messages the connection must stay usable: {e}"))
}

fn refused_and_closed(conn: &mut Conn, request_id: u64, code: ErrorCode) -> Result<(), String> {
    let got = conn.until_closed()?;
    match got.as_slice() {
        [m] if m.request_id == request_id => expect_error(m, code),
        _ => Err(format!(
            "expected Error{{{}}} with request id {request_id} and a close, got {got:?}",
            code.short_name()
        )),
    }
}

fn handshake_unsupported(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    conn.send(3, hello(vec![99]))?;
    refused_and_closed(&mut conn, 3, ErrorCode::UnsupportedVersion)
}

fn handshake_empty_versions(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    conn.send(3, hello(vec![]))?;
    refused_and_closed(&mut conn, 3, ErrorCode::UnsupportedVersion)
}

fn query_before_hello(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    conn.send(4, get_env(b"RWCONF_A"))?;
    refused_and_closed(&mut conn, 4, ErrorCode::HandshakeRequired)
}

fn report_before_hello(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    conn.send(
        4,
        Body::DisableCache(v1::DisableCache {
            reason: "conformance".to_owned(),
        }),
    )?;
    let got = conn.until_closed()?;
    if got.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "a report before hello gets no answer, only a close; got {got:?}"
        ))
    }
}

fn duplicate_hello(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    expect_error(&conn.query(2, hello(vec![1]))?, ErrorCode::DuplicateHello)?;
    let value = value_of(&conn.query(3, get_env(b"RWCONF_A"))?)?;
    if value.as_deref() == Some(b"alpha".as_slice()) {
        Ok(())
    } else {
        Err("after a duplicate hello the connection must stay usable".to_owned())
    }
}

fn get_env_set(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    match value_of(&conn.query(2, get_env(b"RWCONF_A"))?)? {
        Some(v) if v == b"alpha" => Ok(()),
        other => Err(format!(
            "RWCONF_A is \"alpha\" in the server's environment; answered {:?}",
            other.map(|v| show(&v))
        )),
    }
}

fn get_env_empty_vs_unset(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let empty = value_of(&conn.query(2, get_env(b"RWCONF_EMPTY"))?)?;
    let unset = value_of(&conn.query(3, get_env(b"RWCONF_UNSET"))?)?;
    if empty.as_deref() == Some(b"".as_slice()) && unset.is_none() {
        Ok(())
    } else {
        Err(format!(
            "RWCONF_EMPTY must be set to \"\" and RWCONF_UNSET unset; answered {empty:?} and {unset:?}"
        ))
    }
}

fn get_env_case_sensitive(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let lower = value_of(&conn.query(2, get_env(b"RWCONF_a"))?)?;
    let missing = value_of(&conn.query(3, get_env(b"rwconf_a"))?)?;
    if lower.as_deref() == Some(b"lower".as_slice()) && missing.is_none() {
        Ok(())
    } else {
        Err("names match exactly and case-sensitively".to_owned())
    }
}

fn get_env_caller_errors(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    expect_error(&conn.query(2, get_env(b""))?, ErrorCode::EmptyName)?;
    expect_error(&conn.query(3, get_env(b"A=B"))?, ErrorCode::InvalidName)?;
    expect_error(&conn.query(4, get_env(b"A\0B"))?, ErrorCode::InvalidName)?;
    // A caller error is not a fault: the connection goes on.
    value_of(&conn.query(5, get_env(b"RWCONF_A"))?).map(drop)
}

fn get_envs_glob(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let got = vars_of(&conn.query(2, glob(b"RWCONF_*"))?)?;
    expect_vars(
        &got,
        &fixture(&["RWCONF_A", "RWCONF_B", "RWCONF_EMPTY", "RWCONF_a"]),
        "glob RWCONF_*",
    )
}

fn get_envs_classes(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let got = vars_of(&conn.query(2, glob(b"RWCONF_[A-Z]"))?)?;
    expect_vars(
        &got,
        &fixture(&["RWCONF_A", "RWCONF_B"]),
        "glob RWCONF_[A-Z]",
    )?;
    let got = vars_of(&conn.query(3, glob(b"RWCONF_[!A]"))?)?;
    expect_vars(
        &got,
        &fixture(&["RWCONF_B", "RWCONF_a"]),
        "glob RWCONF_[!A]",
    )?;
    let got = vars_of(&conn.query(4, glob(b"RWCONF_?"))?)?;
    expect_vars(
        &got,
        &fixture(&["RWCONF_A", "RWCONF_B", "RWCONF_a"]),
        "glob RWCONF_?",
    )
}

fn get_envs_escape(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let got = vars_of(&conn.query(2, glob(b"RWCONF\\_\\A"))?)?;
    expect_vars(&got, &fixture(&["RWCONF_A"]), "glob RWCONF\\_\\A")?;
    let got = vars_of(&conn.query(3, glob(b"RWCONF_\\*"))?)?;
    expect_vars(&got, &[], "glob RWCONF_\\* (a literal star)")
}

fn get_envs_prefix_literal(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let got = vars_of(&conn.query(2, prefix(b"RWCONF_"))?)?;
    expect_vars(
        &got,
        &fixture(&["RWCONF_A", "RWCONF_B", "RWCONF_EMPTY", "RWCONF_a"]),
        "prefix RWCONF_",
    )?;
    let got = vars_of(&conn.query(3, prefix(b"RWCONF_*"))?)?;
    expect_vars(&got, &[], "prefix RWCONF_* (a literal star)")?;
    let got = vars_of(&conn.query(4, prefix(b"RWCONF_E"))?)?;
    expect_vars(&got, &fixture(&["RWCONF_EMPTY"]), "prefix RWCONF_E")
}

fn get_envs_caller_errors(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let no_selector = Body::GetEnvs(v1::GetEnvs {
        selector: None,
        tracked: true,
    });
    expect_error(&conn.query(2, no_selector)?, ErrorCode::InvalidArgument)?;
    expect_error(&conn.query(3, glob(b""))?, ErrorCode::EmptyPattern)?;
    expect_error(&conn.query(4, prefix(b""))?, ErrorCode::EmptyPattern)?;
    expect_error(&conn.query(5, glob(b"RW[A"))?, ErrorCode::InvalidPattern)?;
    expect_error(&conn.query(6, glob(b"RW\\"))?, ErrorCode::InvalidPattern)?;
    expect_error(&conn.query(7, glob(b"A=*"))?, ErrorCode::InvalidPattern)?;
    expect_error(&conn.query(8, prefix(b"A\0"))?, ErrorCode::InvalidPattern)?;
    value_of(&conn.query(9, get_env(b"RWCONF_A"))?).map(drop)
}

fn get_envs_whole_env(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let got = vars_of(&conn.query(2, glob(b"*"))?)?;
    if let Some(pair) = got.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(format!(
            "glob * must list each name once in byte order; {} came before {}",
            show(&pair[0].0),
            show(&pair[1].0)
        ));
    }
    if !got.iter().any(|(n, _)| n == b"RWCONF_A") {
        return Err("glob * must include RWCONF_A".to_owned());
    }
    Ok(())
}

fn every_report() -> Vec<Body> {
    vec![
        Body::IgnoreInput(v1::IgnoreInput {
            path: b"/rwconf/in".to_vec(),
        }),
        Body::IgnoreOutput(v1::IgnoreOutput {
            path: b"/rwconf/out".to_vec(),
        }),
        Body::DisableCache(v1::DisableCache {
            reason: "conformance".to_owned(),
        }),
        Body::ReportInput(v1::ReportInput {
            path: b"/rwconf/a".to_vec(),
        }),
        Body::ReportOutput(v1::ReportOutput {
            path: b"/rwconf/b".to_vec(),
        }),
        Body::ReportGlob(v1::ReportGlob {
            base: b"/rwconf".to_vec(),
            pattern: b"src/**/*.ts".to_vec(),
        }),
        Body::Salt(v1::Salt {
            key: "k".to_owned(),
            value: b"\xff".to_vec(),
        }),
    ]
}

fn reports_never_answered(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    for (i, report) in every_report().into_iter().enumerate() {
        conn.send(10 + i as u64, report)?;
    }
    // The first frame back must answer the query, not any report.
    value_of(&conn.query(99, get_env(b"RWCONF_A"))?).map(drop)
}

fn bad_report_keeps_connection(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.send(
        2,
        Body::IgnoreInput(v1::IgnoreInput {
            path: b"relative/path".to_vec(),
        }),
    )?;
    conn.send(
        3,
        Body::Salt(v1::Salt {
            key: String::new(),
            value: vec![],
        }),
    )?;
    value_of(&conn.query(4, get_env(b"RWCONF_A"))?)
        .map(drop)
        .map_err(|e| format!("after a bad report the connection must stay usable: {e}"))
}

fn pipelined_queries(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    let ids: Vec<u64> = (100..140).collect();
    for &id in &ids {
        let body = if id % 2 == 0 {
            get_env(b"RWCONF_B")
        } else {
            prefix(b"RWCONF_")
        };
        conn.send(id, body)?;
    }
    for &id in &ids {
        let answer = conn.receive()?.ok_or("closed while answers were due")?;
        if answer.request_id != id {
            return Err(format!(
                "answers must come in query order: got request id {}, expected {id}",
                answer.request_id
            ));
        }
    }
    Ok(())
}

fn many_connections(socket: &Path) -> Result<(), String> {
    let mut conns: Vec<Conn> = (0..16)
        .map(|_| Conn::ready(socket))
        .collect::<Result<_, _>>()?;
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.send(2, get_env(b"RWCONF_A"))?;
        let _ = i;
    }
    for conn in &mut conns {
        let answer = conn.receive()?.ok_or("a connection was closed")?;
        if value_of(&answer)?.as_deref() != Some(b"alpha".as_slice()) {
            return Err("every connection is served".to_owned());
        }
    }
    Ok(())
}

/// After a framing fault: closed, with at most one `Error{code}` (with `request_id`) first.
fn closed_after_fault(
    conn: &mut Conn,
    code: ErrorCode,
    request_id: u64,
    answer_required: bool,
) -> Result<(), String> {
    let got = conn.until_closed()?;
    match got.as_slice() {
        [] if !answer_required => Ok(()),
        [m] if m.request_id == request_id => expect_error(m, code),
        _ => Err(format!(
            "expected {}a close, got {got:?}",
            if answer_required {
                format!(
                    "Error{{{}}} with request id {request_id} and ",
                    code.short_name()
                )
            } else {
                String::new()
            }
        )),
    }
}

fn too_large_closes(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[0xff, 0xff, 0xff, 0xff])?;
    closed_after_fault(&mut conn, ErrorCode::FrameTooLarge, 0, false)
}

fn too_large_answered(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[0xff, 0xff, 0xff, 0xff])?;
    closed_after_fault(&mut conn, ErrorCode::FrameTooLarge, 0, true)
}

fn http_request_closes(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    conn.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    closed_after_fault(&mut conn, ErrorCode::FrameTooLarge, 0, false)
}

fn malformed_closes(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[3, 0, 0, 0, 0xff, 0xff, 0xff])?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, false)
}

fn malformed_answered(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[3, 0, 0, 0, 0xff, 0xff, 0xff])?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, true)
}

fn empty_frame(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[0, 0, 0, 0])?;
    closed_after_fault(&mut conn, ErrorCode::UnknownMessage, 0, false)
}

fn unknown_body(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    // request_id 5 (field 1), then field 50 as bytes "x": a body no v1 server knows.
    let payload = [0x08, 0x05, 0x92, 0x03, 0x01, b'x'];
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&payload);
    conn.raw(&frame)?;
    closed_after_fault(&mut conn, ErrorCode::UnknownMessage, 5, true)
}

fn truncated_length(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[5, 0])?;
    conn.stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, false)
}

fn truncated_payload(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    conn.raw(&[10, 0, 0, 0, 0x08, 0x01])?;
    conn.stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, false)
}

fn fault_isolated(socket: &Path) -> Result<(), String> {
    let mut good = Conn::ready(socket)?;
    let mut bad = Conn::ready(socket)?;
    bad.raw(&[0xff, 0xff, 0xff, 0xff])?;
    let _ = bad.until_closed();
    let value = value_of(&good.query(2, get_env(b"RWCONF_A"))?)?;
    if value.as_deref() == Some(b"alpha".as_slice()) {
        Ok(())
    } else {
        Err("a fault on one connection must not affect another".to_owned())
    }
}

fn handshake_unpacked_versions(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::open(socket)?;
    // request_id 4, hello {supported_versions: 1 as an unpacked varint}.
    conn.raw(&[6, 0, 0, 0, 0x08, 0x04, 0x12, 0x02, 0x18, 0x01])?;
    let answer = conn.receive()?.ok_or(SERVER_CLOSED)?;
    match answer.body {
        Some(server_message::Body::HelloResponse(r))
            if r.version == 1 && answer.request_id == 4 =>
        {
            Ok(())
        }
        other => Err(format!(
            "an unpacked supported_versions [1] must be answered with version 1 and request id 4, got request id {} and {other:?}",
            answer.request_id
        )),
    }
}

fn malformed_body(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    // request_id 9, get_env {field 1 (name, bytes) as the varint 1}.
    conn.raw(&[6, 0, 0, 0, 0x08, 0x09, 0x1a, 0x02, 0x08, 0x01])?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, false)
}

fn string_not_utf8(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    // request_id 2, disable_cache {reason: the byte ff}.
    conn.raw(&[7, 0, 0, 0, 0x08, 0x02, 0x3a, 0x03, 0x0a, 0x01, 0xff])?;
    closed_after_fault(&mut conn, ErrorCode::MalformedMessage, 0, false)
}

/// A frame: `request_id`, the raw fields `before`, `get_env {name: "RWCONF_A"}`, the raw
/// fields `after`.
fn get_env_frame(request_id: u8, before: &[u8], after: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, request_id];
    payload.extend_from_slice(before);
    payload.extend_from_slice(&[0x1a, 0x0a, 0x0a, 0x08]);
    payload.extend_from_slice(b"RWCONF_A");
    payload.extend_from_slice(after);
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

fn answered_alpha(conn: &mut Conn, request_id: u64, what: &str) -> Result<(), String> {
    let answer = conn.receive()?.ok_or(SERVER_CLOSED)?;
    let value = value_of(&answer).map_err(|e| format!("{what}: {e}"))?;
    if answer.request_id == request_id && value.as_deref() == Some(b"alpha".as_slice()) {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected RWCONF_A = \"alpha\" for request {request_id}, got {answer:?}"
        ))
    }
}

fn last_oneof_member_wins(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    // disable_cache {} first, then the get_env.
    conn.raw(&get_env_frame(6, &[0x3a, 0x00], &[]))?;
    answered_alpha(
        &mut conn,
        6,
        "disable_cache then get_env in one message is a GetEnv",
    )
}

fn unknown_group_skipped(socket: &Path) -> Result<(), String> {
    let mut conn = Conn::ready(socket)?;
    // Start-group 99, field 1 = 1, end-group 99.
    conn.raw(&get_env_frame(
        7,
        &[],
        &[0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06],
    ))?;
    answered_alpha(&mut conn, 7, "an unknown group must be skipped")
}
