//! A runner killed (`SIGKILL`) while it restores a hit leaves no temporary file among the outputs,
//! and the next run still restores them exactly (spec/fingerprint.md, "Cache store":
//! restored files are staged in a directory of the restoring process, swept once it is
//! dead). The kill points are seeded delays: where the kill lands varies, what must hold
//! after it does not.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const FILES: usize = 400;

fn runwire(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runwire"));
    c.args(["run", "build"])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("RUNWIRE_CACHE_DIR");
    c
}

/// Every path under `root` (runwire's cache left out), relative.
fn leftovers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("node_modules/.cache") || rel.starts_with(".runwire/") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if rel.contains(".tmp") || rel.contains(".runwire-") {
                out.push(rel);
            }
        }
    }
    out
}

#[test]
fn a_kill_during_restore_leaves_no_temp_file_in_the_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    std::fs::create_dir_all(root.join("node_modules")).unwrap();
    let script = format!(
        "mkdir -p dist && i=1; while [ $i -le {FILES} ]; do echo \"file $i\" > dist/f$i.txt; i=$((i+1)); done"
    );
    std::fs::write(
        root.join("package.json"),
        serde_json::json!({"name": "app", "scripts": {"build": script}}).to_string(),
    )
    .unwrap();
    let first = runwire(&root).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut killed = 0;
    let rounds = soak(40);
    for round in 0..rounds {
        // Outputs gone, so the hit has every file to write.
        std::fs::remove_dir_all(root.join("dist")).ok();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % 40_000);
        let mut child = runwire(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        let left = leftovers(&root);
        assert!(
            left.is_empty(),
            "round {round} ({delay:?}): temp files left: {left:?}"
        );
    }
    assert!(
        killed > 0,
        "no run was killed: the delays are too long for this machine"
    );
    // Every round asserted a clean outcome above; the kills are the ones that landed.
    eprintln!("soak: kills during restore: tried {killed}, survived {killed} ({rounds} runs)");

    // The next run restores everything exactly.
    std::fs::remove_dir_all(root.join("dist")).ok();
    let out = runwire(&root).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cache hit"), "{stderr}");
    for i in 1..=FILES {
        let text = std::fs::read_to_string(root.join(format!("dist/f{i}.txt"))).unwrap();
        assert_eq!(text, format!("file {i}\n"));
    }
    assert!(leftovers(&root).is_empty());
}

/// `bench/faults.sh` repeats the fault tests: `RUNWIRE_SOAK` multiplies the rounds (1 in CI).
fn soak(rounds: usize) -> usize {
    rounds
        * std::env::var("RUNWIRE_SOAK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
}
