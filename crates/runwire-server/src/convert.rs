//! The one place where protobuf types meet the server's domain: a frame's payload becomes a
//! [`Request`] (an [`Inbound`] holding `runwire_model` values), answers become an
//! [`Outbound`] the session sends without looking inside. A v2 protocol is a second module
//! like this one, not a change to the session or the recorder.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use runwire_model::arg::{self as validate, ArgError};
use runwire_model::{Declaration, EnvGlob, EnvSelector, path};
use runwire_proto::frame::{self, FrameError};
use runwire_proto::v1::{self, client_message::Body, get_envs::Selector, server_message};
use runwire_proto::{ErrorCode, caller_error_code};

use crate::declaration::DiagnosticCode;

/// One decoded client message.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) id: u64,
    /// The body's proto field name (`"none"` without one), for messages.
    pub(crate) body_name: &'static str,
    /// Whether the body expects an answer.
    pub(crate) is_query: bool,
    pub(crate) inbound: Inbound,
}

/// Decodes a frame's payload; the error says why it is not a `ClientMessage`.
pub(crate) fn decode(payload: &[u8]) -> Result<Request, FrameError> {
    let message = frame::decode_message::<v1::ClientMessage>(payload)?;
    Ok(Request {
        id: message.request_id,
        body_name: runwire_proto::body_name(message.body.as_ref()),
        is_query: is_query(message.body.as_ref()),
        inbound: inbound(message.body),
    })
}

/// An answer, ready to send.
#[derive(Debug)]
pub(crate) struct Outbound(v1::ServerMessage);

impl Outbound {
    pub(crate) fn request_id(&self) -> u64 {
        self.0.request_id
    }

    /// Its size on the wire, length prefix not counted.
    pub(crate) fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    pub(crate) fn encode(&self) -> Bytes {
        Bytes::from(self.0.encode_to_vec())
    }
}

/// A client message, checked and converted.
#[derive(Debug)]
pub(crate) enum Inbound {
    Hello {
        /// `client_name` and `client_version`, for messages.
        client: String,
        /// `client_name` alone: the connection's tool, as shown to the user.
        name: String,
        versions: Vec<u32>,
    },
    GetEnv {
        name: Vec<u8>,
        tracked: bool,
    },
    GetEnvs {
        selector: EnvSelector,
        matcher: Matcher,
        tracked: bool,
    },
    /// A query with a bad argument: answered with this error.
    BadQuery(ArgError),
    Report(Declaration),
    /// A report with a bad argument: a diagnostic (reports get no answer).
    BadReport {
        body: &'static str,
        error: ArgError,
    },
    /// No body, or one this server does not know.
    Unknown,
}

#[derive(Debug)]
pub(crate) enum Matcher {
    Glob(EnvGlob),
    Prefix(Vec<u8>),
}

impl Matcher {
    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        match self {
            Self::Glob(glob) => glob.matches(name),
            Self::Prefix(prefix) => name.starts_with(prefix),
        }
    }
}

fn inbound(body: Option<Body>) -> Inbound {
    let Some(body) = body else {
        return Inbound::Unknown;
    };
    match body {
        Body::Hello(hello) => Inbound::Hello {
            client: format!("{} {}", hello.client_name, hello.client_version),
            name: hello.client_name,
            versions: hello.supported_versions,
        },
        Body::GetEnv(query) => match validate::env_name(&query.name) {
            Ok(()) => Inbound::GetEnv {
                name: query.name,
                tracked: query.tracked,
            },
            Err(error) => Inbound::BadQuery(error),
        },
        Body::GetEnvs(query) => get_envs(query),
        Body::IgnoreInput(r) => report("ignore_input", &r.path, |path| Declaration::IgnoreInput {
            path,
        }),
        Body::IgnoreOutput(r) => report("ignore_output", &r.path, |path| {
            Declaration::IgnoreOutput { path }
        }),
        Body::ReportInput(r) => report("report_input", &r.path, |path| Declaration::ReportInput {
            path,
        }),
        Body::ReportOutput(r) => report("report_output", &r.path, |path| {
            Declaration::ReportOutput { path }
        }),
        // The session fills in the connection's client name.
        Body::DisableCache(r) => Inbound::Report(Declaration::DisableCache {
            reason: r.reason,
            client: String::new(),
        }),
        Body::ReportGlob(r) => {
            let checked = wire_path("report_glob base", &r.base)
                .and_then(|base| validate::file_glob(&r.pattern).map(|()| base));
            match checked {
                Ok(base) => Inbound::Report(Declaration::ReportGlob {
                    base,
                    pattern: r.pattern,
                }),
                Err(error) => Inbound::BadReport {
                    body: "report_glob",
                    error,
                },
            }
        }
        Body::Salt(r) => match validate::salt_key(&r.key) {
            Ok(()) => Inbound::Report(Declaration::Salt {
                key: r.key,
                value: r.value,
            }),
            Err(error) => Inbound::BadReport {
                body: "salt",
                error,
            },
        },
    }
}

