//! Encryption at rest for confidential mail, in the age format: what is
//! sealed to the configured recipients (`confidential.encrypt_to`) can be
//! opened only with one of their identities (`--identity FILE`, as made by
//! `age-keygen`). The only user of the age crate.

use std::io::{Read, Write};
use std::str::FromStr;

use age::x25519;

/// The recipients confidential content is sealed to.
#[derive(Clone)]
pub struct Recipients(Vec<x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipients({} key(s))", self.0.len())
    }
}

impl Recipients {
    /// Parses age recipients (`age1...`); the error names the bad one.
    pub fn parse(keys: &[String]) -> Result<Recipients, String> {
        let parsed = keys
            .iter()
            .map(|k| {
                x25519::Recipient::from_str(k.trim())
                    .map_err(|e| format!("`{k}` is not an age recipient (age1...): {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err("`encrypt_to` needs at least one age recipient".into());
        }
        Ok(Recipients(parsed))
    }

    /// `plaintext` sealed (binary age format).
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let recipients = self.0.iter().map(|r| r as &dyn age::Recipient);
        let encryptor = age::Encryptor::with_recipients(recipients).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(plaintext.len() + 256);
        let mut writer = encryptor.wrap_output(&mut out).map_err(|e| e.to_string())?;
        writer
            .write_all(plaintext)
            .and_then(|()| writer.finish().map(|_| ()))
            .map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// The identities that open sealed content.
pub struct Identities(Vec<Box<dyn age::Identity>>);

impl Identities {
    /// Reads an age identity file (`AGE-SECRET-KEY-1...` lines, `#`
    /// comments), as `age-keygen -o FILE` writes it.
    pub fn read(path: &std::path::Path) -> Result<Identities, String> {
        let shown = path.display();
        let file = age::IdentityFile::from_file(path.display().to_string())
            .map_err(|e| format!("cannot read identity file `{shown}`: {e}"))?;
        let identities = file
            .into_identities()
            .map_err(|e| format!("identity file `{shown}`: {e}"))?;
        if identities.is_empty() {
            return Err(format!("identity file `{shown}` holds no identity"));
        }
        Ok(Identities(identities))
    }

    /// What `sealed` holds; an error when none of the identities is one of
    /// its recipients, or it is not sealed content.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let decryptor = age::Decryptor::new_buffered(sealed).map_err(|e| e.to_string())?;
        let mut reader = decryptor
            .decrypt(self.0.iter().map(|i| i.as_ref()))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => {
                    "the identity is not one it was sealed to".to_string()
                }
                other => other.to_string(),
            })?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn what_is_sealed_opens_only_with_its_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = x25519::Identity::generate();
        let theirs = x25519::Identity::generate();
        let write = |name: &str, id: &x25519::Identity| {
            let path = dir.path().join(name);
            std::fs::write(
                &path,
                format!("# a comment\n{}\n", id.to_string().expose_secret()),
            )
            .expect("write");
            path
        };
        let recipients = Recipients::parse(&[ours.to_public().to_string()]).expect("recipients");
        let sealed = recipients
            .seal(b"Subject: secret\r\n\r\nplans")
            .expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        let opened = Identities::read(&write("ours", &ours))
            .expect("identity")
            .open(&sealed)
            .expect("open");
        assert_eq!(opened, b"Subject: secret\r\n\r\nplans");
        let wrong = Identities::read(&write("theirs", &theirs)).expect("identity");
        assert!(wrong.open(&sealed).is_err());
        assert!(wrong.open(b"not sealed").is_err());
        assert!(Recipients::parse(&["age1nope".into()]).is_err());
        assert!(Recipients::parse(&[]).is_err());
        assert!(Identities::read(&dir.path().join("missing")).is_err());
    }
}
