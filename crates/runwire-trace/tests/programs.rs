//! Real programs under the tracer. Each test asserts the paths and kinds it is about and
//! snapshots the part of the trace under its temp dir (paths relative to it).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

mod common;
use common::Root;

use runwire_trace::{AccessKind, IncompleteReason, PathAccess, Service, Trace, TracedCommand};

use AccessKind::{Create, Delete, ListDir, NotFound, Read, RenameFrom, RenameTo, Stat, Truncate};

fn entry<'a>(t: &'a Trace, rel: &str) -> &'a PathAccess {
    t.iter()
        .find(|a| a.path == Path::new(rel))
        .unwrap_or_else(|| panic!("{rel} not in trace:\n{t:#?}"))
}

fn position(t: &Trace, rel: &str) -> usize {
    t.iter()
        .position(|a| a.path == Path::new(rel))
        .unwrap_or_else(|| panic!("{rel} not in trace:\n{t:#?}"))
}

fn names(list: &[&str]) -> BTreeSet<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn cat_reads_and_probes() {
    let root = Root::new();
    root.file("a.txt", "hello\n");
    let out = root.run("cat", &["a.txt", "missing.txt"]);
    assert_eq!(out.status.code(), Some(1), "cat fails on the missing file");
    assert_eq!(out.stdout, b"hello\n");
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    // Outside the root too: the program itself and its libraries' data.
    let cat = ["/usr/bin/cat", "/bin/cat"]
        .iter()
        .find_map(|p| out.trace.get(Path::new(p)));
    assert_eq!(cat.map(|a| a.first), Some(Read), "the program file is read");
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "a.txt").first, Read);
    assert_eq!(entry(&t, "missing.txt").first, NotFound);
    assert!(position(&t, "a.txt") < position(&t, "missing.txt"));
    insta::assert_yaml_snapshot!(t);
}

