//! Repository chores written in Rust, run as `cargo xtask <task>`.
//!
//! The library half exists so that tests can run the exact code generation the `codegen` task
//! runs (runwire-proto's staleness test regenerates into a temporary directory and compares).

use std::path::{Path, PathBuf};

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// The `.proto` files of protocol v1, relative to `proto/`.
pub const PROTO_FILES: &[&str] = &["runwire/v1/runwire.proto"];

/// Where the generated Rust code is committed.
pub fn generated_dir(root: &Path) -> PathBuf {
    root.join("crates/runwire-proto/src/gen")
}

/// Errors of the code generation, each naming the step that failed.
#[derive(Debug)]
pub enum CodegenError {
    /// The `.proto` sources did not compile; protox's message names file and line.
    Compile(String),
    /// prost-build failed to generate or write Rust code.
    Generate(std::io::Error),
}

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Compile(message) => write!(f, "compiling the .proto files failed: {message}"),
            Self::Generate(error) => write!(f, "generating Rust code failed: {error}"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// Compiles `proto/` with protox (no system `protoc`) and writes prost's Rust code for each
/// package into `out_dir` (`runwire.v1.rs`).
pub fn generate(root: &Path, out_dir: &Path) -> Result<(), CodegenError> {
    let proto_dir = root.join("proto");
    let fds = protox::compile(PROTO_FILES, [&proto_dir])
        .map_err(|error| CodegenError::Compile(format!("{error:?}")))?;
    std::fs::create_dir_all(out_dir).map_err(CodegenError::Generate)?;
    prost_build::Config::new()
        .out_dir(out_dir)
        .compile_fds(fds)
        .map_err(CodegenError::Generate)
}
