//! Embeds conformance/cases/*.case in the harness, so an installed `runwire-conformance` runs
//! the suite it was built with, without a checkout of this repository.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // The manifest dir of this build, read when the script runs: `env!` would freeze the
    // path of whichever checkout first compiled the script (a CI clone sharing the target
    // dir), and a vanished dir would embed no case at all.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("../../conformance/cases");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    assert!(!files.is_empty(), "no .case files in {}", dir.display());
    files.sort();
    let mut out = String::from(
        "/// Every case file of the suite: (file name, text).\npub const EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            file.display().to_string()
        );
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("cases.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
