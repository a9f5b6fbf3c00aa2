//! Protocol benchmark: `cargo bench -p runwire-server --bench protocol`.
//!
//! Three measurements, each with the client in a separate process (this binary, re-executed)
//! and the servers in this one:
//! - baseline: a raw Unix-socket ping-pong with frames of the same sizes as a `GetEnv` query
//!   and its answer, served by a plain blocking thread (no protobuf, no tokio);
//! - contender: `Client::get_env` through the real client and the real server;
//! - the client-side cost of one fire-and-forget report (`report_input`).
//!
//! Baseline and contender alternate in batches within one client process. Where client and
//! server run decides the cost of a round trip (~10 us sharing a CPU, ~45 us across CPUs on
//! a 2-core VM, where every hand-off wakes the other core), so each placement is pinned and
//! measured on its own: both servers on CPU 0, the client on CPU 0 (same CPU) and then on
//! CPU 1 (different CPUs). Prints p50/p99 of each and the ratios per placement against the
//! goals (`GetEnv` p50 <= 1.5x the raw baseline; a report <= 5 us).

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
const CLIENT_CPU: &str = "RUNWIRE_BENCH_CPU";
/// Baseline and contender alternate in batches of this many, so machine noise (other
/// processes on two cores) hits both alike.
const BATCH: usize = 500;
const WARMUP: usize = 2_000;
const SAMPLES: usize = 20_000;
const NAME: &[u8] = b"NODE_ENV";
const VALUE: &[u8] = b"production";

fn main() {
    if let Some(cpu) = std::env::var(CLIENT_CPU).ok().and_then(|c| c.parse().ok()) {
        pin_to(cpu);
    }
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

/// Pins the calling thread (and the threads it spawns later) to one CPU.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it; the call
    // only reads the set.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set)
    };
    assert_eq!(
        rc,
        0,
        "pinning to CPU {cpu}: {}",
        std::io::Error::last_os_error()
    );
}

fn run_child(role: &str, cpu: usize, raw_socket: &Path, socket: &Path) -> Vec<Stats> {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(CLIENT_CPU, cpu.to_string())
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

/// One placement's measurements.
struct Placement {
    name: &'static str,
    raw: Stats,
    get_env: Stats,
    report: Stats,
}

/// Starts both servers (on this thread's CPU, as threads inherit the pinning) and runs the
/// clients on `client_cpu`.
fn measure(name: &'static str, client_cpu: usize) -> Placement {
    let (query, answer) = frames();
    // Baseline server: a plain blocking echo of the same frame sizes, on its own thread.
    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("raw.sock");
    let listener = UnixListener::bind(&raw_path).unwrap();
    let query_len = query.len();
    let raw_server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; query_len];
        while stream.read_exact(&mut buf).is_ok() {
            stream.write_all(&answer).unwrap();
        }
    });
    // Contender: the real server (its own thread and runtime).
    let server = Server::start(ServerConfig::new(vec![(NAME.to_vec(), VALUE.to_vec())])).unwrap();
    let round_trips = run_child("round_trips", client_cpu, &raw_path, server.socket_path());
    raw_server.join().unwrap();
    let report = run_child("report", client_cpu, &raw_path, server.socket_path())[0];
    let result = server.finish(Duration::from_secs(10));
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    Placement {
        name,
        raw: round_trips[0],
        get_env: round_trips[1],
        report,
    }
}

fn parent() {
    let (query, answer) = frames();
    // Asked before pinning, which narrows what it reports to one.
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    pin_to(0);
    let mut placements = vec![measure("same CPU", 0)];
    if cpus > 1 {
        placements.push(measure("different CPUs", 1));
    }

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "runwire protocol benchmark ({SAMPLES} samples each, client and server in separate processes, pinned)"
    );
    println!(
        "frame sizes: query {} B, answer {} B",
        query.len(),
        answer.len()
    );
    for p in &placements {
        println!();
        println!("{:<44} {:>10} {:>10}", p.name, "p50 (us)", "p99 (us)");
        for (name, stats) in [
            ("baseline: raw Unix-socket ping-pong", p.raw),
            ("contender: GetEnv round trip (client+server)", p.get_env),
            ("report_input, client side (fire-and-forget)", p.report),
        ] {
            println!("{name:<44} {:>10.2} {:>10.2}", us(stats.p50), us(stats.p99));
        }
        let ratio = us(p.get_env.p50) / us(p.raw.p50);
        println!(
            "GetEnv / raw ({}): p50 {ratio:.2}x, p99 {:.2}x (goal p50 <= 1.50x: {})",
            p.name,
            us(p.get_env.p99) / us(p.raw.p99),
            if ratio <= 1.5 { "met" } else { "NOT met" }
        );
        println!(
            "report p50 {:.2} us (goal <= 5 us: {})",
            us(p.report.p50),
            if us(p.report.p50) <= 5.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
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
