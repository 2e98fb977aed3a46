//! The SQLite backend: the only user of rusqlite. One database file beside
//! its WAL, for one mail server.
//!
//! # Locking
//!
//! WAL mode, `busy_timeout` of 30 s (`MAILROOM_BUSY_TIMEOUT_MS` overrides
//! it, for tests and impatient operators), and every write in `BEGIN
//! IMMEDIATE`: a deferred transaction that upgrades to a writer fails at
//! once under concurrent deliveries instead of waiting.
//!
//! # Durability
//!
//! `synchronous = FULL`: a commit is on disk (the WAL synced, and the
//! directory of a new WAL, by SQLite) before `process` exits 0.
//!
//! # The WAL
//!
//! No checkpoint when a connection closes (a piped delivery would pay a
//! second sync for it); after a delivery or a run, a WAL past
//! [`WAL_SIZE_LIMIT`] is copied into the database and truncated
//! ([`Store::housekeeping`]). SQLite's own automatic checkpoint stays on.
//!
//! # Compatibility
//!
//! [`MIGRATIONS`] is append-only and tracked by `PRAGMA user_version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use super::copy::{AttachmentCopy, EmailCopy};
use super::{
    AttachmentRef, CHUNK_BYTES, Context, EmailDetail, EmailFilter, EmailRow, Error, Filed, Moved,
    NewEmail, Reader, RecordFilter, RecordRow, Result, Store, StoredAttachment, Tx,
};
use crate::route::lookup::{Lookup, RecordInfo};
use crate::route::plan::Op;

/// The schema, one migration per version (see the logical schema in
/// [`super`]). Append only.
pub const MIGRATIONS: &[&str] = &[
    // 1: the schema.
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
        bounce TEXT,
        verification TEXT,
        result TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX emails_message_id ON emails(message_id);
    CREATE TABLE message_chunks (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        seq INTEGER NOT NULL,
        raw BLOB NOT NULL,
        PRIMARY KEY (email_id, seq)
    );
    CREATE TABLE attachments (
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
    CREATE INDEX records_email_module ON records(email, module);
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
    // 2: confidential content sealed at rest; record ids are never given
    // out again (AUTOINCREMENT), so a deleted record's mailbox address
    // (crm+345@) cannot start filing to a new record.
    "ALTER TABLE emails ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE records_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        module TEXT NOT NULL,
        number TEXT,
        email TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        fields TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_activity TEXT,
        confidential INTEGER NOT NULL DEFAULT 0,
        sealed_fields BLOB
    );
    INSERT INTO records_v2 (id, module, number, email, status, fields, created_at, updated_at, last_activity)
        SELECT id, module, number, email, status, fields, created_at, updated_at, last_activity FROM records;
    DROP TABLE records;
    ALTER TABLE records_v2 RENAME TO records;
    CREATE INDEX records_email_module ON records(email, module);
    CREATE UNIQUE INDEX records_number ON records(module, number);",
    // 3: the Message-IDs each mail refers to (In-Reply-To, References), so
    // that a mail can be found by the replies filed before it.
    "CREATE TABLE email_refs (
        email_id INTEGER NOT NULL REFERENCES emails(id),
        ref_id TEXT NOT NULL,
        PRIMARY KEY (email_id, ref_id)
    ) WITHOUT ROWID;
    CREATE INDEX email_refs_ref ON email_refs(ref_id);",
];

/// Past this size the WAL is copied into the database and truncated
/// ([`Store::housekeeping`]). Every process that opens the database alone
/// (each piped delivery) first rebuilds the WAL index by reading the WAL,
/// so a WAL that only grew would slow every delivery.
pub const WAL_SIZE_LIMIT: u64 = 1 << 20;

/// The page cache of a `maildir` run: room for a whole batch of mail and
/// its indexes, so pages are written once, at commit. A delivery keeps 512
/// KB: a big message's pages spill to the WAL instead of all staying in
/// memory until the commit, which keeps its peak memory near 3x the
/// message.
const BATCH_CACHE_KIB: i64 = 12 << 10;

/// Every driver error may succeed later (busy, locked, read-only, full,
/// I/O, a damaged file until it is restored): the MTA keeps the mail.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::later(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::later(e.to_string())
    }
}

/// A connection to one SQLite database.
pub struct Sqlite {
    conn: Connection,
    /// The WAL file beside the database; `None` for a read-only or
    /// in-memory connection, which has no WAL to look after.
    wal: Option<PathBuf>,
}

/// A write transaction (`BEGIN IMMEDIATE`).
pub struct SqliteTx<'c> {
    tx: Transaction<'c>,
}

/// Read queries over a connection or a transaction.
pub struct Queries<'c>(&'c Connection);

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
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

