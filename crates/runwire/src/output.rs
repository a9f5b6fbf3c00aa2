//! Terminal output: runner messages, task output (optionally prefixed by `package:task`),
//! colors and duration formatting.
//!
//! Runner messages go to stderr so a task's stdout can still be piped. Colors are used only
//! when stderr is a terminal and `NO_COLOR` is unset or empty.
//!
//! Every string a tool or a file controls (package names, commands, paths, miss and
//! not-cached reasons, protocol diagnostics with client names, remote warnings) goes through
//! [`escape_line`] or [`escape_text`] before it reaches the terminal: control characters
//! become `\x1b`-style escapes, so a tool cannot retitle, clear or rewrite the user's
//! terminal through runwire's own lines. Ordinary UTF-8 is kept. The tasks' own output is
//! theirs and passes through as written.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Which stream a chunk of task output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// ANSI style used for one message part.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Label,
    Dim,
    Good,
    Warn,
    Bad,
}

/// Shared writer for all tasks; each write is one locked, whole-line operation.
#[derive(Debug)]
pub struct Printer {
    color: bool,
    /// Whether a live status line may be drawn (stderr is a terminal, not in CI, not
    /// `--json`).
    live: bool,
    /// `runwire run --json`: stdout carries the JSON summary only, so the tasks' own stdout
    /// goes to stderr with the rest of the human output.
    stdout_to_stderr: bool,
    lock: Mutex<LiveState>,
}

/// The live status line: the run's progress, which tasks run since when, and whether the
/// line is on screen.
#[derive(Debug, Default)]
struct LiveState {
    running: Vec<(String, std::time::Instant)>,
    progress: Progress,
    started: Option<std::time::Instant>,
    shown: bool,
}

/// How far a run is, for the status line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tasks finished (hits included).
    pub done: usize,
    pub total: usize,
    /// Finished tasks that were cache hits.
    pub hits: usize,
}

/// A run shorter than this gets no status line: it would only flicker.
const LIVE_AFTER: Duration = Duration::from_secs(2);

/// The status line text: progress, elapsed time, and the tasks running for the given
/// durations (the four longest-listed first ones, then a count).
pub fn status_line(
    progress: Progress,
    elapsed: Duration,
    running: &[(String, Duration)],
) -> String {
    let mut parts: Vec<String> = running
        .iter()
        .take(4)
        .map(|(label, d)| format!("{label} ({})", format_duration(*d)))
        .collect();
    if running.len() > 4 {
        parts.push(format!("+{} more", running.len() - 4));
    }
    format!(
        "[{}/{}] {} running, {} {}, {}: {}",
        progress.done,
        progress.total,
        running.len(),
        progress.hits,
        if progress.hits == 1 { "hit" } else { "hits" },
        format_duration(elapsed),
        parts.join(", ")
    )
}

/// Whether the live status line is wanted: stderr is a terminal, the run does not print
/// JSON, and it is not in CI (`CI` set to anything but empty, `0` or `false`: CI logs are
/// files, where a redrawn line only adds noise).
pub fn live_wanted(stderr_is_tty: bool, json: bool, ci: Option<&std::ffi::OsStr>) -> bool {
    let in_ci = ci.is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    stderr_is_tty && !json && !in_ci
}

