//! The one place where protobuf types meet the server's domain: wire bodies become
//! [`Inbound`] requests and [`Declaration`]s, answers become `ServerMessage`s. A v2 protocol is
//! a second module like this one, not a change to the session or the recorder.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use runwire_proto::glob::EnvGlob;
use runwire_proto::v1::{self, client_message::Body, get_envs::Selector, server_message};
use runwire_proto::validate::{self, ArgError};
use runwire_proto::{ErrorCode, path};

use crate::declaration::{Declaration, EnvSelector};

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

pub(crate) fn inbound(body: Option<Body>) -> Inbound {
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
        Body::IgnoreInput(r) => report("ignore_input", &r.path, Declaration::ignore_input),
        Body::IgnoreOutput(r) => report("ignore_output", &r.path, Declaration::ignore_output),
        Body::ReportInput(r) => report("report_input", &r.path, Declaration::report_input),
        Body::ReportOutput(r) => report("report_output", &r.path, Declaration::report_output),
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
        None => Err(ArgError::new(
            ErrorCode::InvalidArgument,
            "GetEnvs has no selector (set glob or prefix)",
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
        return Err(ArgError::new(
            ErrorCode::InvalidPath,
            format!(
                "{what} {} is relative; clients must send absolute paths",
                as_sent.display()
            ),
        ));
    }
    Ok(path::normalize(as_sent))
}

impl Declaration {
    fn ignore_input(path: PathBuf) -> Self {
        Self::IgnoreInput { path }
    }
    fn ignore_output(path: PathBuf) -> Self {
        Self::IgnoreOutput { path }
    }
    fn report_input(path: PathBuf) -> Self {
        Self::ReportInput { path }
    }
    fn report_output(path: PathBuf) -> Self {
        Self::ReportOutput { path }
    }
}

/// Whether a body expects an answer.
pub(crate) fn is_query(body: Option<&Body>) -> bool {
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
) -> v1::ServerMessage {
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

pub(crate) fn get_env_response(request_id: u64, value: Option<&[u8]>) -> v1::ServerMessage {
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
) -> v1::ServerMessage {
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

pub(crate) fn error(request_id: u64, code: ErrorCode, message: String) -> v1::ServerMessage {
    reply(
        request_id,
        server_message::Body::Error(v1::Error {
            code: code as i32,
            message,
        }),
    )
}

fn reply(request_id: u64, body: server_message::Body) -> v1::ServerMessage {
    v1::ServerMessage {
        request_id,
        body: Some(body),
    }
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
        assert_eq!(error.code(), ErrorCode::InvalidPath);
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
                Inbound::BadQuery(error) => assert_eq!(error.code(), code),
                other => panic!("expected {code:?}, got {other:?}"),
            }
        }
    }
}