#[test]
fn sh_redirections_and_subshell() {
    let root = Root::new();
    root.file("in.txt", "one\n").file("in2.txt", "two\n");
    let out = root.run_ok(
        "sh",
        &["-c", "cat in.txt > out.txt; (cat out.txt; echo x >> log.txt) 2> err.txt; cat < in2.txt > out2.txt"],
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    let o = entry(&t, "out.txt");
    assert_eq!(
        (o.first, o.later.clone()),
        (Truncate, BTreeSet::from([Read]))
    );
    assert_eq!(entry(&t, "in.txt").first, Read);
    assert_eq!(entry(&t, "err.txt").first, Truncate);
    // `>>` on a file that did not exist: its absence is an input (the next run appends to
    // what is there), then it is written in place (a probe before the open tells).
    let log = entry(&t, "log.txt");
    assert_eq!(
        (log.first, log.later.clone()),
        (NotFound, BTreeSet::from([AccessKind::Write]))
    );
    assert_eq!(entry(&t, "in2.txt").first, Read);
    assert_eq!(entry(&t, "out2.txt").first, Truncate);
    assert_eq!(
        fs::read_to_string(root.path.join("out2.txt")).unwrap(),
        "two\n"
    );
    insta::assert_yaml_snapshot!(t);
}

#[test]
fn rm_rf_lists_stats_then_deletes() {
    let root = Root::new();
    root.file("dir/a", "a")
        .file("dir/sub/b", "b")
        .dir("dir/empty");
    let out = root.run_ok("rm", &["-rf", "dir"]);
    assert!(!root.path.join("dir").exists());
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    let dir = entry(&t, "dir");
    assert!(
        dir.first.observes_prior_state(),
        "the top dir is probed first: {dir:?}"
    );
    assert!(dir.has(ListDir) && dir.has(Delete));
    assert_eq!(dir.names, names(&["a", "empty", "sub"]));
    assert_eq!(entry(&t, "dir/sub").names, names(&["b"]));
    for leaf in ["dir/a", "dir/sub/b", "dir/empty", "dir/sub"] {
        assert!(entry(&t, leaf).has(Delete), "{leaf} deleted");
    }
    // The listing of dir comes before any of its entries is touched, and each directory
    // is listed before it is deleted.
    assert!(position(&t, "dir") < position(&t, "dir/a"));
    assert!(position(&t, "dir/sub") < position(&t, "dir/sub/b"));
    // Listing order differs between file systems: snapshot sorted by path.
    insta::assert_yaml_snapshot!(t.into_sorted());
}

const JS_FS: &str = r"
const fs = require('fs');
fs.readFileSync('in.txt');
fs.readdirSync('d');
if (fs.existsSync('missing.txt')) throw new Error('missing exists');
fs.statSync('in.txt');
fs.writeFileSync('out.txt', 'x');
fs.readFileSync('out.txt');
fs.rmSync('d2', { recursive: true });
fs.renameSync('out.txt', 'moved.txt');
";

const PY_FS: &str = r"
import os, shutil
open('in.txt').read()
os.listdir('d')
assert not os.path.exists('missing.txt')
os.stat('in.txt')
with open('out.txt', 'w') as f: f.write('x')
open('out.txt').read()
shutil.rmtree('d2')
os.rename('out.txt', 'moved.txt')
";

fn fs_fixture() -> Root {
    let root = Root::new();
    root.file("in.txt", "in")
        .file("d/x", "")
        .file("d/y", "")
        .file("d2/z", "")
        .file("d2/deep/w", "");
    root
}

fn assert_fs_script(t: &Trace, root: &Root) {
    assert_eq!(entry(t, "in.txt").first, Read);
    assert!(entry(t, "in.txt").has(Stat));
    assert_eq!(entry(t, "d").names, names(&["x", "y"]));
    assert!(entry(t, "d").has(ListDir));
    assert_eq!(entry(t, "missing.txt").first, NotFound);
    let o = entry(t, "out.txt");
    assert_eq!(
        o.first, Truncate,
        "write-then-read keeps write first: {o:?}"
    );
    assert!(o.has(Read) && o.has(RenameFrom));
    assert_eq!(entry(t, "moved.txt").first, RenameTo);
    for gone in ["d2", "d2/z", "d2/deep", "d2/deep/w"] {
        assert!(entry(t, gone).has(Delete), "{gone} deleted");
    }
    assert!(!root.path.join("d2").exists());
    assert!(root.path.join("moved.txt").exists());
}

#[test]
fn node_fs_calls() {
    let root = fs_fixture();
    let out = root.run_ok("node", &["-e", JS_FS]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_fs_script(&t, &root);
    insta::assert_yaml_snapshot!(t.into_sorted());
}

#[test]
fn python_fs_calls() {
    let root = fs_fixture();
    // The interpreter itself, not a version-manager wrapper script that probes the cwd.
    let which = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(which.stdout).unwrap();
    let out = root.run_ok(python.trim(), &["-I", "-c", PY_FS]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_fs_script(&t, &root);
    insta::assert_yaml_snapshot!(t.into_sorted());
}

#[test]
fn grandchild_with_empty_environment_is_traced() {
    let root = Root::new();
    root.file("in.txt", "deep\n");
    let out = root.run_ok(
        "sh",
        &[
            "-c",
            "env -i /bin/sh -c 'cat in.txt; echo $LD_PRELOAD > seen.txt'",
        ],
    );
    assert_eq!(out.stdout, b"deep\n");
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "in.txt").first, Read);
    assert_eq!(entry(&t, "seen.txt").first, Truncate);
    let seen = fs::read_to_string(root.path.join("seen.txt")).unwrap();
    assert!(
        seen.contains("libruntrace-"),
        "LD_PRELOAD re-injected: {seen}"
    );
}

#[test]
fn relative_paths_after_chdir_and_via_dirfd() {
    let root = Root::new();
    root.file("sub/f.txt", "f").file("other/g.txt", "g");
    let prog = root.compile("fsops", &["-O0"]);
    let out = root.run_ok(prog.to_str().unwrap(), &[]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "sub").first, Stat, "chdir probes the directory");
    assert_eq!(entry(&t, "sub/f.txt").first, Read);
    assert_eq!(entry(&t, "other").first, Stat);
    let g = entry(&t, "other/g.txt");
    assert_eq!((g.first, g.later.clone()), (Read, BTreeSet::from([Stat])));
    assert_eq!(entry(&t, "other/missing").first, NotFound);
    let n = entry(&t, "other/new.txt");
    assert_eq!(
        (n.first, n.later.clone()),
        (Create, BTreeSet::from([Delete]))
    );
    assert_eq!(entry(&t, "other/h.txt").first, NotFound);
    insta::assert_yaml_snapshot!(t);
}

