//! Static programs traced through seccomp user notification: each run is compared with
//! the shim's trace of the dynamic equivalent, in the same test.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::Root;

use runwire_trace::{AccessKind, IncompleteReason, Trace, TracedOutput};

use AccessKind::{Create, Delete, ListDir, NotFound, Read, RenameFrom, Stat, Truncate};

const BUSYBOX: &str = "/bin/busybox";

/// (path, first kind, later kinds, names) under the root: what must agree between the shim
/// and the seccomp supervisor.
type Decisive = Vec<(PathBuf, bool, bool, BTreeSet<std::ffi::OsString>)>;
type Summary = Vec<(
    PathBuf,
    AccessKind,
    BTreeSet<AccessKind>,
    BTreeSet<std::ffi::OsString>,
)>;

fn summary(t: &Trace) -> Summary {
    t.sorted()
        .into_iter()
        .filter(|a| !a.path.starts_with(".bin"))
        .map(|a| (a.path.clone(), a.first, a.later.clone(), a.names.clone()))
        .collect()
}

fn complete(out: &TracedOutput) {
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
}

#[test]
fn busybox_cat_matches_coreutils_cat() {
    let root = Root::new();
    root.file("a.txt", "hello\n");
    let dynamic = root.run_ok(
        "sh",
        &["-c", "cat a.txt; cat missing.txt 2>/dev/null; true"],
    );
    let stat = root.run_ok(
        BUSYBOX,
        &["sh", "-c", "cat a.txt; cat missing.txt 2>/dev/null; true"],
    );
    complete(&dynamic);
    complete(&stat);
    assert_eq!(stat.stdout, b"hello\n");
    let (d, s) = (root.local(&dynamic.trace), root.local(&stat.trace));
    assert_eq!(summary(&s), summary(&d));
    let a = s.iter().find(|a| a.path == Path::new("a.txt")).unwrap();
    assert_eq!(a.first, AccessKind::Read);
    // The program file itself is recorded as read, as the shim does for an exec.
    assert_eq!(
        stat.trace.get(Path::new(BUSYBOX)).map(|a| a.first),
        Some(AccessKind::Read)
    );
}

#[test]
fn static_program_traces_like_its_dynamic_build() {
    let setup = |root: &Root| {
        root.file("in.txt", "in").file("d/a", "a").file("d/b", "b");
    };
    let dyn_root = Root::new();
    setup(&dyn_root);
    let prog = dyn_root.compile("rawfs", &[]);
    let dynamic = dyn_root.run_ok(prog.to_str().unwrap(), &[]);
    let st_root = Root::new();
    setup(&st_root);
    let prog = st_root.compile("rawfs", &["-static"]);
    let stat = st_root.run_ok(prog.to_str().unwrap(), &[]);
    complete(&dynamic);
    complete(&stat);
    let (d, s) = (dyn_root.local(&dynamic.trace), st_root.local(&stat.trace));
    assert_eq!(summary(&s), summary(&d));
    // The shim's view, spelled out (so an empty trace on both sides cannot pass).
    let kind = |p: &str| s.iter().find(|a| a.path == Path::new(p)).map(|a| a.first);
    assert_eq!(kind("in.txt"), Some(Read));
    assert_eq!(kind("nothing.txt"), Some(NotFound));
    assert_eq!(kind("d"), Some(Stat));
    assert!(s.iter().any(|a| a.path == Path::new("d") && a.has(ListDir)));
    assert_eq!(kind("d/a"), Some(Stat));
    assert_eq!(kind("d/zz"), Some(NotFound));
    assert_eq!(kind("d/new.txt"), Some(Create));
    assert!(
        s.iter()
            .any(|a| a.path == Path::new("d/new.txt") && a.has(RenameFrom))
    );
    assert_eq!(kind("out.txt"), Some(Truncate));
    assert_eq!(kind("made"), Some(Create));
    assert_eq!(kind("link"), Some(Create));
    assert_eq!(kind("gone.txt"), Some(NotFound));
    let log = s.iter().find(|a| a.path == Path::new("log.txt")).unwrap();
    assert_eq!(
        (log.first, log.later.clone()),
        (NotFound, BTreeSet::from([Read, AccessKind::Write]))
    );
    assert_eq!(kind("d/b"), Some(Delete));
}

