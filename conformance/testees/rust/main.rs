//! The Rust testee of the runwire conformance suite: a tool that uses `runwire-client`'s public
//! API and nothing else to talk to the runner. The harness sends one JSON operation per stdin
//! line and reads one JSON result per stdout line (conformance/README.md, "Writing a testee").
//! Byte strings are canonical base64, read and written with the harness's own codec
//! (`runwire_conformance::bytes`); a request whose bytes are spelled otherwise is `{"failed"}`.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use runwire_client::{Client, ClientError, EnvSelector};
use runwire_conformance::bytes::{b64_decode, b64_encode as encode};
use serde_json::{Value, json};

fn main() {
    // Created once, as a tool would; `None` outside a runner.
    let client = Client::from_env();
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let request: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if request["op"] == "exit" {
            // Leave at once, without closing anything: reports already sent must survive.
            std::process::exit(0);
        }
        let result = perform(client.as_ref(), &request);
        if writeln!(out, "{result}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
}

fn perform(client: Option<&Client>, request: &Value) -> Value {
    perform_decoded(client, request).unwrap_or_else(|bad| json!({ "failed": bad }))
}

/// Performs `request`; `Err` when one of its byte strings is not canonical base64.
fn perform_decoded(client: Option<&Client>, request: &Value) -> Result<Value, String> {
    let tracked = request["tracked"].as_bool().unwrap_or(false);
    let bytes = |field: &str| {
        b64_decode(request[field].as_str().unwrap_or("")).map_err(|e| format!("{field}: {e}"))
    };
    let path = |field: &str| bytes(field).map(|b| PathBuf::from(OsString::from_vec(b)));
    let text = |field: &str| request[field].as_str().unwrap_or("").to_owned();
    Ok(match request["op"].as_str().unwrap_or("") {
        "get_env" => {
            let name = bytes("name")?;
            answer(client, serde_json::Value::Null, |c| {
                c.get_env(&name, tracked)
                    .map(|v| v.map_or(Value::Null, |v| encode(&v).into()))
            })
            .map_or_else(|e| e, |v| json!({ "value": v }))
        }
        "get_envs" => {
            let selector = if request.get("glob").is_some() {
                EnvSelector::Glob(bytes("glob")?)
            } else {
                EnvSelector::Prefix(bytes("prefix")?)
            };
            answer(client, json!([]), |c| {
                c.get_envs(selector, tracked).map(|vars| {
                    vars.iter()
                        .map(|(n, v)| json!([encode(n), encode(v)]))
                        .collect()
                })
            })
            .map_or_else(|e| e, |vars| json!({ "vars": vars }))
        }
        "ignore_input" => path("path").map(|p| ok(client, |c| c.ignore_input(p)))?,
        "ignore_output" => path("path").map(|p| ok(client, |c| c.ignore_output(p)))?,
        "report_input" => path("path").map(|p| ok(client, |c| c.report_input(p)))?,
        "report_output" => path("path").map(|p| ok(client, |c| c.report_output(p)))?,
        "report_glob" => bytes("pattern").map(|p| ok(client, |c| c.report_glob(p)))?,
        "disable_cache" => ok(client, |c| c.disable_cache(&text("reason"))),
        "salt" => bytes("value").map(|v| ok(client, |c| c.salt(&text("key"), &v)))?,
        "chdir" => match std::env::set_current_dir(OsStr::from_bytes(&bytes("path")?)) {
            Ok(()) => json!({ "ok": true }),
            Err(error) => json!({ "failed": error.to_string() }),
        },
        "own_env" => {
            let value = std::env::var_os(OsStr::from_bytes(&bytes("name")?));
            json!({ "value": value.map(|v| encode(v.as_bytes())) })
        }
        "threads" => {
            let threads = request["threads"].as_u64().unwrap_or(1);
            let repeat = request["repeat"].as_u64().unwrap_or(1);
            let results: Vec<Value> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        scope.spawn(|| {
                            (0..repeat)
                                .map(|_| perform(client, &request["do"]))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            json!({ "results": results })
        }
        "fork" => fork(client, &request["do"]),
        other => json!({ "unsupported": format!("unknown op {other:?}") }),
    })
}

/// Runs `request` in a forked child, which inherits the client and its open connection; the
/// child's answer comes back through a pipe.
fn fork(client: Option<&Client>, request: &Value) -> Value {
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return json!({ "failed": "pipe() failed" });
    }
    // SAFETY: only this thread runs here (the threads op joins its threads before
    // answering), so the child can go on running ordinary code.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: the child owns its copy of the write end and closes the read end.
        let mut pipe = unsafe {
            libc::close(fds[0]);
            File::from_raw_fd(fds[1])
        };
        let _ = pipe.write_all(perform(client, request).to_string().as_bytes());
        drop(pipe);
        // SAFETY: leaves the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) }
    }
    // SAFETY: the parent owns the read end and closes its copy of the write end.
    let mut pipe = unsafe {
        libc::close(fds[1]);
        File::from_raw_fd(fds[0])
    };
    if pid < 0 {
        return json!({ "failed": "fork() failed" });
    }
    let mut text = String::new();
    let _ = pipe.read_to_string(&mut text);
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    json!({ "child": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null) })
}

/// Runs a query; without a runner it is the neutral value, a caller error is `{"error"}`.
fn answer(
    client: Option<&Client>,
    neutral: Value,
    call: impl FnOnce(&Client) -> Result<Value, ClientError>,
) -> Result<Value, Value> {
    match client {
        None => Ok(neutral),
        Some(client) => call(client).map_err(|e| error(&e)),
    }
}

fn ok(client: Option<&Client>, call: impl FnOnce(&Client) -> Result<(), ClientError>) -> Value {
    match client.map_or(Ok(()), call) {
        Ok(()) => json!({ "ok": true }),
        Err(e) => error(&e),
    }
}

fn error(e: &ClientError) -> Value {
    json!({ "error": { "code": e.code().short_name() } })
}
