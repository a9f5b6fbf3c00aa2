//! Store, lookup, validate and restore against a real `SQLite` index and real files.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use runwire_cache::{Cache, CacheError, CacheOptions, Lookup, NewEntry, StdioChunk, Stream};
use runwire_fingerprint::{
    Access, ClassifyOptions, Declaration, Difference, EnvKey, EnvMap, EnvName, ExitStatus, Hash32,
    Hasher, OutputSet, PathAccess, PostRunFingerprint, RelPath, RunRecord, SpawnDescription,
    SpawnExplanation, SpawnKey, TraceModel, World, classify,
};

struct Ws {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    cache_dir: PathBuf,
}

fn ws() -> Ws {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    std::fs::create_dir_all(&root).unwrap();
    Ws {
        cache_dir: base.join("cache"),
        root,
        _tmp: tmp,
    }
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn rel(s: &str) -> RelPath {
    RelPath::parse(s).unwrap()
}

fn outputs(paths: &[&str]) -> OutputSet {
    OutputSet {
        paths: paths.iter().map(|p| rel(p)).collect(),
        ..OutputSet::default()
    }
}

fn fp(tag: &str) -> PostRunFingerprint {
    let mut f = PostRunFingerprint::default();
    f.salts.insert("tag".into(), Hash32::of(tag.as_bytes()));
    f
}

fn key(n: u8) -> SpawnKey {
    SpawnKey(Hash32::of(&[n]))
}

fn store(cache: &Cache, root: &Path, k: SpawnKey, f: &PostRunFingerprint, o: &OutputSet) -> i64 {
    cache
        .store(&NewEntry {
            spawn_key: k,
            fingerprint: f,
            outputs: o,
            workspace_root: root,
            stdio: &[],
            run_time: None,
            remember: None,
        })
        .unwrap()
}

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// One simulated `NODE_ENV`-dependent build: reads src, tracks `NODE_ENV`, writes dist.
fn build_run(root: &Path, node_env: &str) -> RunRecord {
    write(root, "dist/index.js", format!("mode={node_env}").as_bytes());
    let mut accesses = BTreeMap::new();
    accesses.insert(root.join("src/main.js"), PathAccess::new(Access::Read));
    accesses.insert(root.join("dist/index.js"), PathAccess::new(Access::Create));
    RunRecord {
        trace: TraceModel {
            accesses,
            complete: true,
            incomplete_reasons: vec![],
            programs: Vec::new(),
        },
        declarations: vec![Declaration::TrackedEnv {
            name: b"NODE_ENV".to_vec(),
            value: Some(node_env.as_bytes().to_vec().into()),
        }],
        diagnostics: vec![],
        exit: ExitStatus::Code(0),
    }
}

fn classify_opts(root: &Path) -> ClassifyOptions {
    ClassifyOptions::new(root.to_path_buf())
}

#[test]
fn variants_a_b_a_third_run_is_a_hit_with_exact_outputs() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "src/main.js", b"main");
    let k = key(1);
    let salts = BTreeMap::new();
    let hasher = Hasher::new(None, SystemTime::now());
    let lookup = |mode: &str| {
        let e = env(&[("NODE_ENV", mode)]);
        let world = World {
            workspace_root: &w.root,
            env: &e,
            env_key: cache.env_key(),
            salts: &salts,
            untracked_env_patterns: &[],
        };
        cache.find_hit(&k, &world, &hasher).unwrap()
    };
    let store_mode = |mode: &str| {
        let c = classify(
            &build_run(&w.root, mode),
            &classify_opts(&w.root),
            cache.env_key(),
            &hasher,
        )
        .unwrap();
        assert!(c.verdict.is_cacheable(), "{}", c.verdict);
        cache
            .store(&NewEntry {
                spawn_key: k,
                fingerprint: &c.fingerprint,
                outputs: &c.outputs,
                workspace_root: &w.root,
                stdio: &[],
                run_time: None,
                remember: None,
            })
            .unwrap()
    };

    assert!(matches!(lookup("production"), Lookup::Miss(v) if v.is_empty()));
    let prod = store_mode("production");
    match lookup("development") {
        Lookup::Miss(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(
                v[0].differences,
                vec![Difference::EnvChanged(EnvName::from("NODE_ENV"))]
            );
        }
        Lookup::Hit(_) => panic!("development must miss"),
    }
    let dev = store_mode("development");
    assert_ne!(prod, dev);
    // Third run, production again: a hit on the first variant.
    let Lookup::Hit(entry) = lookup("production") else {
        panic!("production must hit")
    };
    assert_eq!(entry.id, prod);
    cache.restore(&entry, &w.root).unwrap();
    assert_eq!(
        std::fs::read(w.root.join("dist/index.js")).unwrap(),
        b"mode=production"
    );
    assert_eq!(cache.info().unwrap().entries, 2);
}

