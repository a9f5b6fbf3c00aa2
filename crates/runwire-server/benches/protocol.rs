//! Protocol benchmark: `cargo bench -p runwire-server --bench protocol`.
//!
//! Three measurements, each with the client in a separate process (this binary, re-executed)
//! and the server in this one:
//! - baseline: a raw Unix-socket ping-pong with frames of the same sizes as a `GetEnv` query
//!   and its answer, served by a plain blocking thread (no protobuf, no tokio);
//! - contender: `Client::get_env` through the real client and the real server;
//! - the client-side cost of one fire-and-forget report (`report_input`).
//!
//! Prints p50/p99 of each and the ratios against the goals (`GetEnv` p50 <= 1.5x the raw
//! baseline; a report <= 5 us).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use prost::Message;
use runwire_client::Client;
use runwire_proto::v1::{self, client_message::Body, server_message};
use runwire_server::{Server, ServerConfig};

const ROLE: &str = "RUNWIRE_BENCH_ROLE";
const RAW_SOCKET: &str = "RUNWIRE_BENCH_RAW_SOCKET";
/// Baseline and contender alternate in batches of this many, so machine noise (other
/// processes on two cores) hits both alike.
const BATCH: usize = 500;
const WARMUP: usize = 2_000;
const SAMPLES: usize = 20_000;
const NAME: &[u8] = b"NODE_ENV";
const VALUE: &[u8] = b"production";

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("round_trips") => child_round_trips(),
        Ok("report") => child_report(),
        _ => parent(),
    }
}

/// The frames a `GetEnv` round trip exchanges, as bytes: the raw baseline sends the same.
fn frames() -> (Vec<u8>, Vec<u8>) {
    let query = v1::ClientMessage {
        request_id: 123_456,
        body: Some(Body::GetEnv(v1::GetEnv {
            name: NAME.to_vec(),
            tracked: true,
        })),
    };
    let answer = v1::ServerMessage {
        request_id: 123_456,
        body: Some(server_message::Body::GetEnv(v1::GetEnvResponse {
            value: Some(VALUE.to_vec()),
        })),
    };
    let (mut q, mut a) = (Vec::new(), Vec::new());
    runwire_proto::frame::encode_frame(&query, &mut q);
    runwire_proto::frame::encode_frame(&answer, &mut a);
    (q, a)
}

#[derive(Clone, Copy)]
struct Stats {
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        // Nearest-rank percentiles: index = ceil(n * p / 100) - 1.
        let at = |percent: usize| samples[(samples.len() * percent).div_ceil(100) - 1];
        Self {
            p50: at(50),
            p99: at(99),
        }
    }

    fn line(self) -> String {
        format!("{} {}", self.p50.as_nanos(), self.p99.as_nanos())
    }

    fn parse(line: &str) -> Self {
        let mut parts = line
            .split_whitespace()
            .map(|p| Duration::from_nanos(p.parse().unwrap()));
        Self {
            p50: parts.next().unwrap(),
            p99: parts.next().unwrap(),
        }
    }
}

fn run_child(role: &str, raw_socket: &Path, socket: &Path) -> Vec<Stats> {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(RAW_SOCKET, raw_socket)
        .env("RUNWIRE_SOCKET", socket)
        .output()
        .expect("the client process starts");
    assert!(
        output.status.success(),
        "{role} client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(Stats::parse)
        .collect()
}

fn parent() {
    let (query, answer) = frames();

    // Baseline server: a plain blocking echo of the same frame sizes, on its own thread.
    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("raw.sock");
    let listener = UnixListener::bind(&raw_path).unwrap();
    let query_len = query.len();
    let answer_for_server = answer.clone();
    let raw_server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; query_len];
        while stream.read_exact(&mut buf).is_ok() {
            stream.write_all(&answer_for_server).unwrap();
        }
    });
    // Contender: the real server (its own thread and runtime).
    let server = Server::start(ServerConfig::new(vec![(NAME.to_vec(), VALUE.to_vec())])).unwrap();

    let round_trips = run_child("round_trips", &raw_path, server.socket_path());
    let (raw, get_env) = (round_trips[0], round_trips[1]);
    raw_server.join().unwrap();
    let report = run_child("report", &raw_path, server.socket_path())[0];
    let result = server.finish(Duration::from_secs(10));
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let ratio = us(get_env.p50) / us(raw.p50);
    println!(
        "runwire protocol benchmark ({SAMPLES} samples each, client and server in separate processes)"
    );
    println!(
        "frame sizes: query {query_len} B, answer {} B",
        answer.len()
    );
    println!("{:<44} {:>10} {:>10}", "", "p50 (us)", "p99 (us)");
    for (name, stats) in [
        ("baseline: raw Unix-socket ping-pong", raw),
        ("contender: GetEnv round trip (client+server)", get_env),
        ("report_input, client side (fire-and-forget)", report),
    ] {
        println!("{name:<44} {:>10.2} {:>10.2}", us(stats.p50), us(stats.p99));
    }
    println!(
        "GetEnv / raw: p50 {ratio:.2}x, p99 {:.2}x (goal p50 <= 1.50x: {})",
        us(get_env.p99) / us(raw.p99),
        if ratio <= 1.5 { "met" } else { "NOT met" }
    );
    println!(
        "report p50 {:.2} us (goal <= 5 us: {})",
        us(report.p50),
        if us(report.p50) <= 5.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn child_round_trips() {
    let (query, answer) = frames();
    let mut raw = UnixStream::connect(std::env::var_os(RAW_SOCKET).unwrap()).unwrap();
    let client = Client::from_env().unwrap();
    let mut buf = vec![0u8; answer.len()];
    let (mut raw_samples, mut client_samples) = (Vec::new(), Vec::new());
    let rounds = (WARMUP + SAMPLES) / BATCH;
    for round in 0..rounds {
        let measured = round * BATCH >= WARMUP;
        for _ in 0..BATCH {
            let start = Instant::now();
            raw.write_all(&query).unwrap();
            raw.read_exact(&mut buf).unwrap();
            if measured {
                raw_samples.push(start.elapsed());
            }
        }
        for _ in 0..BATCH {
            let start = Instant::now();
            let value = client.get_env(NAME, true).unwrap();
            if measured {
                client_samples.push(start.elapsed());
            }
            assert_eq!(value.as_deref(), Some(VALUE));
        }
    }
    assert_eq!(buf, answer);
    assert!(!client.faulted());
    println!("{}", Stats::of(raw_samples).line());
    println!("{}", Stats::of(client_samples).line());
}

fn child_report() {
    let client = Client::from_env().unwrap();
    let paths: Vec<String> = (0..WARMUP + SAMPLES)
        .map(|i| format!("/bench/out/{i}"))
        .collect();
    let mut samples = Vec::with_capacity(SAMPLES);
    // Handshake outside the measurement.
    client.get_env(NAME, false).unwrap();
    for (i, path) in paths.iter().enumerate() {
        let start = Instant::now();
        client.report_input(path).unwrap();
        if i >= WARMUP {
            samples.push(start.elapsed());
        }
    }
    assert!(!client.faulted());
    let _ = v1::ClientMessage::default().encoded_len();
    println!("{}", Stats::of(samples).line());
}
