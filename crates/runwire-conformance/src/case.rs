//! The case file format (conformance/README.md, "Case files"): one case per `.case` file, one
//! directive per line, byte strings quoted with `\xNN` escapes, `#` starts a comment.

use std::path::{Path, PathBuf};

use runwire_proto::ErrorCode;

use crate::bytes::{self, Pairs};

/// Which kind of input file an [`InputError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A `.case` file.
    Case,
    /// An expected-failure list.
    FailureList,
}

/// Why an input file (a case file or an expected-failure list) could not be used; names
/// the file and line. Each variant has a stable code (`conformance-*`, listed in
/// docs/errors.md).
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(InputErrorCode),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumMessage),
    doc = "The codes of [`InputError`], one per variant, with its documentation."
)]
pub enum InputError {
    /// A case file or an expected-failure list could not be read.
    #[strum_discriminants(strum(serialize = "conformance-read"))]
    #[error("{file}: cannot read: {source}")]
    Read {
        kind: InputKind,
        file: PathBuf,
        source: std::io::Error,
    },
    /// A line of a case file or an expected-failure list breaks its syntax
    /// (conformance/README.md).
    #[strum_discriminants(strum(serialize = "conformance-syntax"))]
    #[error("{file}:{line}: {message}")]
    Syntax {
        kind: InputKind,
        file: PathBuf,
        line: usize,
        message: String,
    },
}

impl InputError {
    /// The stable code, such as `conformance-syntax`; [`Self::kind`] says which kind of file.
    pub fn code(&self) -> &'static str {
        InputErrorCode::from(self).into()
    }

    /// Which kind of file the error is about.
    pub fn kind(&self) -> InputKind {
        match self {
            Self::Read { kind, .. } | Self::Syntax { kind, .. } => *kind,
        }
    }
}

/// `Required.` (a MUST of spec/) or `Recommended.` (a SHOULD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Required,
    Recommended,
}

/// What `RUNWIRE_SOCKET` holds for the testee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketMode {
    /// The (proxied) server's socket.
    Set,
    /// Not in the environment at all.
    Unset,
    /// Set to the empty string.
    Empty,
    /// Set to a path where nothing listens.
    Missing,
}

/// A change the harness's proxy makes to what the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Applied to the first frame of a connection (the handshake answer).
    Hello(Change),
    /// Applied to every later frame (answers to queries).
    Answer(Change),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddCapability(String),
    RemoveCapability(String),
    Version(u32),
    MaxFrame(u32),
    RequestIdOffset(u64),
    /// Replace the frame with `Error{code}` (the raw value, so unknown codes can be sent).
    Error(i32),
    /// Replace the frame with bytes that are not a `ServerMessage`.
    Garbage,
    /// Close the connection instead of sending the frame.
    Close,
    /// Send a length prefix of 4 GiB - 1 and close.
    HugeLength,
    /// Send the frame with a length 10 bytes longer than its payload, and close.
    Truncate,
    /// Send the message without its body.
    NoBody,
    /// Send another body than the query's (`get_envs` for `get_env`, else `get_env`).
    WrongBody,
    /// Append an unknown field to the message (a receiver must skip it).
    UnknownField,
    /// Append these raw bytes to the encoded message (a second oneof member, a field with
    /// the wrong wire type, a string that is not UTF-8: spec/framing.md, "Decoding").
    Append(Vec<u8>),
    /// Hold the frame this many milliseconds before sending it (a slow runner).
    Delay(u64),
}

/// How a query or report selects env vars.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Selector {
    Glob(Vec<u8>),
    Prefix(Vec<u8>),
}

