//! Finding the record a mail follows up, in the order of the evidence:
//! the per-record address (in `decide`), In-Reply-To/References, reverse
//! references (a reply filed before the mail it answers), shared
//! references (replies to a mail never filed), a case number in the
//! subject; and what a follow-up does to the record it finds.

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

/// The ids of a mail that may be thread evidence: In-Reply-To first,
/// then References newest first, each once. Never its own Message-ID, nor
/// an id without `@` (`<yes>`, which `git send-email --in-reply-to=yes`
/// writes): those identify nothing.
pub fn evidence_ids(email: &Email) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in email
        .in_reply_to
        .iter()
        .chain(email.references.iter().rev())
    {
        let own = email.message_id.as_deref() == Some(id.as_str());
        if !own && id.contains('@') && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Whether `sender` may follow up `record` on weak evidence (a quoted
/// number, a shared unseen ancestor): the record's own email, one of its
/// contacts', or one of our own addresses.
fn trusted(sender: &str, record: &RecordInfo, config: &Config, store: &dyn Lookup) -> Result<bool> {
    if record.email.as_deref() == Some(sender)
        || config.own_addresses.iter().any(|p| p.matches(sender))
    {
        return Ok(true);
    }
    Ok(store
        .related(record.id, "contact")?
        .iter()
        .any(|c| c.email.as_deref() == Some(sender)))
}

/// Thread evidence for a case or an opportunity, first hit wins:
/// References/In-Reply-To, reverse references, shared references, and for
/// cases a case number in the subject. The weak ones (shared references, a
/// number) need a trusted sender ([`trusted`]); a stranger's mail gets a
/// new record related to the one it named (remembered in `plan.thread`).
pub(super) fn find_thread(
    plan: &mut Plan,
    email: &Email,
    module: &str,
    config: &Config,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<Option<(RecordInfo, Evidence)>> {
    let ids = evidence_ids(email);
    let answered = match &email.message_id {
        Some(mid) => store.referenced_by(module, mid)?,
        None => None,
    };
    if let Some(r) = thread_by_references(plan, &ids, module, store)? {
        // Answered by another record's mail too: one conversation in two
        // records. Related, and said, not merged.
        if let Some(other) = answered.filter(|o| o.id != r.id && o.is_open() && r.is_open()) {
            plan.thread_search.push(format!(
                "referenced by: mail of record {} answers this one too; records {} and {} are one conversation",
                other.id, r.id, other.id
            ));
            plan.relate(
                Target::Existing(r.id),
                Target::Existing(other.id),
                "related",
            );
            plan.joined.push(Thread {
                record_id: other.id,
                evidence: Evidence::ReferencedBy,
            });
        }
        return Ok(Some((r, Evidence::References)));
    }
    match (&email.message_id, answered) {
        (Some(mid), Some(r)) => {
            plan.thread_search.push(format!(
                "referenced by: mail of record {} names {mid}",
                r.id
            ));
            return Ok(Some((r, Evidence::ReferencedBy)));
        }
        (Some(mid), None) => plan
            .thread_search
            .push(format!("referenced by: no {module} mail names {mid}")),
        (None, _) => plan
            .thread_search
            .push("referenced by: the mail has no Message-ID".into()),
    }
    let sender = parties.sender.as_deref().unwrap_or_default();
    if let Some((r, id)) = store.shared_reference(module, &ids)? {
        if trusted(sender, &r, config, store)? {
            plan.thread_search.push(format!(
                "shared reference: {id}, which no stored mail is, is named by mail of record {}",
                r.id
            ));
            return Ok(Some((r, Evidence::SharedReference)));
        }
        plan.thread_search.push(format!(
            "shared reference: {id} is named by mail of record {}, but the sender is not its contact nor one of own_addresses; a new related record is created",
            r.id
        ));
        plan.thread = Some(Thread {
            record_id: r.id,
            evidence: Evidence::SharedReference,
        });
        return Ok(None);
    }
    plan.thread_search.push(if ids.is_empty() {
        "shared reference: none in the message".to_string()
    } else {
        format!(
            "shared reference: no {module} mail shares an unseen id among {}",
            shown(&ids)
        )
    });
    if module != "cases" {
        return Ok(None);
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
    if trusted(sender, &case, config, store)? {
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

/// The newest record of `module` linked to mail with one of `ids`.
fn thread_by_references(
    plan: &mut Plan,
    ids: &[String],
    module: &str,
    store: &dyn Lookup,
) -> Result<Option<RecordInfo>> {
    if ids.is_empty() {
        plan.thread_search
            .push("references: none in the message".into());
        return Ok(None);
    }
    let found = store.thread(module, ids)?;
    plan.thread_search.push(match &found {
        Some(r) => format!(
            "references: mail of record {} found among {}",
            r.id,
            shown(ids)
        ),
        None => format!("references: no {module} mail among {}", shown(ids)),
    });
    Ok(found)
}

/// Ids as `explain` lists them: the first ten, and how many more.
fn shown(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut out = ids
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if ids.len() > SHOWN {
        out.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    out
}