#[test]
fn write_then_read_keeps_write_first() {
    let root = Root::new();
    let out = root.run_ok(
        "sh",
        &[
            "-c",
            "echo a > f.txt; cat f.txt; cat g.txt 2>/dev/null; echo b > g.txt",
        ],
    );
    let t = root.local(&out.trace);
    let f = entry(&t, "f.txt");
    assert_eq!(
        (f.first, f.later.clone()),
        (Truncate, BTreeSet::from([Read]))
    );
    let g = entry(&t, "g.txt");
    assert_eq!(
        (g.first, g.later.clone()),
        (NotFound, BTreeSet::from([Truncate]))
    );
}

#[test]
fn appending_to_an_existing_file_reads_its_prior_content() {
    // `>>` keeps what was there: the result depends on the old content, so the tracer must
    // not report the file as a plain output (a cache would then restore over a newer file).
    let root = Root::new();
    root.file("old.txt", "kept\n");
    let out = root.run_ok("sh", &["-c", "echo a >> old.txt; echo b >> new.txt"]);
    let t = root.local(&out.trace);
    let old = entry(&t, "old.txt");
    assert_eq!(
        (old.first, old.later.clone()),
        (Read, BTreeSet::from([AccessKind::Write]))
    );
    let new = entry(&t, "new.txt");
    assert_eq!(
        (new.first, new.later.clone()),
        (NotFound, BTreeSet::from([AccessKind::Write])),
        "`>>` on a missing file: absent before, then appended to"
    );
}

#[test]
fn static_binary_without_seccomp_makes_the_trace_incomplete() {
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "busybox-static missing: run scripts/install.sh"
    );
    let root = Root::new();
    root.file("in.txt", "x");
    // Started inside the tree...
    let out = root.run_without_seccomp("sh", &["-c", "/bin/busybox cat in.txt > copy.txt"]);
    assert!(out.status.success());
    assert!(!out.trace.complete());
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary {
            program: bb.to_owned()
        }]
    );
    // ...what the shell itself did is still there.
    assert_eq!(entry(&root.local(&out.trace), "copy.txt").first, Truncate);
    // ...and as the root program.
    let out = root.run_without_seccomp("/bin/busybox", &["true"]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary {
            program: bb.to_owned()
        }]
    );
}

#[test]
fn setgid_program_makes_the_trace_incomplete() {
    // A setgid program whose group is not ours runs in secure mode: LD_PRELOAD is ignored.
    let root = Root::new();
    let prog = root.compile("uring", &["-O0"]);
    let st = Command::new("chgrp")
        .arg("65534")
        .arg(&prog)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "chgrp (the tests run as root or as a member of group 65534)"
    );
    let st = Command::new("chmod")
        .arg("g+s")
        .arg(&prog)
        .status()
        .unwrap();
    assert!(st.success());
    let out = root.run("sh", &["-c", &format!("{} || true", prog.display())]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::SetuidBinary {
            program: prog.clone()
        }]
    );
}

#[test]
fn gcc_static_program_without_seccomp_makes_the_trace_incomplete() {
    let root = Root::new();
    let prog = root.compile("uring", &["-static"]);
    let out = root.run_without_seccomp("sh", &["-c", &format!("{} || true", prog.display())]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary {
            program: prog.clone()
        }]
    );
}

#[test]
fn io_uring_forced_by_a_node_tool_falls_back_and_is_traced() {
    let root = Root::new();
    root.file("in.txt", "x");
    let tool = r"
const { execFileSync } = require('child_process');
execFileSync(process.execPath, ['-e', 'require(`fs`).readFile(`in.txt`, () => {})'],
  { env: { ...process.env, UV_USE_IO_URING: '1' } });
";
    let out = root.run_ok("node", &["-e", tool]);
    // io_uring_setup answers ENOSYS under the tracer: libuv falls back to its thread pool,
    // whose reads the shim sees.
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(entry(&root.local(&out.trace), "in.txt").first, Read);
}