/// `text` cut to `width` columns (counted as characters) so a redrawn line never wraps.
fn fit(text: &str, width: usize) -> &str {
    match text.char_indices().nth(width) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The terminal's width in columns (stderr), if it has one.
fn terminal_width() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to ours.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &raw mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

impl Printer {
    /// A printer: `color` for ANSI styles, `live` for the status line, `stdout_to_stderr`
    /// to keep stdout for machine output ([`crate::settings::OutputSettings`] decides them).
    pub fn new(color: bool, live: bool, stdout_to_stderr: bool) -> Self {
        Self {
            color,
            live,
            stdout_to_stderr,
            lock: Mutex::new(LiveState::default()),
        }
    }

    /// Whether a live status line can be shown (the caller then runs `tick` periodically).
    pub fn is_live(&self) -> bool {
        self.live
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Clears the status line before other output, so lines never mix with it.
    fn clear_live(state: &mut LiveState) {
        if state.shown {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
            state.shown = false;
        }
    }

    /// A run of `total` tasks starts now.
    pub fn run_started(&self, total: usize) {
        let mut state = self.state();
        state.progress = Progress {
            total,
            ..Progress::default()
        };
        state.started = Some(std::time::Instant::now());
    }

    pub fn task_started(&self, label: &str) {
        self.state()
            .running
            .push((label.to_owned(), std::time::Instant::now()));
    }

    /// `label` finished (`hit`: replayed from the cache).
    pub fn task_finished(&self, label: &str, hit: bool) {
        let mut state = self.state();
        if let Some(i) = state.running.iter().position(|(l, _)| l == label) {
            state.running.remove(i);
        }
        state.progress.done += 1;
        state.progress.hits += usize::from(hit);
    }

    /// Redraws the status line when some task has run for a while.
    pub fn tick(&self) {
        if !self.live {
            return;
        }
        let mut state = self.state();
        let now = std::time::Instant::now();
        let running: Vec<(String, Duration)> = state
            .running
            .iter()
            .map(|(l, t)| (l.clone(), now - *t))
            .collect();
        if !running.iter().any(|(_, d)| *d >= LIVE_AFTER) {
            Self::clear_live(&mut state);
            return;
        }
        let elapsed = state.started.map_or(Duration::ZERO, |t| now - t);
        let line = status_line(state.progress, elapsed, &running);
        let line = fit(&line, terminal_width().unwrap_or(80).saturating_sub(1));
        let text = self.paint(Style::Dim, line);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{text}");
        let _ = err.flush();
        state.shown = true;
    }

    /// Removes the status line for good (end of the run).
    pub fn end_live(&self) {
        Self::clear_live(&mut self.state());
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Label => "1;36",
            Style::Dim => "2",
            Style::Good => "32",
            Style::Warn => "33",
            Style::Bad => "1;31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// Writes runner lines to stderr at once (no interleaving with other tasks).
    pub fn message(&self, text: &str) {
        let mut state = self.state();
        Self::clear_live(&mut state);
        let mut err = std::io::stderr().lock();
        // One write per message (stderr is unbuffered): a run of 1,000 hits prints 2,000
        // of them. A closed stderr is not a reason to stop running tasks.
        let _ = if text.ends_with('\n') {
            err.write_all(text.as_bytes())
        } else {
            let mut line = Vec::with_capacity(text.len() + 1);
            line.extend_from_slice(text.as_bytes());
            line.push(b'\n');
            err.write_all(&line)
        };
        let _ = err.flush();
    }

    fn raw(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.state();
        Self::clear_live(&mut state);
        let _ = match stream {
            Stream::Stdout if !self.stdout_to_stderr => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Stream::Stdout | Stream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(bytes).and_then(|()| err.flush())
            }
        };
    }
}

/// Output of one task: shown live (prefixed when tasks run concurrently) and recorded in
/// order for the cache to replay.
#[derive(Debug)]
pub struct TaskOutput<'p> {
    printer: &'p Printer,
    prefix: Option<String>,
    partial: [Vec<u8>; 2],
    recorded: Vec<(Stream, Vec<u8>)>,
}

impl<'p> TaskOutput<'p> {
    pub fn new(printer: &'p Printer, prefix: Option<String>) -> Self {
        Self {
            printer,
            prefix,
            partial: [Vec::new(), Vec::new()],
            recorded: Vec::new(),
        }
    }

    pub fn printer(&self) -> &'p Printer {
        self.printer
    }

    /// Output the task just produced: shown and recorded.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        match self.recorded.last_mut() {
            Some((s, buf)) if *s == stream => buf.extend_from_slice(bytes),
            _ => self.recorded.push((stream, bytes.to_vec())),
        }
        self.show(stream, bytes);
    }

    /// Output replayed from the cache: shown, not recorded.
    pub fn replay(&mut self, stream: Stream, bytes: &[u8]) {
        self.show(stream, bytes);
    }

    fn show(&mut self, stream: Stream, bytes: &[u8]) {
        let Some(prefix) = &self.prefix else {
            self.printer.raw(stream, bytes);
            return;
        };
        // Prefixed output is written in whole lines so concurrent tasks do not cut each
        // other's lines; the unfinished tail waits for its newline or `finish`.
        let slot = &mut self.partial[stream as usize];
        slot.extend_from_slice(bytes);
        let Some(last_newline) = slot.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = slot.split_off(last_newline + 1);
        let complete = std::mem::replace(slot, rest);
        let label = self.printer.paint(Style::Label, prefix);
        let text = prefix_lines(&label, &complete);
        self.printer.raw(stream, &text);
    }

    /// Flushes unfinished prefixed lines (with a newline added).
    pub fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if !self.partial[stream as usize].is_empty() {
                self.show(stream, b"\n");
            }
        }
    }

    /// The recorded output so far, in the order it was written.
    pub fn recorded(&self) -> &[(Stream, Vec<u8>)] {
        &self.recorded
    }

    /// The recorded output, in the order it was written.
    pub fn take_recorded(&mut self) -> Vec<(Stream, Vec<u8>)> {
        std::mem::take(&mut self.recorded)
    }
}

/// Complete lines with `label | ` in front of each (`label |` before an empty line, so no
/// line ends in a space).
fn prefix_lines(label: &str, complete: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(complete.len() + 32);
    for line in complete.split_inclusive(|&b| b == b'\n') {
        text.extend_from_slice(label.as_bytes());
        text.extend_from_slice(if line == b"\n" { b" |" } else { b" | " });
        text.extend_from_slice(line);
    }
    text
}

