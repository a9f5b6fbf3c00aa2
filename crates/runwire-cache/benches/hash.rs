//! Hashing benchmark (plain main, not part of `cargo test`):
//!
//! 1. cold hashing of a generated tree of 10,000 files (~200 MB), no remembered hashes, page
//!    cache warm: runwire's parallel hasher vs `b3sum` on the same files;
//! 2. warm validation of one stored entry with 10,000 file inputs (lookup + validate).
//!
//! Run with `bash bench/hash.sh` (installs b3sum if missing) or
//! `cargo bench -p runwire-cache --bench hash`. Goals: cold <= 1.2x b3sum, warm <= 30 ms.

#![allow(clippy::cast_precision_loss)] // only for printing megabytes

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use runwire_cache::{Cache, CacheOptions, Lookup, NewEntry};
use runwire_fingerprint::{
    ContentFact, EnvMap, Existence, Hash32, Hasher, OutputSet, PathFact, PostRunFingerprint,
    RelPath, SpawnKey, World,
};

const FILES: usize = 10_000;

/// Sizes: 9,000 small (~10 KB), 900 medium (~64 KB), 100 large (~530 KB): ~200 MB in all.
fn size_of(i: usize) -> usize {
    let jitter = (i * 7919) % 4096;
    if i % 100 == 0 {
        530_000 + jitter
    } else if i % 10 == 0 {
        64_000 + jitter
    } else {
        8_000 + jitter
    }
}

fn rel_name(i: usize) -> String {
    format!("d{:03}/f{i:05}.bin", i % 100)
}

fn generate(root: &Path) -> u64 {
    let marker = root.join(".complete");
    let mut total = 0u64;
    if marker.exists() {
        return (0..FILES).map(|i| size_of(i) as u64).sum();
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..FILES {
        let p = root.join(rel_name(i));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..size_of(i))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(&p, &data).unwrap();
        total += data.len() as u64;
    }
    std::fs::write(marker, b"").unwrap();
    total
}

fn warm_page_cache(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::read(p).unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let base = std::env::var_os("RUNWIRE_BENCH_DIR").map_or_else(
        || std::env::temp_dir().join("runwire-hash-bench"),
        PathBuf::from,
    );
    let tree = base.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let total = generate(&tree);
    let rels: Vec<String> = (0..FILES).map(rel_name).collect();
    let paths: Vec<PathBuf> = rels.iter().map(|r| tree.join(r)).collect();
    println!(
        "tree: {} files, {:.1} MB at {}",
        FILES,
        total as f64 / 1e6,
        tree.display()
    );
    warm_page_cache(&paths);

    cold(&tree, &rels, &paths);
    warm(&base, &tree, &rels, &paths);
}

/// Cold hashing: nothing remembered; ours vs b3sum.
fn cold(tree: &Path, rels: &[String], paths: &[PathBuf]) {
    // 1. Cold hashing: nothing remembered.
    let ours: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let r = Hasher::new(None, SystemTime::now()).hash_files(paths);
            let d = t.elapsed();
            assert!(r.iter().all(Result::is_ok));
            d
        })
        .collect();
    let ours = median(ours);
    let b3sum = which("b3sum");
    let theirs = b3sum.as_ref().map(|b3| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let st = Command::new(b3)
                        .args(rels)
                        .current_dir(tree)
                        .stdout(std::process::Stdio::null())
                        .status()
                        .unwrap();
                    let d = t.elapsed();
                    assert!(st.success());
                    d
                })
                .collect(),
        )
    });
    println!("cold hashing, {FILES} files, page cache warm (median of 5):");
    if let Some(b) = theirs {
        println!("  baseline  b3sum:   {:8.1} ms", ms(b));
        println!("  contender runwire: {:8.1} ms", ms(ours));
        println!(
            "  ratio runwire/b3sum: {:.2} (goal <= 1.20)",
            ours.as_secs_f64() / b.as_secs_f64()
        );
    } else {
        println!("  contender runwire: {:8.1} ms", ms(ours));
        println!("  baseline b3sum not found on PATH (bench/hash.sh installs it)");
    }
}

