//! Helpers shared by the CLI's integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test tool's binary: built next to `runwire` by `cargo test --workspace` /
/// `cargo build --workspace`; otherwise built once into a target dir of its own (the
/// running `cargo test` holds the lock of ours).
pub fn test_tool_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_runwire"))
            .parent()
            .unwrap()
            .to_owned();
        if bin_dir.join("runwire-test-tool").is_file() {
            return bin_dir;
        }
        let target = bin_dir.join("e2e-test-tool");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "runwire-test-tool", "--target-dir"])
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building runwire-test-tool failed");
        target.join("debug")
    })
    .clone()
}
