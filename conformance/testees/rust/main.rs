//! The Rust testee of the runwire conformance suite: a tool that uses `runwire-client`'s public
//! API and nothing else. The harness sends one JSON operation per stdin line and reads one JSON
//! result per stdout line (conformance/README.md, "Writing a testee"). Byte strings are base64.

use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use runwire_client::{Client, ClientError, EnvSelector};
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
    let tracked = request["tracked"].as_bool().unwrap_or(false);
    let bytes = |field: &str| decode(request[field].as_str().unwrap_or(""));
    let path = |field: &str| std::path::PathBuf::from(std::ffi::OsString::from_vec(bytes(field)));
    let text = |field: &str| request[field].as_str().unwrap_or("").to_owned();
    match request["op"].as_str().unwrap_or("") {
        "get_env" => answer(client, serde_json::Value::Null, |c| {
            c.get_env(&bytes("name"), tracked)
                .map(|v| v.map_or(Value::Null, |v| encode(&v).into()))
        })
        .map_or_else(|e| e, |v| json!({ "value": v })),
        "get_envs" => {
            let selector = if request.get("glob").is_some() {
                EnvSelector::Glob(bytes("glob"))
            } else {
                EnvSelector::Prefix(bytes("prefix"))
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
        "ignore_input" => ok(client, |c| c.ignore_input(path("path"))),
        "ignore_output" => ok(client, |c| c.ignore_output(path("path"))),
        "report_input" => ok(client, |c| c.report_input(path("path"))),
        "report_output" => ok(client, |c| c.report_output(path("path"))),
        "report_glob" => ok(client, |c| c.report_glob(bytes("pattern"))),
        "disable_cache" => ok(client, |c| c.disable_cache(&text("reason"))),
        "salt" => ok(client, |c| c.salt(&text("key"), &bytes("value"))),
        "chdir" => match std::env::set_current_dir(OsStr::from_bytes(&bytes("path"))) {
            Ok(()) => json!({ "ok": true }),
            Err(error) => json!({ "failed": error.to_string() }),
        },
        "own_env" => {
            let value = std::env::var_os(OsStr::from_bytes(&bytes("name")));
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
    }
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

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn decode(text: &str) -> Vec<u8> {
    let sextets: Vec<u32> = text
        .bytes()
        .filter_map(|c| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32))
        .collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &s)| n | s << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
