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
//! - built from crates.io (`cargo install runwire`: no `clients/node` beside this crate),
//!   the addon's source is the published crate `runwire-node`, a dependency of this one for
//!   that reason only: its build script names its directory (`DEP_RUNWIRE_NODE_ROOT`), which
//!   is copied to `<target>/node-addon-published/src` and built there as a workspace of its
//!   own;
//! - with neither, or with `RUNWIRE_EMBED_NODE_ADDON=0`, an empty placeholder is embedded
//!   and the runner falls back to a file beside the binary.

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
    let in_repo = addon_manifest.is_file();
    // Outside this repository there is nothing of it to watch (and a missing watched path
    // would rerun this script at every build).
    let watched: &[&str] = if in_repo {
        &[
            "clients/node/Cargo.toml",
            "clients/node/build.rs",
            "clients/node/src",
            "crates/runwire-client/Cargo.toml",
            "crates/runwire-client/src",
            "crates/runwire-proto/Cargo.toml",
            "crates/runwire-proto/src",
            "Cargo.lock",
        ]
    } else {
        &[]
    };
    for watched in watched {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    println!("cargo:rerun-if-env-changed=DEP_RUNWIRE_NODE_ROOT");
    let published = env::var_os("DEP_RUNWIRE_NODE_ROOT").map(PathBuf::from);
    let skip = env::var("RUNWIRE_EMBED_NODE_ADDON").is_ok_and(|v| v == "0");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if skip || !linux || !(in_repo || published.is_some()) {
        std::fs::write(&embedded, b"").expect("write the empty addon placeholder");
        return;
    }

    // A published build gets a target dir of its own: both builds would uplift their
    // cdylib to the same `<profile>/librunwire_node.so` otherwise.
    let target_dir = outer_target_dir(&out).join(if in_repo {
        "node-addon"
    } else {
        "node-addon-published"
    });
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let profile = if release { "release" } else { "dev" };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--quiet")
        .arg("--lib")
        .arg("--target-dir")
        .arg(&target_dir);
    if in_repo {
        // This workspace, its lock file and its profiles (the addon's size settings).
        cmd.arg("--locked")
            .args(["-p", "runwire-node", "--manifest-path"])
            .arg(root.join("Cargo.toml"));
    } else {
        let source = published.expect("checked above");
        println!("cargo:rerun-if-changed={}", source.display());
        let copy = target_dir.join("src");
        copy_published_source(&source, &copy);
        // Its packaged Cargo.lock, if any, is a starting point, not enforced (`--locked`):
        // this build cannot know whether the outer one was locked.
        cmd.arg("--manifest-path").arg(copy.join("Cargo.toml"));
        // The workspace's profile settings for the addon (Cargo.toml at the repository's
        // root) are not published with it.
        cmd.args(["--config", &format!("profile.{profile}.debug=false")]);
        cmd.args([
            "--config",
            &format!("profile.{profile}.strip=\"debuginfo\""),
        ]);
    }
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

/// Copies the published `runwire-node` package (a directory of cargo's registry, read-only
/// to builds) to `to`, replacing an older copy, and makes the copy a workspace of its own so
/// a target dir inside some other cargo workspace does not adopt it.
fn copy_published_source(from: &Path, to: &Path) {
    fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type()?.is_dir() {
                copy_tree(&src, &dst)?;
            } else {
                std::fs::copy(&src, &dst)?;
            }
        }
        Ok(())
    }
    if to.exists() {
        std::fs::remove_dir_all(to)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", to.display()));
    }
    copy_tree(from, to)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    let manifest = to.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    text.push_str("\n[workspace]\n");
    std::fs::write(&manifest, text)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", manifest.display()));
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
