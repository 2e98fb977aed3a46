//! The SQLite store: the only module that touches rusqlite and the only
//! writer.
//!
//! # Schema
//!
//! - `emails`: every message received, with its dedupe key (Message-ID, or
//!   `sha256:<hex>` of the raw bytes when it has none), status and the JSON
//!   result printed for it (its headers and text body are parsed again
//!   from the raw message when shown: [`DERIVED_HEADERS`]); `messages`
//!   holds each one's raw bytes (the first [`CHUNK_BYTES`], the rest in
//!   `message_chunks`).

//! - `records`: CRM records of every module in one table, so ids are global
//!   across modules; `number` is `<prefix><n>` counted per module; `fields`
//!   is a JSON object of free fields.
//! - `email_links` (mail ↔ record) and `record_links` (record → record with
//!   a kind: `contact`, `related`, or a body-rule lookup field).
//! - `attachments`: attachment metadata per mail, with the SHA-256 of the
//!   content. The content is not copied: it stays in the raw message and
//!   is decoded from there on export. `contents` holds the copies that
//!   mailroom before schema 7 made, still read for those mails.
//!
//! # Locking
//!
//! WAL mode, `busy_timeout` of 30 s (`MAILROOM_BUSY_TIMEOUT_MS` overrides
//! it, for tests and impatient operators), and every write in `BEGIN IMMEDIATE`:
//! a deferred transaction that upgrades to a writer fails at once under
//! concurrent deliveries instead of waiting. Routing runs inside the same
//! transaction, so two deliveries of one sender cannot both create it.
//!
//! # Durability
//!
//! `synchronous = FULL`: a commit is on disk before `process` exits 0.
//!
//! # Compatibility
//!
//! Migrations are append-only and tracked by `PRAGMA user_version`; a
//! database newer than this program is refused rather than misread.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::config::DbConfig;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use sha2::{Digest, Sha256};

use crate::message::Attachment;
use crate::plan::{Op, Plan, Target};
use crate::route::{Lookup, RecordInfo};

const MIGRATIONS: &[&str] = &[
    // 1: mails, records and their links.
    "CREATE TABLE emails (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        message_id TEXT,
        sha256 TEXT NOT NULL,
        received_at TEXT NOT NULL,
        sender TEXT,
        subject TEXT,
        date TEXT,
        status TEXT NOT NULL,
        rule TEXT,
        action TEXT,
        class TEXT,
        confidential INTEGER NOT NULL DEFAULT 0,
        envelope_recipient TEXT,
        headers TEXT NOT NULL DEFAULT '[]',
        text_body TEXT,
        raw BLOB NOT NULL,
        result TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX emails_message_id ON emails(message_id);
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        module TEXT NOT NULL,
        number TEXT,
        email TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        fields TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_activity TEXT
    );
    CREATE INDEX records_email ON records(email);
    CREATE UNIQUE INDEX records_number ON records(module, number);
    CREATE TABLE sequences (module TEXT PRIMARY KEY, last INTEGER NOT NULL);
    CREATE TABLE email_links (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        record_id INTEGER NOT NULL REFERENCES records(id),
        op TEXT NOT NULL,
        PRIMARY KEY (email_id, record_id)
    ) WITHOUT ROWID;
    CREATE INDEX email_links_record ON email_links(record_id);
    CREATE TABLE record_links (
        from_id INTEGER NOT NULL REFERENCES records(id),
        to_id INTEGER NOT NULL REFERENCES records(id),
        kind TEXT NOT NULL,
        PRIMARY KEY (from_id, to_id, kind)
    ) WITHOUT ROWID;
    CREATE INDEX record_links_to ON record_links(to_id);",
    // 2: attachments, content stored once.
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, content BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE attachments (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        position INTEGER NOT NULL,
        name TEXT,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT REFERENCES blobs(sha256),
        stored INTEGER NOT NULL,
        reason TEXT,
        PRIMARY KEY (email_id, position)
    ) WITHOUT ROWID;",
    // 3: what bounces and forwarding confirmations said (JSON).
    "ALTER TABLE emails ADD COLUMN bounce TEXT;
    ALTER TABLE emails ADD COLUMN verification TEXT;",
    // 4: raw messages in their own table, the blob its last column, so a
    // large message is written in place instead of copied twice in memory.
    // `emails.raw` stays for older rows' sake and is empty from now on.
    "CREATE TABLE messages (
        email_id INTEGER PRIMARY KEY REFERENCES emails(id),
        raw BLOB NOT NULL
    );
    INSERT INTO messages (email_id, raw) SELECT id, raw FROM emails;
    UPDATE emails SET raw = x'';",
    // 5: attachment content in a rowid table, written in place like the
    // raw messages (blobs of a WITHOUT ROWID table cannot be).
    "CREATE TABLE contents (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        content BLOB NOT NULL
    );
    INSERT INTO contents (sha256, content) SELECT sha256, content FROM blobs;
    CREATE TABLE attachments_v5 (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        position INTEGER NOT NULL,
        name TEXT,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT REFERENCES contents(sha256),
        stored INTEGER NOT NULL,
        reason TEXT,
        PRIMARY KEY (email_id, position)
    ) WITHOUT ROWID;
    INSERT INTO attachments_v5 SELECT email_id, position, name, content_type, size, sha256, stored, reason FROM attachments;
    DROP TABLE attachments;
    DROP TABLE blobs;
    ALTER TABLE attachments_v5 RENAME TO attachments;",
    // 6: the oldest record of a module for an address, found by one index
    // seek (`Lookup::oldest_by_email`) rather than by reading every record
    // with the address: a customer's hundredth case cost a hundred rows.
    // The new index also serves every lookup by address alone.
    "CREATE INDEX records_email_module ON records(email, module);
    DROP INDEX records_email;",
    // 7: a large raw message continues in rows of CHUNK_BYTES, so each of
    // its pages is written to the WAL once; older rows, whole in one blob,
    // are read as before. Attachment content is no longer copied out of
    // the raw message, so `attachments.sha256` no longer refers to
    // `contents` (which keeps the copies made before).
    "CREATE TABLE message_chunks (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        seq INTEGER NOT NULL,
        raw BLOB NOT NULL,
        PRIMARY KEY (email_id, seq)
    );
    CREATE TABLE attachments_v7 (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        position INTEGER NOT NULL,
        name TEXT,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT,
        stored INTEGER NOT NULL,
        reason TEXT,
        PRIMARY KEY (email_id, position)
    ) WITHOUT ROWID;
    INSERT INTO attachments_v7 SELECT email_id, position, name, content_type, size, sha256, stored, reason FROM attachments;
    DROP TABLE attachments;
    ALTER TABLE attachments_v7 RENAME TO attachments;",
];