/// Warm validation of one entry with every file as an input.
/// Stores `fp` under `key` with no outputs and no stdio.
fn store_without_outputs(cache: &Cache, key: SpawnKey, fp: &PostRunFingerprint, tree: &Path) {
    cache
        .store(&NewEntry {
            spawn_key: key,
            fingerprint: fp,
            outputs: &OutputSet::default(),
            workspace_root: tree,
            stdio: &[],
            run_time: None,
            remember: None,
        })
        .unwrap();
}

fn warm(base: &Path, tree: &Path, rels: &[String], paths: &[PathBuf]) {
    // 2. Warm validation of one entry with 10,000 inputs. The files must be older than the
    // run start's whole second for their stats to be trusted (racy rule).
    std::thread::sleep(Duration::from_millis(1100));
    let run_start = SystemTime::now();
    let initial = Hasher::new(None, run_start).hash_files(paths);
    let mut fp = PostRunFingerprint::default();
    for (r, h) in rels.iter().zip(initial) {
        let h = h.unwrap();
        assert!(
            h.stable.is_some(),
            "bench files must be older than the run start"
        );
        fp.paths.insert(
            RelPath::parse(r).unwrap(),
            PathFact {
                existence: Existence::File,
                content: Some(ContentFact {
                    hash: h.hash,
                    executable: false,
                    stamp_mtime_ns: None,
                    or_output: None,
                    stat: h.stable,
                }),
                listing: None,
                mode_only: None,
            },
        );
    }
    let cache_dir = base.join("cache");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let cache = Cache::open(&cache_dir, CacheOptions::default()).unwrap();
    let key = SpawnKey(Hash32::of(b"bench"));
    store_without_outputs(&cache, key, &fp, tree);
    let env = EnvMap::new();
    let salts = BTreeMap::new();
    let world = World {
        workspace_root: tree,
        env: &env,
        env_key: cache.env_key(),
        salts: &salts,
        untracked_env_patterns: &[],
    };
    let mut total_t = Vec::new();
    let mut validate_t = Vec::new();
    let mut cpu_t = Vec::new();
    for _ in 0..15 {
        let cpu = cpu_time();
        let t = Instant::now();
        let entries = cache.lookup(&key).unwrap();
        let t_lookup = t.elapsed();
        let hasher = Hasher::new(None, SystemTime::now());
        let diffs = entries[0].fingerprint.validate(&world, &hasher);
        let all = t.elapsed();
        assert!(diffs.is_empty(), "{diffs:?}");
        cpu_t.push(cpu_time().saturating_sub(cpu));
        total_t.push(all);
        validate_t.push(all.saturating_sub(t_lookup));
    }
    let floor = stat_floor(paths);
    let hasher = Hasher::new(None, SystemTime::now());
    let t = Instant::now();
    assert!(matches!(
        cache.find_hit(&key, &world, &hasher).unwrap(),
        Lookup::Hit(_)
    ));
    let find_hit = t.elapsed();
    println!("warm validation of one entry with {FILES} inputs (median of 15):");
    println!(
        "  lookup + validate: {:6.1} ms (goal <= 30 ms)",
        ms(median(total_t))
    );
    println!("  validate alone:    {:6.1} ms", ms(median(validate_t)));
    println!(
        "  CPU time (user+sys, all threads) of lookup + validate: {:6.1} ms (load-independent)",
        ms(median(cpu_t))
    );
    println!(
        "  find_hit (one run, incl. LRU touch): {:6.1} ms",
        ms(find_hit)
    );
    println!(
        "  reference: {FILES} plain stat calls on one thread: {:6.1} ms",
        ms(floor)
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "  machine load average (1/5/15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Reference floor: one plain stat per input on one thread, nothing else.
fn stat_floor(paths: &[PathBuf]) -> Duration {
    median(
        (0..15)
            .map(|_| {
                let t = Instant::now();
                for p in paths {
                    std::hint::black_box(std::fs::metadata(p).unwrap());
                }
                t.elapsed()
            })
            .collect(),
    )
}

/// User + system CPU time of this process, all threads: unlike wall time, it does not grow
/// when other processes compete for the cores.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid, writable pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
