//! `cargo bench --bench maildir [-- N...]`: builds a Maildir of N messages
//! from the shared corpus (each with a unique Message-ID), files it with
//! `mailroom maildir --quiet` and the example rules into a fresh database
//! under `/usr/bin/time -v`, and prints messages per second and peak
//! memory. N defaults to 10,000 and 100,000.
//!
//! Beside each run it times the floor under it on an identical Maildir:
//! this bench's own executable, started again with `MAILROOM_BENCH_FLOOR`
//! set, does only what the job itself demands of the file system and the
//! database (see [`floor`]), so the two rates say how much of a run is
//! mailroom's own work and how much no filing program can avoid.

#[path = "../tests/it/util.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

/// Set in the environment of the floor's run.
const FLOOR: &str = "MAILROOM_BENCH_FLOOR";

fn main() {
    if std::env::var_os(FLOOR).is_some() {
        let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
        let [dir, db] = args.as_slice() else {
            panic!("usage: {FLOOR}=1 maildir-bench MAILDIR DB");
        };
        let started = Instant::now();
        let stored = floor(dir, db).expect("floor run");
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "floor: {stored} message(s) in {secs:.2} s, {:.0} messages/s",
            stored as f64 / secs
        );
        return;
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace(['_', ','], "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    println!("machine: {}", machine());
    // Others may share the machine: the load says how far to trust wall time.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before: {}", load.trim());
    }
    let messages = util::corpus_messages();
    assert!(
        !messages.is_empty(),
        "no corpus at {}",
        util::corpus_dir().display()
    );
    for n in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        // Two identical Maildirs: one for mailroom, one for the floor.
        let md = dir.path().join("Maildir");
        let names = util::fill_maildir(&md, &messages, n);
        util::fill_maildir(&dir.path().join("Floor"), &messages, n);
        let bytes: u64 = names
            .iter()
            .filter_map(|name| std::fs::metadata(md.join("new").join(name)).ok())
            .map(|m| m.len())
            .sum();
        let mut mailroom = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        mailroom
            .arg("maildir")
            .arg("--quiet")
            .arg(&md)
            .env("MAILROOM_CONFIG", util::root().join("rules.example.yaml"))
            .env("MAILROOM_DB", dir.path().join("crm.db"));
        let ours = timed(mailroom, n);
        let db = std::fs::metadata(dir.path().join("crm.db")).map_or(0, |m| m.len());
        println!(
            "N={n}: {:.1} MB of mail, {}, database {:.0} MB",
            bytes as f64 / 1e6,
            ours.line(),
            db as f64 / 1e6
        );
        println!("  {}", ours.summary.trim_start_matches("mailroom: "));
        let mut floor = Command::new(std::env::current_exe().expect("the bench's own path"));
        floor
            .arg(dir.path().join("Floor"))
            .arg(dir.path().join("floor.db"))
            .env(FLOOR, "1");
        let theirs = timed(floor, n);
        println!(
            "  floor: {}; mailroom at {:.0}% of the floor's rate",
            theirs.line(),
            100.0 * theirs.wall / ours.wall
        );
    }
}

/// One timed run, from `/usr/bin/time -v`.
struct Timed {
    n: usize,
    wall: f64,
    user: f64,
    system: f64,
    rss_kb: u64,
    summary: String,
}

impl Timed {
    fn line(&self) -> String {
        format!(
            "{:.2} s wall, {:.0} messages/s, {:.2} s CPU ({:.0} µs per message, {:.0} of them in the kernel), peak RSS {:.1} MB",
            self.wall,
            self.n as f64 / self.wall,
            self.user + self.system,
            (self.user + self.system) * 1e6 / self.n as f64,
            self.system * 1e6 / self.n as f64,
            self.rss_kb as f64 / 1024.0
        )
    }
}

/// Runs `cmd` under `/usr/bin/time -v` over `n` messages.
fn timed(cmd: Command, n: usize) -> Timed {
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            timed.env(key, value);
        }
    }
    let started = Instant::now();
    let out = timed.output().expect("run /usr/bin/time -v");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: {stderr}",
        cmd.get_program().display()
    );
    let rss_kb: u64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let seconds = |label: &str| -> f64 {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Timed {
        n,
        wall,
        user: seconds("User time (seconds):"),
        system: seconds("System time (seconds):"),
        rss_kb,
        summary: stderr
            .lines()
            .find(|l| l.contains("messages/s"))
            .unwrap_or_default()
            .to_string(),
    }
}

/// Cores and CPU model, for the README's performance section.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} core(s), {model}")
}

/// Messages per transaction, as `mailroom maildir`'s default batch.
const FLOOR_BATCH: usize = 1000;

/// The least a run over a Maildir can do with mailroom's durability and
/// moves: it lists `new/` and sorts the names, reads each file whole with
/// its SHA-256 on one thread per core, stores each raw message and its
/// hash in transactions of [`FLOOR_BATCH`] (WAL, `synchronous = FULL`, a
/// 12 MB page cache, as `maildir` runs), and renames each batch's files to
/// `cur/<name>:2,S` on a thread of its own once the batch is durable. No
/// configuration, parsing, routing, JSON or checkpointer thread.
fn floor(dir: &Path, db: &Path) -> anyhow::Result<usize> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("new"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut conn = Connection::open(db)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA cache_size = -12288;
         CREATE TABLE floor (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, raw BLOB NOT NULL);",
    )?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let names = &names;
    std::thread::scope(|s| {
        let receivers: Vec<Receiver<(Vec<u8>, String)>> = (0..workers)
            .map(|w| {
                let (tx, rx) = sync_channel(FLOOR_BATCH);
                s.spawn(move || {
                    for name in names.iter().skip(w).step_by(workers) {
                        let raw = std::fs::read(dir.join("new").join(name)).expect("read");
                        let sha = format!("{:x}", Sha256::digest(&raw));
                        if tx.send((raw, sha)).is_err() {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        let (moves, to_move) = sync_channel::<Vec<&String>>(2);
        s.spawn(move || {
            for batch in to_move {
                for name in batch {
                    std::fs::rename(
                        dir.join("new").join(name),
                        dir.join("cur").join(format!("{name}:2,S")),
                    )
                    .expect("rename");
                }
            }
        });
        let mut stored = 0;
        for (b, batch) in names.chunks(FLOOR_BATCH).enumerate() {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO floor (sha256, raw) VALUES (?1, ?2)")?;
                for i in 0..batch.len() {
                    let index = b * FLOOR_BATCH + i;
                    let (raw, sha) = receivers[index % workers].recv()?;
                    insert.execute(params![sha, raw])?;
                }
            }
            tx.commit()?;
            stored += batch.len();
            moves
                .send(batch.iter().collect())
                .map_err(|_| anyhow::anyhow!("the mover stopped"))?;
        }
        Ok(stored)
    })
}
