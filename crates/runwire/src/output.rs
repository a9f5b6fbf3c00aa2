//! Terminal output: runner messages, task output (optionally prefixed by `package:task`),
//! colors and duration formatting.
//!
//! Runner messages go to stderr so a task's stdout can still be piped. Colors are used only
//! when stderr is a terminal and `NO_COLOR` is unset or empty.

use std::io::{IsTerminal, Write};
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
    lock: Mutex<()>,
}

impl Printer {
    /// A printer that decides on colors from the terminal and `NO_COLOR`.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            color: !no_color && std::io::stderr().is_terminal(),
            lock: Mutex::new(()),
        }
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
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        // A closed stderr is not a reason to stop running tasks.
        let _ = err.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = err.write_all(b"\n");
        }
        let _ = err.flush();
    }

    fn raw(&self, stream: Stream, bytes: &[u8]) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = match stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Stream::Stderr => {
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
        let mut text = Vec::with_capacity(complete.len() + 32);
        for line in complete.split_inclusive(|&b| b == b'\n') {
            text.extend_from_slice(label.as_bytes());
            text.extend_from_slice(b" | ");
            text.extend_from_slice(line);
        }
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

    /// The recorded output, in the order it was written.
    pub fn take_recorded(&mut self) -> Vec<(Stream, Vec<u8>)> {
        std::mem::take(&mut self.recorded)
    }
}

/// `850ms`, `1.2s`, `2m05s`.
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
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(5)), "5ms");
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn records_in_order_and_merges_runs() {
        let printer = Printer {
            color: false,
            lock: Mutex::new(()),
        };
        let mut out = TaskOutput::new(&printer, None);
        out.write(Stream::Stdout, b"");
        out.write(Stream::Stdout, b"");
        out.write(Stream::Stderr, b"");
        out.replay(Stream::Stdout, b"");
        assert_eq!(out.take_recorded().len(), 2);
    }
}
