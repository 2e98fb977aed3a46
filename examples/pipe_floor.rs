//! The floor under `mailroom process`: the least a delivery into SQLite can
//! do with the same durability, timed by `benches/pipe.py` beside mailroom
//! and procmail.
//!
//! ```sh
//! cargo build --release --examples
//! target/*/release/examples/pipe_floor DB < message.eml
//! ```
//!
//! It reads the message from stdin, opens DB in WAL mode with
//! `synchronous = FULL` (as `process` does), inserts the raw message and
//! its SHA-256 in one transaction, in rows of `store::CHUNK_BYTES` as
//! `process` stores it, and keeps the WAL short by the same rule as
//! `process` (`store::keep_wal_short`); a large message's WAL write-out is
//! started before the commit, as `process` starts it
//! (`store::start_writeback`), and the directory is synced when the WAL
//! may be new (`store::sync_directory_for_new_wal`). No
//! configuration, no parsing, no routing, no JSON: what is left is the
//! process start, the SQLite open and the durable commit.

use std::io::Read;

use mailroom::store::{
    CHUNK_BYTES, WAL_SIZE_LIMIT, WalWatch, keep_wal_short, start_writeback,
    sync_directory_for_new_wal,
};
use rusqlite::{Connection, config::DbConfig, params};
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let db = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: pipe_floor DB < message"))?;
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let sha = format!("{:x}", Sha256::digest(&raw));

    let wal = format!("{db}-wal");
    let at_open = std::fs::metadata(&wal).map_or(0, |m| m.len());
    let mut conn = Connection::open(&db)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -512;")?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    let watch = WalWatch::install(&mut conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, raw BLOB NOT NULL);
         CREATE TABLE IF NOT EXISTS floor_chunks (id INTEGER NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL, PRIMARY KEY (id, seq));",
    )?;
    sync_directory_for_new_wal(std::path::Path::new(&db), at_open);

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (head, rest) = raw.split_at(raw.len().min(CHUNK_BYTES));
    tx.execute(
        "INSERT INTO floor (sha256, raw) VALUES (?1, ?2)",
        params![sha, head],
    )?;
    let id = tx.last_insert_rowid();
    for (seq, chunk) in (1_i64..).zip(rest.chunks(CHUNK_BYTES)) {
        tx.execute(
            "INSERT INTO floor_chunks (id, seq, raw) VALUES (?1, ?2, ?3)",
            params![id, seq, chunk],
        )?;
    }
    // As `process` does for a large message: start the WAL's write-out
    // before the commit's fsync waits for it.
    if raw.len() >= mailroom::pipeline::OVERLAP_BYTES {
        start_writeback(std::path::Path::new(&wal));
    }
    tx.commit()?;

    keep_wal_short(&conn, &watch, true)?;
    println!("{{\"status\":\"stored\",\"sha256\":\"{sha}\"}}");
    // As `process` does: the exit, not a close, releases the database.
    std::mem::forget(conn);
    Ok(())
}
