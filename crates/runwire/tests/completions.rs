//! `runwire completions <shell>`: a script for each shell, naming every subcommand, that
//! the shell itself accepts (syntax check by bash, zsh and fish, all installed by scripts/install.sh).

use std::path::Path;
use std::process::Command;

const SUBCOMMANDS: [&str; 5] = ["run", "explain", "tasks", "cache", "completions"];

fn script(shell: &str) -> String {
    // Outside any workspace: completions need none.
    let out = Command::new(env!("CARGO_BIN_EXE_runwire"))
        .args(["completions", shell])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell}: {out:?}");
    assert!(
        out.stderr.is_empty(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `shell args... file` on the script. Every shell is installed by scripts/install.sh.
fn syntax_check(shell: &str, args: &[&str], text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runwire.completion");
    std::fs::write(&file, text).unwrap();
    Command::new(shell)
        .args(args)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{shell}: {e} (scripts/install.sh installs it)"))
}

fn assert_names_everything(shell: &str, text: &str) {
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "{shell} script misses `{sub}`");
    }
    for flag in ["filter", "dry-run", "json", "recursive"] {
        // fish names long options `-l name`, the others `--name`.
        let shown = if shell == "fish" {
            format!("-l {flag}")
        } else {
            format!("--{flag}")
        };
        assert!(text.contains(&shown), "{shell} script misses `{shown}`");
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let text = script("bash");
    assert_names_everything("bash", &text);
    assert!(text.contains("complete -F _runwire"), "{text}");
    let out = syntax_check("bash", &["-n"], &text);
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Sourced, it registers the completion function.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runwire.bash");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && complete -p runwire"#)
        .arg("bash")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("_runwire"));
}

#[test]
fn zsh_completion_is_valid_zsh() {
    let text = script("zsh");
    assert_names_everything("zsh", &text);
    assert!(text.starts_with("#compdef runwire"), "{text}");
    let out = syntax_check("zsh", &["-n"], &text);
    assert!(
        out.status.success(),
        "zsh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fish_completion_is_valid_fish() {
    let text = script("fish");
    assert_names_everything("fish", &text);
    assert!(text.contains("complete -c runwire"), "{text}");
    let out = syntax_check("fish", &["--no-execute"], &text);
    assert!(
        out.status.success(),
        "fish --no-execute: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_shell_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_runwire"))
        .args(["completions", "tcsh"])
        .current_dir(Path::new("/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash"));
}