#[test]
fn restore_is_byte_identical_with_modes_symlinks_deletions_and_empty_dirs() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    write(&w.root, "out/bin.dat", &binary);
    write(&w.root, "out/run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        w.root.join("out/run.sh"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::fs::create_dir_all(w.root.join("out/empty")).unwrap();
    std::os::unix::fs::symlink("bin.dat", w.root.join("out/link")).unwrap();
    let o = OutputSet {
        paths: [
            "out/bin.dat",
            "out/run.sh",
            "out/empty",
            "out/link",
            "out/gone.txt",
        ]
        .iter()
        .map(|p| rel(p))
        .collect(),
        ..OutputSet::default()
    };
    let id = store(&cache, &w.root, key(2), &fp("x"), &o);

    // Mess the workspace up in every way restore must undo.
    write(&w.root, "out/bin.dat", b"changed");
    std::fs::remove_file(w.root.join("out/run.sh")).unwrap();
    std::fs::remove_dir(w.root.join("out/empty")).unwrap();
    std::fs::remove_file(w.root.join("out/link")).unwrap();
    write(&w.root, "out/link", b"not a link");
    write(&w.root, "out/gone.txt", b"the cached run deleted me");

    let entry = cache
        .lookup(&key(2))
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    let r = cache.restore(&entry, &w.root).unwrap();
    assert_eq!(
        (
            r.stats.files,
            r.stats.dirs,
            r.stats.symlinks,
            r.stats.deleted
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(std::fs::read(w.root.join("out/bin.dat")).unwrap(), binary);
    assert_eq!(
        std::fs::read(w.root.join("out/run.sh")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(
        std::fs::metadata(w.root.join("out/run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o751
    );
    assert!(w.root.join("out/empty").is_dir());
    assert_eq!(
        std::fs::read_link(w.root.join("out/link")).unwrap(),
        Path::new("bin.dat")
    );
    assert!(!w.root.join("out/gone.txt").exists());

    // A deleted path whose parent became a file is archived as deleted, not an error.
    write(&w.root, "p", b"now a file");
    let o = outputs(&["p/child", "p"]);
    store(&cache, &w.root, key(2), &fp("y"), &o);
}

/// `rm -rf out && mkdir out && write out/<variant>.js`, classified from the trace.
fn rm_rf_run(root: &Path, old: &[&str], new: &str) -> RunRecord {
    let _ = std::fs::remove_dir_all(root.join("out"));
    write(root, &format!("out/{new}"), new.as_bytes());
    let mut accesses = BTreeMap::new();
    let mut out = PathAccess::new(Access::Stat);
    out.later
        .insert(Access::ListDir(old.iter().map(OsString::from).collect()));
    out.later.insert(Access::Delete);
    out.later.insert(Access::Create);
    accesses.insert(root.join("out"), out);
    for o in old {
        let mut a = PathAccess::new(Access::Stat);
        a.later.insert(Access::Delete);
        accesses.insert(root.join("out").join(o), a);
    }
    accesses.insert(root.join("out").join(new), PathAccess::new(Access::Create));
    accesses.insert(root.join("gen.sh"), PathAccess::new(Access::Read));
    RunRecord {
        trace: TraceModel {
            accesses,
            complete: true,
            incomplete_reasons: vec![],
            programs: Vec::new(),
        },
        declarations: vec![],
        diagnostics: vec![],
        exit: ExitStatus::Code(0),
    }
}

#[test]
fn emptied_dir_is_restored_without_stale_files_of_another_variant() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    let hasher = Hasher::new(None, SystemTime::now());
    write(&w.root, "gen.sh", b"v1");
    let a = classify(
        &rm_rf_run(&w.root, &[], "index-aaa.js"),
        &classify_opts(&w.root),
        cache.env_key(),
        &hasher,
    )
    .unwrap();
    // First run in a clean tree: `out` did not exist, so nothing was emptied yet.
    assert!(a.verdict.is_cacheable(), "{}", a.verdict);
    write(&w.root, "gen.sh", b"v2");
    let b = classify(
        &rm_rf_run(&w.root, &["index-aaa.js"], "index-bbb.js"),
        &classify_opts(&w.root),
        cache.env_key(),
        &hasher,
    )
    .unwrap();
    assert!(b.verdict.is_cacheable(), "{}", b.verdict);
    assert_eq!(
        b.outputs
            .emptied_dirs
            .iter()
            .map(RelPath::as_str)
            .collect::<Vec<_>>(),
        ["out"]
    );
    store(&cache, &w.root, key(3), &b.fingerprint, &b.outputs);

    // Back to v1 and rerun: the v1 output (index-aaa.js) is in out/ again, then restore v2.
    write(&w.root, "gen.sh", b"v1");
    write(&w.root, "out/index-aaa.js", b"index-aaa.js");
    write(&w.root, "gen.sh", b"v2");
    let Lookup::Hit(entry) = cache
        .find_hit(
            &key(3),
            &World {
                workspace_root: &w.root,
                env: &EnvMap::new(),
                env_key: cache.env_key(),
                salts: &BTreeMap::new(),
                untracked_env_patterns: &[],
            },
            &hasher,
        )
        .unwrap()
    else {
        panic!("v2 must hit")
    };
    let r = cache.restore(&entry, &w.root).unwrap();
    assert_eq!(r.stats.emptied_dirs, 1);
    let mut names: Vec<String> = std::fs::read_dir(w.root.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["index-bbb.js"],
        "no stale file of the other variant survives"
    );
}

/// Appends every write to one shared buffer, tagged with the stream.
struct Sink<'a>(&'a std::cell::RefCell<Vec<u8>>, u8);
impl std::io::Write for Sink<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut v = self.0.borrow_mut();
        v.push(self.1);
        v.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn stdio_is_replayed_in_original_interleaving() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    let chunks = vec![
        StdioChunk {
            stream: Stream::Stdout,
            data: b"one\n".to_vec(),
        },
        StdioChunk {
            stream: Stream::Stderr,
            data: b"warn\n".to_vec(),
        },
        StdioChunk {
            stream: Stream::Stdout,
            data: b"two\n".to_vec(),
        },
        StdioChunk {
            stream: Stream::Stderr,
            data: vec![0xff, 0x00],
        },
    ];
    let f = fp("stdio");
    let o = OutputSet::default();
    cache
        .store(&NewEntry {
            spawn_key: key(4),
            fingerprint: &f,
            outputs: &o,
            workspace_root: &w.root,
            stdio: &chunks,
            run_time: None,
            remember: None,
        })
        .unwrap();
    let entry = cache.lookup(&key(4)).unwrap().remove(0);
    let r = cache.restore(&entry, &w.root).unwrap();
    assert_eq!(r.stdio, chunks);
    // Replaying into one shared sink shows the interleaving is kept.
    let shared = std::cell::RefCell::new(Vec::new());
    runwire_cache::replay(&r.stdio, &mut Sink(&shared, b'O'), &mut Sink(&shared, b'E')).unwrap();
    assert_eq!(
        shared.into_inner(),
        b"Oone\nEwarn\nOtwo\nE\xff\x00".to_vec()
    );
}

#[test]
fn corrupted_blob_is_a_miss_the_entry_is_dropped_and_nothing_is_written() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "out/a.txt", b"good content");
    write(&w.root, "out/b.txt", b"other content");
    let id = store(
        &cache,
        &w.root,
        key(5),
        &fp("c"),
        &outputs(&["out/a.txt", "out/b.txt"]),
    );
    let entry = cache.lookup(&key(5)).unwrap().remove(0);
    let blob = cache.blob_path(&Hash32::of(b"good content"));
    std::fs::write(&blob, b"evil content").unwrap();
    write(&w.root, "out/a.txt", b"local");
    write(&w.root, "out/b.txt", b"local");

    let err = cache.restore(&entry, &w.root).unwrap_err();
    assert!(err.is_miss(), "{err}");
    assert!(matches!(err, CacheError::Corrupt { entry, .. } if entry == id));
    assert_eq!(
        std::fs::read(w.root.join("out/a.txt")).unwrap(),
        b"local",
        "nothing restored from a bad entry"
    );
    assert_eq!(std::fs::read(w.root.join("out/b.txt")).unwrap(), b"local");
    assert!(
        cache.lookup(&key(5)).unwrap().is_empty(),
        "the entry is dropped"
    );
    assert!(
        runwire_cache::verify_all_blobs(&w.cache_dir).is_empty(),
        "the bad blob file is gone"
    );

    // A missing blob is the same miss, when the restore needs it.
    write(&w.root, "out/a.txt", b"good content");
    store(&cache, &w.root, key(5), &fp("c"), &outputs(&["out/a.txt"]));
    let entry = cache.lookup(&key(5)).unwrap().remove(0);
    std::fs::remove_file(cache.blob_path(&Hash32::of(b"good content"))).unwrap();
    // Outputs already equal on disk are left alone: no blob is read for them.
    let restored = cache.restore(&entry, &w.root).unwrap();
    assert_eq!(restored.stats.unchanged, 1);
    write(&w.root, "out/a.txt", b"local");
    assert!(cache.restore(&entry, &w.root).unwrap_err().is_miss());
    assert_eq!(std::fs::read(w.root.join("out/a.txt")).unwrap(), b"local");
}

fn tamper_manifest(cache_dir: &Path, manifest: &str) {
    let conn = rusqlite::Connection::open(cache_dir.join("index.sqlite")).unwrap();
    conn.execute("UPDATE entries SET manifest = ?1", [manifest.as_bytes()])
        .unwrap();
}

#[test]
fn restore_refuses_paths_that_are_absolute_or_leave_the_workspace() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "a.txt", b"payload");
    store(&cache, &w.root, key(6), &fp("t"), &outputs(&["a.txt"]));
    let h = Hash32::of(b"payload").to_hex();
    for bad in ["../x", "/etc/x", "a/../../x", "", "./x"] {
        store(&cache, &w.root, key(6), &fp("t"), &outputs(&["a.txt"]));
        let m = format!(
            r#"{{"items": {{"ok.txt": {{"kind": "file", "hash": "{h}", "size": 7, "mode": 420}}, "{bad}": {{"kind": "file", "hash": "{h}", "size": 7, "mode": 420}}}}}}"#
        );
        tamper_manifest(&w.cache_dir, &m);
        let entry = cache.lookup(&key(6)).unwrap().remove(0);
        let err = cache.restore(&entry, &w.root).unwrap_err();
        match &err {
            CacheError::UnsafePath { path, .. } => assert_eq!(path, bad),
            other => panic!("expected UnsafePath for {bad:?}, got {other}"),
        }
        assert!(err.to_string().contains("refusing to restore"), "{err}");
        assert!(
            !w.root.join("ok.txt").exists(),
            "nothing is written when one path is refused"
        );
    }
    assert!(!w.root.parent().unwrap().join("x").exists());
    eprintln!("soak: tampered manifests (paths leaving the workspace): tried 5, survived 5");

    // An emptied dir that leaves the workspace is refused too.
    store(&cache, &w.root, key(6), &fp("t"), &outputs(&["a.txt"]));
    tamper_manifest(&w.cache_dir, r#"{"items": {}, "emptied_dirs": ["../ws"]}"#);
    let entry = cache.lookup(&key(6)).unwrap().remove(0);
    assert!(matches!(
        cache.restore(&entry, &w.root),
        Err(CacheError::UnsafePath { .. })
    ));
}

