//! `emails` and `records`: browsing and seeding the store. Tables on a
//! terminal, JSON otherwise.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cli::app;
use crate::cli::args::{EmailsCommand, RecordsCommand};
use crate::cli::clock;
use crate::cli::output::{print, printable, table, wants_json};
use crate::exit::{Exit, Failure};
use crate::mail::message;
use crate::rules::Config;
use crate::store::{EmailFilter, EmailRow, Store};

const REDACTED: &str = "(confidential)";

fn redact(row: &mut EmailRow, reveal: bool) {
    if row.confidential && !reveal {
        row.subject = Some(REDACTED.into());
    }
}

fn email_rows(rows: &[EmailRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.received_at.clone(),
                e.status.clone(),
                e.class.clone().unwrap_or_default(),
                e.rule.clone().unwrap_or_default(),
                e.sender.clone().unwrap_or_default(),
                e.subject.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

const EMAIL_HEADERS: &[&str] = &[
    "id", "received", "status", "class", "rule", "from", "subject",
];

pub fn emails(store: &dyn Store, cmd: &EmailsCommand) -> Result<Exit> {
    let r = store.reader();
    match cmd {
        EmailsCommand::List {
            status,
            rule,
            class,
            since,
            from,
            limit,
            verification,
            reveal,
            output,
        } => {
            let mut rows = r.emails(&EmailFilter {
                verification: *verification,
                status: status.clone(),
                rule: rule.clone(),
                class: class.clone(),
                since: since.clone(),
                from: from.clone(),
                limit: *limit,
            })?;
            rows.iter_mut().for_each(|row| redact(row, *reveal));
            if wants_json(output.json) {
                let lines: String = rows.iter().map(|row| format!("{}\n", json!(row))).collect();
                print(&lines).map_err(|f| f.error)?;
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
                print(&table(&["id", "received", "from", "code", "link"], &rows))
                    .map_err(|f| f.error)?;
            } else {
                print(&table(EMAIL_HEADERS, &email_rows(&rows))).map_err(|f| f.error)?;
            }
            Ok(Exit::Ok)
        }
        EmailsCommand::Show { id, reveal, output } => {
            let Some(detail) = r.email(*id)? else {
                return Err(anyhow!("no mail with id {id}"));
            };
            let mut row = detail.row.clone();
            let hidden = row.confidential && !reveal;
            redact(&mut row, *reveal);
            let links = r.links_of(*id)?;
            let attachments = if hidden {
                Vec::new()
            } else {
                r.attachments(*id)?
            };
            // Headers and text are not stored twice: parsed again from the
            // raw message.
            let (headers, body): (Vec<(String, String)>, Option<String>) = if hidden {
                (Vec::new(), None)
            } else {
                let raw = r.raw(*id)?.unwrap_or_default();
                message::parse_guarded(&raw)
                    .map_or((Vec::new(), None), |e| (e.headers, Some(e.text)))
            };
            let result: serde_json::Value =
                serde_json::from_str(&detail.result_json).unwrap_or_default();
            if wants_json(output.json) {
                let v = json!({
                    "email": row,
                    "date": detail.date,
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
                print(&format!("{v:#}\n")).map_err(|f| f.error)?;
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
            if let Some(date) = &detail.date {
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
            print(&out).map_err(|f| f.error)?;
            Ok(Exit::Ok)
        }
        EmailsCommand::Attachment { id, n, output } => {
            let Some(found) = r.attachment(*id, *n)? else {
                return Err(anyhow!("mail {id} has no attachment {n}"));
            };
            let name = printable(found.name.as_deref().unwrap_or("unnamed"));
            if !found.stored {
                return Err(anyhow!(
                    "attachment {n} of mail {id} (`{name}`) was not stored: larger than limits.attachment_bytes"
                ));
            }
            let raw = r.raw(*id)?.unwrap_or_default();
            let content = decoded_attachment(&raw, *n, found.sha256.as_deref()).map_err(|e| {
                anyhow::Error::new(DataError(format!(
                    "attachment {n} of mail {id} (`{name}`): {e}"
                )))
            })?;
            match output {
                // Written only where the user said; the stored name is
                // never used as a path.
                Some(path) => std::fs::write(path, &content)
                    .map_err(|e| anyhow!("cannot write `{}`: {e}", path.display()))?,
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&content).and_then(|_| out.flush())?;
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// A failure of the stored data itself, which retrying will not mend:
/// `emails` exits 65 for it rather than 75 (see [`failure`]).
#[derive(Debug)]
struct DataError(String);

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

/// The exit code of an `emails` error: 65 for a [`DataError`], 75 (may
/// pass later) for the rest.
pub fn failure(error: anyhow::Error) -> Failure {
    if error.is::<DataError>() {
        Failure::new(Exit::DataErr, error)
    } else {
        app::failure(error)
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

/// `key=value` arguments as a map; a bad one is a usage error.
fn pairs(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            return Err(Failure::usage(format!("`{a}` is not key=value")));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(Failure::usage(format!("`{a}` has an empty key")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn valid_module(module: &str) -> Result<String, Failure> {
    let m = module.trim().to_lowercase();
    if m.is_empty() || !m.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(Failure::usage(format!(
            "`{module}` is not a module name (letters, digits, _)"
        )));
    }
    Ok(m)
}

pub fn records(
    store: &mut dyn Store,
    config: &Config,
    cmd: &RecordsCommand,
) -> Result<Exit, Failure> {
    let now = clock::now();
    match cmd {
        RecordsCommand::List {
            module,
            limit,
            output,
        } => {
            let module = module.as_deref().map(valid_module).transpose()?;
            let rows = store
                .reader()
                .records(module.as_deref(), *limit)
                .map_err(|e| app::failure(e.into()))?;
            if wants_json(output.json) {
                let lines: String = rows.iter().map(|row| format!("{}\n", json!(row))).collect();
                print(&lines)?;
            } else {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.module.clone(),
                            r.number.clone().unwrap_or_default(),
                            r.status.clone(),
                            r.email.clone().unwrap_or_default(),
                            field_summary(&r.fields),
                        ]
                    })
                    .collect();
                print(&table(
                    &["id", "module", "number", "status", "email", "fields"],
                    &rows,
                ))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Show { id, reveal, output } => {
            let r = store.reader();
            let Some(rec) = r.record_row(*id).map_err(|e| app::failure(e.into()))? else {
                return Err(Failure::usage(format!("no record with id {id}")));
            };
            let mut mails = r.emails_of(*id).map_err(|e| app::failure(e.into()))?;
            mails.iter_mut().for_each(|m| redact(m, *reveal));
            let relations = r.relations_of(*id).map_err(|e| app::failure(e.into()))?;
            if wants_json(output.json) {
                let v = json!({
                    "record": rec,
                    "relations": relations.iter().map(|(kind, r)| json!({"kind": kind, "id": r.id, "module": r.module, "number": r.number})).collect::<Vec<_>>(),
                    "emails": mails,
                });
                print(&format!("{v:#}\n"))?;
            } else {
                let mut out = format!(
                    "record {}  {} {}  status {}\nemail: {}\n",
                    rec.id,
                    rec.module,
                    rec.number.as_deref().unwrap_or(""),
                    rec.status,
                    rec.email.as_deref().unwrap_or("-")
                );
                if let Some(map) = rec.fields.as_object() {
                    for (k, v) in map {
                        out.push_str(&format!(
                            "  {}: {}\n",
                            printable(k),
                            printable(v.as_str().unwrap_or(&v.to_string()))
                        ));
                    }
                }
                out.push_str("\nrelated:\n");
                for (kind, r) in &relations {
                    out.push_str(&format!(
                        "  {} {} {} ({})\n",
                        r.id,
                        r.module,
                        r.number.as_deref().unwrap_or(""),
                        printable(kind)
                    ));
                }
                out.push_str("\nmail:\n");
                out.push_str(&table(EMAIL_HEADERS, &email_rows(&mails)));
                print(&out)?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Add {
            module,
            fields,
            output,
        } => {
            let module = valid_module(module)?;
            let mut fields = pairs(fields)?;
            let email = fields
                .remove("email")
                .map(|e| crate::mail::address::normalize(&e));
            let status = fields.remove("status");
            let tx = store.begin().map_err(|e| app::failure(e.into()))?;
            let (id, number) = tx
                .create_record(
                    &module,
                    &config.prefix_for(&module),
                    email.as_deref(),
                    &fields,
                    &now,
                )
                .map_err(|e| app::failure(e.into()))?;
            if let Some(s) = status {
                tx.set_status(id, &s, &now)
                    .map_err(|e| app::failure(e.into()))?;
            }
            tx.commit().map_err(|e| app::failure(e.into()))?;
            let v = json!({"id": id, "module": module, "number": number});
            if wants_json(output.json) {
                print(&format!("{v}\n"))?;
            } else {
                print(&format!("created {module} {number} (id {id})\n"))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Update { id, fields, output } => {
            let changes = pairs(fields)?;
            let tx = store.begin().map_err(|e| app::failure(e.into()))?;
            if tx
                .reader()
                .record_row(*id)
                .map_err(|e| app::failure(e.into()))?
                .is_none()
            {
                return Err(Failure::usage(format!("no record with id {id}")));
            }
            tx.update_record(*id, &changes, &now)
                .map_err(|e| app::failure(e.into()))?;
            tx.commit().map_err(|e| app::failure(e.into()))?;
            if wants_json(output.json) {
                print(&format!("{}\n", json!({"id": id, "updated": changes})))?;
            } else {
                print(&format!("updated record {id}\n"))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Import { file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| Failure::new(Exit::NoInput, anyhow!("cannot read stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(file).map_err(|e| {
                    Failure::new(
                        Exit::NoInput,
                        anyhow!("cannot read `{}`: {e}", file.display()),
                    )
                })?
            };
            let rows = import_rows(&text, &file.display().to_string())?;
            let tx = store.begin().map_err(|e| app::failure(e.into()))?;
            for row in &rows {
                let (id, _) = tx
                    .create_record(
                        &row.module,
                        &config.prefix_for(&row.module),
                        row.email.as_deref(),
                        &row.fields,
                        &now,
                    )
                    .map_err(|e| app::failure(e.into()))?;
                if let Some(s) = &row.status {
                    tx.set_status(id, s, &now)
                        .map_err(|e| app::failure(e.into()))?;
                }
            }
            tx.commit().map_err(|e| app::failure(e.into()))?;
            print(&format!("imported {} record(s)\n", rows.len()))?;
            Ok(Exit::Ok)
        }
        RecordsCommand::Close { id } | RecordsCommand::Reopen { id } => {
            let status = if matches!(cmd, RecordsCommand::Close { .. }) {
                "closed"
            } else {
                "open"
            };
            let tx = store.begin().map_err(|e| app::failure(e.into()))?;
            if !tx
                .set_status(*id, status, &now)
                .map_err(|e| app::failure(e.into()))?
            {
                return Err(Failure::usage(format!("no record with id {id}")));
            }
            tx.commit().map_err(|e| app::failure(e.into()))?;
            print(&format!("record {id} is {status}\n"))?;
            Ok(Exit::Ok)
        }
    }
}

/// One record of an import file.
struct ImportRow {
    module: String,
    email: Option<String>,
    status: Option<String>,
    fields: BTreeMap<String, String>,
}

/// Parses a JSON Lines import; any bad line fails the whole import, named
/// `file:line`.
fn import_rows(text: &str, file: &str) -> Result<Vec<ImportRow>, Failure> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Failure::new(Exit::DataErr, anyhow!("{file}:{}: {msg}", i + 1));
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(bad("expected an object".into()));
        };
        let text_of = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let mut row = ImportRow {
            module: String::new(),
            email: None,
            status: None,
            fields: BTreeMap::new(),
        };
        for (k, v) in obj {
            if v.is_null() {
                continue;
            }
            let Some(v) = text_of(v) else {
                return Err(bad(format!("`{k}` must be a plain value")));
            };
            match k.as_str() {
                "module" => row.module = valid_module(&v).map_err(|f| bad(f.to_string()))?,
                "email" => row.email = Some(crate::mail::address::normalize(&v)),
                "status" => row.status = Some(v),
                _ => {
                    row.fields.insert(k.clone(), v);
                }
            }
        }
        if row.module.is_empty() {
            return Err(bad("`module` is missing".into()));
        }
        rows.push(row);
    }
    Ok(rows)
}

fn field_summary(fields: &serde_json::Value) -> String {
    fields
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_pairs() {
        let p = pairs(&["a=1".into(), "b= x=y".into()])
            .map_err(|f| f.exit)
            .expect("ok");
        assert_eq!(p.get("b").map(String::as_str), Some(" x=y"));
        assert_eq!(
            pairs(&["novalue".into()]).err().map(|f| f.exit),
            Some(Exit::Usage)
        );
        assert_eq!(
            valid_module("Contacts").map_err(|f| f.exit).ok().as_deref(),
            Some("contacts")
        );
        assert!(valid_module("../x").is_err());
    }
}
