//! `mailroom reprocess`: stored mail through the current config again.
//!
//! Each mail is one transaction. Mail that created nothing (skipped,
//! unparsed) is simply routed again. Processed mail is filed again only
//! when asked (`redo`): first its own effects are undone — its links go,
//! and the records it created go too unless other mail, or a record it did
//! not create, refers to them (those are kept and reported). Then it is
//! routed as if it had just arrived, with the envelope recipient it came
//! with. What cannot be undone is not: a record it reopened stays open, a
//! bounce flag stays set, and record numbers are not given out again.
//!
//! When the new decision is the one already stored (same status, rule and
//! action, the same links to the same records, records to create equal to
//! the ones it would delete), nothing is written: a second identical
//! reprocess changes nothing. A dry run does all of it in a transaction
//! that is rolled back.
//!
//! May import `exit`, `mail`, `rules`, `route`, `store`, `report` and
//! `pipeline`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, anyhow};
use serde::Serialize;

use crate::mail::seal::Identities;
use crate::pipeline::{Filing, Parsed, preview};
use crate::report::{RecordJson, Report, Status};
use crate::route::lookup::RecordInfo;
use crate::route::plan::{Op, Plan, Target};
use crate::rules::Config;
use crate::store::{self, RecordRow, Store, Tx};

/// How a run behaves, from the command line.
pub struct Options<'a> {
    pub config: &'a Config,
    pub now: &'a str,
    /// File processed mail again, undoing what it did first.
    pub redo: bool,
    /// Roll every transaction back.
    pub dry_run: bool,
    /// What opens mail stored sealed; without it such mail is not tried.
    pub identities: Option<&'a Identities>,
}

/// What was stored for the mail before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Before {
    pub status: String,
    pub rule: Option<String>,
    pub action: Option<String>,
}

/// A record kept although the mail being filed again created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub reason: String,
}

/// What was undone before the mail was routed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Undone {
    /// Records the mail was linked to.
    pub unlinked: Vec<RecordJson>,
    /// Records it had created that nothing else refers to.
    pub deleted: Vec<RecordJson>,
    /// Records it had created that something else refers to.
    pub kept: Vec<Kept>,
}

/// One mail's line of `reprocess` output.
#[derive(Debug, Clone, Serialize)]
pub struct Refiled {
    pub email_id: i64,
    pub before: Before,
    /// The mail's JSON result now: the stored one when nothing changed, a
    /// preview in a dry run.
    pub result: Report,
    pub undone: Undone,
    pub changed: bool,
    /// Why nothing was tried, if so.
    pub note: Option<String>,
    pub dry_run: bool,
}

fn record_json(r: &RecordInfo, op: Op) -> RecordJson {
    RecordJson {
        id: Some(r.id),
        module: r.module.clone(),
        number: r.number.clone(),
        op,
    }
}

/// Files stored mail `id` again; see the module doc.
pub fn one(store: &mut dyn Store, id: i64, options: &Options) -> Result<Refiled> {
    let (detail, raw) = {
        let reader = store.reader();
        let detail = reader
            .email(id)?
            .ok_or_else(|| store::Error::not_found(format!("no mail with id {id}")))?;
        let raw = reader
            .raw(id)?
            .ok_or_else(|| anyhow!("mail {id} has no stored raw message"))?;
        (detail, raw)
    };
    let stored = Report::from_json(&detail.result_json).unwrap_or_else(|| {
        let mut r = Report::empty(Status::Failed);
        r.reason = Some("the stored result cannot be read".into());
        r
    });
    let before = Before {
        status: detail.row.status.clone(),
        rule: detail.row.rule.clone(),
        action: detail.row.action.clone(),
    };
    let mut refiled = Refiled {
        email_id: id,
        before,
        result: stored,
        undone: Undone::default(),
        changed: false,
        note: None,
        dry_run: options.dry_run,
    };
    let processed = detail.row.status == "processed";
    if processed && !options.redo {
        refiled.note = Some("processed mail is filed again only with --redo".into());
        return Ok(refiled);
    }
    let raw = match (detail.row.sealed, options.identities) {
        (false, _) => raw,
        (true, Some(identities)) => identities
            .open(&raw)
            .map_err(|e| anyhow!("mail {id} is stored encrypted and does not open: {e}"))?,
        (true, None) => {
            refiled.note = Some("stored encrypted: reprocess needs --identity FILE".into());
            return Ok(refiled);
        }
    };
    let filing = Filing {
        config: options.config,
        envelope: detail.envelope_recipient.as_deref(),
        now: options.now,
    };
    let parsed = filing.prepare(&raw);
    let tx = store.begin()?;
    // Only processed mail has effects of its own to undo; links made by
    // hand to mail that was skipped stay.
    let old_links = if processed {
        tx.reader().links_of(id)?
    } else {
        Vec::new()
    };
    let (undone, mut deleted) = undo(&*tx, id, &old_links)?;
    // Sealed fields are compared as what they hold.
    for row in &mut deleted {
        if let (Some(sealed), Some(identities)) = (&row.sealed_fields, options.identities)
            && let Ok(opened) = identities.open(sealed)
            && let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&opened)
        {
            if let Some(clear) = row.fields.as_object() {
                fields.extend(clear.clone());
            }
            row.fields = serde_json::Value::Object(fields);
        }
    }
    let plan = filing.decide(&*tx.reader(), &parsed)?;
    if same_decision(
        &refiled.before,
        &old_links,
        &deleted,
        plan.as_ref(),
        &parsed,
    ) {
        // Nothing to change: the transaction is rolled back.
        return Ok(refiled);
    }
    refiled.undone = undone;
    refiled.changed = true;
    if options.dry_run {
        refiled.result = match (parsed.email(), &plan) {
            (Some(email), Some(plan)) => preview(options.config, &*tx.reader(), email, plan),
            _ => Report::empty(Status::Unparsed),
        };
        refiled.result.email_id = Some(id);
        refiled.result.dry_run = true;
        return Ok(refiled);
    }
    let mut filed = parsed.filed(plan.as_ref());
    if detail.row.sealed {
        // Its subject stays in the sealed raw message only.
        filed.subject = None;
    }
    tx.refile(id, &filed)?;
    let has_attachments = !tx.reader().attachments(id)?.is_empty();
    refiled.result = filing.apply(&*tx, id, &parsed, plan.as_ref(), !has_attachments)?;
    tx.commit()?;
    Ok(refiled)
}

