//! What a `maildir` run shows: one JSON line per message on stdout, short
//! warnings on stderr, and a progress bar on stderr when it is a terminal.
//! The only module that touches indicatif.

use std::io::{BufWriter, IsTerminal, Stdout, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::maildir::sweep::Sink;
use crate::report::Report;

pub struct Progress {
    out: BufWriter<Stdout>,
    /// `--quiet`: the summary only.
    quiet: bool,
    bar: Option<ProgressBar>,
    /// Stdout is the terminal the bar is drawn on.
    shared_terminal: bool,
    /// The first error writing stdout; output stops there, filing goes on
    /// (the move to `cur/` is the acknowledgement, not the JSON line).
    pub write_error: Option<std::io::Error>,
}

impl Progress {
    /// A bar for `total` messages when stderr is a terminal and not `quiet`.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} mails, {elapsed} elapsed, {eta} left",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            out: BufWriter::with_capacity(64 << 10, std::io::stdout()),
            quiet,
            shared_terminal: bar.is_some() && std::io::stdout().is_terminal(),
            bar,
            write_error: None,
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&mut self) {
        self.flush();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn write(&mut self, text: &str) {
        if self.write_error.is_some() {
            return;
        }
        let out = &mut self.out;
        let result = match &self.bar {
            // Lines on the bar's terminal go above it, not through it.
            Some(bar) if self.shared_terminal => {
                bar.suspend(|| out.write_all(text.as_bytes()).and_then(|_| out.flush()))
            }
            _ => out.write_all(text.as_bytes()),
        };
        if let Err(e) = result {
            self.write_error = Some(e);
        }
    }
}

impl Progress {
    /// One line of output (a JSON object), unless `--quiet`.
    pub fn line(&mut self, line: &str) {
        if !self.quiet {
            self.write(&format!("{line}\n"));
        }
    }
}

impl Sink for Progress {
    fn report(&mut self, report: &Report) {
        self.line(&report.to_json());
    }

    fn tick(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn flush(&mut self) {
        if self.write_error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.write_error = Some(e);
        }
    }

    fn warn(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("mailroom: {line}")),
            None => eprintln!("mailroom: {line}"),
        }
    }
}