/// A raw message is stored in rows of at most this many bytes: the first
/// in `messages`, the rest in `message_chunks`. Each chunk is bound, so
/// SQLite holds two copies of one chunk (512 KB), never of the whole
/// message, and each page is written to the WAL once. One blob written in
/// place (a zero-filled placeholder, then incremental blob I/O) wrote
/// every page twice once the 512 KB page cache spilled the placeholder.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Past this size the WAL is copied into the database and truncated
/// ([`Store::housekeeping`]). Every process that opens the database alone
/// (each piped delivery) first rebuilds the WAL index by reading the WAL,
/// so a WAL that only grew would slow every delivery.
pub const WAL_SIZE_LIMIT: u64 = 1 << 20;

pub struct Store {
    conn: Connection,
    /// The WAL file beside the database; `None` for a read-only or
    /// in-memory connection, which has no WAL to look after.
    wal: Option<std::path::PathBuf>,
}

/// A write transaction (`BEGIN IMMEDIATE`). Dropped without
/// [`Tx::commit`], everything in it is rolled back.
pub struct Tx<'s> {
    tx: Transaction<'s>,
}

/// A record created or touched by applying a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub op: Op,
}

/// One mail row as `insert_email` needs it.
pub struct NewEmail<'a> {
    pub dedupe_key: &'a str,
    pub message_id: Option<&'a str>,
    pub sha256: &'a str,
    pub received_at: &'a str,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub date: Option<&'a str>,
    pub status: &'a str,
    pub rule: Option<&'a str>,
    pub action: Option<&'a str>,
    pub class: Option<&'a str>,
    pub confidential: bool,
    pub envelope_recipient: Option<&'a str>,
    pub raw: &'a [u8],
}