/// Busybox and coreutils are different programs (busybox `cp` stats the target first,
/// `ls` stats every entry): compare what decides caching. Per path recorded by both: is
/// its prior state an input (not asked of deleted paths: busybox `rm` stats each entry
/// first, and the runner's emptied-directory rule drops those stats anyway), is it
/// changed, which names were listed.
fn decisive(t: &Trace) -> Decisive {
    t.sorted()
        .into_iter()
        .map(|a| {
            (
                a.path.clone(),
                a.first.observes_prior_state() && !a.has(AccessKind::Delete),
                a.kinds().any(AccessKind::modifies),
                a.names.clone(),
            )
        })
        .collect()
}

fn common(a: &Trace, b: &Trace) -> (Decisive, Decisive) {
    let in_b = |p: &Path| b.iter().any(|x| x.path == p);
    let in_a = |p: &Path| a.iter().any(|x| x.path == p);
    (
        decisive(a).into_iter().filter(|e| in_b(&e.0)).collect(),
        decisive(b).into_iter().filter(|e| in_a(&e.0)).collect(),
    )
}

#[test]
fn busybox_ls_rm_cp_match_coreutils() {
    let script = "ls -a d > /dev/null; cp d/a copy.txt; rm -rf gone; ls missing 2>/dev/null; true";
    let setup = |root: &Root| {
        root.file("d/a", "a").file("d/sub/b", "b");
        root.file("gone/x", "x").file("gone/deep/y", "y");
    };
    let dyn_root = Root::new();
    setup(&dyn_root);
    let dynamic = dyn_root.run_ok("sh", &["-c", script]);
    let st_root = Root::new();
    setup(&st_root);
    let stat = st_root.run_ok(BUSYBOX, &["sh", "-c", script]);
    complete(&dynamic);
    complete(&stat);
    let (d, s) = (dyn_root.local(&dynamic.trace), st_root.local(&stat.trace));
    let (cd, cs) = common(&d, &s);
    assert_eq!(cs, cd);
    assert!(cs.len() >= 8, "{cs:#?}");
    let dir = s.iter().find(|a| a.path == Path::new("d")).unwrap();
    assert!(dir.has(AccessKind::ListDir));
    assert_eq!(dir.names, ["a", "sub"].iter().map(Into::into).collect());
    let copy = s.iter().find(|a| a.path == Path::new("copy.txt")).unwrap();
    assert!(copy.kinds().any(AccessKind::modifies), "{copy:?}");
    assert!(!st_root.path.join("gone").exists());
    for gone in ["gone", "gone/x", "gone/deep", "gone/deep/y"] {
        let a = s.iter().find(|a| a.path == Path::new(gone)).unwrap();
        assert!(a.has(AccessKind::Delete), "{a:?}");
    }
}

#[test]
fn touch_and_chmod_are_writes_for_busybox_and_coreutils() {
    // Times and modes change a file without touching its content: a task whose whole work
    // is `chmod +x` or `touch -d` has outputs a hit must restore. Through the shim
    // (coreutils) and through the seccomp filter (busybox) alike.
    let script = "touch -d @1000000000 stamp; chmod +x tool.sh; true";
    let setup = |root: &Root| {
        root.file("stamp", "").file("tool.sh", "echo hi\n");
    };
    let dyn_root = Root::new();
    setup(&dyn_root);
    let dynamic = dyn_root.run_ok("sh", &["-c", script]);
    let st_root = Root::new();
    setup(&st_root);
    let stat = st_root.run_ok(BUSYBOX, &["sh", "-c", script]);
    for (root, out) in [(&dyn_root, &dynamic), (&st_root, &stat)] {
        complete(out);
        let t = root.local(&out.trace);
        for p in ["stamp", "tool.sh"] {
            let a = t.iter().find(|a| a.path == Path::new(p));
            assert!(
                a.is_some_and(|a| a.kinds().any(AccessKind::modifies)),
                "{p}: {a:?} in {t:#?}"
            );
        }
    }
}