impl Sqlite {
    /// Opens (creating if needed) the database and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create database directory `{}`", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database `{}`", path.display()))?;
        let mut store = Sqlite {
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
            return Err(Error::later(format!(
                "cannot switch to WAL mode (got `{mode}`)"
            )));
        }
        self.conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -512;",
        )?;
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
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

    fn newer(current: usize) -> Error {
        Error::later(format!(
            "the database has schema version {current}, newer than this mailroom ({}); upgrade mailroom",
            MIGRATIONS.len()
        ))
    }

    /// Brings the schema up to date in one transaction. Foreign keys are
    /// off while it runs, so that a migration can rebuild a table (SQLite's
    /// way to change a column), and checked whole before the commit.
    fn migrate(&mut self) -> Result<()> {
        if self.version()? == MIGRATIONS.len() {
            return Ok(());
        }
        self.conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
        let migrated = self.run_migrations();
        self.conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        migrated
    }

    fn run_migrations(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(Sqlite::newer(current));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.execute_batch(sql)
                .with_context(|| format!("migration {} failed", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(Error::later(format!(
                "the migration left {broken} broken reference(s); the database is unchanged"
            )));
        }
        tx.commit()?;
        Ok(())
    }

    /// An empty database in memory, with the schema.
    pub fn in_memory() -> Result<Sqlite> {
        let mut store = Sqlite {
            conn: Connection::open_in_memory()?,
            wal: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database without writing to it; a missing one is
    /// an empty database in memory.
    pub fn open_read_only(path: &Path) -> Result<Sqlite> {
        if !path.exists() {
            return Sqlite::in_memory();
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open database `{}`", path.display()))?;
        conn.busy_timeout(busy_timeout())?;
        let store = Sqlite { conn, wal: None };
        let version = store.version()?;
        if version > MIGRATIONS.len() {
            return Err(Sqlite::newer(version));
        }
        if version != MIGRATIONS.len() {
            return Err(Error::later(format!(
                "database `{}` has schema version {version}, this mailroom needs {}; run any writing command once to upgrade it",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        Ok(store)
    }
}

impl Store for Sqlite {
    fn reader(&self) -> Box<dyn Reader + '_> {
        Box::new(Queries(&self.conn))
    }

    /// One writer at a time, whatever it files: a delivery's keys change
    /// nothing.
    fn begin_delivery(&mut self, _keys: &[String]) -> Result<Box<dyn Tx + '_>> {
        self.begin()
    }

    fn begin(&mut self) -> Result<Box<dyn Tx + '_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("cannot start a write transaction")?;
        Ok(Box::new(SqliteTx { tx }))
    }

    /// Past [`WAL_SIZE_LIMIT`] the WAL is copied into the database and
    /// truncated. Waits briefly for readers and writers; if they hold on,
    /// a later delivery does it.
    fn housekeeping(&self) -> Result<()> {
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

    fn prepare_for_batches(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -BATCH_CACHE_KIB)
            .context("cannot set the cache size")
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

impl SqliteTx<'_> {
    /// `execute` through the statement cache: a batch of thousands of
    /// messages must not parse the same SQL thousands of times.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        Ok(self.tx.prepare_cached(sql)?.execute(params)?)
    }

    /// The raw message in rows of at most [`CHUNK_BYTES`], so that each
    /// page is written to the WAL once; one (empty) row at least, so every
    /// mail has its raw bytes.
    fn insert_chunks(&self, id: i64, raw: &[u8]) -> Result<()> {
        let chunks: Vec<&[u8]> = if raw.is_empty() {
            vec![&[]]
        } else {
            raw.chunks(CHUNK_BYTES).collect()
        };
        for (seq, chunk) in (0_i64..).zip(chunks) {
            self.exec(
                "INSERT INTO message_chunks (email_id, seq, raw) VALUES (?1, ?2, ?3)",
                params![id, seq, chunk],
            )?;
        }
        Ok(())
    }
}

impl Tx for SqliteTx<'_> {
    fn reader(&self) -> Box<dyn Reader + '_> {
        Box::new(Queries(&self.tx))
    }

    /// The transaction holds the whole database already.
    fn claim(&self, _keys: &[String]) -> Result<()> {
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().context("commit failed")
    }

    fn insert_email(&self, e: &NewEmail) -> Result<i64> {
        let inserted = self.exec(
            "INSERT INTO emails (dedupe_key, message_id, sha256, received_at, sender, subject, date,
                status, rule, action, class, confidential, envelope_recipient, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (dedupe_key) DO NOTHING",
            params![
                e.dedupe_key,
                e.filed.message_id,
                e.sha256,
                e.received_at,
                e.filed.sender,
                e.filed.subject,
                e.filed.date,
                e.filed.status,
                e.filed.rule,
                e.filed.action,
                e.filed.class,
                e.filed.confidential,
                e.envelope_recipient,
                e.sealed,
            ],
        )?;
        if inserted == 0 {
            return Err(Error::conflict(format!(
                "mail {} was stored by another delivery meanwhile",
                e.dedupe_key
            )));
        }
        let id = self.tx.last_insert_rowid();
        self.insert_chunks(id, e.raw)?;
        Ok(id)
    }

    fn refile(&self, email_id: i64, f: &Filed) -> Result<()> {
        self.exec(
            "UPDATE emails SET message_id = ?1, sender = ?2, subject = ?3, date = ?4, status = ?5,
                rule = ?6, action = ?7, class = ?8, confidential = ?9, bounce = NULL, verification = NULL
             WHERE id = ?10",
            params![
                f.message_id,
                f.sender,
                f.subject,
                f.date,
                f.status,
                f.rule,
                f.action,
                f.class,
                f.confidential,
                email_id
            ],
        )?;
        Ok(())
    }

    fn set_refs(&self, email_id: i64, ids: &[String]) -> Result<()> {
        self.exec("DELETE FROM email_refs WHERE email_id = ?1", [email_id])?;
        for id in ids {
            self.exec(
                "INSERT OR IGNORE INTO email_refs (email_id, ref_id) VALUES (?1, ?2)",
                params![email_id, id],
            )?;
        }
        Ok(())
    }

    fn set_result(&self, email_id: i64, json: &str) -> Result<()> {
        self.exec(
            "UPDATE emails SET result = ?1 WHERE id = ?2",
            params![json, email_id],
        )?;
        Ok(())
    }

    fn set_notes(
        &self,
        email_id: i64,
        bounce: Option<&str>,
        verification: Option<&str>,
    ) -> Result<()> {
        self.exec(
            "UPDATE emails SET bounce = ?1, verification = ?2 WHERE id = ?3",
            params![bounce, verification, email_id],
        )?;
        Ok(())
    }

    fn create_record(
        &self,
        module: &str,
        prefix: &str,
        email: Option<&str>,
        fields: &BTreeMap<String, String>,
        now: &str,
    ) -> Result<(i64, String)> {
        let n: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO sequences (module, last) VALUES (?1, 1)
             ON CONFLICT (module) DO UPDATE SET last = last + 1 RETURNING last",
            )?
            .query_row([module], |r| r.get(0))?;
        let number = format!("{prefix}{n}");
        self.exec(
            "INSERT INTO records (module, number, email, status, fields, created_at, updated_at, last_activity)
             VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?5, ?5)",
            params![module, number, email, serde_json::to_string(fields)?, now],
        )?;
        Ok((self.tx.last_insert_rowid(), number))
    }

    fn update_record(&self, id: i64, changes: &BTreeMap<String, String>, now: &str) -> Result<()> {
        let current: Option<String> = self
            .tx
            .prepare_cached("SELECT fields FROM records WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let Some(current) = current else {
            return Err(Error::not_found(format!("no record with id {id}")));
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
                    let e = crate::mail::address::normalize(v);
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

    fn set_confidential(&self, id: i64, sealed_fields: Option<&[u8]>) -> Result<()> {
        match sealed_fields {
            Some(sealed) => self.exec(
                "UPDATE records SET confidential = 1, sealed_fields = ?1, fields = '{}' WHERE id = ?2",
                params![sealed, id],
            )?,
            None => self.exec("UPDATE records SET confidential = 1 WHERE id = ?1", [id])?,
        };
        Ok(())
    }

    fn set_status(&self, id: i64, status: &str, now: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE records SET status = ?1, updated_at = ?2 WHERE id = ?3",
            params![status, now, id],
        )?;
        Ok(n > 0)
    }

    fn set_flag(&self, id: i64, field: &str, now: &str) -> Result<()> {
        self.exec(
            "UPDATE records SET fields = json_set(fields, '$.' || json_quote(?1), json('true')), updated_at = ?2 WHERE id = ?3",
            params![field, now, id],
        )?;
        Ok(())
    }

    fn link(&self, email_id: i64, record_id: i64, op: Op, now: &str) -> Result<RecordInfo> {
        self.import_link(email_id, record_id, op.as_str())?;
        self.exec(
            "UPDATE records SET last_activity = ?1 WHERE id = ?2",
            params![now, record_id],
        )?;
        self.reader()
            .record(record_id)
            .map_err(|e| Error::later(format!("{e:#}")))?
            .ok_or_else(|| Error::not_found(format!("no record with id {record_id}")))
    }

    fn unlink(&self, email_id: i64, record_id: i64) -> Result<bool> {
        let n = self.exec(
            "DELETE FROM email_links WHERE email_id = ?1 AND record_id = ?2",
            params![email_id, record_id],
        )?;
        Ok(n > 0)
    }

    fn delete_record(&self, id: i64) -> Result<bool> {
        self.exec("DELETE FROM email_links WHERE record_id = ?1", [id])?;
        self.exec(
            "DELETE FROM record_links WHERE from_id = ?1 OR to_id = ?1",
            [id],
        )?;
        Ok(self.exec("DELETE FROM records WHERE id = ?1", [id])? > 0)
    }

    fn move_links(&self, from: i64, to: i64) -> Result<Moved> {
        let ids = |sql: &str| -> Result<Vec<i64>> {
            let mut stmt = self.tx.prepare_cached(sql)?;
            let rows = stmt.query_map(params![from, to], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let mail = ids("SELECT email_id FROM email_links WHERE record_id = ?1
             AND email_id NOT IN (SELECT email_id FROM email_links WHERE record_id = ?2)
             ORDER BY email_id")?;
        let records = ids("SELECT DISTINCT other FROM (
                SELECT to_id AS other FROM record_links WHERE from_id = ?1
                UNION SELECT from_id FROM record_links WHERE to_id = ?1)
             WHERE other <> ?2 ORDER BY other")?;
        self.exec(
            "INSERT OR IGNORE INTO email_links (email_id, record_id, op)
             SELECT email_id, ?2, op FROM email_links WHERE record_id = ?1",
            params![from, to],
        )?;
        self.exec(
            "INSERT OR IGNORE INTO record_links (from_id, to_id, kind)
             SELECT ?2, to_id, kind FROM record_links WHERE from_id = ?1 AND to_id <> ?2",
            params![from, to],
        )?;
        self.exec(
            "INSERT OR IGNORE INTO record_links (from_id, to_id, kind)
             SELECT from_id, ?2, kind FROM record_links WHERE to_id = ?1 AND from_id <> ?2",
            params![from, to],
        )?;
        self.exec("DELETE FROM email_links WHERE record_id = ?1", [from])?;
        self.exec(
            "DELETE FROM record_links WHERE from_id = ?1 OR to_id = ?1",
            [from],
        )?;
        Ok(Moved { mail, records })
    }

    fn relate(&self, from: i64, to: i64, kind: &str) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO record_links (from_id, to_id, kind) VALUES (?1, ?2, ?3)",
            params![from, to, kind],
        )?;
        Ok(())
    }

    fn insert_attachment(
        &self,
        email_id: i64,
        position: i64,
        a: &StoredAttachment,
        sha256: Option<&str>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO attachments (email_id, position, name, content_type, size, sha256, stored, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![email_id, position, a.name, a.content_type, a.size as i64, sha256, a.stored, a.reason],
        )?;
        Ok(())
    }

    fn import_record(&self, r: &RecordRow) -> Result<()> {
        self.exec(
            "INSERT INTO records (id, module, number, email, status, fields, created_at, updated_at,
                last_activity, confidential, sealed_fields)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                r.id,
                r.module,
                r.number,
                r.email,
                r.status,
                r.fields.to_string(),
                r.created_at,
                r.updated_at,
                r.last_activity,
                r.confidential,
                r.sealed_fields
            ],
        )?;
        Ok(())
    }

    fn import_sequence(&self, module: &str, last: i64) -> Result<()> {
        self.exec(
            "INSERT INTO sequences (module, last) VALUES (?1, ?2)",
            params![module, last],
        )?;
        Ok(())
    }

    fn import_email(&self, e: &EmailCopy) -> Result<()> {
        self.exec(
            "INSERT INTO emails (id, dedupe_key, message_id, sha256, received_at, sender, subject, date,
                status, rule, action, class, confidential, envelope_recipient, bounce, verification,
                result, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                e.id,
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
                e.bounce,
                e.verification,
                e.result,
                e.sealed
            ],
        )?;
        self.insert_chunks(e.id, &e.raw)
    }

    fn import_link(&self, email_id: i64, record_id: i64, op: &str) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO email_links (email_id, record_id, op) VALUES (?1, ?2, ?3)",
            params![email_id, record_id, op],
        )?;
        Ok(())
    }

    /// Mail ids are the table's rowids (mail is never deleted); record ids
    /// come from `AUTOINCREMENT`, whose counter is raised.
    fn reserve_ids(&self, records: i64, _emails: i64) -> Result<()> {
        self.exec(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'records'",
            [records],
        )?;
        self.exec(
            "INSERT INTO sqlite_sequence (name, seq)
             SELECT 'records', ?1 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'records')",
            [records],
        )?;
        Ok(())
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

