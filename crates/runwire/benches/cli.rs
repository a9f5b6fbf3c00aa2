//! `cargo bench -p runwire`: what a cache hit costs.
//!
//! 1. A no-op task (`true`): the bare command vs `runwire run noop` when it is a cache hit.
//!    Goal: a hit adds at most 15 ms.
//! 2. A generated workspace of 200 packages x 5 tasks, every task a hit, in one
//!    `runwire run t5 -r`. Goal: the 1,000 hits finish in at most 1 s.
//!
//! Medians of several runs; baseline, contender and ratio are printed. Not a test: it
//! asserts nothing, so noise on a shared machine cannot fail a build.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNWIRE: &str = env!("CARGO_BIN_EXE_runwire");

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn runwire(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(RUNWIRE)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUNWIRE_CACHE_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("runwire runs");
    assert!(
        out.status.success(),
        "runwire {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn hits(out: &std::process::Output) -> usize {
    String::from_utf8_lossy(&out.stderr)
        .matches("cache hit")
        .count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn noop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"bench","scripts":{"noop":"true"}}"#,
    )
    .unwrap();
    // Warm up: the first run is a miss and stores the entry.
    runwire(dir.path(), &["run", "noop"]);
    let check = runwire(dir.path(), &["run", "noop"]);
    let baseline = time(30, || {
        let status = Command::new("true").status().unwrap();
        assert!(status.success());
    });
    let contender = time(30, || {
        runwire(dir.path(), &["run", "noop"]);
    });
    println!("no-op task: {} hit(s) per run", hits(&check));
    println!("  baseline  `true` directly:       {:8.2} ms", ms(baseline));
    println!(
        "  contender `runwire run noop`:    {:8.2} ms",
        ms(contender)
    );
    println!(
        "  ratio {:.1}x, added {:.2} ms (goal: <= 15 ms)",
        contender.as_secs_f64() / baseline.as_secs_f64(),
        ms(contender.saturating_sub(baseline))
    );
}

fn workspace() {
    const PACKAGES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("package.json"),
        r#"{"name":"root","private":true,"workspaces":["packages/*"]}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("runwire.json"),
        r#"{"tasks":{"t2":{"dependsOn":["t1"]},"t3":{"dependsOn":["t2"]},"t4":{"dependsOn":["t3"]},"t5":{"dependsOn":["t4"]}}}"#,
    )
    .unwrap();
    for p in 0..PACKAGES {
        let pkg = root.join(format!("packages/p{p:03}"));
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("package.json"),
            format!(r#"{{"name":"p{p:03}","scripts":{{"t1":"true","t2":"true","t3":"true","t4":"true","t5":"true"}}}}"#),
        )
        .unwrap();
    }
    let first = Instant::now();
    runwire(root, &["run", "t5", "-r"]);
    let cold = first.elapsed();
    let check = runwire(root, &["run", "t5", "-r"]);
    let contender = time(5, || {
        runwire(root, &["run", "t5", "-r"]);
    });
    let tasks = PACKAGES * 5;
    let baseline = time(3, || {
        for _ in 0..tasks {
            Command::new("true").status().unwrap();
        }
    });
    println!(
        "{PACKAGES} packages x 5 tasks: {} hit(s) of {tasks}",
        hits(&check)
    );
    println!("  first run (all misses):          {:8.1} ms", ms(cold));
    println!(
        "  baseline  {tasks} x `true`:          {:8.1} ms",
        ms(baseline)
    );
    println!(
        "  contender `runwire run t5 -r`:   {:8.1} ms (goal: <= 1000 ms)",
        ms(contender)
    );
    println!(
        "  ratio {:.2}x",
        contender.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one part.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wants("noop") {
        noop();
    }
    if wants("workspace") {
        workspace();
    }
}
