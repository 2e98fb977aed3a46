//! `emails`: browsing received mail, exporting attachments, correcting
//! links. Tables on a terminal, JSON otherwise.

use std::path::Path;

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cli::args::EmailsCommand;
use crate::cli::output::{csv, export, print, printable, table, wants_json};
use crate::cli::records::resolve;
use crate::cli::reveal::{REDACTED, Reveal};
use crate::clock;
use crate::exit::{Exit, Failure};
use crate::mail::classify::Class;
use crate::mail::message;
use crate::route::plan::Op;
use crate::store::{self, EmailDetail, EmailFilter, EmailRow, Reader, Store};

/// Keeps a confidential mail's subject back unless revealed; a sealed
/// mail's subject is in its sealed raw message only, and is opened from
/// there when revealed.
pub(super) fn redact(
    row: &mut EmailRow,
    reveal: &Reveal,
    store: &dyn store::Reader,
) -> Result<(), Failure> {
    if row.confidential && !reveal.on {
        row.subject = Some(REDACTED.into());
    } else if row.sealed {
        let raw = open_raw(store, row, reveal)?;
        row.subject = message::parse_guarded(&raw).map(|e| e.subject);
    }
    Ok(())
}

/// A mail's raw bytes as received, opened when stored sealed.
fn open_raw(
    store: &dyn store::Reader,
    row: &EmailRow,
    reveal: &Reveal,
) -> Result<Vec<u8>, Failure> {
    let raw = store
        .raw(row.id)?
        .ok_or_else(|| Failure::not_found(format!("mail {} has no raw message", row.id)))?;
    if row.sealed {
        reveal.open(&format!("mail {}", row.id), &raw)
    } else {
        Ok(raw)
    }
}

/// A message's Date (RFC 3339) as a table shows it: `2026-11-27 09:15`.
/// Mail `id`, or the error that names it.
fn stored_mail(r: &dyn Reader, id: i64) -> Result<EmailDetail, Failure> {
    r.email(id)?
        .ok_or_else(|| Failure::not_found(format!("no mail with id {id}")))
}

fn short_date(date: Option<&str>) -> String {
    date.map(|d| d.get(..16).unwrap_or(d).replacen('T', " ", 1))
        .unwrap_or_default()
}

pub(super) fn email_rows(rows: &[EmailRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                short_date(e.date.as_deref()),
                e.status.clone(),
                e.rule.clone().unwrap_or_default(),
                e.sender.clone().unwrap_or_default(),
                e.subject.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

pub(super) const EMAIL_HEADERS: &[&str] =
    &["id", "date", "status", "rule", "from", "subject", "reason"];

/// The columns of [`EMAIL_HEADERS`] cut to fit the terminal.
pub(super) const EMAIL_ELASTIC: &[&str] = &["rule", "from", "subject", "reason"];

/// The CSV columns of `emails list --csv`.
const EMAIL_CSV: &[&str] = &[
    "id",
    "received_at",
    "date",
    "status",
    "class",
    "rule",
    "action",
    "sender",
    "subject",
    "message_id",
    "confidential",
    "reason",
];

fn email_csv_row(e: &EmailRow) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        e.id.to_string(),
        e.received_at.clone(),
        text(&e.date),
        e.status.clone(),
        text(&e.class),
        text(&e.rule),
        text(&e.action),
        text(&e.sender),
        text(&e.subject),
        text(&e.message_id),
        e.confidential.to_string(),
        text(&e.reason),
    ]
}

/// A value that must be one of `choices`, else a usage error listing them.
fn one_of(what: &str, value: &Option<String>, choices: &[&str]) -> Result<(), Failure> {
    match value {
        Some(v) if !choices.contains(&v.as_str()) => Err(Failure::usage(format!(
            "unknown {what} `{v}` (expected one of: {})",
            choices.join(", ")
        ))),
        _ => Ok(()),
    }
}

