//! Both backends against real servers on 127.0.0.1: two `Remote`s with nothing in common but
//! the server and the namespace ("two machines") share entries and blobs; wrong credentials,
//! a stopped or silent server and tampered or truncated artifacts written straight into the
//! server's storage are each a clear error or a miss, never wrong data.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use runwire_remote::{BlobRef, Kind, Remote, RemoteConfig, RemoteEntry, RemoteError};

const NS: [u8; 32] = [7; 32];

fn remote(kind: Kind, url: &str, token: Option<&str>) -> Remote {
    let mut config = RemoteConfig::new(kind, url);
    config.token = token.map(str::to_string);
    config.timeout = Duration::from_secs(20);
    Remote::new(config.connect().unwrap(), NS, false)
}

/// Blobs of one "build": a small file, a large one (over the REAPI batch limit, so it goes
/// through `ByteStream`) and stdio.
fn build_outputs() -> BTreeMap<BlobRef, Vec<u8>> {
    let mut big = Vec::with_capacity(3 * 1024 * 1024 + 17);
    let mut x: u32 = 1;
    while big.len() < 3 * 1024 * 1024 + 17 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        big.push((x >> 24) as u8);
    }
    [
        b"console.log('built')\n".to_vec(),
        big,
        b"\x01stdout line\n".to_vec(),
    ]
    .into_iter()
    .map(|b| (BlobRef::of(&b), b))
    .collect()
}

fn entry_for(
    spawn_key: [u8; 32],
    fingerprint: &[u8],
    blobs: &BTreeMap<BlobRef, Vec<u8>>,
) -> RemoteEntry {
    RemoteEntry {
        spawn_key,
        fingerprint_id: *blake3::hash(fingerprint).as_bytes(),
        fingerprint: fingerprint.to_vec(),
        manifest: br#"{"items":["dist/a.js"]}"#.to_vec(),
        stdio: blobs.keys().find(|b| b.size < 20).copied(),
        blobs: blobs.keys().copied().collect(),
    }
}

fn publish(remote: &Remote, entry: &RemoteEntry, blobs: &BTreeMap<BlobRef, Vec<u8>>) {
    remote
        .publish(entry, &|b| {
            blobs
                .get(b)
                .cloned()
                .ok_or_else(|| std::io::Error::other("no such blob"))
        })
        .unwrap_or_else(|e| panic!("publish failed: {e}"));
}

/// Machine A publishes, machine B finds the same entry and every blob, verified.
fn share_between_two_machines(a: &Remote, b: &Remote) -> (RemoteEntry, BTreeMap<BlobRef, Vec<u8>>) {
    let blobs = build_outputs();
    let key = [1; 32];
    assert!(b.variants(&key).unwrap().is_empty(), "nothing stored yet");
    let entry = entry_for(key, b"fingerprint production", &blobs);
    publish(a, &entry, &blobs);
    let found = b.variants(&key).unwrap();
    assert_eq!(found, vec![entry.clone()]);
    for (r, bytes) in &blobs {
        assert_eq!(b.fetch_blob(r).unwrap().as_ref(), Some(bytes), "blob {r:?}");
    }
    // A second variant under the same key comes first; republishing the first moves it back
    // to the front without duplicating it.
    let other = entry_for(key, b"fingerprint development", &blobs);
    publish(b, &other, &blobs);
    assert_eq!(
        a.variants(&key).unwrap(),
        vec![other.clone(), entry.clone()]
    );
    publish(a, &entry, &blobs);
    assert_eq!(b.variants(&key).unwrap(), vec![entry.clone(), other]);
    assert_eq!(a.rejected() + b.rejected(), 0);
    assert!(a.take_warning().is_none() && b.take_warning().is_none());
    (entry, blobs)
}

