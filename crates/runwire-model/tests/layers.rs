//! The layering of ARCHITECTURE.md, checked: wire types stop at the server's converter.
//! The crates above the server (the engine, the cache, the CLI) and this vocabulary crate
//! neither depend on `runwire-proto` nor name it, and inside `runwire-server` only
//! `src/convert.rs` names the generated `v1` types.

use std::path::{Path, PathBuf};

/// Crates that must not see the protocol's wire types at all.
const ABOVE_THE_SERVER: &[&str] = &[
    "runwire-model",
    "runwire-fingerprint",
    "runwire-cache",
    "runwire",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, recursively (generated and build directories left out).
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Lines of `text` (numbered from 1) that name the protocol crate or its generated types,
/// comments included: a doc link is a dependency too.
fn wire_mentions(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains("runwire_proto") || line.contains("v1::"))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Whether a manifest lists `runwire-proto` as a dependency of any kind.
fn depends_on_proto(manifest: &str) -> bool {
    manifest.lines().map(str::trim_start).any(|line| {
        line.starts_with("runwire-proto") || line.contains("package = \"runwire-proto\"")
    })
}

#[test]
fn the_checks_can_fail() {
    assert_eq!(
        wire_mentions(
            "use std::fmt;\nuse runwire_proto::v1;\nlet m = v1::ServerMessage::default();"
        ),
        [2, 3]
    );
    assert!(depends_on_proto(
        "[dependencies]\nrunwire-proto = { workspace = true }\n"
    ));
    assert!(depends_on_proto(
        "[dev-dependencies]\nproto = { package = \"runwire-proto\" }\n"
    ));
    assert!(!depends_on_proto(
        "[dependencies]\nrunwire-model = { workspace = true }\n"
    ));
}

#[test]
fn crates_above_the_server_never_see_wire_types() {
    let root = repo_root();
    let mut problems = Vec::new();
    for name in ABOVE_THE_SERVER {
        let dir = root.join("crates").join(name);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        if depends_on_proto(&manifest) {
            problems.push(format!("crates/{name}/Cargo.toml depends on runwire-proto"));
        }
        let files = rust_files(&dir);
        assert!(!files.is_empty(), "crates/{name} has no sources");
        // This file names what it looks for.
        for file in files.into_iter().filter(|f| !f.ends_with(file!())) {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in wire_mentions(&text) {
                problems.push(format!("{}:{line} names the wire types", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn inside_the_server_only_the_converter_sees_wire_messages() {
    let src = repo_root().join("crates/runwire-server/src");
    let mut problems = Vec::new();
    let mut converter_seen = false;
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mentions: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| line.contains("v1::") || line.contains("runwire_proto::v1"))
            .map(|(i, _)| i + 1)
            .collect();
        if file.ends_with("convert.rs") {
            converter_seen = !mentions.is_empty();
        } else {
            problems.extend(
                mentions
                    .into_iter()
                    .map(|line| format!("{}:{line} names v1", file.display())),
            );
        }
    }
    assert!(
        converter_seen,
        "src/convert.rs is where wire messages are converted"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
