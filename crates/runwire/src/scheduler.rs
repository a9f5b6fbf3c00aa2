//! Runs a plan: every task after its dependencies, up to `jobs` at once, stopping new work
//! after the first failure. The exit code is the first failing task's code.

use std::fmt::Write as _;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

use crate::exec::{CacheReport, Executor, Outcome, TaskContext};
use crate::output::{
    MAX_LISTED_REASONS, Printer, RunCounts, Style, TaskOutput, escape_line, escape_text,
    format_duration, summary_line,
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
    /// Whether the tasks' output lines carry their `package:task` prefix (`--log-prefix`).
    pub prefix: bool,
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
    let started = std::time::Instant::now();
    let n = plan.tasks.len();
    let jobs = options.jobs.max(1);
    printer.run_started(n);
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, task) in plan.tasks.iter().enumerate() {
        for &d in &task.deps {
            dependents[d].push(i);
        }
    }
    let board = Board {
        waiting: plan.tasks.iter().map(|t| t.deps.len()).collect(),
        ready: (0..n).filter(|&i| plan.tasks[i].deps.is_empty()).collect(),
        outcomes: vec![None; n],
        exit_code: 0,
        running: 0,
        idle: 0,
    };
    let shared = Shared {
        board: Mutex::new(board),
        wake: Condvar::new(),
        dependents,
    };
    let contexts: Vec<TaskContext<'_>> = plan
        .tasks
        .iter()
        .map(|task| TaskContext { ws, task, full_env })
        .collect();
    executor.prepare(&contexts);
    // Dropping `stop` wakes the status ticker at once, so the run ends without waiting.
    let (stop, stopped) = mpsc::channel::<()>();
    let work = |shared: &Shared| {
        shared.work(|i| run_one(&contexts[i], executor, printer, options.prefix));
    };
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
        // `jobs` workers, this thread one of them, not a thread per task: a run of 1,000
        // hits would otherwise start 1,000 threads.
        for _ in 1..jobs.min(n) {
            scope.spawn(|| work(&shared));
        }
        work(&shared);
        drop(stop);
    });
    let board = shared
        .board
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let (exit_code, outcomes) = (board.exit_code, board.outcomes);
    printer.end_live();
    let skipped = outcomes.iter().filter(|o| o.is_none()).count();
    if exit_code != 0 && skipped > 0 {
        printer.message(&printer.paint(
            Style::Warn,
            &format!("{skipped} task(s) not run because a task failed"),
        ));
    }
    printer.message(&summary_line(count(&outcomes), started.elapsed()));
    RunSummary {
        exit_code,
        outcomes,
    }
}

/// The summary's counts of a run's outcomes.
fn count(outcomes: &[Option<Outcome>]) -> RunCounts {
    let mut counts = RunCounts {
        total: outcomes.len(),
        ..RunCounts::default()
    };
    for outcome in outcomes {
        match outcome {
            None => counts.not_run += 1,
            Some(o) if o.exit_code != 0 => counts.failed += 1,
            Some(Outcome {
                cache: CacheReport::Hit { saved },
                ..
            }) => {
                counts.hits += 1;
                counts.saved += saved.unwrap_or_default();
            }
            Some(_) => counts.ran += 1,
        }
    }
    counts
}

/// The run's state, shared by the workers.
struct Board {
    /// Per task, how many of its dependencies have not succeeded yet.
    waiting: Vec<usize>,
    /// Tasks whose dependencies all succeeded, not started yet.
    ready: VecDeque<usize>,
    outcomes: Vec<Option<Outcome>>,
    /// 0, or the first failing task's code: no new task starts after it.
    exit_code: i32,
    running: usize,
    /// Workers waiting for a task to become ready.
    idle: usize,
}

struct Shared {
    board: Mutex<Board>,
    /// Signalled when tasks become ready or the run is over.
    wake: Condvar,
    dependents: Vec<Vec<usize>>,
}