#[test]
fn turbo_two_machines_share_entries_and_blobs() {
    let server = common::Turbo::start("s3cret-token");
    let a = remote(Kind::Turbo, &server.url(), Some("s3cret-token"));
    let b = remote(Kind::Turbo, &server.url(), Some("s3cret-token"));
    a.check().unwrap();
    share_between_two_machines(&a, &b);
    // Another namespace (another shared key) sees nothing of it.
    let mut config = RemoteConfig::new(Kind::Turbo, server.url());
    config.token = Some("s3cret-token".into());
    let elsewhere = Remote::new(config.connect().unwrap(), [8; 32], false);
    assert!(elsewhere.variants(&[1; 32]).unwrap().is_empty());
}

#[test]
fn turbo_wrong_token_is_one_clear_warning() {
    let server = common::Turbo::start("right-token");
    let r = remote(Kind::Turbo, &server.url(), Some("wrong-token-value"));
    let err = r.check().unwrap_err();
    assert_eq!(err.code(), "remote-unauthorized", "{err}");
    let warning = r.take_warning().expect("a warning");
    assert!(warning.contains("RUNWIRE_REMOTE_CACHE_TOKEN"), "{warning}");
    assert!(
        !warning.contains("wrong-token-value"),
        "the token leaked: {warning}"
    );
    // Later calls neither reach the server nor warn again.
    assert!(matches!(r.variants(&[1; 32]), Err(RemoteError::Disabled)));
    assert!(r.take_warning().is_none());
    assert!(!format!("{r:?}").contains("wrong-token-value"));
}

#[test]
fn turbo_tampered_or_truncated_artifacts_are_never_used() {
    let server = common::Turbo::start("t");
    let a = remote(Kind::Turbo, &server.url(), Some("t"));
    let b = remote(Kind::Turbo, &server.url(), Some("t"));
    let (entry, blobs) = share_between_two_machines(&a, &b);

    // A content blob altered in the server's storage: not returned.
    let (small, bytes) = blobs
        .iter()
        .find(|(r, _)| r.size > 20 && r.size < 1000)
        .unwrap();
    let path = server.artifact_path(&format!("rwb1-{}", small.blake3_hex()));
    let mut altered = bytes.clone();
    altered[0] ^= 1;
    std::fs::write(&path, &altered).unwrap();
    assert_eq!(b.fetch_blob(small).unwrap(), None);
    // Truncated: not returned either.
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(b.fetch_blob(small).unwrap(), None);
    assert_eq!(b.rejected(), 2);

    // The entry record truncated: the variant is gone (a miss), nothing else breaks.
    let record = entry.encode();
    let record_path = server.artifact_path(&format!("rwb1-{}", BlobRef::of(&record).blake3_hex()));
    std::fs::write(&record_path, &record[..record.len() / 2]).unwrap();
    let left = b.variants(&entry.spawn_key).unwrap();
    assert!(!left.contains(&entry), "a truncated entry was used");
    assert_eq!(left.len(), 1, "the other variant is still there");

    // The index itself altered: no variant at all.
    let index_path = server.artifact_path(&format!(
        "rwi1-{}",
        blake3::Hash::from(b.index_name_of(&entry.spawn_key)).to_hex()
    ));
    let mut index = std::fs::read(&index_path).unwrap();
    let last = index.len() - 1;
    index[last] ^= 0xff;
    std::fs::write(&index_path, &index).unwrap();
    assert!(b.variants(&entry.spawn_key).unwrap().is_empty());
    assert!(
        b.take_warning().is_none(),
        "corrupt data is a miss, not a server failure"
    );
}

#[test]
fn turbo_stopped_server_costs_one_warning() {
    let mut server = common::Turbo::start("t");
    let r = remote(Kind::Turbo, &server.url(), Some("t"));
    r.check().unwrap();
    server.stop();
    let err = r.variants(&[1; 32]).unwrap_err();
    assert_eq!(err.code(), "remote-unreachable", "{err}");
    let warning = r.take_warning().unwrap();
    assert!(warning.contains("unreachable"), "{warning}");
    let blobs = build_outputs();
    let entry = entry_for([1; 32], b"fp", &blobs);
    assert!(matches!(
        r.publish(&entry, &|_| Ok(Vec::new())),
        Err(RemoteError::Disabled)
    ));
    assert!(r.take_warning().is_none());
}