/// An attachment as stored: `stored` false when it was over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub stored: bool,
    pub reason: Option<String>,
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// How long a writer waits for another one: 30 s, or
/// `MAILROOM_BUSY_TIMEOUT_MS` when set to a number (an unusable value is
/// ignored rather than turned into a failure that would bounce mail).
fn busy_timeout() -> Duration {
    std::env::var("MAILROOM_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create database directory `{}`", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database `{}`", path.display()))?;
        let mut store = Store {
            conn,
            wal: Some(wal_path(path)),
        };
        store
            .setup()
            .with_context(|| format!("cannot use database `{}`", path.display()))?;
        Ok(store)
    }

    fn setup(&mut self) -> Result<()> {
        self.conn.busy_timeout(busy_timeout())?;
        let mode = self.switch_to_wal()?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("cannot switch to WAL mode (got `{mode}`)");
        }
        self.conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        // No checkpoint when a short-lived process closes the database: it
        // would cost every piped message a second sync. The WAL is kept
        // short by `housekeeping` instead.
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        // A 512 KB page cache (SQLite's default is 2 MB): a big message's
        // pages spill to the WAL instead of all staying in memory until
        // the commit, which keeps a delivery's peak memory near 4x the
        // message (tests measure it).
        self.conn.execute_batch("PRAGMA cache_size = -512;")?;
        self.migrate()
    }

    /// Sets WAL mode, once per database file (a WAL database stays one).
    /// On a new file the switch takes a read lock and then upgrades it to
    /// a write lock; SQLite refuses that upgrade at once, without the busy
    /// wait, when another connection is doing the same, since waiting
    /// could deadlock. So when several deliveries create the database
    /// together, the losers wait here and try again until the busy timeout
    /// runs out, by then seeing the winner's WAL database.
    fn switch_to_wal(&self) -> Result<String> {
        let deadline = std::time::Instant::now() + busy_timeout();
        let mut pause = Duration::from_millis(1);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return Ok(other?),
            }
        }
    }

    fn version(&self) -> Result<usize> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    fn migrate(&mut self) -> Result<()> {
        if self.version()? == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            bail!(
                "the database has schema version {current}, newer than this mailroom ({}); upgrade mailroom",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.execute_batch(sql)
                .with_context(|| format!("migration {} failed", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Opens an existing database without writing to it; a missing one is
    /// an empty database in memory (`explain` and `--dry-run` write nothing).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            let mut store = Store {
                conn: Connection::open_in_memory()?,
                wal: None,
            };
            store.migrate()?;
            return Ok(store);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open database `{}`", path.display()))?;
        conn.busy_timeout(busy_timeout())?;
        let store = Store { conn, wal: None };
        if store.version()? != MIGRATIONS.len() {
            bail!(
                "database `{}` has schema version {}, this mailroom needs {}; run any writing command once to upgrade it",
                path.display(),
                store.version()?,
                MIGRATIONS.len()
            );
        }
        Ok(store)
    }

    /// Keeps the WAL short for the next process: past [`WAL_SIZE_LIMIT`]
    /// it is copied into the database and truncated. Waits briefly for
    /// readers and writers; if they hold on, a later delivery does it.
    pub fn housekeeping(&self) -> Result<()> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        if std::fs::metadata(wal).map_or(0, |m| m.len()) <= WAL_SIZE_LIMIT {
            return Ok(());
        }
        self.conn.busy_timeout(Duration::from_millis(200))?;
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        self.conn.busy_timeout(busy_timeout())?;
        done.context("checkpoint failed")
    }

    /// Sizes the page cache for group commit: a batch of a few MB of mail
    /// that fits in the cache is written to the WAL once, at commit,
    /// instead of spilling pages in the middle of the transaction.
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -i64::from(kib))
            .context("cannot set the cache size")
    }

    /// Sets how many WAL pages trigger a checkpoint at commit (SQLite's
    /// default is 1000); 0 leaves checkpoints to [`Store::checkpoint`] on
    /// another connection.
    pub fn set_auto_checkpoint(&self, pages: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", pages)
            .context("cannot set the automatic checkpoint")
    }

    /// Copies committed WAL pages into the database file without waiting
    /// for, or blocking, a writer on another connection (PASSIVE).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .context("checkpoint failed")
    }

    /// Starts a write transaction, waiting up to the busy timeout.
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("cannot start a write transaction")?;
        Ok(Tx { tx })
    }

    /// Read-only access for routing without writing (`--dry-run`).
    pub fn reader(&self) -> Reader<'_> {
        Reader(&self.conn)
    }
}

/// Read queries over any connection or transaction.
pub struct Reader<'c>(&'c Connection);

