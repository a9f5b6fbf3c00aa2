//! Entry point of the `runwire` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // First: a signal from now on ends the run the documented way.
    runwire::signals::install();
    let cli = runwire::cli::Cli::parse();
    let result = runwire::settings::Settings::resolve(cli).and_then(|s| runwire::commands::run(&s));
    // An interrupted run ends with the signal's code, from the watcher thread.
    runwire::signals::defer_to_interruption();
    match result {
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
