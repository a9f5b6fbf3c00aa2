//! `runwire_server::ServerReport` -> the fingerprint engine's `Declaration`s and
//! `Diagnostic`s. A 1:1 mapping; the only judgement is a glob pattern that is not UTF-8,
//! which the engine cannot fingerprint: it becomes a diagnostic (not cacheable, named).

use runwire_fingerprint as fp;
use runwire_server as server;

fn selector(s: &server::EnvSelector) -> fp::EnvSelector {
    match s {
        server::EnvSelector::Glob(g) => fp::EnvSelector::Glob(g.clone()),
        server::EnvSelector::Prefix(p) => fp::EnvSelector::Prefix(p.clone()),
    }
}

/// What a run's tools declared, as the engine takes it, plus what is only shown.
#[derive(Debug, Default)]
pub struct Converted {
    pub declarations: Vec<fp::Declaration>,
    pub diagnostics: Vec<fp::Diagnostic>,
    /// Requests shown to the user that decide nothing (see [`binds`]).
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

/// Converts the server's report; declarations keep their order.
pub fn convert(report: &server::ServerReport) -> Converted {
    let mut notes = Vec::new();
    let mut diagnostics: Vec<fp::Diagnostic> = report
        .diagnostics
        .iter()
        .map(|d| fp::Diagnostic {
            code: d.code.as_str().to_owned(),
            message: d.to_string(),
        })
        .collect();
    let mut declarations = Vec::with_capacity(report.declarations.len());
    for d in &report.declarations {
        let converted = match d {
            server::Declaration::TrackedEnv { name, value } => fp::Declaration::TrackedEnv {
                name: name.clone(),
                value: value.as_ref().map(|v| v.as_bytes().to_vec()),
            },
            server::Declaration::TrackedEnvSet {
                selector: s,
                matches,
            } => fp::Declaration::TrackedEnvSet {
                selector: selector(s),
                matches: matches
                    .iter()
                    .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
                    .collect(),
            },
            server::Declaration::IgnoreInput { path } => fp::Declaration::IgnoreInput(path.clone()),
            server::Declaration::IgnoreOutput { path } => {
                fp::Declaration::IgnoreOutput(path.clone())
            }
            server::Declaration::DisableCache { reason, client } => {
                if !binds(client) {
                    let reason = if reason.is_empty() {
                        "(no reason given)"
                    } else {
                        reason
                    };
                    notes.push(format!(
                        "{client} asked to disable caching: {reason} (not binding: vite asks on every server start; a real server or watcher is caught by the tracer)"
                    ));
                    continue;
                }
                fp::Declaration::DisableCache {
                    reason: reason.clone(),
                    tool: client.clone(),
                }
            }
            server::Declaration::ReportInput { path } => fp::Declaration::ReportInput(path.clone()),
            server::Declaration::ReportOutput { path } => {
                fp::Declaration::ReportOutput(path.clone())
            }
            server::Declaration::ReportGlob { base, pattern } => {
                if let Ok(pattern) = String::from_utf8(pattern.clone()) {
                    fp::Declaration::ReportGlob {
                        base: base.clone(),
                        pattern,
                    }
                } else {
                    diagnostics.push(fp::Diagnostic {
                        code: "invalid_report".into(),
                        message: format!(
                            "ReportGlob pattern under {} is not UTF-8",
                            base.display()
                        ),
                    });
                    continue;
                }
            }
            server::Declaration::Salt { key, value } => fp::Declaration::Salt {
                key: key.clone(),
                value: value.clone(),
            },
        };
        declarations.push(converted);
    }
    Converted {
        declarations,
        diagnostics,
        notes,
    }
}