/// One operation the testee performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    GetEnv {
        name: Vec<u8>,
        tracked: bool,
    },
    GetEnvs {
        selector: Selector,
        tracked: bool,
    },
    /// `ignore_input`, `ignore_output`, `report_input`, `report_output`.
    Path {
        kind: PathKind,
        path: Vec<u8>,
    },
    ReportGlob {
        pattern: Vec<u8>,
    },
    DisableCache {
        reason: String,
    },
    Salt {
        key: String,
        value: Vec<u8>,
    },
    /// Change the testee's current directory (not a runwire call).
    Chdir {
        path: Vec<u8>,
    },
    /// Read the testee's own process environment (not a runwire call).
    OwnEnv {
        name: Vec<u8>,
    },
    /// Run `op` `repeat` times on each of `threads` threads sharing one client.
    Threads {
        threads: u32,
        repeat: u32,
        op: Box<Op>,
    },
    /// Run `op` in a child process: forked where the language can fork (the child inherits
    /// the client and its connection), else a new process of the testee.
    Fork {
        op: Box<Op>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathKind {
    IgnoreInput,
    IgnoreOutput,
    ReportInput,
    ReportOutput,
}

impl PathKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::IgnoreInput => "ignore_input",
            Self::IgnoreOutput => "ignore_output",
            Self::ReportInput => "report_input",
            Self::ReportOutput => "report_output",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "ignore_input" => Self::IgnoreInput,
            "ignore_output" => Self::IgnoreOutput,
            "report_input" => Self::ReportInput,
            "report_output" => Self::ReportOutput,
            _ => return None,
        })
    }
}

/// What the testee must answer to one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A report or a non-runwire op succeeded.
    Ok,
    /// `GetEnv` (or `own_env`): `None` is unset.
    Value(Option<Vec<u8>>),
    /// `GetEnvs`: these pairs, in this order.
    Vars(Vec<(Vec<u8>, Vec<u8>)>),
    /// A caller error with this code.
    Error(ErrorCode),
}

/// A step of a case, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Op {
        op: Op,
        expect: Expect,
        line: usize,
    },
    /// The harness stops the server between two operations (the proxy closes every
    /// connection and the socket).
    StopServer,
    /// The testee exits at once, without closing anything.
    Exit,
    /// How many connections the testee has opened so far (proxied cases only).
    /// Every request id the client sent so far is non-zero and unique on its connection
    /// (proxied cases only).
    RequestIdsUnique {
        line: usize,
    },
    Connections {
        count: u32,
        line: usize,
    },
    /// The harness removes this directory (relative to the testee's starting directory)
    /// between two operations, e.g. the testee's current directory.
    Rmdir {
        path: Vec<u8>,
    },
}

/// One declaration the server must have recorded. Env values are compared as bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Declared {
    TrackedEnv {
        name: Vec<u8>,
        value: Option<Vec<u8>>,
    },
    TrackedEnvSet {
        selector: Selector,
        matches: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Path {
        kind: PathKind,
        path: Vec<u8>,
    },
    DisableCache {
        reason: String,
    },
    ReportGlob {
        base: Vec<u8>,
        pattern: Vec<u8>,
    },
    Salt {
        key: String,
        value: Vec<u8>,
    },
}

/// A parsed case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub tier: Tier,
    pub file: PathBuf,
    pub doc: String,
    pub spec: String,
    /// The runner's environment the server answers from.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    /// Names or globs the user marked untracked.
    pub untracked: Vec<Vec<u8>>,
    pub socket: SocketMode,
    pub mutations: Vec<Mutation>,
    /// Directories created under the testee's starting directory before it starts.
    pub mkdirs: Vec<Vec<u8>>,
    pub steps: Vec<Step>,
    pub declared: Vec<Declared>,
    /// Diagnostic codes the server must have recorded (as a multiset).
    pub diagnostics: Vec<String>,
    /// `runwire:` lines the testee must have written to stderr.
    pub warnings: u32,
    /// The testee must write nothing at all to stderr.
    pub stderr_empty: bool,
}

impl Case {
    /// Whether the harness must put its proxy between the testee and the server.
    pub fn needs_proxy(&self) -> bool {
        !self.mutations.is_empty()
            || self.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::StopServer | Step::Connections { .. } | Step::RequestIdsUnique { .. }
                )
            })
    }
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/cases.rs"));
}

/// The cases this harness was built with (conformance/cases/ at build time), sorted by name.
pub fn load_embedded() -> Result<Vec<Case>, InputError> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, text)| parse(&Path::new("conformance/cases").join(file), text))
        .collect()
}

/// Every `.case` file under `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, InputError> {
    let read_error = |source| InputError::Read {
        kind: InputKind::Case,
        file: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    files.sort();
    files.iter().map(|f| load(f)).collect()
}

pub fn load(file: &Path) -> Result<Case, InputError> {
    let text = std::fs::read_to_string(file).map_err(|source| InputError::Read {
        kind: InputKind::Case,
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// One token of a line: a bare word or a quoted byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Bytes(Vec<u8>),
}

fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with('#') {
            break;
        }
        if let Some(inner) = rest.strip_prefix('"') {
            // Find the closing quote, skipping escaped characters.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in inner.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("a quoted string is not closed")?;
            tokens.push(Token::Bytes(bytes::unescape(&inner[..end])?));
            rest = inner[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_owned()));
            rest = rest[end..].trim_start();
        }
    }
    Ok(tokens)
}

