//! `cargo xtask <task>`; see the crate library for what each task does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("codegen") => {
            let root = xtask::repo_root();
            let out = xtask::generated_dir(&root);
            let reapi = xtask::reapi_generated_dir(&root);
            let codes = xtask::trace_codes_header(&root);
            let errors = xtask::errors_doc(&root);
            match xtask::generate(&root, &out)
                .and_then(|()| xtask::generate_reapi(&root, &reapi))
                .and_then(|()| xtask::generate_trace_codes(&codes))
                .and_then(|()| xtask::generate_errors_doc(&root))
            {
                Ok(()) => {
                    println!("regenerated {}", out.display());
                    println!("regenerated {}", reapi.display());
                    println!("regenerated {}", codes.display());
                    println!("regenerated {}", errors.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("xtask codegen: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        other => {
            eprintln!(
                "usage: cargo xtask codegen\n  codegen  regenerate crates/runwire-proto/src/gen from proto/runwire and\n           crates/runwire-remote/src/third_party from proto/third_party (protox + prost/tonic-build),\n           crates/runwire-trace/shim/runtrace_codes.h from runwire-trace's record codes,\n           docs/errors.md from the error enums (crates/runwire/tests/error_codes.rs)\n{}",
                other.map_or(String::new(), |t| format!("unknown task `{t}`"))
            );
            ExitCode::FAILURE
        }
    }
}
