//! Runs one case against a client testee: a reference server (behind the proxy when the case
//! changes what the server sends or takes it away), the testee spawned with the socket in its
//! environment, the operations sent as JSON lines, and both sides checked.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runwire_proto::{ErrorCode, SOCKET_ENV};
use runwire_server::{Declaration, EnvPolicy, EnvSelector, Server, ServerConfig};
use serde_json::{Value, json};

use crate::bytes::{b64_decode, b64_encode, show};
use crate::case::{Case, Declared, Expect, Op, PathKind, Selector, SocketMode, Step};
use crate::proxy::Proxy;

/// A safety net against a hung testee, not a measurement: far above any real answer time.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server drains after the testee exited (connections close at exit).
const DRAIN: Duration = Duration::from_secs(10);

/// Runs `case` with the testee `command`; returns what went wrong (empty: the case passed).
pub fn run_case(case: &Case, command: &[OsString]) -> Vec<String> {
    match Run::new(case, command) {
        Ok(run) => run.finish(),
        Err(message) => vec![format!("harness: {message}")],
    }
}

struct Run<'c> {
    case: &'c Case,
    _work: tempfile::TempDir,
    cwd: PathBuf,
    server: runwire_server::RunningServer,
    proxy: Option<Proxy>,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
    failures: Vec<String>,
}

impl<'c> Run<'c> {
    fn new(case: &'c Case, command: &[OsString]) -> Result<Self, String> {
        let work = tempfile::Builder::new()
            .prefix("runwire-conf-")
            .tempdir()
            .map_err(|e| format!("cannot create a work directory: {e}"))?;
        // The testee's getcwd() gives the real path, so expectations use it too.
        let cwd = work
            .path()
            .canonicalize()
            .map_err(|e| format!("cannot resolve the work directory: {e}"))?;
        for dir in &case.mkdirs {
            let dir = cwd.join(OsStr::from_bytes(&substitute(dir, &cwd)));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }

        let mut policy = EnvPolicy::new();
        for pattern in &case.untracked {
            policy = policy
                .untrack_glob(pattern)
                .map_err(|e| format!("untracked {}: {e}", show(pattern)))?;
        }
        let mut config = ServerConfig::new(case.env.clone());
        config.policy = policy;
        let server = Server::start(config).map_err(|e| format!("cannot start the server: {e}"))?;
        let proxy = if case.needs_proxy() {
            Some(
                Proxy::start(server.socket_path(), case.mutations.clone())
                    .map_err(|e| format!("cannot start the proxy: {e}"))?,
            )
        } else {
            None
        };

        // The testee runs in the case's work directory: arguments naming files relative to
        // the harness's directory (`node conformance/testees/node/testee.mjs`) are made
        // absolute first.
        let command: Vec<OsString> = command.iter().map(absolute_if_exists).collect();
        let (program, args) = command.split_first().ok_or("the testee command is empty")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove(SOCKET_ENV);
        // The runner's variables are the server's, not the tool's: a testee that sees one in
        // its own environment got it from its client.
        for (name, _) in &case.env {
            cmd.env_remove(OsStr::from_bytes(name));
        }
        match case.socket {
            SocketMode::Set => {
                let socket = proxy
                    .as_ref()
                    .map_or_else(|| server.socket_path(), Proxy::path);
                cmd.env(SOCKET_ENV, socket);
            }
            SocketMode::Unset => {}
            SocketMode::Empty => {
                cmd.env(SOCKET_ENV, "");
            }
            SocketMode::Missing => {
                cmd.env(SOCKET_ENV, cwd.join("no-runner-here.sock"));
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the testee {}: {e}", program.to_string_lossy()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no testee stdout")?;
        let mut stderr_pipe = child.stderr.take().ok_or("no testee stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut all);
            all
        });
        Ok(Self {
            case,
            _work: work,
            cwd,
            server,
            proxy,
            child,
            stdin,
            lines,
            stderr,
            failures: Vec::new(),
        })
    }