#[test]
fn io_uring_setup_through_syscall_gets_enosys() {
    // Independent of node's libuv version: the raw call libuv makes is refused with ENOSYS
    // (the program exits 3 when setup fails), so no ring exists and the trace is complete.
    let root = Root::new();
    let prog = root.compile("uring", &["-O0"]);
    let out = root.run(&prog, &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
}

#[test]
fn node_without_forcing_io_uring_stays_complete() {
    let root = Root::new();
    root.file("in.txt", "x");
    let out = root.run_ok(
        "node",
        &[
            "-e",
            "require('fs').readFile('in.txt', (e) => { if (e) throw e; })",
        ],
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(entry(&root.local(&out.trace), "in.txt").first, Read);
}

#[test]
fn crashing_tool_keeps_events_before_the_crash() {
    let root = Root::new();
    root.file("before.txt", "b");
    let prog = root.compile("crash", &["-O0"]);
    let out = root.run(&prog, &[]);
    assert_eq!(
        out.status.signal(),
        Some(11),
        "dies by SIGSEGV: {}",
        out.status
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "before.txt").first, Read);
    assert_eq!(entry(&t, "written.txt").first, Truncate);
}

#[test]
fn ring_overflow_is_reported_never_silent() {
    let root = Root::new();
    let files: Vec<String> = (0..200).map(|i| format!("f{i:03}.txt")).collect();
    for f in &files {
        root.file(f, "x");
    }
    let out = TracedCommand::new("cat")
        .args(&files)
        .current_dir(&root.path)
        .ring_capacity(8192)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.trace
            .incomplete_reasons()
            .contains(&IncompleteReason::RingOverflow)
    );
}

#[test]
fn failed_exec_in_path_search_is_not_an_untraced_process() {
    let root = Root::new();
    let out = root.run("sh", &["-c", "no-such-command-xyz 2>/dev/null; exit 0"]);
    assert!(out.status.success());
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
}

#[test]
fn env_clear_still_traces() {
    let root = Root::new();
    root.file("in.txt", "x");
    let out = TracedCommand::new("/bin/cat")
        .arg("in.txt")
        .env_clear()
        .current_dir(&root.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(entry(&root.local(&out.trace), "in.txt").first, Read);
}

#[test]
fn descendants_outliving_the_root_make_the_trace_incomplete() {
    let root = Root::new();
    // The background sleep is traced and still running when sh exits.
    let out = TracedCommand::new("sh")
        .args(["-c", "sleep 60 > /dev/null 2>&1 & echo $!"])
        .current_dir(&root.path)
        .linger(std::time::Duration::ZERO)
        .output()
        .unwrap();
    let pid = String::from_utf8(out.stdout).unwrap();
    let _ = Command::new("kill").arg(pid.trim()).status();
    assert!(out.status.success());
    let reasons = out.trace.incomplete_reasons();
    assert!(
        reasons.contains(&IncompleteReason::ProcessesStillRunning),
        "{reasons:?}"
    );
    // The sleep may still be starting (its loader's reads being recorded) when the ring is
    // read: its half-written record is torn, the same doubt seen from the ring (seen in CI
    // on 2 busy cores).
    assert!(
        reasons.iter().all(|r| matches!(
            r,
            IncompleteReason::ProcessesStillRunning | IncompleteReason::TornRecord
        )),
        "{reasons:?}"
    );
}

#[test]
fn descendants_that_finish_within_the_linger_time_are_waited_for() {
    let root = Root::new();
    root.file("in.txt", "x");
    // The background job holds the liveness lock until it exits after the root; it
    // waits on a FIFO the test opens only after the root exited, so ordering is fixed.
    let fifo = root.path.join("go");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let child = TracedCommand::new("sh")
        .args([
            "-c",
            "(read x < go; cat in.txt > /dev/null) > /dev/null 2>&1 &",
        ])
        .current_dir(&root.path)
        .linger(std::time::Duration::from_secs(60))
        .spawn()
        .unwrap();
    // Wait until the root has exited (a zombie: we have not reaped it), then release the
    // background job, which is now a traced descendant outliving the root.
    let status = format!("/proc/{}/status", child.id());
    while !fs::read_to_string(&status).is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    }) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    fs::write(&fifo, "go\n").unwrap();
    let outcome = child.wait().unwrap();
    assert!(
        outcome.trace.complete(),
        "{:?}",
        outcome.trace.incomplete_reasons()
    );
    assert_eq!(entry(&root.local(&outcome.trace), "in.txt").first, Read);
}

