//! One `mailroom maildir` run over a scanned Maildir: messages are read and
//! parsed on worker threads while this thread, the only writer, files them
//! in group-committed batches and moves each to `cur/` once its batch is
//! durable.
//!
//! # Threads
//!
//! Worker `w` of `W` reads and parses messages `w`, `w + W`, … and hands
//! them over through its own bounded channel; the writer takes them round
//! robin, so it files in scan order (oldest first) without a reorder
//! buffer, and memory stays bounded whatever the number of messages.
//!
//! # Batches
//!
//! Moves to `cur/` run on a thread of their own, one batch at a time, as
//! soon as the batch's commit is durable: a rename in a large `new/` costs
//! about as much as filing the message, and the writer goes on with the
//! next batch meanwhile.
//!
//! A batch ends at [`Limits::messages`] messages, [`Limits::bytes`] bytes of
//! raw mail, or [`Limits::wait`] after it began. It is filed in one `BEGIN
//! IMMEDIATE` transaction; if any message of it fails, or the commit does,
//! the batch is rolled back and filed again one message per transaction,
//! so a bad message costs only itself. A message that still fails stays in
//! `new/` for the next run. When the database cannot even be locked (busy
//! past the timeout, unreadable), the run stops: the rest waits in `new/`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::exit::{Exit, Failure};
use crate::maildir::folder::{self, Scan};
use crate::pipeline::{Filing, Parsed};
use crate::report::{Report, Status};
use crate::rules::Config;
use crate::store::Store;

/// Raw bytes read ahead by the workers and not yet taken by the writer,
/// shared out among the workers. With a whole batch read ahead, the
/// workers parse the next batch while the writer files and commits this
/// one; the bound keeps memory flat however large the messages.
const READ_AHEAD_BYTES: usize = 8 << 20;

/// Bounds of one group-commit batch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub messages: usize,
    pub bytes: usize,
    pub wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            messages: 1000,
            bytes: 4 << 20,
            wait: Duration::from_millis(500),
        }
    }
}

/// How a run behaves, from the command line.
pub struct Options<'a> {
    pub config: &'a Config,
    pub now: &'a str,
    /// Leave files in `new/` (dedupe still files each message once).
    pub keep: bool,
    pub limits: Limits,
}

/// What a run did, for the summary line and the exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub processed: u64,
    pub skipped: u64,
    pub duplicate: u64,
    pub unparsed: u64,
    /// Failed temporarily (database, I/O): left in `new/` for the next run.
    pub failed: u64,
    /// Permanently unacceptable (empty, over `limits.message_bytes`): left
    /// in `new/`, reported each run, never filed.
    pub rejected: u64,
    /// Moved or deleted by another client before we got to it.
    pub vanished: u64,
    /// Stored, but the move to `cur/` failed; the next run moves it.
    pub unmoved: u64,
    /// Not tried because the run stopped (database unavailable).
    pub left: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn messages(&self) -> u64 {
        self.processed + self.skipped + self.duplicate + self.unparsed + self.failed + self.rejected
    }

    /// 75 when anything waits in `new/` that a later run may file.
    pub fn exit(&self) -> Exit {
        if self.failed + self.unmoved + self.left > 0 {
            Exit::TempFail
        } else {
            Exit::Ok
        }
    }

    /// The one-line summary printed on stderr.
    pub fn line(&self, dir: &Path) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.messages() as f64 / secs
        } else {
            0.0
        };
        let mut line = format!(
            "maildir `{}`: {} processed, {} skipped, {} duplicate, {} unparsed, {} failed",
            dir.display(),
            self.processed,
            self.skipped,
            self.duplicate,
            self.unparsed,
            self.failed
        );
        for (n, what) in [
            (self.rejected, "rejected"),
            (self.vanished, "vanished"),
            (self.unmoved, "not moved"),
            (self.left, "left for the next run"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line.push_str(&format!(
            "; {} message(s) in {secs:.2} s, {rate:.0} messages/s",
            self.messages()
        ));
        line
    }

    fn count(&mut self, status: Status) {
        match status {
            Status::Processed => self.processed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Duplicate => self.duplicate += 1,
            Status::Unparsed => self.unparsed += 1,
            Status::Failed => self.failed += 1,
        }
    }
}