    fn finish(mut self) -> Vec<String> {
        self.steps();
        // End of input: the testee exits normally.
        drop(self.stdin.take());
        self.wait_for_exit();
        if let Some(proxy) = &mut self.proxy {
            proxy.stop();
        }
        let stderr = self.stderr.join().unwrap_or_default();
        let report = self.server.finish(DRAIN);
        let case = self.case;
        let mut failures = self.failures;

        let mut expected: Vec<Declared> = case
            .declared
            .iter()
            .map(|d| with_cwd(d, &self.cwd))
            .collect();
        expected.sort();
        expected.dedup();
        let mut actual: Vec<Declared> = report.declarations.iter().map(declared).collect();
        actual.sort();
        for missing in expected.iter().filter(|d| !actual.contains(d)) {
            failures.push(format!("server: missing declaration {}", describe(missing)));
        }
        for extra in actual.iter().filter(|d| !expected.contains(d)) {
            failures.push(format!(
                "server: unexpected declaration {}",
                describe(extra)
            ));
        }

        let mut want: Vec<&str> = case.diagnostics.iter().map(String::as_str).collect();
        let mut got: Vec<&str> = report.diagnostics.iter().map(|d| d.code.as_str()).collect();
        want.sort_unstable();
        got.sort_unstable();
        if want != got {
            let detail: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "server: diagnostics {got:?}, expected {want:?} ({})",
                if detail.is_empty() {
                    "none".to_owned()
                } else {
                    detail.join("; ")
                }
            ));
        }

        let text = String::from_utf8_lossy(&stderr);
        // The message starts with `runwire:`; a language may decorate it (Python's warnings
        // put `file:line: RunwireWarning: ` before it), so the prefix may come after that.
        let warnings = text.lines().filter(|l| l.contains("runwire: ")).count();
        if warnings != case.warnings as usize {
            failures.push(format!(
                "testee: {warnings} `runwire:` warning line(s) on stderr, expected {}{}",
                case.warnings,
                excerpt(&text)
            ));
        }
        if case.stderr_empty && !stderr.is_empty() {
            failures.push(format!("testee: stderr must stay empty{}", excerpt(&text)));
        }
        failures
    }

    fn steps(&mut self) {
        for step in &self.case.steps {
            match step {
                Step::Op { op, expect, line } => {
                    let request = op_json(op, &self.cwd);
                    let Some(answer) = self.ask(&request, *line) else {
                        return;
                    };
                    if let Err(problem) = check_answer(op, expect, &answer) {
                        self.failures.push(format!("line {line}: {problem}"));
                    }
                }
                Step::StopServer => {
                    if let Some(proxy) = &mut self.proxy {
                        proxy.stop();
                    }
                }
                Step::Rmdir { path } => {
                    let dir = self
                        .cwd
                        .join(OsStr::from_bytes(&substitute(path, &self.cwd)));
                    if let Err(e) = std::fs::remove_dir(&dir) {
                        self.failures
                            .push(format!("harness: cannot remove {}: {e}", dir.display()));
                        return;
                    }
                }
                Step::Exit => {
                    let _ = self.send(&json!({ "op": "exit" }));
                    return;
                }
                Step::RequestIdsUnique { line } => {
                    let ids = self
                        .proxy
                        .as_ref()
                        .map(Proxy::request_ids)
                        .unwrap_or_default();
                    for (i, ids) in ids.iter().enumerate() {
                        let mut seen = std::collections::BTreeSet::new();
                        if let Some(bad) = ids.iter().find(|id| **id == 0 || !seen.insert(**id)) {
                            self.failures.push(format!(
                                "line {line}: connection {} sent request id {bad} {} (ids sent: {ids:?})",
                                i + 1,
                                if *bad == 0 { "(zero)" } else { "twice" }
                            ));
                        }
                    }
                }
                Step::Connections { count, line } => {
                    let got = self.proxy.as_ref().map_or(0, Proxy::connections);
                    if got != *count {
                        self.failures.push(format!(
                            "line {line}: the testee has opened {got} connection(s), expected {count}"
                        ));
                    }
                }
            }
        }
    }

    fn send(&mut self, request: &Value) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin closed"))?;
        writeln!(stdin, "{request}")?;
        stdin.flush()
    }

    /// Sends one operation and waits for its answer line. A missing answer ends the steps.
    fn ask(&mut self, request: &Value, line: usize) -> Option<Value> {
        if let Err(e) = self.send(request) {
            self.failures.push(format!(
                "line {line}: cannot send the operation to the testee: {e}"
            ));
            return None;
        }
        match self.lines.recv_timeout(ANSWER_TIMEOUT) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(value) => Some(value),
                Err(e) => {
                    self.failures.push(format!(
                        "line {line}: the testee answered a line that is not JSON ({e}): {text}"
                    ));
                    None
                }
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.failures.push(format!(
                    "line {line}: the testee closed its stdout (crashed?) instead of answering"
                ));
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.failures.push(format!(
                    "line {line}: no answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                ));
                None
            }
        }
    }

    fn wait_for_exit(&mut self) {
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        self.failures.push(format!(
                            "testee: exited with {status}; a tool must keep running through runner faults"
                        ));
                    }
                    return;
                }
                Ok(None) if started.elapsed() < ANSWER_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.failures
                        .push("testee: did not exit after its stdin closed; killed".to_owned());
                    return;
                }
            }
        }
    }
}

