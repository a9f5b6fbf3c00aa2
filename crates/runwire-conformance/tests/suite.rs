//! The suite run for real: the Rust testee through every case, the reference server through
//! every server check, and the harness's verdict logic on testees and lists that must fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use runwire_conformance::outcome::{FailureList, Status};
use runwire_conformance::{Filter, case, run_clients};

const HARNESS: &str = env!("CARGO_BIN_EXE_runwire-conformance");
const TESTEE: &str = env!("CARGO_BIN_EXE_runwire-conformance-testee");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases_dir() -> PathBuf {
    repo().join("conformance/cases")
}

#[test]
fn rust_testee_passes_the_whole_suite_with_no_unexpected_result() {
    let cases = case::load_dir(&cases_dir()).unwrap();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let list = FailureList::load(&repo().join("conformance/testees/rust/failures.txt")).unwrap();
    let report = run_clients(&cases, &[TESTEE.into()], &list, &Filter::default());
    assert!(report.ok(), "{}", report.text());
    assert_eq!(report.passed + report.expected_failures, cases.len());
    assert_eq!(report.skipped, 0);
}

#[test]
fn reference_server_passes_every_server_check() {
    let output = Command::new(HARNESS)
        .args(["server", "--", HARNESS, "reference-server"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let checks = runwire_conformance::server_check::CHECKS.len();
    assert_eq!(text, format!("{checks} passed, 0 failed\n"));
    assert!(output.status.success());
}

#[test]
fn a_testee_that_answers_ok_to_everything_fails_most_cases() {
    // A fake client: answers every operation with {"ok": true} and never talks to the runner.
    let fake = "while read -r line; do echo '{\"ok\": true}'; done";
    let cases = case::load_dir(&cases_dir()).unwrap();
    let report = run_clients(
        &cases,
        &["sh".into(), "-c".into(), fake.into()],
        &FailureList::default(),
        &Filter::default(),
    );
    let status = |name: &str| {
        report
            .cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.status)
            .unwrap()
    };
    assert_eq!(status("Required.Env.GetEnv.Set"), Status::Failed);
    assert_eq!(status("Required.Faults.ServerGoneMidRun"), Status::Failed);
    assert_eq!(status("Required.Reports.FlushedBeforeExit"), Status::Failed);
    assert!(report.failed > cases.len() / 2, "{}", report.text());
    let text = report.text();
    assert!(
        text.contains("FAILED Required.Env.GetEnv.Set: line "),
        "{text}"
    );
}

#[test]
fn an_unexpected_pass_fails_the_run_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("failures.txt");
    std::fs::write(
        &list,
        "Required.Env.GetEnv.Set  # pretend this client cannot read env vars\n",
    )
    .unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(HARNESS)
        .arg("client")
        .arg("--failure-list")
        .arg(&list)
        .arg("--json")
        .arg(&json)
        .args(["--filter", "Required.Env.GetEnv.", "--", TESTEE])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED Required.Env.GetEnv.Set: passed, but the failure list says it fails (pretend this client cannot read env vars)"),
        "{text}"
    );
    let summary = text.lines().last().unwrap();
    assert!(
        summary.contains(" passed, 1 failed, ") && summary.ends_with(" skipped"),
        "{summary}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["failed"], 1);
    let entry = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Required.Env.GetEnv.Set")
        .unwrap();
    assert_eq!(entry["status"], "unexpected_pass");
}

#[test]
fn an_expected_failure_keeps_the_run_green_and_is_reported_apart() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("failures.txt");
    std::fs::write(
        &list,
        "Required.Env.GetEnv.Set  # this fake never reads env vars\n",
    )
    .unwrap();
    // A testee that reports every variable unset: fails exactly the listed case among these.
    let fake = "while read -r line; do echo '{\"value\": null}'; done";
    let output = Command::new(HARNESS)
        .arg("client")
        .arg("--failure-list")
        .arg(&list)
        .args([
            "--filter",
            "Required.Env.GetEnv.Set",
            "--",
            "sh",
            "-c",
            fake,
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("1 expected failure(s), from the failure list:\n  Required.Env.GetEnv.Set: this fake never reads env vars\n0 passed, 0 failed, "),
        "{text}"
    );
}