/// Where the JSON lines and progress go: the caller decides (stdout,
/// `--quiet`, a progress bar).
pub trait Sink {
    /// One message's result, in filing order.
    fn report(&mut self, report: &Report);
    /// A message was dealt with (filed, failed, vanished).
    fn tick(&mut self);
    /// The end of a batch: a good moment to flush.
    fn flush(&mut self);
    /// One short line for stderr.
    fn warn(&mut self, line: &str);
}

/// A message as a worker hands it over.
enum Loaded {
    Message { raw: Vec<u8>, parsed: Box<Parsed> },
    Vanished,
    Failed(Failure),
}

impl Loaded {
    /// The raw size, as counted against the read-ahead and batch bounds.
    fn bytes(&self) -> usize {
        match self {
            Loaded::Message { raw, .. } => raw.len(),
            _ => 0,
        }
    }
}

/// Reads and prepares one message file; pure but for the read.
fn load(path: &Path, limit: u64, filing: &Filing) -> Loaded {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Vanished,
        Err(e) => {
            return Loaded::Failed(Failure::temp(anyhow!(
                "cannot open `{}`: {e}",
                path.display()
            )));
        }
    };
    match read_whole(file, &format!("`{}`", path.display()), limit) {
        Ok(raw) => Loaded::Message {
            parsed: Box::new(filing.prepare(&raw)),
            raw,
        },
        Err(f) => Loaded::Failed(f),
    }
}

/// [`crate::mail::input::read`] for a whole file: `File::read_to_end` sizes
/// its buffer from the file, one read instead of a growing buffer's many
/// (which `Read::take` would cost). Too large is refused before reading.
fn read_whole(mut file: std::fs::File, what: &str, limit: u64) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let too_large = || {
        Failure::new(
            Exit::DataErr,
            anyhow!("{what}: message larger than limits.message_bytes ({limit} bytes)"),
        )
    };
    if file.metadata().is_ok_and(|m| m.len() > limit) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| Failure::temp(anyhow!("cannot read {what}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::new(
            Exit::DataErr,
            anyhow!("{what}: empty message"),
        ));
    }
    Ok(buf)
}

/// The bytes one worker has handed over and the writer not yet taken
/// (its share of [`READ_AHEAD_BYTES`]). Each worker has its own: a
/// shared one could be filled by one worker's messages while the writer,
/// which takes them in turn, waits for the other's.
struct Budget {
    limit: usize,
    /// Bytes in flight, and whether the writer has stopped.
    state: std::sync::Mutex<(usize, bool)>,
    freed: std::sync::Condvar,
}

impl Budget {
    fn new(limit: usize) -> Budget {
        Budget {
            limit,
            state: std::sync::Mutex::new((0, false)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits until the worker is under its limit (so one message of any
    /// size always goes through). `false` once the writer has stopped.
    fn wait_for_room(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        while state.0 >= self.limit && !state.1 {
            state = match self.freed.wait(state) {
                Ok(s) => s,
                Err(_) => return false,
            };
        }
        !state.1
    }

    fn take(&self, n: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.0 += n;
        }
    }

    fn give_back(&self, n: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.0 = state.0.saturating_sub(n);
        }
        self.freed.notify_all();
    }

    /// The writer stopped: no worker waits any longer.
    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.1 = true;
        }
        self.freed.notify_all();
    }
}

/// The moves of one committed batch, for the mover thread.
type Moves = Vec<(PathBuf, PathBuf)>;

/// A move that failed: the message is stored and stays in `new/`.
type Unmoved = (PathBuf, std::io::Error);

/// Moves each file of each batch it receives; what failed comes back.
fn mover(batches: Receiver<Moves>, failures: Sender<Unmoved>) {
    for batch in batches {
        for (from, to) in batch {
            if let Err(e) = folder::move_file(&from, &to)
                && failures.send((from, e)).is_err()
            {
                return;
            }
        }
    }
}