#[test]
fn restore_refuses_to_write_through_a_symlinked_directory() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "out/a.txt", b"payload");
    store(&cache, &w.root, key(7), &fp("s"), &outputs(&["out/a.txt"]));
    std::fs::remove_dir_all(w.root.join("out")).unwrap();
    let outside = w.root.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, w.root.join("out")).unwrap();
    let entry = cache.lookup(&key(7)).unwrap().remove(0);
    let err = cache.restore(&entry, &w.root).unwrap_err();
    assert!(matches!(err, CacheError::UnsafePath { .. }), "{err}");
    assert!(!outside.join("a.txt").exists());
}

#[test]
fn outputs_under_a_symlinked_directory_are_never_stored() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    // `out` is a symlink to a directory of the workspace: the task wrote through it.
    write(&w.root, "real/a.txt", b"payload");
    std::os::unix::fs::symlink("real", w.root.join("out")).unwrap();
    let err = cache
        .store(&NewEntry {
            spawn_key: key(8),
            fingerprint: &fp("l"),
            outputs: &outputs(&["out/a.txt"]),
            workspace_root: &w.root,
            stdio: &[],
            run_time: None,
            remember: None,
        })
        .unwrap_err();
    assert!(matches!(err, CacheError::UnsafePath { .. }), "{err}");
    assert!(err.to_string().contains("is a symlink"), "{err}");
    assert!(cache.lookup(&key(8)).unwrap().is_empty(), "nothing stored");
    let blob = cache.blob_path(&Hash32::of(b"payload"));
    assert!(!blob.exists(), "no blob written for it");
}