#[test]
fn dynamic_shell_running_busybox_matches_coreutils() {
    let script = "cat in.txt > copy.txt; ls d > list.txt";
    let setup = |root: &Root| {
        root.file("in.txt", "in").file("d/a", "a").file("d/b", "b");
    };
    let (dr, sr) = (Root::new(), Root::new());
    setup(&dr);
    setup(&sr);
    let dynamic = dr.run_ok("sh", &["-c", script]);
    let stat = sr.run_ok(
        "sh",
        &[
            "-c",
            &script
                .replace("cat", "/bin/busybox cat")
                .replace("ls", "/bin/busybox ls"),
        ],
    );
    complete(&dynamic);
    complete(&stat);
    assert_eq!(
        fs::read_to_string(sr.path.join("list.txt")).unwrap(),
        "a\nb\n"
    );
    let (d, s) = (dr.local(&dynamic.trace), sr.local(&stat.trace));
    let (cd, cs) = common(&d, &s);
    assert_eq!(cs, cd);
    let find = |p: &str| s.iter().find(|a| a.path == Path::new(p)).cloned().unwrap();
    assert_eq!(find("in.txt").first, AccessKind::Read);
    assert_eq!(find("copy.txt").first, AccessKind::Truncate);
    assert_eq!(find("d").names, ["a", "b"].iter().map(Into::into).collect());
}

#[test]
fn busybox_sh_pipelines_match_dash_and_coreutils() {
    let script = "cat in.txt | sort > sorted.txt; ls d | wc -l > count.txt; (cat sorted.txt; echo x) >> log.txt";
    let setup = |root: &Root| {
        root.file("in.txt", "b\na\n")
            .file("d/a", "a")
            .file("d/b", "b");
    };
    let (dr, sr) = (Root::new(), Root::new());
    setup(&dr);
    setup(&sr);
    let dynamic = dr.run_ok("sh", &["-c", script]);
    let stat = sr.run_ok(BUSYBOX, &["sh", "-c", script]);
    complete(&dynamic);
    complete(&stat);
    assert_eq!(
        fs::read_to_string(sr.path.join("sorted.txt")).unwrap(),
        "a\nb\n"
    );
    let (d, s) = (dr.local(&dynamic.trace), sr.local(&stat.trace));
    let (cd, cs) = common(&d, &s);
    assert_eq!(cs, cd);
    let find = |p: &str| s.iter().find(|a| a.path == Path::new(p)).cloned().unwrap();
    assert_eq!(find("in.txt").first, AccessKind::Read);
    assert_eq!(find("sorted.txt").first, AccessKind::Truncate);
    assert!(find("sorted.txt").has(AccessKind::Read));
    assert_eq!(find("count.txt").first, AccessKind::Truncate);
    assert_eq!(find("log.txt").first, NotFound, "`>>` on a new file");
    assert!(find("log.txt").has(AccessKind::Write));
    assert_eq!(find("d").names, ["a", "b"].iter().map(Into::into).collect());
}

#[test]
fn static_and_dynamic_programs_nest_both_ways() {
    let root = Root::new();
    root.file("one.txt", "1")
        .file("two.txt", "2")
        .file("three.txt", "3");
    // dynamic sh -> static busybox sh -> dynamic cat, and -> env -i dynamic sh -> static
    // busybox cat (no shim left below env -i: the inherited filter still sees it).
    let inner =
        "/bin/cat one.txt > /dev/null; env -i /bin/sh -c '/bin/busybox cat two.txt' > /dev/null";
    let out = root.run_ok(
        "sh",
        &[
            "-c",
            &format!("/bin/busybox sh -c \"{inner}\"; cat three.txt > /dev/null"),
        ],
    );
    complete(&out);
    let t = root.local(&out.trace);
    for f in ["one.txt", "two.txt", "three.txt"] {
        let a = t.iter().find(|a| a.path == Path::new(f));
        assert_eq!(a.map(|a| a.first), Some(AccessKind::Read), "{f}: {t:#?}");
    }
    // And a static root running a dynamic program.
    let out = root.run_ok(BUSYBOX, &["sh", "-c", "/bin/cat one.txt > copy.txt"]);
    complete(&out);
    let t = root.local(&out.trace);
    let copy = t.iter().find(|a| a.path == Path::new("copy.txt")).unwrap();
    assert_eq!(copy.first, AccessKind::Truncate);
    assert!(
        out.trace
            .get(Path::new("/usr/bin/cat"))
            .or_else(|| out.trace.get(Path::new("/bin/cat")))
            .is_some()
    );
}

