//! `runwire tasks`: every package's tasks, where each is defined and what it depends on.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Error;
use crate::output::{Printer, Style, escape_line};
use crate::workspace::Workspace;

/// `runwire tasks`: every package with its tasks, on stdout.
pub fn tasks(cwd: &Path, json: bool, printer: &Printer) -> Result<i32, Error> {
    #[derive(serde::Serialize)]
    struct PackageTasks<'a> {
        name: &'a str,
        dir: &'a str,
        tasks: Vec<crate::plan::TaskInfo>,
    }
    let ws = Workspace::load(cwd)?;
    let packages: Vec<PackageTasks<'_>> = ws
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| PackageTasks {
            name: &p.name,
            dir: &p.rel,
            tasks: crate::plan::describe_tasks(&ws, i),
        })
        .collect();
    if json {
        super::print_json(
            &serde_json::json!({ "packages": packages }),
            "the task list",
        )?;
        return Ok(0);
    }
    let mut text = String::new();
    for package in &packages {
        let _ = writeln!(
            text,
            "{} ({})",
            printer.paint(Style::Label, &escape_line(package.name)),
            escape_line(package.dir)
        );
        if package.tasks.is_empty() {
            text.push_str("  (no tasks)\n");
        }
        let width = package
            .tasks
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0);
        for task in &package.tasks {
            let defined = match (task.command_source, &task.config_entry) {
                (crate::plan::CommandSource::RunwireJson, Some(key)) => {
                    format!("runwire.json tasks.{key}")
                }
                (_, Some(key)) => format!(
                    "package.json scripts.{}, settings: runwire.json tasks.{key}",
                    task.name
                ),
                (_, None) => format!("package.json scripts.{}", task.name),
            };
            let _ = writeln!(
                text,
                "  {:width$}  {}  ({})",
                escape_line(&task.name),
                printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command))),
                escape_line(&defined),
            );
            if !task.depends_on.is_empty() {
                let _ = writeln!(
                    text,
                    "  {:width$}  dependsOn: {}",
                    "",
                    escape_line(&task.depends_on.join(", "))
                );
            }
        }
    }
    print!("{text}");
    Ok(0)
}
