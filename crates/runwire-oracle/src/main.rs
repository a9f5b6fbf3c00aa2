//! `runwire-oracle`: draws random edit sequences over real-tool scenarios, runs each step
//! through runwire and plainly in a twin tree, and reports every result that differs.
//!
//! Exit status: 0 nothing found, 1 a false hit or another wrong result (with a repro
//! script), 2 the oracle itself failed (bad scenario, missing tool).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use runwire_oracle::oracle::Setup;
use runwire_oracle::{Outcome, Scenario, explore};

#[derive(Parser, Debug)]
#[command(
    name = "runwire-oracle",
    about = "Differential testing of runwire's cache against plain runs of real tools",
    after_help = "Soak: runwire-oracle --seeds 1..200 --steps 40. A finding prints its seed, \
                  the minimized steps and a shell script that replays them."
)]
struct Args {
    /// The runwire binary to test (default: `runwire` beside this binary).
    #[arg(long)]
    runwire: Option<PathBuf>,
    /// Directory of scenarios (one subdirectory each, with scenario.json and repo/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))]
    scenarios: PathBuf,
    /// Only these scenarios (by directory name); repeatable.
    #[arg(long = "scenario")]
    only: Vec<String>,
    /// Seeds to run: `N` or `A..B` (B inclusive).
    #[arg(long, default_value = "1..3")]
    seeds: String,
    /// One seed (same as --seeds S).
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Steps per seed (the first step is a plain run).
    #[arg(long, default_value_t = 12)]
    steps: usize,
    /// Installed npm tools for scenarios with `npm_tools` (scripts/install.sh puts them here).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../runwire/tests/twins/_tools/node_modules"))]
    npm_tools: PathBuf,
    /// Where temporary trees go (not under /tmp, which is a scratch location for runwire).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// One JSON object per seed on stdout instead of lines.
    #[arg(long)]
    json: bool,
    /// Run runwire with a deliberately broken engine rule (debug builds of runwire only),
    /// to see the oracle fail: `stat-is-existence`.
    #[arg(long)]
    inject_fault: Option<String>,
}

fn parse_seeds(text: &str) -> Option<Vec<u64>> {
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
            (a <= b).then(|| (a..=b).collect())
        }
        None => text.parse().ok().map(|s| vec![s]),
    }
}

fn default_runwire() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("runwire")))
        .unwrap_or_else(|| PathBuf::from("runwire"))
}

fn default_scratch() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/runwire/oracle")
}

fn line(o: &Outcome) -> String {
    let mut s = format!(
        "{} seed {}: {} steps, {} hits, {} misses, {} not cached, {:.1}s ({:.0}% plain)",
        o.scenario,
        o.seed,
        o.steps_run,
        o.hits,
        o.misses,
        o.not_cached,
        o.elapsed.as_secs_f64(),
        100.0 * o.plain_time.as_secs_f64() / o.elapsed.as_secs_f64().max(1e-9)
    );
    if !o.plain_stale.is_empty() {
        let _ = write!(
            s,
            "\n  step {:?}: the plain tool was stale (runwire's result equals a clean build); twin resynced",
            o.plain_stale
        );
    }
    if let Some(n) = &o.nondeterministic {
        let _ = write!(
            s,
            "\n  nondeterministic scenario (not a runwire finding): {n}"
        );
    }
    if let Some(f) = &o.finding {
        let _ = write!(
            s,
            "\n  FOUND {:?} at step {} (minimized to {} steps):\n{}  runwire said:\n{}\n  replay:\n{}",
            f.kind,
            f.original_len,
            f.steps.len(),
            f.difference,
            indent(&f.stderr),
            indent(&f.script)
        );
    }
    s
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines() {
        let _ = writeln!(out, "    {l}");
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds = if let Some(s) = args.seed {
        vec![s]
    } else {
        let Some(s) = parse_seeds(&args.seeds) else {
            eprintln!(
                "runwire-oracle: error: --seeds `{}` is not N or A..B",
                args.seeds
            );
            return ExitCode::from(2);
        };
        s
    };
    let setup = Setup {
        runwire: args.runwire.unwrap_or_else(default_runwire),
        npm_tools: args.npm_tools,
        scratch: args.scratch.unwrap_or_else(default_scratch),
        env: args
            .inject_fault
            .map(|f| vec![("RUNWIRE_TEST_FAULT".to_owned(), f)])
            .unwrap_or_default(),
    };
    if !Path::new(&setup.runwire).is_file() {
        eprintln!(
            "runwire-oracle: error: no runwire binary at {} (build it, or pass --runwire)",
            setup.runwire.display()
        );
        return ExitCode::from(2);
    }
    let scenarios = match Scenario::load_all(&args.scenarios) {
        Ok(all) => all
            .into_iter()
            .filter(|s| args.only.is_empty() || args.only.contains(&s.name))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("runwire-oracle: error[{}]: {e}", e.code());
            return ExitCode::from(2);
        }
    };
    if scenarios.is_empty() {
        eprintln!("runwire-oracle: error: no scenario matches");
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    let (mut steps, mut findings) = (0usize, 0usize);
    let mut plain = std::time::Duration::ZERO;
    for scenario in &scenarios {
        for &seed in &seeds {
            match explore(scenario, seed, args.steps, &setup) {
                Ok(o) => {
                    steps += o.steps_run;
                    plain += o.plain_time;
                    findings += usize::from(o.finding.is_some());
                    if args.json {
                        println!("{}", serde_json::to_string(&o).unwrap_or_default());
                    } else {
                        println!("{}", line(&o));
                    }
                }
                Err(e) => {
                    eprintln!(
                        "runwire-oracle: error[{}]: {} seed {seed}: {e}",
                        e.code(),
                        scenario.name
                    );
                    return ExitCode::from(2);
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "runwire-oracle: {steps} steps in {secs:.1}s ({:.0} steps/min, {:.0}% of it plain reference runs), {findings} finding(s)",
        f64::from(u32::try_from(steps).unwrap_or(u32::MAX)) * 60.0 / secs.max(1e-9),
        100.0 * plain.as_secs_f64() / secs.max(1e-9)
    );
    if findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
