//! mailroom files incoming email into a small CRM database by ordered YAML
//! rules.
//!
//! Data flows one way: [`input`] → [`message`] (parse) → [`route`] (pure,
//! returns a [`plan::Plan`]) → [`store`] (apply, one transaction) →
//! [`report`] (JSON). [`pipeline`] wires them for one message; [`app`]
//! turns a command line into an exit code. [`maildir`] and [`sweep`] run a
//! whole Maildir through the same pipeline, many messages per transaction.

pub mod address;
pub mod app;
pub mod body_fields;
pub mod body_rule;
pub mod browse;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod condition;
pub mod config;
pub mod exit;
pub mod explain;
pub mod input;
pub mod locate;
pub mod maildir;
pub mod message;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod route;
pub mod signals;
pub mod store;
pub mod sweep;