pub fn emails(
    store: &mut dyn Store,
    cmd: &EmailsCommand,
    identity: Option<&Path>,
) -> Result<Exit, Failure> {
    let r = store.reader();
    match cmd {
        EmailsCommand::List {
            status,
            rule,
            class,
            since,
            until,
            from,
            limit,
            verification,
            oldest,
            reveal,
            output,
        } => {
            one_of("status", status, store::STATUSES)?;
            one_of("class", class, Class::NAMES)?;
            let instant = |v: &Option<String>| {
                v.as_deref()
                    .map(clock::instant)
                    .transpose()
                    .map_err(Failure::usage)
            };
            let mut rows = r.emails(&EmailFilter {
                verification: *verification,
                statuses: status.iter().cloned().collect(),
                rule: rule.clone(),
                class: class.clone(),
                since: instant(since)?,
                until: instant(until)?,
                from: from.clone(),
                limit: *limit,
                oldest_first: *oldest,
            })?;
            let reveal = Reveal::new(*reveal, identity);
            for row in &mut rows {
                redact(row, &reveal, &*r)?;
            }
            if output.csv {
                let rows: Vec<Vec<String>> = rows.iter().map(email_csv_row).collect();
                print(&csv(EMAIL_CSV, &rows)?)?;
            } else if wants_json(output.json) {
                let lines: String = rows.iter().map(|row| format!("{}\n", json!(row))).collect();
                print(&lines)?;
            } else if *verification {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|e| {
                        let field = |k: &str| {
                            e.verification
                                .as_ref()
                                .and_then(|v| v[k].as_str())
                                .unwrap_or("-")
                                .to_string()
                        };
                        vec![
                            e.id.to_string(),
                            e.received_at.clone(),
                            e.sender.clone().unwrap_or_default(),
                            field("code"),
                            field("link"),
                        ]
                    })
                    .collect();
                // The links whole, each on a line of its own after the
                // table: a cut one cannot be followed.
                let cells: Vec<Vec<String>> = rows.iter().map(|r| r[..4].to_vec()).collect();
                let mut out = table(&["id", "received", "from", "code"], &["from"], &cells);
                for r in &rows {
                    out.push_str(&format!("link of {}: {}\n", r[0], printable(&r[4])));
                }
                print(&out)?;
            } else {
                print(&table(EMAIL_HEADERS, EMAIL_ELASTIC, &email_rows(&rows)))?;
            }
            Ok(Exit::Ok)
        }
        EmailsCommand::Show { id, reveal, output } => {
            let detail = stored_mail(&*r, *id)?;
            let reveal = Reveal::new(*reveal, identity);
            let mut row = detail.row.clone();
            let hidden = row.confidential && !reveal.on;
            redact(&mut row, &reveal, &*r)?;
            let links = r.links_of(*id)?;
            let mut attachments = if hidden {
                Vec::new()
            } else {
                r.attachments(*id)?
            };
            // Headers and text are not stored twice: parsed again from the
            // raw message (and a sealed mail's attachment names with them).
            let (headers, body): (Vec<(String, String)>, Option<String>) = if hidden {
                (Vec::new(), None)
            } else {
                let raw = open_raw(&*r, &row, &reveal)?;
                let parsed = message::parse_guarded(&raw);
                if row.sealed
                    && let Some(e) = &parsed
                {
                    for (a, p) in attachments.iter_mut().zip(&e.attachments) {
                        a.name.clone_from(&p.name);
                    }
                }
                (message::decoded_headers(&raw), parsed.map(|e| e.text))
            };
            let result: serde_json::Value =
                serde_json::from_str(&detail.result_json).unwrap_or_default();
            if wants_json(output.json) {
                let v = json!({
                    "email": row,
                    "envelope_recipient": detail.envelope_recipient,
                    "sha256": detail.sha256,
                    "bounce": detail.bounce,
                    "headers": headers,
                    "text": body,
                    "links": links.iter().map(|(op, r)| json!({"id": r.id, "module": r.module, "number": r.number, "op": op})).collect::<Vec<_>>(),
                    "attachments": attachments.iter().map(|a| json!({"name": a.name, "content_type": a.content_type, "size": a.size, "stored": a.stored, "reason": a.reason})).collect::<Vec<_>>(),
                    "result": result,
                    "redacted": hidden,
                });
                print(&format!("{v:#}\n"))?;
                return Ok(Exit::Ok);
            }
            let mut out = format!(
                "mail {}  {}  status {}  class {}  rule {}\nfrom: {}\nsubject: {}\n",
                row.id,
                row.received_at,
                row.status,
                row.class.as_deref().unwrap_or("-"),
                printable(row.rule.as_deref().unwrap_or("-")),
                printable(row.sender.as_deref().unwrap_or("-")),
                printable(row.subject.as_deref().unwrap_or("")),
            );
            if let Some(date) = &row.date {
                out.push_str(&format!("date: {date}\n"));
            }
            if let Some(envelope) = &detail.envelope_recipient {
                out.push_str(&format!("envelope recipient: {}\n", printable(envelope)));
            }
            out.push_str(&format!("sha256: {}\n", detail.sha256));
            if hidden {
                out.push_str(
                    "(confidential: headers, body and attachments hidden; --reveal shows them)\n",
                );
            }
            if !headers.is_empty() {
                out.push_str("\nheaders:\n");
                for (k, v) in &headers {
                    out.push_str(&format!("  {}: {}\n", printable(k), printable(v)));
                }
            }
            if let Some(body) = body {
                out.push_str("\nbody:\n");
                for line in body.lines() {
                    out.push_str(&format!("  {}\n", printable(line)));
                }
            }
            out.push_str("\nlinks:\n");
            for (op, rec) in &links {
                out.push_str(&format!(
                    "  {} {} {} ({op})\n",
                    rec.id,
                    rec.module,
                    rec.number.as_deref().unwrap_or("")
                ));
            }
            if !attachments.is_empty() {
                out.push_str("\nattachments:\n");
                for (i, a) in attachments.iter().enumerate() {
                    out.push_str(&format!(
                        "  {} {} {} {} bytes{}\n",
                        i + 1,
                        printable(a.name.as_deref().unwrap_or("(unnamed)")),
                        a.content_type,
                        a.size,
                        if a.stored {
                            String::new()
                        } else {
                            format!(" (not stored: {})", a.reason.as_deref().unwrap_or(""))
                        }
                    ));
                }
            }
            out.push_str(&format!("\nresult: {result}\n"));
            print(&out)?;
            Ok(Exit::Ok)
        }
        EmailsCommand::Attachment {
            id,
            n,
            reveal,
            export: to,
        } => {
            let mail = stored_mail(&*r, *id)?;
            let reveal = Reveal::new(*reveal, identity);
            reveal.allow(&format!("mail {id}"), mail.row.confidential)?;
            let Some(found) = r.attachment(*id, *n)? else {
                return Err(Failure::not_found(format!(
                    "mail {id} has no attachment {n}"
                )));
            };
            let name = printable(found.name.as_deref().unwrap_or("unnamed"));
            if !found.stored {
                return Err(Failure::data(format!(
                    "attachment {n} of mail {id} (`{name}`) was not stored: larger than limits.attachment_bytes"
                )));
            }
            let raw = open_raw(&*r, &mail.row, &reveal)?;
            let content = decoded_attachment(&raw, *n, found.sha256.as_deref()).map_err(|e| {
                Failure::data(format!("attachment {n} of mail {id} (`{name}`): {e}"))
            })?;
            export(&content, to)?;
            Ok(Exit::Ok)
        }
        EmailsCommand::Raw {
            id,
            reveal,
            export: to,
        } => {
            let mail = stored_mail(&*r, *id)?;
            let reveal = Reveal::new(*reveal, identity);
            reveal.allow(&format!("mail {id}"), mail.row.confidential)?;
            export(&open_raw(&*r, &mail.row, &reveal)?, to)?;
            Ok(Exit::Ok)
        }
        EmailsCommand::Link { id, record, output }
        | EmailsCommand::Unlink { id, record, output } => {
            let link = matches!(cmd, EmailsCommand::Link { .. });
            drop(r);
            let tx = store.begin()?;
            stored_mail(&*tx.reader(), *id)?;
            let rec = resolve(&*tx.reader(), record)?;
            let linked_before = tx
                .reader()
                .links_of(*id)?
                .iter()
                .any(|(_, r)| r.id == rec.id);
            let changed = if link {
                if !linked_before {
                    tx.link(*id, rec.id, Op::Linked, &clock::now())?;
                }
                !linked_before
            } else {
                tx.unlink(*id, rec.id)?
            };
            tx.commit()?;
            let what = if link { "linked" } else { "unlinked" };
            if wants_json(output.json) {
                let v = json!({
                    "email_id": id,
                    "record": {"id": rec.id, "module": rec.module, "number": rec.number},
                    what: changed,
                });
                print(&format!("{v}\n"))?;
            } else {
                let number = rec.number.as_deref().unwrap_or("-");
                let line = match (link, changed) {
                    (true, true) => format!("linked mail {id} to {} {number}\n", rec.module),
                    (true, false) => {
                        format!("mail {id} was already linked to {} {number}\n", rec.module)
                    }
                    (false, true) => format!("unlinked mail {id} from {} {number}\n", rec.module),
                    (false, false) => {
                        format!("mail {id} was not linked to {} {number}\n", rec.module)
                    }
                };
                print(&line)?;
            }
            Ok(Exit::Ok)
        }
    }
}

/// Attachment `n` of a mail, decoded from its stored raw message and
/// checked against the SHA-256 recorded when it was filed. Should a later
/// mailroom number a mail's attachments differently, the one with that
/// SHA-256 is still found; content that no longer decodes to it is an
/// error (exit 65), never a different file.
fn decoded_attachment(raw: &[u8], n: i64, sha256: Option<&str>) -> Result<Vec<u8>> {
    let sha256 = sha256.ok_or_else(|| anyhow!("no SHA-256 was recorded for it"))?;
    let mut all = message::parse_guarded(raw).map_or_else(Vec::new, |e| e.attachments);
    let at = usize::try_from(n - 1).ok().filter(|&i| i < all.len());
    let matches = |a: &message::Attachment| crate::mail::sha256_hex(&a.content) == sha256;
    let pick = at
        .filter(|&i| matches(&all[i]))
        .or_else(|| all.iter().position(matches))
        .ok_or_else(|| {
            anyhow!("the stored message no longer decodes to the content filed (SHA-256 {sha256})")
        })?;
    Ok(all.swap_remove(pick).content)
}
