//! Finding the record a mail follows up: the per-record address, then
//! In-Reply-To/References, then a case number in the subject (with the
//! sender guard); and what a follow-up does to the record it finds.

use anyhow::Result;

use crate::mail::message::Email;
use crate::route::lookup::{Lookup, RecordInfo};
use crate::route::parties::Parties;
use crate::route::plan::{Evidence, Op, Plan, Target, Thread};
use crate::rules::config::{ClosedPolicy, Config};

/// The subject without reply and forward prefixes (`Re:`, `Fwd:`, `AW:`,
/// `SV:`, `Re[2]:`, …), repeated.
pub fn clean_subject(subject: &str) -> String {
    const PREFIXES: &[&str] = &["re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "r", "tr"];
    let mut s = subject.trim();
    while let Some((head, rest)) = s.split_once(':') {
        let word = head.trim_end();
        let word = match word.find('[') {
            Some(i)
                if word.ends_with(']')
                    && word[i + 1..word.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_digit()) =>
            {
                &word[..i]
            }
            _ => word,
        };
        if PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
            s = rest.trim_start();
        } else {
            break;
        }
    }
    s.to_string()
}

/// Files a follow-up to `record`: linked, and a closed one reopened (as
/// `cases.closed` says), except by our own staff (`staff`), whose replies
/// link without reopening unless `cases.staff_reopens`.
pub(super) fn follow_up(
    plan: &mut Plan,
    config: &Config,
    record: &RecordInfo,
    evidence: Evidence,
    staff: bool,
) {
    plan.thread = Some(Thread {
        record_id: record.id,
        evidence,
    });
    let target = Target::Existing(record.id);
    if record.is_open() {
        plan.link(target, Op::Updated);
    } else if staff && !config.cases.staff_reopens {
        plan.link(target, Op::Linked);
        plan.thread_search.push(format!(
            "record {} is {} and stays so: the reply is from one of own_addresses",
            record.id, record.status
        ));
    } else if record.module == "cases" && config.cases.closed == ClosedPolicy::LinkOnly {
        plan.link(target, Op::Linked);
    } else {
        plan.link(target, Op::Reopened);
        plan.reopen.push(record.id);
    }
}

/// Thread evidence for a case, first hit wins: References/In-Reply-To,
/// then a case number in the subject (with the sender guard).
pub(super) fn find_case(
    plan: &mut Plan,
    email: &Email,
    config: &Config,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<Option<(RecordInfo, Evidence)>> {
    if let Some(r) = thread_by_references(plan, email, "cases", store)? {
        return Ok(Some((r, Evidence::References)));
    }
    let Some(n) = config.cases.number_in(&email.subject) else {
        plan.thread_search.push("subject: no case number".into());
        return Ok(None);
    };
    let number = format!("{}{n}", config.cases.prefix);
    let Some(case) = store.by_number("cases", &number)? else {
        plan.thread_search
            .push(format!("subject: {number} does not exist"));
        return Ok(None);
    };
    let sender = parties.sender.as_deref().unwrap_or_default();
    let mut trusted = case.email.as_deref() == Some(sender)
        || config.own_addresses.iter().any(|p| p.matches(sender));
    if !trusted {
        trusted = store
            .related(case.id, "contact")?
            .iter()
            .any(|c| c.email.as_deref() == Some(sender));
    }
    if trusted {
        plan.thread_search
            .push(format!("subject: {number} found (record {})", case.id));
        Ok(Some((case, Evidence::Subject)))
    } else {
        plan.thread_search.push(format!(
            "subject: {number} found, but the sender is not its contact nor one of own_addresses; a new related case is created"
        ));
        plan.warnings.push(format!("subject quotes {number} but the sender is not its contact; created a new case related to it"));
        // Remembered so the new case can be related to the quoted one.
        plan.thread = Some(Thread {
            record_id: case.id,
            evidence: Evidence::Subject,
        });
        Ok(None)
    }
}

pub(super) fn thread_by_references(
    plan: &mut Plan,
    email: &Email,
    module: &str,
    store: &dyn Lookup,
) -> Result<Option<RecordInfo>> {
    let mut ids: Vec<String> = email.in_reply_to.clone();
    for r in email.references.iter().rev() {
        if !ids.contains(r) {
            ids.push(r.clone());
        }
    }
    if ids.is_empty() {
        plan.thread_search
            .push("references: none in the message".into());
        return Ok(None);
    }
    let found = store.thread(module, &ids)?;
    plan.thread_search.push(match &found {
        Some(r) => format!("references: mail of record {} found", r.id),
        None => format!("references: no {module} mail among {} id(s)", ids.len()),
    });
    Ok(found)
}
