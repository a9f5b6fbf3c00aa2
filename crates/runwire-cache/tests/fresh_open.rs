//! Several real processes opening one brand-new cache dir at the same instant (issue #22:
//! 3 of 320 runner starts failed with "database is locked"). Each round starts 8
//! `runwire-cache-stress` processes whose stdin is a pipe; they block reading it, and the
//! test closes every pipe at once, so all of them create, migrate and use the fresh index
//! together. No sleeps: the gate is the pipes' end-of-file.

use std::io::Read;
use std::process::{Command, Stdio};

const STRESS: &str = env!("CARGO_BIN_EXE_runwire-cache-stress");
const RUNNERS: usize = 8;

#[test]
fn eight_processes_open_a_fresh_cache_at_once_40_rounds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let rounds = soak(40);
    for round in 0..rounds {
        let cache_dir = tmp.path().join(format!("cache-{round}"));
        let mut children = Vec::new();
        for runner in 0..RUNNERS {
            let ws = tmp.path().join(format!("ws-{round}-{runner}"));
            std::fs::create_dir_all(&ws).unwrap();
            let child = Command::new(STRESS)
                .args([
                    cache_dir.as_os_str(),
                    ws.as_os_str(),
                    runner.to_string().as_ref(),
                    "1".as_ref(),
                    "1000000000".as_ref(),
                ])
                .env("RUNWIRE_CACHE_STRESS_GATE", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push(child);
        }
        // Open the gate: every child's stdin reaches end-of-file together.
        for child in &mut children {
            drop(child.stdin.take());
        }
        for (runner, mut child) in children.into_iter().enumerate() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            let status = child.wait().unwrap();
            if !status.success() {
                failures.push(format!("round {round} runner {runner}: {status}: {stderr}"));
            }
        }
    }
    let tried = rounds * RUNNERS;
    eprintln!(
        "soak: fresh-cache starts: tried {tried}, survived {}",
        tried - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} starts failed:\n{}",
        failures.len(),
        tried,
        failures.join("\n")
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
