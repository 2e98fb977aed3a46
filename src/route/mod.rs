//! Route: one [`Email`](crate::mail::message::Email) and the
//! [`Config`](crate::rules::Config) in, a [`Plan`](plan::Plan) out, pure.
//! The store is asked read-only questions through [`lookup::Lookup`]; no
//! clock, no writes. `--dry-run` and `explain` are this layer without
//! `apply`.
//!
//! - [`decide`]: the message's class and facts, the first matching rule.
//! - [`actions`]: what each action plans (archive, create_case, ...).
//! - [`thread`]: the record a follow-up belongs to, and the evidence.
//! - [`parties`]: who the mail is between; the values conditions test.
//! - [`body_fields`]: a body rule applied to one mail.
//! - [`plan`]: the plan, and what applying it did ([`plan::Applied`]).
//!
//! May import `mail` and `rules`.

pub mod actions;
pub mod body_fields;
pub mod decide;
pub mod lookup;
pub mod parties;
pub mod plan;
pub mod thread;

pub use decide::{Analysis, analyse, decide, decide_analysed, explain};