#[test]
fn size_cap_evicts_least_recently_used_and_shares_blobs() {
    let w = ws();
    let open = || {
        Cache::open(
            &w.cache_dir,
            CacheOptions {
                max_size: 3000,
                ..CacheOptions::default()
            },
        )
        .unwrap()
    };
    let cache = open();
    let world_env = EnvMap::new();
    let salts = BTreeMap::new();
    let env_key = cache.env_key().clone();
    let world = World {
        workspace_root: &w.root,
        env: &world_env,
        env_key: &env_key,
        salts: &salts,
        untracked_env_patterns: &[],
    };
    let hasher = Hasher::new(None, SystemTime::now());
    write(&w.root, "e1", &[1; 1000]);
    write(&w.root, "shared", &[9; 100]);
    let e1 = store(
        &cache,
        &w.root,
        key(10),
        &fp("1"),
        &outputs(&["e1", "shared"]),
    );
    write(&w.root, "e2", &[2; 1000]);
    let e2 = store(
        &cache,
        &w.root,
        key(11),
        &fp("2"),
        &outputs(&["e2", "shared"]),
    );
    assert_eq!(
        cache.info().unwrap().blobs,
        3,
        "the shared output is one blob"
    );
    assert_eq!(cache.info().unwrap().blob_bytes, 2100);
    // Use e1: e2 becomes the least recently used. A hit writes nothing to the index; the
    // use is written when the cache is dropped, so the next runner (reopening) knows it.
    assert!(
        matches!(cache.find_hit(&key(10), &world, &hasher).unwrap(), Lookup::Hit(e) if e.id == e1)
    );
    drop(cache);
    let cache = open();
    write(&w.root, "e3", &[3; 1500]);
    let e3 = store(&cache, &w.root, key(12), &fp("3"), &outputs(&["e3"]));
    let ids: Vec<i64> = [10, 11, 12]
        .iter()
        .flat_map(|k| cache.lookup(&key(*k)).unwrap())
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [e1, e3], "e2 ({e2}) was least recently used");
    assert!(
        !cache.blob_path(&Hash32::of(&[2; 1000])).exists(),
        "e2's own blob is deleted"
    );
    assert!(
        cache.blob_path(&Hash32::of(&[9; 100])).exists(),
        "the shared blob stays for e1"
    );
    assert_eq!(cache.info().unwrap().blob_bytes, 2600);
}

