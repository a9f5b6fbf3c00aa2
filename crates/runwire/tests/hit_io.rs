//! What a cache hit writes: nothing to the index (its recency goes to an append-only log)
//! and nothing to outputs that already equal the entry. Real runs of the `runwire` binary.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
}

/// One package whose `build` copies `src.txt` into `dist/` (two files, one executable).
fn repo() -> Repo {
    repo_with(
        r"mkdir -p dist && cp src.txt dist/out.txt && printf '#!/bin/sh\n' > dist/run.sh && chmod 755 dist/run.sh",
        &[("src.txt", "hello\n")],
    )
}

/// One package whose `build` is `script`, with `files` (path, content) around it.
fn repo_with(script: &str, files: &[(&str, &str)]) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let manifest = serde_json::json!({"name": "a", "scripts": {"build": script}});
    std::fs::write(root.join("package.json"), manifest.to_string()).unwrap();
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let cache = dir.path().join("cache");
    Repo {
        _dir: dir,
        root,
        cache,
    }
}

impl Repo {
    /// Runs `runwire run build` (plus `extra`) and returns its stderr; panics on failure.
    fn build(&self, extra: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_runwire"))
            .args(["run", "build"])
            .args(extra)
            .current_dir(&self.root)
            .env("RUNWIRE_CACHE_DIR", &self.cache)
            .env("PATH", path_with_test_tool())
            .env_remove("RUNWIRE_REMOTE_CACHE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "runwire failed:\n{stderr}");
        stderr
    }
}

/// `PATH` with the test tool's directory first.
fn path_with_test_tool() -> std::ffi::OsString {
    let mut dirs = vec![common::test_tool_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// Waits until the clock is more than the racy margin past the second every file under
/// `root` was written in: only then are their hashes remembered (the racy rule), so the next
/// hit learns them all and the one after it has nothing left to learn.
fn let_a_second_pass(root: &Path) {
    let newest = walk(root)
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .map(|m| m.ctime().max(m.mtime()))
        .max()
        .unwrap_or(0);
    while SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        // One second more than the racy rule's own: its tick margin reaches back
        // across a second's start.
        <= u64::try_from(newest).unwrap() + 1
    {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn bytes(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

#[test]
fn a_pure_hit_writes_nothing_to_the_index() {
    assert_a_pure_hit_writes_nothing(&repo());
}

/// A task that lists `src` and reports a glob over it: the directory's listing and its
/// glob listing are remembered side by side (one would otherwise replace the other at
/// every hit), and a remembered glob directory does not hide a new match.
#[test]
fn a_pure_hit_of_a_globbing_task_writes_nothing_to_the_index() {
    let r = repo_with(
        "runwire-test-tool ls src report-glob 'src/**/*.md' write dist/out.txt x",
        &[
            ("src/a.md", "a"),
            ("src/docs/b.md", "b"),
            ("src/c.txt", "c"),
        ],
    );
    assert_a_pure_hit_writes_nothing(&r);
    // An unrelated file in a directory the glob walked: compared again, still a hit.
    std::fs::write(r.root.join("src/docs/notes.txt"), "n").unwrap();
    assert!(r.build(&[]).contains("cache hit"));
    std::fs::write(r.root.join("src/docs/new.md"), "n").unwrap();
    let stderr = r.build(&[]);
    assert!(
        stderr.contains("cache miss") && stderr.contains("added: src/docs/new.md"),
        "{stderr}"
    );
}

fn assert_a_pure_hit_writes_nothing(r: &Repo) {
    assert!(r.build(&[]).contains("cache miss"));
    let_a_second_pass(&r.root);
    // The first hit may remember hashes it had to read; the second has nothing to learn.
    assert!(r.build(&[]).contains("cache hit"));
    let index = r.cache.join("index.sqlite");
    let wal = r.cache.join("index.sqlite-wal");
    let log = r.cache.join("recency.log");
    let conn = rusqlite::Connection::open(&index).unwrap();
    let data_version = || -> i64 {
        conn.query_row("PRAGMA data_version", [], |row| row.get(0))
            .unwrap()
    };
    let before = (bytes(&index), bytes(&wal), data_version());
    let log_before = bytes(&log).map_or(0, |b| b.len());

    assert!(r.build(&[]).contains("cache hit"));

    let after = (bytes(&index), bytes(&wal), data_version());
    assert!(before.0 == after.0, "the hit changed index.sqlite");
    assert!(before.1 == after.1, "the hit changed index.sqlite-wal");
    assert_eq!(
        before.2, after.2,
        "another connection committed (data_version moved)"
    );
    assert_eq!(
        bytes(&log).map_or(0, |b| b.len()),
        log_before + 8,
        "the hit's recency is one 8-byte record in recency.log"
    );
}

#[test]
fn a_hit_with_outputs_in_place_rewrites_no_file() {
    let r = repo();
    assert!(r.build(&[]).contains("cache miss"));
    let outputs = [r.root.join("dist/out.txt"), r.root.join("dist/run.sh")];
    // An old mtime: a restore that rewrote the file would give it a new one.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for p in &outputs {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let stat = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (
            m.ino(),
            m.ctime(),
            m.ctime_nsec(),
            m.mtime(),
            m.mtime_nsec(),
            m.mode(),
        )
    };
    let before: Vec<_> = outputs.iter().map(|p| stat(p)).collect();

    assert!(r.build(&[]).contains("cache hit"));

    let after: Vec<_> = outputs.iter().map(|p| stat(p)).collect();
    assert_eq!(
        before, after,
        "inode, ctime, mtime or mode of an output changed"
    );
    // And they are what a run without the cache leaves.
    let cached: Vec<Vec<u8>> = outputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    std::fs::remove_dir_all(r.root.join("dist")).unwrap();
    assert!(r.build(&["--no-cache"]).contains("cache off"));
    let fresh: Vec<Vec<u8>> = outputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(cached, fresh);
}
