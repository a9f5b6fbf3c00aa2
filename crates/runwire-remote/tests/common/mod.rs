//! Real cache servers for the tests, started on 127.0.0.1 and stopped on drop:
//! `turborepo-remote-cache` (npm, installed under tests/servers/turbo by scripts/install.sh)
//! and buildgrid's `bgd` (`PyPI` `buildgrid==0.4.4`) with the config
//! `tests/servers/buildgrid/bgd.yml` (`bench/remote.sh` starts it from the same file).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Servers take a while to import their code on a loaded 2-core machine; this bounds the
/// readiness wait only (no assertion depends on time).
const START_DEADLINE: Duration = Duration::from_secs(240);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(child: &mut Child, port: u16, log: &Path, what: &str) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < START_DEADLINE,
            "{what} did not listen on {addr}; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `turborepo-remote-cache` with local storage in a temp dir.
pub struct Turbo {
    pub child: Option<Child>,
    pub port: u16,
    pub token: String,
    pub storage: tempfile::TempDir,
}

impl Turbo {
    pub fn start(token: &str) -> Self {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../runwire-remote/tests/servers/turbo/node_modules/.bin/turborepo-remote-cache");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install.sh (npm ci in crates/runwire-remote/tests/servers/turbo)",
            bin.display()
        );
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = storage.path().join("server.log");
        let mut child = Command::new(&bin)
            .env("STORAGE_PROVIDER", "local")
            .env("STORAGE_PATH", storage.path().join("artifacts"))
            .env("STORAGE_PATH_USE_TMP_FOLDER", "false")
            .env("TURBO_TOKEN", token)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(storage.path().join("server.err")).unwrap())
            .spawn()
            .unwrap();
        wait_listening(&mut child, port, &log, "turborepo-remote-cache");
        Self {
            child: Some(child),
            port,
            token: token.to_string(),
            storage,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps artifact `name` for the default slug.
    pub fn artifact_path(&self, name: &str) -> PathBuf {
        self.storage.path().join("artifacts/runwire").join(name)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Turbo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running buildgrid with CAS + `ActionCache` + `ByteStream` on disk storage in a temp dir
/// (`tests/servers/buildgrid/bgd.yml`).
pub struct BuildGrid {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl BuildGrid {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        let config = include_str!("../servers/buildgrid/bgd.yml")
            .replace("@PORT@", &port.to_string())
            .replace("@STORAGE@", &storage.display().to_string());
        let config_path = dir.path().join("bgd.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("server.log");
        let mut child = Command::new("bgd")
            .arg("server")
            .arg("start")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("server.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting `bgd` failed ({e}): run scripts/install.sh (pip install buildgrid==0.4.4)")
            });
        wait_listening(&mut child, port, &log, "bgd server");
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// Where the disk storage keeps the blob with this SHA-256 hex digest.
    pub fn object_path(&self, sha256_hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("storage/cas/objects")
            .join(&sha256_hex[..2])
            .join(&sha256_hex[2..])
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.stop();
    }
}