#[test]
fn history_explains_command_and_declared_env_changes_without_values() {
    let w = ws();
    let cache = Cache::open(
        &w.cache_dir,
        CacheOptions {
            history_len: 3,
            ..CacheOptions::default()
        },
    )
    .unwrap();
    let desc = |args: &[&str], token: &str| SpawnDescription {
        program: "node".into(),
        args: args.iter().map(OsString::from).collect(),
        cwd: rel("packages/app"),
        declared_env: [(b"API_TOKEN".to_vec(), Some(token.as_bytes().to_vec()))]
            .into_iter()
            .collect(),
        config: std::collections::BTreeMap::default(),
    };
    let first = desc(&["build.js"], "secret-one").summarize(cache.env_key());
    assert_eq!(
        cache.explain("packages/app", "build", &first).unwrap(),
        SpawnExplanation::NoHistory
    );
    cache
        .record_history("packages/app", "build", &first)
        .unwrap();
    assert_eq!(
        cache.explain("packages/app", "build", &first).unwrap(),
        SpawnExplanation::SameSpawn
    );
    let now = desc(&["build.js", "--minify"], "secret-two").summarize(cache.env_key());
    let SpawnExplanation::Changed(diffs) = cache.explain("packages/app", "build", &now).unwrap()
    else {
        panic!("must explain a change")
    };
    assert_eq!(
        diffs,
        vec![
            Difference::CommandChanged,
            Difference::DeclaredEnvChanged(EnvName::from("API_TOKEN"))
        ]
    );
    let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert_eq!(text, ["command changed", "declared env API_TOKEN changed"]);
    for i in 0..5 {
        cache
            .record_history(
                "packages/app",
                "build",
                &desc(&[&format!("{i}")], "t").summarize(cache.env_key()),
            )
            .unwrap();
    }
    assert_eq!(
        cache.history("packages/app", "build").unwrap().len(),
        3,
        "history is capped"
    );
    // Neither the index nor anything else in the cache dir holds the env value or the args.
    for entry in std::fs::read_dir(&w.cache_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let data = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&data);
            assert!(
                !text.contains("secret-one") && !text.contains("--minify"),
                "{} leaks",
                p.display()
            );
        }
    }
}