fn get_envs(query: v1::GetEnvs) -> Inbound {
    let tracked = query.tracked;
    let converted = match query.selector {
        None => Err(ArgError::InvalidArgument(
            "GetEnvs has no selector (set glob or prefix)".to_owned(),
        )),
        Some(Selector::Glob(pattern)) => {
            EnvGlob::new(&pattern).map(|glob| (EnvSelector::Glob(pattern), Matcher::Glob(glob)))
        }
        Some(Selector::Prefix(prefix)) => validate::env_prefix(&prefix)
            .map(|()| (EnvSelector::Prefix(prefix.clone()), Matcher::Prefix(prefix))),
    };
    match converted {
        Ok((selector, matcher)) => Inbound::GetEnvs {
            selector,
            matcher,
            tracked,
        },
        Err(error) => Inbound::BadQuery(error),
    }
}

fn report(body: &'static str, raw: &[u8], make: fn(PathBuf) -> Declaration) -> Inbound {
    match wire_path(body, raw) {
        Ok(path) => Inbound::Report(make(path)),
        Err(error) => Inbound::BadReport { body, error },
    }
}

/// A path as sent: non-empty, no NUL, absolute (clients resolve relative paths). It is
/// normalized lexically here, so a client that sends `/a/./b` still records `/a/b`.
fn wire_path(what: &str, raw: &[u8]) -> Result<PathBuf, ArgError> {
    validate::path(what, raw)?;
    let as_sent = Path::new(OsStr::from_bytes(raw));
    if !as_sent.is_absolute() {
        return Err(ArgError::InvalidPath(format!(
            "{what} {} is relative; clients must send absolute paths",
            as_sent.display()
        )));
    }
    Ok(path::normalize(as_sent))
}

/// Whether a body expects an answer.
fn is_query(body: Option<&Body>) -> bool {
    matches!(
        body,
        Some(Body::Hello(_) | Body::GetEnv(_) | Body::GetEnvs(_))
    )
}

pub(crate) fn hello_response(
    request_id: u64,
    version: u32,
    server_name: &str,
    server_version: &str,
    max_frame_len: u32,
) -> Outbound {
    reply(
        request_id,
        server_message::Body::HelloResponse(v1::HelloResponse {
            version,
            server_name: server_name.to_owned(),
            server_version: server_version.to_owned(),
            capabilities: runwire_proto::V1_CAPABILITIES
                .iter()
                .map(|&c| c.to_owned())
                .collect(),
            max_frame_length: max_frame_len,
        }),
    )
}

pub(crate) fn get_env_response(request_id: u64, value: Option<&[u8]>) -> Outbound {
    reply(
        request_id,
        server_message::Body::GetEnv(v1::GetEnvResponse {
            value: value.map(<[u8]>::to_vec),
        }),
    )
}

pub(crate) fn get_envs_response<'a>(
    request_id: u64,
    vars: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Outbound {
    reply(
        request_id,
        server_message::Body::GetEnvs(v1::GetEnvsResponse {
            vars: vars
                .map(|(name, value)| v1::EnvVar {
                    name: name.to_vec(),
                    value: value.to_vec(),
                })
                .collect(),
        }),
    )
}

