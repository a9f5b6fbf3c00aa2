//! End-to-end tests: the real `runwire` binary on fixture repositories.
//!
//! One directory per case under `tests/fixtures/<case>/`:
//! - `repo/` (or `repo.path` naming a directory of this repository): copied to a fresh temporary directory before the case runs (a directory
//!   named `_node_modules` becomes `node_modules`, which git would not keep);
//! - `steps`: what to do, one step a line (see `Step`);
//! - `transcript.snap`: the expected transcript (insta snapshot), timings and the temporary
//!   path masked.
//!
//! Steps: `runwire ARGS...` runs the binary, `sh COMMAND` runs a shell command (to change
//! files between runs or to show marker files), `cd DIR` (relative to the repo root),
//! `export NAME=VALUE`, `unset NAME`; `#` starts a comment. Every step's exit code and
//! output go into the transcript.

mod common;

use std::fmt::Write as _;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies a fixture (symlinks kept, `_node_modules` renamed): the oracle's copy.
fn copy_dir(from: &Path, to: &Path) {
    runwire_oracle::tree::copy_dir(from, to).unwrap();
}

/// Replaces durations (`12ms`, `1.2s`, `2m05s`) with `[time]` so snapshots are stable.
fn mask_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'.';
        if at_word_start && bytes[i].is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            let rest = &text[j..];
            let end = if rest.starts_with("ms") {
                Some(j + 2)
            } else if let Some(frac) = rest.strip_prefix('.') {
                let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
                (digits > 0 && frac[digits..].starts_with('s')).then_some(j + 1 + digits + 1)
            } else if let Some(m) = rest.strip_prefix('m') {
                let digits = m.bytes().take_while(u8::is_ascii_digit).count();
                (digits == 2 && m[2..].starts_with('s')).then_some(j + 4)
            } else {
                None
            };
            if let Some(end) = end
                && !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric)
            {
                out.push_str("[time]");
                i = end;
                continue;
            }
            out.push_str(&text[i..j]);
            i = j;
            continue;
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Splits a step's arguments at spaces; single quotes keep spaces inside one argument.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            ' ' if !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

fn run_case(name: &str) {
    let case = fixtures().join(name);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    // A case may run on a directory of the repository instead (`repo.path`, relative to
    // the workspace root), so the shipped examples are tested as shipped.
    let source = match std::fs::read_to_string(case.join("repo.path")) {
        Ok(rel) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel.trim()),
        Err(_) => case.join("repo"),
    };
    copy_dir(&source, &repo);
    // A shipped example someone ran by hand holds a cache of its own: not the case's.
    let _ = std::fs::remove_dir_all(repo.join("node_modules/.cache/runwire"));
    let _ = std::fs::remove_dir_all(repo.join(".runwire"));
    let steps = std::fs::read_to_string(case.join("steps")).unwrap();
    let mut cwd = repo.clone();
    // `runwire` and `runwire-test-tool` are on PATH for every step.
    let runwire_dir = Path::new(env!("CARGO_BIN_EXE_runwire")).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        runwire_dir.display(),
        common::test_tool_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env: Vec<(String, Option<String>)> = vec![
        ("NO_COLOR".into(), Some("1".into())),
        ("PATH".into(), Some(path)),
    ];
    let mut transcript = String::new();
    for line in steps.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut command = match verb {
            "runwire" => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_runwire"));
                c.args(split_words(rest));
                c
            }
            "sh" => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(rest);
                c
            }
            "cd" => {
                cwd = repo.join(rest);
                continue;
            }
            "export" => {
                let (k, v) = rest.split_once('=').expect("export NAME=VALUE");
                env.push((k.into(), Some(v.into())));
                continue;
            }
            "unset" => {
                env.push((rest.into(), None));
                continue;
            }
            other => panic!("{name}/steps: unknown step `{other}`"),
        };
        command.current_dir(&cwd);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RUNWIRE_") {
                command.env_remove(k);
            }
        }
        for (k, v) in &env {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
        let output = command.output().unwrap();
        let _ = writeln!(transcript, "$ {line}");
        let _ = writeln!(transcript, "[exit {}]", output.status.code().unwrap_or(-1));
        for (title, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if !bytes.is_empty() {
                let _ = write!(
                    transcript,
                    "--- {title}\n{}",
                    String::from_utf8_lossy(bytes)
                );
                if !bytes.ends_with(b"\n") {
                    transcript.push('\n');
                }
            }
        }
        transcript.push('\n');
    }
    let transcript = mask_times(&transcript.replace(&repo.display().to_string(), "[repo]"));
    insta::with_settings!({
        snapshot_path => case.clone(),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("transcript", transcript);
    });
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        /// Every fixture directory has a test, so a new case cannot be silently skipped.
        #[test]
        fn every_fixture_is_listed() {
            let listed = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(fixtures()).unwrap() {
                let entry = entry.unwrap();
                if !entry.file_type().unwrap().is_dir() {
                    continue;
                }
                let name = entry.file_name().into_string().unwrap();
                assert!(listed.contains(&name.as_str()), "fixture `{name}` has no test in e2e.rs");
            }
        }
    };
}

cases!(
    config_malformed_json,
    vite_compat_switch_in_key,
    config_unknown_key,
    recursive_dependency_order,
    scripts_fallback,
    dry_run_json,
    filter_and_cwd,
    failing_task_exit_code,
    strict_env,
    pnpm_workspace,
    task_errors,
    cache_hit_replay_restore,
    miss_reasons,
    tool_tracked_env,
    overlap_and_ignores,
    not_cacheable,
    emptied_dir_variants,
    concurrent_runners,
    quickstart_example,
    config_inputs_outputs,
    force_and_no_cache,
    cache_dir_override,
    existing_output_dir_restored,
    append_to_existing_log,
    append_to_new_log,
    no_cache_serves_env,
    pass_through_glob_later_env,
    pass_through_names_beat_tracked_requests,
    io_uring_refused_then_cached,
    verify_reports_differences,
    cache_verify_drops_bad_entries,
    verify_vite_fixture,
    vite_lone_binary,
    fail_closed_artifacts,
    fail_closed_tracer,
    servers_and_watchers,
    run_json_summary,
    runner_secrets_hidden,
    terminal_injection_and_flood,
    damaged_cache_recovers,
    cache_location,
    multi_task_run,
    task_list,
);

#[test]
fn masking_times() {
    assert_eq!(
        mask_times("ran in 12ms, saved 1.2s, took 2m05s; exit code 2, v1.2.3s, 3 files"),
        "ran in [time], saved [time], took [time]; exit code 2, v1.2.3s, 3 files"
    );
}
