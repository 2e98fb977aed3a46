//! Apply: the store behind a seam. Routing asks it read-only questions
//! through [`Lookup`]; the pipeline files a message through a [`Tx`];
//! browsing reads through a [`Reader`]. [`open`] picks the backend for a
//! [`Location`] (a path: SQLite, [`sqlite`]; a `postgres://` URL:
//! PostgreSQL, [`postgres`]); nothing outside this folder names a database
//! driver, SQL or a pragma. Store errors are classified here ([`Error`]):
//! what may succeed later (exit 75, the MTA keeps the mail), what lost a
//! race and is run again at once ([`write`]), and what never will.
//!
//! May import `exit`, `mail`, `rules` and `route`.
//!
//! # Logical schema
//!
//! Every backend stores the same tables; ids are integers the store
//! assigns, times are RFC 3339 UTC text, JSON is text.
//!
//! - `emails`: one row per message received.
//!   - `id` (key); `dedupe_key` (unique): the Message-ID with angle
//!     brackets, or `sha256:<hex>` of the raw bytes when it has none;
//!     `message_id`; `sha256` of the raw bytes; `received_at`.
//!   - What it says: `sender` (From, normalised), `subject` (null when
//!     sealed), `date` (the Date header, RFC 3339), `envelope_recipient`
//!     (`--recipient`), `confidential` (boolean), `sealed` (boolean: its raw
//!     message is stored encrypted, age format).
//!   - What happened: `status` (processed, skipped, unparsed), `rule`,
//!     `action`, `class`, `bounce` and `verification` (JSON, what a
//!     delivery-status notification or a forwarding confirmation said),
//!     `result` (the JSON result printed for it, schema 1; a redelivery
//!     prints it again as a duplicate).
//! - `message_chunks`: the raw message, byte for byte, in chunks of at most
//!   [`CHUNK_BYTES`]: key (`email_id`, `seq` from 0). Headers and
//!   text are parsed again from it when shown; attachments are decoded
//!   from it on export.
//! - `email_refs`: key (`email_id`, `ref_id`): the Message-IDs a mail's
//!   In-Reply-To and References name (normalised, capped, without ids
//!   that identify nothing), so that replies filed before the mail they
//!   answer still find it.
//! - `attachments`: key (`email_id`, `position` from 1); `name`,
//!   `content_type`, `size`, `sha256` of the decoded content (null when it
//!   was over `limits.attachment_bytes`), `stored` (false then), `reason`.
//! - `records`: CRM records of every module in one table, so ids are global
//!   across modules: `id` (key), `module`, `number` (`<prefix><n>`, unique
//!   per module), `email` (primary email, normalised), `status` (open,
//!   closed, or what `records update` set), `fields` (a JSON object of
//!   text values), `created_at`, `updated_at`, `last_activity`,
//!   `confidential` (made from confidential mail), `sealed_fields` (its
//!   fields as JSON, encrypted, when they are kept only sealed). Ids are
//!   never given out again, even after a delete: a deleted record's
//!   mailbox address must not start filing to another.
//! - `sequences`: the last number given per module: key `module`, `last`.
//! - `email_links`: mail ↔ record, key (`email_id`, `record_id`), `op`
//!   (created, linked, updated, reopened).
//! - `record_links`: record → record, key (`from_id`, `to_id`, `kind`):
//!   `contact` (a case's or opportunity's contact), `related`, or the name
//!   of a body-rule lookup field.
//!
//! Lookups the router needs fast: records by (`email`, `module`), records
//! by (`module`, `number`), mail by `message_id`, links by `record_id`.
//!
//! - `mailroom_schema` (PostgreSQL only; SQLite keeps it in `PRAGMA
//!   user_version`): the schema version, one row.
//!
//! Each backend writes the schema in its own dialect: SQLite's `INTEGER`
//! and `BLOB`, PostgreSQL's `BIGINT`, `BOOLEAN` and `BYTEA`. Ids come from
//! `AUTOINCREMENT` and identity columns: neither gives an id out twice.
//!
//! # Transactions
//!
//! Every write is one transaction that takes its locks at its start and
//! holds them while routing reads, so two deliveries of one sender cannot
//! both create it, and routing sees every mail committed before. With
//! SQLite the lock is the database file's: one writer at a time. With
//! PostgreSQL, a delivery ([`Store::begin_delivery`]) locks what it is
//! about ([`claim`]: its sender, its Message-IDs, what its lookups ask
//! for), so deliveries about different things file at once; every other
//! write locks the whole store (see [`postgres`]). Below the locks, the
//! database itself refuses a second mail with one dedupe key (a unique
//! key; the insert says `ON CONFLICT DO NOTHING` and a conflict runs the
//! transaction again, which then finds the duplicate). Dropped without
//! [`Tx::commit`], a transaction is rolled back whole. A commit is durable
//! when it returns.
//!
//! # Compatibility
//!
//! Migrations are append-only and numbered alike in both dialects;
//! version 1 was the first schema, version 2 added sealing (`sealed`,
//! `confidential`, `sealed_fields`) and ids never reused, version 3
//! `email_refs`. A database newer than this program is refused rather
//! than misread.

