//! The integration tests, one binary (each binary links SQLite again):
//! a module per area, [`util`] for what they share and [`site`] for what
//! the tests of real mail programs share. They drive the real `mailroom`
//! executable over real messages (`fixtures/`, and the shared corpus at
//! `../shared/corpus`).

mod site;
mod util;

mod admin;
mod body_rules;
mod check;
mod classes;
mod cli;
mod concurrency;
mod conversations;
mod corpus;
mod corrections;
mod crash;
mod exim;
mod faults;
mod fetch;
mod fuzz;
mod hostile;
mod injection;
mod layers;
mod maildir;
mod mta;
mod parser_defects;
mod postfix;
mod postgres;
mod process;
mod readme;
mod regex_safety;
mod reprocess;
mod routing;
mod security;
mod syncs;
mod threading;
mod units;