fn absolute_if_exists(arg: &OsString) -> OsString {
    let path = Path::new(arg);
    if path.is_relative() && path.components().count() > 1 && path.exists() {
        std::path::absolute(path).map_or_else(|_| arg.clone(), PathBuf::into_os_string)
    } else {
        arg.clone()
    }
}

fn excerpt(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let first: Vec<&str> = text.lines().take(3).collect();
    format!(" (stderr: {})", first.join(" | "))
}

/// Replaces `{cwd}` with the testee's starting directory.
fn substitute(bytes: &[u8], cwd: &Path) -> Vec<u8> {
    const MARK: &[u8] = b"{cwd}";
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(MARK) {
            out.extend_from_slice(cwd.as_os_str().as_bytes());
            rest = &rest[MARK.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn with_cwd(declared: &Declared, cwd: &Path) -> Declared {
    match declared {
        Declared::Path { kind, path } => Declared::Path {
            kind: *kind,
            path: substitute(path, cwd),
        },
        Declared::ReportGlob { base, pattern } => Declared::ReportGlob {
            base: substitute(base, cwd),
            pattern: pattern.clone(),
        },
        other => other.clone(),
    }
}

/// The JSON line for an operation (conformance/README.md lists the fields).
pub fn op_json(op: &Op, cwd: &Path) -> Value {
    match op {
        Op::GetEnv { name, tracked } => {
            json!({ "op": "get_env", "name": b64_encode(name), "tracked": tracked })
        }
        Op::GetEnvs { selector, tracked } => {
            let (key, value) = match selector {
                Selector::Glob(g) => ("glob", g),
                Selector::Prefix(p) => ("prefix", p),
            };
            json!({ "op": "get_envs", key: b64_encode(value), "tracked": tracked })
        }
        Op::Path { kind, path } => {
            json!({ "op": kind.name(), "path": b64_encode(&substitute(path, cwd)) })
        }
        Op::ReportGlob { pattern } => {
            json!({ "op": "report_glob", "pattern": b64_encode(pattern) })
        }
        Op::DisableCache { reason } => json!({ "op": "disable_cache", "reason": reason }),
        Op::Salt { key, value } => json!({ "op": "salt", "key": key, "value": b64_encode(value) }),
        Op::Chdir { path } => json!({ "op": "chdir", "path": b64_encode(&substitute(path, cwd)) }),
        Op::OwnEnv { name } => json!({ "op": "own_env", "name": b64_encode(name) }),
        Op::Threads {
            threads,
            repeat,
            op,
        } => {
            json!({ "op": "threads", "threads": threads, "repeat": repeat, "do": op_json(op, cwd) })
        }
        Op::Fork { op } => json!({ "op": "fork", "do": op_json(op, cwd) }),
    }
}

/// What a testee answered, decoded.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Ok,
    Value(Option<Vec<u8>>),
    Vars(Vec<(Vec<u8>, Vec<u8>)>),
    Error(i32),
}

fn decode_answer(answer: &Value) -> Result<Got, String> {
    let bytes = |v: &Value| -> Result<Vec<u8>, String> {
        v.as_str()
            .ok_or_else(|| format!("expected a base64 string, got {v}"))
            .and_then(b64_decode)
    };
    if let Some(reason) = answer.get("unsupported") {
        return Err(format!("the testee cannot perform it: {reason}"));
    }
    if let Some(reason) = answer.get("failed") {
        return Err(format!("the testee failed to perform it: {reason}"));
    }
    if answer.get("ok").is_some() {
        return Ok(Got::Ok);
    }
    if let Some(value) = answer.get("value") {
        return if value.is_null() {
            Ok(Got::Value(None))
        } else {
            bytes(value).map(|b| Got::Value(Some(b)))
        };
    }
    if let Some(vars) = answer.get("vars") {
        let vars = vars.as_array().ok_or("`vars` must be an array")?;
        return vars
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([name, value]) => Ok((bytes(name)?, bytes(value)?)),
                _ => Err(format!("each var must be [name, value], got {pair}")),
            })
            .collect::<Result<_, _>>()
            .map(Got::Vars);
    }
    if let Some(error) = answer.get("error") {
        let code = error.get("code").unwrap_or(error);
        return error_code(code)
            .map(Got::Error)
            .ok_or_else(|| format!("unreadable error code {code}"));
    }
    Err(format!("unreadable answer {answer}"))
}