pub mod claim;
pub mod copy;
mod pg_connect;
pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{Exit, Failure};
use crate::mail::message::Attachment;
use crate::mail::seal::Recipients;
use crate::route::lookup::{Lookup, RecordInfo};
use crate::route::plan::{Applied, Op, Plan, Target};

/// What a store failure means for the mail in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// May succeed later: busy past the timeout, locked, read-only, full,
    /// an I/O error, a database newer than this program or damaged (until
    /// it is restored). The MTA keeps the mail.
    Later,
    /// What was asked for does not exist; asking again will not change it.
    NotFound,
    /// The transaction lost a race with another one (a serialization
    /// failure, a deadlock, a dedupe key filed meanwhile): run it again
    /// ([`write`]). Past the retries it is [`Kind::Later`].
    Conflict,
    /// A delivery's lookup found what it looks for claimed by another
    /// delivery ([`claim`]): run it again at once, claiming that first, so
    /// that it waits its turn. Past the retries it is [`Kind::Later`].
    Reclaim,
}

/// A store failure, classified where it happened, as one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    message: String,
}

impl Error {
    pub fn later(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::Later,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::NotFound,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::Conflict,
            message: message.into(),
        }
    }

    pub fn reclaim(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::Reclaim,
            message: message.into(),
        }
    }

    /// The same failure, saying first what was being done.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }

    /// The exit code for it: 75 for what may succeed later, 66 for what
    /// does not exist.
    pub fn exit(&self) -> Exit {
        match self.kind {
            Kind::Later | Kind::Conflict | Kind::Reclaim => Exit::TempFail,
            Kind::NotFound => Exit::NoInput,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::new(e.exit(), e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::later(format!("stored JSON: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `.context(...)` for results whose error becomes a store [`Error`].
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.into().context(what()))
    }
}

/// The store error in an error's chain, if it came from the store.
pub fn error_in(error: &anyhow::Error) -> Option<&Error> {
    error.chain().find_map(|e| e.downcast_ref::<Error>())
}

/// A raw message is stored in rows of at most this many bytes, so the
/// database holds two copies of one chunk (512 KB), never of the whole
/// message.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Where a store lives: `--db` / `MAILROOM_DB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    File(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host/dbname`).
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else
    /// is a file path.
    pub fn parse(text: &OsStr) -> Location {
        match text.to_str() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Location::Postgres(url.to_string())
            }
            _ => Location::File(PathBuf::from(text)),
        }
    }
}

/// The location as it may be printed: a URL's password is replaced by
/// `***`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&postgres::redacted(url)),
        }
    }
}

/// Opens (creating if needed) the store at `location` and brings its
/// schema up to date.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    match location {
        Location::File(path) => Ok(Box::new(sqlite::Sqlite::open(path)?)),
        Location::Postgres(url) => Ok(Box::new(postgres::Postgres::open(url)?)),
    }
}

/// Opens the store at `location` without writing to it; a missing one is
/// an empty store in memory (`explain` and `--dry-run` write nothing).
pub fn open_read_only(location: &Location) -> Result<Box<dyn Store>> {
    match location {
        Location::File(path) => Ok(Box::new(sqlite::Sqlite::open_read_only(path)?)),
        Location::Postgres(url) => postgres::Postgres::open_read_only(url),
    }
}

/// How many times [`write`] runs a transaction that lost a race.
pub const ATTEMPTS: u32 = 6;