impl<'s> Tx<'s> {
    /// `execute` through the statement cache: a batch of thousands of
    /// messages must not parse the same SQL thousands of times.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.tx.prepare_cached(sql)?.execute(params)
    }

    /// `query_row` through the statement cache.
    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.tx.prepare_cached(sql)?.query_row(params, f)
    }

    pub fn reader(&self) -> Reader<'_> {
        Reader(&self.tx)
    }

    pub fn commit(self) -> Result<()> {
        self.tx.commit().context("commit failed")
    }

    pub fn insert_email(&self, e: &NewEmail) -> Result<i64> {
        // `headers` is empty and `text_body` NULL: both are read from the
        // raw message when shown (see [`DERIVED_HEADERS`]).
        self.exec(
            "INSERT INTO emails (dedupe_key, message_id, sha256, received_at, sender, subject, date,
                status, rule, action, class, confidential, envelope_recipient, headers, text_body, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, '', NULL, x'')",
            params![
                e.dedupe_key,
                e.message_id,
                e.sha256,
                e.received_at,
                e.sender,
                e.subject,
                e.date,
                e.status,
                e.rule,
                e.action,
                e.class,
                e.confidential,
                e.envelope_recipient,
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        self.write_raw(id, e.raw)?;
        Ok(id)
    }

    /// Writes mail `id`'s raw bytes: the first [`CHUNK_BYTES`] in
    /// `messages`, the rest in `message_chunks`.
    fn write_raw(&self, id: i64, raw: &[u8]) -> Result<()> {
        let (head, rest) = raw.split_at(raw.len().min(CHUNK_BYTES));
        self.exec(
            "INSERT INTO messages (email_id, raw) VALUES (?1, ?2)",
            params![id, head],
        )?;
        for (seq, chunk) in (1_i64..).zip(rest.chunks(CHUNK_BYTES)) {
            self.exec(
                "INSERT INTO message_chunks (email_id, seq, raw) VALUES (?1, ?2, ?3)",
                params![id, seq, chunk],
            )?;
        }
        Ok(())
    }

    pub fn set_result(&self, email_id: i64, json: &str) -> Result<()> {
        self.exec(
            "UPDATE emails SET result = ?1 WHERE id = ?2",
            params![json, email_id],
        )?;
        Ok(())
    }

    /// Creates a record numbered `<prefix><n>` (n counted per module).
    pub fn create_record(
        &self,
        module: &str,
        prefix: &str,
        email: Option<&str>,
        fields: &BTreeMap<String, String>,
        now: &str,
    ) -> Result<(i64, String)> {
        let n: i64 = self.row(
            "INSERT INTO sequences (module, last) VALUES (?1, 1)
             ON CONFLICT (module) DO UPDATE SET last = last + 1 RETURNING last",
            [module],
            |r| r.get(0),
        )?;
        let number = format!("{prefix}{n}");
        self.exec(
            "INSERT INTO records (module, number, email, status, fields, created_at, updated_at, last_activity)
             VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?5, ?5)",
            params![module, number, email, serde_json::to_string(fields)?, now],
        )?;
        Ok((self.tx.last_insert_rowid(), number))
    }

    /// Merges fields into a record; `status` and `email` are columns.
    pub fn update_record(
        &self,
        id: i64,
        changes: &BTreeMap<String, String>,
        now: &str,
    ) -> Result<()> {
        let current: Option<String> = self
            .row("SELECT fields FROM records WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(current) = current else {
            bail!("record {id} does not exist")
        };
        let mut fields: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&current).unwrap_or_default();
        for (k, v) in changes {
            match k.as_str() {
                "status" => {
                    self.exec(
                        "UPDATE records SET status = ?1 WHERE id = ?2",
                        params![v, id],
                    )?;
                }
                "email" => {
                    let e = crate::address::normalize(v);
                    self.exec(
                        "UPDATE records SET email = ?1 WHERE id = ?2",
                        params![(!e.is_empty()).then_some(e), id],
                    )?;
                }
                _ => {
                    fields.insert(k.clone(), serde_json::Value::String(v.clone()));
                }
            }
        }
        self.exec(
            "UPDATE records SET fields = ?1, updated_at = ?2 WHERE id = ?3",
            params![serde_json::to_string(&fields)?, now, id],
        )?;
        Ok(())
    }

    /// Executes a plan for the mail `email_id`: creates, links, relations,
    /// reopenings. Returns the records in the order they were linked.
    pub fn apply(
        &self,
        plan: &Plan,
        email_id: i64,
        prefixes: &dyn Fn(&str) -> String,
        now: &str,
    ) -> Result<Vec<Applied>> {
        let mut created = Vec::with_capacity(plan.creates.len());
        for r in &plan.creates {
            let (id, number) = self.create_record(
                &r.module,
                &prefixes(&r.module),
                r.email.as_deref(),
                &r.fields,
                now,
            )?;
            created.push((id, number));
        }
        let resolve = |t: Target| -> Result<i64> {
            match t {
                Target::Existing(id) => Ok(id),
                Target::New(i) => created
                    .get(i)
                    .map(|c| c.0)
                    .context("plan refers to a record it does not create"),
            }
        };
        for (id, flag) in &plan.flags {
            self.tx.execute(
                "UPDATE records SET fields = json_set(fields, '$.' || json_quote(?1), json('true')), updated_at = ?2 WHERE id = ?3",
                params![flag, now, id],
            )?;
        }
        if plan.bounce.is_some() || plan.verification.is_some() {
            self.tx.execute(
                "UPDATE emails SET bounce = ?1, verification = ?2 WHERE id = ?3",
                params![
                    plan.bounce
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()?,
                    plan.verification
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()?,
                    email_id
                ],
            )?;
        }
        for id in &plan.reopen {
            self.exec(
                "UPDATE records SET status = 'open', updated_at = ?1 WHERE id = ?2",
                params![now, id],
            )?;
        }
        let mut applied = Vec::new();
        for link in &plan.links {
            let id = resolve(link.target)?;
            self.exec(
                "INSERT OR IGNORE INTO email_links (email_id, record_id, op) VALUES (?1, ?2, ?3)",
                params![email_id, id, op_name(link.op)],
            )?;
            self.exec(
                "UPDATE records SET last_activity = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            let (module, number): (String, Option<String>) = self.row(
                "SELECT module, number FROM records WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            applied.push(Applied {
                id,
                module,
                number,
                op: link.op,
            });
        }
        for rel in &plan.relations {
            self.exec(
                "INSERT OR IGNORE INTO record_links (from_id, to_id, kind) VALUES (?1, ?2, ?3)",
                params![resolve(rel.from)?, resolve(rel.to)?, rel.kind],
            )?;
        }
        Ok(applied)
    }

    /// Files the attachments of a mail: name, type, size and the SHA-256
    /// of the content, which is not copied (it is in the raw message, and
    /// `emails attachment` decodes it from there and checks it against the
    /// SHA-256). One over `limit` bytes is listed without a SHA-256 and
    /// cannot be exported.
    pub fn store_attachments(
        &self,
        email_id: i64,
        attachments: &[Attachment],
        limit: u64,
    ) -> Result<Vec<StoredAttachment>> {
        let mut out = Vec::with_capacity(attachments.len());
        for (i, a) in attachments.iter().enumerate() {
            let over = a.size as u64 > limit;
            let sha = (!over).then(|| sha256_hex(&a.content));
            let reason =
                over.then(|| format!("larger than limits.attachment_bytes ({limit} bytes)"));
            self.exec(
                "INSERT INTO attachments (email_id, position, name, content_type, size, sha256, stored, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![email_id, i as i64 + 1, a.name, a.content_type, a.size as i64, sha, !over, reason],
            )?;
            out.push(StoredAttachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                stored: !over,
                reason,
            });
        }
        Ok(out)
    }

    pub fn set_status(&self, id: i64, status: &str, now: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE records SET status = ?1, updated_at = ?2 WHERE id = ?3",
            params![status, now, id],
        )?;
        Ok(n > 0)
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Created => "created",
        Op::Linked => "linked",
        Op::Updated => "updated",
        Op::Reopened => "reopened",
    }
}