/// Reads tokens of one line front to back, with errors that say what was expected.
struct Cursor {
    tokens: std::vec::IntoIter<Token>,
}

impl Cursor {
    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.tokens.next() {
            Some(Token::Word(w)) => Ok(w),
            Some(Token::Bytes(b)) => Err(format!(
                "expected {what} (a bare word), found the string {}",
                bytes::show(&b)
            )),
            None => Err(format!("expected {what}, found the end of the line")),
        }
    }

    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, String> {
        match self.tokens.next() {
            Some(Token::Bytes(b)) => Ok(b),
            Some(Token::Word(w)) => Err(format!("expected {what} (a quoted string), found `{w}`")),
            None => Err(format!("expected {what}, found the end of the line")),
        }
    }

    fn text(&mut self, what: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(what)?).map_err(|_| format!("{what} must be UTF-8"))
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, String> {
        let word = self.word(what)?;
        word.parse()
            .map_err(|_| format!("expected {what} (a number), found `{word}`"))
    }

    fn tracked(&mut self) -> Result<bool, String> {
        match self.word("tracked or untracked")?.as_str() {
            "tracked" => Ok(true),
            "untracked" => Ok(false),
            other => Err(format!("expected tracked or untracked, found `{other}`")),
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match self.tokens.as_slice().first() {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.tokens.as_slice().is_empty()
    }

    fn end(&self) -> Result<(), String> {
        match self.tokens.as_slice().first() {
            None => Ok(()),
            Some(Token::Word(w)) => Err(format!("unexpected `{w}` at the end of the line")),
            Some(Token::Bytes(b)) => Err(format!(
                "unexpected {} at the end of the line",
                bytes::show(b)
            )),
        }
    }

    /// `"NAME" "VALUE" ...` pairs and `many "PREFIX" COUNT` groups, to the end of the line.
    fn pairs(&mut self) -> Result<Pairs, String> {
        let mut pairs = Vec::new();
        while !self.is_empty() {
            if self.peek_word() == Some("many") {
                self.word("many")?;
                let prefix = self.bytes("the prefix of the generated names")?;
                let count = self.number("the number of generated variables")?;
                pairs.extend(many(&prefix, count));
            } else {
                let name = self.bytes("a variable name")?;
                let value = self.bytes("the variable's value")?;
                pairs.push((name, value));
            }
        }
        Ok(pairs)
    }

    fn selector(&mut self) -> Result<Selector, String> {
        match self.word("glob or prefix")?.as_str() {
            "glob" => Ok(Selector::Glob(self.bytes("the glob")?)),
            "prefix" => Ok(Selector::Prefix(self.bytes("the prefix")?)),
            other => Err(format!("expected glob or prefix, found `{other}`")),
        }
    }
}

/// The `many PREFIX COUNT` variables: `PREFIX00000` = `v0`, ... (names zero-padded to five
/// digits, so byte order is numeric order).
pub fn many(prefix: &[u8], count: u32) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    (0..count).map(move |i| {
        let mut name = prefix.to_vec();
        name.extend_from_slice(format!("{i:05}").as_bytes());
        (name, format!("v{i}").into_bytes())
    })
}

fn error_code(word: &str) -> Result<ErrorCode, String> {
    ErrorCode::from_str_name(&format!("ERROR_CODE_{word}"))
        .ok_or_else(|| format!("unknown error code `{word}` (use a name like EMPTY_NAME)"))
}

/// A raw code for the proxy: a name, or a number (so codes no enum knows can be sent).
fn raw_code(word: &str) -> Result<i32, String> {
    word.parse().or_else(|_| error_code(word).map(|c| c as i32))
}

