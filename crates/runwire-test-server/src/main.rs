//! `runwire-test-server`: the runner side of the protocol and nothing else, for the client
//! test suites (Node, Python) that must check what a real server recorded.
//!
//! It starts a real `runwire-server` whose env snapshot is exactly the `--env` pairs given,
//! runs the command with `RUNWIRE_SOCKET` set (the rest of its env inherited), waits for it,
//! drains the server and writes the `ServerReport` as JSON (env values appear only as blake3
//! hashes). No tracing, no cache: those belong to `runwire` itself.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;
use runwire_server::{EnvPolicy, Server, ServerConfig, ServerReport};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A variable the server answers from, `NAME=VALUE`; repeatable. Only these are visible
    /// to `GetEnv`/`GetEnvs`, so tests control exactly what the tool can see.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<OsString>,
    /// A name or glob the user marked untracked (policy); repeatable.
    #[arg(long = "untracked", value_name = "PATTERN")]
    untracked: Vec<OsString>,
    /// Where to write the JSON report; default: stdout, after the command's own output.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// How long to wait for connections still open after the command exited.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    drain_ms: u64,
    /// The command to run.
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// The JSON written at the end: the command's exit code beside the server's report.
#[derive(Debug, Serialize)]
struct Outcome {
    /// `None` when the command was killed by a signal.
    exit_code: Option<i32>,
    #[serde(flatten)]
    report: ServerReport,
}

/// Splits `NAME=VALUE` as bytes, so tests can hand the server names and values that are
/// not UTF-8.
fn parse_pair(pair: &std::ffi::OsStr) -> Result<(OsString, OsString), String> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = pair.as_bytes();
    let shown = pair.to_string_lossy();
    let eq = bytes
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| format!("`{shown}` is not NAME=VALUE"))?;
    if eq == 0 {
        return Err(format!("`{shown}` has an empty name"));
    }
    Ok((
        std::ffi::OsStr::from_bytes(&bytes[..eq]).to_owned(),
        std::ffi::OsStr::from_bytes(&bytes[eq + 1..]).to_owned(),
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("runwire-test-server: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let mut policy = EnvPolicy::new();
    for pattern in args.untracked {
        policy = policy
            .untrack_glob(pattern.as_encoded_bytes())
            .map_err(|e| format!("bad --untracked pattern: {e}"))?;
    }
    let env = args
        .env
        .iter()
        .map(|pair| parse_pair(pair).map(|(k, v)| (k.into_vec(), v.into_vec())))
        .collect::<Result<_, _>>()?;
    let mut config = ServerConfig::new(env);
    config.policy = policy;
    let server = Server::start(config).map_err(|e| e.to_string())?;

    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let status = Command::new(program)
        .args(rest)
        .env("RUNWIRE_SOCKET", server.socket_path())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;

    let outcome = Outcome {
        exit_code: status.code(),
        report: server.finish(Duration::from_millis(args.drain_ms)),
    };
    let json = serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?;
    match args.report {
        Some(path) => std::fs::write(&path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => println!("{json}"),
    }
    // Mirror the command's exit so scripts can chain on it; 1 for a signal.
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
