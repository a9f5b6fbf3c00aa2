//! Runs a plan: every task after its dependencies, up to `jobs` at once, stopping new work
//! after the first failure. The exit code is the first failing task's code.

use std::fmt::Write as _;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::mpsc;

use crate::exec::{CacheMode, CacheReport, Executor, Outcome, TaskContext};
use crate::output::{
    MAX_LISTED_REASONS, Printer, Style, TaskOutput, escape_line, escape_text, format_duration,
};
use crate::plan::Plan;
use crate::workspace::Workspace;

/// Result of a whole run.
#[derive(Debug)]
pub struct RunSummary {
    /// 0, or the exit code of the first task that failed.
    pub exit_code: i32,
    /// Per task (plan order): `None` when it never ran.
    pub outcomes: Vec<Option<Outcome>>,
}

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub jobs: usize,
    pub mode: CacheMode,
}

/// Runs `plan` with `executor`, printing headers, output and results.
pub fn run(
    ws: &Workspace,
    plan: &Plan,
    executor: &dyn Executor,
    printer: &Printer,
    full_env: &[(OsString, OsString)],
    options: RunOptions,
) -> RunSummary {
    let n = plan.tasks.len();
    let jobs = options.jobs.max(1);
    // Prefixes only help when output of several tasks can interleave.
    let prefixed = n > 1 && jobs > 1;
    let mut waiting: Vec<usize> = plan.tasks.iter().map(|t| t.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, task) in plan.tasks.iter().enumerate() {
        for &d in &task.deps {
            dependents[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut exit_code = 0;
    let mut running = 0usize;
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    // Dropping `stop` wakes the status ticker at once, so the run ends without waiting.
    let (stop, stopped) = mpsc::channel::<()>();
    // A pool of `jobs` workers, not a thread per task: a run of 1,000 hits would otherwise
    // start 1,000 threads. Tasks are handed out only to idle workers (`running < jobs`),
    // so nothing is queued when the first failure stops new work.
    let (work, queue) = mpsc::channel::<usize>();
    let queue = std::sync::Mutex::new(queue);
    std::thread::scope(|scope| {
        if printer.is_live() {
            // Redraws the live status line while tasks run (terminal only).
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(std::time::Duration::from_millis(250))
                {
                    printer.tick();
                }
            });
        }
        for _ in 0..jobs.min(n) {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || {
                loop {
                    // The lock is held only while waiting for the next index.
                    let next = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(i) = next else { break };
                    let ctx = TaskContext {
                        ws,
                        task: &plan.tasks[i],
                        full_env,
                        mode: options.mode,
                    };
                    let outcome = run_one(&ctx, executor, printer, prefixed);
                    // The receiver lives until every task is done.
                    let _ = tx.send((i, outcome));
                }
            });
        }
        loop {
            while exit_code == 0 && running < jobs {
                let Some(i) = ready.pop_front() else { break };
                running += 1;
                // The workers live until `work` is dropped below.
                let _ = work.send(i);
            }
            if running == 0 {
                break;
            }
            let Ok((i, outcome)) = rx.recv() else { break };
            running -= 1;
            if outcome.exit_code == 0 {
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        ready.push_back(d);
                    }
                }
            } else if exit_code == 0 {
                exit_code = outcome.exit_code;
            }
            outcomes[i] = Some(outcome);
        }
        drop(work);
        drop(stop);
    });
    printer.end_live();
    let skipped = outcomes.iter().filter(|o| o.is_none()).count();
    if exit_code != 0 && skipped > 0 {
        printer.message(&printer.paint(
            Style::Warn,
            &format!("{skipped} task(s) not run because a task failed"),
        ));
    }
    RunSummary {
        exit_code,
        outcomes,
    }
}

fn run_one(
    ctx: &TaskContext<'_>,
    executor: &dyn Executor,
    printer: &Printer,
    prefixed: bool,
) -> Outcome {
    let task = ctx.task;
    // Package names and commands come from files: escaped before they reach the terminal.
    let shown = escape_line(&task.label).into_owned();
    let label = printer.paint(Style::Label, &shown);
    printer.message(&format!(
        "{label} {}",
        printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command)))
    ));
    let mut out = TaskOutput::new(printer, prefixed.then(|| shown.clone()));
    printer.task_started(&shown);
    let result = executor.execute(ctx, &mut out);
    printer.task_finished(&shown);
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            let error = format!("error[{}]: {e}", e.code());
            printer.message(&format!(
                "{label} {}",
                printer.paint(Style::Bad, &escape_text(&error))
            ));
            return Outcome {
                exit_code: 1,
                duration: std::time::Duration::ZERO,
                cache: CacheReport::Off {
                    reason: "the task could not be started".into(),
                },
            };
        }
    };
    printer.message(&result_message(printer, &label, &outcome));
    outcome
}

/// Appends one line per reason, escaped (reasons name paths, env names and tools' own words),
/// at most [`MAX_LISTED_REASONS`]; then one line counting the rest, which `--json` lists.
fn list_reasons(text: &mut String, reasons: &[crate::exec::Reason]) {
    for reason in reasons.iter().take(MAX_LISTED_REASONS) {
        let _ = write!(text, "\n  - {}", escape_line(&reason.message));
    }
    if reasons.len() > MAX_LISTED_REASONS {
        let _ = write!(
            text,
            "\n  - ... and {} more (`runwire run --json` lists them all)",
            reasons.len() - MAX_LISTED_REASONS
        );
    }
}

/// The lines printed after a task: result, cache status, every reason (a long list is cut
/// after [`MAX_LISTED_REASONS`]).
pub fn result_message(printer: &Printer, label: &str, outcome: &Outcome) -> String {
    let time = format_duration(outcome.duration);
    let mut text = if outcome.exit_code == 0 {
        format!("{label} {}", printer.paint(Style::Good, "done"))
    } else {
        format!(
            "{label} {}",
            printer.paint(
                Style::Bad,
                &format!("failed with exit code {}", outcome.exit_code)
            )
        )
    };
    match &outcome.cache {
        CacheReport::Hit { saved } => {
            let hit = match saved {
                Some(saved) => format!("cache hit, saved {}", format_duration(*saved)),
                None => "cache hit".to_owned(),
            };
            let _ = write!(text, ", {}", printer.paint(Style::Good, &hit));
        }
        CacheReport::Ran {
            miss,
            not_cached,
            verified,
            notes,
        } => {
            let _ = write!(text, " in {time}, cache miss");
            list_reasons(&mut text, miss);
            match verified {
                Some(d) if d.is_empty() => text.push_str("\n  verified: same as the cached result"),
                Some(d) => {
                    let _ = write!(
                        text,
                        "\n  {}",
                        printer.paint(
                            Style::Bad,
                            &format!("verify: {} difference(s) from the cached result:", d.len())
                        )
                    );
                    for line in d {
                        let _ = write!(text, "\n  - {}", escape_line(line));
                    }
                }
                None => {}
            }
            if not_cached.is_empty() {
                text.push_str("\n  cached");
            } else {
                let _ = write!(text, "\n  {}", printer.paint(Style::Warn, "not cached:"));
                list_reasons(&mut text, not_cached);
            }
            for note in notes {
                let _ = write!(text, "\n  note: {}", escape_line(note));
            }
        }
        CacheReport::Off { reason } => {
            let _ = write!(text, " in {time} (cache off: {})", escape_line(reason));
        }
    }
    text
}
