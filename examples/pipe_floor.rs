//! The floor under `mailroom process`: the least a delivery into SQLite can
//! do with the same durability, timed by `benches/pipe.py` beside mailroom
//! and procmail.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/pipe_floor DB < message.eml
//! ```
//!
//! It reads the message from stdin, opens DB in WAL mode with
//! `synchronous = FULL` and no checkpoint on close (as `process` does),
//! inserts the raw message and its SHA-256 in one `BEGIN IMMEDIATE`
//! transaction, in rows of `store::sqlite::CHUNK_BYTES` as `process` stores it, and
//! truncates the WAL past `store::sqlite::WAL_SIZE_LIMIT` as `process` does. No
//! configuration, no parsing, no routing, no JSON: what is left is the
//! process start, the SQLite open and the durable commit.

use std::io::Read;

use mailroom::store::CHUNK_BYTES;
use mailroom::store::sqlite::WAL_SIZE_LIMIT;
use rusqlite::{Connection, config::DbConfig, params};
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let db = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: pipe_floor DB < message"))?;
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let sha = format!("{:x}", Sha256::digest(&raw));

    let mut conn = Connection::open(&db)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -512;")?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE);
         CREATE TABLE IF NOT EXISTS floor_chunks (id INTEGER NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL, PRIMARY KEY (id, seq));",
    )?;

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute("INSERT INTO floor (sha256) VALUES (?1)", params![sha])?;
    let id = tx.last_insert_rowid();
    for (seq, chunk) in (0_i64..).zip(raw.chunks(CHUNK_BYTES)) {
        tx.execute(
            "INSERT INTO floor_chunks (id, seq, raw) VALUES (?1, ?2, ?3)",
            params![id, seq, chunk],
        )?;
    }
    tx.commit()?;

    let wal = format!("{db}-wal");
    if std::fs::metadata(&wal).map_or(0, |m| m.len()) > WAL_SIZE_LIMIT {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    println!("{{\"status\":\"stored\",\"sha256\":\"{sha}\"}}");
    Ok(())
}