/// An error code as a testee may write it: `2`, `"EMPTY_NAME"` or `"ERROR_CODE_EMPTY_NAME"`.
fn error_code(code: &Value) -> Option<i32> {
    if let Some(n) = code.as_i64() {
        return i32::try_from(n).ok();
    }
    let name = code.as_str()?.to_ascii_uppercase();
    let full = if name.starts_with("ERROR_CODE_") {
        name
    } else {
        format!("ERROR_CODE_{name}")
    };
    ErrorCode::from_str_name(&full).map(|c| c as i32)
}

fn check_answer(op: &Op, expect: &Expect, answer: &Value) -> Result<(), String> {
    if let Op::Threads {
        threads,
        repeat,
        op,
    } = op
    {
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("threads: expected {{\"results\": [...]}}, got {answer}"))?;
        let want = (*threads as usize) * (*repeat as usize);
        if results.len() != want {
            return Err(format!(
                "threads: {} results, expected {want}",
                results.len()
            ));
        }
        for (i, result) in results.iter().enumerate() {
            check_answer(op, expect, result).map_err(|e| format!("threads: result {i}: {e}"))?;
        }
        return Ok(());
    }
    if let Op::Fork { op } = op {
        let child = answer
            .get("child")
            .ok_or_else(|| format!("fork: expected {{\"child\": ANSWER}}, got {answer}"))?;
        return check_answer(op, expect, child).map_err(|e| format!("fork: {e}"));
    }
    let got = decode_answer(answer).map_err(|e| format!("{}: {e}", op_name(op)))?;
    let want = match expect {
        Expect::Ok => Got::Ok,
        Expect::Value(v) => Got::Value(v.clone()),
        Expect::Vars(v) => Got::Vars(v.clone()),
        Expect::Error(code) => Got::Error(*code as i32),
    };
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{}: expected {}, got {}",
            op_name(op),
            show_got(&want),
            show_got(&got)
        ))
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::GetEnv { .. } => "get_env",
        Op::GetEnvs { .. } => "get_envs",
        Op::Path { kind, .. } => kind.name(),
        Op::ReportGlob { .. } => "report_glob",
        Op::DisableCache { .. } => "disable_cache",
        Op::Salt { .. } => "salt",
        Op::Chdir { .. } => "chdir",
        Op::OwnEnv { .. } => "own_env",
        Op::Threads { .. } => "threads",
        Op::Fork { .. } => "fork",
    }
}