#[test]
fn a_failure_list_naming_an_unknown_case_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("failures.txt");
    std::fs::write(&list, "Required.No.Such.Case  # stale\n").unwrap();
    let output = Command::new(HARNESS)
        .arg("client")
        .arg("--failure-list")
        .arg(&list)
        .args(["--", TESTEE])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("lists cases that do not exist: Required.No.Such.Case"),
        "{stderr}"
    );
}

#[test]
fn server_mode_fails_a_server_that_hangs_up_on_everyone() {
    // A "server" that accepts every connection and closes it at once.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let report = runwire_conformance::run_server_checks(
        &socket,
        &FailureList::default(),
        &Filter::default(),
    );
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed.contains(&"Required.Server.Handshake.Version1"),
        "{failed:?}"
    );
    assert!(failed.contains(&"Required.Server.GetEnv.Set"), "{failed:?}");
    assert!(!report.ok());
    let text = report.text();
    assert!(
        text.contains("FAILED Required.Server.Handshake.Version1: the server closed the connection instead of answering"),
        "{text}"
    );
}

#[test]
fn the_embedded_cases_are_the_checked_in_ones() {
    let names = |cases: Vec<case::Case>| cases.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(
        names(case::load_embedded().unwrap()),
        names(case::load_dir(&cases_dir()).unwrap())
    );
}

/// conformance/README.md describes every server check by its rule, as `list` does, and gives
/// their number: a check added or reworded without the README fails here.
#[test]
fn the_readme_describes_every_server_check() {
    let readme = std::fs::read_to_string(repo().join("conformance/README.md")).unwrap();
    let checks = runwire_conformance::server_check::CHECKS;
    for check in checks {
        let row = format!("| `{}` | {} |", check.name, check.rule.replace('|', "\\|"));
        assert!(
            readme.contains(&row),
            "conformance/README.md lacks the row\n{row}"
        );
    }
    let rows = readme
        .lines()
        .filter(|l| l.starts_with("| `Required.Server.") || l.starts_with("| `Recommended.Server."))
        .count();
    assert_eq!(
        rows,
        checks.len(),
        "server-check rows in conformance/README.md"
    );
    let count = format!("the checks, {} of them", checks.len());
    assert!(
        readme.contains(&count),
        "conformance/README.md must say {count:?}"
    );
}

/// `runwire-conformance list | head` must not panic on the closed pipe: its stdout is a pipe
/// whose read end is closed before it starts, so its first write fails (EPIPE).
#[test]
fn list_exits_quietly_when_its_reader_goes_away() {
    use std::os::fd::{FromRawFd, OwnedFd};

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe() just created both; each is owned once here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let output = Command::new(HARNESS)
        .arg("list")
        .stdout(std::process::Stdio::from(write))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(output.status.success(), "{:?}", output.status);
}

#[test]
fn the_rust_testee_refuses_base64_that_is_not_canonical() {
    use std::io::Write;
    // Outside a runner (no RUNWIRE_SOCKET) own_env and get_env decode their name all the same.
    let exchanges = [
        (
            r#"{"op":"own_env","name":"Zm9v!"}"#,
            "name: not base64: '!' at character 4",
        ),
        (
            r#"{"op":"own_env","name":"Zm8"}"#,
            "name: not base64: ends at character 3",
        ),
        (
            r#"{"op":"own_env","name":"Zm9="}"#,
            "name: not base64: '9' at character 2",
        ),
        (
            r#"{"op":"get_env","name":"Zm-v"}"#,
            "name: not base64: '-' at character 2",
        ),
        (
            r#"{"op":"report_input","path":"L3Rt\ncA=="}"#,
            "path: not base64: '\\n' at character 4",
        ),
    ];
    let mut child = Command::new(TESTEE)
        .env_remove("RUNWIRE_SOCKET")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (request, _) in exchanges {
        writeln!(stdin, "{request}").unwrap();
    }
    // A canonical name is read: PATH is set wherever tests run.
    writeln!(stdin, r#"{{"op":"own_env","name":"UEFUSA=="}}"#).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for ((request, expected), answer) in exchanges.iter().zip(&answers) {
        let failed = answer["failed"].as_str().unwrap_or_default();
        assert!(failed.starts_with(expected), "{request} -> {answer}");
    }
    assert!(answers[exchanges.len()]["value"].is_string(), "{text}");
}
