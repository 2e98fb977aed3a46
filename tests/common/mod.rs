//! Runs the real `mailroom` binary in a temporary directory.
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

/// Every message file in the shared corpus (MANIFEST files excluded).
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
