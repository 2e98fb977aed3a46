//! `mailroom maildir`: a whole Maildir through the pipeline. [`folder`]
//! owns the folder (which messages wait, in what order, where each goes
//! once stored, the run lock); [`sweep`] owns the run (worker threads read
//! and parse, one writer files group-committed batches).
//!
//! May import `exit`, `mail`, `rules`, `route`, `store`, `report` and
//! `pipeline`.

pub mod folder;
pub mod sweep;

pub use folder::{Scan, lock, scan};