/// One entry of a batch, in scan order.
struct Item {
    index: usize,
    loaded: Loaded,
}

/// Files every message of `scan`; see the module doc.
pub fn run(scan: &Scan, store: &mut dyn Store, options: &Options, sink: &mut dyn Sink) -> Summary {
    let started = Instant::now();
    let total = scan.messages.len();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(total.max(1));
    let limit = options.config.limits.message_bytes;
    let mut summary = Summary::default();
    // A failure costs speed, not correctness.
    let _ = store.prepare_for_batches();
    let (unmoved_tx, unmoved) = channel::<Unmoved>();
    let budgets: &Vec<Budget> = &(0..workers)
        .map(|_| Budget::new(READ_AHEAD_BYTES / workers))
        .collect();
    std::thread::scope(|s| {
        // A thread the system refuses (a process limit) is said once on
        // stderr; the run goes on without it where it can: without the
        // mover the stored mail stays in new/ (the next run finds it
        // filed and moves it), and without a worker the writer stops
        // at that worker's first message, leaving the rest for the next
        // run (exit 75).
        let moves = (!options.keep)
            .then(|| {
                let (tx, rx) = sync_channel::<Moves>(2);
                let failures = unmoved_tx.clone();
                std::thread::Builder::new()
                    .spawn_scoped(s, move || mover(rx, failures))
                    .map_err(|e| refused("mover", &e))
                    .ok()
                    .map(|mover| (tx, mover))
            })
            .flatten();
        drop(unmoved_tx);
        // Room for a whole batch, so that reading ahead is bounded by
        // bytes, not by count.
        let room = options.limits.messages.div_ceil(workers).max(1);
        let mut receivers: Vec<Receiver<Loaded>> = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx): (SyncSender<Loaded>, Receiver<Loaded>) = sync_channel(room);
            receivers.push(rx);
            let Some(budget) = budgets.get(w) else {
                break;
            };
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                let filing = Filing {
                    config: options.config,
                    envelope: None,
                    now: options.now,
                };
                for p in scan.messages.iter().skip(w).step_by(workers) {
                    if !budget.wait_for_room() {
                        return; // the writer stopped
                    }
                    let loaded = load(&scan.new_path(p), limit, &filing);
                    budget.take(loaded.bytes());
                    if tx.send(loaded).is_err() {
                        return; // the writer stopped
                    }
                }
            });
            if let Err(e) = worker {
                refused("reading", &e);
            }
        }
        let (moves, mover) = moves.unzip();
        let mut writer = Writer {
            scan,
            store,
            options,
            sink,
            summary: &mut summary,
            moves,
            unmoved: &unmoved,
        };
        let mut batch: Vec<Item> = Vec::new();
        let mut bytes = 0usize;
        let mut began = Instant::now();
        let mut index = 0;
        let mut stopped = false;
        let limits = options.limits;
        'messages: while index < total {
            let (Some(rx), Some(budget)) =
                (receivers.get(index % workers), budgets.get(index % workers))
            else {
                break;
            };
            // A batch is committed after `limits.wait` even when the next
            // message is slow to come (a huge one, a slow disk).
            let loaded = loop {
                let received = if batch.is_empty() {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                } else {
                    rx.recv_timeout(limits.wait.saturating_sub(began.elapsed()))
                };
                match received {
                    Ok(loaded) => break loaded,
                    Err(RecvTimeoutError::Timeout) => {
                        bytes = 0;
                        if !writer.flush(std::mem::take(&mut batch)) {
                            stopped = true;
                            break 'messages;
                        }
                    }
                    // A worker died; what it had stays in new/.
                    Err(RecvTimeoutError::Disconnected) => break 'messages,
                }
            };
            budget.give_back(loaded.bytes());
            bytes += loaded.bytes();
            if batch.is_empty() {
                began = Instant::now();
            }
            batch.push(Item { index, loaded });
            index += 1;
            if batch.len() >= limits.messages
                || bytes >= limits.bytes
                || began.elapsed() >= limits.wait
            {
                bytes = 0;
                if !writer.flush(std::mem::take(&mut batch)) {
                    stopped = true;
                    break;
                }
            }
        }
        if !stopped && !batch.is_empty() {
            writer.flush(batch);
        }
        writer.summary.left += (total - index) as u64;
        // Dropping the receivers stops the workers if the run stopped early.
        budgets.iter().for_each(Budget::close);
        drop(receivers);
        // The last moves are done before the run reports.
        writer.moves = None;
        if let Some(mover) = mover {
            let _ = mover.join();
        }
        writer.collect_unmoved();
    });
    // Leave the store quick to open for the next piped delivery.
    let _ = store.housekeeping();
    summary.elapsed = started.elapsed();
    summary
}