fn record_info(r: &rusqlite::Row) -> rusqlite::Result<RecordInfo> {
    record_info_at(r, 0)
}

/// A record whose columns start at `at` ([`RECORD_COLS`] order).
fn record_info_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<RecordInfo> {
    Ok(RecordInfo {
        id: r.get(at)?,
        module: r.get(at + 1)?,
        number: r.get(at + 2)?,
        email: r.get(at + 3)?,
        status: r.get(at + 4)?,
    })
}

/// A label (a link's op, a relation's kind) followed by a record.
fn labelled_record(r: &rusqlite::Row) -> rusqlite::Result<(String, RecordInfo)> {
    Ok((r.get(0)?, record_info_at(r, 1)?))
}

const RECORD_COLS: &str = "r.id, r.module, r.number, r.email, r.status";

/// A record with its fields, for browsing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordRow {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub fields: serde_json::Value,
    pub created_at: String,
    pub last_activity: Option<String>,
}

/// A mail as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmailRow {
    pub id: i64,
    pub received_at: String,
    pub status: String,
    pub class: Option<String>,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub confidential: bool,
    /// `{code, link}` of a forwarding confirmation, if the mail was one.
    pub verification: Option<serde_json::Value>,
}

/// `emails.headers` of mail whose headers and text body are not stored:
/// they are parsed again from the raw message when shown. Mail filed
/// before then has them as JSON and text.
pub const DERIVED_HEADERS: &str = "";

/// One mail as `emails show` prints it.
#[derive(Debug, Clone)]
pub struct EmailDetail {
    pub row: EmailRow,
    /// The stored text body, for mail filed with one (see
    /// [`DERIVED_HEADERS`]).
    pub text: Option<String>,
    /// The stored headers as JSON, or [`DERIVED_HEADERS`].
    pub headers_json: String,
    pub result_json: String,
}

/// A stored attachment's name and content (`None` when it was not kept).
#[derive(Debug, Clone)]
pub struct AttachmentContent {
    pub name: Option<String>,
    /// False when it was over `limits.attachment_bytes`: listed only.
    pub stored: bool,
    pub sha256: Option<String>,
    /// The content copied out of the raw message, for mail filed before
    /// schema 7; newer mail's is decoded from the raw message.
    pub copy: Option<Vec<u8>>,
}

/// Filters for `emails list`.
#[derive(Debug, Clone, Default)]
pub struct EmailFilter {
    pub status: Option<String>,
    pub rule: Option<String>,
    pub class: Option<String>,
    pub since: Option<String>,
    pub from: Option<String>,
    pub limit: Option<u32>,
    /// Only mail that carried a forwarding-confirmation code or link.
    pub verification: bool,
}

