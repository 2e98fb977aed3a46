//! Read and parse: raw bytes in, an owned [`message::Email`] out. Owns the
//! size-capped read ([`input`]), the parse and its workarounds for
//! mail-parser ([`message`]; the only user of mail-parser), address
//! normalisation and virtual addresses ([`address`]), and the classes of
//! mail that is not a person writing ([`classify`]).
//!
//! The bottom layer: imports only `exit`.

pub mod address;
pub mod classify;
pub mod input;
pub mod message;
mod quirks;
pub mod seal;

use sha2::{Digest, Sha256};

/// The SHA-256 of some bytes, as lower-case hex: a message without a
/// Message-ID is deduplicated by it, and an exported attachment is
/// checked against it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}