/// `text` safe for one terminal line: every control character (C0 including newline and
/// carriage return, DEL, C1) and every bidirectional override shows as an escape (`\x1b`,
/// `\n`, `\u{202e}`); tabs and ordinary UTF-8 stay.
pub fn escape_line(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, false)
}

/// Like [`escape_line`], but newlines stay: for multi-line messages such as errors with a
/// source excerpt.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, true)
}

fn needs_escape(c: char, keep_newlines: bool) -> bool {
    match c {
        '\t' => false,
        '\n' => !keep_newlines,
        // Bidirectional embeddings, overrides and isolates reorder what the user reads.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        c => c.is_control(),
    }
}

fn escape(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !text.chars().any(|c| needs_escape(c, keep_newlines)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs_escape(c, keep_newlines) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
            c => write!(out, "\\u{{{:x}}}", u32::from(c)),
        };
    }
    std::borrow::Cow::Owned(out)
}

/// The counts of a finished run, for its summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunCounts {
    pub total: usize,
    pub hits: usize,
    /// Time the hits saved (their recorded run times), when known.
    pub saved: Duration,
    /// Tasks that ran (misses and uncached runs) and succeeded.
    pub ran: usize,
    pub failed: usize,
    /// Tasks never started because a task failed.
    pub not_run: usize,
}

/// `12 tasks: 10 hits (saved 8.2s), 2 ran, 0 failed in 1.3s`, with `, 3 not run`
/// before ` in` when a failure stopped the run.
pub fn summary_line(counts: RunCounts, elapsed: Duration) -> String {
    use std::fmt::Write as _;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "{}: {}",
        plural(counts.total, "task", "tasks"),
        plural(counts.hits, "hit", "hits")
    );
    if counts.hits > 0 && !counts.saved.is_zero() {
        let _ = write!(text, " (saved {})", format_duration(counts.saved));
    }
    let _ = write!(text, ", {} ran, {} failed", counts.ran, counts.failed);
    if counts.not_run > 0 {
        let _ = write!(text, ", {} not run", counts.not_run);
    }
    let _ = write!(text, " in {}", format_duration(elapsed));
    text
}

/// How many reasons of one kind a task's result lists on the terminal; the rest are
/// counted ("... and N more"). `runwire run --json` has every one.
pub const MAX_LISTED_REASONS: usize = 20;

