//! One connection: handshake, then queries answered in order and reports recorded. Every
//! fault becomes a diagnostic; faults that lose the framing or the client's trust close this
//! connection and no other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures_util::{SinkExt, StreamExt};
use interprocess::os::unix::uds_local_socket::tokio::Stream;
use runwire_model::{Declaration, EnvPolicy, EnvSelector, EnvValue};
use runwire_proto::SUPPORTED_VERSIONS;
use runwire_proto::frame::FrameError;
use runwire_proto::tokio_codec::FrameCodec;
use tokio_util::codec::Framed;

use crate::convert::{self, Inbound, Matcher, Outbound};
use crate::declaration::{Diagnostic, DiagnosticCode};

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) env: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) policy: EnvPolicy,
    pub(crate) max_frame_len: u32,
    pub(crate) server_name: String,
    pub(crate) server_version: String,
    pub(crate) recorded: Mutex<Recorded>,
    /// Connections whose session has not ended, for the finish deadline.
    pub(crate) open: Mutex<BTreeSet<u64>>,
    /// Connections accepted so far.
    pub(crate) accepted: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) declarations: Vec<Declaration>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Shared {
    pub(crate) fn diagnose(&self, connection: Option<u64>, code: DiagnosticCode, message: String) {
        lock(&self.recorded).diagnostics.push(Diagnostic {
            code,
            message,
            connection,
        });
    }

    fn declare(&self, declaration: Declaration) {
        lock(&self.recorded).declarations.push(declaration);
    }

    fn get_env(&self, request_id: u64, name: Vec<u8>, tracked: bool) -> Outbound {
        let value = self.env.get(&name);
        if tracked && !self.policy.is_untracked(&name) {
            self.declare(Declaration::TrackedEnv {
                value: value.map(|v| EnvValue::new(v.clone())),
                name,
            });
        }
        convert::get_env_response(request_id, value.map(Vec::as_slice))
    }

    fn get_envs(
        &self,
        request_id: u64,
        selector: EnvSelector,
        matcher: &Matcher,
        tracked: bool,
    ) -> Outbound {
        let matching = || self.env.iter().filter(|(name, _)| matcher.matches(name));
        if tracked {
            let recorded = matching()
                .filter(|(name, _)| !self.policy.is_untracked(name))
                .map(|(name, value)| (name.clone(), EnvValue::new(value.clone())))
                .collect();
            self.declare(Declaration::TrackedEnvSet {
                selector,
                matches: recorded,
            });
        }
        // The snapshot is a BTreeMap: sorted by name bytes and free of duplicates.
        convert::get_envs_response(
            request_id,
            matching().map(|(n, v)| (n.as_slice(), v.as_slice())),
        )
    }
}

/// Locks a mutex even if a panicking thread poisoned it: the data is append-only records.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do after a message.
enum Next {
    Continue,
    Close,
}

pub(crate) async fn serve(id: u64, stream: Stream, shared: &Shared) {
    let mut framed = Framed::new(&stream, FrameCodec::new(shared.max_frame_len));
    // The client name from Hello; `None` until the handshake.
    let mut hello: Option<String> = None;
    while let Some(frame) = framed.next().await {
        let payload = match frame {
            Ok(payload) => payload,
            Err(error) => {
                let code = match &error {
                    FrameError::TooLarge { .. } => DiagnosticCode::FrameTooLarge,
                    FrameError::Truncated { .. } => DiagnosticCode::TruncatedFrame,
                    FrameError::Decode { .. } => DiagnosticCode::MalformedMessage,
                    FrameError::Io(_) => DiagnosticCode::Io,
                };
                if code == DiagnosticCode::FrameTooLarge {
                    // Best effort: a client blocked on a query learns why before the close.
                    let _ = send(
                        &mut framed,
                        convert::refusal(0, DiagnosticCode::FrameTooLarge, error.to_string()),
                    )
                    .await;
                }
                let message = if code == DiagnosticCode::TruncatedFrame {
                    error.to_string()
                } else {
                    format!("{error}; connection closed")
                };
                shared.diagnose(Some(id), code, message);
                return;
            }
        };
        let request = match convert::decode(&payload) {
            Ok(request) => request,
            Err(error) => {
                let reason = format!("{error}; connection closed");
                let _ = send(
                    &mut framed,
                    convert::refusal(0, DiagnosticCode::MalformedMessage, reason.clone()),
                )
                .await;
                shared.diagnose(Some(id), DiagnosticCode::MalformedMessage, reason);
                return;
            }
        };
        let next = handle(id, request, &mut hello, shared, &mut framed).await;
        if let Next::Close = next {
            return;
        }
    }
}