#[test]
fn env_key_is_random_per_dir_private_stable_and_replaceable() {
    let w = ws();
    let first = Cache::open(&w.cache_dir, CacheOptions::default())
        .unwrap()
        .env_key()
        .clone();
    let second = Cache::open(&w.cache_dir, CacheOptions::default())
        .unwrap()
        .env_key()
        .clone();
    assert_eq!(first, second, "the key is stable for a dir");
    let mode = std::fs::metadata(w.cache_dir.join("env.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&w.cache_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "a cache dir runwire creates is private");
    let other = w.cache_dir.with_file_name("cache2");
    let other_key = Cache::open(&other, CacheOptions::default())
        .unwrap()
        .env_key()
        .clone();
    assert_ne!(first, other_key, "each dir has its own random key");
    let shared = EnvKey([42; 32]);
    let with_shared = Cache::open(
        &other,
        CacheOptions {
            shared_env_key: Some(shared.clone()),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    assert_eq!(with_shared.env_key(), &shared);
    assert_eq!(format!("{shared:?}"), "EnvKey(<redacted>)");
    // A truncated key is moved aside and replaced (tests/recovery.rs has the details).
    std::fs::write(w.cache_dir.join("env.key"), b"short").unwrap();
    let reopened = Cache::open(
        &w.cache_dir,
        CacheOptions {
            on_recovery: |_| {},
            ..CacheOptions::default()
        },
    )
    .unwrap();
    assert_ne!(reopened.env_key(), &first);
    assert_eq!(reopened.recoveries().len(), 1);
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let w = ws();
    drop(Cache::open(&w.cache_dir, CacheOptions::default()).unwrap());
    let conn = rusqlite::Connection::open(w.cache_dir.join("index.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap_err();
    assert!(
        matches!(err, CacheError::NewerSchema { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn hash_memo_persists_between_opens() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "a.txt", b"a");
    let memo = cache.load_memo().unwrap();
    // A run start far in the future makes the file "older than the run": rememberable.
    let later = SystemTime::now() + std::time::Duration::from_secs(10);
    let h = Hasher::new(Some(&memo), later).hash_files(&[w.root.join("a.txt")]);
    assert_eq!(h[0].as_ref().unwrap().hash, Hash32::of(b"a"));
    assert_eq!(cache.save_memo(&memo).unwrap(), 1);
    drop(cache);
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    assert_eq!(cache.load_memo().unwrap().len(), 1);
}

#[test]
fn info_and_clean() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "a", b"a");
    store(&cache, &w.root, key(20), &fp("1"), &outputs(&["a"]));
    store(&cache, &w.root, key(20), &fp("2"), &outputs(&["a"]));
    let info = cache.info().unwrap();
    assert_eq!(
        (info.entries, info.spawn_keys, info.blobs, info.blob_bytes),
        (2, 1, 1, 1)
    );
    assert_eq!(cache.clean().unwrap(), 2);
    let info = cache.info().unwrap();
    assert_eq!((info.entries, info.blobs), (0, 0));
    assert!(!cache.blob_path(&Hash32::of(b"a")).exists());
    assert_eq!(cache.integrity_check().unwrap(), "ok");
}

#[test]
fn same_fingerprint_replaces_the_variant() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "a", b"first");
    store(&cache, &w.root, key(21), &fp("same"), &outputs(&["a"]));
    write(&w.root, "a", b"second");
    store(&cache, &w.root, key(21), &fp("same"), &outputs(&["a"]));
    let entries = cache.lookup(&key(21)).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        !cache.blob_path(&Hash32::of(b"first")).exists(),
        "the replaced variant's blob is collected"
    );
    cache.restore(&entries[0], &w.root).unwrap();
    assert_eq!(std::fs::read(w.root.join("a")).unwrap(), b"second");
}

#[test]
fn gc_removes_old_unreferenced_blob_files_only() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "kept", b"kept");
    store(&cache, &w.root, key(30), &fp("gc"), &outputs(&["kept"]));
    // Blob files a killed writer left behind: one old, one fresh.
    let old = cache.blob_path(&Hash32::of(b"orphan-old"));
    let fresh = cache.blob_path(&Hash32::of(b"orphan-fresh"));
    for (p, data) in [(&old, &b"orphan-old"[..]), (&fresh, &b"orphan-fresh"[..])] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let two_hours_ago = SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    assert_eq!(cache.gc(std::time::Duration::from_secs(3600)).unwrap(), 1);
    assert!(!old.exists());
    assert!(
        fresh.exists(),
        "a fresh file may belong to a store about to commit"
    );
    assert!(cache.blob_path(&Hash32::of(b"kept")).exists());
    let entry = cache.lookup(&key(30)).unwrap().remove(0);
    cache.restore(&entry, &w.root).unwrap();
}

#[test]
fn a_hit_with_equal_outputs_present_rewrites_nothing() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "dist/a.js", b"a");
    write(&w.root, "out/b.sh", b"echo b");
    std::fs::set_permissions(
        w.root.join("out/b.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut o = outputs(&["dist/a.js", "out/b.sh"]);
    o.emptied_dirs.insert(rel("out"));
    store(&cache, &w.root, key(9), &fp("equal"), &o);
    let entry = cache.lookup(&key(9)).unwrap().remove(0);

    // Old mtimes, so that any rewrite shows in the mtime as well as the ctime and inode.
    let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    let stamp = |p: &str| {
        let m = std::fs::symlink_metadata(w.root.join(p)).unwrap();
        (m.ino(), m.ctime(), m.ctime_nsec(), m.mtime())
    };
    for p in ["dist/a.js", "out/b.sh"] {
        std::fs::File::options()
            .write(true)
            .open(w.root.join(p))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let before: Vec<_> = ["dist/a.js", "out/b.sh"].iter().map(|p| stamp(p)).collect();
    write(&w.root, "out/stale.txt", b"not in the entry");
    let r = cache.restore(&entry, &w.root).unwrap();
    assert_eq!(r.stats.unchanged, 2, "{:?}", r.stats);
    assert_eq!(r.stats.files, 0, "{:?}", r.stats);
    let after: Vec<_> = ["dist/a.js", "out/b.sh"].iter().map(|p| stamp(p)).collect();
    assert_eq!(before, after, "equal outputs keep inode, ctime and mtime");
    assert!(
        !w.root.join("out/stale.txt").exists(),
        "the emptied dir still loses what the entry does not hold"
    );

    // One output changed (same size) and one with another mode: those are written, with
    // the time of the restore; the equal one stays as it was.
    write(&w.root, "dist/a.js", b"x");
    std::fs::set_permissions(
        w.root.join("out/b.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = cache.restore(&entry, &w.root).unwrap();
    assert_eq!((r.stats.files, r.stats.unchanged), (2, 0), "{:?}", r.stats);
    assert_eq!(std::fs::read(w.root.join("dist/a.js")).unwrap(), b"a");
    let mode = std::fs::metadata(w.root.join("out/b.sh")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o755);
    assert!(
        stamp("dist/a.js").3 > 1_000_000_000,
        "a rewritten file gets the restore's time"
    );
}

// A table of tampered manifests, one case a row.
#[allow(clippy::too_many_lines)]
#[test]
fn restore_refuses_what_it_may_never_write_and_writes_nothing() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "a.txt", b"payload");
    write(&w.root, ".git/HEAD", b"ref: refs/heads/main\n");
    write(&w.root, "node_modules/pkg/index.js", b"kept");
    let h = Hash32::of(b"payload").to_hex();
    let file =
        |mode: u32| format!(r#"{{"kind": "file", "hash": "{h}", "size": 7, "mode": {mode}}}"#);
    let cache_rel = w
        .cache_dir
        .strip_prefix(&w.root)
        .map(|r| r.to_string_lossy().into_owned())
        .ok();
    let mut tampered: Vec<(String, String)> = vec![
        (
            ".git/hooks/pre-commit".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, ".git/hooks/pre-commit": {}}}}}"#,
                file(420),
                file(493)
            ),
        ),
        (
            "sub/.git/config".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "sub/.git/config": {}}}}}"#,
                file(420),
                file(420)
            ),
        ),
        (
            "node_modules/.bin/tsc".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "node_modules/.bin/tsc": {}}}}}"#,
                file(420),
                file(493)
            ),
        ),
        (
            "suid".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "suid": {}}}}}"#,
                file(420),
                file(0o4755)
            ),
        ),
        (
            "sticky".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "sticky": {{"kind": "dir", "mode": {}}}}}}}"#,
                file(420),
                0o1777
            ),
        ),
        (
            "link".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "link": {{"kind": "symlink", "target": "../../etc/passwd"}}}}}}"#,
                file(420)
            ),
        ),
        (
            "abs".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}, "abs": {{"kind": "symlink", "target": "/etc/passwd"}}}}}}"#,
                file(420)
            ),
        ),
        (
            ".git".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}}}, "emptied_dirs": [".git"]}}"#,
                file(420)
            ),
        ),
        (
            "node_modules".into(),
            format!(
                r#"{{"items": {{"ok.txt": {}}}, "emptied_dirs": ["node_modules"]}}"#,
                file(420)
            ),
        ),
    ];
    if let Some(rel) = &cache_rel {
        tampered.push((
            format!("{rel}/env.key"),
            format!(
                r#"{{"items": {{"ok.txt": {}, "{rel}/env.key": {}}}}}"#,
                file(420),
                file(384)
            ),
        ));
    }
    for (bad, manifest) in &tampered {
        store(&cache, &w.root, key(7), &fp("t"), &outputs(&["a.txt"]));
        tamper_manifest(&w.cache_dir, manifest);
        let entry = cache.lookup(&key(7)).unwrap().remove(0);
        match cache.restore(&entry, &w.root) {
            Err(CacheError::UnsafePath { path, .. }) => assert_eq!(&path, bad),
            other => panic!("{bad}: expected a refusal, got {other:?}"),
        }
        assert!(
            !w.root.join("ok.txt").exists(),
            "{bad}: a refused entry writes nothing"
        );
        assert!(
            cache.lookup(&key(7)).unwrap().is_empty(),
            "{bad}: the entry is dropped"
        );
    }
    assert!(!w.root.join(".git/hooks").exists());
    eprintln!(
        "soak: tampered manifests (restore never writes): tried {n}, survived {n}",
        n = tampered.len()
    );
    assert_eq!(
        std::fs::read(w.root.join(".git/HEAD")).unwrap(),
        b"ref: refs/heads/main\n"
    );
    assert_eq!(
        std::fs::read(w.root.join("node_modules/pkg/index.js")).unwrap(),
        b"kept"
    );
}