impl Shared {
    /// One worker: takes ready tasks until none is left to start. A worker that finishes a
    /// task releases its dependents itself, so a run of hits passes no task through another
    /// thread and wakes no one while every worker is busy.
    fn work(&self, mut run: impl FnMut(usize) -> Outcome) {
        let lock = || self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let mut board = lock();
        loop {
            let next = if board.exit_code == 0 {
                board.ready.pop_front()
            } else {
                None
            };
            if let Some(i) = next {
                board.running += 1;
                drop(board);
                let outcome = run(i);
                board = lock();
                board.running -= 1;
                if outcome.exit_code == 0 {
                    for &d in &self.dependents[i] {
                        board.waiting[d] -= 1;
                        if board.waiting[d] == 0 {
                            board.ready.push_back(d);
                        }
                    }
                } else if board.exit_code == 0 {
                    board.exit_code = outcome.exit_code;
                }
                board.outcomes[i] = Some(outcome);
                let startable = if board.exit_code == 0 {
                    board.ready.len()
                } else {
                    0
                };
                // The one running this loop takes a ready task itself; idle ones get the rest.
                for _ in 0..startable.saturating_sub(1).min(board.idle) {
                    self.wake.notify_one();
                }
            } else if board.running == 0 {
                // Nothing runs and nothing can start: the run is over for everyone.
                self.wake.notify_all();
                return;
            } else {
                board.idle += 1;
                board = self
                    .wake
                    .wait(board)
                    .unwrap_or_else(PoisonError::into_inner);
                board.idle -= 1;
            }
        }
    }
}

fn run_one(
    ctx: &TaskContext<'_>,
    executor: &dyn Executor,
    printer: &Printer,
    prefix: bool,
) -> Outcome {
    let task = ctx.task;
    // Package names and commands come from files: escaped before they reach the terminal.
    let shown = escape_line(&task.label).into_owned();
    let label = printer.paint(Style::Label, &shown);
    printer.message(&format!(
        "{label} {}",
        printer.paint(Style::Dim, &format!("$ {}", escape_line(&task.command)))
    ));
    // Every line a task prints carries its `package:task`, whatever the number of tasks
    // and jobs: the output reads the same in a one-task run and in a log of many. Only
    // `--log-prefix none` passes it through as written (output meant for a file).
    let mut out = TaskOutput::new(printer, prefix.then(|| shown.clone()));
    printer.task_started(&shown);
    let result = executor.execute(ctx, &mut out);
    let hit = matches!(
        &result,
        Ok(Outcome {
            exit_code: 0,
            cache: CacheReport::Hit { .. },
            ..
        })
    );
    printer.task_finished(&shown, hit);
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
                // A hit never hides that it cost more than the run it replaced (50,000
                // small files restore slower than a tool writes them on some disks).
                Some(run) if outcome.duration > *run => format!(
                    "cache hit, restored in {}, the run took {}",
                    format_duration(outcome.duration),
                    format_duration(*run)
                ),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hit(took: Duration, run: Option<Duration>) -> String {
        let outcome = Outcome {
            exit_code: 0,
            duration: took,
            cache: CacheReport::Hit { saved: run },
        };
        result_message(&Printer::new(false, false, false), "a:build", &outcome)
    }

    #[test]
    fn a_hit_says_what_it_saved() {
        assert_eq!(
            hit(Duration::from_millis(40), Some(Duration::from_millis(2800))),
            "a:build done, cache hit, saved 2.8s"
        );
        assert_eq!(
            hit(Duration::from_millis(40), None),
            "a:build done, cache hit"
        );
    }

    #[test]
    fn a_hit_slower_than_its_run_says_so() {
        assert_eq!(
            hit(Duration::from_secs(21), Some(Duration::from_millis(2800))),
            "a:build done, cache hit, restored in 21.0s, the run took 2.8s"
        );
    }
}
