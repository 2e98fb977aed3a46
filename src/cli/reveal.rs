//! `--reveal`: showing what confidential mail keeps back, and opening what
//! is stored sealed with `--identity`.

use std::cell::OnceCell;
use std::path::Path;

use crate::exit::Failure;
use crate::mail::seal::Identities;

/// What the command line allows to be shown.
pub struct Reveal<'a> {
    /// `--reveal` was given.
    pub on: bool,
    identity: Option<&'a Path>,
    identities: OnceCell<Identities>,
}

/// What confidential content shows as when it is kept back.
pub const REDACTED: &str = "(confidential)";

impl<'a> Reveal<'a> {
    pub fn new(on: bool, identity: Option<&'a Path>) -> Reveal<'a> {
        Reveal {
            on,
            identity,
            identities: OnceCell::new(),
        }
    }

    /// Opens sealed content of `what` (`mail 3`); a usage error without
    /// `--identity`, a data error when it does not open.
    pub fn open(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, Failure> {
        let Some(path) = self.identity else {
            return Err(Failure::usage(format!(
                "{what} is stored encrypted: --reveal needs --identity FILE (an age identity)"
            )));
        };
        let identities = match self.identities.get() {
            Some(i) => i,
            None => {
                let loaded = Identities::read(path).map_err(Failure::usage)?;
                self.identities.get_or_init(|| loaded)
            }
        };
        identities
            .open(sealed)
            .map_err(|e| Failure::data(format!("cannot open {what}: {e}")))
    }

    /// Refuses to export confidential content without `--reveal`.
    pub fn allow(&self, what: &str, confidential: bool) -> Result<(), Failure> {
        if confidential && !self.on {
            return Err(Failure::usage(format!(
                "{what} is confidential: --reveal exports it"
            )));
        }
        Ok(())
    }
}