type Conn<'a> = Framed<&'a Stream, FrameCodec>;

async fn handle(
    id: u64,
    request: convert::Request,
    hello: &mut Option<String>,
    shared: &Shared,
    framed: &mut Conn<'_>,
) -> Next {
    let request_id = request.id;
    let (body_name, inbound) = (request.body_name, request.inbound);

    if hello.is_none() && !matches!(inbound, Inbound::Hello { .. }) {
        let reason = format!(
            "first message (request {request_id}) is {body_name}, not hello; connection closed"
        );
        let fault = (DiagnosticCode::HandshakeRequired, reason);
        return close(framed, shared, (id, request_id), fault, request.is_query).await;
    }

    let reply = match inbound {
        Inbound::Hello {
            client,
            name,
            versions,
        } => {
            if hello.is_some() {
                let reason = format!("second hello (request {request_id}) from {client}");
                shared.diagnose(Some(id), DiagnosticCode::DuplicateHello, reason.clone());
                convert::refusal(request_id, DiagnosticCode::DuplicateHello, reason)
            } else if let Some(version) = pick_version(&versions) {
                *hello = Some(name);
                convert::hello_response(
                    request_id,
                    version,
                    &shared.server_name,
                    &shared.server_version,
                    shared.max_frame_len,
                )
            } else {
                let reason = format!(
                    "client {client} speaks protocol versions {versions:?}, this server speaks {SUPPORTED_VERSIONS:?}; connection closed"
                );
                let fault = (DiagnosticCode::UnsupportedVersion, reason);
                return close(framed, shared, (id, request_id), fault, true).await;
            }
        }
        Inbound::GetEnv { name, tracked } => shared.get_env(request_id, name, tracked),
        Inbound::GetEnvs {
            selector,
            matcher,
            tracked,
        } => shared.get_envs(request_id, selector, &matcher, tracked),
        Inbound::BadQuery(error) => convert::bad_argument(request_id, &error),
        Inbound::Report(declaration) => {
            shared.declare(with_client(declaration, hello.as_deref()));
            return Next::Continue;
        }
        Inbound::BadReport { body, error } => {
            shared.diagnose(
                Some(id),
                DiagnosticCode::InvalidReport,
                format!("{body} (request {request_id}): {error}"),
            );
            return Next::Continue;
        }
        Inbound::Unknown => {
            let reason = format!(
                "message (request {request_id}) has no body this server knows (missing or unknown oneof field); connection closed"
            );
            let fault = (DiagnosticCode::UnknownMessage, reason);
            return close(framed, shared, (id, request_id), fault, true).await;
        }
    };
    let reply = fit(reply, framed.codec().max(), id, shared);
    match send(framed, reply).await {
        Ok(()) => Next::Continue,
        Err(error) => {
            shared.diagnose(
                Some(id),
                DiagnosticCode::Io,
                format!("cannot answer request {request_id}: {error}; connection closed"),
            );
            Next::Close
        }
    }
}

/// Records a fault that ends the connection, answering the request with its code first
/// when `answer` (best effort: the peer may be gone).
async fn close(
    framed: &mut Conn<'_>,
    shared: &Shared,
    (id, request_id): (u64, u64),
    (code, reason): (DiagnosticCode, String),
    answer: bool,
) -> Next {
    if answer {
        let _ = send(framed, convert::refusal(request_id, code, reason.clone())).await;
    }
    shared.diagnose(Some(id), code, reason);
    Next::Close
}

/// A `DisableCache` names the client of its connection (the name from its Hello).
fn with_client(mut declaration: Declaration, name: Option<&str>) -> Declaration {
    if let (Declaration::DisableCache { client, .. }, Some(name)) = (&mut declaration, name) {
        name.clone_into(client);
    }
    declaration
}

/// An answer over the frame limit (a huge env snapshot) becomes an error the client can read.
fn fit(reply: Outbound, max: u32, id: u64, shared: &Shared) -> Outbound {
    let len = reply.encoded_len();
    if len <= max as usize {
        return reply;
    }
    let request_id = reply.request_id();
    let reason = format!(
        "the answer to request {request_id} is {len} bytes, over the maximum frame of {max} bytes"
    );
    shared.diagnose(Some(id), DiagnosticCode::FrameTooLarge, reason.clone());
    convert::refusal(request_id, DiagnosticCode::FrameTooLarge, reason)
}

fn pick_version(offered: &[u32]) -> Option<u32> {
    SUPPORTED_VERSIONS
        .iter()
        .rev()
        .find(|v| offered.contains(v))
        .copied()
}

async fn send(framed: &mut Conn<'_>, message: Outbound) -> Result<(), FrameError> {
    framed.send(message.encode()).await
}
