//! The temporary workspace the integration tests run traced programs in.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use runwire_trace::{Trace, TracedCommand, TracedOutput};

pub struct Root {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

#[allow(dead_code)] // each test file uses its own subset
impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The tracer records paths lexically; compare against the same spelling.
        let path = dir.path().canonicalize().unwrap();
        Self { _dir: dir, path }
    }

    pub fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.path.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Self {
        fs::create_dir_all(self.path.join(rel)).unwrap();
        self
    }

    /// Runs `program` traced in the root; `seccomp` as [`TracedCommand::seccomp`] (`None`:
    /// the default, on unless `RUNWIRE_TRACE_SECCOMP=0`).
    pub fn traced(
        &self,
        seccomp: Option<bool>,
        program: impl AsRef<OsStr>,
        args: &[&str],
    ) -> TracedOutput {
        let program = program.as_ref();
        let mut command = TracedCommand::new(program);
        command.args(args).current_dir(&self.path);
        if let Some(on) = seccomp {
            command.seccomp(on);
        }
        command.output().unwrap_or_else(|e| {
            panic!("spawning {program:?}: {e} (scripts/install.sh installs busybox-static)")
        })
    }

    pub fn run(&self, program: impl AsRef<OsStr>, args: &[&str]) -> TracedOutput {
        self.traced(None, program, args)
    }

    /// As `run`, with the seccomp tracer switched off: static programs stay untraced.
    pub fn run_without_seccomp(&self, program: impl AsRef<OsStr>, args: &[&str]) -> TracedOutput {
        self.traced(Some(false), program, args)
    }

    /// As `traced`, and the program must succeed.
    pub fn run_ok_with(&self, seccomp: Option<bool>, program: &str, args: &[&str]) -> TracedOutput {
        let out = self.traced(seccomp, program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn run_ok(&self, program: &str, args: &[&str]) -> TracedOutput {
        self.run_ok_with(None, program, args)
    }

    /// The trace below the root, relative paths, first-access order.
    pub fn local(&self, trace: &Trace) -> Trace {
        trace.relative_to(&self.path)
    }

    /// Compiles one of tests/c/*.c with the system C compiler into `.bin/<name>`.
    pub fn compile(&self, name: &str, extra: &[&str]) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/c")
            .join(format!("{name}.c"));
        let bin_dir = self.path.join(".bin");
        fs::create_dir_all(&bin_dir).unwrap();
        let out = bin_dir.join(name);
        let status = Command::new("cc")
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc");
        assert!(status.success(), "compiling {} failed", src.display());
        out
    }
}

/// What tests/c/serve.c sets up when given `fanotify`, in order: a listening socket, an
/// inotify watch and a fanotify mark.
#[allow(dead_code)] // each test file uses its own subset
pub fn serve_services(prog: &Path) -> Vec<runwire_trace::Service> {
    use runwire_trace::Service;
    let program = prog.to_path_buf();
    vec![
        Service::Listen {
            program: program.clone(),
        },
        Service::Inotify {
            program: program.clone(),
        },
        Service::Fanotify { program },
    ]
}
