//! What the integration tests share: the real `mailroom` binary run in a
//! temporary directory, fixtures and the shared corpus, generated
//! messages, what a store holds, mounts that fake faults, peak memory of
//! a child, and [`not_tested`] for checks this machine cannot make.
//!
//! # The store under test
//!
//! Where the database lives is decided in one place, [`Env::new`]: the
//! location in [`Env::db`], which every command gets as `MAILROOM_DB`.
//! Tests read what was filed only through the CLI's JSON (`emails list`,
//! `emails show`, `records list`, `records show`, the result `process`
//! prints) or through [`Env::read`], which opens that same location with
//! the library's store API (`mailroom::store::open_read_only`, then the
//! `Reader` trait), and the helpers built on it ([`Env::emails`],
//! [`Env::snapshot`]). Nothing store-neutral reads the database with SQL.
//!
//! The store is SQLite, a file in the test's temporary directory, unless
//! `MAILROOM_TEST_STORE=postgres`: then every [`Env`] gets a fresh schema
//! of its own on the PostgreSQL server at `MAILROOM_TEST_POSTGRES` (a URL
//! whose role may create schemas), dropped when the test ends, and
//! [`Env::db`] is that schema's URL. `.ci/run` runs the suite both ways.
//!
//! The exceptions are the tests about SQLite itself (durability, the
//! WAL, locking, the chunk layout, `integrity_check`, foreign keys, a
//! write lock held by a second connection, edits of the file behind
//! mailroom's back, faults of the file's directory or disk, which point
//! `Env::db` elsewhere): they make their `Env` with [`Env::on_sqlite`],
//! use [`sqlite`] against the file at [`Env::db`], say so in a comment,
//! and are SQLite's alone (they run on SQLite in both runs). Tests of
//! PostgreSQL itself take their server from [`postgres_server`].
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mailroom::report::Report;
use mailroom::store::{EmailFilter, EmailRow, Reader, RecordFilter};

/// Every mail, in the order it was filed.
const OLDEST_FIRST: EmailFilter = EmailFilter {
    statuses: Vec::new(),
    rule: None,
    class: None,
    since: None,
    until: None,
    from: None,
    limit: None,
    verification: false,
    oldest_first: true,
};

pub struct Env {
    pub dir: tempfile::TempDir,
    /// Where the store lives (see the module doc): every command's
    /// `MAILROOM_DB`, and what [`Env::read`] opens: a file, or a
    /// `postgres://` URL. A test about SQLite files (a read-only
    /// directory, a small disk) may point it elsewhere.
    pub db: PathBuf,
    pub config: Option<PathBuf>,
    /// The PostgreSQL schema the store lives in, dropped with the `Env`.
    pub schema: Option<Schema>,
}

/// The PostgreSQL server tests may use: `MAILROOM_TEST_POSTGRES`, or
/// `None` (said NOT TESTED, a failure under CI) when it is not set.
pub fn postgres_server() -> Option<String> {
    let server = std::env::var("MAILROOM_TEST_POSTGRES").ok();
    if server.is_none() {
        not_tested(
            "PostgreSQL",
            "MAILROOM_TEST_POSTGRES is not set (.ci/run starts a server and sets it)",
        );
    }
    server
}

/// Whether this run of the suite files into PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("MAILROOM_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// A schema of its own on a PostgreSQL server, dropped (with everything
/// in it) when this is dropped.
pub struct Schema {
    pub server: String,
    pub name: String,
    /// The URL that files into this schema (`search_path`).
    pub url: String,
}

impl Schema {
    pub fn new(server: &str) -> Schema {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        pg_admin(server)
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .unwrap_or_else(|e| panic!("create schema {name} on {server}: {e}"));
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-csearch_path%3D{name}");
        Schema {
            server: server.to_string(),
            name,
            url,
        }
    }

