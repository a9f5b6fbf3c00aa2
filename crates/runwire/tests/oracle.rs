//! The bounded correctness-oracle pass CI runs (crates/runwire-oracle): every scenario with
//! a fixed seed list and step count, compared step by step with plain runs, must find
//! nothing; and with one engine rule deliberately broken it must find a false hit, so the
//! pass can fail. Soak runs: `cargo run -p runwire-oracle -- --seeds 1..200 --steps 40`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use runwire_oracle::oracle::Setup;
use runwire_oracle::{FindingKind, Scenario, explore};

/// Fixed before the run: seeds 1..=3, 10 steps each.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=3;
const STEPS: usize = 10;

fn setup(env: Vec<(String, String)>) -> Setup {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    Setup {
        runwire: PathBuf::from(env!("CARGO_BIN_EXE_runwire")),
        npm_tools: manifest.join("tests/twins/_tools/node_modules"),
        scratch: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        env,
    }
}

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runwire-oracle/scenarios");
    let all = Scenario::load_all(&dir).unwrap();
    assert!(
        all.len() >= 8,
        "expected the scenario corpus, found {}",
        all.len()
    );
    all
}

#[test]
fn bounded_oracle_pass_finds_nothing() {
    let setup = setup(Vec::new());
    let mut report = String::new();
    for scenario in scenarios() {
        for seed in SEEDS {
            let o = explore(&scenario, seed, STEPS, &setup)
                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", scenario.name));
            assert!(
                o.nondeterministic.is_none(),
                "{} seed {seed}: {:?}",
                scenario.name,
                o.nondeterministic
            );
            if let Some(f) = &o.finding {
                let _ = writeln!(
                    report,
                    "{} seed {seed}: {:?}\n{}runwire said:\n{}\nreplay:\n{}",
                    scenario.name, f.kind, f.difference, f.stderr, f.script
                );
            }
        }
    }
    assert!(
        report.is_empty(),
        "the oracle found wrong results:\n{report}"
    );
}

#[test]
fn a_broken_engine_is_caught() {
    // The old rule "a stat records existence alone" (the stale-.pyc and make bugs).
    let setup = setup(vec![(
        "RUNWIRE_TEST_FAULT".to_owned(),
        "stat-is-existence".to_owned(),
    )]);
    // Seeds 1..=6, 15 steps: with this fault the oracle found false hits in 5 of 6 seeds of
    // make_rules and 2 of 6 of python_imports when written; stop at the first.
    let wanted = ["make_rules", "python_imports"];
    let found = scenarios()
        .into_iter()
        .filter(|s| wanted.contains(&s.name.as_str()))
        .flat_map(|s| (1..=6).map(move |seed| (s.clone(), seed)))
        .find_map(|(scenario, seed)| {
            let o = explore(&scenario, seed, 15, &setup).unwrap();
            o.finding.map(|f| (scenario.name.clone(), seed, f))
        });
    let (name, seed, finding) =
        found.expect("with the stat rule broken, no seed found a wrong result");
    assert_eq!(
        finding.kind,
        FindingKind::FalseHit,
        "{name} seed {seed}: {}",
        finding.difference
    );
    assert!(finding.steps.len() <= finding.original_len);
    assert!(finding.script.contains("runwire run"), "{}", finding.script);
}
