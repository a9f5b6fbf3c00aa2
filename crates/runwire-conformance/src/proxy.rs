//! A frame proxy between the testee and the reference server. It forwards the client's bytes
//! untouched and can change what the server sends (a capability added or removed, another
//! version, an error, garbage), and it can take the server away between two operations:
//! everything the client wrote before is still forwarded, then every connection and the
//! socket are closed, so the next call meets a gone runner.
//!
//! When a case changes the answer to Hello, frames the client pipelined behind its Hello
//! are held until that answer is on its way, and dropped if the change fails the handshake:
//! a server that fails a handshake reads nothing after it, so nothing there is recorded.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use prost::Message;
use runwire_proto::v1::{self, server_message::Body};

use crate::case::{Change, Mutation};

/// Bytes that are not a `ServerMessage` (an unfinished varint tag).
const GARBAGE: [u8; 3] = [0xff, 0xff, 0xff];

#[derive(Debug)]
pub struct Proxy {
    path: PathBuf,
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: PathBuf,
    mutations: Vec<Mutation>,
    stopped: AtomicBool,
    accepted: AtomicU32,
    forwards: Mutex<Vec<Forward>>,
    /// The request ids the client sent, one list per connection in accept order.
    request_ids: Mutex<Vec<Vec<u64>>>,
}

