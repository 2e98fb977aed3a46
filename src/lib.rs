//! mailroom files incoming email into a small CRM database by ordered YAML
//! rules.
//!
//! Data flows one way, and each layer imports only the ones before it:
//!
//! | layer | owns |
//! |---|---|
//! | [`exit`], [`clock`] | exit codes and the error that carries one; time |
//! | [`mail`] | read and parse: bytes → [`mail::message::Email`] |
//! | [`rules`] | YAML → [`rules::Config`] |
//! | [`route`] | Email + Config + [`route::lookup::Lookup`] → [`route::plan::Plan`], pure |
//! | [`store`] | apply: the store traits, the logical schema, the SQLite backend |
//! | [`report`] | the JSON result of one message |
//! | [`pipeline`] | one message end to end |
//! | [`reprocess`] | stored mail filed again |
//! | [`maildir`] | a whole Maildir, many messages per transaction |
//! | [`cli`] | the command line, browsing, output |

pub mod cli;
pub mod clock;
pub mod exit;
pub mod mail;
pub mod maildir;
pub mod pipeline;
pub mod report;
pub mod reprocess;
pub mod route;
pub mod rules;
pub mod store;
