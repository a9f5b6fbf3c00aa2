//! Entry point of the `runwire` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = runwire::cli::Cli::parse();
    match runwire::cli::main(cli, runwire::cli::cached_executor) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            // Errors quote paths and file contents: escaped for the terminal.
            let message = e.to_string();
            eprintln!(
                "runwire: error[{}]: {}",
                e.code(),
                runwire::output::escape_text(&message)
            );
            ExitCode::from(2)
        }
    }
}