#[test]
fn what_restore_would_refuse_is_never_stored() {
    use std::os::unix::fs::PermissionsExt;
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "tool", b"x");
    std::fs::set_permissions(w.root.join("tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", w.root.join("host")).unwrap();
    for (path, why) in [("tool", "setuid"), ("host", "absolute")] {
        let err = cache
            .store(&NewEntry {
                spawn_key: key(8),
                fingerprint: &fp(path),
                outputs: &outputs(&[path]),
                workspace_root: &w.root,
                stdio: &[],
                run_time: None,
                remember: None,
            })
            .unwrap_err();
        assert!(err.to_string().contains(why), "{path}: {err}");
    }
    assert!(cache.lookup(&key(8)).unwrap().is_empty());
}

#[test]
fn a_directory_where_a_blob_belongs_is_replaced_and_no_temp_file_is_left() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "out/a.txt", b"blob content");
    // Damage before the blob exists: a directory (with a file in it) at the blob's name.
    let blob = cache.blob_path(&Hash32::of(b"blob content"));
    std::fs::create_dir_all(blob.join("junk")).unwrap();
    std::fs::write(blob.join("junk/x"), b"x").unwrap();

    for round in 0..2 {
        store(&cache, &w.root, key(9), &fp("d"), &outputs(&["out/a.txt"]));
        assert!(blob.is_file(), "round {round}: the blob is a file again");
        let tmp: Vec<_> = std::fs::read_dir(w.cache_dir.join("tmp"))
            .unwrap()
            .collect();
        assert!(tmp.is_empty(), "round {round}: temp files left: {tmp:?}");
    }
    write(&w.root, "out/a.txt", b"local");
    let entry = cache.lookup(&key(9)).unwrap().remove(0);
    cache.restore(&entry, &w.root).unwrap();
    assert_eq!(
        std::fs::read(w.root.join("out/a.txt")).unwrap(),
        b"blob content"
    );
}

