//! `cargo bench --bench maildir [-- N...]`: builds a Maildir of N messages
//! from the shared corpus (each with a unique Message-ID), files it with
//! `mailroom maildir --quiet` and the example rules into a fresh database
//! under `/usr/bin/time -v`, and prints messages per second and peak
//! memory. N defaults to 10,000 and 100,000.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

fn main() {
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
    let messages = common::corpus_messages();
    assert!(
        !messages.is_empty(),
        "no corpus at {}",
        common::corpus_dir().display()
    );
    for n in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let md = dir.path().join("Maildir");
        let names = common::fill_maildir(&md, &messages, n);
        let bytes: u64 = names
            .iter()
            .filter_map(|name| std::fs::metadata(md.join("new").join(name)).ok())
            .map(|m| m.len())
            .sum();
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .arg("-v")
            .arg(env!("CARGO_BIN_EXE_mailroom"))
            .arg("maildir")
            .arg("--quiet")
            .arg(&md)
            .env("MAILROOM_CONFIG", common::root().join("rules.example.yaml"))
            .env("MAILROOM_DB", dir.path().join("crm.db"))
            .output()
            .expect("run /usr/bin/time -v mailroom");
        let wall = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mailroom failed: {stderr}");
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
        let cpu = seconds("User time (seconds):") + seconds("System time (seconds):");
        let summary = stderr
            .lines()
            .find(|l| l.contains("messages/s"))
            .unwrap_or_default();
        let db = std::fs::metadata(dir.path().join("crm.db")).map_or(0, |m| m.len());
        println!(
            "N={n}: {:.1} MB of mail, {wall:.2} s wall, {:.0} messages/s, {cpu:.2} s CPU ({:.0} µs per message), peak RSS {:.1} MB, database {:.0} MB",
            bytes as f64 / 1e6,
            n as f64 / wall,
            cpu * 1e6 / n as f64,
            rss_kb as f64 / 1024.0,
            db as f64 / 1e6
        );
        println!("  {}", summary.trim_start_matches("mailroom: "));
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
