//! A damaged cache never fails a command: a corrupt `index.sqlite` (garbage bytes) or a
//! truncated `env.key` is moved aside with one report, and the cache starts empty.
//! `Cache::wipe` empties a cache that cannot be opened at all.

use std::path::Path;
use std::sync::Mutex;

use runwire_cache::{Cache, CacheError, CacheOptions, NewEntry, Recovery};
use runwire_fingerprint::{Hash32, OutputSet, PostRunFingerprint, RelPath, SpawnKey};

/// Every recovery reported through `on_recovery`, per test (tests run on threads, so each
/// test uses its own cache dir and filters by it).
static REPORTED: Mutex<Vec<Recovery>> = Mutex::new(Vec::new());

fn options() -> CacheOptions {
    CacheOptions {
        on_recovery: |r| REPORTED.lock().unwrap().push(r.clone()),
        ..CacheOptions::default()
    }
}

fn reported_in(dir: &Path) -> Vec<Recovery> {
    REPORTED
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.file.starts_with(dir))
        .cloned()
        .collect()
}

/// A cache with one stored entry (and its blob).
fn filled_cache(base: &Path) -> std::path::PathBuf {
    let dir = base.join("cache");
    let ws = base.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("out.txt"), b"built").unwrap();
    let cache = Cache::open(&dir, options()).unwrap();
    let mut fp = PostRunFingerprint::default();
    fp.salts.insert("t".into(), Hash32::of(b"t"));
    cache
        .store(&NewEntry {
            spawn_key: SpawnKey(Hash32::of(b"k")),
            fingerprint: &fp,
            outputs: &OutputSet {
                paths: [RelPath::parse("out.txt").unwrap()].into(),
                ..OutputSet::default()
            },
            workspace_root: &ws,
            stdio: &[],
            run_time: None,
            remember: None,
        })
        .unwrap();
    assert_eq!(cache.info().unwrap().entries, 1);
    dir
}

/// Folds the WAL into `index.sqlite` (runwire leaves it for the next runner), so the bytes
/// a test writes over the file are what `SQLite` reads.
fn checkpoint(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join("index.sqlite")).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

fn corrupt_copies(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("{name}.corrupt-");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .collect()
}

#[test]
fn garbage_index_is_moved_aside_and_the_cache_starts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = filled_cache(tmp.path());
    checkpoint(&dir);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(dir.join("index.sqlite"), &garbage).unwrap();

    let cache = Cache::open(&dir, options()).unwrap();
    assert_eq!(cache.info().unwrap().entries, 0, "starts empty");
    assert_eq!(cache.integrity_check().unwrap(), "ok");
    let reported = reported_in(&dir);
    assert_eq!(reported.len(), 1, "one report: {reported:?}");
    assert_eq!(reported[0].file, dir.join("index.sqlite"));
    assert!(
        reported[0].cause.contains("not a database"),
        "{}",
        reported[0]
    );
    assert_eq!(cache.recoveries(), &reported[..]);
    // The damaged file is kept, byte for byte, under the reported name (its WAL with it).
    let moved = corrupt_copies(&dir, "index.sqlite");
    assert!(moved.contains(&reported[0].moved_to), "{moved:?}");
    assert_eq!(std::fs::read(&reported[0].moved_to).unwrap(), garbage);
    drop(cache);
    // The new index is healthy: the next open reports nothing.
    let again = Cache::open(&dir, options()).unwrap();
    assert!(again.recoveries().is_empty());
    assert_eq!(reported_in(&dir).len(), 1);
}

#[test]
fn damaged_table_page_is_found_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = filled_cache(tmp.path());
    // Everything after the header page is overwritten: the header is valid, the tables
    // are not.
    checkpoint(&dir);
    let mut bytes = std::fs::read(dir.join("index.sqlite")).unwrap();
    assert!(bytes.len() > 4096 * 2, "several pages");
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(dir.join("index.sqlite"), &bytes).unwrap();
    let cache = Cache::open(&dir, options()).unwrap();
    assert_eq!(cache.recoveries().len(), 1, "{:?}", cache.recoveries());
    assert_eq!(cache.info().unwrap().entries, 0);
}

#[test]
fn truncated_key_is_moved_aside_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = filled_cache(tmp.path());
    let old_key = std::fs::read(dir.join("env.key")).unwrap();
    std::fs::write(dir.join("env.key"), &old_key[..5]).unwrap();

    let cache = Cache::open(&dir, options()).unwrap();
    let reported = reported_in(&dir);
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].file, dir.join("env.key"));
    assert!(reported[0].cause.contains("found 5"), "{}", reported[0]);
    assert_eq!(std::fs::read(&reported[0].moved_to).unwrap(), &old_key[..5]);
    let new_key = std::fs::read(dir.join("env.key")).unwrap();
    assert_eq!(new_key.len(), 32);
    assert_ne!(new_key, old_key);
    assert!(cache.recoveries().len() == 1);
}

#[test]
fn wipe_empties_a_cache_that_cannot_be_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = filled_cache(tmp.path());
    // A schema from a newer runwire: refused, not "corrupt", so never moved aside by open.
    let conn = rusqlite::Connection::open(dir.join("index.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Cache::open(&dir, options()).unwrap_err();
    assert!(matches!(err, CacheError::NewerSchema { .. }), "{err}");
    assert!(corrupt_copies(&dir, "index.sqlite").is_empty());

    let removed = Cache::wipe(&dir).unwrap();
    assert!(removed.contains(&dir.join("index.sqlite")), "{removed:?}");
    assert!(removed.contains(&dir.join("blobs")), "{removed:?}");
    assert!(dir.join("env.key").exists(), "a good key stays");
    let cache = Cache::open(&dir, options()).unwrap();
    assert_eq!(cache.info().unwrap().entries, 0);
    assert!(cache.recoveries().is_empty());
}