fn op(c: &mut Cursor) -> Result<Op, String> {
    let kind = c.word("an operation")?;
    Ok(match kind.as_str() {
        "get_env" => Op::GetEnv {
            name: c.bytes("the variable name")?,
            tracked: c.tracked()?,
        },
        "get_envs" => Op::GetEnvs {
            selector: c.selector()?,
            tracked: c.tracked()?,
        },
        "report_glob" => Op::ReportGlob {
            pattern: c.bytes("the pattern")?,
        },
        "disable_cache" => Op::DisableCache {
            reason: c.text("the reason")?,
        },
        "salt" => Op::Salt {
            key: c.text("the key")?,
            value: c.bytes("the value")?,
        },
        "chdir" => Op::Chdir {
            path: c.bytes("the directory")?,
        },
        "own_env" => Op::OwnEnv {
            name: c.bytes("the variable name")?,
        },
        "threads" => {
            let threads = c.number("the number of threads")?;
            if c.word("`x`")? != "x" {
                return Err("write `threads N x M OP`".to_owned());
            }
            let repeat = c.number("the repeat count")?;
            let inner = op(c)?;
            if matches!(
                inner,
                Op::Threads { .. } | Op::Fork { .. } | Op::Chdir { .. }
            ) {
                return Err("threads cannot run threads, fork or chdir".to_owned());
            }
            Op::Threads {
                threads,
                repeat,
                op: Box::new(inner),
            }
        }
        "fork" => {
            let inner = op(c)?;
            if matches!(
                inner,
                Op::Threads { .. } | Op::Fork { .. } | Op::Chdir { .. }
            ) {
                return Err("fork runs one runwire call".to_owned());
            }
            Op::Fork {
                op: Box::new(inner),
            }
        }
        other => match PathKind::parse(other) {
            Some(kind) => Op::Path {
                kind,
                path: c.bytes("the path")?,
            },
            None => return Err(format!("unknown operation `{other}`")),
        },
    })
}

fn expect(c: &mut Cursor) -> Result<Expect, String> {
    let kind = c.word("an expected result (ok, value, unset, vars, error)")?;
    Ok(match kind.as_str() {
        "ok" => Expect::Ok,
        "unset" => Expect::Value(None),
        "value" => Expect::Value(Some(c.bytes("the value")?)),
        "vars" => Expect::Vars(c.pairs()?),
        "error" => Expect::Error(error_code(&c.word("the error code")?)?),
        other => return Err(format!("unknown expected result `{other}`")),
    })
}

fn change(c: &mut Cursor) -> Result<Change, String> {
    let kind = c.word("a change")?;
    Ok(match kind.as_str() {
        "add-capability" => Change::AddCapability(c.text("the capability")?),
        "remove-capability" => Change::RemoveCapability(c.text("the capability")?),
        "version" => Change::Version(c.number("the version")?),
        "max-frame" => Change::MaxFrame(c.number("the frame limit")?),
        "request-id-offset" => Change::RequestIdOffset(c.number("the offset")?),
        "error" => Change::Error(raw_code(&c.word("the error code")?)?),
        "garbage" => Change::Garbage,
        "close" => Change::Close,
        "huge-length" => Change::HugeLength,
        "truncate" => Change::Truncate,
        "no-body" => Change::NoBody,
        "wrong-body" => Change::WrongBody,
        "unknown-field" => Change::UnknownField,
        "append" => Change::Append(c.bytes("the bytes to append")?),
        "delay" => Change::Delay(c.number("the delay in milliseconds")?),
        other => return Err(format!("unknown proxy change `{other}`")),
    })
}

fn declared(c: &mut Cursor) -> Result<Declared, String> {
    let kind = c.word("a declaration kind")?;
    Ok(match kind.as_str() {
        "tracked_env" => {
            let name = c.bytes("the variable name")?;
            let value = if c.peek_word() == Some("unset") {
                c.word("unset")?;
                None
            } else {
                Some(c.bytes("the value (or unset)")?)
            };
            Declared::TrackedEnv { name, value }
        }
        "tracked_env_set" => Declared::TrackedEnvSet {
            selector: c.selector()?,
            matches: c.pairs()?,
        },
        "disable_cache" => Declared::DisableCache {
            reason: c.text("the reason")?,
        },
        "report_glob" => Declared::ReportGlob {
            base: c.bytes("the base directory")?,
            pattern: c.bytes("the pattern")?,
        },
        "salt" => Declared::Salt {
            key: c.text("the key")?,
            value: c.bytes("the value")?,
        },
        other => match PathKind::parse(other) {
            Some(kind) => Declared::Path {
                kind,
                path: c.bytes("the path")?,
            },
            None => return Err(format!("unknown declaration kind `{other}`")),
        },
    })
}