#[test]
fn path_lookups_record_the_misses() {
    // A command that later appears in an earlier PATH directory (node_modules/.bin)
    // changes what runs: the misses are NotFound probes, from sh and from node (execvp).
    let root = Root::new();
    root.file("in.txt", "x").dir("bin1");
    let path = format!(
        "{}:{}",
        root.path.join("bin1").display(),
        std::env::var("PATH").unwrap()
    );
    let js = "require('child_process').execFileSync('cat', ['in.txt'])";
    let out = TracedCommand::new("sh")
        .args(["-c", &format!("cat in.txt > /dev/null && node -e \"{js}\"")])
        .env("PATH", &path)
        .current_dir(&root.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "bin1/cat").first, NotFound);
    assert_eq!(entry(&t, "bin1/node").first, NotFound);
}

#[test]
fn posix_spawn_with_empty_environment_is_traced() {
    let root = Root::new();
    root.file("in.txt", "x");
    let py = "import os\npid = os.posix_spawnp('cat', ['cat', 'in.txt'], {})\nassert os.waitpid(pid, 0)[1] == 0";
    let which = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(which.stdout).unwrap();
    let out = root.run_ok(python.trim(), &["-I", "-c", py]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(entry(&root.local(&out.trace), "in.txt").first, Read);
}

#[test]
fn coreutils_mkdir_links_readlink_mv_rmdir() {
    let root = Root::new();
    root.file("in.txt", "x").file("old.txt", "o");
    let out = root.run_ok(
        "sh",
        &[
            "-c",
            "mkdir newdir && ln -s in.txt soft && ln in.txt hard && readlink soft > /dev/null \
               && mv old.txt newdir/moved.txt && mkdir gone && rmdir gone",
        ],
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert!(entry(&t, "newdir").has(Create));
    assert!(entry(&t, "soft").has(Create));
    assert!(entry(&t, "soft").has(Read), "readlink reads the link");
    assert!(
        entry(&t, "in.txt").has(Read),
        "a hard link's source is read"
    );
    assert!(entry(&t, "hard").has(Create));
    assert!(entry(&t, "old.txt").has(RenameFrom));
    assert!(entry(&t, "newdir/moved.txt").has(RenameTo));
    let gone = entry(&t, "gone");
    assert!(gone.has(Create) && gone.has(Delete));
}

#[test]
fn non_utf8_names_are_kept_as_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let root = Root::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    fs::write(root.path.join(name), "x").unwrap();
    let out = TracedCommand::new("cat")
        .arg(name)
        .current_dir(&root.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.trace.get(&root.path.join(name)).map(|a| a.first),
        Some(Read)
    );
}

#[test]
fn system_and_popen_after_unsetenv_are_traced() {
    let root = Root::new();
    root.file("in.txt", "x").file("in2.txt", "y");
    let prog = root.compile("stripenv", &["-O0"]);
    let out = root.run_ok(prog.to_str().unwrap(), &[]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "in.txt").first, Read);
    assert_eq!(entry(&t, "in2.txt").first, Read);
}