#[test]
fn static_io_uring_setup_is_incomplete() {
    let root = Root::new();
    let prog = root.compile("uring", &["-static"]);
    let out = root.run(&prog, &[]);
    // Recorded when the call is made, before its outcome is known: even a setup the
    // kernel then refuses counts (conservative).
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::IoUring { program: prog }]
    );
}

#[test]
fn switched_off_static_runs_are_incomplete() {
    let root = Root::new();
    root.file("a.txt", "x");
    let out = root.run_ok_with(Some(false), BUSYBOX, &["cat", "a.txt"]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary {
            program: BUSYBOX.into()
        }]
    );
    let out = root.run_ok_with(Some(false), "sh", &["-c", "/bin/busybox cat a.txt"]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary {
            program: BUSYBOX.into()
        }]
    );
    let prog = root.compile("rawfs", &["-static"]);
    let out = root.run_without_seccomp(&prog, &[]);
    assert_eq!(
        out.trace.incomplete_reasons(),
        &[IncompleteReason::StaticBinary { program: prog }]
    );
}

#[test]
fn a_filter_that_cannot_be_installed_falls_back_to_incomplete_with_the_cause() {
    // Under someone else's listener a second one fails with EBUSY, for real.
    let root = Root::new();
    root.file("a.txt", "x");
    let helper = root.compile("listener", &[]);
    let out = root.run_ok(
        helper.to_str().unwrap(),
        &["/bin/sh", "-c", "/bin/busybox cat a.txt"],
    );
    let [IncompleteReason::SeccompUnavailable { program, cause }] = out.trace.incomplete_reasons()
    else {
        panic!("{:?}", out.trace.incomplete_reasons());
    };
    assert_eq!(program, Path::new(BUSYBOX));
    assert!(cause.contains("busy"), "{cause}");
}

#[test]
fn env_switch_turns_seccomp_off() {
    // The variable is read from the runner's environment: check it in a fresh copy of
    // this test binary (setting it here would race with the other tests' threads).
    if std::env::var_os("RUNWIRE_TRACE_SECCOMP").is_some_and(|v| v == "0") {
        let root = Root::new();
        root.file("a.txt", "x");
        let out = root.run(BUSYBOX, &["cat", "a.txt"]);
        assert_eq!(
            out.trace.incomplete_reasons(),
            &[IncompleteReason::StaticBinary {
                program: BUSYBOX.into()
            }]
        );
        println!("checked with RUNWIRE_TRACE_SECCOMP=0");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "env_switch_turns_seccomp_off", "--nocapture"])
        .env("RUNWIRE_TRACE_SECCOMP", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("checked with RUNWIRE_TRACE_SECCOMP=0"),
        "{text}"
    );
}

#[test]
fn dynamic_go_program_is_traced_through_seccomp() {
    // A cgo-style Go program (dynamic, Go build-id note) opens files with raw system
    // calls: the shim cannot see them, the filter does. Inside a tree and as the root.
    let root = Root::new();
    root.file("in.txt", "x");
    let prog = root.compile("gonote", &["-O0"]);
    let p = prog.to_str().unwrap();
    for out in [
        root.run_ok("sh", &["-c", &format!("{p} in.txt")]),
        root.run_ok(p, &["in.txt"]),
    ] {
        complete(&out);
        let t = root.local(&out.trace);
        let a = t.iter().find(|a| a.path == Path::new("in.txt"));
        assert_eq!(a.map(|a| a.first), Some(Read), "{t:#?}");
    }
}

