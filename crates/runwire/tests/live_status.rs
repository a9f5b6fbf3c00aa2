//! The live status line, under a real pseudo-terminal (`script` from util-linux gives the
//! run one). No timing is assumed: the blocked task waits for a file the test creates only
//! once it has seen the status line, and every wait is for an event, with a generous cap.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn runwire(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runwire"));
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUNWIRE_") {
            c.env_remove(k);
        }
    }
    c
}

/// Waits until `found` holds for the output so far; panics with the output after `cap`.
fn wait_for(output: &Mutex<Vec<u8>>, cap: Duration, found: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
        if found(&text) {
            return;
        }
        assert!(
            start.elapsed() < cap,
            "not seen within {cap:?}; the terminal got:\n{text:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Creates the file the blocked task waits for, then waits for the run: also when the test
/// fails, so no run is left behind waiting.
struct Release<'a> {
    dir: &'a Path,
    child: std::process::Child,
}

impl Release<'_> {
    fn release(&mut self) -> std::process::ExitStatus {
        std::fs::write(self.dir.join("release"), "").unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("release"), "");
        let _ = self.child.wait();
    }
}

#[test]
fn status_line_shows_progress_on_a_terminal_and_is_cleared_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("package.json"),
        r#"{ "name": "live", "scripts": {
            "quick": "echo quick",
            "block": "while [ ! -e release ]; do sleep 0.05; done; echo released"
        } }"#,
    )
    .unwrap();
    // `quick` is cached first, so the run under the terminal has one hit.
    let first = runwire(dir).args(["run", "quick"]).output().unwrap();
    assert!(first.status.success(), "{first:?}");

    let command = format!("{} run quick block -j 2", env!("CARGO_BIN_EXE_runwire"));
    let mut script = Command::new("script");
    script
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUNWIRE_") {
            script.env_remove(k);
        }
    }
    let mut run = Release {
        dir,
        child: script
            .spawn()
            .expect("`script` (util-linux) runs the CLI under a pseudo-terminal"),
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let output = Arc::clone(&output);
        let mut stdout = run.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };

    // Done / total, running, hits, elapsed, and the running task with its own time.
    wait_for(&output, Duration::from_secs(120), |text| {
        text.split("\r\x1b[K").any(|part| {
            part.strip_prefix("[1/2] 1 running, 1 hit, ")
                .and_then(|rest| rest.split_once(": "))
                .is_some_and(|(elapsed, tasks)| {
                    elapsed.ends_with('s')
                        && elapsed.as_bytes()[0].is_ascii_digit()
                        && tasks.starts_with("live:block (")
                })
        })
    });
    let status = run.release();
    reader.join().unwrap();
    assert!(status.success());

    let text = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    // The line is cleared before the run's last lines and never drawn again after.
    let (before, tail) = text.rsplit_once("\r\x1b[K").unwrap();
    assert!(before.contains("[1/2] 1 running"), "{text:?}");
    assert!(
        !tail.contains("running"),
        "status line left on screen: {tail:?}"
    );
    assert!(tail.contains("live:block | released"), "{tail:?}");
    let summary = tail
        .lines()
        .find(|l| l.starts_with("2 tasks: "))
        .unwrap_or_else(|| panic!("no summary line in {tail:?}"));
    assert!(
        summary.starts_with("2 tasks: 1 hit (saved ") && summary.contains(", 1 ran, 0 failed in "),
        "{summary}"
    );
}
