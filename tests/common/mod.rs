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
