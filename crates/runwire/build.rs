//! Embeds the Node addon (`clients/node`, a cdylib) in the `runwire` binary, as
//! runwire-trace embeds its shim, so a binary copied alone still hands every Node tool its
//! client (`src/node_addon.rs` materializes it at run time).
//!
//! A cdylib cannot be a normal dependency (artifact dependencies are nightly-only), so this
//! runs a nested `cargo build -p runwire-node`. Why it is done this way:
//! - its own target dir (`<target>/node-addon`): the outer cargo holds the lock of ours, and
//!   a fixed place (not `OUT_DIR`, which changes with this script) keeps it incremental;
//! - the outer jobserver is handed on (`CARGO_MAKEFLAGS`), so both builds share one set of
//!   job tokens instead of each taking every core;
//! - the outer build's `CARGO_*`/`OUT_DIR`/`TARGET` variables are removed: they describe
//!   this package's build script, not the nested build;
//! - outside this repository (no `clients/node`) or with `RUNWIRE_EMBED_NODE_ADDON=0`, an
//!   empty placeholder is embedded and the runner falls back to a file beside the binary.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let embedded = out.join("librunwire_node.so");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir.join("../..");
    let addon_manifest = root.join("clients/node/Cargo.toml");

    println!("cargo:rerun-if-env-changed=RUNWIRE_EMBED_NODE_ADDON");
    for watched in [
        "clients/node/Cargo.toml",
        "clients/node/build.rs",
        "clients/node/src",
        "crates/runwire-client/Cargo.toml",
        "crates/runwire-client/src",
        "crates/runwire-proto/Cargo.toml",
        "crates/runwire-proto/src",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let skip = env::var("RUNWIRE_EMBED_NODE_ADDON").is_ok_and(|v| v == "0");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if skip || !linux || !addon_manifest.is_file() {
        std::fs::write(&embedded, b"").expect("write the empty addon placeholder");
        return;
    }

    let target_dir = outer_target_dir(&out).join("node-addon");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--locked")
        .arg("--quiet")
        .args(["-p", "runwire-node", "--lib"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        let outer = (name.starts_with("CARGO_") && name != "CARGO_HOME")
            || matches!(
                name.as_ref(),
                "OUT_DIR" | "TARGET" | "HOST" | "NUM_JOBS" | "OPT_LEVEL" | "PROFILE" | "DEBUG"
            )
            || name.starts_with("DEP_");
        if outer {
            cmd.env_remove(name.as_ref());
        }
    }
    if let Some(flags) = env::var_os("CARGO_MAKEFLAGS") {
        cmd.env("MAKEFLAGS", flags);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the Node addon: {e}"));
    assert!(
        status.success(),
        "building the Node addon (runwire-node) failed ({status})"
    );
    let built = target_dir
        .join(if release { "release" } else { "debug" })
        .join("librunwire_node.so");
    std::fs::copy(&built, &embedded)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}

/// `<target>`: the ancestor of `OUT_DIR` that holds cargo's `CACHEDIR.TAG` (with or
/// without a `--target <triple>` level in between).
fn outer_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| out_dir.ancestors().nth(4))
        .expect("OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out")
        .to_owned()
}