/// Says on stderr that the system refused the `what` thread.
fn refused(what: &str, error: &std::io::Error) {
    eprintln!("mailroom: cannot start the {what} thread: {error}");
}

struct Writer<'w> {
    scan: &'w Scan,
    store: &'w mut dyn Store,
    options: &'w Options<'w>,
    sink: &'w mut dyn Sink,
    summary: &'w mut Summary,
    /// To the mover thread; `None` with `--keep`.
    moves: Option<SyncSender<Moves>>,
    unmoved: &'w Receiver<Unmoved>,
}

impl Writer<'_> {
    /// Files one batch, moves what was stored, reports everything in
    /// order. `false` when the database is unavailable and the run stops.
    fn flush(&mut self, batch: Vec<Item>) -> bool {
        let filing = Filing {
            config: self.options.config,
            envelope: None,
            now: self.options.now,
        };
        let (results, go_on) = match self.file_batch(&filing, &batch) {
            Some(reports) => (reports.into_iter().map(Ok).collect(), true),
            None => self.file_one_by_one(&filing, &batch),
        };
        let mut moves = Vec::with_capacity(batch.len());
        for (item, result) in batch.iter().zip(results) {
            self.finish(item, result, &mut moves);
        }
        if let Some(mover) = &self.moves
            && let Err(unsent) = mover.send(moves)
        {
            // The mover thread is gone (it cannot panic, but if it did):
            // move here.
            for (from, to) in unsent.0 {
                if let Err(e) = folder::move_file(&from, &to) {
                    self.unmoved_warning(&from, &e);
                }
            }
        }
        self.collect_unmoved();
        self.sink.flush();
        go_on
    }

    /// Reports the moves that failed so far.
    fn collect_unmoved(&mut self) {
        while let Ok((from, e)) = self.unmoved.try_recv() {
            self.unmoved_warning(&from, &e);
        }
    }

    fn unmoved_warning(&mut self, from: &Path, e: &std::io::Error) {
        self.summary.unmoved += 1;
        self.sink.warn(&format!(
            "stored `{}` but cannot move it to cur/: {e}",
            from.display()
        ));
    }

    /// The whole batch in one transaction; `None` if anything failed (all
    /// of it rolled back).
    fn file_batch(&mut self, filing: &Filing, batch: &[Item]) -> Option<Vec<Option<Report>>> {
        let tx = self.store.begin().ok()?;
        let mut reports = Vec::with_capacity(batch.len());
        for item in batch {
            reports.push(match &item.loaded {
                Loaded::Message { raw, parsed } => Some(filing.file_in(&*tx, raw, parsed).ok()?),
                _ => None,
            });
        }
        tx.commit().ok()?;
        Some(reports)
    }

    /// Each message in its own transaction. Stops (the rest marked `left`)
    /// when a transaction cannot even begin.
    fn file_one_by_one(
        &mut self,
        filing: &Filing,
        batch: &[Item],
    ) -> (Vec<Result<Option<Report>, Failure>>, bool) {
        let scan = self.scan;
        let mut out = Vec::with_capacity(batch.len());
        for item in batch {
            let Loaded::Message { raw, parsed } = &item.loaded else {
                out.push(Ok(None));
                continue;
            };
            let what = || match scan.messages.get(item.index) {
                Some(p) => format!("message `{}`", scan.new_path(p).display()),
                None => "message".to_string(),
            };
            // Run again when it lost a race ([`crate::store::write`]);
            // `began` tells a store that cannot even begin from one mail
            // it refuses.
            let mut began = false;
            let result = crate::store::write(self.store, Some(&parsed.claims()), |tx| {
                began = true;
                filing.file_in(tx, raw, parsed)
            });
            let result = match result {
                Ok(report) => Ok(Some(report)),
                Err(e) if !began => {
                    out.push(Err(Failure::temp(e.context(what()))));
                    let left = batch.len() - out.len();
                    self.summary.left += left as u64;
                    return (out, false);
                }
                Err(e) => Err(Failure::temp(e.context(what()))),
            };
            out.push(result);
        }
        (out, true)
    }

    /// Reports a message and, once stored, queues its move to `cur/`.
    fn finish(&mut self, item: &Item, result: Result<Option<Report>, Failure>, moves: &mut Moves) {
        let Some(pending) = self.scan.messages.get(item.index) else {
            return;
        };
        let report = match (&item.loaded, result) {
            (Loaded::Vanished, _) => {
                self.summary.vanished += 1;
                self.sink.tick();
                return;
            }
            (Loaded::Failed(f), _) => {
                self.sink.warn(&f.to_string());
                if f.exit == Exit::TempFail {
                    self.summary.failed += 1;
                } else {
                    // Never fileable: out of new/, so it is reported once.
                    self.summary.rejected += 1;
                    if self.moves.is_some() {
                        moves.push((self.scan.new_path(pending), self.scan.refused_path(pending)));
                    }
                }
                failed(f)
            }
            (Loaded::Message { .. }, Err(f)) => {
                self.sink.warn(&f.to_string());
                self.summary.failed += 1;
                failed(&f)
            }
            (Loaded::Message { .. }, Ok(None)) => return,
            (Loaded::Message { .. }, Ok(Some(report))) => {
                self.summary.count(report.status);
                if self.moves.is_some() {
                    moves.push((self.scan.new_path(pending), self.scan.cur_path(pending)));
                }
                report
            }
        };
        self.sink.report(&report);
        self.sink.tick();
    }
}

