//! Helpers for the reliability tests: generated messages, database
//! fingerprints, mounts that fake faults, peak memory of a child.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the tests run as root, where file permissions do not bite.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A plain support request with its own Message-ID and sender.
pub fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Customer {n} <customer{n}@client.example>\r\n\
         To: crm+case@example.com\r\n\
         Subject: Request number {n}\r\n\
         Message-ID: <request-{n}@client.example>\r\n\
         Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n\
         \r\n\
         Please help with request {n}.\r\n"
    )
    .into_bytes()
}

/// A support request carrying `count` attachments of `size` bytes each
/// (base64), so that filing it takes long enough to be interrupted.
pub fn message_with_attachments(n: usize, count: usize, size: usize) -> Vec<u8> {
    let mut out = format!(
        "From: Customer {n} <customer{n}@client.example>\r\n\
         To: crm+case@example.com\r\n\
         Subject: Request with files {n}\r\n\
         Message-ID: <files-{n}@client.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\
         \r\n\
         --b0undary\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         See the attached files.\r\n"
    );
    let mut seed = n as u64 + 1;
    for i in 0..count {
        out.push_str(&format!(
            "--b0undary\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"file-{i}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                seed = xorshift(seed);
                seed as u8
            })
            .collect();
        out.push_str(&base64(&bytes));
    }
    out.push_str("--b0undary--\r\n");
    out.into_bytes()
}

pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Base64 on one line (for encoded-word headers).
pub fn base64_line(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for j in 0..4 {
            out.push(if j <= chunk.len() {
                A[((n >> (18 - 6 * j)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Base64 for a MIME body: 76-character lines, each ending in CRLF.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(57) {
        out.push_str(&base64_line(chunk));
        out.push_str("\r\n");
    }
    out
}

/// What a database holds, table by table, plus its integrity check and
/// the number of mails half-filed: result never written or raw bytes
/// missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub integrity: String,
    pub emails: i64,
    pub records: i64,
    pub email_links: i64,
    pub record_links: i64,
    pub attachments: i64,
    /// Raw-message rows past each message's first chunk.
    pub chunks: i64,
    pub without_result: i64,
}

impl Fingerprint {
    pub fn of(db: &Path) -> Fingerprint {
        if !db.exists() {
            return Fingerprint::empty();
        }
        let conn = rusqlite::Connection::open(db).expect("open db");
        let has_schema: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'emails'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity");
        if has_schema == 0 {
            return Fingerprint {
                integrity,
                ..Fingerprint::empty()
            };
        }
        let count = |sql: &str| -> i64 {
            conn.query_row(sql, [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        };
        Fingerprint {
            integrity,
            emails: count("SELECT count(*) FROM emails"),
            records: count("SELECT count(*) FROM records"),
            email_links: count("SELECT count(*) FROM email_links"),
            record_links: count("SELECT count(*) FROM record_links"),
            attachments: count("SELECT count(*) FROM attachments"),
            chunks: count("SELECT count(*) FROM message_chunks"),
            without_result: count(
                "SELECT count(*) FROM emails e WHERE e.result = '{}'
                 OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.email_id = e.id)",
            ),
        }
    }

    pub fn empty() -> Fingerprint {
        Fingerprint {
            integrity: "ok".into(),
            emails: 0,
            records: 0,
            email_links: 0,
            record_links: 0,
            attachments: 0,
            chunks: 0,
            without_result: 0,
        }
    }
}

/// A mount made for one test, undone when dropped (also on a failed
/// assertion).
pub struct Mount {
    pub target: PathBuf,
}

impl Mount {
    /// A tmpfs of `size` bytes at `target`, or why it cannot be made.
    pub fn tmpfs(target: &Path, size: u64) -> Result<Mount, String> {
        std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
        sh(&format!(
            "mount -t tmpfs -o size={size} mailroom-test '{}'",
            target.display()
        ))?;
        Ok(Mount {
            target: target.to_path_buf(),
        })
    }

    /// `target` (a file or a directory) bound read-only onto itself.
    pub fn read_only(target: &Path) -> Result<Mount, String> {
        let t = target.display();
        sh(&format!("mount --bind '{t}' '{t}'"))?;
        let mount = Mount {
            target: target.to_path_buf(),
        };
        sh(&format!("mount -o remount,ro,bind '{t}'"))?;
        Ok(mount)
    }

    pub fn resize(&self, size: u64) -> Result<(), String> {
        sh(&format!(
            "mount -o remount,size={size} '{}'",
            self.target.display()
        ))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let t = self.target.display();
        if sh(&format!("umount '{t}'")).is_err() {
            let _ = sh(&format!("umount -l '{t}'"));
        }
    }
}

fn sh(script: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{script}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Says loudly that a fault could not be produced here, so a pass is not
/// mistaken for a proof.
pub fn cannot_test(what: &str, why: &str) {
    println!("NOT TESTED here: {what}: {why}");
    eprintln!("NOT TESTED here: {what}: {why}");
}

/// Runs `cmd` with `input` as its stdin under GNU time and returns its
/// run and its peak resident memory in bytes; `None` for the memory when
/// `/usr/bin/time` is missing (`.ci/run` installs it).
///
/// Not wait4 on our own child: std spawns with vfork, so the child's peak
/// would include this test process's memory at the time of the spawn.
pub fn run_measuring_memory(
    cmd: Command,
    input: &Path,
    scratch: &Path,
) -> (crate::common::Run, Option<u64>) {
    use std::process::Stdio;
    let time = Path::new("/usr/bin/time");
    let rss = scratch.join("measured.rss");
    let _ = std::fs::remove_file(&rss);
    let mut measured = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg(cmd.get_program());
        c
    } else {
        Command::new(cmd.get_program())
    };
    measured.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => measured.env(k, v),
            None => measured.env_remove(k),
        };
    }
    let out = measured
        .stdin(Stdio::from(std::fs::File::open(input).expect("input")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    let run = crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // GNU time reports kilobytes; a signal death adds a line before it.
    let peak = std::fs::read_to_string(&rss).ok().and_then(|s| {
        s.lines()
            .last()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    (run, peak)
}
