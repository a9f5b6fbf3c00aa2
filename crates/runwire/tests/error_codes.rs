//! docs/errors.md, generated from the error enums themselves and checked here.
//!
//! Every runner-side error enum derives a fieldless twin (`strum::EnumDiscriminants`) whose
//! variants carry the code and the variant's doc comment; this test walks those twins, renders
//! the page and fails when the committed page differs (or a code breaks the convention, or two
//! codes are equal). `cargo xtask codegen` rewrites the page by running this test with
//! `RUNWIRE_UPDATE_ERRORS_DOC=1`.
//!
//! The convention: a runner-side code is kebab-case `<area>-<what>` (`cache-index`), the
//! area naming the crate's domain; the message never repeats it (the CLI prints
//! `error[<code>]: <message>`). A variant's doc comment is its entry: the first paragraph
//! says what went wrong, the rest (optional) what to do. The protocol's codes are specified
//! on the wire and keep their own spelling; they are listed from their sources (the
//! `.proto` and the server's `DiagnosticCode`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strum::{EnumMessage, IntoEnumIterator};

/// Set to rewrite docs/errors.md instead of comparing it.
const UPDATE_ENV: &str = "RUNWIRE_UPDATE_ERRORS_DOC";

/// The areas of the CLI's own codes (a wrapped library error answers with its own code,
/// listed under its crate's area).
const CLI_AREAS: &[&str] = &["config", "workspace", "task", "cli"];

/// One code: where it comes from and what its doc comment says.
struct Entry {
    code: &'static str,
    /// `Enum::Variant`.
    source: String,
    meaning: String,
    what_to_do: String,
}

/// One area of the page: the codes of one or more enums sharing a prefix.
struct Area {
    /// The code prefix (`cache`), `None` for the CLI's own codes (several prefixes).
    prefix: Option<&'static str>,
    title: &'static str,
    intro: &'static str,
    entries: Vec<Entry>,
}

/// The entries of one error enum, through its fieldless twin `C`.
fn entries<C>(enum_name: &str) -> Vec<Entry>
where
    C: IntoEnumIterator + EnumMessage + Into<&'static str> + std::fmt::Debug + Copy,
{
    C::iter()
        .map(|c| {
            let source = format!("{enum_name}::{c:?}");
            let doc = c
                .get_documentation()
                .unwrap_or_else(|| panic!("{source} has no doc comment: it is its docs entry"));
            let (meaning, what_to_do) = split_doc(doc);
            Entry {
                code: c.into(),
                source,
                meaning,
                what_to_do,
            }
        })
        .collect()
}

/// A doc comment's first paragraph and the rest, each on one line.
fn split_doc(doc: &str) -> (String, String) {
    let mut paragraphs = doc
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty());
    let first = paragraphs.next().unwrap_or_default();
    (first, paragraphs.collect::<Vec<_>>().join(" "))
}

/// Every runner-side area, in page order. This lists enums, not codes: each enum's codes
/// and texts come from the enum (`runwire-model`'s `ArgError` is the protocol's vocabulary,
/// listed with the wire codes).
fn areas() -> Vec<Area> {
    use runwire_trace::{IncompleteReasonKind, ServiceKind, TraceErrorCode};
    vec![
        Area {
            prefix: None,
            title: "CLI (`runwire`)",
            intro: "Errors that stop the `runwire` command before or around running tasks \
                    (`Error` in crates/runwire/src/error.rs). A failing task is not one of \
                    them: it is an exit status.",
            entries: entries::<runwire::error::ErrorCode>("Error"),
        },
        Area {
            prefix: Some("cache"),
            title: "Cache (`runwire-cache`)",
            intro: "The local cache: its index, blobs, archiving outputs and restoring \
                    them (`CacheError`).",
            entries: entries::<runwire_cache::CacheErrorCode>("CacheError"),
        },
        Area {
            prefix: Some("fingerprint"),
            title: "Fingerprint engine (`runwire-fingerprint`)",
            intro: "Checking paths and globs, reading the files a fingerprint covers, \
                    decoding stored fingerprints (`FingerprintError`).",
            entries: entries::<runwire_fingerprint::FingerprintErrorCode>("FingerprintError"),
        },
        Area {
            prefix: Some("trace"),
            title: "Tracer (`runwire-trace`)",
            intro: "Errors that keep a command from being traced (`TraceError`), the \
                    reasons a trace is incomplete (`IncompleteReason`; the run is not \
                    cached) and the servers and watchers a trace found (`Service`; the run \
                    is not cached).",
            entries: [
                entries::<TraceErrorCode>("TraceError"),
                entries::<IncompleteReasonKind>("IncompleteReason"),
                entries::<ServiceKind>("Service"),
            ]
            .into_iter()
            .flatten()
            .collect(),
        },
        Area {
            prefix: Some("artifact"),
            title: "Runner artifacts (`runwire-artifact`)",
            intro: "Materializing the files the runner hands to tasks, the tracer shim and \
                    the Node addon (`ArtifactError`).",
            entries: entries::<runwire_artifact::ArtifactErrorCode>("ArtifactError"),
        },
        Area {
            prefix: Some("remote"),
            title: "Remote cache (`runwire-remote`)",
            intro: "Talking to a remote cache (`RemoteError`). None of these fails a task: \
                    a download becomes a miss, an upload is skipped, with one warning.",
            entries: entries::<runwire_remote::RemoteErrorCode>("RemoteError"),
        },
        Area {
            prefix: Some("server"),
            title: "Protocol server (`runwire-server`)",
            intro: "Starting the per-run protocol server (`ServerError`). Faults of the \
                    protocol itself are diagnostics, listed under \"Protocol codes\".",
            entries: entries::<runwire_server::ServerErrorCode>("ServerError"),
        },
        Area {
            prefix: Some("conformance"),
            title: "Conformance harness (`runwire-conformance`)",
            intro: "The harness's own input files: case files and expected-failure lists \
                    (`InputError`).",
            entries: entries::<runwire_conformance::case::InputErrorCode>("InputError"),
        },
        Area {
            prefix: Some("oracle"),
            title: "Oracle (`runwire-oracle`)",
            intro: "The differential tester's own failures, not the ones it finds \
                    (`OracleError`).",
            entries: entries::<runwire_oracle::OracleErrorCode>("OracleError"),
        },
    ]
}