#[derive(Debug)]
struct Forward {
    client: UnixStream,
    up: JoinHandle<()>,
    down: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a fresh socket and forwards each connection to `upstream`.
    pub fn start(upstream: &Path, mutations: Vec<Mutation>) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("runwire-conf-proxy-")
            .tempdir()?;
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path)?;
        let shared = Arc::new(Shared {
            upstream: upstream.to_path_buf(),
            mutations,
            stopped: AtomicBool::new(false),
            accepted: AtomicU32::new(0),
            forwards: Mutex::new(Vec::new()),
            request_ids: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept(&listener, &accept_shared));
        Ok(Self {
            path,
            _dir: dir,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The socket the testee gets in `RUNWIRE_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u32 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The request ids the client sent so far, one list per connection.
    pub fn request_ids(&self) -> Vec<Vec<u64>> {
        self.shared
            .request_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the server away: no new connection is accepted, everything the clients already
    /// wrote is forwarded, then every connection is closed. Idempotent.
    pub fn stop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            self.shared.stopped.store(true, Ordering::SeqCst);
            // Wakes the blocked accept, which then sees the flag.
            drop(UnixStream::connect(&self.path));
            let _ = acceptor.join();
            let _ = std::fs::remove_file(&self.path);
        }
        let forwards = std::mem::take(
            &mut *self
                .shared
                .forwards
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for forward in forwards {
            // Reads still return what is buffered, then end: the up thread forwards the
            // client's last frames and closes the server side, which ends the session.
            let _ = forward.client.shutdown(std::net::Shutdown::Read);
            let _ = forward.up.join();
            let _ = forward.client.shutdown(std::net::Shutdown::Both);
            let _ = forward.down.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept(listener: &UnixListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = stream else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let Ok(server) = UnixStream::connect(&shared.upstream) else {
            continue;
        };
        let (Ok(client_read), Ok(client_write), Ok(server_read), Ok(server_write)) = (
            client.try_clone(),
            client.try_clone(),
            server.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        let index = {
            let mut ids = shared
                .request_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ids.push(Vec::new());
            ids.len() - 1
        };
        let gate = Arc::new(HandshakeGate::new(&shared.mutations));
        let up_shared = Arc::clone(shared);
        let up_gate = Arc::clone(&gate);
        let up = std::thread::spawn(move || {
            forward_up(client_read, server_write, &up_shared, index, &up_gate);
        });
        let mutations = shared.mutations.clone();
        let down = std::thread::spawn(move || {
            forward_down(server_read, client_write, &mutations, &gate);
        });
        shared
            .forwards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Forward { client, up, down });
    }
}

/// Whether the client's frames after its first (Hello) may go on to the server: open at once
/// when the case leaves the Hello answer alone, else decided when that answer is sent.
#[derive(Debug)]
struct HandshakeGate {
    state: Mutex<Option<bool>>,
    decided: Condvar,
}

impl HandshakeGate {
    fn new(mutations: &[Mutation]) -> Self {
        let changes_hello = mutations.iter().any(|m| matches!(m, Mutation::Hello(_)));
        Self {
            state: Mutex::new((!changes_hello).then_some(true)),
            decided: Condvar::new(),
        }
    }

    fn decide(&self, pass: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.get_or_insert(pass);
        self.decided.notify_all();
    }

    /// Blocks until decided; `true`: forward.
    fn wait(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .decided
            .wait_while(state, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        state.unwrap_or(false)
    }
}

/// Whether a change to the Hello answer is one the client must treat as a failed handshake
/// (spec/versioning.md), after which a real server would not read on.
fn fails_handshake(change: &Change) -> bool {
    match change {
        // Raw bytes may or may not break the answer: the cases that append to a Hello answer
        // send nothing that would be recorded behind it.
        Change::AddCapability(_)
        | Change::RemoveCapability(_)
        | Change::UnknownField
        | Change::Delay(_)
        | Change::Append(_) => false,
        // Below the 256 bytes a server may advertise: the client gives up (spec/framing.md).
        Change::MaxFrame(max) => (1..runwire_proto::PIPELINED_FRAME_MAX_LEN).contains(max),
        Change::Version(version) => *version != runwire_proto::PROTOCOL_VERSION,
        Change::RequestIdOffset(offset) => *offset != 0,
        Change::Error(_)
        | Change::Garbage
        | Change::Close
        | Change::HugeLength
        | Change::Truncate
        | Change::NoBody
        | Change::WrongBody => true,
    }
}

/// Client to server: forwarded untouched, frame by frame, noting each request id (frames
/// behind a Hello wait for the gate). A frame too long to be a runwire frame is forwarded raw
/// with the rest of the stream (the server then judges it).
fn forward_up(
    mut client: UnixStream,
    mut server: UnixStream,
    shared: &Shared,
    index: usize,
    gate: &HandshakeGate,
) {
    let mut first = true;
    loop {
        if !first && !gate.wait() {
            // Failed handshake: the rest is read (so the client never blocks) and dropped.
            let _ = io::copy(&mut client, &mut io::sink());
            break;
        }
        first = false;
        let mut prefix = [0u8; 4];
        if client.read_exact(&mut prefix).is_err() {
            break;
        }
        let len = u32::from_le_bytes(prefix);
        if len > runwire_proto::DEFAULT_MAX_FRAME_LEN {
            if server.write_all(&prefix).is_ok() {
                let _ = io::copy(&mut client, &mut server);
            }
            break;
        }
        let mut payload = vec![0u8; len as usize];
        let received = read_up_to(&mut client, &mut payload);
        let complete = received == payload.len();
        payload.truncate(received);
        if let Ok(message) = v1::ClientMessage::decode(payload.as_slice())
            && complete
        {
            if let Some(ids) = shared
                .request_ids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(index)
            {
                ids.push(message.request_id);
            }
        }
        let _ = server.write_all(&prefix);
        if server.write_all(&payload).is_err() || !complete {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Write);
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_up_to(stream: &mut UnixStream, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

/// Server to client, frame by frame, changing frames as the case asks.
fn forward_down(
    mut server: UnixStream,
    mut client: UnixStream,
    mutations: &[Mutation],
    gate: &HandshakeGate,
) {
    forward_answers(&mut server, &mut client, mutations, gate);
    // Ended before the Hello answer was decided: nothing more goes up.
    gate.decide(false);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}

fn forward_answers(
    server: &mut UnixStream,
    client: &mut UnixStream,
    mutations: &[Mutation],
    gate: &HandshakeGate,
) {
    let mut first = true;
    loop {
        let mut prefix = [0u8; 4];
        if server.read_exact(&mut prefix).is_err() {
            break;
        }
        let mut payload = vec![0u8; u32::from_le_bytes(prefix) as usize];
        if server.read_exact(&mut payload).is_err() {
            break;
        }
        let changes: Vec<&Change> = mutations
            .iter()
            .filter_map(|m| match (m, first) {
                (Mutation::Hello(c), true) | (Mutation::Answer(c), false) => Some(c),
                _ => None,
            })
            .collect();
        // A refused handshake ends the connection, as a real server's does.
        let refused = first && changes.iter().any(|c| matches!(c, Change::Error(_)));
        if first {
            gate.decide(!changes.iter().any(|c| fails_handshake(c)));
        }
        first = false;
        for change in &changes {
            if let Change::Delay(ms) = change {
                std::thread::sleep(std::time::Duration::from_millis(*ms));
            }
        }
        let (bytes, then_close) = match apply(&payload, &changes) {
            Out::Payload(out) => {
                let mut frame = (out.len() as u32).to_le_bytes().to_vec();
                frame.extend_from_slice(&out);
                (frame, false)
            }
            Out::RawThenClose(raw) => (raw, true),
            Out::Close => return,
        };
        if client.write_all(&bytes).is_err() || then_close || refused {
            return;
        }
    }
}

/// What the proxy sends instead of a server frame.
enum Out {
    /// This payload, framed.
    Payload(Vec<u8>),
    /// These bytes as they are (a broken frame), then a close.
    RawThenClose(Vec<u8>),
    /// Nothing: the connection is closed.
    Close,
}

/// An unknown field (number 99, varint 1): a v1 receiver must skip it.
const UNKNOWN_FIELD: [u8; 3] = [0x98, 0x06, 0x01];

fn apply(payload: &[u8], changes: &[&Change]) -> Out {
    if changes.is_empty() {
        return Out::Payload(payload.to_vec());
    }
    let Ok(mut message) = v1::ServerMessage::decode(payload) else {
        return Out::Close;
    };
    let mut extra: Vec<u8> = Vec::new();
    for change in changes {
        match change {
            Change::Close => return Out::Close,
            Change::Garbage => return Out::Payload(GARBAGE.to_vec()),
            // A length far over any maximum, and no payload: a receiver that checks the
            // length first gives up at once; one that waits for 4 GiB hangs.
            Change::HugeLength => return Out::RawThenClose(vec![0xff, 0xff, 0xff, 0xff]),
            Change::Truncate => {
                let mut raw = (payload.len() as u32 + 10).to_le_bytes().to_vec();
                raw.extend_from_slice(payload);
                return Out::RawThenClose(raw);
            }
            Change::NoBody => message.body = None,
            Change::WrongBody => {
                message.body = Some(match message.body {
                    Some(Body::GetEnv(_)) => Body::GetEnvs(v1::GetEnvsResponse::default()),
                    _ => Body::GetEnv(v1::GetEnvResponse { value: None }),
                });
            }
            Change::UnknownField => extra.extend_from_slice(&UNKNOWN_FIELD),
            Change::Append(bytes) => extra.extend_from_slice(bytes),
            // Applied by the caller, before sending.
            Change::Delay(_) => {}
            Change::RequestIdOffset(n) => message.request_id += n,
            Change::Error(code) => {
                message.body = Some(Body::Error(v1::Error {
                    code: *code,
                    message: "the conformance proxy replaced this answer".to_owned(),
                }));
            }
            Change::AddCapability(name) => {
                if let Some(Body::HelloResponse(hello)) = &mut message.body {
                    hello.capabilities.push(name.clone());
                }
            }
            Change::RemoveCapability(name) => {
                if let Some(Body::HelloResponse(hello)) = &mut message.body {
                    hello.capabilities.retain(|c| c != name);
                }
            }
            Change::Version(version) => {
                if let Some(Body::HelloResponse(hello)) = &mut message.body {
                    hello.version = *version;
                }
            }
            Change::MaxFrame(max) => {
                if let Some(Body::HelloResponse(hello)) = &mut message.body {
                    hello.max_frame_length = *max;
                }
            }
        }
    }
    let mut out = message.encode_to_vec();
    out.extend_from_slice(&extra);
    Out::Payload(out)
}