impl Reader<'_> {
    /// The stored result of an earlier delivery with this dedupe key.
    pub fn duplicate(&self, dedupe_key: &str) -> Result<Option<(i64, String)>> {
        Ok(self
            .0
            .prepare_cached("SELECT id, result FROM emails WHERE dedupe_key = ?1")?
            .query_row([dedupe_key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    pub fn records(&self, module: Option<&str>, limit: Option<u32>) -> Result<Vec<RecordRow>> {
        let mut stmt = self.0.prepare(
            "SELECT id, module, number, email, status, fields, created_at, last_activity FROM records
             WHERE (?1 IS NULL OR module = ?1) ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![module, limit.map_or(-1, i64::from)], record_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn record_row(&self, id: i64) -> Result<Option<RecordRow>> {
        Ok(self
            .0
            .query_row(
                "SELECT id, module, number, email, status, fields, created_at, last_activity FROM records WHERE id = ?1",
                [id],
                record_row,
            )
            .optional()?)
    }

    /// Mails linked to a record, oldest first.
    pub fn emails_of(&self, record: i64) -> Result<Vec<EmailRow>> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT {EMAIL_COLS} FROM emails e JOIN email_links l ON l.email_id = e.id
             WHERE l.record_id = ?1 ORDER BY e.id"
        ))?;
        let rows = stmt.query_map([record], email_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records related to a record, with the relation's kind.
    pub fn relations_of(&self, record: i64) -> Result<Vec<(String, RecordInfo)>> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT l.kind, {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.to_id WHERE l.from_id = ?1
             UNION SELECT l.kind, {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.from_id WHERE l.to_id = ?1
             ORDER BY 2, 1"
        ))?;
        let rows = stmt.query_map([record], labelled_record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn emails(&self, f: &EmailFilter) -> Result<Vec<EmailRow>> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT {EMAIL_COLS} FROM emails e
             WHERE (?1 IS NULL OR e.status = ?1) AND (?2 IS NULL OR e.rule = ?2)
               AND (?3 IS NULL OR e.class = ?3) AND (?4 IS NULL OR e.received_at >= ?4)
               AND (?5 IS NULL OR e.sender = lower(?5))
               AND (?6 = 0 OR e.verification IS NOT NULL)
             ORDER BY e.id LIMIT ?7"
        ))?;
        let rows = stmt.query_map(
            params![
                f.status,
                f.rule,
                f.class,
                f.since,
                f.from,
                f.verification,
                f.limit.map_or(-1, i64::from)
            ],
            email_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One mail with its text body, headers and stored result.
    pub fn email(&self, id: i64) -> Result<Option<EmailDetail>> {
        Ok(self
            .0
            .query_row(
                &format!("SELECT {EMAIL_COLS}, e.text_body, e.headers, e.result FROM emails e WHERE e.id = ?1"),
                [id],
                |r| {
                    Ok(EmailDetail {
                        row: email_row(r)?,
                        text: r.get(11)?,
                        headers_json: r.get(12)?,
                        result_json: r.get(13)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a mail is linked to, with the op.
    pub fn links_of(&self, email: i64) -> Result<Vec<(String, RecordInfo)>> {
        let mut stmt = self.0.prepare(&format!(
            "SELECT l.op, {RECORD_COLS} FROM email_links l JOIN records r ON r.id = l.record_id
             WHERE l.email_id = ?1 ORDER BY r.id"
        ))?;
        let rows = stmt.query_map([email], labelled_record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn attachments(&self, email: i64) -> Result<Vec<StoredAttachment>> {
        let mut stmt = self.0.prepare(
            "SELECT name, content_type, size, stored, reason FROM attachments WHERE email_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([email], |r| {
            Ok(StoredAttachment {
                name: r.get(0)?,
                content_type: r.get(1)?,
                size: r.get::<_, i64>(2)? as usize,
                stored: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Attachment `position` (1-based) of a mail, with its content when
    /// it was copied out of the raw message (mail filed before schema 7).
    pub fn attachment_content(
        &self,
        email: i64,
        position: i64,
    ) -> Result<Option<AttachmentContent>> {
        Ok(self
            .0
            .query_row(
                "SELECT a.name, a.stored, a.sha256, b.content FROM attachments a
                 LEFT JOIN contents b ON b.sha256 = a.sha256
                 WHERE a.email_id = ?1 AND a.position = ?2",
                params![email, position],
                |r| {
                    Ok(AttachmentContent {
                        name: r.get(0)?,
                        stored: r.get(1)?,
                        sha256: r.get(2)?,
                        copy: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// A mail's raw bytes, put back together from its chunks.
    pub fn raw(&self, email: i64) -> Result<Option<Vec<u8>>> {
        let head: Option<Vec<u8>> = self
            .0
            .query_row(
                "SELECT raw FROM messages WHERE email_id = ?1",
                [email],
                |r| Ok(r.get_ref(0)?.as_bytes()?.to_vec()),
            )
            .optional()?;
        let Some(mut raw) = head else {
            return Ok(None);
        };
        let mut stmt = self
            .0
            .prepare_cached("SELECT raw FROM message_chunks WHERE email_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([email])?;
        while let Some(row) = rows.next()? {
            // Bytes, whether SQLite holds them as a blob or (after a
            // hand edit) as text.
            raw.extend_from_slice(row.get_ref(0)?.as_bytes()?);
        }
        Ok(Some(raw))
    }
}

const EMAIL_COLS: &str = "e.id, e.received_at, e.status, e.class, e.rule, e.action, e.sender, e.subject, e.message_id, e.confidential, e.verification";

fn email_row(r: &rusqlite::Row) -> rusqlite::Result<EmailRow> {
    Ok(EmailRow {
        id: r.get(0)?,
        received_at: r.get(1)?,
        status: r.get(2)?,
        class: r.get(3)?,
        rule: r.get(4)?,
        action: r.get(5)?,
        sender: r.get(6)?,
        subject: r.get(7)?,
        message_id: r.get(8)?,
        confidential: r.get(9)?,
        verification: r
            .get::<_, Option<String>>(10)?
            .and_then(|v| serde_json::from_str(&v).ok()),
    })
}

fn record_row(r: &rusqlite::Row) -> rusqlite::Result<RecordRow> {
    let fields: String = r.get(5)?;
    Ok(RecordRow {
        id: r.get(0)?,
        module: r.get(1)?,
        number: r.get(2)?,
        email: r.get(3)?,
        status: r.get(4)?,
        fields: serde_json::from_str(&fields).unwrap_or(serde_json::Value::Null),
        created_at: r.get(6)?,
        last_activity: r.get(7)?,
    })
}

/// [`Lookup::oldest_by_email`]: min(id) over the (email, module) index
/// stops at its first entry.
fn oldest_by_email_sql() -> String {
    format!(
        "SELECT {RECORD_COLS} FROM records r WHERE r.id =
         (SELECT min(id) FROM records WHERE email = ?1 AND module = ?2)"
    )
}

impl Lookup for Reader<'_> {
    fn record(&self, id: i64) -> Result<Option<RecordInfo>> {
        Ok(self
            .0
            .query_row(
                &format!("SELECT {RECORD_COLS} FROM records r WHERE r.id = ?1"),
                [id],
                record_info,
            )
            .optional()?)
    }

    fn by_email(&self, email: &str) -> Result<Vec<RecordInfo>> {
        // Sorted here, not by ORDER BY: this bundled SQLite (STAT4)
        // re-prepares a statement with ORDER BY and a bound parameter on
        // every new value, which was a sixth of a maildir run's time.
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {RECORD_COLS} FROM records r WHERE r.email = ?1"
        ))?;
        let rows = stmt.query_map([email], record_info)?;
        let mut rows: Vec<RecordInfo> = rows.collect::<rusqlite::Result<_>>()?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    fn oldest_by_email(&self, module: &str, email: &str) -> Result<Option<RecordInfo>> {
        Ok(self
            .0
            .prepare_cached(&oldest_by_email_sql())?
            .query_row([email, module], record_info)
            .optional()?)
    }

    fn thread(&self, module: &str, message_ids: &[String]) -> Result<Option<RecordInfo>> {
        // The newest record, picked here rather than by ORDER BY (see
        // `by_email`).
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {RECORD_COLS} FROM emails e
             JOIN email_links l ON l.email_id = e.id
             JOIN records r ON r.id = l.record_id
             WHERE e.message_id = ?1 AND r.module = ?2"
        ))?;
        for id in message_ids {
            let rows = stmt.query_map(params![id, module], record_info)?;
            let rows: Vec<RecordInfo> = rows.collect::<rusqlite::Result<_>>()?;
            if let Some(newest) = rows.into_iter().max_by_key(|r| r.id) {
                return Ok(Some(newest));
            }
        }
        Ok(None)
    }

    fn by_number(&self, module: &str, number: &str) -> Result<Option<RecordInfo>> {
        Ok(self
            .0
            .query_row(
                &format!("SELECT {RECORD_COLS} FROM records r WHERE r.module = ?1 AND r.number = ?2 COLLATE NOCASE"),
                params![module, number],
                record_info,
            )
            .optional()?)
    }

    fn by_field(&self, module: &str, field: &str, value: &str) -> Result<Vec<RecordInfo>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {RECORD_COLS} FROM records r
             WHERE r.module = ?1 AND lower(trim(json_extract(r.fields, '$.' || json_quote(?2)))) = lower(trim(?3))
             ORDER BY r.id"
        ))?;
        let rows = stmt.query_map(params![module, field, value], record_info)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn related(&self, id: i64, kind: &str) -> Result<Vec<RecordInfo>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.to_id WHERE l.from_id = ?1 AND l.kind = ?2
             UNION SELECT {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.from_id WHERE l.to_id = ?1 AND l.kind = ?2
             ORDER BY 1"
        ))?;
        let rows = stmt.query_map(params![id, kind], record_info)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sixteen connections that open one fresh database at the same moment
    /// all get it: switching a new file to WAL upgrades a read lock to a
    /// write lock, which SQLite refuses at once (no busy wait) when another
    /// connection does the same, so `open` has to wait and try again.
    #[test]
    fn connections_racing_to_create_a_database_all_open_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..40 {
            let path = dir.path().join(format!("race{round}.db"));
            let barrier = std::sync::Barrier::new(16);
            let results: Vec<Result<Store>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Store::open(&path)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            for r in results {
                let store = r.unwrap_or_else(|e| panic!("round {round}: {e:#}"));
                assert_eq!(store.version().expect("version"), MIGRATIONS.len());
            }
        }
    }

    #[test]
    fn upgrades_a_version_2_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("v1");
            conn.execute_batch(MIGRATIONS[1]).expect("v2");
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            conn.execute(
                "INSERT INTO records (module, number, email, fields, created_at, updated_at) VALUES ('contacts', 'CON-1', 'a@x', '{}', 't', 't')",
                [],
            )
            .expect("row");
            conn.execute(
                "INSERT INTO emails (dedupe_key, sha256, received_at, status, raw) VALUES ('<m@x>', 'h', 't', 'processed', x'0102')",
                [],
            )
            .expect("mail");
            conn.execute_batch(
                "INSERT INTO blobs (sha256, content) VALUES ('s', x'414243');
                 INSERT INTO attachments (email_id, position, name, content_type, size, sha256, stored)
                 VALUES (1, 1, 'a.txt', 'text/plain', 3, 's', 1);",
            )
            .expect("attachment");
        }
        let store = Store::open(&path).expect("upgrade");
        let a = store
            .reader()
            .attachment_content(1, 1)
            .expect("query")
            .expect("attachment");
        assert_eq!(
            a.copy.as_deref(),
            Some(&b"ABC"[..]),
            "content moved to `contents`"
        );
        assert_eq!(
            store.reader().raw(1).expect("raw"),
            Some(vec![1, 2]),
            "raw bytes moved to `messages`"
        );
        assert_eq!(store.version().expect("version"), MIGRATIONS.len());
        let found = store.reader().by_email("a@x").expect("query");
        assert_eq!(found.len(), 1);
        assert_eq!(store.reader().attachments(1).expect("attachments").len(), 1);
    }

    /// A raw message longer than one chunk is stored in rows of
    /// `CHUNK_BYTES` and read back whole, byte for byte; a short one is one
    /// row, as before.
    #[test]
    fn a_large_raw_message_is_stored_in_chunks_and_read_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("crm.db")).expect("open");
        let big: Vec<u8> = (0..CHUNK_BYTES * 2 + 1234)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        let tx = store.begin().expect("begin");
        let mut ids = Vec::new();
        for (key, raw) in [("<big@x>", &big[..]), ("<small@x>", &big[..100])] {
            ids.push(
                tx.insert_email(&NewEmail {
                    dedupe_key: key,
                    message_id: Some(key),
                    sha256: "h",
                    received_at: "t",
                    sender: None,
                    subject: None,
                    date: None,
                    status: "processed",
                    rule: None,
                    action: None,
                    class: None,
                    confidential: false,
                    envelope_recipient: None,
                    raw,
                })
                .expect("insert"),
            );
        }
        tx.commit().expect("commit");
        let r = store.reader();
        assert_eq!(r.raw(ids[0]).expect("raw").as_deref(), Some(&big[..]));
        assert_eq!(r.raw(ids[1]).expect("raw").as_deref(), Some(&big[..100]));
        let chunks = |id: i64| -> Vec<(i64, i64)> {
            let mut stmt = store
                .conn
                .prepare(
                    "SELECT seq, length(raw) FROM message_chunks WHERE email_id = ?1 ORDER BY seq",
                )
                .expect("prepare");
            stmt.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };
        assert_eq!(chunks(ids[0]), vec![(1, CHUNK_BYTES as i64), (2, 1234)]);
        assert!(chunks(ids[1]).is_empty());
    }

    #[test]
    fn the_oldest_record_of_a_module_is_found_by_one_index_seek() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("crm.db")).expect("open");
        let tx = store.begin().expect("begin");
        let none = BTreeMap::new();
        let mut ids = Vec::new();
        for (module, prefix) in [
            ("cases", "CASE-"),
            ("contacts", "CON-"),
            ("cases", "CASE-"),
            ("contacts", "CON-"),
        ] {
            let (id, _) = tx
                .create_record(module, prefix, Some("ann@x"), &none, "t")
                .expect("record");
            ids.push(id);
        }
        tx.create_record("contacts", "CON-", Some("bob@x"), &none, "t")
            .expect("record");
        tx.commit().expect("commit");

        let reader = store.reader();
        let oldest = |module: &str, email: &str| {
            reader
                .oldest_by_email(module, email)
                .expect("query")
                .map(|r| r.id)
        };
        assert_eq!(oldest("contacts", "ann@x"), Some(ids[1]));
        assert_eq!(oldest("cases", "ann@x"), Some(ids[0]));
        assert_eq!(oldest("leads", "ann@x"), None);
        assert_eq!(oldest("contacts", "nobody@x"), None);

        // One seek whatever the customer's number of records: the lookup
        // must search the (email, module) index, not scan by email alone.
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", oldest_by_email_sql()))
            .expect("explain")
            .query_map(["ann@x", "cases"], |r| r.get(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert!(
            plan.iter()
                .any(|p| p.contains("records_email_module (email=? AND module=?)")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_long_wal_is_copied_and_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.db");
        let wal = wal_path(&path);
        let none = BTreeMap::new();
        let mut truncated = 0;
        for round in 0..40 {
            // A new connection each round, as each piped delivery is a
            // new process.
            let mut store = Store::open(&path).expect("open");
            let tx = store.begin().expect("begin");
            for i in 0..20 {
                tx.create_record(
                    "contacts",
                    "CON-",
                    Some(&format!("{round}.{i}@x")),
                    &none,
                    "t",
                )
                .expect("record");
            }
            tx.commit().expect("commit");
            let before = std::fs::metadata(&wal).expect("wal").len();
            store.housekeeping().expect("housekeeping");
            let after = std::fs::metadata(&wal).expect("wal").len();
            if before > WAL_SIZE_LIMIT {
                assert_eq!(after, 0, "truncated past the limit");
                truncated += 1;
            } else {
                assert_eq!(after, before, "left alone under the limit");
            }
        }
        assert!(truncated > 0, "the WAL never passed the limit");
        let store = Store::open(&path).expect("open");
        let n: i64 = store
            .conn
            .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 800, "every record survives the rounds");
    }

    #[test]
    fn every_commit_is_synced_to_disk() {
        // What makes exit 0 safe: WAL with synchronous = FULL syncs the WAL
        // at every commit, so a committed mail survives a power loss.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "synchronous = FULL");
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn refuses_a_newer_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        Connection::open(&path)
            .and_then(|c| c.pragma_update(None, "user_version", 99))
            .expect("set");
        let err = Store::open(&path).err().expect("refused");
        assert!(format!("{err:#}").contains("newer than this mailroom"));
    }
}
