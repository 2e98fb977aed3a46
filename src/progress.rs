//! What a `maildir` run shows: one JSON line per message on stdout, short
//! warnings on stderr, and a progress bar on stderr when it is a terminal.
//! The only module that touches indicatif.

use std::io::{BufWriter, IsTerminal, Stdout, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Report;
use crate::sweep::Sink;

pub struct Progress {
    out: BufWriter<Stdout>,
    /// `--quiet`: the summary only.
    quiet: bool,
    bar: Option<ProgressBar>,
    /// The first error writing stdout; output stops there, filing goes on
    /// (the move to `cur/` is the acknowledgement, not the JSON line).
    pub write_error: Option<std::io::Error>,
}

impl Progress {
    /// A bar for `total` messages when stderr is a terminal and not `quiet`.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, {eta} left")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            out: BufWriter::with_capacity(64 << 10, std::io::stdout()),
            quiet,
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
            // Stdout may be the same terminal: keep lines clear of the bar.
            Some(bar) => bar.suspend(|| out.write_all(text.as_bytes()).and_then(|_| out.flush())),
            None => out.write_all(text.as_bytes()),
        };
        if let Err(e) = result {
            self.write_error = Some(e);
        }
    }
}

impl Sink for Progress {
    fn report(&mut self, report: &Report) {
        if !self.quiet {
            let line = report.to_json() + "\n";
            self.write(&line);
        }
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
