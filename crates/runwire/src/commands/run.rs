//! `runwire run`: plans the selected tasks, then runs them (or with `--dry-run` previews
//! them) through the executor, and prints the JSON summary with `--json`.

use std::ffi::OsString;
use std::fmt::Write as _;

use crate::error::Error;
use crate::exec::{CacheReport, Executor, TaskContext};
use crate::output::{MAX_LISTED_REASONS, Printer, Style, escape_line};
use crate::plan::Plan;
use crate::scheduler::{self, RunOptions};
use crate::settings::{RunSettings, Settings};
use crate::workspace::Workspace;

/// `runwire run`.
pub fn run(settings: &Settings, args: &RunSettings, printer: &Printer) -> Result<i32, Error> {
    let (ws, plan) = super::load(&settings.cwd, &args.select, args.extra_args.clone())?;
    let executor = super::executor(settings, &ws, args.caching, args.remote)?;
    let full_env = settings.env.runner();
    if args.dry_run {
        return dry_run(&ws, &plan, executor.as_ref(), full_env, args.json, printer);
    }
    let summary = scheduler::run(
        &ws,
        &plan,
        executor.as_ref(),
        printer,
        full_env,
        RunOptions {
            jobs: args.jobs,
            prefix: args.prefix,
        },
    );
    executor.finish();
    if args.json {
        print_run_json(&plan, &summary)?;
    }
    let differs =
        summary.outcomes.iter().flatten().any(
            |o| matches!(&o.cache, CacheReport::Ran { verified: Some(d), .. } if !d.is_empty()),
        );
    if summary.exit_code == 0 && differs {
        return Ok(VERIFY_DIFFERENCES_EXIT);
    }
    Ok(summary.exit_code)
}

/// `runwire run --verify` found a fresh result that differs from the cached one.
pub const VERIFY_DIFFERENCES_EXIT: i32 = 3;

/// One task in `runwire run --json`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RunJsonTask<'a> {
    label: &'a str,
    package: &'a str,
    task: &'a str,
    /// `hit`, `miss` (ran and stored), `not-cached` (ran, not stored, or caching off),
    /// `failed` (non-zero exit), `skipped` (not run: a task it depends on failed).
    status: &'static str,
    /// `null` when the task did not run.
    exit_code: Option<i32>,
    duration_ms: Option<u64>,
    miss_reasons: &'a [crate::exec::Reason],
    not_cached_reasons: Vec<crate::exec::Reason>,
    /// With --verify and a cached result to compare: every difference (empty: the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_differences: Option<&'a [String]>,
}

/// The machine-readable summary of a run, on stdout.
fn print_run_json(plan: &Plan, summary: &scheduler::RunSummary) -> Result<(), Error> {
    use crate::exec::{CacheReport, Reason};
    let tasks: Vec<RunJsonTask<'_>> = plan
        .tasks
        .iter()
        .zip(&summary.outcomes)
        .map(|(task, outcome)| {
            let (status, miss, not_cached): (_, &[Reason], Vec<Reason>) = match outcome {
                None => ("skipped", &[], Vec::new()),
                Some(o) => {
                    let (status, miss, not_cached) = match &o.cache {
                        CacheReport::Hit { .. } => ("hit", &[][..], Vec::new()),
                        CacheReport::Ran {
                            miss, not_cached, ..
                        } => (
                            if not_cached.is_empty() {
                                "miss"
                            } else {
                                "not-cached"
                            },
                            miss.as_slice(),
                            not_cached.clone(),
                        ),
                        CacheReport::Off { reason } => (
                            "not-cached",
                            &[][..],
                            vec![Reason::runner("cache_off", reason.clone())],
                        ),
                    };
                    let status = if o.exit_code == 0 { status } else { "failed" };
                    (status, miss, not_cached)
                }
            };
            RunJsonTask {
                label: &task.label,
                package: &task.package_name,
                task: &task.task,
                status,
                exit_code: outcome.as_ref().map(|o| o.exit_code),
                duration_ms: outcome
                    .as_ref()
                    .map(|o| u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX)),
                miss_reasons: miss,
                not_cached_reasons: not_cached,
                verify_differences: outcome.as_ref().and_then(|o| match &o.cache {
                    CacheReport::Ran {
                        verified: Some(d), ..
                    } => Some(d.as_slice()),
                    _ => None,
                }),
            }
        })
        .collect();
    super::print_json(&serde_json::json!({ "tasks": tasks }), "the run summary")
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunTask<'a> {
    label: &'a str,
    package: &'a str,
    package_dir: &'a str,
    task: &'a str,
    command: &'a str,
    command_source: crate::plan::CommandSource,
    cwd: &'a str,
    depends_on: Vec<&'a str>,
    cache: crate::exec::Preview,
}

fn dry_run(
    ws: &Workspace,
    plan: &Plan,
    executor: &dyn Executor,
    full_env: &[(OsString, OsString)],
    json: bool,
    printer: &Printer,
) -> Result<i32, Error> {
    let mut rows = Vec::with_capacity(plan.tasks.len());
    for task in &plan.tasks {
        let ctx = TaskContext { ws, task, full_env };
        rows.push(DryRunTask {
            label: &task.label,
            package: &task.package_name,
            package_dir: &task.package_rel,
            task: &task.task,
            command: &task.command,
            command_source: task.source,
            cwd: &task.cwd_rel,
            depends_on: task
                .deps
                .iter()
                .map(|&d| plan.tasks[d].label.as_str())
                .collect(),
            cache: executor.preview(&ctx)?,
        });
    }
    if json {
        super::print_json(&serde_json::json!({ "tasks": rows }), "the plan")?;
        return Ok(0);
    }
    for row in &rows {
        let mut text = format!(
            "{} {} (in {})",
            printer.paint(Style::Label, &escape_line(row.label)),
            printer.paint(Style::Dim, &format!("$ {}", escape_line(row.command))),
            escape_line(row.cwd)
        );
        if !row.depends_on.is_empty() {
            let _ = write!(
                text,
                "\n  after: {}",
                escape_line(&row.depends_on.join(", "))
            );
        }
        let _ = write!(text, "\n  cache: {}", row.cache.status);
        for reason in row.cache.reasons.iter().take(MAX_LISTED_REASONS) {
            let _ = write!(text, "\n  - {}", escape_line(reason));
        }
        if row.cache.reasons.len() > MAX_LISTED_REASONS {
            let _ = write!(
                text,
                "\n  - ... and {} more (`--json` lists them all)",
                row.cache.reasons.len() - MAX_LISTED_REASONS
            );
        }
        printer.message(&text);
    }
    Ok(0)
}
