//! `runwire_server::ServerReport` -> what the engine takes. The declarations are already the
//! shared vocabulary (`runwire_model::Declaration`) and pass as they are; the CLI decides only
//! which `DisableCache` binds, and turns the server's diagnostics into the engine's.

use runwire_fingerprint as fp;
use runwire_server as server;

/// What a run's tools declared, as the engine takes it, plus what is only shown.
#[derive(Debug, Default)]
pub struct Converted {
    pub declarations: Vec<fp::Declaration>,
    pub diagnostics: Vec<fp::Diagnostic>,
    /// Requests shown to the user that decide nothing (see `binds`).
    pub notes: Vec<String>,
}

/// Whether a `disableCache` from this client decides the run. vite-task's compatibility
/// object (the addon's `load()`, which vite 8 calls) does not: vite's server code calls
/// `disableCache()` whenever it starts, even for `vitest run`, so it says nothing about the
/// run (vite-task itself made it a no-op for that reason). A real server or watcher is
/// caught by the tracer instead (`listen()`, inotify). Every other client binds.
fn binds(client: &str) -> bool {
    client != crate::node_addon::COMPAT_CLIENT_NAME
}

/// Takes the server's report; declarations keep their order.
pub fn convert(report: server::ServerReport) -> Converted {
    let diagnostics = report
        .diagnostics
        .iter()
        .map(|d| fp::Diagnostic {
            code: d.code.as_str().to_owned(),
            message: d.to_string(),
        })
        .collect();
    let mut notes = Vec::new();
    let declarations = report
        .declarations
        .into_iter()
        .filter(|d| match d {
            fp::Declaration::DisableCache { reason, client } if !binds(client) => {
                let reason = if reason.is_empty() {
                    "(no reason given)"
                } else {
                    reason
                };
                notes.push(format!(
                    "{client} asked to disable caching: {reason} (not binding: vite asks on every server start; a real server or watcher is caught by the tracer)"
                ));
                false
            }
            _ => true,
        })
        .collect();
    Converted {
        declarations,
        diagnostics,
        notes,
    }
}
