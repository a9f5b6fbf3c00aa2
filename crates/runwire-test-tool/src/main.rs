//! `runwire-test-tool`: a tool the end-to-end tests run under `runwire` instead of
//! hand-written shell. Its arguments are a list of steps, executed in order:
//!
//! | step                        | effect                                                    |
//! |-----------------------------|-----------------------------------------------------------|
//! | `read FILE`                 | reads FILE, prints `read FILE: <content>`                  |
//! | `write FILE TEXT`           | writes TEXT (+ newline) to FILE, creating parent dirs     |
//! | `append FILE TEXT`          | appends TEXT (+ newline) to FILE                          |
//! | `rm PATH`                   | removes a file or a whole directory                       |
//! | `mkdir DIR`                 | creates DIR and its parents                               |
//! | `ls DIR`                    | lists DIR (sorted names)                                  |
//! | `exists PATH`               | prints whether PATH exists (a probe)                      |
//! | `print TEXT` / `eprint TEXT`| writes TEXT to stdout / stderr                            |
//! | `exit N`                    | exits with code N at once                                 |
//! | `send-garbage`              | sends a frame that is no protocol message (a faulty tool) |
//! | `hello-as NAME`             | a raw `Hello` with client name NAME and only protocol     |
//! |                             | version 999, which the runner refuses with a diagnostic   |
//! |                             | that quotes NAME (a hostile or broken client)             |
//! | `repeat N STEP...`          | runs the one step after N (with its arguments) N times    |
//!
//! Protocol steps are listed in `protocol.rs`. A failing step prints what failed and
//! exits with code 101, so a test sees a broken fixture instead of a silent pass.

mod protocol;
mod steps;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let steps = match steps::parse(&args) {
        Ok(steps) => steps,
        Err(e) => {
            eprintln!("runwire-test-tool: {e}");
            std::process::exit(100);
        }
    };
    let session = protocol::Session::default();
    for step in &steps {
        if let Err(e) = steps::execute(step, &session) {
            eprintln!("runwire-test-tool: {e}");
            std::process::exit(101);
        }
    }
}
