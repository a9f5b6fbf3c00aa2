//! `runwire_trace::Trace` -> the fingerprint engine's `TraceModel`.
//!
//! A 1:1 mapping: per path, the first access kind and the later ones; listings carry the
//! names the process saw; incompleteness carries the tracer's reasons as prose.

use std::collections::BTreeSet;

use runwire_fingerprint::{Access, PathAccess, TraceModel};
use runwire_trace::{AccessKind, Trace};

fn access(kind: AccessKind, names: &BTreeSet<std::ffi::OsString>) -> Access {
    match kind {
        AccessKind::Read => Access::Read,
        AccessKind::Stat => Access::Stat,
        AccessKind::NotFound => Access::NotFound,
        AccessKind::ListDir => Access::ListDir(names.clone()),
        AccessKind::Write => Access::Write,
        AccessKind::Create => Access::Create,
        AccessKind::Truncate => Access::Truncate,
        AccessKind::Delete => Access::Delete,
        AccessKind::RenameFrom => Access::RenameFrom,
        AccessKind::RenameTo => Access::RenameTo,
    }
}

/// Converts a finished trace.
pub fn to_model(trace: &Trace) -> TraceModel {
    let accesses = trace
        .iter()
        .map(|a| {
            let mut model = PathAccess::new(access(a.first, &a.names));
            model.later = a
                .later
                .iter()
                .filter(|k| **k != a.first)
                .map(|&k| access(k, &a.names))
                .collect();
            (a.path.clone(), model)
        })
        .collect();
    TraceModel {
        accesses,
        complete: trace.complete(),
        incomplete_reasons: trace
            .incomplete_reasons()
            .iter()
            .map(ToString::to_string)
            .collect(),
        programs: trace.programs().to_vec(),
    }
}