fn show_pairs(pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
    if pairs.len() > 6 {
        return format!(
            "{} pairs, first {} {}, last {} {}",
            pairs.len(),
            show(&pairs[0].0),
            show(&pairs[0].1),
            show(&pairs[pairs.len() - 1].0),
            show(&pairs[pairs.len() - 1].1)
        );
    }
    pairs
        .iter()
        .map(|(n, v)| format!("{} {}", show(n), show(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_got(got: &Got) -> String {
    match got {
        Got::Ok => "ok".to_owned(),
        Got::Value(None) => "unset".to_owned(),
        Got::Value(Some(v)) => format!("value {}", show(v)),
        Got::Vars(pairs) if pairs.is_empty() => "vars (none)".to_owned(),
        Got::Vars(pairs) => format!("vars {}", show_pairs(pairs)),
        Got::Error(code) => format!(
            "error {}",
            ErrorCode::try_from(*code)
                .map_or_else(|_| code.to_string(), |c| c.short_name().to_owned())
        ),
    }
}

fn show_selector(selector: &Selector) -> String {
    match selector {
        Selector::Glob(g) => format!("glob {}", show(g)),
        Selector::Prefix(p) => format!("prefix {}", show(p)),
    }
}

/// A declaration in case-file notation.
pub fn describe(declared: &Declared) -> String {
    match declared {
        Declared::TrackedEnv { name, value } => format!(
            "tracked_env {} {}",
            show(name),
            value.as_deref().map_or_else(|| "unset".to_owned(), show)
        ),
        Declared::TrackedEnvSet { selector, matches } => format!(
            "tracked_env_set {} {}",
            show_selector(selector),
            show_pairs(matches)
        ),
        Declared::Path { kind, path } => format!("{} {}", kind.name(), show(path)),
        Declared::DisableCache { reason } => format!("disable_cache {}", show(reason.as_bytes())),
        Declared::ReportGlob { base, pattern } => {
            format!("report_glob {} {}", show(base), show(pattern))
        }
        Declared::Salt { key, value } => format!("salt {} {}", show(key.as_bytes()), show(value)),
    }
}

fn path_bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

/// The server's declaration in the case model.
fn declared(declaration: &Declaration) -> Declared {
    match declaration {
        Declaration::TrackedEnv { name, value } => Declared::TrackedEnv {
            name: name.clone(),
            value: value.as_ref().map(|v| v.as_bytes().to_vec()),
        },
        Declaration::TrackedEnvSet { selector, matches } => Declared::TrackedEnvSet {
            selector: match selector {
                EnvSelector::Glob(g) => Selector::Glob(g.clone()),
                EnvSelector::Prefix(p) => Selector::Prefix(p.clone()),
            },
            matches: matches
                .iter()
                .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
                .collect(),
        },
        Declaration::IgnoreInput { path } => Declared::Path {
            kind: PathKind::IgnoreInput,
            path: path_bytes(path),
        },
        Declaration::IgnoreOutput { path } => Declared::Path {
            kind: PathKind::IgnoreOutput,
            path: path_bytes(path),
        },
        Declaration::ReportInput { path } => Declared::Path {
            kind: PathKind::ReportInput,
            path: path_bytes(path),
        },
        Declaration::ReportOutput { path } => Declared::Path {
            kind: PathKind::ReportOutput,
            path: path_bytes(path),
        },
        Declaration::DisableCache { reason, .. } => Declared::DisableCache {
            reason: reason.clone(),
        },
        Declaration::ReportGlob { base, pattern } => Declared::ReportGlob {
            base: path_bytes(base),
            pattern: pattern.clone(),
        },
        Declaration::Salt { key, value } => Declared::Salt {
            key: key.clone(),
            value: value.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode_in_every_accepted_spelling() {
        let answers = [
            (json!({"ok": true}), Got::Ok),
            (json!({"value": null}), Got::Value(None)),
            (json!({"value": "QQ=="}), Got::Value(Some(b"A".to_vec()))),
            (
                json!({"vars": [["QQ==", ""]]}),
                Got::Vars(vec![(b"A".to_vec(), vec![])]),
            ),
            (json!({"error": {"code": "EMPTY_NAME"}}), Got::Error(2)),
            (
                json!({"error": {"code": "ERROR_CODE_EMPTY_NAME"}}),
                Got::Error(2),
            ),
            (json!({"error": 2}), Got::Error(2)),
        ];
        for (answer, want) in answers {
            assert_eq!(decode_answer(&answer).unwrap(), want, "{answer}");
        }
        assert!(
            decode_answer(&json!({"unsupported": "no bytes"}))
                .unwrap_err()
                .contains("no bytes")
        );
        assert!(decode_answer(&json!({"what": 1})).is_err());
    }

    #[test]
    fn cwd_placeholder_is_replaced_everywhere() {
        assert_eq!(substitute(b"{cwd}/a/{cwd}", Path::new("/w")), b"/w/a//w");
        assert_eq!(substitute(b"plain", Path::new("/w")), b"plain");
    }
}