/// `850ms`, `1.2s`, `2m05s`.
/// `text` with durations (`12ms`, `1.5s`, `300µs`, `2m`) replaced by `<time>`: what two
/// runs of a deterministic tool may still print differently.
pub fn mask_durations(text: &str) -> String {
    const UNITS: [&str; 6] = ["ms", "µs", "us", "ns", "s", "m"];
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if starts_word && bytes[i].is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            let rest = &text[j..];
            let rest_trimmed = rest.trim_start_matches(' ');
            let gap = rest.len() - rest_trimmed.len();
            if let Some(unit) = UNITS.iter().find(|u| rest_trimmed.starts_with(**u)) {
                let end = j + gap + unit.len();
                if !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
                    out.push_str("<time>");
                    i = end;
                    continue;
                }
            }
            out.push_str(&text[i..j]);
            i = j;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_progress_hits_elapsed_and_running_tasks() {
        let running: Vec<(String, Duration)> = (1..=6)
            .map(|i| (format!("p{i}:build"), Duration::from_secs(i)))
            .collect();
        let progress = Progress {
            done: 3,
            total: 12,
            hits: 1,
        };
        assert_eq!(
            status_line(progress, Duration::from_millis(4100), &running[..2]),
            "[3/12] 2 running, 1 hit, 4.1s: p1:build (1.0s), p2:build (2.0s)"
        );
        let line = status_line(
            Progress {
                hits: 2,
                ..progress
            },
            Duration::ZERO,
            &running,
        );
        assert!(
            line.starts_with("[3/12] 6 running, 2 hits, 0ms: "),
            "{line}"
        );
        assert!(line.ends_with("p4:build (4.0s), +2 more"), "{line}");
    }

    #[test]
    fn summary_line_counts_every_kind() {
        let counts = RunCounts {
            total: 12,
            hits: 10,
            saved: Duration::from_millis(8200),
            ran: 2,
            failed: 0,
            not_run: 0,
        };
        assert_eq!(
            summary_line(counts, Duration::from_millis(1300)),
            "12 tasks: 10 hits (saved 8.2s), 2 ran, 0 failed in 1.3s"
        );
        let one = RunCounts {
            total: 1,
            ran: 1,
            ..RunCounts::default()
        };
        assert_eq!(
            summary_line(one, Duration::from_millis(5)),
            "1 task: 0 hits, 1 ran, 0 failed in 5ms"
        );
        let failed = RunCounts {
            total: 4,
            hits: 1,
            failed: 1,
            not_run: 2,
            ..RunCounts::default()
        };
        assert_eq!(
            summary_line(failed, Duration::from_secs(2)),
            "4 tasks: 1 hit, 0 ran, 1 failed, 2 not run in 2.0s"
        );
        // A task's own result says `cache hit` / `cache miss`; scripts and tests count
        // those, so the summary never says them.
        for line in [
            summary_line(counts, Duration::ZERO),
            summary_line(one, Duration::ZERO),
        ] {
            assert!(
                !line.contains("cache hit") && !line.contains("cache miss"),
                "{line}"
            );
        }
        assert_eq!(
            mask_durations(&summary_line(counts, Duration::from_millis(1300))),
            "12 tasks: 10 hits (saved <time>), 2 ran, 0 failed in <time>"
        );
    }

    #[test]
    fn live_line_only_on_a_terminal_without_json_outside_ci() {
        use std::ffi::OsStr;
        assert!(live_wanted(true, false, None));
        assert!(live_wanted(true, false, Some(OsStr::new(""))));
        assert!(live_wanted(true, false, Some(OsStr::new("false"))));
        assert!(!live_wanted(false, false, None), "not a terminal");
        assert!(!live_wanted(true, true, None), "--json");
        assert!(
            !live_wanted(true, false, Some(OsStr::new("true"))),
            "CI=true"
        );
        assert!(!live_wanted(true, false, Some(OsStr::new("1"))), "CI=1");
    }

    #[test]
    fn status_line_is_cut_to_the_terminal_width() {
        assert_eq!(fit("abcdef", 4), "abcd");
        assert_eq!(fit("ab", 4), "ab");
        assert_eq!(fit("ééé", 2), "éé");
    }

    #[test]
    fn colors_only_when_enabled() {
        let mut printer = Printer {
            color: true,
            live: false,
            stdout_to_stderr: false,
            lock: Mutex::new(LiveState::default()),
        };
        assert_eq!(printer.paint(Style::Bad, "x"), "\x1b[1;31mx\x1b[0m");
        printer.color = false;
        assert_eq!(printer.paint(Style::Bad, "x"), "x");
    }

    #[test]
    fn escapes_control_characters_keeps_utf8() {
        assert_eq!(
            escape_line("\x1b]0;PWNED\x07\x1b[2J"),
            "\\x1b]0;PWNED\\x07\\x1b[2J"
        );
        assert_eq!(escape_line("a\rb\nc\td\u{7f}"), "a\\rb\\nc\td\\x7f");
        assert_eq!(escape_line("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(escape_line("évil\u{202e}txt.exe"), "évil\\u{202e}txt.exe");
        assert_eq!(escape_text("line 1\nline\x1b 2"), "line 1\nline\\x1b 2");
        let plain = "packages/ünï/src — ok";
        assert!(matches!(escape_line(plain), std::borrow::Cow::Borrowed(p) if p == plain));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(5)), "5ms");
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn every_line_is_prefixed_and_empty_lines_have_no_trailing_space() {
        assert_eq!(
            prefix_lines("app:build", b"one\n\ntwo\n"),
            b"app:build | one\napp:build |\napp:build | two\n"
        );
    }

    #[test]
    fn unfinished_lines_wait_for_their_newline() {
        let printer = Printer {
            color: false,
            live: false,
            stdout_to_stderr: false,
            lock: Mutex::new(LiveState::default()),
        };
        let mut out = TaskOutput::new(&printer, Some("app:build".into()));
        out.write(Stream::Stderr, b"one\ntw");
        assert_eq!(out.partial[1], b"tw");
        out.write(Stream::Stderr, b"o");
        out.finish();
        assert!(out.partial.iter().all(Vec::is_empty));
    }

    #[test]
    fn records_in_order_and_merges_runs() {
        let printer = Printer {
            color: false,
            live: false,
            stdout_to_stderr: false,
            lock: Mutex::new(LiveState::default()),
        };
        let mut out = TaskOutput::new(&printer, None);
        out.write(Stream::Stdout, b"");
        out.write(Stream::Stdout, b"");
        out.write(Stream::Stderr, b"");
        out.replay(Stream::Stdout, b"");
        assert_eq!(out.take_recorded().len(), 2);
    }

    #[test]
    fn durations_are_masked_and_sizes_are_not() {
        assert_eq!(
            mask_durations("built in 45ms, 1.5s total, 300 µs; 0.22 kB; v8 2m"),
            "built in <time>, <time> total, <time>; 0.22 kB; v8 <time>"
        );
        assert_eq!(
            mask_durations("12 modules, 3 messages"),
            "12 modules, 3 messages"
        );
    }
}