    /// A plain connection to the schema, for what only PostgreSQL has.
    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// What `pg_dump` writes of the schema, as anyone with a backup would
    /// get it, followed by each `bytea` value it wrote in hex, decoded (a
    /// raw message is a `bytea`).
    pub fn dump(&self) -> Vec<u8> {
        let out = std::process::Command::new("pg_dump")
            .arg(format!("--dbname={}", self.server))
            .args(["--schema", &self.name])
            .output()
            .expect("pg_dump (apt-get install postgresql-client)");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut bytes = out.stdout.clone();
        for value in out
            .stdout
            .split(|&b| b == b'\\')
            .filter_map(|s| s.strip_prefix(b"x"))
        {
            let hex: Vec<u8> = value
                .iter()
                .copied()
                .take_while(u8::is_ascii_hexdigit)
                .collect();
            for pair in hex.chunks_exact(2) {
                let text = std::str::from_utf8(pair).expect("ascii");
                bytes.push(u8::from_str_radix(text, 16).expect("hex"));
            }
        }
        bytes
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// A connection to the server as the test role.
pub fn pg_admin(server: &str) -> postgres::Client {
    postgres::Client::connect(server, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {server}: {e}"))
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
    /// A store of the kind this run of the suite tests (see the module
    /// doc).
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = Env {
            db: dir.path().join("crm.db"),
            dir,
            config: None,
            schema: None,
        };
        if on_postgres() {
            let server = std::env::var("MAILROOM_TEST_POSTGRES")
                .expect("MAILROOM_TEST_STORE=postgres needs MAILROOM_TEST_POSTGRES");
            let schema = Schema::new(&server);
            env.db = PathBuf::from(&schema.url);
            env.schema = Some(schema);
        }
        env
    }

    /// An environment filing into a fresh schema on `server`, whatever
    /// this run of the suite tests: for the tests of PostgreSQL itself.
    pub fn in_schema(server: &str) -> Env {
        let mut env = Env::new().on_sqlite();
        let schema = Schema::new(server);
        env.db = PathBuf::from(&schema.url);
        env.schema = Some(schema);
        env
    }

    /// The same environment on a SQLite file, for the tests about SQLite
    /// itself.
    pub fn on_sqlite(mut self) -> Env {
        self.db = self.dir.path().join("crm.db");
        self.schema = None;
        self
    }

    /// The sizes of mail `id`'s rows in `message_chunks`, by `seq`, which
    /// must run 0, 1, 2, ... with no gap. The chunk layout is the same in
    /// both stores; no store API shows it.
    pub fn chunk_sizes(&self, id: i64) -> Vec<usize> {
        let rows: Vec<(i64, i64)> = match &self.schema {
            Some(schema) => schema
                .connect()
                .query(
                    "SELECT seq::int8, length(raw)::int8 FROM message_chunks WHERE email_id = $1 ORDER BY seq",
                    &[&id],
                )
                .expect("chunks")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            None => {
                let conn = sqlite::connect(&self.db);
                let mut stmt = conn
                    .prepare("SELECT seq, length(raw) FROM message_chunks WHERE email_id = ?1 ORDER BY seq")
                    .expect("prepare");
                stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .expect("chunks")
                    .collect::<Result<_, _>>()
                    .expect("chunk")
            }
        };
        for (want, (seq, _)) in (0_i64..).zip(&rows) {
            assert_eq!(*seq, want, "mail {id}: chunks {rows:?}");
        }
        rows.into_iter()
            .map(|(_, n)| usize::try_from(n).expect("a length"))
            .collect()
    }

    /// Replaces mail `id`'s raw message with `raw` (one chunk), as a hand
    /// edit, or a later parser reading the bytes differently, would: with
    /// SQL, since no store API rewrites a stored mail.
    pub fn replace_raw(&self, id: i64, raw: &[u8]) {
        const DELETE: &str = "DELETE FROM message_chunks WHERE email_id = $1";
        const INSERT: &str = "INSERT INTO message_chunks (email_id, seq, raw) VALUES ($1, 0, $2)";
        match &self.schema {
            Some(schema) => {
                let mut client = schema.connect();
                let mut tx = client.transaction().expect("begin");
                tx.execute(DELETE, &[&id]).expect("delete chunks");
                tx.execute(INSERT, &[&id, &raw]).expect("insert chunk");
                tx.commit().expect("commit");
            }
            None => {
                let mut conn = sqlite::connect(&self.db);
                let tx = conn.transaction().expect("begin");
                tx.execute(DELETE, [id]).expect("delete chunks");
                tx.execute(INSERT, rusqlite::params![id, raw])
                    .expect("insert chunk");
                tx.commit().expect("commit");
            }
        }
    }

    /// Makes the store refuse to file the mail with this Message-ID (a
    /// trigger: no store API refuses a mail), as a full disk or a broken
    /// row would for that one message.
    pub fn refuse_mail(&self, message_id: &str) {
        match &self.schema {
            Some(schema) => schema
                .connect()
                .batch_execute(&format!(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN RAISE EXCEPTION 'refused by test'; END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON emails FOR EACH ROW
                     WHEN (NEW.message_id = '{message_id}') EXECUTE FUNCTION refuse();"
                ))
                .expect("trigger"),
            None => sqlite::connect(&self.db)
                .execute_batch(&format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON emails WHEN NEW.message_id = '{message_id}'
                     BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
                ))
                .expect("trigger"),
        }
    }

    /// A second working directory (another mail server: its own home and
    /// config) filing into the same store.
    pub fn second_host(&self) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = self.config.as_ref().map(|c| {
            let copy = dir.path().join("rules.yaml");
            std::fs::copy(c, &copy).expect("copy config");
            copy
        });
        Env {
            dir,
            db: self.db.clone(),
            config,
            schema: None,
        }
    }

