//! What the integration tests share: the real `mailroom` binary run in a
//! temporary directory, fixtures and the shared corpus, generated
//! messages, database fingerprints, mounts that fake faults, peak memory
//! of a child, and [`not_tested`] for checks this machine cannot make.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mailroom::report::Report;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: Option<PathBuf>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The single JSON result on stdout, checked against the schema.
    pub fn report(&self) -> Report {
        let line = self.stdout.lines().next().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "bad JSON result ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn reports(&self) -> Vec<Report> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.stdout))
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON ({e}): {l}")))
            .collect()
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = root().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn fixture_path(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// The shared corpus of real messages, beside the project.
pub fn corpus_dir() -> PathBuf {
    root().join("../shared/corpus")
}

/// Every message file in the shared corpus (MANIFEST files excluded);
/// fails when the corpus is missing, since every test that reads it would
/// otherwise check nothing.
pub fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST"))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus_dir(), &mut out);
    assert!(
        out.len() > 200,
        "the shared corpus is missing or incomplete at {} ({} files)",
        corpus_dir().display(),
        out.len()
    );
    out
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("crm.db");
        Env {
            dir,
            db,
            config: None,
        }
    }

    /// An environment whose config is `yaml`.
    pub fn with_config(yaml: &str) -> Env {
        let mut env = Env::new();
        let path = env.dir.path().join("rules.yaml");
        std::fs::write(&path, yaml).expect("write config");
        env.config = Some(path);
        env
    }

    pub fn with_example_config() -> Env {
        let mut env = Env::new();
        env.config = Some(root().join("rules.example.yaml"));
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        cmd.args(args)
            .env_remove("MAILROOM_CONFIG")
            .env("MAILROOM_DB", &self.db)
            .env("MAILROOM_NOW", "2026-11-27T10:00:00Z")
            .env("HOME", self.dir.path())
            .env_remove("XDG_DATA_HOME");
        if let Some(c) = &self.config {
            cmd.env("MAILROOM_CONFIG", c);
        }
        cmd
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        run(self.command(args), stdin)
    }

    /// `mailroom process` with the message on stdin.
    pub fn process(&self, raw: &[u8]) -> Run {
        self.run(&["process"], raw)
    }

    pub fn process_to(&self, recipient: &str, raw: &[u8]) -> Run {
        self.run(&["process", "--recipient", recipient], raw)
    }

    /// Processes and insists on exit 0, returning the report.
    pub fn file(&self, raw: &[u8]) -> Report {
        let r = self.process(raw);
        assert_eq!(r.code, 0, "stderr: {}", r.stderr);
        r.report()
    }

    pub fn add(&self, module: &str, fields: &[&str]) -> i64 {
        let mut args = vec!["records", "add", module];
        args.extend_from_slice(fields);
        let r = self.run(&args, b"");
        assert_eq!(r.code, 0, "stderr: {}", r.stderr);
        r.json()["id"].as_i64().expect("id")
    }

    pub fn record(&self, id: i64) -> serde_json::Value {
        let r = self.run(&["records", "show", &id.to_string(), "--json"], b"");
        assert_eq!(r.code, 0, "stderr: {}", r.stderr);
        r.json()
    }

    pub fn records(&self, module: &str) -> Vec<serde_json::Value> {
        let r = self.run(&["records", "list", module, "--json"], b"");
        assert_eq!(r.code, 0, "stderr: {}", r.stderr);
        r.json_lines()
    }

    /// A SQL query's single integer answer, read straight from the file.
    pub fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db).expect("open db");
        conn.query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

pub fn run(mut cmd: Command, stdin: &[u8]) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mailroom");
    if let Some(mut input) = child.stdin.take() {
        // The program may stop reading early (size limit); that is fine.
        let _ = input.write_all(stdin);
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Corpus messages fit for a Maildir: every file that is not empty, read
/// once, in corpus order.
pub fn corpus_messages() -> Vec<Vec<u8>> {
    corpus_files()
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|raw| !raw.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// `raw` with its Message-ID header replaced by `<id>` (or one added at
/// the top when it has none), so copies of one message are distinct mail.
pub fn with_message_id(raw: &[u8], id: &str) -> Vec<u8> {
    let eol: &[u8] = if raw.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let header_end = raw
        .windows(2 * eol.len())
        .position(|w| w[..eol.len()] == *eol && w[eol.len()..] == *eol)
        .map_or(raw.len(), |p| p + eol.len());
    let mut out = Vec::with_capacity(raw.len() + id.len() + 16);
    out.extend_from_slice(b"Message-ID: <");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b">");
    out.extend_from_slice(eol);
    let mut lines = raw[..header_end]
        .split_inclusive(|&b| b == b'\n')
        .peekable();
    while let Some(line) = lines.next() {
        // Obsolete syntax allows space before the colon (`Message-ID  :`).
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if name.len() < line.len() && name.trim_ascii().eq_ignore_ascii_case(b"message-id") {
            // Drop it and its folded continuation lines.
            while lines
                .peek()
                .is_some_and(|l| l.first().is_some_and(|b| *b == b' ' || *b == b'\t'))
            {
                lines.next();
            }
            continue;
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&raw[header_end..]);
    out
}

/// Creates an empty Maildir (`new/`, `cur/`, `tmp/`) at `dir`.
pub fn make_maildir(dir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create maildir");
    }
}

/// Delivers `n` messages into `dir/new/`, cycling through `messages`, each
/// with a unique Message-ID `<i.maildir@test.example>`; returns the file
/// names in delivery order (one second apart, from 1700000000).
pub fn fill_maildir(dir: &Path, messages: &[Vec<u8>], n: usize) -> Vec<String> {
    make_maildir(dir);
    (0..n)
        .map(|i| {
            let raw = &messages[i % messages.len()];
            let name = format!("{}.M{i}P1.test", 1_700_000_000 + i);
            let body = with_message_id(raw, &format!("{i}.maildir@test.example"));
            std::fs::write(dir.join("new").join(&name), body).expect("deliver");
            name
        })
        .collect()
}

/// File names in `dir/sub/`, sorted.
pub fn names_in(dir: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

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

/// A check this machine cannot make (no mount, no strace, a program
/// missing): under CI, which installs and allows everything the tests
/// need, that is a failure; elsewhere it says NOT TESTED loudly, so a pass
/// is not mistaken for a proof.
pub fn not_tested(what: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "NOT TESTED under CI: {what}: {why}"
    );
    println!("NOT TESTED here: {what}: {why}");
    eprintln!("NOT TESTED here: {what}: {why}");
}

/// Runs `cmd` with `input` as its stdin under GNU time and returns its
/// run and its peak resident memory in bytes; `None` for the memory when
/// `/usr/bin/time` is missing (`.ci/run` installs it).
///
/// Not wait4 on our own child: std spawns with vfork, so the child's peak
/// would include this test process's memory at the time of the spawn.
pub fn run_measuring_memory(cmd: Command, input: &Path, scratch: &Path) -> (Run, Option<u64>) {
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
    let run = Run {
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
