//! The remote seam with two cache dirs and two workspaces ("two machines") sharing one real
//! server on 127.0.0.1 (turborepo-remote-cache, buildgrid): a build stored and uploaded on the
//! first is a validated hit on the second with outputs and stdio restored; a variant that
//! does not validate there is a miss naming the difference; tampered blobs and a stopped
//! server are misses with at most one warning, never wrong output.

#[path = "../../runwire-remote/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use runwire_cache::{
    Cache, CacheOptions, HitSource, Lookup, NewEntry, RemoteCache, StdioChunk, Stream,
    namespace_of, shared_env_key,
};
use runwire_fingerprint::{
    Access, ClassifyOptions, Declaration, Difference, EnvMap, EnvName, ExitStatus, Hash32, Hasher,
    PathAccess, RunRecord, SpawnKey, TraceModel, World, classify,
};
use runwire_remote::{Kind, Remote, RemoteConfig};

const SECRET: &str = "team-shared-secret-0123456789";

struct Machine {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    cache: Cache,
    remote: RemoteCache,
}

fn machine(kind: Kind, url: &str, token: Option<&str>) -> Machine {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.js"), b"main").unwrap();
    let key = shared_env_key(SECRET).unwrap();
    let cache = Cache::open(
        &base.join("cache"),
        CacheOptions {
            shared_env_key: Some(key.clone()),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    let mut config = RemoteConfig::new(kind, url);
    config.token = token.map(str::to_string);
    config.timeout = Duration::from_secs(20);
    let remote = RemoteCache::new(Remote::new(
        config.connect().unwrap(),
        namespace_of(&key),
        false,
    ));
    Machine {
        _tmp: tmp,
        root,
        cache,
        remote,
    }
}

fn env(mode: &str) -> EnvMap {
    [(b"NODE_ENV".to_vec(), mode.as_bytes().to_vec())]
        .into_iter()
        .collect()
}

const KEY: SpawnKey = SpawnKey(Hash32([9; 32]));

fn lookup(m: &Machine, mode: &str) -> (Lookup, HitSource) {
    let e = env(mode);
    let salts = BTreeMap::new();
    let world = World {
        workspace_root: &m.root,
        env: &e,
        env_key: m.cache.env_key(),
        salts: &salts,
        untracked_env_patterns: &[],
    };
    let hasher = Hasher::new(None, SystemTime::now());
    runwire_cache::find_hit_with_remote(
        || &m.cache,
        &KEY,
        &world,
        &hasher,
        Some(&m.remote),
        runwire_cache::LocalVariants::Query,
    )
    .unwrap()
}

/// A `NODE_ENV`-dependent build on `m`: writes dist (a small and a 2 MiB file), stores it and
/// starts its upload.
fn build_and_upload(m: &Machine, mode: &str) {
    let big: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::create_dir_all(m.root.join("dist")).unwrap();
    std::fs::write(m.root.join("dist/index.js"), format!("mode={mode}")).unwrap();
    std::fs::write(m.root.join("dist/big.bin"), &big).unwrap();
    let mut accesses = BTreeMap::new();
    accesses.insert(m.root.join("src/main.js"), PathAccess::new(Access::Read));
    accesses.insert(
        m.root.join("dist/index.js"),
        PathAccess::new(Access::Create),
    );
    accesses.insert(m.root.join("dist/big.bin"), PathAccess::new(Access::Create));
    let run = RunRecord {
        trace: TraceModel {
            accesses,
            complete: true,
            incomplete_reasons: vec![],
            programs: Vec::new(),
        },
        declarations: vec![Declaration::TrackedEnv {
            name: b"NODE_ENV".to_vec(),
            value: Some(mode.as_bytes().to_vec().into()),
        }],
        diagnostics: vec![],
        exit: ExitStatus::Code(0),
    };
    let hasher = Hasher::new(None, SystemTime::now());
    let opts = ClassifyOptions::new(m.root.clone());
    let c = classify(&run, &opts, m.cache.env_key(), &hasher).unwrap();
    assert!(c.verdict.is_cacheable(), "{}", c.verdict);
    let stdio = [StdioChunk {
        stream: Stream::Stdout,
        data: format!("built {mode}\n").into_bytes(),
    }];
    let id = m
        .cache
        .store(&NewEntry {
            spawn_key: KEY,
            fingerprint: &c.fingerprint,
            outputs: &c.outputs,
            workspace_root: &m.root,
            stdio: &stdio,
            run_time: None,
            remember: None,
        })
        .unwrap();
    let job = m.cache.upload_job(&KEY, id).unwrap().expect("just stored");
    m.remote.upload(job);
}

fn dist(root: &Path) -> Option<(Vec<u8>, usize)> {
    let index = std::fs::read(root.join("dist/index.js")).ok()?;
    let big = std::fs::read(root.join("dist/big.bin")).ok()?;
    Some((index, big.len()))
}

/// A's build is a remote hit on B (validated, restored byte for byte, stdio replayed), then a
/// local hit on B; another `NODE_ENV` on B is a miss naming the env.
fn two_machines(a: &Machine, b: &Machine) {
    build_and_upload(a, "production");
    let report = a.remote.finish(Duration::from_secs(120));
    assert_eq!(
        (report.uploaded, report.failed, report.unfinished),
        (1, 0, 0)
    );

    match lookup(b, "development") {
        (Lookup::Miss(v), HitSource::Remote) => {
            assert_eq!(v.len(), 1);
            assert_eq!(
                v[0].differences,
                vec![Difference::EnvChanged(EnvName::from("NODE_ENV"))]
            );
        }
        other => panic!("development must miss: {other:?}"),
    }
    assert_eq!(dist(&b.root), None, "a miss restores nothing");

    let (Lookup::Hit(entry), HitSource::Remote) = lookup(b, "production") else {
        panic!("production must be a remote hit")
    };
    let restored = b.cache.restore(&entry, &b.root).unwrap();
    assert_eq!(dist(&b.root), dist(&a.root));
    assert_eq!(restored.stdio[0].data, b"built production\n");
    assert!(matches!(
        lookup(b, "production"),
        (Lookup::Hit(_), HitSource::Local)
    ));
    assert!(a.remote.take_warning().is_none() && b.remote.take_warning().is_none());
}

#[test]
fn turbo_build_on_one_machine_is_a_hit_on_another() {
    let server = common::Turbo::start("tok");
    let a = machine(Kind::Turbo, &server.url(), Some("tok"));
    let b = machine(Kind::Turbo, &server.url(), Some("tok"));
    two_machines(&a, &b);
}

#[test]
fn buildgrid_build_on_one_machine_is_a_hit_on_another() {
    let mut server = common::BuildGrid::start();
    let a = machine(Kind::Reapi, &server.url(), None);
    let b = machine(Kind::Reapi, &server.url(), None);
    two_machines(&a, &b);

    // Stopped server: a third machine misses with one warning and its upload fails quietly.
    server.stop();
    let c = machine(Kind::Reapi, &server.url(), None);
    assert!(matches!(lookup(&c, "production"), (Lookup::Miss(_), _)));
    assert!(c.remote.take_warning().is_some());
    build_and_upload(&c, "production");
    let report = c.remote.finish(Duration::from_secs(120));
    assert_eq!((report.uploaded, report.failed), (0, 1));
    assert!(c.remote.take_warning().is_none(), "one warning per run");
}

#[test]
fn tampered_remote_blob_is_a_miss_not_wrong_output() {
    let server = common::Turbo::start("tok");
    let a = machine(Kind::Turbo, &server.url(), Some("tok"));
    let b = machine(Kind::Turbo, &server.url(), Some("tok"));
    build_and_upload(&a, "production");
    let report = a.remote.finish(Duration::from_secs(120));
    assert_eq!(
        report.uploaded,
        1,
        "{report:?}; remote warning: {:?}",
        a.remote.take_warning()
    );
    // Alter dist/index.js's blob in the server's storage.
    let blob = Hash32::of(b"mode=production");
    let path = server.artifact_path(&format!("rwb1-{}", blob.to_hex()));
    std::fs::write(&path, b"mode=EVIL!!!!!!").unwrap();
    assert!(matches!(lookup(&b, "production"), (Lookup::Miss(_), _)));
    assert_eq!(dist(&b.root), None);
    assert!(b.remote.remote().rejected() >= 1);
    assert_eq!(
        b.cache.info().unwrap().entries,
        0,
        "nothing committed locally"
    );
}

#[test]
fn wrong_token_is_a_local_run_with_one_warning() {
    let server = common::Turbo::start("right");
    let m = machine(Kind::Turbo, &server.url(), Some("wrong-token-xyz"));
    assert!(matches!(lookup(&m, "production"), (Lookup::Miss(v), _) if v.is_empty()));
    let w = m.remote.take_warning().expect("one warning");
    assert!(
        w.contains("RUNWIRE_REMOTE_CACHE_TOKEN") && !w.contains("wrong-token-xyz"),
        "{w}"
    );
    build_and_upload(&m, "production");
    let report = m.remote.finish(Duration::from_secs(60));
    assert_eq!((report.uploaded, report.failed), (0, 1));
    // The local store still works: the next lookup is a local hit.
    assert!(matches!(
        lookup(&m, "production"),
        (Lookup::Hit(_), HitSource::Local)
    ));
}

#[test]
fn a_short_shared_key_is_refused_with_its_name() {
    let e = shared_env_key("short").unwrap_err();
    assert!(e.to_string().contains("RUNWIRE_REMOTE_CACHE_KEY"), "{e}");
}
