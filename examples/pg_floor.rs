//! The floor under `mailroom process` on PostgreSQL: the least a delivery
//! into PostgreSQL can do, timed by `benches/postgres.py` beside mailroom.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/pg_floor URL < message.eml
//! ```
//!
//! It reads the message from stdin, connects to URL with the same client
//! library (the `postgres` crate) and the same authentication as
//! mailroom, inserts the raw message and its SHA-256 in one transaction,
//! in rows of `store::CHUNK_BYTES` as `process` stores it, and commits.
//! No configuration, no schema check, no lock, no parsing, no routing, no
//! JSON: what is left is the process start, the connection and the
//! durable commit. The tables are the bench script's to make:
//!
//! ```sql
//! CREATE TABLE floor (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE);
//! CREATE TABLE floor_chunks (id BIGINT NOT NULL, seq INT NOT NULL, raw BYTEA NOT NULL, PRIMARY KEY (id, seq));
//! ```

use std::io::Read;

use mailroom::store::CHUNK_BYTES;
use postgres::types::Type;
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: pg_floor URL < message"))?;
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let sha = format!("{:x}", Sha256::digest(&raw));

    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let mut tx = client.transaction()?;
    // Unnamed statements with their types, one round trip each, as
    // mailroom sends them.
    let rows = tx.query_typed(
        "INSERT INTO floor (sha256) VALUES ($1) RETURNING id",
        &[(&sha, Type::TEXT)],
    )?;
    let id: i64 = rows.first().ok_or_else(|| anyhow::anyhow!("no id"))?.get(0);
    for (seq, chunk) in (0_i32..).zip(raw.chunks(CHUNK_BYTES)) {
        tx.query_typed(
            "INSERT INTO floor_chunks (id, seq, raw) VALUES ($1, $2, $3)",
            &[(&id, Type::INT8), (&seq, Type::INT4), (&chunk, Type::BYTEA)],
        )?;
    }
    tx.commit()?;
    println!("{{\"status\":\"stored\",\"sha256\":\"{sha}\"}}");
    Ok(())
}
