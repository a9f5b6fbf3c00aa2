//! Parsing and running the steps given on the command line.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::PathBuf;

use crate::protocol::{Op, Session};

/// Why a step could not be parsed or run.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("unknown step `{0}` (see the crate docs for the list)")]
    Unknown(String),
    #[error("step `{step}` needs {needed} argument(s)")]
    MissingArgs { step: String, needed: usize },
    #[error("step `{step}`: `{value}` is not a number")]
    NotANumber { step: String, value: String },
    #[error("{step} {}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Protocol(String),
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Read(PathBuf),
    Write(PathBuf, OsString),
    Append(PathBuf, OsString),
    Rm(PathBuf),
    Mkdir(PathBuf),
    Ls(PathBuf),
    Exists(PathBuf),
    Print(OsString),
    Eprint(OsString),
    Exit(i32),
    /// Sends a frame that is not a protocol message to `RUNWIRE_SOCKET` (a faulty tool).
    SendGarbage,
    /// Sends `Hello` with this client name and an unsupported version, reads until closed.
    HelloAs(OsString),
    /// The step, this many times.
    Repeat(u32, Box<Step>),
    Protocol(Op),
}

/// Parses the argument list into steps; flags (`--untracked`) follow their step.
pub fn parse(args: &[OsString]) -> Result<Vec<Step>, StepError> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let (step, used) = parse_one(args, i)?;
        steps.push(step);
        i += 1 + used;
    }
    Ok(steps)
}

/// The step whose verb is `args[i]`, and how many arguments after the verb it used.
fn parse_one(args: &[OsString], i: usize) -> Result<(Step, usize), StepError> {
    let verb = args[i].to_string_lossy().into_owned();
    let take = |n: usize| -> Result<&[OsString], StepError> {
        args.get(i + 1..i + 1 + n)
            .ok_or_else(|| StepError::MissingArgs {
                step: verb.clone(),
                needed: n,
            })
    };
    let path = |a: &OsString| PathBuf::from(a);
    let (step, used) = match verb.as_str() {
        "read" => (Step::Read(path(&take(1)?[0])), 1),
        "write" => {
            let a = take(2)?;
            (Step::Write(path(&a[0]), a[1].clone()), 2)
        }
        "append" => {
            let a = take(2)?;
            (Step::Append(path(&a[0]), a[1].clone()), 2)
        }
        "rm" => (Step::Rm(path(&take(1)?[0])), 1),
        "mkdir" => (Step::Mkdir(path(&take(1)?[0])), 1),
        "ls" => (Step::Ls(path(&take(1)?[0])), 1),
        "exists" => (Step::Exists(path(&take(1)?[0])), 1),
        "print" => (Step::Print(take(1)?[0].clone()), 1),
        "eprint" => (Step::Eprint(take(1)?[0].clone()), 1),
        "send-garbage" => (Step::SendGarbage, 0),
        "hello-as" => (Step::HelloAs(take(1)?[0].clone()), 1),
        "repeat" => {
            let value = take(1)?[0].to_string_lossy().into_owned();
            let times = value.parse().map_err(|_| StepError::NotANumber {
                step: verb.clone(),
                value,
            })?;
            // The one step after the count, with its own arguments.
            if i + 2 >= args.len() {
                return Err(StepError::MissingArgs {
                    step: verb.clone(),
                    needed: 2,
                });
            }
            let (step, used) = parse_one(args, i + 2)?;
            (Step::Repeat(times, Box::new(step)), 2 + used)
        }
        "exit" => {
            let value = take(1)?[0].to_string_lossy().into_owned();
            let code = value.parse().map_err(|_| StepError::NotANumber {
                step: verb.clone(),
                value,
            })?;
            (Step::Exit(code), 1)
        }
        _ => {
            let (op, used) = crate::protocol::parse(&verb, &args[i + 1..])?;
            (Step::Protocol(op), used)
        }
    };
    Ok((step, used))
}

fn io<T>(
    step: &'static str,
    path: &std::path::Path,
    r: std::io::Result<T>,
) -> Result<T, StepError> {
    r.map_err(|source| StepError::Io {
        step,
        path: path.to_owned(),
        source,
    })
}

fn with_newline(text: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(b'\n');
    bytes
}