/// Parses one case file's text; `file` names it in errors and must be `<case name>.case`.
pub fn parse(file: &Path, text: &str) -> Result<Case, InputError> {
    let mut case = Case {
        name: String::new(),
        tier: Tier::Required,
        file: file.to_path_buf(),
        doc: String::new(),
        spec: String::new(),
        env: Vec::new(),
        untracked: Vec::new(),
        socket: SocketMode::Set,
        mutations: Vec::new(),
        mkdirs: Vec::new(),
        steps: Vec::new(),
        declared: Vec::new(),
        diagnostics: Vec::new(),
        warnings: 0,
        stderr_empty: false,
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let syntax = |message: String| InputError::Syntax {
            kind: InputKind::Case,
            file: file.to_path_buf(),
            line,
            message,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // `doc` and `spec` take the rest of the line as prose.
        let (directive, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        match directive {
            "doc" | "spec" => {
                let target = if directive == "doc" {
                    &mut case.doc
                } else {
                    &mut case.spec
                };
                if !target.is_empty() {
                    target.push(' ');
                }
                target.push_str(rest.trim());
                continue;
            }
            _ => {}
        }
        if case.name.is_empty() && directive != "case" {
            return Err(syntax("the first directive must be `case NAME`".to_owned()));
        }
        let tokens = tokenize(rest).map_err(&syntax)?;
        let mut c = Cursor {
            tokens: tokens.into_iter(),
        };
        directive_line(&mut case, directive, &mut c, line)
            .and_then(|()| c.end())
            .map_err(syntax)?;
    }
    let syntax = |message: String| InputError::Syntax {
        kind: InputKind::Case,
        file: file.to_path_buf(),
        line: 1,
        message,
    };
    if case.name.is_empty() {
        return Err(syntax("no `case NAME` directive".to_owned()));
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != case.name {
        return Err(syntax(format!(
            "the case is named {} but its file is {stem}.case; they must match",
            case.name
        )));
    }
    if case.doc.is_empty() || case.spec.is_empty() {
        return Err(syntax(
            "every case needs `doc` (what it checks) and `spec` (where spec/ says so)".to_owned(),
        ));
    }
    if let Some(at) = case.steps.iter().position(|s| matches!(s, Step::Exit))
        && at + 1 != case.steps.len()
    {
        return Err(syntax(
            "`exit` ends the testee: no step may follow it".to_owned(),
        ));
    }
    if case.socket != SocketMode::Set && case.needs_proxy() {
        return Err(syntax(
            "proxy changes, stop-server and connections need `socket set`".to_owned(),
        ));
    }
    Ok(case)
}

fn directive_line(
    case: &mut Case,
    directive: &str,
    c: &mut Cursor,
    line: usize,
) -> Result<(), String> {
    match directive {
        "case" => {
            if !case.name.is_empty() {
                return Err("a file holds one case".to_owned());
            }
            let name = c.word("the case name")?;
            case.tier = if name.starts_with("Required.") {
                Tier::Required
            } else if name.starts_with("Recommended.") {
                Tier::Recommended
            } else {
                return Err(format!(
                    "case name {name} must start with Required. (a MUST) or Recommended. (a SHOULD)"
                ));
            };
            case.name = name;
        }
        "env" => {
            let name = c.bytes("the variable name")?;
            let value = c.bytes("the value")?;
            case.env.push((name, value));
        }
        "env-many" => {
            let prefix = c.bytes("the name prefix")?;
            let count = c.number("the count")?;
            // Reversed, so the server's own sorting is what puts them in order.
            let mut generated: Vec<_> = many(&prefix, count).collect();
            generated.reverse();
            case.env.extend(generated);
        }
        "untracked" => case.untracked.push(c.bytes("the name or glob")?),
        "socket" => {
            case.socket = match c.word("set, unset, empty or missing")?.as_str() {
                "set" => SocketMode::Set,
                "unset" => SocketMode::Unset,
                "empty" => SocketMode::Empty,
                "missing" => SocketMode::Missing,
                other => return Err(format!("unknown socket mode `{other}`")),
            };
        }
        "mkdir" => case.mkdirs.push(c.bytes("the directory")?),
        "proxy" => {
            let mutation = match c.word("hello or answer")?.as_str() {
                "hello" => Mutation::Hello(change(c)?),
                "answer" => Mutation::Answer(change(c)?),
                other => return Err(format!("expected hello or answer, found `{other}`")),
            };
            case.mutations.push(mutation);
        }
        "op" => {
            let op = op(c)?;
            if c.word("`=>`")? != "=>" {
                return Err("write `op OPERATION => EXPECTED`".to_owned());
            }
            let expect = expect(c)?;
            case.steps.push(Step::Op { op, expect, line });
        }
        "stop-server" => case.steps.push(Step::StopServer),
        "rmdir" => case.steps.push(Step::Rmdir {
            path: c.bytes("the directory")?,
        }),
        "exit" => case.steps.push(Step::Exit),
        "request-ids" => {
            if c.word("`unique-nonzero`")? != "unique-nonzero" {
                return Err("write `request-ids unique-nonzero`".to_owned());
            }
            case.steps.push(Step::RequestIdsUnique { line });
        }
        "connections" => case.steps.push(Step::Connections {
            count: c.number("the number of connections")?,
            line,
        }),
        "declared" => case.declared.push(declared(c)?),
        "diagnostic" => case.diagnostics.push(c.word("the diagnostic code")?),
        "warnings" => case.warnings = c.number("the number of warnings")?,
        "stderr" => {
            if c.word("empty")? != "empty" {
                return Err("write `stderr empty`".to_owned());
            }
            case.stderr_empty = true;
        }
        other => return Err(format!("unknown directive `{other}`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(name: &str, text: &str) -> Result<Case, InputError> {
        parse(Path::new(&format!("cases/{name}.case")), text)
    }

    #[test]
    fn a_full_case_parses() {
        let case = parse_text(
            "Required.X.Y",
            r#"
case Required.X.Y
doc  Checks things.
spec protocol.md "Environment queries"
env "A" "1"   # a comment
env "B\xff" ""
untracked "SECRET_*"
op get_env "A" tracked => value "1"
op get_envs prefix "B" untracked => vars "B\xff" ""
op threads 2 x 3 get_env "Z" untracked => unset
op ignore_input "" => error EMPTY_PATH
exit
declared tracked_env "A" "1"
declared ignore_input "{cwd}/x"
diagnostic invalid_report
warnings 1
"#,
        )
        .unwrap();
        assert_eq!(case.tier, Tier::Required);
        assert_eq!(case.env[1], (b"B\xff".to_vec(), Vec::new()));
        assert_eq!(case.steps.len(), 5);
        assert_eq!(
            case.steps[1],
            Step::Op {
                op: Op::GetEnvs {
                    selector: Selector::Prefix(b"B".to_vec()),
                    tracked: false
                },
                expect: Expect::Vars(vec![(b"B\xff".to_vec(), Vec::new())]),
                line: 9
            }
        );
        assert_eq!(case.warnings, 1);
        assert!(!case.needs_proxy());
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let cases = [
            (
                "Required.A",
                "case Required.A\nop get_env \"A\" => unset\n",
                "2: expected tracked or untracked, found `=>`",
            ),
            (
                "Required.A",
                "case Required.B\n",
                "named Required.B but its file is Required.A.case",
            ),
            ("Other.A", "case Other.A\n", "must start with Required."),
            (
                "Required.A",
                "case Required.A\ndoc x\nspec y\nop get_env \"A\" tracked => value A\n",
                "4: expected the value (a quoted string), found `A`",
            ),
            (
                "Required.A",
                "case Required.A\nfrobnicate\n",
                "2: unknown directive `frobnicate`",
            ),
            (
                "Required.A",
                "case Required.A\ndoc x\nspec y\nop get_env \"A\\q\" tracked => unset\n",
                "unknown escape \\q",
            ),
            (
                "Required.A",
                "case Required.A\ndoc x\nspec y\nop get_env \"A\" tracked => error NOPE\n",
                "unknown error code `NOPE`",
            ),
            ("Required.A", "case Required.A\n", "every case needs `doc`"),
            (
                "Required.A",
                "case Required.A\ndoc x\nspec y\nexit\nop own_env \"A\" => unset\n",
                "no step may follow it",
            ),
        ];
        for (name, text, expected) in cases {
            let error = parse_text(name, text).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error} should contain {expected}"
            );
        }
    }

    #[test]
    fn many_generates_sorted_zero_padded_names() {
        let generated: Vec<_> = many(b"B_", 3).collect();
        assert_eq!(generated[2], (b"B_00002".to_vec(), b"v2".to_vec()));
    }
}
