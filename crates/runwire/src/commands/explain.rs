//! `runwire explain`: for every selected task, every difference between now and each
//! cached variant.

use std::fmt::Write as _;

use crate::cli::SelectArgs;
use crate::error::Error;
use crate::exec::{CacheMode, TaskContext};
use crate::output::{Printer, Style, escape_line};
use crate::remote::RemoteFlags;
use crate::settings::{Caching, Settings};

/// `runwire explain`.
pub fn explain(settings: &Settings, args: &SelectArgs, printer: &Printer) -> Result<i32, Error> {
    let (ws, plan) = super::load(&settings.cwd, args, Vec::new())?;
    let executor = super::executor(
        settings,
        &ws,
        Caching::On(CacheMode::Normal),
        RemoteFlags::default(),
    )?;
    for task in &plan.tasks {
        let ctx = TaskContext {
            ws: &ws,
            task,
            full_env: settings.env.runner(),
        };
        let mut text = format!(
            "{} {}\n  cwd: {}",
            printer.paint(Style::Label, &escape_line(&task.label)),
            printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command))),
            escape_line(&task.cwd_rel),
        );
        // `explain` lists every difference: it is asked for, so no cap here.
        for line in executor.explain(&ctx)? {
            let _ = write!(text, "\n  {}", escape_line(&line));
        }
        printer.message(&text);
    }
    Ok(0)
}