/// One raw `Hello` claiming `name` and protocol version 999 only; waits for the server's
/// answer and close, so the diagnostic is recorded before the tool exits.
fn hello_as(socket: &std::path::Path, name: &OsStr) -> Result<(), StepError> {
    use runwire_proto::v1;
    let mut stream = io(
        "hello-as",
        socket,
        std::os::unix::net::UnixStream::connect(socket),
    )?;
    let hello = v1::ClientMessage {
        request_id: 1,
        body: Some(v1::client_message::Body::Hello(v1::Hello {
            client_name: name.to_string_lossy().into_owned(),
            client_version: "0".into(),
            supported_versions: vec![999],
        })),
    };
    let max = runwire_proto::DEFAULT_MAX_FRAME_LEN;
    let protocol =
        |e: runwire_proto::frame::FrameError| StepError::Protocol(format!("hello-as: {e}"));
    runwire_proto::frame::write_message(&mut stream, &hello, max, &mut Vec::new())
        .map_err(protocol)?;
    let mut buf = Vec::new();
    while runwire_proto::frame::read_message::<_, v1::ServerMessage>(&mut stream, max, &mut buf)
        .map_err(protocol)?
        .is_some()
    {}
    Ok(())
}

/// Runs one step.
pub fn execute(step: &Step, session: &Session) -> Result<(), StepError> {
    let mut out = std::io::stdout().lock();
    match step {
        Step::Read(p) => {
            let text = io("read", p, std::fs::read(p))?;
            let _ = writeln!(
                out,
                "read {}: {}",
                p.display(),
                String::from_utf8_lossy(&text).trim_end()
            );
        }
        Step::Write(p, text) => {
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                io("write", parent, std::fs::create_dir_all(parent))?;
            }
            io("write", p, std::fs::write(p, with_newline(text)))?;
        }
        Step::Append(p, text) => {
            let mut f = io(
                "append",
                p,
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(p),
            )?;
            io("append", p, f.write_all(&with_newline(text)))?;
        }
        Step::Rm(p) => {
            let r = match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
                Ok(_) => std::fs::remove_file(p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            io("rm", p, r)?;
        }
        Step::Mkdir(p) => io("mkdir", p, std::fs::create_dir_all(p))?,
        Step::Ls(p) => {
            let mut names: Vec<String> = io("ls", p, std::fs::read_dir(p))?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let _ = writeln!(out, "ls {}: {}", p.display(), names.join(" "));
        }
        Step::Exists(p) => {
            let _ = writeln!(out, "exists {}: {}", p.display(), p.exists());
        }
        Step::Print(text) => {
            let _ = out.write_all(&with_newline(text));
        }
        Step::Eprint(text) => {
            let _ = std::io::stderr().write_all(&with_newline(text));
        }
        Step::Exit(code) => {
            let _ = out.flush();
            std::process::exit(*code);
        }
        Step::SendGarbage => {
            let socket = std::env::var_os("RUNWIRE_SOCKET").map(PathBuf::from);
            let Some(socket) = socket else {
                let _ = writeln!(out, "(no runner)");
                return Ok(());
            };
            let mut stream = io(
                "send-garbage",
                &socket,
                std::os::unix::net::UnixStream::connect(&socket),
            )?;
            // A 4-byte little-endian length, then bytes that decode as no message.
            let frame = [4u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
            io("send-garbage", &socket, stream.write_all(&frame))?;
        }
        Step::HelloAs(name) => {
            let socket = std::env::var_os("RUNWIRE_SOCKET").map(PathBuf::from);
            let Some(socket) = socket else {
                let _ = writeln!(out, "(no runner)");
                return Ok(());
            };
            hello_as(&socket, name)?;
        }
        Step::Repeat(times, step) => {
            drop(out);
            for _ in 0..*times {
                execute(step, session)?;
            }
        }
        Step::Protocol(op) => {
            drop(out);
            session.run(op)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_in_order() {
        let steps = parse(&os(&["write", "a.txt", "hi", "read", "a.txt", "exit", "3"])).unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Write("a.txt".into(), "hi".into()),
                Step::Read("a.txt".into()),
                Step::Exit(3)
            ]
        );
    }

    #[test]
    fn errors_name_the_step() {
        assert!(matches!(
            parse(&os(&["write", "a"])),
            Err(StepError::MissingArgs { .. })
        ));
        assert!(matches!(
            parse(&os(&["exit", "x"])),
            Err(StepError::NotANumber { .. })
        ));
        assert!(matches!(parse(&os(&["fly"])), Err(StepError::Unknown(_))));
        assert!(matches!(
            parse(&os(&["repeat", "3"])),
            Err(StepError::MissingArgs { .. })
        ));
    }

    #[test]
    fn repeat_takes_the_next_step_only() {
        let steps = parse(&os(&["repeat", "3", "print", "x", "exit", "1"])).unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Repeat(3, Box::new(Step::Print("x".into()))),
                Step::Exit(1)
            ]
        );
    }
}
