//! Random bytes on real connections (some after a valid handshake) never crash the server or
//! disturb other connections. Seeded, so every run sends the same bytes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use runwire_client::Client;
use runwire_proto::frame;
use runwire_proto::v1::{self, client_message::Body};
use runwire_server::{Declaration, DiagnosticCode, EnvValue, Server, ServerConfig};

/// xorshift64*: small, deterministic, good enough to make varied garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % max_len;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn hello_frame() -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_frame(
        &v1::ClientMessage {
            request_id: 1,
            body: Some(Body::Hello(v1::Hello {
                client_name: "random".into(),
                client_version: "0".into(),
                supported_versions: vec![1],
            })),
        },
        &mut out,
    );
    out
}

#[test]
fn random_bytes_never_crash_the_server_or_disturb_others() {
    let server = Server::start(ServerConfig::new(vec![(b"A".to_vec(), b"1".to_vec())])).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let cases = u64::try_from(soak(300)).unwrap();
    for case in 0..cases {
        let mut bytes = if case % 2 == 0 {
            hello_frame()
        } else {
            Vec::new()
        };
        // Half of the garbage starts with a plausible small length, so it reaches the decoder.
        let payload = rng.bytes(64);
        if case % 4 < 2 {
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        }
        bytes.extend_from_slice(&payload);
        let mut stream = UnixStream::connect(server.socket_path()).unwrap();
        // The server may close first (a fault), so a failed write is fine.
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let client = Client::connect(server.socket_path());
    assert_eq!(
        client.get_env(b"A", true).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert!(!client.faulted());
    eprintln!("soak: fuzzed frames: tried {cases}, survived {cases}");
    drop(client);
    let report = server.finish(Duration::from_secs(10));
    assert!(
        report.declarations.contains(&Declaration::TrackedEnv {
            name: b"A".to_vec(),
            value: Some(EnvValue::new(b"1".to_vec())),
        }),
        "the good client was served"
    );
    for diagnostic in &report.diagnostics {
        assert_ne!(diagnostic.code, DiagnosticCode::Internal, "{diagnostic}");
        assert_ne!(
            diagnostic.code,
            DiagnosticCode::LingeringConnection,
            "{diagnostic}"
        );
        assert!(
            diagnostic.connection.is_some_and(|c| c <= cases),
            "{diagnostic}"
        );
    }
    assert!(
        report.diagnostics.len() >= 100,
        "most garbage is a fault: {}",
        report.diagnostics.len()
    );
}

/// `bench/faults.sh` repeats the fault tests: `RUNWIRE_SOAK` multiplies the rounds (1 in CI).
fn soak(rounds: usize) -> usize {
    rounds
        * std::env::var("RUNWIRE_SOAK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
}
