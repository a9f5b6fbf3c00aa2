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

/// The vendored Remote Execution API file the remote cache client is generated from,
/// relative to `proto/third_party/` (its imports are vendored beside it).
pub const REAPI_PROTO_FILES: &[&str] = &[
    "build/bazel/remote/execution/v2/remote_execution.proto",
    "google/bytestream/bytestream.proto",
];

/// Where the generated REAPI client code is committed.
pub fn reapi_generated_dir(root: &Path) -> PathBuf {
    root.join("crates/runwire-remote/src/gen")
}

/// Compiles the vendored REAPI protos with protox and writes prost messages plus tonic
/// clients (no servers: runwire only talks to existing caches) into `out_dir`, one file per
/// package. `google.protobuf` maps to `prost-types`.
pub fn generate_reapi(root: &Path, out_dir: &Path) -> Result<(), CodegenError> {
    let proto_dir = root.join("proto/third_party");
    let fds = protox::compile(REAPI_PROTO_FILES, [&proto_dir])
        .map_err(|error| CodegenError::Compile(format!("{error:?}")))?;
    std::fs::create_dir_all(out_dir).map_err(CodegenError::Generate)?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(true)
        .out_dir(out_dir)
        .compile_fds(fds)
        .map_err(CodegenError::Generate)
}