/// Runs `work` in a write transaction and commits it. A transaction that
/// lost a race with another ([`Kind::Conflict`]) is rolled back and run
/// again, after a pause that doubles from 10 ms (with jitter, so that two
/// losers do not meet again), up to [`ATTEMPTS`] times in all; then it
/// fails as [`Kind::Later`] (exit 75). Any other failure is returned at
/// once, with everything rolled back. With `delivery` (its [`claim`]
/// keys) the transaction is a delivery's ([`Store::begin_delivery`]); one
/// that must claim more first ([`Kind::Reclaim`]) is run again at once.
pub fn write<T>(
    store: &mut dyn Store,
    delivery: Option<&[String]>,
    mut work: impl FnMut(&dyn Tx) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut attempt = 1;
    loop {
        let begun = match delivery {
            Some(keys) => store.begin_delivery(keys),
            None => store.begin(),
        };
        let done = begun.map_err(anyhow::Error::from).and_then(|tx| {
            let value = work(&*tx)?;
            tx.commit()?;
            Ok(value)
        });
        match done {
            Err(e)
                if error_in(&e)
                    .is_some_and(|s| matches!(s.kind, Kind::Conflict | Kind::Reclaim)) =>
            {
                if attempt == ATTEMPTS {
                    let last = error_in(&e).map(ToString::to_string).unwrap_or_default();
                    return Err(Error::later(format!(
                        "gave up after {ATTEMPTS} attempts that each lost a race with another transaction: {last}"
                    ))
                    .into());
                }
                if error_in(&e).is_some_and(|s| s.kind == Kind::Conflict) {
                    std::thread::sleep(backoff(attempt));
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The pause before attempt `attempt + 1`: 10 ms doubling, plus up to as
/// much again at random.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(8);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base + (nanos ^ u64::from(std::process::id())) % base)
}

/// One connection to a store.
pub trait Store {
    /// Read-only queries, outside any transaction.
    fn reader(&self) -> Box<dyn Reader + '_>;
    /// Starts a write transaction, waiting for other writers up to the
    /// busy timeout.
    fn begin(&mut self) -> Result<Box<dyn Tx + '_>>;
    /// Starts a delivery's write transaction: as [`Store::begin`], but it
    /// holds off only the writers that claim one of `keys` ([`claim`]) or
    /// what its lookups and [`Tx::claim`] add, and every [`Store::begin`].
    fn begin_delivery(&mut self, keys: &[String]) -> Result<Box<dyn Tx + '_>>;
    /// After a delivery or a run: leaves the store quick to open for the
    /// next process. A failure changes nothing that was committed.
    fn housekeeping(&self) -> Result<()>;
    /// Before many large transactions in a row (`maildir`'s batches).
    fn prepare_for_batches(&self) -> Result<()>;
    /// Which backend this is, for messages: `sqlite` or `postgresql`.
    fn backend(&self) -> &'static str;
}

/// A write transaction. Dropped without [`Tx::commit`], everything in it is
/// rolled back.
pub trait Tx {
    /// Queries that see this transaction's writes.
    fn reader(&self) -> Box<dyn Reader + '_>;
    fn commit(self: Box<Self>) -> Result<()>;
    /// Claims `keys` ([`claim`]) for what a delivery is about to write, so
    /// that deliveries looking them up wait for this one's commit. Nothing
    /// for a transaction that holds the whole store.
    fn claim(&self, keys: &[String]) -> Result<()>;
    /// Inserts the mail row and its raw bytes; returns the mail's id. A
    /// mail with this dedupe key stored meanwhile (by a delivery the write
    /// lock did not hold off) is [`Kind::Conflict`]: the database's unique
    /// key refuses it, and the transaction run again finds the duplicate.
    fn insert_email(&self, e: &NewEmail) -> Result<i64>;
    /// Overwrites what a stored mail says and what was decided for it.
    fn refile(&self, email_id: i64, filed: &Filed) -> Result<()>;
    /// The Message-IDs a mail refers to (In-Reply-To, References), as
    /// routing counts them.
    fn set_refs(&self, email_id: i64, ids: &[String]) -> Result<()>;
    fn set_result(&self, email_id: i64, json: &str) -> Result<()>;
    /// What a bounce or a forwarding confirmation said, as JSON.
    fn set_notes(
        &self,
        email_id: i64,
        bounce: Option<&str>,
        verification: Option<&str>,
    ) -> Result<()>;
    /// Creates a record numbered `<prefix><n>` (n counted per module);
    /// returns its id and number.
    fn create_record(
        &self,
        module: &str,
        prefix: &str,
        email: Option<&str>,
        fields: &BTreeMap<String, String>,
        now: &str,
    ) -> Result<(i64, String)>;
    /// Merges fields into a record; `status` and `email` are its columns.
    /// A record that does not exist is [`Kind::NotFound`].
    fn update_record(&self, id: i64, changes: &BTreeMap<String, String>, now: &str) -> Result<()>;
    /// Marks a record as made from confidential mail; with `sealed_fields`
    /// (its fields as JSON, sealed) the fields are kept only sealed.
    fn set_confidential(&self, id: i64, sealed_fields: Option<&[u8]>) -> Result<()>;
    /// Sets a record's status; false when there is no such record.
    fn set_status(&self, id: i64, status: &str, now: &str) -> Result<bool>;
    /// Sets a record's field to `true` (`email_bounced`).
    fn set_flag(&self, id: i64, field: &str, now: &str) -> Result<()>;
    /// Links a mail to a record once (a second link is ignored) and bumps
    /// the record's last activity; returns the record. One that does not
    /// exist is [`Kind::NotFound`].
    fn link(&self, email_id: i64, record_id: i64, op: Op, now: &str) -> Result<RecordInfo>;
    /// Removes a mail's link to a record; false when there was none.
    fn unlink(&self, email_id: i64, record_id: i64) -> Result<bool>;
    /// Relates two records once.
    fn relate(&self, from: i64, to: i64, kind: &str) -> Result<()>;
    /// Deletes a record with its mail links and record links (never the
    /// mail itself); false when there is no such record.
    fn delete_record(&self, id: i64) -> Result<bool>;
    /// Moves every mail link and record link of `from` to `to` (links that
    /// `to` already has, and links between the two, are dropped).
    fn move_links(&self, from: i64, to: i64) -> Result<Moved>;
    /// Files attachment `position` (from 1) of a mail; `sha256` is `None`
    /// for one that was over the limit.
    fn insert_attachment(
        &self,
        email_id: i64,
        position: i64,
        attachment: &StoredAttachment,
        sha256: Option<&str>,
    ) -> Result<()>;

    // What `migrate-store` writes into an empty store ([`copy`]): rows as
    // they were, with their ids.

    fn import_record(&self, record: &RecordRow) -> Result<()>;
    fn import_sequence(&self, module: &str, last: i64) -> Result<()>;
    /// The mail row and its raw bytes.
    fn import_email(&self, email: &copy::EmailCopy) -> Result<()>;
    /// A mail ↔ record link, leaving the record's last activity as it is.
    fn import_link(&self, email_id: i64, record_id: i64, op: &str) -> Result<()>;
    /// Ids up to these are never given out (records, mail).
    fn reserve_ids(&self, records: i64, emails: i64) -> Result<()>;
}

/// Read queries over a store or a transaction: routing's [`Lookup`], and
/// what browsing shows. Lists come oldest first.
pub trait Reader: Lookup {
    /// The id and stored result of an earlier delivery with this dedupe key.
    fn duplicate(&self, dedupe_key: &str) -> Result<Option<(i64, String)>>;
    fn records(&self, filter: &RecordFilter) -> Result<Vec<RecordRow>>;
    fn record_row(&self, id: i64) -> Result<Option<RecordRow>>;
    /// Records of any module with this number (`CASE-12`), ignoring case.
    fn by_any_number(&self, number: &str) -> Result<Vec<RecordInfo>>;
    /// Mails linked to a record.
    fn emails_of(&self, record: i64) -> Result<Vec<EmailRow>>;
    /// Records related to a record, either direction, with the kind.
    fn relations_of(&self, record: i64) -> Result<Vec<(String, RecordInfo)>>;
    fn emails(&self, filter: &EmailFilter) -> Result<Vec<EmailRow>>;
    fn email(&self, id: i64) -> Result<Option<EmailDetail>>;
    /// Records a mail is linked to, with the op.
    fn links_of(&self, email: i64) -> Result<Vec<(String, RecordInfo)>>;
    fn attachments(&self, email: i64) -> Result<Vec<StoredAttachment>>;
    /// Attachment `position` (from 1) of a mail.
    fn attachment(&self, email: i64, position: i64) -> Result<Option<AttachmentRef>>;
    /// A mail's raw bytes, whole.
    fn raw(&self, email: i64) -> Result<Option<Vec<u8>>>;

    // What `migrate-store` reads ([`copy`]).

    /// Every mail's id, oldest first.
    fn email_ids(&self) -> Result<Vec<i64>>;
    /// A mail, every column, with its raw bytes.
    fn email_copy(&self, id: i64) -> Result<Option<copy::EmailCopy>>;
    /// The last number given per module.
    fn sequences(&self) -> Result<Vec<(String, i64)>>;
    /// The Message-IDs a mail refers to ([`Tx::set_refs`]).
    fn refs_of(&self, email: i64) -> Result<Vec<String>>;
    fn attachment_copies(&self, email: i64) -> Result<Vec<copy::AttachmentCopy>>;
    /// Every record → record link (from, to, kind).
    fn record_links(&self) -> Result<Vec<(i64, i64, String)>>;
    /// The highest ids given out so far: records (deleted ones count),
    /// mail.
    fn highest_ids(&self) -> Result<(i64, i64)>;
}

/// The statuses stored mail has (`duplicate` and `failed` are never
/// stored).
pub const STATUSES: &[&str] = &["processed", "skipped", "unparsed"];

/// One mail row as [`Tx::insert_email`] needs it.
pub struct NewEmail<'a> {
    pub dedupe_key: &'a str,
    pub sha256: &'a str,
    pub received_at: &'a str,
    pub envelope_recipient: Option<&'a str>,
    pub raw: &'a [u8],
    /// `raw` is sealed (confidential mail encrypted at rest).
    pub sealed: bool,
    pub filed: Filed<'a>,
}

/// What a mail says and what was decided for it: written when it is
/// filed, and again when it is filed anew ([`Tx::refile`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Filed<'a> {
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub date: Option<&'a str>,
    /// processed, skipped or unparsed.
    pub status: &'a str,
    pub rule: Option<&'a str>,
    pub action: Option<&'a str>,
    pub class: Option<&'a str>,
    pub confidential: bool,
}

/// What [`Tx::move_links`] moved from one record to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    /// Mails now linked to the record kept.
    pub mail: Vec<i64>,
    /// Records now related to the record kept.
    pub records: Vec<i64>,
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
    pub updated_at: String,
    pub last_activity: Option<String>,
    /// Made from confidential mail: its fields are shown only with
    /// `--reveal`.
    pub confidential: bool,
    /// Its fields as JSON, sealed; `fields` then holds only what was set
    /// by hand afterwards.
    #[serde(skip)]
    pub sealed_fields: Option<Vec<u8>>,
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
    /// The Date header, RFC 3339.
    pub date: Option<String>,
    /// Why it was skipped or handled other than its rule says (from its
    /// result).
    pub reason: Option<String>,
    /// Its raw message (and so its subject, text and attachment names)
    /// is stored sealed.
    pub sealed: bool,
}

/// One mail as `emails show` prints it (headers and text come from its
/// raw message).
#[derive(Debug, Clone)]
pub struct EmailDetail {
    pub row: EmailRow,
    pub envelope_recipient: Option<String>,
    /// Of the raw bytes.
    pub sha256: String,
    /// `{recipient, status}` of a delivery-status notification.
    pub bounce: Option<serde_json::Value>,
    pub result_json: String,
}

/// A stored attachment as `emails attachment` finds it; its content is
/// decoded from the raw message and checked against `sha256`.
#[derive(Debug, Clone)]
pub struct AttachmentRef {
    pub name: Option<String>,
    /// False when it was over `limits.attachment_bytes`: listed only.
    pub stored: bool,
    pub sha256: Option<String>,
}

/// Filters for `emails list` and `reprocess`; times are RFC 3339 UTC
/// (`2026-11-27T10:00:00Z`), as stored.
#[derive(Debug, Clone, Default)]
pub struct EmailFilter {
    /// Any of these; all when empty.
    pub statuses: Vec<String>,
    pub rule: Option<String>,
    pub class: Option<String>,
    /// Received at or after.
    pub since: Option<String>,
    /// Received before.
    pub until: Option<String>,
    pub from: Option<String>,
    pub limit: Option<u32>,
    /// Only mail that carried a forwarding-confirmation code or link.
    pub verification: bool,
    /// Oldest first (by id) instead of newest first.
    pub oldest_first: bool,
}

/// Filters for `records list`; oldest first.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub module: Option<String>,
    pub status: Option<String>,
    /// Created at or after (RFC 3339 UTC, as stored).
    pub since: Option<String>,
    pub limit: Option<u32>,
}