const EMAIL_COLS: &str = "e.id, e.received_at, e.status, e.class, e.rule, e.action, e.sender, e.subject, e.message_id, e.confidential, e.verification, e.date, json_extract(e.result, '$.reason'), e.sealed";

/// The column after [`EMAIL_COLS`].
const AFTER_EMAIL_COLS: usize = 14;

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
        date: r.get(11)?,
        reason: r.get(12)?,
        sealed: r.get(13)?,
    })
}

const RECORD_ROW_COLS: &str = "id, module, number, email, status, fields, created_at, updated_at, last_activity, confidential, sealed_fields";

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
        updated_at: r.get(7)?,
        last_activity: r.get(8)?,
        confidential: r.get(9)?,
        sealed_fields: r.get(10)?,
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

impl Queries<'_> {
    /// The rows of a query, in its order.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(params, row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The one row of a query, if there is one.
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        Ok(self
            .0
            .prepare_cached(sql)?
            .query_row(params, row)
            .optional()?)
    }
}

impl Reader for Queries<'_> {
    fn duplicate(&self, dedupe_key: &str) -> Result<Option<(i64, String)>> {
        self.one(
            "SELECT id, result FROM emails WHERE dedupe_key = ?1",
            [dedupe_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn records(&self, f: &RecordFilter) -> Result<Vec<RecordRow>> {
        self.rows(
            &format!(
                "SELECT {RECORD_ROW_COLS} FROM records
                 WHERE (?1 IS NULL OR module = ?1) AND (?2 IS NULL OR status = ?2)
                   AND (?3 IS NULL OR created_at >= ?3)
                 ORDER BY id LIMIT ?4"
            ),
            params![f.module, f.status, f.since, f.limit.map_or(-1, i64::from)],
            record_row,
        )
    }

    fn record_row(&self, id: i64) -> Result<Option<RecordRow>> {
        self.one(
            &format!("SELECT {RECORD_ROW_COLS} FROM records WHERE id = ?1"),
            [id],
            record_row,
        )
    }

    fn by_any_number(&self, number: &str) -> Result<Vec<RecordInfo>> {
        self.rows(
            &format!(
                "SELECT {RECORD_COLS} FROM records r WHERE r.number = ?1 COLLATE NOCASE ORDER BY r.id"
            ),
            [number],
            record_info,
        )
    }

    fn emails_of(&self, record: i64) -> Result<Vec<EmailRow>> {
        self.rows(
            &format!(
                "SELECT {EMAIL_COLS} FROM emails e JOIN email_links l ON l.email_id = e.id
                 WHERE l.record_id = ?1 ORDER BY e.id"
            ),
            [record],
            email_row,
        )
    }

    fn relations_of(&self, record: i64) -> Result<Vec<(String, RecordInfo)>> {
        self.rows(
            &format!(
                "SELECT l.kind, {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.to_id WHERE l.from_id = ?1
                 UNION SELECT l.kind, {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.from_id WHERE l.to_id = ?1
                 ORDER BY 2, 1"
            ),
            [record],
            labelled_record,
        )
    }

    fn emails(&self, f: &EmailFilter) -> Result<Vec<EmailRow>> {
        // The statuses as a JSON array: one statement for any number.
        let statuses = serde_json::to_string(&f.statuses)?;
        self.rows(
            &format!(
                "SELECT {EMAIL_COLS} FROM emails e
                 WHERE (?1 = '[]' OR e.status IN (SELECT value FROM json_each(?1)))
                   AND (?2 IS NULL OR e.rule = ?2)
                   AND (?3 IS NULL OR e.class = ?3) AND (?4 IS NULL OR e.received_at >= ?4)
                   AND (?5 IS NULL OR e.received_at < ?5)
                   AND (?6 IS NULL OR e.sender = lower(?6))
                   AND (?7 = 0 OR e.verification IS NOT NULL)
                 ORDER BY CASE WHEN ?9 THEN e.id ELSE -e.id END LIMIT ?8"
            ),
            params![
                statuses,
                f.rule,
                f.class,
                f.since,
                f.until,
                f.from,
                f.verification,
                f.limit.map_or(-1, i64::from),
                f.oldest_first
            ],
            email_row,
        )
    }

    fn email(&self, id: i64) -> Result<Option<EmailDetail>> {
        self.one(
            &format!(
                "SELECT {EMAIL_COLS}, e.envelope_recipient, e.sha256, e.bounce, e.result
                 FROM emails e WHERE e.id = ?1"
            ),
            [id],
            |r| {
                let at = AFTER_EMAIL_COLS;
                Ok(EmailDetail {
                    row: email_row(r)?,
                    envelope_recipient: r.get(at)?,
                    sha256: r.get(at + 1)?,
                    bounce: r
                        .get::<_, Option<String>>(at + 2)?
                        .and_then(|v| serde_json::from_str(&v).ok()),
                    result_json: r.get(at + 3)?,
                })
            },
        )
    }

    fn links_of(&self, email: i64) -> Result<Vec<(String, RecordInfo)>> {
        self.rows(
            &format!(
                "SELECT l.op, {RECORD_COLS} FROM email_links l JOIN records r ON r.id = l.record_id
                 WHERE l.email_id = ?1 ORDER BY r.id"
            ),
            [email],
            labelled_record,
        )
    }

    fn attachments(&self, email: i64) -> Result<Vec<StoredAttachment>> {
        Ok(self
            .attachment_copies(email)?
            .into_iter()
            .map(|a| a.attachment)
            .collect())
    }

    fn attachment(&self, email: i64, position: i64) -> Result<Option<AttachmentRef>> {
        self.one(
            "SELECT name, stored, sha256 FROM attachments WHERE email_id = ?1 AND position = ?2",
            params![email, position],
            |r| {
                Ok(AttachmentRef {
                    name: r.get(0)?,
                    stored: r.get(1)?,
                    sha256: r.get(2)?,
                })
            },
        )
    }

    fn raw(&self, email: i64) -> Result<Option<Vec<u8>>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT raw FROM message_chunks WHERE email_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([email])?;
        let mut raw: Option<Vec<u8>> = None;
        while let Some(row) = rows.next()? {
            // Bytes, whether SQLite holds them as a blob or (after a hand
            // edit) as text.
            let bytes = row
                .get_ref(0)?
                .as_bytes()
                .map_err(|e| Error::later(format!("raw message of mail {email}: {e}")))?;
            raw.get_or_insert_with(Vec::new).extend_from_slice(bytes);
        }
        Ok(raw)
    }

    fn email_ids(&self) -> Result<Vec<i64>> {
        self.rows("SELECT id FROM emails ORDER BY id", [], |r| r.get(0))
    }

    fn email_copy(&self, id: i64) -> Result<Option<EmailCopy>> {
        let email = self.one(
            "SELECT id, dedupe_key, message_id, sha256, received_at, sender, subject, date, status,
                rule, action, class, confidential, envelope_recipient, bounce, verification, result, sealed
             FROM emails WHERE id = ?1",
            [id],
            |r| {
                Ok(EmailCopy {
                    id: r.get(0)?,
                    dedupe_key: r.get(1)?,
                    message_id: r.get(2)?,
                    sha256: r.get(3)?,
                    received_at: r.get(4)?,
                    sender: r.get(5)?,
                    subject: r.get(6)?,
                    date: r.get(7)?,
                    status: r.get(8)?,
                    rule: r.get(9)?,
                    action: r.get(10)?,
                    class: r.get(11)?,
                    confidential: r.get(12)?,
                    envelope_recipient: r.get(13)?,
                    bounce: r.get(14)?,
                    verification: r.get(15)?,
                    result: r.get(16)?,
                    sealed: r.get(17)?,
                    raw: Vec::new(),
                })
            },
        )?;
        let Some(mut email) = email else {
            return Ok(None);
        };
        email.raw = self.raw(id)?.unwrap_or_default();
        Ok(Some(email))
    }

    fn sequences(&self) -> Result<Vec<(String, i64)>> {
        self.rows(
            "SELECT module, last FROM sequences ORDER BY module",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn refs_of(&self, email: i64) -> Result<Vec<String>> {
        self.rows(
            "SELECT ref_id FROM email_refs WHERE email_id = ?1 ORDER BY ref_id",
            [email],
            |r| r.get(0),
        )
    }

    fn attachment_copies(&self, email: i64) -> Result<Vec<AttachmentCopy>> {
        self.rows(
            "SELECT position, name, content_type, size, stored, reason, sha256 FROM attachments
             WHERE email_id = ?1 ORDER BY position",
            [email],
            |r| {
                Ok(AttachmentCopy {
                    position: r.get(0)?,
                    attachment: StoredAttachment {
                        name: r.get(1)?,
                        content_type: r.get(2)?,
                        size: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                        stored: r.get(4)?,
                        reason: r.get(5)?,
                    },
                    sha256: r.get(6)?,
                })
            },
        )
    }

    fn record_links(&self) -> Result<Vec<(i64, i64, String)>> {
        self.rows(
            "SELECT from_id, to_id, kind FROM record_links ORDER BY from_id, to_id, kind",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn highest_ids(&self) -> Result<(i64, i64)> {
        let records = self
            .one(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0),
                            coalesce((SELECT max(id) FROM records), 0))",
                [],
                |r| r.get(0),
            )?
            .unwrap_or(0);
        let emails = self
            .one("SELECT coalesce(max(id), 0) FROM emails", [], |r| r.get(0))?
            .unwrap_or(0);
        Ok((records, emails))
    }
}

impl Lookup for Queries<'_> {
    fn record(&self, id: i64) -> anyhow::Result<Option<RecordInfo>> {
        Ok(self.one(
            &format!("SELECT {RECORD_COLS} FROM records r WHERE r.id = ?1"),
            [id],
            record_info,
        )?)
    }

    fn by_email(&self, email: &str) -> anyhow::Result<Vec<RecordInfo>> {
        // Sorted here, not by ORDER BY: the bundled SQLite (STAT4)
        // re-prepares a statement with ORDER BY and a bound parameter on
        // every new value, which was a sixth of a maildir run's time.
        let mut rows = self.rows(
            &format!("SELECT {RECORD_COLS} FROM records r WHERE r.email = ?1"),
            [email],
            record_info,
        )?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    fn oldest_by_email(&self, module: &str, email: &str) -> anyhow::Result<Option<RecordInfo>> {
        Ok(self.one(&oldest_by_email_sql(), [email, module], record_info)?)
    }

    fn thread(&self, module: &str, message_ids: &[String]) -> anyhow::Result<Option<RecordInfo>> {
        // The newest record, picked here rather than by ORDER BY (see
        // `by_email`).
        let sql = format!(
            "SELECT {RECORD_COLS} FROM emails e
             JOIN email_links l ON l.email_id = e.id
             JOIN records r ON r.id = l.record_id
             WHERE e.message_id = ?1 AND r.module = ?2"
        );
        for id in message_ids {
            let rows = self.rows(&sql, params![id, module], record_info)?;
            if let Some(newest) = rows.into_iter().max_by_key(|r| r.id) {
                return Ok(Some(newest));
            }
        }
        Ok(None)
    }

    fn by_number(&self, module: &str, number: &str) -> anyhow::Result<Option<RecordInfo>> {
        Ok(self.one(
            &format!(
                "SELECT {RECORD_COLS} FROM records r WHERE r.module = ?1 AND r.number = ?2 COLLATE NOCASE"
            ),
            params![module, number],
            record_info,
        )?)
    }

    fn by_field(&self, module: &str, field: &str, value: &str) -> anyhow::Result<Vec<RecordInfo>> {
        Ok(self.rows(
            &format!(
                "SELECT {RECORD_COLS} FROM records r
                 WHERE r.module = ?1 AND lower(trim(json_extract(r.fields, '$.' || json_quote(?2)))) = lower(trim(?3))
                 ORDER BY r.id"
            ),
            params![module, field, value],
            record_info,
        )?)
    }

    fn referenced_by(&self, module: &str, message_id: &str) -> anyhow::Result<Option<RecordInfo>> {
        let rows = self.rows(
            &format!(
                "SELECT {RECORD_COLS} FROM email_refs f
                 JOIN email_links l ON l.email_id = f.email_id
                 JOIN records r ON r.id = l.record_id
                 WHERE f.ref_id = ?1 AND r.module = ?2"
            ),
            params![message_id, module],
            record_info,
        )?;
        Ok(rows.into_iter().max_by_key(|r| r.id))
    }

    fn shared_reference(
        &self,
        module: &str,
        ids: &[String],
    ) -> anyhow::Result<Option<(RecordInfo, String)>> {
        let sql = format!(
            "SELECT {RECORD_COLS} FROM email_refs f
             JOIN email_links l ON l.email_id = f.email_id
             JOIN records r ON r.id = l.record_id
             WHERE f.ref_id = ?1 AND r.module = ?2
               AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.message_id = ?1)"
        );
        for id in ids {
            let rows = self.rows(&sql, params![id, module], record_info)?;
            if let Some(newest) = rows.into_iter().max_by_key(|r| r.id) {
                return Ok(Some((newest, id.clone())));
            }
        }
        Ok(None)
    }

    fn created_by_sender(&self, sender: &str, since: &str) -> anyhow::Result<u64> {
        let n: i64 = self
            .one(
                "SELECT count(*) FROM email_links l JOIN emails e ON e.id = l.email_id
                 WHERE l.op = 'created' AND e.sender = ?1 AND e.received_at >= ?2",
                params![sender, since],
                |r| r.get(0),
            )?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn related(&self, id: i64, kind: &str) -> anyhow::Result<Vec<RecordInfo>> {
        Ok(self.rows(
            &format!(
                "SELECT {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.to_id WHERE l.from_id = ?1 AND l.kind = ?2
                 UNION SELECT {RECORD_COLS} FROM record_links l JOIN records r ON r.id = l.from_id WHERE l.to_id = ?1 AND l.kind = ?2
                 ORDER BY 1"
            ),
            params![id, kind],
            record_info,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_email<'a>(key: &'a str, raw: &'a [u8]) -> NewEmail<'a> {
        NewEmail {
            dedupe_key: key,
            sha256: "h",
            received_at: "t",
            envelope_recipient: None,
            raw,
            sealed: false,
            filed: Filed {
                message_id: Some(key),
                status: "processed",
                ..Filed::default()
            },
        }
    }

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
            let results: Vec<Result<Sqlite>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Sqlite::open(&path)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            for r in results {
                let store = r.unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(store.version().expect("version"), MIGRATIONS.len());
            }
        }
    }

    /// A database of schema version 1 with data in every table is opened
    /// (and, once there are later versions, upgraded) with its data intact.
    #[test]
    fn opens_a_version_1_database_with_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("v1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO emails (dedupe_key, message_id, sha256, received_at, status, result)
                   VALUES ('<m@x>', '<m@x>', 'h', 't', 'processed', '{\"schema\":1}');
                 INSERT INTO message_chunks (email_id, seq, raw) VALUES (1, 0, x'0102');
                 INSERT INTO attachments (email_id, position, name, content_type, size, sha256, stored)
                   VALUES (1, 1, 'a.txt', 'text/plain', 3, 's', 1);
                 INSERT INTO records (module, number, email, fields, created_at, updated_at)
                   VALUES ('contacts', 'CON-1', 'a@x', '{\"name\":\"Ann\"}', 't', 't');
                 INSERT INTO sequences (module, last) VALUES ('contacts', 1);
                 INSERT INTO email_links (email_id, record_id, op) VALUES (1, 1, 'linked');",
            )
            .expect("rows");
        }
        let store = Sqlite::open(&path).expect("open");
        assert_eq!(store.version().expect("version"), MIGRATIONS.len());
        let r = store.reader();
        assert_eq!(r.raw(1).expect("raw"), Some(vec![1, 2]));
        assert_eq!(r.attachments(1).expect("attachments").len(), 1);
        assert_eq!(r.by_email("a@x").expect("query").len(), 1);
        assert_eq!(r.links_of(1).expect("links").len(), 1);
        assert_eq!(
            r.duplicate("<m@x>").expect("query"),
            Some((1, "{\"schema\":1}".into()))
        );
        drop(r);
        // Numbering goes on from the stored sequence.
        let mut store = store;
        let tx = store.begin().expect("begin");
        let (id, number) = tx
            .create_record("contacts", "CON-", None, &BTreeMap::new(), "t")
            .expect("record");
        assert_eq!((id, number.as_str()), (2, "CON-2"));
        // A deleted record's id is not given out again: its mailbox
        // address must not start filing to a new record.
        assert!(tx.delete_record(2).expect("delete"));
        let (id, _) = tx
            .create_record("contacts", "CON-", None, &BTreeMap::new(), "t")
            .expect("record");
        assert_eq!(id, 3);
        tx.commit().expect("commit");
    }

    /// A raw message longer than one chunk is stored in rows of
    /// `CHUNK_BYTES` and read back whole, byte for byte.
    #[test]
    fn a_large_raw_message_is_stored_in_chunks_and_read_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Sqlite::open(&dir.path().join("crm.db")).expect("open");
        let big: Vec<u8> = (0..CHUNK_BYTES * 2 + 1234)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        let tx = store.begin().expect("begin");
        let ids: Vec<i64> = [("<big@x>", &big[..]), ("<small@x>", &big[..100])]
            .iter()
            .map(|(key, raw)| tx.insert_email(&new_email(key, raw)).expect("insert"))
            .collect();
        tx.commit().expect("commit");
        let r = store.reader();
        assert_eq!(r.raw(ids[0]).expect("raw").as_deref(), Some(&big[..]));
        assert_eq!(r.raw(ids[1]).expect("raw").as_deref(), Some(&big[..100]));
        assert_eq!(r.raw(99).expect("raw"), None);
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
        assert_eq!(
            chunks(ids[0]),
            vec![(0, CHUNK_BYTES as i64), (1, CHUNK_BYTES as i64), (2, 1234)]
        );
        assert_eq!(chunks(ids[1]), vec![(0, 100)]);
    }

    #[test]
    fn the_oldest_record_of_a_module_is_found_by_one_index_seek() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Sqlite::open(&dir.path().join("crm.db")).expect("open");
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
            let mut store = Sqlite::open(&path).expect("open");
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
        let store = Sqlite::open(&path).expect("open");
        let all = store.reader().records(&RecordFilter::default());
        assert_eq!(all.expect("rows").len(), 800);
    }

    #[test]
    fn every_commit_is_synced_to_disk() {
        // What makes exit 0 safe: WAL with synchronous = FULL syncs the WAL
        // at every commit, so a committed mail survives a power loss.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Sqlite::open(&dir.path().join("d.db")).expect("open");
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
        let err = Sqlite::open(&path).err().expect("refused");
        assert!(
            err.to_string().contains("newer than this mailroom"),
            "{err}"
        );
        assert_eq!(err.kind, super::super::Kind::Later);
        let err = Sqlite::open_read_only(&path).err().expect("refused");
        assert!(
            err.to_string().contains("newer than this mailroom"),
            "{err}"
        );
    }

    #[test]
    fn driver_errors_are_one_line_and_may_pass_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the database file should be.
        let err = Sqlite::open(dir.path()).err().expect("refused");
        assert_eq!(err.kind, super::super::Kind::Later);
        let text = err.to_string();
        assert!(text.starts_with("cannot open database `"), "{text}");
        assert!(
            !text.contains('\n') && !text.contains("Error code"),
            "{text}"
        );
    }
}
