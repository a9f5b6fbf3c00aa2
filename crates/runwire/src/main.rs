//! Entry point of the `runwire` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = runwire::cli::Cli::parse();
    match runwire::cli::main(cli, runwire::cli::cached_executor) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("runwire: error[{}]: {e}", e.code());
            ExitCode::from(2)
        }
    }
}
