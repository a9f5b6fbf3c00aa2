//! Builds the `LD_PRELOAD` shim (`shim/runtrace.c`) into a standalone shared object in
//! `OUT_DIR`; the crate embeds it with `include_bytes!`. A cdylib would not do: C symbols
//! defined inside a Rust cdylib are not exported, and artifact dependencies are nightly-only.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "shim/runtrace.c";
    println!("cargo:rerun-if-changed={src}");
    // Generated from src/record.rs by `cargo xtask codegen` (a test checks it is fresh).
    println!("cargo:rerun-if-changed=shim/runtrace_codes.h");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let so = out.join("libruntrace.so");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        // Other platforms are designed on paper only (see the crate docs): embed nothing.
        std::fs::write(&so, b"").expect("write empty shim placeholder");
        return;
    }

    let mut build = cc::Build::new();
    build.cargo_metadata(false).cargo_warnings(false);
    // The shim is loaded into dynamically linked programs, even when the runner itself is
    // linked statically (`crt-static`, scripts/build-release.sh). cc deprecates the setting
    // as doing nothing, but `get_compiler` still adds `-static` under `crt-static` unless
    // it is set (cc 1.11), and a static shared object does not link.
    #[allow(deprecated)]
    build.static_flag(false);
    let compiler = build.get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-shared",
        "-fPIC",
        "-O2",
        // No debug info: the shim is embedded in every binary that links this crate.
        "-g0",
        "-s",
        "-fvisibility=hidden",
        // glibc marks path arguments nonnull; keep our NULL checks for buggy callers.
        "-fno-delete-null-pointer-checks",
        "-Wno-nonnull-compare",
        "-U_FORTIFY_SOURCE",
        "-D_FORTIFY_SOURCE=0",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-o",
    ]);
    cmd.arg(&so).arg(src).arg("-ldl");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler for {src}: {e}"));
    assert!(status.success(), "compiling {src} failed ({status})");
}
