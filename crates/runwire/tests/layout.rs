//! The CLI's rooms of ARCHITECTURE.md ("Inside the CLI"), checked: the process environment
//! is read in one place (`src/settings.rs`, which snapshots it once), and the argument
//! parser acts on nothing (`src/cli.rs` neither reads the environment nor runs commands).

use std::path::{Path, PathBuf};

/// Ways to read the process environment.
const ENV_READS: &[&str] = &[
    "env::var(",
    "env::var_os(",
    "env::vars(",
    "env::vars_os(",
    "env::current_dir(",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `file:line` of every environment read in `text`.
fn env_reads(name: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| ENV_READS.iter().any(|read| line.contains(read)))
        .map(|(i, _)| format!("{name}:{}", i + 1))
        .collect()
}

#[test]
fn only_settings_reads_the_environment() {
    let root = src();
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        if name == "settings.rs" {
            continue;
        }
        found.extend(env_reads(&name, &std::fs::read_to_string(&file).unwrap()));
    }
    assert!(
        found.is_empty(),
        "the environment is read outside settings.rs (take it from Settings/EnvSnapshot): {found:?}"
    );
    // The check can fail: settings.rs itself reads it.
    let settings = std::fs::read_to_string(root.join("settings.rs")).unwrap();
    assert!(!env_reads("settings.rs", &settings).is_empty());
}

#[test]
fn the_parser_acts_on_nothing() {
    let text = std::fs::read_to_string(src().join("cli.rs")).unwrap();
    // Its unit tests read the README; the module above them is what is checked.
    let cli = text.split("#[cfg(test)]").next().unwrap();
    for word in [
        "std::env",
        "std::fs",
        "Workspace",
        "Executor",
        "std::process",
    ] {
        let used = cli
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .any(|line| line.contains(word));
        assert!(
            !used,
            "cli.rs uses {word}: it only declares the command line"
        );
    }
}