#[test]
fn concurrent_appends_from_many_threads_lose_nothing() {
    // libuv's thread pool opens these in parallel: every path must be in the ring.
    let root = Root::new();
    for i in 0..400 {
        root.file(&format!("many/f{i}.txt"), "x");
    }
    let js = "const fs = require('fs');
Promise.all(Array.from({ length: 400 }, (_, i) => fs.promises.readFile(`many/f${i}.txt`)))
  .then((all) => { if (all.length !== 400) process.exit(3); });";
    let out = TracedCommand::new("node")
        .args(["-e", js])
        .env("UV_THREADPOOL_SIZE", "8")
        .current_dir(&root.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    let t = root.local(&out.trace);
    for i in 0..400 {
        assert_eq!(entry(&t, &format!("many/f{i}.txt")).first, Read);
    }
}

#[test]
fn read_write_create_open_tells_new_from_existing() {
    // O_RDWR|O_CREAT (sqlite): an existing file's content was an input, a new file was only
    // created. With O_APPEND (fopen "a+") a new file's absence was an input too.
    let root = Root::new();
    root.file("exist.bin", "old");
    let out = root.run_ok(
        "python3",
        &[
            "-I",
            "-c",
            "import os; os.close(os.open('db.bin', os.O_RDWR | os.O_CREAT)); \
             open('new.bin', 'a+').close(); open('exist.bin', 'a+').close()",
        ],
    );
    let t = root.local(&out.trace);
    let db = entry(&t, "db.bin");
    assert_eq!((db.first, db.later.clone()), (Create, BTreeSet::new()));
    let new = entry(&t, "new.bin");
    assert_eq!(
        (new.first, new.later.clone()),
        (NotFound, BTreeSet::from([AccessKind::Write]))
    );
    let old = entry(&t, "exist.bin");
    assert_eq!(
        (old.first, old.later.clone()),
        (Read, BTreeSet::from([AccessKind::Write]))
    );
}

#[test]
fn dlopen_by_path_is_a_read_and_bare_names_keep_the_callers_runpath() {
    let root = Root::new();
    let lib_dir = root.path.join(".bin/lib");
    fs::create_dir_all(&lib_dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/dlx.c");
    let lib = lib_dir.join("libdlx.so");
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let prog = root.compile("dl", &["-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib", "-ldl"]);
    // Loading by path: the library file is an input.
    let out = root.run_ok(prog.to_str().unwrap(), &[".bin/lib/libdlx.so"]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(
        entry(&root.local(&out.trace), ".bin/lib/libdlx.so").first,
        Read
    );
}

#[test]
fn go_program_without_seccomp_makes_the_trace_incomplete() {
    // Dynamically linked (cgo) Go programs still bypass libc for files; the Go build-id
    // note marks them. Checked both inside the tree (shim) and as the root (supervisor).
    // With seccomp on they are traced (tests/seccomp.rs).
    let root = Root::new();
    let prog = root.compile("gonote", &["-O0"]);
    let reason = IncompleteReason::GoBinary {
        program: prog.clone(),
    };
    let out = root.run_without_seccomp("sh", &["-c", &format!("{}", prog.display())]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        std::slice::from_ref(&reason)
    );
    let out = root.run_without_seccomp(prog.to_str().unwrap(), &[]);
    assert_eq!(out.trace.incomplete_reasons(), &[reason]);
}

#[test]
fn setting_times_is_a_write_in_place() {
    // `touch -c` and node's fs.utimesSync (tsc -b on its .tsbuildinfo) change a file's times
    // and ctime without opening it: recorded as a write, so the engine knows the task
    // changed it (and a refused call stays a probe).
    let root = Root::new();
    root.file("stamp", "").file("state.json", "{}");
    let out = root.run_ok(
        "sh",
        &[
            "-c",
            "touch -c stamp missing; node -e \"require('fs').utimesSync('state.json', 1, 2)\"",
        ],
    );
    let t = root.local(&out.trace);
    let wrote = |rel: &str| {
        t.iter()
            .find(|a| a.path == Path::new(rel))
            .is_some_and(|a| a.first == AccessKind::Write || a.later.contains(&AccessKind::Write))
    };
    assert!(wrote("stamp"), "{t:#?}");
    assert!(
        !wrote("missing"),
        "`touch -c` of a missing file writes nothing: {t:#?}"
    );
    let state = entry(&t, "state.json");
    assert_eq!(state.first, AccessKind::Write, "{t:#?}");
}

#[test]
fn cp_onto_an_existing_file_stats_it_first() {
    // cp opens its target with O_DIRECTORY first; the ENOTDIR of an existing file must read
    // as "something is there", not "not found" (the engine keeps its mode as an input).
    let root = Root::new();
    root.file("in.sh", "echo hi\n").file("out.sh", "old\n");
    let out = root.run_ok("cp", &["in.sh", "out.sh"]);
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "out.sh").first, Stat, "{t:#?}");
    let out = root.run_ok("cp", &["in.sh", "fresh.sh"]);
    let t = root.local(&out.trace);
    assert_eq!(entry(&t, "fresh.sh").first, NotFound, "{t:#?}");
}

#[test]
fn servers_and_watchers_are_named_and_the_trace_stays_complete() {
    let root = Root::new();
    let prog = root.compile("serve", &["-O0"]);
    let out = root.run_ok(prog.to_str().unwrap(), &["fanotify"]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(out.trace.services(), common::serve_services(&prog));
    // Node's servers and fs.watch go through libuv's libc calls.
    let js = "require('fs').watch('.').close();
require('net').createServer().listen(0, '127.0.0.1', function () { this.close(); });";
    let out = root.run_ok("node", &["-e", js]);
    let codes: Vec<_> = out.trace.services().iter().map(Service::code).collect();
    assert_eq!(codes, ["trace-inotify", "trace-listen"]);
}

#[test]
fn a_plain_build_is_no_service() {
    let root = Root::new();
    root.file("in.txt", "x");
    let out = root.run_ok("cat", &["in.txt"]);
    assert!(out.trace.services().is_empty());
}
