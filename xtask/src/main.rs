//! `cargo xtask <task>`; see the crate library for what each task does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("codegen") => {
            let root = xtask::repo_root();
            let out = xtask::generated_dir(&root);
            match xtask::generate(&root, &out) {
                Ok(()) => {
                    println!("regenerated {}", out.display());
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
                "usage: cargo xtask codegen\n  codegen  regenerate crates/runwire-proto/src/gen from proto/ (protox + prost-build)\n{}",
                other.map_or(String::new(), |t| format!("unknown task `{t}`"))
            );
            ExitCode::FAILURE
        }
    }
}
