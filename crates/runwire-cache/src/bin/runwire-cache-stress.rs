//! Stores entries into a cache in a loop, printing every store step, so tests can SIGKILL it
//! at chosen points (crash safety) or run two at once (concurrency). Not part of the CLI.
//!
//! Usage: runwire-cache-stress <cache-dir> <workspace-dir> <seed> <count> <max-size> [kill-at-byte]
//!
//! With `kill-at-byte`, the process SIGKILLs itself as soon as that many bytes have been
//! copied into blob temp files: a deterministic kill point in the middle of a blob write.
//!
//! With `RUNWIRE_CACHE_STRESS_GATE=1` in its env, it first reads stdin to its end: a test
//! starts several of them and closes their stdin together, so they open the cache at once.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use runwire_cache::{Cache, CacheOptions, NewEntry, StdioChunk, StoreStep, Stream};
use runwire_fingerprint::{Hash32, OutputSet, PostRunFingerprint, RelPath, SpawnKey};

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Deterministic content: pool items are shared between runs and processes (dedup races).
fn content(tag: u64, len: usize) -> Vec<u8> {
    let mut r = Rng(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

/// Writes one run's outputs: a few files, half from a shared pool, half unique.
fn write_outputs(ws: &std::path::Path, seed: u64, i: u64, rng: &mut Rng) -> OutputSet {
    let out_dir = ws.join(format!("out-{seed}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("workspace is writable");
    let mut outputs = OutputSet::default();
    let files = 1 + rng.below(5);
    for f in 0..files {
        let (tag, len) = if rng.below(2) == 0 {
            // From a small pool: the same bytes in many entries and both processes.
            let t = rng.below(8);
            (t, usize::try_from(t + 1).unwrap_or(1) * 20_000)
        } else {
            (
                seed << 32 | i << 8 | f,
                usize::try_from(rng.below(256 * 1024)).unwrap_or(0),
            )
        };
        let rel = format!("out-{seed}/f{f}.bin");
        std::fs::write(ws.join(&rel), content(tag, len)).expect("workspace is writable");
        outputs
            .paths
            .insert(RelPath::parse(&rel).expect("canonical"));
    }
    outputs
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 && args.len() != 7 {
        eprintln!(
            "usage: runwire-cache-stress <cache-dir> <workspace-dir> <seed> <count> <max-size> [kill-at-byte]"
        );
        return ExitCode::from(2);
    }
    let (Ok(seed), Ok(count), Ok(max_size)) = (
        args[3].parse::<u64>(),
        args[4].parse::<u64>(),
        args[5].parse::<u64>(),
    ) else {
        eprintln!("seed, count and max-size must be integers");
        return ExitCode::from(2);
    };
    let kill_at = args
        .get(6)
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let mut copied = 0u64;
    let ws = PathBuf::from(&args[2]);
    if std::env::var_os("RUNWIRE_CACHE_STRESS_GATE").is_some() {
        let mut gate = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut gate);
    }
    let cache = match Cache::open(
        &PathBuf::from(&args[1]),
        CacheOptions {
            max_size,
            ..CacheOptions::default()
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("open failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var_os("RUNWIRE_CACHE_STRESS_GATE").is_some() {
        // What a runner does first: remembered hashes, then a lookup.
        if let Err(e) = cache
            .load_memo()
            .and_then(|_| cache.lookup(&SpawnKey(Hash32::of(b"\0"))))
        {
            eprintln!("first lookup failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut rng = Rng(seed.wrapping_add(0x1234_5678) | 1);
    let mut stdout = std::io::stdout().lock();
    for i in 0..count {
        let outputs = write_outputs(&ws, seed, i, &mut rng);
        let mut fp = PostRunFingerprint::default();
        fp.salts
            .insert("run".into(), Hash32::of(format!("{seed}/{i}").as_bytes()));
        let key = SpawnKey(Hash32::of(&[u8::try_from(i % 3).unwrap_or(0)]));
        let stdio = [
            StdioChunk {
                stream: Stream::Stdout,
                data: format!("run {i}\n").into_bytes(),
            },
            StdioChunk {
                stream: Stream::Stderr,
                data: b"warn\n".to_vec(),
            },
        ];
        let new = NewEntry {
            spawn_key: key,
            fingerprint: &fp,
            outputs: &outputs,
            workspace_root: &ws,
            stdio: &stdio,
            run_time: None,
            remember: None,
        };
        let res = cache.store_observed(&new, &mut |step| {
            let line = match step {
                StoreStep::Bytes(n) => {
                    copied += n;
                    if copied >= kill_at {
                        // SAFETY: kill(2) on our own pid with a valid signal has no memory effects.
                        unsafe {
                            libc::kill(libc::getpid(), libc::SIGKILL);
                        }
                    }
                    return;
                }
                StoreStep::Archived(p) => format!("archived {p}"),
                StoreStep::Committing => "committing".into(),
                StoreStep::Committed(id) => format!("committed {id}"),
                StoreStep::Evicted(n) => format!("evicted {n}"),
            };
            // The parent counts these lines to pick the kill point.
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        });
        if let Err(e) = res {
            eprintln!("store {i} failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    let _ = writeln!(stdout, "done");
    ExitCode::SUCCESS
}