/// The names every enum in `areas` is registered under: a new error enum with a `code()`
/// must be added there (checked by `every_error_enum_is_listed`).
const LISTED_ENUMS: &[&str] = &[
    "Error",
    "CacheError",
    "FingerprintError",
    "TraceError",
    "IncompleteReason",
    "Service",
    "ArtifactError",
    "RemoteError",
    "ServerError",
    "InputError",
    "OracleError",
    // The protocol's caller errors, listed with the wire codes.
    "ArgError",
];

/// One value of the protocol's `ErrorCode`, from the `.proto`.
struct WireCode {
    name: String,
    value: u32,
    meaning: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The values of `enum ErrorCode` in the `.proto`, each with the comment above it.
fn wire_codes(proto: &str) -> Vec<WireCode> {
    let mut lines = proto.lines().map(str::trim);
    assert!(
        lines.any(|l| l == "enum ErrorCode {"),
        "the .proto has no `enum ErrorCode`"
    );
    let mut codes = Vec::new();
    let mut comment = Vec::new();
    for line in lines {
        if line == "}" {
            break;
        }
        if let Some(text) = line.strip_prefix("//") {
            comment.push(text.trim().to_owned());
        } else if let Some((name, value)) = line.strip_suffix(';').and_then(|l| l.split_once('=')) {
            codes.push(WireCode {
                name: name.trim().to_owned(),
                value: value
                    .trim()
                    .parse()
                    .expect("an ErrorCode value is a number"),
                meaning: comment.join(" "),
            });
            comment.clear();
        } else {
            comment.clear();
        }
    }
    codes
}

/// A table cell: one line, no unescaped `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A heading's anchor on the rendered page (lowercase, spaces to `-`, punctuation dropped).
fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn render(areas: &[Area], wire: &[WireCode]) -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from the error enums by crates/runwire/tests/error_codes.rs; do not \
         edit. `cargo xtask codegen` rewrites it, and that test fails when it is stale. -->\n\n\
         # Error codes\n\n\
         Every error runwire reports has a stable code. The CLI prints it in brackets:\n\n\
         ```text\n\
         runwire: error[config-syntax]: runwire.json:5:7: unknown key `comand` (at `tasks.build`)\n\
         ```\n\n\
         and warnings quote a library error's code the same way (`[trace-ring]`). A code is \
         kebab-case `<area>-<what>`: the area is the part of runwire that failed, the rest \
         says what went wrong. Match on the code, not on the message: messages are for \
         people and may change, codes do not (a code is added, or retired and never \
         reused). The protocol's own codes are specified on the wire and keep their \
         spelling ([Protocol codes](#protocol-codes)).\n\n",
    );
    for area in areas {
        let _ = writeln!(out, "- [{}](#{})", area.title, anchor(area.title));
    }
    out.push_str("- [Protocol codes](#protocol-codes)\n");
    for area in areas {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n| Code | Meaning | What to do | Variant |\n| --- | --- | --- | --- |\n",
            area.title, area.intro
        );
        for e in &area.entries {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | `{}` |",
                e.code,
                cell(&e.meaning),
                cell(&e.what_to_do),
                e.source
            );
        }
    }
    out.push_str(
        "\n## Protocol codes\n\n\
         These are part of protocol v1 and spelled as the specification spells them; \
         proto/runwire/v1/runwire.proto and spec/ are normative.\n\n\
         ### Wire error codes\n\n\
         `ErrorCode` in an `Error` answer. 1 to 99 are caller errors: a client library \
         reports them to the tool that called it. `runwire-model`'s `ArgError` (the \
         argument rules every layer checks) uses these names without the `ERROR_CODE_` \
         prefix (`EMPTY_NAME`), and `runwire-client` returns the `ErrorCode` itself. 0 and \
         100 on are runner-side faults: the client warns once and turns into a no-op.\n\n\
         | Code | Value | Meaning |\n| --- | --- | --- |\n",
    );
    for w in wire {
        let _ = writeln!(out, "| `{}` | {} | {} |", w.name, w.value, cell(&w.meaning));
    }
    out.push_str(
        "\n### Server diagnostics\n\n\
         A protocol fault the server saw (spec/protocol.md, \"Errors and faults\"). Each \
         makes the run uncacheable and is shown with the connection it happened on.\n\n\
         | Code | Meaning |\n| --- | --- |\n",
    );
    for d in runwire_server::DiagnosticCode::iter() {
        let doc = d.get_documentation().unwrap_or_default();
        let _ = writeln!(out, "| `{}` | {} |", d.as_str(), cell(&split_doc(doc).0));
    }
    out
}