/// The ids of a lookup's variants, in its order.
fn ids(entries: &[runwire_cache::StoredEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

/// Rows read ahead in one transaction give each key the variants a lookup gives, in the
/// same order (this process's uses first), and a row that does not decode is dropped from
/// the index as a lookup drops it.
#[test]
fn prefetched_rows_give_what_a_lookup_gives() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "out.txt", b"x");
    let o = outputs(&["out.txt"]);
    store(&cache, &w.root, key(1), &fp("a"), &o);
    store(&cache, &w.root, key(1), &fp("b"), &o);
    store(&cache, &w.root, key(2), &fp("c"), &o);
    // A use in this process reorders key 1's variants: settling must see it as a lookup.
    let world_env = EnvMap::new();
    let world = World {
        workspace_root: &w.root,
        env: &world_env,
        env_key: cache.env_key(),
        salts: &BTreeMap::new(),
        untracked_env_patterns: &[],
    };
    let hasher = Hasher::new(None, SystemTime::now());
    let _ = cache.find_hit(&key(1), &world, &hasher);
    let keys = [key(1), key(2), key(3), key(1)];
    let mut rows = cache.prefetch(&keys).unwrap();
    assert_eq!(rows.len(), 3, "one entry per distinct key");
    for k in [key(1), key(2), key(3)] {
        let decoded = runwire_cache::Decoded::new(k, rows.remove(&k).unwrap());
        let settled = cache.settle(decoded).unwrap();
        assert_eq!(ids(&settled), ids(&cache.lookup(&k).unwrap()), "{k}");
    }
    assert_eq!(ids(&cache.lookup(&key(3)).unwrap()), Vec::<i64>::new());
    assert_eq!(ids(&cache.lookup(&key(1)).unwrap()).len(), 2);

    // A row that does not decode: the prefetch still reads it, settling drops it.
    tamper_manifest(&w.cache_dir, "not json");
    let mut rows = cache.prefetch(&[key(2)]).unwrap();
    let decoded = runwire_cache::Decoded::new(key(2), rows.remove(&key(2)).unwrap());
    assert!(!decoded.is_settled());
    assert!(cache.settle(decoded).unwrap().is_empty());
    assert!(cache.prefetch(&[key(2)]).unwrap()[&key(2)].is_empty());
}

/// A store remembers each archived file's hash under the stat it read the file at, when the
/// racy rule allows (here the reference is in the future, so every stat is old enough); a
/// later change to an output changes its stat, so restore compares the content again and
/// rewrites it rather than trusting the remembered hash.
#[test]
fn a_store_remembers_its_outputs_hashes_and_a_changed_output_is_still_restored() {
    let w = ws();
    let cache = Cache::open(&w.cache_dir, CacheOptions::default()).unwrap();
    write(&w.root, "dist/a.js", b"a1");
    write(&w.root, "dist/b.js", b"b1");
    let o = outputs(&["dist/a.js", "dist/b.js"]);
    let memo = runwire_fingerprint::HashMemo::new();
    let later = SystemTime::now() + std::time::Duration::from_secs(5);
    let hasher = Hasher::new(Some(&memo), later);
    cache
        .store(&NewEntry {
            spawn_key: key(7),
            fingerprint: &fp("remember"),
            outputs: &o,
            workspace_root: &w.root,
            stdio: &[],
            run_time: None,
            remember: Some(&hasher),
        })
        .unwrap();
    let abs = w.root.join("dist/a.js");
    let stat = runwire_fingerprint::StatKey::from_metadata(&std::fs::metadata(&abs).unwrap());
    assert_eq!(memo.get(&abs, &stat), Some(Hash32::of(b"a1")));
    assert_eq!(memo.len(), 2);

    // Not remembered when the stat is as new as the store (the default reference: now).
    let fresh = runwire_fingerprint::HashMemo::new();
    let now = Hasher::new(
        Some(&fresh),
        SystemTime::now() - std::time::Duration::from_secs(5),
    );
    cache
        .store(&NewEntry {
            spawn_key: key(8),
            fingerprint: &fp("remember"),
            outputs: &o,
            workspace_root: &w.root,
            stdio: &[],
            run_time: None,
            remember: Some(&now),
        })
        .unwrap();
    assert!(fresh.is_empty());

    // Same size, new content: restore with the memo must not trust the old hash.
    let entry = cache.lookup(&key(7)).unwrap().remove(0);
    write(&w.root, "dist/a.js", b"a2");
    let r = cache
        .restore_with_memo(&entry, &w.root, Some(&memo))
        .unwrap();
    assert_eq!((r.stats.files, r.stats.unchanged), (1, 1), "{:?}", r.stats);
    assert_eq!(std::fs::read(&abs).unwrap(), b"a1");
}
