//! Timings behind the README's "Reliability" section (tests assert
//! behaviour; the numbers live here):
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example reliability_bench [-- MAILROOM [DIR]]
//! ```
//!
//! 1. What the durable commit costs: one delivery's transaction (open,
//!    WAL, BEGIN IMMEDIATE, a 4 KB mail row, commit, close) with
//!    `synchronous` FULL (what `process` does), NORMAL and OFF, on a disk
//!    directory (DIR, default `target/bench`; not /tmp, which may be RAM).
//! 2. `mailroom process` end to end, one invocation per message.
//! 3. Hostile subjects and bodies against the example rules and against
//!    backtracking bombs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailroom::mail::message::{Email, Mailbox};
use mailroom::rules::Config;

const ROUNDS: usize = 200;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    // By default the mailroom built beside this example: its directory's
    // parent holds the release executables.
    let binary = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|release| release.join("mailroom"))
            .ok_or_else(|| anyhow::anyhow!("usage: reliability_bench MAILROOM [DIR]"))?,
    };
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench".into()));
    std::fs::create_dir_all(&dir)?;

    println!(
        "== durable commit, {ROUNDS} deliveries each, in {}",
        dir.display()
    );
    for mode in ["FULL", "NORMAL", "OFF"] {
        let per = commits(&dir, mode)?;
        println!("synchronous = {mode:<6} {:>7.2} ms per delivery", ms(per));
    }

    println!("== mailroom process, one invocation per message");
    if binary.exists() {
        let per = process(&binary, &dir)?;
        println!("{} {:>7.2} ms per message", binary.display(), ms(per));
    } else {
        println!("{} not built: skipped", binary.display());
    }

    println!("== hostile input against rules");
    regexes()?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn commits(dir: &Path, mode: &str) -> anyhow::Result<Duration> {
    let path = dir.join(format!("sync-{mode}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE mail (id INTEGER PRIMARY KEY, raw BLOB);",
        )?;
    }
    let row = vec![b'x'; 4096];
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let mut conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {mode};"
        ))?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("INSERT INTO mail (raw) VALUES (?1)", [&row])?;
        tx.commit()?;
    }
    Ok(start.elapsed() / ROUNDS as u32)
}

fn process(binary: &Path, dir: &Path) -> anyhow::Result<Duration> {
    let db = dir.join("process.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let start = Instant::now();
    for n in 0..ROUNDS {
        let raw = format!(
            "From: Customer {n} <c{n}@client.example>\r\nTo: crm+case@example.com\r\n\
             Subject: Request {n}\r\nMessage-ID: <bench-{n}@client.example>\r\n\r\nPlease help.\r\n"
        );
        let mut child = Command::new(binary)
            .arg("process")
            .env("MAILROOM_DB", &db)
            .env_remove("MAILROOM_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, raw.as_bytes())?;
        }
        anyhow::ensure!(child.wait()?.success(), "mailroom process failed");
    }
    Ok(start.elapsed() / ROUNDS as u32)
}

fn regexes() -> anyhow::Result<()> {
    let store = mailroom::store::open_read_only(&mailroom::store::Location::File(
        "/nonexistent/mailroom.db".into(),
    ))?;
    let reader = store.reader();
    let example = std::fs::read_to_string("rules.example.yaml")?;
    let bombs = "actions:\n\
        \x20 - name: nested plus\n    when: { subject: { regex: \"^(a+)+$\" } }\n    do: skip\n\
        \x20 - name: alternation\n    when: { subject: { regex: \"^(a|aa)*b$\" } }\n    do: skip\n\
        \x20 - name: repeated dot star\n    when: { body: { regex: \"(.*a){12}z\" } }\n    do: skip\n\
        \x20 - name: fallback\n    do: archive\n";
    let cases = [
        (
            "example rules, 1 MB subject, 4 MB body",
            example.as_str(),
            "Re: [CASE-".repeat(100_000),
            "Company name: ".repeat(300_000),
        ),
        (
            "backtracking bombs, 1 MB of `a`",
            bombs,
            "a".repeat(1 << 20) + "!",
            "a".repeat(1 << 20),
        ),
    ];
    for (name, yaml, subject, body) in cases {
        let config = Config::parse(Path::new("rules.yaml"), yaml)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .config;
        let email = Email {
            from: vec![Mailbox {
                name: None,
                address: "mallory@evil.example".into(),
            }],
            subject,
            text: body,
            ..Email::default()
        };
        let start = Instant::now();
        let plan =
            mailroom::route::decide(&email, None, &config, &*reader, "2026-11-27T10:00:00Z")?;
        println!(
            "{name}: {:.1} ms (rule {:?})",
            ms(start.elapsed()),
            plan.rule
        );
    }
    Ok(())
}
