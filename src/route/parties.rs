//! Who a message is between (the mailroom's addresses, our own, the
//! customer) and the values rule conditions test.

use crate::mail::address::{self, Virtual};
use crate::mail::message::Email;
use crate::rules::condition::Facts;
use crate::rules::config::Config;

/// Who a message is between: the mailroom's addresses, the customer.
#[derive(Debug, Clone, Default)]
pub struct Parties {
    /// The recipients, normalised, in routing order (see `recipients`).
    pub recipients: Vec<String>,
    /// Virtual addresses among the trusted recipients (see
    /// [`trusted_recipients`]).
    pub virtuals: Vec<Virtual>,
    /// The first address in From, To, Cc that is neither ours nor the
    /// mailroom's.
    pub customer: Option<String>,
    pub customer_name: Option<String>,
    pub sender: Option<String>,
    /// The sender is one of `own_addresses`: our staff.
    pub staff: bool,
}

/// The recipient addresses in routing order: the envelope recipient the MTA
/// gave, Delivered-To, X-Original-To, then To and Cc. Bcc is never read.
fn recipients(email: &Email, envelope: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let header_addrs = email.to.iter().chain(&email.cc).map(|m| m.address.as_str());
    let all = envelope
        .into_iter()
        .chain(email.delivered_to.iter().map(String::as_str))
        .chain(email.x_original_to.iter().map(String::as_str))
        .chain(header_addrs);
    let mut seen = std::collections::HashSet::new();
    for a in all {
        let a = address::normalize(a);
        if !a.is_empty() && seen.insert(a.clone()) {
            out.push(a);
        }
    }
    out
}

fn envelope_count(email: &Email, envelope: Option<&str>) -> usize {
    envelope.iter().count() + email.delivered_to.len() + email.x_original_to.len()
}

/// The addresses trusted to name a virtual address (a suffix, a record's
/// mailbox): the envelope recipient when the MTA gave one; else the
/// topmost Delivered-To or X-Original-To, the one our own MTA added (a
/// sender can write any number below it); else To and Cc.
fn trusted_recipients(email: &Email, envelope: Option<&str>) -> Vec<String> {
    let topmost = envelope
        .or_else(|| email.delivered_to.first().map(String::as_str))
        .or_else(|| email.x_original_to.first().map(String::as_str));
    match topmost {
        Some(a) => vec![address::normalize(a)],
        None => email
            .to
            .iter()
            .chain(&email.cc)
            .map(|m| address::normalize(&m.address))
            .collect(),
    }
}

pub fn parties(email: &Email, envelope: Option<&str>, config: &Config) -> Parties {
    let recipients = recipients(email, envelope);
    let virtuals: Vec<Virtual> = trusted_recipients(email, envelope)
        .iter()
        .filter_map(|a| config.mailroom.parse(a))
        .collect();
    let n_env = envelope_count(email, envelope);
    let envelope_addrs: Vec<String> = envelope
        .into_iter()
        .chain(email.delivered_to.iter().map(String::as_str))
        .chain(email.x_original_to.iter().map(String::as_str))
        .map(address::normalize)
        .take(n_env)
        .collect();
    let is_mailroom = |a: &str| {
        if config.mailroom.handle.is_some() {
            config.mailroom.is_own(a)
        } else {
            // Without a handle any plus-address may be the mailroom's;
            // only the envelope says for sure.
            envelope_addrs.iter().any(|e| e == a) || config.mailroom.is_own(a)
        }
    };
    let is_ours = |a: &str| config.own_addresses.iter().any(|p| p.matches(a));
    let sender = email.from.first().map(|m| address::normalize(&m.address));
    let staff = sender.as_deref().is_some_and(is_ours);
    let mut customer = None;
    let mut customer_name = None;
    for (i, m) in email
        .from
        .iter()
        .chain(&email.to)
        .chain(&email.cc)
        .enumerate()
    {
        let a = address::normalize(&m.address);
        // The sender's own plus-address is still the sender.
        let mailroom = if i < email.from.len() && config.mailroom.handle.is_none() {
            envelope_addrs.contains(&a)
        } else {
            is_mailroom(&a)
        };
        if !a.contains('@') || mailroom || is_ours(&a) {
            continue;
        }
        customer = Some(a);
        customer_name = m.name.clone().filter(|n| !n.trim().is_empty());
        break;
    }
    Parties {
        recipients,
        virtuals,
        customer,
        customer_name,
        sender,
        staff,
    }
}

/// The per-message values rule conditions test; `parties` is
/// [`parties`] of the same message.
pub fn facts(email: &Email, parties: &Parties, class: &str) -> Facts {
    let addrs = |list: &[crate::mail::message::Mailbox]| {
        list.iter()
            .map(|m| address::normalize(&m.address))
            .collect()
    };
    let mut suffix: Vec<String> = Vec::new();
    for s in parties.virtuals.iter().filter_map(|v| v.suffix.as_ref()) {
        if !suffix.contains(s) {
            suffix.push(s.clone());
        }
    }
    Facts {
        from: addrs(&email.from),
        to: addrs(&email.to),
        cc: addrs(&email.cc),
        recipient: parties.recipients.clone(),
        suffix,
        subject: email.subject.clone(),
        body: email.text.clone(),
        headers: email.headers.clone(),
        attachments: email
            .attachments
            .iter()
            .filter_map(|a| a.name.clone())
            .collect(),
        class: class.to_string(),
    }
}