/// The answer to a query with a bad argument: its caller-error code.
pub(crate) fn bad_argument(request_id: u64, bad: &ArgError) -> Outbound {
    error(request_id, caller_error_code(bad), bad.message().to_owned())
}

/// The answer refusing a message for a protocol fault, with the fault's code.
pub(crate) fn refusal(request_id: u64, fault: DiagnosticCode, message: String) -> Outbound {
    let code = match fault {
        DiagnosticCode::FrameTooLarge => ErrorCode::FrameTooLarge,
        DiagnosticCode::MalformedMessage => ErrorCode::MalformedMessage,
        DiagnosticCode::UnknownMessage => ErrorCode::UnknownMessage,
        DiagnosticCode::HandshakeRequired => ErrorCode::HandshakeRequired,
        DiagnosticCode::UnsupportedVersion => ErrorCode::UnsupportedVersion,
        DiagnosticCode::DuplicateHello => ErrorCode::DuplicateHello,
        // Never answered (the peer is gone or the fault is the server's); the generic code
        // keeps the mapping total.
        DiagnosticCode::TruncatedFrame
        | DiagnosticCode::InvalidReport
        | DiagnosticCode::ForeignPeer
        | DiagnosticCode::LingeringConnection
        | DiagnosticCode::Io
        | DiagnosticCode::Internal => ErrorCode::Unspecified,
    };
    error(request_id, code, message)
}

fn error(request_id: u64, code: ErrorCode, message: String) -> Outbound {
    reply(
        request_id,
        server_message::Body::Error(v1::Error {
            code: code as i32,
            message,
        }),
    )
}

fn reply(request_id: u64, body: server_message::Body) -> Outbound {
    Outbound(v1::ServerMessage {
        request_id,
        body: Some(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_paths_must_be_absolute_and_are_normalized() {
        let Inbound::Report(declaration) = inbound(Some(Body::IgnoreInput(v1::IgnoreInput {
            path: b"/w/./cache/../out/".to_vec(),
        }))) else {
            panic!("an absolute path is accepted");
        };
        assert_eq!(
            declaration,
            Declaration::IgnoreInput {
                path: PathBuf::from("/w/out")
            }
        );
        let Inbound::BadReport { body, error } =
            inbound(Some(Body::ReportOutput(v1::ReportOutput {
                path: b"dist".to_vec(),
            })))
        else {
            panic!("a relative path is refused");
        };
        assert_eq!(body, "report_output");
        assert_eq!(caller_error_code(&error), ErrorCode::InvalidPath);
        assert_eq!(
            error.message(),
            "report_output dist is relative; clients must send absolute paths"
        );
    }

    #[test]
    fn queries_with_bad_arguments_are_answered_with_the_code() {
        let cases: Vec<(Body, ErrorCode)> = vec![
            (
                Body::GetEnv(v1::GetEnv {
                    name: vec![],
                    tracked: true,
                }),
                ErrorCode::EmptyName,
            ),
            (
                Body::GetEnv(v1::GetEnv {
                    name: b"A=B".to_vec(),
                    tracked: true,
                }),
                ErrorCode::InvalidName,
            ),
            (
                Body::GetEnvs(v1::GetEnvs {
                    selector: None,
                    tracked: true,
                }),
                ErrorCode::InvalidArgument,
            ),
            (
                Body::GetEnvs(v1::GetEnvs {
                    selector: Some(Selector::Glob(b"[".to_vec())),
                    tracked: true,
                }),
                ErrorCode::InvalidPattern,
            ),
            (
                Body::GetEnvs(v1::GetEnvs {
                    selector: Some(Selector::Prefix(vec![])),
                    tracked: true,
                }),
                ErrorCode::EmptyPattern,
            ),
        ];
        for (body, code) in cases {
            match inbound(Some(body)) {
                Inbound::BadQuery(error) => assert_eq!(caller_error_code(&error), code),
                other => panic!("expected {code:?}, got {other:?}"),
            }
        }
    }
}
