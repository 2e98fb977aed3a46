//! The command line: clap's types ([`args`]), from a command to an exit
//! code ([`app`]), mail ([`browse`]) and records ([`records`]), the readable
//! `explain` ([`explain`]), `body-rule learn` ([`learn`]), man pages
//! ([`man`]), the `maildir`
//! progress bar ([`progress`]), tables and JSON on stdout ([`output`]),
//! and signal dispositions ([`signals`]).
//!
//! The top layer: may import everything.

pub mod app;
pub mod args;
pub mod browse;
pub mod explain;
pub mod learn;
pub mod man;
pub mod output;
pub mod progress;
pub mod records;
pub mod reveal;
pub mod signals;
