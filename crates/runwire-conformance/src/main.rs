//! `runwire-conformance`: the conformance harness's command line (see the library doc and
//! conformance/README.md).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use runwire_conformance::outcome::{FailureList, Report};
use runwire_conformance::{Filter, case, server_check};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "runwire conformance suite: checks a client (through a testee) or a server against spec/"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run every case with a client testee: `runwire-conformance client -- node testee.mjs`.
    Client {
        #[command(flatten)]
        common: Common,
        /// A directory of `.case` files; default: the cases this harness was built with.
        #[arg(long, value_name = "DIR")]
        cases: Option<PathBuf>,
        /// The testee command.
        #[arg(trailing_var_arg = true, required = true, value_name = "TESTEE")]
        command: Vec<OsString>,
    },
    /// Check a server with raw frames: `--socket PATH`, or a command that starts the server,
    /// prints its socket path as its first stdout line and stops when its stdin closes.
    Server {
        #[command(flatten)]
        common: Common,
        /// A server already listening (its environment must hold the fixture variables).
        #[arg(long, value_name = "PATH", conflicts_with = "command")]
        socket: Option<PathBuf>,
        #[arg(trailing_var_arg = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Start the reference server (runwire-server) answering from this process's environment,
    /// print its socket path, serve until stdin closes. For `server -- runwire-conformance
    /// reference-server`.
    ReferenceServer,
    /// Print the fixture variables a server under test must have in its environment.
    FixtureEnv,
    /// List the cases (name, then what it checks) and the server checks.
    List {
        /// A directory of `.case` files; default: the cases this harness was built with.
        #[arg(long, value_name = "DIR")]
        cases: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Expected failures: `CaseName  # reason` per line. A listed case that passes fails.
    #[arg(long, value_name = "FILE")]
    failure_list: Option<PathBuf>,
    /// Also write a JSON report to FILE (`-`: stdout, instead of the text).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only cases whose name contains this.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Only `Required.` cases (the rest are counted as skipped).
    #[arg(long)]
    required_only: bool,
}

impl Common {
    fn filter(&self) -> Filter {
        Filter {
            name_contains: self.filter.clone(),
            required_only: self.required_only,
        }
    }

    fn failure_list(&self, names: &[&str]) -> Result<FailureList, String> {
        let Some(file) = &self.failure_list else {
            return Ok(FailureList::default());
        };
        let list = FailureList::load(file).map_err(|e| e.to_string())?;
        let unknown = list.unknown(names);
        if !unknown.is_empty() {
            return Err(format!(
                "{}: lists cases that do not exist: {}",
                file.display(),
                unknown.join(", ")
            ));
        }
        Ok(list)
    }

    fn emit(&self, report: &Report) -> Result<ExitCode, String> {
        let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        let text = match self.json.as_deref() {
            Some(path) if path == Path::new("-") => json + "\n",
            Some(path) => {
                std::fs::write(path, json + "\n")
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                report.text()
            }
            None => report.text(),
        };
        print_quietly(&text)?;
        Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("runwire-conformance: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.mode {
        Mode::Client {
            common,
            cases,
            command,
        } => {
            let cases = match &cases {
                Some(dir) => case::load_dir(dir),
                None => case::load_embedded(),
            }
            .map_err(|e| e.to_string())?;
            if cases.is_empty() {
                return Err("no .case files to run".to_owned());
            }
            let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
            let list = common.failure_list(&names)?;
            let report =
                runwire_conformance::run_clients(&cases, &command, &list, &common.filter());
            common.emit(&report)
        }
        Mode::Server {
            common,
            socket,
            command,
        } => {
            let names: Vec<&str> = server_check::CHECKS.iter().map(|c| c.name).collect();
            let list = common.failure_list(&names)?;
            let report = match socket {
                Some(socket) => {
                    runwire_conformance::run_server_checks(&socket, &list, &common.filter())
                }
                None if command.is_empty() => {
                    return Err("give --socket PATH or a command after `--`".to_owned());
                }
                None => runwire_conformance::run_server_command(&command, &list, &common.filter())?,
            };
            common.emit(&report)
        }
        Mode::ReferenceServer => reference_server(),
        Mode::List { cases } => {
            let cases = match &cases {
                Some(dir) => case::load_dir(dir),
                None => case::load_embedded(),
            }
            .map_err(|e| e.to_string())?;
            let mut text = String::new();
            for case in &cases {
                let _ = writeln!(text, "{}\n    {}", case.name, case.doc);
            }
            for check in server_check::CHECKS {
                let _ = writeln!(text, "{}\n    (server mode) {}", check.name, check.rule);
            }
            print_quietly(&text)
        }
        Mode::FixtureEnv => {
            let mut text = String::new();
            for (name, value) in server_check::FIXTURE_ENV {
                let _ = writeln!(text, "{name}={value}");
            }
            print_quietly(&text)
        }
    }
}

/// Writes `text` to stdout. A reader that goes away early (`list | head`) is not an error: the
/// output is simply not wanted any more, so the harness exits quietly, as CLIs do.
fn print_quietly(text: &str) -> Result<ExitCode, String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

fn reference_server() -> Result<ExitCode, String> {
    let server = runwire_server::Server::start(runwire_server::ServerConfig::from_process_env())
        .map_err(|e| e.to_string())?;
    println!("{}", server.socket_path().display());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // Serve until the harness closes stdin.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    let report = server.finish(Duration::from_secs(2));
    // The server checks send faulty frames on purpose; the count is enough here.
    eprintln!(
        "reference server: {} protocol fault(s) recorded",
        report.diagnostics.len()
    );
    Ok(ExitCode::SUCCESS)
}