/// Executes a plan for the mail `email_id` inside `tx`: creates, flags,
/// notes, reopenings, links, relations. Records a confidential plan
/// creates are marked so, and sealed to `seal` when given. Returns the
/// records in the order they were linked. Nothing is committed.
pub fn apply(
    tx: &dyn Tx,
    plan: &Plan,
    email_id: i64,
    prefixes: &dyn Fn(&str) -> String,
    seal: Option<&Recipients>,
    now: &str,
) -> Result<Vec<Applied>> {
    let mut created = Vec::with_capacity(plan.creates.len());
    for r in &plan.creates {
        let (id, _) = tx.create_record(
            &r.module,
            &prefixes(&r.module),
            r.email.as_deref(),
            &r.fields,
            now,
        )?;
        // Records made from confidential mail are marked, and with
        // recipients to seal to, their fields are kept only sealed.
        if plan.confidential {
            let sealed = seal
                .map(|to| to.seal(&serde_json::to_vec(&r.fields).unwrap_or_default()))
                .transpose()
                .map_err(|e| Error::later(format!("cannot seal a confidential record: {e}")))?;
            tx.set_confidential(id, sealed.as_deref())?;
        }
        created.push(id);
    }
    let resolve = |t: Target| -> Result<i64> {
        match t {
            Target::Existing(id) => Ok(id),
            Target::New(i) => created
                .get(i)
                .copied()
                .ok_or_else(|| Error::later("plan refers to a record it does not create")),
        }
    };
    for (id, flag) in &plan.flags {
        tx.set_flag(*id, flag, now)?;
    }
    if plan.bounce.is_some() || plan.verification.is_some() {
        let bounce = plan
            .bounce
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let verification = plan
            .verification
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        tx.set_notes(email_id, bounce.as_deref(), verification.as_deref())?;
    }
    for id in &plan.reopen {
        tx.set_status(*id, "open", now)?;
    }
    let mut applied = Vec::with_capacity(plan.links.len());
    for link in &plan.links {
        let id = resolve(link.target)?;
        let record = tx
            .link(email_id, id, link.op, now)
            .map_err(|e| match e.kind {
                Kind::NotFound => Error::later(format!("record {id} vanished while filing")),
                _ => e,
            })?;
        applied.push(Applied {
            id,
            module: record.module,
            number: record.number,
            op: link.op,
        });
    }
    for rel in &plan.relations {
        tx.relate(resolve(rel.from)?, resolve(rel.to)?, &rel.kind)?;
    }
    Ok(applied)
}

/// Files the attachments of a mail: name, type, size and the SHA-256 of
/// the content, which is not copied (it is in the raw message, and `emails
/// attachment` decodes it from there and checks it against the SHA-256).
/// One over `limit` bytes is listed without a SHA-256 and cannot be
/// exported. The names of a sealed mail's attachments are not stored.
pub fn store_attachments(
    tx: &dyn Tx,
    email_id: i64,
    attachments: &[Attachment],
    limit: u64,
    sealed: bool,
) -> Result<Vec<StoredAttachment>> {
    let mut out = Vec::with_capacity(attachments.len());
    for (position, a) in (1_i64..).zip(attachments) {
        let over = a.size as u64 > limit;
        let sha = (!over).then(|| crate::mail::sha256_hex(&a.content));
        let stored = StoredAttachment {
            // A sealed mail's attachment names are in its sealed raw
            // message only.
            name: if sealed { None } else { a.name.clone() },
            content_type: a.content_type.clone(),
            size: a.size,
            stored: !over,
            reason: over.then(|| format!("larger than limits.attachment_bytes ({limit} bytes)")),
        };
        tx.insert_attachment(email_id, position, &stored, sha.as_deref())?;
        out.push(stored);
    }
    Ok(out)
}
