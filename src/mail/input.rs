//! Reading one raw message, size-capped, from stdin or a file.

use std::io::Read;
use std::path::Path;

use anyhow::anyhow;

use crate::exit::{Exit, Failure};

/// Reads at most `limit` bytes; more, or nothing at all, is permanently
/// unacceptable (exit 65). Only `limit + 1` bytes are ever held.
pub fn read(mut from: impl Read, what: &str, limit: u64) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    from.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(Exit::TempFail, anyhow!("cannot read {what}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(Failure::new(
            Exit::DataErr,
            anyhow!("{what}: message larger than limits.message_bytes ({limit} bytes)"),
        ));
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::new(
            Exit::DataErr,
            anyhow!("{what}: empty message"),
        ));
    }
    Ok(buf)
}

pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    let what = format!("`{}`", path.display());
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::new(Exit::NoInput, anyhow!("cannot open {what}: {e}")))?;
    read(file, &what, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_size_and_rejects_empty() {
        assert_eq!(
            read(&b"abc"[..], "stdin", 3).map_err(|f| f.exit).ok(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read(&b"abcd"[..], "stdin", 3).err().map(|f| f.exit),
            Some(Exit::DataErr)
        );
        assert_eq!(
            read(&b" \r\n"[..], "stdin", 3).err().map(|f| f.exit),
            Some(Exit::DataErr)
        );
    }
}