/// Removes the mail's links and the records it created that nothing else
/// refers to; returns what was done and the rows of the deleted records.
fn undo(tx: &dyn Tx, id: i64, links: &[(String, RecordInfo)]) -> Result<(Undone, Vec<RecordRow>)> {
    let mut undone = Undone::default();
    for (op, r) in links {
        tx.unlink(id, r.id)?;
        let op = if op == "created" {
            Op::Created
        } else {
            Op::Linked
        };
        undone.unlinked.push(record_json(r, op));
    }
    let created: BTreeSet<i64> = links
        .iter()
        .filter(|(op, _)| op == "created")
        .map(|(_, r)| r.id)
        .collect();
    let reader = tx.reader();
    // A created record stays when other mail is linked to it, or a record
    // this mail did not create is related to it, or (in turn) a record
    // that stays is.
    let mut kept: BTreeMap<i64, String> = BTreeMap::new();
    let mut relations: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &r in &created {
        let mails = reader.emails_of(r)?;
        let related: Vec<i64> = reader
            .relations_of(r)?
            .into_iter()
            .map(|(_, o)| o.id)
            .collect();
        if let Some(m) = mails.first() {
            kept.insert(r, format!("mail {} is linked to it", m.id));
        } else if let Some(o) = related.iter().find(|o| !created.contains(o)) {
            kept.insert(r, format!("record {o} is related to it"));
        }
        relations.insert(r, related);
    }
    loop {
        let more: Vec<(i64, i64)> = relations
            .iter()
            .filter(|(r, _)| !kept.contains_key(r))
            .filter_map(|(r, related)| {
                related
                    .iter()
                    .find(|o| kept.contains_key(o))
                    .map(|o| (*r, *o))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        for (r, o) in more {
            kept.insert(r, format!("record {o}, which stays, is related to it"));
        }
    }
    let mut deleted = Vec::new();
    for (_, r) in links.iter().filter(|(op, _)| op == "created") {
        match kept.get(&r.id) {
            Some(reason) => undone.kept.push(Kept {
                id: r.id,
                module: r.module.clone(),
                number: r.number.clone(),
                reason: reason.clone(),
            }),
            None => {
                if let Some(row) = reader.record_row(r.id)? {
                    deleted.push(row);
                }
                undone.deleted.push(record_json(r, Op::Created));
            }
        }
    }
    drop(reader);
    for row in &deleted {
        tx.delete_record(row.id)?;
    }
    Ok((undone, deleted))
}

/// True when `plan` would store again what is stored: see the module doc.
fn same_decision(
    before: &Before,
    old_links: &[(String, RecordInfo)],
    deleted: &[RecordRow],
    plan: Option<&Plan>,
    parsed: &Parsed,
) -> bool {
    let filed = parsed.filed(plan);
    if filed.status != before.status
        || filed.rule != before.rule.as_deref()
        || filed.action != before.action.as_deref()
    {
        return false;
    }
    let Some(plan) = plan else {
        return true;
    };
    if !plan.reopen.is_empty() {
        return false;
    }
    let gone: BTreeSet<i64> = deleted.iter().map(|r| r.id).collect();
    let old: BTreeSet<(i64, String)> = old_links
        .iter()
        .filter(|(_, r)| !gone.contains(&r.id))
        .map(|(op, r)| (r.id, op.clone()))
        .collect();
    let new: BTreeSet<(i64, String)> = plan
        .links
        .iter()
        .filter_map(|l| match l.target {
            Target::Existing(id) => Some((id, l.op.as_str().to_string())),
            Target::New(_) => None,
        })
        .collect();
    if old != new {
        return false;
    }
    let text = |v: &serde_json::Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut was: Vec<(String, Option<String>, BTreeMap<String, String>)> = deleted
        .iter()
        .map(|r| (r.module.clone(), r.email.clone(), text(&r.fields)))
        .collect();
    let mut will: Vec<(String, Option<String>, BTreeMap<String, String>)> = plan
        .creates
        .iter()
        .map(|c| (c.module.clone(), c.email.clone(), c.fields.clone()))
        .collect();
    was.sort();
    will.sort();
    was == will
}