/// A server that accepts connections and never answers: the call ends at the timeout.
#[test]
fn silent_servers_end_at_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for (kind, url) in [
        (Kind::Turbo, format!("http://127.0.0.1:{port}")),
        (Kind::Reapi, format!("grpc://127.0.0.1:{port}")),
    ] {
        let mut config = RemoteConfig::new(kind, url);
        config.timeout = Duration::from_secs(1);
        let r = Remote::new(config.connect().unwrap(), NS, false);
        let err = r.variants(&[1; 32]).unwrap_err();
        assert_eq!(err.code(), "remote-unreachable", "{kind:?}: {err}");
        assert!(r.take_warning().is_some());
    }
    drop(listener);
}

#[test]
fn read_only_remotes_never_upload() {
    let config = RemoteConfig::new(Kind::Turbo, "http://127.0.0.1:9");
    let r = Remote::new(config.connect().unwrap(), NS, true);
    let blobs = build_outputs();
    let entry = entry_for([1; 32], b"fp", &blobs);
    assert!(matches!(
        r.publish(&entry, &|_| Ok(Vec::new())),
        Err(RemoteError::ReadOnly)
    ));
}

#[test]
fn bad_configuration_is_named() {
    let e = RemoteConfig::new(Kind::Turbo, "ftp://x")
        .connect()
        .unwrap_err();
    assert!(e.to_string().contains("ftp://x"), "{e}");
    let e = RemoteConfig::new(Kind::Reapi, "https://x")
        .connect()
        .unwrap_err();
    assert!(e.to_string().contains("grpc://"), "{e}");
    let e = Kind::parse("s3").unwrap_err();
    assert!(e.to_string().contains("`s3`"), "{e}");
}

#[test]
fn reapi_buildgrid_two_machines_tampering_and_stop() {
    let mut server = common::BuildGrid::start();
    let a = remote(Kind::Reapi, &server.url(), None);
    let b = remote(Kind::Reapi, &server.url(), None);
    a.check().unwrap_or_else(|e| panic!("{e}"));
    let (entry, blobs) = share_between_two_machines(&a, &b);

    // Tampered and truncated in buildgrid's disk storage: never used.
    let (small, bytes) = blobs
        .iter()
        .find(|(r, _)| r.size > 20 && r.size < 1000)
        .unwrap();
    let path = server.object_path(&small.sha256_hex());
    let mut altered = bytes.clone();
    altered[3] ^= 1;
    std::fs::write(&path, &altered).unwrap();
    assert_eq!(b.fetch_blob(small).unwrap(), None);
    let (big, big_bytes) = blobs.iter().find(|(r, _)| r.size > 1024 * 1024).unwrap();
    std::fs::write(server.object_path(&big.sha256_hex()), &big_bytes[..1000]).unwrap();
    assert_eq!(b.fetch_blob(big).unwrap(), None);
    let record = entry.encode();
    std::fs::write(
        server.object_path(&BlobRef::of(&record).sha256_hex()),
        &record[..record.len() - 3],
    )
    .unwrap();
    assert!(!b.variants(&entry.spawn_key).unwrap().contains(&entry));
    // The small blob and the record fail our checks; buildgrid itself refuses the short big one.
    assert!(b.rejected() >= 2, "rejected {}", b.rejected());
    assert!(b.take_warning().is_none());

    // Stopped: one unreachable error, one warning, then no more calls.
    server.stop();
    let err = b.variants(&entry.spawn_key).unwrap_err();
    assert_eq!(err.code(), "remote-unreachable", "{err}");
    assert!(b.take_warning().is_some());
    assert!(matches!(b.fetch_blob(small), Err(RemoteError::Disabled)));
    assert!(b.take_warning().is_none());
}
