//! Crash safety and concurrency with real processes: the `runwire-cache-stress` binary stores
//! entries in a loop and prints every store step. It is killed with `SIGKILL` at a seeded
//! byte count (by itself, mid blob write) or after a seeded number of steps (by the parent);
//! no sleeps. Or two of them run at once on one cache.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use runwire_cache::{Cache, CacheOptions, NewEntry};
use runwire_fingerprint::{Hash32, OutputSet, PostRunFingerprint, RelPath, SpawnKey};

const STRESS: &str = env!("CARGO_BIN_EXE_runwire-cache-stress");

/// xorshift64*, seeded: the kill points are the same on every run of the test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Everything a crash must never break.
fn assert_consistent(cache_dir: &Path) {
    let cache = Cache::open(cache_dir, CacheOptions::default()).unwrap();
    assert_eq!(cache.integrity_check().unwrap(), "ok");
    let bad = runwire_cache::verify_all_blobs(cache_dir);
    assert!(bad.is_empty(), "blobs not matching their hash: {bad:?}");
    for (h, size) in cache.referenced_blobs().unwrap() {
        let meta = std::fs::metadata(cache.blob_path(&h))
            .unwrap_or_else(|e| panic!("referenced blob {h} missing: {e}"));
        assert_eq!(meta.len(), size, "blob {h} has the wrong size");
    }
}

/// The next store and restore after the crashes work.
fn assert_store_and_restore_work(cache_dir: &Path, ws: &Path) {
    let cache = Cache::open(cache_dir, CacheOptions::default()).unwrap();
    std::fs::create_dir_all(ws.join("after")).unwrap();
    std::fs::write(ws.join("after/x.txt"), b"after the crashes").unwrap();
    let mut fp = PostRunFingerprint::default();
    fp.salts.insert("after".into(), Hash32::of(b"after"));
    let outputs = OutputSet {
        paths: [RelPath::parse("after/x.txt").unwrap()].into(),
        ..OutputSet::default()
    };
    let key = SpawnKey(Hash32::of(b"after"));
    cache
        .store(&NewEntry {
            spawn_key: key,
            fingerprint: &fp,
            outputs: &outputs,
            workspace_root: ws,
            stdio: &[],
            run_time: None,
            remember: None,
        })
        .unwrap();
    std::fs::remove_file(ws.join("after/x.txt")).unwrap();
    let entry = cache.lookup(&key).unwrap().remove(0);
    cache.restore(&entry, ws).unwrap();
    assert_eq!(
        std::fs::read(ws.join("after/x.txt")).unwrap(),
        b"after the crashes"
    );
}

#[test]
fn sigkill_at_50_seeded_points_leaves_a_consistent_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    let mut killed_mid_run = 0;
    let rounds = u64::try_from(soak(50)).unwrap();
    for round in 0..rounds {
        // Even rounds: the child SIGKILLs itself at a seeded byte count, in the middle of a
        // blob write. Odd rounds: the parent SIGKILLs it after a seeded number of store steps,
        // so the kill lands wherever the child has got to (archiving, committing, evicting).
        let by_bytes = round % 2 == 0;
        let kill_at_byte = 1 + rng.below(3_000_000);
        let kill_after = if by_bytes {
            u64::MAX
        } else {
            1 + rng.below(60)
        };
        let mut args = vec![
            cache_dir.to_str().unwrap().to_owned(),
            ws.to_str().unwrap().to_owned(),
            round.to_string(),
            "1000".into(),
            "3000000".into(),
        ];
        if by_bytes {
            args.push(kill_at_byte.to_string());
        }
        let mut child = Command::new(STRESS)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            match lines.next() {
                Some(Ok(_)) => seen += 1,
                _ => break,
            }
        }
        if !by_bytes {
            child.kill().unwrap(); // SIGKILL
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "round {round}: not killed by SIGKILL: {status}"
        );
        killed_mid_run += 1;
    }
    assert_eq!(killed_mid_run, rounds);
    assert_consistent(&cache_dir);
    assert_store_and_restore_work(&cache_dir, &ws);
    assert_consistent(&cache_dir);
    // Reached only when the cache survived every kill (the asserts above panic otherwise).
    eprintln!("soak: kills during store: tried {rounds}, survived {rounds}");
    // Garbage the kills left (blob files never committed, temp files) goes, and nothing a
    // committed entry needs goes with it.
    let cache = Cache::open(&cache_dir, CacheOptions::default()).unwrap();
    cache.gc(std::time::Duration::ZERO).unwrap();
    let tmp_left = std::fs::read_dir(cache_dir.join("tmp")).unwrap().count();
    assert_eq!(tmp_left, 0, "temp files are swept");
    let files: u64 = std::fs::read_dir(cache_dir.join("blobs"))
        .unwrap()
        .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count() as u64)
        .sum();
    assert_eq!(
        files,
        cache.info().unwrap().blobs,
        "every blob file left is known to the index"
    );
    drop(cache);
    assert_consistent(&cache_dir);
    assert_store_and_restore_work(&cache_dir, &ws);
}

#[test]
fn two_processes_storing_into_one_cache_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    // A cap small enough that both evict while the other stores (shared blobs included).
    let children: Vec<_> = [1u64, 2]
        .iter()
        .map(|seed| {
            Command::new(STRESS)
                .args([
                    cache_dir.to_str().unwrap(),
                    ws.to_str().unwrap(),
                    &seed.to_string(),
                    "25",
                    "2000000",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "stress child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).ends_with("done\n"));
    }
    assert_consistent(&cache_dir);
    let cache = Cache::open(&cache_dir, CacheOptions::default()).unwrap();
    let info = cache.info().unwrap();
    assert!(
        info.entries >= 1 && info.blob_bytes <= 2_000_000 + 1_400_000,
        "{info:?}"
    );
    // Every surviving entry restores exactly.
    for k in 0..3u8 {
        for e in cache.lookup(&SpawnKey(Hash32::of(&[k]))).unwrap() {
            let out = tmp.path().join(format!("restore-{}", e.id));
            std::fs::create_dir_all(&out).unwrap();
            cache.restore(&e, &out).unwrap();
            for (p, item) in &e.manifest.items {
                if let runwire_cache::Item::File { hash, .. } = item {
                    assert_eq!(runwire_fingerprint::hash_path(&out.join(p)).unwrap(), *hash);
                }
            }
        }
    }
    assert_store_and_restore_work(&cache_dir, &ws);
}

/// `bench/faults.sh` repeats the fault tests: `RUNWIRE_SOAK` multiplies the rounds (1 in CI).
fn soak(rounds: usize) -> usize {
    rounds
        * std::env::var("RUNWIRE_SOAK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
}
