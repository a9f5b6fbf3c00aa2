//! Checks every test vector in spec/fingerprint.md: a fenced block tagged `json vector`
//! holding `{"kind": ..., "input": ..., "expected": "<blake3 hex>"}`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use runwire_fingerprint::{EnvKey, Hash32, PostRunFingerprint, RelPath, SpawnDescription};
use serde_json::Value;

fn key(v: &Value) -> EnvKey {
    let hex = v.as_str().expect("key is hex");
    EnvKey(Hash32::from_hex(hex).expect("64 hex chars").0)
}

fn compute(kind: &str, input: &Value) -> String {
    match kind {
        "content" => Hash32::of(input.as_str().unwrap().as_bytes()).to_hex(),
        "env" => key(&input["key"])
            .hash_env(
                input["name"].as_str().unwrap().as_bytes(),
                input["value"].as_str().unwrap().as_bytes(),
            )
            .to_hex(),
        "spawn_key" => {
            let declared_env: BTreeMap<Vec<u8>, Option<Vec<u8>>> = input["declared_env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone().into_bytes(),
                        v.as_str().map(|s| s.as_bytes().to_vec()),
                    )
                })
                .collect();
            let d = SpawnDescription {
                program: OsString::from(input["program"].as_str().unwrap()),
                args: input["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| OsString::from(a.as_str().unwrap()))
                    .collect(),
                cwd: RelPath::parse(input["cwd"].as_str().unwrap()).unwrap(),
                declared_env,
                config: input
                    .get("config")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(field, values)| {
                                let values = values
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|v| v.as_str().unwrap().to_owned())
                                    .collect();
                                (field.clone(), values)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            d.spawn_key(&key(&input["key"])).0.to_hex()
        }
        "fingerprint" => {
            let fp: PostRunFingerprint = serde_json::from_value(input.clone()).unwrap();
            fp.id().to_hex()
        }
        other => panic!("unknown vector kind {other}"),
    }
}

#[test]
fn spec_vectors_match() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/fingerprint.md");
    let text = std::fs::read_to_string(&spec).unwrap();
    let mut n = 0;
    let mut wrong = Vec::new();
    for block in text.split("```json vector\n").skip(1) {
        let body = block.split("\n```").next().unwrap();
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("vector {n}: {e}"));
        let got = compute(v["kind"].as_str().unwrap(), &v["input"]);
        if got != v["expected"].as_str().unwrap() {
            wrong.push(format!(
                "vector {n} ({}): expected {}, computed {got}",
                v["kind"], v["expected"]
            ));
        }
        n += 1;
    }
    assert!(
        n >= 5,
        "spec/fingerprint.md should hold at least 5 vectors, found {n}"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
