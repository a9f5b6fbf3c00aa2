//! The runner's own secrets (`RUNNER_SECRETS`) are answered as if they were not set, by
//! name, by glob and by prefix, tracked or not, on a real socket; the recorded declarations
//! say "unset" and leave them out of every set.

use std::time::Duration;

use runwire_client::{Client, EnvSelector};
use runwire_server::{Declaration, RUNNER_SECRETS, Server, ServerConfig};

#[test]
fn runner_secrets_are_answered_as_unset() {
    let mut env: Vec<(Vec<u8>, Vec<u8>)> = RUNNER_SECRETS
        .iter()
        .map(|name| (name.as_bytes().to_vec(), b"s3cret".to_vec()))
        .collect();
    env.push((b"RUNWIRE_OTHER".to_vec(), b"visible".to_vec()));
    let server = Server::start(ServerConfig::new(env)).unwrap();
    let client = Client::connect(server.socket_path());
    for name in RUNNER_SECRETS {
        for tracked in [true, false] {
            assert_eq!(
                client.get_env(name.as_bytes(), tracked).unwrap(),
                None,
                "{name}"
            );
        }
    }
    let by_prefix = client
        .get_envs(EnvSelector::Prefix(b"RUNWIRE_".to_vec()), true)
        .unwrap();
    let by_glob = client
        .get_envs(EnvSelector::Glob(b"*".to_vec()), true)
        .unwrap();
    let only_other = vec![(b"RUNWIRE_OTHER".to_vec(), b"visible".to_vec())];
    assert_eq!(by_prefix, only_other);
    assert_eq!(by_glob, only_other);
    drop(client);
    let report = server.finish(Duration::from_secs(10));
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let mut unset = 0;
    for d in &report.declarations {
        match d {
            Declaration::TrackedEnv { name, value } => {
                assert!(value.is_none(), "{}", String::from_utf8_lossy(name));
                unset += 1;
            }
            Declaration::TrackedEnvSet { matches, .. } => {
                let names: Vec<&[u8]> = matches.iter().map(|(n, _)| n.as_slice()).collect();
                assert_eq!(names, [b"RUNWIRE_OTHER".as_slice()]);
            }
            other => panic!("unexpected declaration {other:?}"),
        }
    }
    assert_eq!(unset, RUNNER_SECRETS.len());
}