#[test]
fn working_directory_changes_are_followed() {
    // chdir, fchdir, a failed chdir and a thread after a chdir: every relative open lands
    // in the directory the process was in, as the shim records for the dynamic build.
    let setup = |root: &Root| {
        root.file("a.txt", "")
            .file("one/a.txt", "")
            .file("two/a.txt", "")
            .file("two/b.txt", "")
            .file("three/t.txt", "");
    };
    let (dr, sr) = (Root::new(), Root::new());
    setup(&dr);
    setup(&sr);
    let prog = dr.compile("chdirs", &["-pthread"]);
    let dynamic = dr.run_ok(prog.to_str().unwrap(), &[]);
    let prog = sr.compile("chdirs", &["-pthread", "-static"]);
    let stat = sr.run_ok(prog.to_str().unwrap(), &[]);
    complete(&dynamic);
    complete(&stat);
    let (d, s) = (dr.local(&dynamic.trace), sr.local(&stat.trace));
    assert_eq!(summary(&s), summary(&d));
    for p in [
        "a.txt",
        "one/a.txt",
        "two/a.txt",
        "two/b.txt",
        "three/t.txt",
    ] {
        let first = s.iter().find(|a| a.path == Path::new(p)).map(|a| a.first);
        assert_eq!(first, Some(Read), "{p}");
    }
    assert!(s.iter().all(|a| a.path != Path::new("b.txt")));
}

#[test]
fn hundreds_of_processes_under_one_filter_are_all_recorded() {
    // More traced processes than the supervisor keeps /proc/PID/mem open for: each one's
    // read is still recorded (the per-process cache is dropped and rebuilt, not leaked).
    let root = Root::new();
    for i in 0..300 {
        root.file(&format!("f/{i}.txt"), "x");
    }
    let script = "i=0; while [ $i -lt 300 ]; do /bin/busybox cat f/$i.txt; i=$((i+1)); done";
    let out = root.run_ok(BUSYBOX, &["sh", "-c", script]);
    complete(&out);
    assert_eq!(out.stdout.len(), 300);
    let t = root.local(&out.trace);
    for i in 0..300 {
        let p = PathBuf::from(format!("f/{i}.txt"));
        let first = t.iter().find(|a| a.path == p).map(|a| a.first);
        assert_eq!(first, Some(Read), "{}", p.display());
    }
}

#[test]
fn static_servers_and_watchers_are_seen_through_seccomp() {
    let root = Root::new();
    let prog = root.compile("serve", &["-static"]);
    let out = root.run_ok(prog.to_str().unwrap(), &["fanotify"]);
    assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
    assert_eq!(out.trace.services(), common::serve_services(&prog));
}

#[test]
fn go_build_with_the_real_toolchain_is_traced() {
    // Debian's `go` is a dynamically linked Go program (cgo): it makes its file system
    // calls directly, so only the seccomp filter sees them. Its ELF note is named
    // "Go\0\0" (namesz 4): missed, `go build` ran untraced while the trace said complete.
    let root = Root::new();
    root.file("go.mod", "module example.com/app\n\ngo 1.19\n");
    root.file(
        "main.go",
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
    );
    let out = root.run_ok(
        "sh",
        &["-c", "go build -o out/app . && ./out/app > out/result.txt"],
    );
    complete(&out);
    let t = root.local(&out.trace);
    let read = |p: &str| t.iter().any(|a| a.path == Path::new(p) && a.has(Read));
    assert!(read("main.go") && read("go.mod"), "{t:#?}");
    // go build probes out/app, then writes it; the shell runs it after: never an input.
    let app = t.iter().find(|a| a.path == Path::new("out/app")).unwrap();
    assert!(
        app.first.modifies() || app.kinds().any(AccessKind::modifies),
        "{app:#?}"
    );
}