fn wire() -> Vec<WireCode> {
    let proto = std::fs::read_to_string(repo_root().join("proto/runwire/v1/runwire.proto"))
        .expect("read the .proto");
    wire_codes(&proto)
}

#[test]
fn the_committed_page_is_fresh() {
    let page = render(&areas(), &wire());
    let path = repo_root().join("docs/errors.md");
    if std::env::var_os(UPDATE_ENV).is_some() {
        std::fs::write(&path, &page).expect("write docs/errors.md");
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == page,
        "docs/errors.md is stale: run `cargo xtask codegen` and commit the result"
    );
}

#[test]
fn codes_follow_the_convention_and_are_unique() {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for area in areas() {
        assert!(!area.entries.is_empty(), "{} lists no code", area.title);
        for e in &area.entries {
            let kebab = e.code.split('-').count() >= 2
                && e.code.split('-').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            let in_area = match area.prefix {
                Some(p) => e.code.strip_prefix(p).is_some_and(|r| r.starts_with('-')),
                None => e
                    .code
                    .split('-')
                    .next()
                    .is_some_and(|a| CLI_AREAS.contains(&a)),
            };
            if !(kebab && in_area) {
                problems.push(format!(
                    "{} ({}) is not `{}-<what>` in kebab-case",
                    e.code,
                    e.source,
                    area.prefix.unwrap_or("<area>")
                ));
            }
            if e.meaning.is_empty() {
                problems.push(format!("{} has an empty doc comment", e.source));
            }
            if let Some(first) = seen.insert(e.code, e.source.clone()) {
                problems.push(format!(
                    "{} is used by both {first} and {}",
                    e.code, e.source
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Whether an `#[error(...)]` format string starts with a bracketed code such as `[CA001]`
/// (the old cache and fingerprint style): the CLI prints `error[<code>]: <message>`, so the
/// code would show twice.
fn starts_with_code(format: &str) -> bool {
    format
        .strip_prefix("\"[")
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(code, _)| {
            !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[test]
fn messages_do_not_repeat_the_code() {
    assert!(starts_with_code("\"[CA001] cache index error: {0}\")"));
    assert!(!starts_with_code("\"{path}: {source}\")"));
    assert!(!starts_with_code("\"[{}] {}\", a, b)"));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
    {
        rust_files(&entry.path().join("src"), &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_error = false;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            let format = if let Some(rest) = line.strip_prefix("#[error(") {
                in_error = rest.is_empty();
                rest
            } else if in_error {
                in_error = false;
                line
            } else {
                continue;
            };
            if starts_with_code(format) {
                problems.push(format!("{}:{}: {line}", file.display(), i + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "messages that repeat their code: {problems:#?}"
    );
}

#[test]
fn wire_codes_match_the_argument_rules() {
    let wire = wire();
    assert!(wire.iter().any(|w| w.name == "ERROR_CODE_INTERNAL"));
    for code in runwire_model::ArgError::CODES {
        let name = format!("ERROR_CODE_{code}");
        let w = wire
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("ArgError code {code} has no {name} in the .proto"));
        assert!((1..=99).contains(&w.value), "{name} is not a caller error");
        assert!(!w.meaning.is_empty(), "{name} has no comment in the .proto");
    }
}

/// The type names that have `pub fn code(&self) -> &'static str` in `text`: the nearest
/// `impl Name {` above each.
fn types_with_code(text: &str) -> Vec<String> {
    let mut current = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("impl ") {
            current = rest.strip_suffix(" {").map(str::to_owned);
        }
        if line.trim() == "pub fn code(&self) -> &'static str {" {
            out.push(current.clone().unwrap_or_default());
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_error_enum_is_listed() {
    assert_eq!(
        types_with_code(
            "impl Foo {\n    /// x\n    pub fn code(&self) -> &'static str {\n        \"a\"\n    }\n}"
        ),
        ["Foo"]
    );
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
    {
        rust_files(&entry.path().join("src"), &mut files);
    }
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in types_with_code(&text) {
            if !LISTED_ENUMS.contains(&name.as_str()) {
                missing.push(format!("{name} ({})", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "error enums with a code() that docs/errors.md does not list (add them to areas() in \
         {}): {missing:?}",
        file!()
    );
}
