//! The rules: YAML in, a compiled [`Config`] out. Owns the configuration's
//! types and built-in defaults ([`config`]), loading with every problem
//! named `file:line:column` ([`load`]; the only user of the YAML crate),
//! finding a YAML node's position ([`locate`]), rule conditions and their
//! operators ([`condition`]), and the `Label: value` pairs of body rules
//! ([`body_rule`]).
//!
//! May import `mail`.

pub mod body_rule;
pub mod condition;
pub mod config;
pub mod load;
pub mod locate;

pub use config::Config;
