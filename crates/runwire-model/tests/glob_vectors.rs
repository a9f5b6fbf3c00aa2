//! The shared glob vectors of spec/protocol.md, "Glob syntax"
//! (`spec/test_vectors/glob/env_glob.jsonl`), run against the protocol's env-name glob: every
//! listed name matches or not as the row says, and every invalid glob fails with its code.
//! This is the workspace's only env-name matcher: the client, the server, the runner's
//! `env` / `passThroughEnv` entries and the engine's recorded selectors all use it.

use std::path::PathBuf;

use runwire_model::{EnvGlob, EnvSelector};
use serde_json::Value;

/// A glob or name: a UTF-8 string, or an array of byte values.
fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => text.as_bytes().to_vec(),
        Value::Array(items) => items
            .iter()
            .map(|b| u8::try_from(b.as_u64().expect("a byte value")).expect("0 to 255"))
            .collect(),
        other => panic!("not a string or byte array: {other}"),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rows() -> Vec<Value> {
    let path = repo_root().join("spec/test_vectors/glob/env_glob.jsonl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn env_glob_runs_the_shared_vectors() {
    let rows = rows();
    assert!(rows.len() >= 40, "the vectors file lost rows");
    for row in rows {
        let glob = bytes(&row["glob"]);
        let parsed = EnvGlob::new(&glob);
        if let Some(code) = row["invalid"].as_str() {
            let error = parsed.expect_err(&format!("{row}: must be invalid"));
            assert_eq!(error.code(), code, "{row}");
            let selector = EnvSelector::Glob(glob.clone());
            assert!(
                !selector.matches(&glob),
                "{row}: an invalid selector matches nothing"
            );
            continue;
        }
        let parsed = parsed.unwrap_or_else(|e| panic!("{row}: {e}"));
        let selector = EnvSelector::Glob(glob.clone());
        for name in row["matches"].as_array().unwrap() {
            assert!(parsed.matches(&bytes(name)), "{row}: must match {name}");
            assert!(selector.matches(&bytes(name)), "{row}: must select {name}");
        }
        for name in row["rejects"].as_array().unwrap() {
            assert!(
                !parsed.matches(&bytes(name)),
                "{row}: must not match {name}"
            );
            assert!(
                !selector.matches(&bytes(name)),
                "{row}: must not select {name}"
            );
        }
    }
}

/// Every glob of the table in spec/protocol.md is a row of the vectors, so the two cannot
/// drift apart.
#[test]
fn the_table_in_protocol_md_is_in_the_vectors() {
    let prose = std::fs::read_to_string(repo_root().join("spec/protocol.md")).unwrap();
    let table = prose
        .split("### Glob syntax")
        .nth(1)
        .and_then(|s| s.split("###").next())
        .expect("protocol.md has a Glob syntax section");
    let globs: Vec<Vec<u8>> = rows().iter().map(|r| bytes(&r["glob"])).collect();
    let mut seen = 0;
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let glob = line.split('`').nth(1).unwrap().as_bytes().to_vec();
        assert!(
            globs.contains(&glob),
            "the table row {line:?} is not in env_glob.jsonl"
        );
        seen += 1;
    }
    assert!(seen >= 10, "the table has {seen} rows");
}