fn failed(f: &Failure) -> Report {
    let mut report = Report::empty(Status::Failed);
    report.reason = Some(f.to_string());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mail_left_for_a_later_run_makes_exit_75() {
        let mut s = Summary {
            processed: 3,
            rejected: 1,
            vanished: 2,
            ..Summary::default()
        };
        assert_eq!(s.exit(), Exit::Ok);
        for more in [
            |s: &mut Summary| s.failed = 1,
            |s: &mut Summary| s.unmoved = 1,
            |s: &mut Summary| s.left = 1,
        ] {
            let mut t = s.clone();
            more(&mut t);
            assert_eq!(t.exit(), Exit::TempFail);
        }
        s.elapsed = Duration::from_secs(2);
        assert_eq!(
            s.line(Path::new("/m")),
            "maildir `/m`: 3 processed, 0 skipped, 0 duplicate, 0 unparsed, 0 failed, \
             1 rejected, 2 vanished; 4 message(s) in 2.00 s, 2 messages/s"
        );
    }

    #[test]
    fn empty_and_oversized_files_are_rejected_for_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        let read = |content: &[u8], limit| {
            std::fs::write(&path, content).expect("write");
            read_whole(std::fs::File::open(&path).expect("open"), "`m`", limit)
        };
        assert_eq!(
            read(b"Subject: x\n\nhi", 100).ok(),
            Some(b"Subject: x\n\nhi".to_vec())
        );
        let empty = read(b" \r\n", 100).expect_err("empty");
        assert_eq!(empty.exit, Exit::DataErr);
        assert_eq!(empty.to_string(), "`m`: empty message");
        let large = read(b"Subject: x\n\nhi", 5).expect_err("too large");
        assert_eq!(large.exit, Exit::DataErr);
        assert!(
            large
                .to_string()
                .contains("larger than limits.message_bytes")
        );
    }
}
