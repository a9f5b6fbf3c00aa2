//! Tracer overhead: `cargo bench -p runwire-trace`.
//!
//! Three workloads, each run untraced (baseline), under runwire-trace (contender) and under
//! `strace -f -e trace=file -o /dev/null` (the peer): a node script reading 5,000 small
//! files and listing 500 directories, a shell loop of 2,000 `cat`s, and busybox-static
//! (traced through seccomp user notification, not the shim) globbing 500 directories and
//! `cat`ing the 5,000 files. Runs are interleaved and the median wall time is reported
//! with the ratio to the baseline. Goals: <= 1.10x on the node workload, <= 1.5x on the
//! busybox-static one. The busybox workload also runs under the "floor": the same filter
//! with a handler that answers every notification CONTINUE without reading it, i.e. what
//! the kernel's two context switches per notified call cost on this machine before the
//! supervisor does any work.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runwire_trace::TracedCommand;

const NODE_SCRIPT: &str = r"
const fs = require('fs');
const path = require('path');
const root = process.argv[1];
let bytes = 0, names = 0;
for (const d of fs.readdirSync(root)) {
  const dir = path.join(root, d);
  const entries = fs.readdirSync(dir);
  names += entries.length;
  for (const f of entries) bytes += fs.readFileSync(path.join(dir, f)).length;
}
if (names !== 5000) throw new Error('expected 5000 files, saw ' + names);
";

const BUSYBOX_CAT: &str = "cd \"$1\" && cat d*/f*.txt > /dev/null";

const SHELL_LOOP: &str = "i=0; while [ $i -lt 2000 ]; do cat \"$1\" > /dev/null; i=$((i+1)); done";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Untraced,
    Traced,
    Strace,
    /// Seccomp only: the same filter, every notification answered CONTINUE unread.
    Floor,
}

/// CPU time (user + system) of this process and its waited-for children so far.
fn cpu_time() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage fills the struct it is given.
        let ru = unsafe {
            assert_eq!(libc::getrusage(who, ru.as_mut_ptr()), 0);
            ru.assume_init()
        };
        for tv in [ru.ru_utime, ru.ru_stime] {
            let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
            let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
            total += Duration::from_secs(secs) + Duration::from_micros(micros);
        }
    }
    total
}

/// Wall time and CPU time of one run (CPU time is robust when the machine is loaded).
fn run(mode: Mode, program: &str, args: &[&str]) -> (Duration, Duration) {
    let cpu = cpu_time();
    let start = Instant::now();
    match mode {
        Mode::Untraced => {
            let st = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "{program} failed");
        }
        Mode::Traced => {
            let out = TracedCommand::new(program)
                .args(args)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
                .wait()
                .unwrap();
            assert!(out.status.success(), "{program} failed under the tracer");
            assert!(out.trace.complete(), "{:?}", out.trace.incomplete_reasons());
            std::hint::black_box(out.trace.len());
        }
        Mode::Floor => {
            let st = runwire_trace::floor::run_continue_only(
                Command::new(program).args(args).stdout(Stdio::null()),
            )
            .unwrap();
            assert!(st.success(), "{program} failed under the floor handler");
        }
        Mode::Strace => {
            let st = Command::new("strace")
                .args(["-f", "-e", "trace=file", "-o", "/dev/null", program])
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "strace {program} failed");
        }
    }
    (start.elapsed(), cpu_time().saturating_sub(cpu))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Returns the traced / untraced ratio of the medians.
fn bench(
    name: &str,
    rounds: usize,
    program: &str,
    args: &[&str],
    strace: bool,
    floor: bool,
) -> f64 {
    let mut modes = vec![Mode::Untraced, Mode::Traced];
    if floor {
        modes.push(Mode::Floor);
    }
    if strace {
        modes.push(Mode::Strace);
    }
    // One warm-up each (page cache, shim materialization), not measured.
    for &m in &modes {
        run(m, program, args);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut cpus: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    for _ in 0..rounds {
        for (i, &m) in modes.iter().enumerate() {
            let (wall, cpu) = run(m, program, args);
            times[i].push(wall);
            cpus[i].push(cpu);
        }
    }
    let base = median(times[0].clone());
    let base_cpu = median(cpus[0].clone());
    let ratio = median(times[1].clone()).as_secs_f64() / base.as_secs_f64();
    println!("{name} (median of {rounds}; wall, then CPU user+sys):");
    for (i, &m) in modes.iter().enumerate() {
        let t = median(times[i].clone());
        let c = median(cpus[i].clone());
        let label = match m {
            Mode::Untraced => "untraced (baseline)",
            Mode::Traced => "runwire-trace",
            Mode::Strace => "strace -f -e trace=file",
            Mode::Floor => "floor: CONTINUE, unread",
        };
        println!(
            "  {label:<26} wall {:>9.1} ms {:>5.2}x   cpu {:>9.1} ms {:>5.2}x",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / base.as_secs_f64(),
            c.as_secs_f64() * 1e3,
            c.as_secs_f64() / base_cpu.as_secs_f64()
        );
    }
    ratio
}

fn make_tree(root: &Path) {
    for d in 0..500 {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..10 {
            std::fs::write(dir.join(format!("f{f}.txt")), format!("file {d} {f}\n")).unwrap();
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: run only
    // when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // `cargo bench -p runwire-trace -- sh` runs only the workloads whose name contains "sh".
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let has_strace = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !has_strace {
        println!("strace not installed (scripts/install.sh installs it): peer skipped");
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, "x\n").unwrap();

    let tree_s = tree.to_str().unwrap();
    let node = "node: read 5,000 files, list 500 directories";
    if wanted(node) {
        bench(
            node,
            15,
            "node",
            &["-e", NODE_SCRIPT, tree_s],
            has_strace,
            false,
        );
    }
    let bb = "busybox-static (seccomp): glob 500 directories, cat 5,000 files";
    if wanted(bb) {
        if Path::new("/bin/busybox").exists() {
            bench(
                bb,
                9,
                "/bin/busybox",
                &["sh", "-c", BUSYBOX_CAT, "sh", tree_s],
                has_strace,
                true,
            );
        } else {
            println!("/bin/busybox missing (scripts/install.sh installs busybox-static): skipped");
        }
    }
    if wanted("sh: loop of 2,000 cat") {
        bench(
            "sh: loop of 2,000 cat",
            5,
            "sh",
            &["-c", SHELL_LOOP, "sh", one.to_str().unwrap()],
            has_strace,
            false,
        );
    }
}
