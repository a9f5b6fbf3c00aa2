//! `runwire cache info|clean|verify`.

use crate::cli::CacheCommand;
use crate::error::Error;
use crate::output::{Printer, escape_line};
use crate::settings::Settings;
use crate::workspace::Workspace;

/// `runwire cache`.
pub fn cache(settings: &Settings, command: &CacheCommand, printer: &Printer) -> Result<i32, Error> {
    let ws = Workspace::load(&settings.cwd)?;
    let dir = crate::cache_dir::prepare(&ws, settings.cache_dir_override())?;
    let shown =
        escape_line(&dir.strip_prefix(&ws.root).unwrap_or(&dir).to_string_lossy()).into_owned();
    let in_cache = |source| Error::Cache {
        place: shown.clone(),
        source,
    };
    let open = || {
        runwire_cache::Cache::open(&dir, runwire_cache::CacheOptions::default()).map_err(in_cache)
    };
    match command {
        CacheCommand::Info => {
            let info = open()?.info().map_err(in_cache)?;
            printer.message(&format!(
                "cache: {shown}\nentries: {} (under {} spawn keys)\nblobs: {} ({} bytes of at most {})\nschema version: {}\nenv hash key: {}",
                info.entries,
                info.spawn_keys,
                info.blobs,
                info.blob_bytes,
                info.max_size,
                info.schema_version,
                if info.shared_key { "shared" } else { "local (random)" },
            ));
        }
        CacheCommand::Verify { json } => {
            let report = open()?.verify().map_err(in_cache)?;
            if *json {
                super::print_json(&report, "the report")?;
            } else {
                printer.message(&format!(
                    "cache: {shown}: {} entries, {} blobs re-hashed: {} bad, {} entries dropped",
                    report.entries_checked,
                    report.blobs_checked,
                    report.bad_blobs.len(),
                    report.entries_dropped
                ));
                for h in &report.bad_blobs {
                    printer.message(&format!("  bad blob {h} (removed)"));
                }
            }
            return Ok(i32::from(
                report.entries_dropped > 0 || !report.bad_blobs.is_empty(),
            ));
        }
        CacheCommand::Clean => {
            // Clean works whatever state the cache is in: a corrupt index or key is moved
            // aside by the open; a cache that still cannot be opened (a newer schema, an
            // unreadable index) has its files removed without opening it.
            let removed = match runwire_cache::Cache::open(
                &dir,
                runwire_cache::CacheOptions::default(),
            ) {
                Ok(cache) => format!("removed {} entries", cache.clean().map_err(in_cache)?),
                Err(e @ runwire_cache::CacheError::InitLockTimeout { .. }) => {
                    return Err(in_cache(e));
                }
                Err(e) => {
                    printer.message(&format!(
                        "runwire: warning: cache: {shown} cannot be opened ({}); removing its index and blobs",
                        escape_line(&e.to_string())
                    ));
                    runwire_cache::Cache::wipe(&dir).map_err(in_cache)?;
                    "removed the index and every blob".to_owned()
                }
            };
            // The CLI's own side files (run durations) go too.
            match std::fs::remove_dir_all(dir.join("cli")) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: dir.join("cli"),
                        source,
                    });
                }
            }
            printer.message(&format!("cache: {shown}: {removed}"));
        }
    }
    Ok(0)
}
