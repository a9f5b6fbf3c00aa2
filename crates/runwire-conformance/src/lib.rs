//! The runwire conformance suite's harness. Client mode plays the runner: for each case in
//! `conformance/cases/` it starts a reference `runwire-server` (behind a frame proxy when the
//! case changes what the server sends or takes it away mid-run), spawns a testee (a small
//! program using one client library) with `RUNWIRE_SOCKET`, drives it with JSON lines, and
//! checks what the testee observed and what the server recorded. Server mode checks a server
//! implementation with raw frames, malformed ones included. Both report one line per failure,
//! a summary `N passed, N failed`, optional JSON, and honour an expected-failure list.

pub mod bytes;
pub mod case;
pub mod outcome;
pub mod proxy;
pub mod run;
pub mod server_check;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::case::{Case, Tier};
use crate::outcome::{CaseOutcome, FailureList, Report};

/// Which cases to run.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only cases whose name contains this.
    pub name_contains: Option<String>,
    /// Only `Required.` cases.
    pub required_only: bool,
}

impl Filter {
    fn selects(&self, name: &str, tier: Tier) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|s| name.contains(s))
            && (!self.required_only || tier == Tier::Required)
    }
}

/// Runs every case with the testee `command` (client mode).
pub fn run_clients(
    cases: &[Case],
    command: &[OsString],
    list: &FailureList,
    filter: &Filter,
) -> Report {
    let outcomes = cases
        .iter()
        .map(|case| {
            if filter.selects(&case.name, case.tier) {
                let failures = run::run_case(case, command);
                CaseOutcome::new(&case.name, case.tier, failures, list)
            } else {
                CaseOutcome::skipped(&case.name, case.tier)
            }
        })
        .collect();
    Report::new(outcomes)
}

/// Runs every server check against the server listening at `socket` (server mode).
pub fn run_server_checks(socket: &Path, list: &FailureList, filter: &Filter) -> Report {
    let outcomes = server_check::CHECKS
        .iter()
        .map(|server_check::ServerCheck { name, check, .. }| {
            let tier = if name.starts_with("Required.") {
                Tier::Required
            } else {
                Tier::Recommended
            };
            if filter.selects(name, tier) {
                let failures = check(socket).err().into_iter().collect();
                CaseOutcome::new(name, tier, failures, list)
            } else {
                CaseOutcome::skipped(name, tier)
            }
        })
        .collect();
    Report::new(outcomes)
}

/// Starts `command` with the fixture environment, reads the socket path from the first line
/// of its stdout, runs the server checks, then closes its stdin and waits for it.
pub fn run_server_command(
    command: &[OsString],
    list: &FailureList,
    filter: &Filter,
) -> Result<Report, String> {
    let (program, args) = command.split_first().ok_or("the server command is empty")?;
    let mut child = Command::new(program)
        .args(args)
        .envs(server_check::FIXTURE_ENV.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the socket path from the server command: {e}"))?;
    let socket = line.trim_end_matches(['\n', '\r']);
    if socket.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the server command printed no socket path on its first line".to_owned());
    }
    let report = run_server_checks(Path::new(socket), list, filter);
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(report)
}