    /// The store's location as the library takes it.
    pub fn location(&self) -> mailroom::store::Location {
        mailroom::store::Location::parse(self.db.as_os_str())
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
            .env("MAILROOM_SYSCONFDIR", self.dir.path().join("etc"))
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME");
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

    /// `f` over the store at [`Env::db`], opened read-only through the
    /// library's store API; a store not made yet reads as empty.
    pub fn read<T>(&self, f: impl FnOnce(&dyn Reader) -> T) -> T {
        let store = mailroom::store::open_read_only(&self.location())
            .unwrap_or_else(|e| panic!("open the store at {}: {e}", self.db.display()));
        f(&*store.reader())
    }

    /// Every mail stored, oldest first.
    pub fn emails(&self) -> Vec<EmailRow> {
        self.read(|r| r.emails(&OLDEST_FIRST).expect("emails"))
    }

    pub fn snapshot(&self) -> Snapshot {
        self.read(Snapshot::of)
    }
}

/// Runs `mailroom ARGS` on a pseudo-terminal (so it prints its human
/// tables, 80 columns wide), or `None` when `script` is missing.
pub fn on_a_terminal(env: &Env, args: &str) -> Option<Run> {
    if !Path::new("/usr/bin/script").exists() {
        not_tested(
            "tables on a terminal",
            "`script` (util-linux) is not installed",
        );
        return None;
    }
    let plain = env.command(&[]);
    let mut cmd = Command::new("/usr/bin/script");
    cmd.arg("-qec")
        .arg(format!("'{}' {args}", env!("CARGO_BIN_EXE_mailroom")))
        .arg("/dev/null");
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    Some(run(cmd, b""))
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

/// What a store holds, counted through the store API: enough to tell an
/// untouched store, a whole message and a half-filed one apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub emails: usize,
    pub records: usize,
    /// Mail ↔ record links.
    pub links: usize,
    /// Record ↔ record relations.
    pub relations: usize,
    pub attachments: usize,
    /// Bytes of raw message, all mails together.
    pub raw_bytes: usize,
    /// Mails half-filed: raw bytes missing or no result written.
    pub half_filed: usize,
}

impl Snapshot {
    pub fn of(r: &dyn Reader) -> Snapshot {
        let emails = r.emails(&OLDEST_FIRST).expect("emails");
        let records = r.records(&RecordFilter::default()).expect("records");
        let mut snapshot = Snapshot {
            emails: emails.len(),
            records: records.len(),
            ..Snapshot::default()
        };
        for e in &emails {
            snapshot.links += r.links_of(e.id).expect("links").len();
            snapshot.attachments += r.attachments(e.id).expect("attachments").len();
            let raw = r.raw(e.id).expect("raw");
            let result = r.email(e.id).expect("email").map(|d| d.result_json);
            let filed = result.is_some_and(|j| serde_json::from_str::<Report>(&j).is_ok());
            if raw.is_none() || !filed {
                snapshot.half_filed += 1;
            }
            snapshot.raw_bytes += raw.map_or(0, |b| b.len());
        }
        // Each relation is seen from both of its records.
        let mut relations = std::collections::BTreeSet::new();
        for rec in &records {
            for (kind, other) in r.relations_of(rec.id).expect("relations") {
                relations.insert((rec.id.min(other.id), rec.id.max(other.id), kind));
            }
        }
        snapshot.relations = relations.len();
        snapshot
    }
}

/// SQLite itself: what only that backend has (its integrity check,
/// pragmas, the chunk layout, a second connection holding the write lock)
/// and edits of the file behind mailroom's back, which no store API
/// offers. Store-neutral reads go through [`Env::read`]; every caller of
/// these says why it needs SQLite.
pub mod sqlite {
    use std::path::Path;

    /// A plain connection to the database file at `db`.
    pub fn connect(db: &Path) -> rusqlite::Connection {
        rusqlite::Connection::open(db).unwrap_or_else(|e| panic!("open {}: {e}", db.display()))
    }

    /// `PRAGMA integrity_check`: `ok`, or what is damaged. A file that
    /// was never made is intact.
    pub fn integrity_check(db: &Path) -> String {
        if !db.exists() {
            return "ok".into();
        }
        connect(db)
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check")
    }

    /// What the `sqlite3` program dumps of the database, as anyone who can
    /// read the file would get it; empty (said NOT TESTED) without it.
    pub fn dump(db: &Path) -> String {
        let Ok(out) = std::process::Command::new("sqlite3")
            .arg(db)
            .arg(".dump")
            .output()
        else {
            super::not_tested(
                "sqlite3 .dump",
                "sqlite3 is not installed (apt-get install sqlite3)",
            );
            return String::new();
        };
        assert!(
            out.status.success(),
            "sqlite3 .dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
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
