//! `records`: browsing, seeding and correcting records. Each change is one
//! transaction; records are named by id or by number (`CASE-12`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::anyhow;
use serde_json::json;

use crate::cli::args::RecordsCommand;
use crate::cli::browse::{EMAIL_ELASTIC, EMAIL_HEADERS, email_rows, redact};
use crate::cli::output::{csv, print, printable, table, wants_json};
use crate::cli::reveal::{REDACTED, Reveal};
use crate::clock;
use crate::exit::{Exit, Failure};
use crate::mail::address;
use crate::reprocess;
use crate::route::lookup::RecordInfo;
use crate::rules::Config;
use crate::store::{EmailFilter, Reader, RecordFilter, RecordRow, Store};

/// Modules whose records stand for a sender: skipped mail from their
/// email may now be theirs.
const SENDER_MODULES: &[&str] = &["contacts", "leads", "organizations"];

/// The record a command-line argument names: an id (`7`) or a number
/// (`CASE-12`, any case).
pub fn resolve(reader: &dyn Reader, arg: &str) -> Result<RecordInfo, Failure> {
    let arg = arg.trim();
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        let id: i64 = arg
            .parse()
            .map_err(|_| Failure::usage(format!("`{arg}` is not a record id")))?;
        return reader
            .record(id)
            .map_err(crate::cli::app::failure)?
            .ok_or_else(|| Failure::not_found(format!("no record with id {id}")));
    }
    let mut found = reader.by_any_number(arg)?;
    match found.len() {
        0 => Err(Failure::not_found(format!("no record numbered `{arg}`"))),
        1 => Ok(found.remove(0)),
        _ => Err(Failure::usage(format!(
            "`{arg}` numbers records of several modules (ids {}); name one by its id",
            found
                .iter()
                .map(|r| r.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A module name the config knows (built in, used by a rule, or declared
/// under `modules:`); otherwise a usage error listing them, with the
/// nearest as a suggestion.
pub fn module(config: &Config, name: &str) -> Result<String, Failure> {
    let m = name.trim().to_lowercase();
    let known = config.known_modules();
    if known.contains(&m) {
        return Ok(m);
    }
    let nearest = known
        .iter()
        .map(|k| (strsim::levenshtein(k, &m), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    Err(Failure::usage(format!(
        "unknown module `{name}`{nearest} (known: {}; declare others under `modules:` in the config)",
        known.join(", ")
    )))
}

/// A primary email as stored: normalised, and a plain address.
fn primary_email(value: &str) -> Result<String, String> {
    let e = address::normalize(value);
    if address::is_valid(&e) {
        Ok(e)
    } else {
        Err(format!("`{value}` is not an email address"))
    }
}

/// The record of `module` that already has this email, if any.
fn existing(reader: &dyn Reader, module: &str, email: &str) -> Result<Option<RecordInfo>, Failure> {
    reader
        .oldest_by_email(module, email)
        .map_err(crate::cli::app::failure)
}

fn duplicate_error(module: &str, email: &str, r: &RecordInfo) -> Failure {
    Failure::data(format!(
        "{module} {} (id {}) already has the email {email}; --allow-duplicate adds another",
        r.number.as_deref().unwrap_or("-"),
        r.id
    ))
}

/// Skipped mail from `email`, oldest first.
fn skipped_from(reader: &dyn Reader, email: &str) -> Result<Vec<i64>, Failure> {
    let rows = reader.emails(&EmailFilter {
        statuses: vec!["skipped".into()],
        from: Some(email.to_string()),
        oldest_first: true,
        ..EmailFilter::default()
    })?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// After records were added: files skipped mail from their emails again
/// (`link_past`) and returns the mail that is now processed, or says on
/// stderr how to do it. `emails` are the new records' (module, email).
fn past_mail(
    store: &mut dyn Store,
    config: &Config,
    emails: &[(String, String)],
    link_past: bool,
) -> Result<(Vec<i64>, Vec<i64>), Failure> {
    let mut skipped = Vec::new();
    let mut senders = BTreeSet::new();
    for (module, email) in emails {
        if !SENDER_MODULES.contains(&module.as_str()) {
            continue;
        }
        let found = skipped_from(&*store.reader(), email)?;
        if !found.is_empty() {
            senders.insert(email.clone());
        }
        skipped.extend(found);
    }
    skipped.sort_unstable();
    skipped.dedup();
    if skipped.is_empty() {
        return Ok((skipped, Vec::new()));
    }
    if !link_past {
        let hint = match senders.iter().next() {
            Some(one) if senders.len() == 1 => format!("`mailroom reprocess --from {one}`"),
            _ => "`mailroom reprocess` (or --link-past)".to_string(),
        };
        eprintln!(
            "mailroom: {} skipped mail(s) came from this address; {hint} files them now",
            skipped.len()
        );
        return Ok((skipped, Vec::new()));
    }
    let now = clock::now();
    let options = reprocess::Options {
        config,
        now: &now,
        redo: false,
        dry_run: false,
        identities: None,
    };
    let mut linked = Vec::new();
    for &id in &skipped {
        let refiled = reprocess::one(store, id, &options).map_err(crate::cli::app::failure)?;
        if refiled.changed && refiled.result.status == crate::report::Status::Processed {
            linked.push(id);
        }
    }
    Ok((skipped, linked))
}

fn record_json(r: &RecordInfo) -> serde_json::Value {
    json!({"id": r.id, "module": r.module, "number": r.number})
}

fn named(r: &RecordInfo) -> String {
    format!(
        "{} {} (id {})",
        r.module,
        r.number.as_deref().unwrap_or("-"),
        r.id
    )
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

/// A record's fields as they may be shown: a confidential record's are
/// kept back unless revealed, and sealed ones are opened when revealed
/// (what was set by hand afterwards, in clear, over them).
fn shown_fields(rec: &mut RecordRow, reveal: &Reveal) -> Result<(), Failure> {
    if !rec.confidential {
        return Ok(());
    }
    if !reveal.on {
        if let Some(map) = rec.fields.as_object_mut() {
            map.values_mut()
                .for_each(|v| *v = serde_json::Value::String(REDACTED.into()));
        }
        return Ok(());
    }
    if let Some(sealed) = &rec.sealed_fields {
        let opened = reveal.open(&format!("record {}", rec.id), sealed)?;
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&opened)
                .map_err(|e| Failure::data(format!("record {}: sealed fields: {e}", rec.id)))?;
        if let Some(clear) = rec.fields.as_object() {
            fields.extend(clear.clone());
        }
        rec.fields = serde_json::Value::Object(fields);
    }
    Ok(())
}

pub fn records(
    store: &mut dyn Store,
    config: &Config,
    cmd: &RecordsCommand,
    identity: Option<&Path>,
) -> Result<Exit, Failure> {
    let now = clock::now();
    match cmd {
        RecordsCommand::List {
            module: name,
            status,
            since,
            limit,
            reveal,
            output,
        } => {
            let reveal = Reveal::new(*reveal, identity);
            let filter = RecordFilter {
                module: name.as_deref().map(|m| module(config, m)).transpose()?,
                status: status.clone(),
                since: since
                    .as_deref()
                    .map(clock::instant)
                    .transpose()
                    .map_err(Failure::usage)?,
                limit: *limit,
            };
            let mut rows = store.reader().records(&filter)?;
            for row in &mut rows {
                shown_fields(row, &reveal)?;
            }
            if output.csv {
                print(&records_csv(&rows)?)?;
            } else if wants_json(output.json) {
                let lines: String = rows.iter().map(|row| format!("{}\n", json!(row))).collect();
                print(&lines)?;
            } else {
                let rows: Vec<Vec<String>> = rows.iter().map(record_cells).collect();
                print(&table(
                    &[
                        "number", "name", "status", "email", "id", "module", "fields",
                    ],
                    &["name", "email", "fields"],
                    &rows,
                ))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Show { id, reveal, output } => {
            let r = store.reader();
            let info = resolve(&*r, id)?;
            let Some(mut rec) = r.record_row(info.id)? else {
                return Err(Failure::not_found(format!("no record with id {}", info.id)));
            };
            let reveal = Reveal::new(*reveal, identity);
            shown_fields(&mut rec, &reveal)?;
            let mut mails = r.emails_of(rec.id)?;
            for m in &mut mails {
                redact(m, &reveal, &*r)?;
            }
            let relations = r.relations_of(rec.id)?;
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
                if rec.confidential && !reveal.on {
                    out.push_str(
                        "(made from confidential mail: fields hidden; --reveal shows them)\n",
                    );
                }
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
                out.push_str(&table(EMAIL_HEADERS, EMAIL_ELASTIC, &email_rows(&mails)));
                print(&out)?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Add {
            module: name,
            fields,
            allow_duplicate,
            link_past,
            output,
        } => {
            let module = module(config, name)?;
            let mut fields = pairs(fields)?;
            let email = fields
                .remove("email")
                .map(|e| primary_email(&e).map_err(Failure::usage))
                .transpose()?;
            let status = fields.remove("status");
            let tx = store.begin()?;
            if let Some(e) = &email
                && !allow_duplicate
                && let Some(r) = existing(&*tx.reader(), &module, e)?
            {
                return Err(duplicate_error(&module, e, &r));
            }
            let (id, number) = tx.create_record(
                &module,
                &config.prefix_for(&module),
                email.as_deref(),
                &fields,
                &now,
            )?;
            if let Some(s) = status {
                tx.set_status(id, &s, &now)?;
            }
            tx.commit()?;
            let new: Vec<(String, String)> =
                email.iter().map(|e| (module.clone(), e.clone())).collect();
            let (skipped, linked) = past_mail(store, config, &new, *link_past)?;
            if wants_json(output.json) {
                let v = json!({"id": id, "module": module, "number": number, "skipped_mail": skipped, "linked_mail": linked});
                print(&format!("{v}\n"))?;
            } else {
                let mut out = format!("created {module} {number} (id {id})\n");
                if !linked.is_empty() {
                    out.push_str(&format!("linked {} earlier mail(s)\n", linked.len()));
                }
                print(&out)?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Update { id, fields, output } => {
            let changes = pairs(fields)?;
            if let Some(e) = changes.get("email")
                && !e.trim().is_empty()
            {
                primary_email(e).map_err(Failure::usage)?;
            }
            let tx = store.begin()?;
            let record = resolve(&*tx.reader(), id)?;
            tx.update_record(record.id, &changes, &now)?;
            tx.commit()?;
            if wants_json(output.json) {
                print(&format!(
                    "{}\n",
                    json!({"id": record.id, "number": record.number, "updated": changes})
                ))?;
            } else {
                print(&format!("updated {}\n", named(&record)))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Delete { id, force, output } => {
            let tx = store.begin()?;
            let reader = tx.reader();
            let record = resolve(&*reader, id)?;
            let mail: Vec<i64> = reader.emails_of(record.id)?.iter().map(|m| m.id).collect();
            let related: Vec<i64> = reader
                .relations_of(record.id)?
                .iter()
                .map(|(_, r)| r.id)
                .collect();
            drop(reader);
            if !force && (!mail.is_empty() || !related.is_empty()) {
                return Err(Failure::data(format!(
                    "{} has {} linked mail(s) and {} related record(s); --force unlinks them (the mail is kept)",
                    named(&record),
                    mail.len(),
                    related.len()
                )));
            }
            tx.delete_record(record.id)?;
            tx.commit()?;
            if wants_json(output.json) {
                let v = json!({"deleted": record_json(&record), "unlinked_mail": mail, "unrelated": related});
                print(&format!("{v}\n"))?;
            } else {
                print(&format!(
                    "deleted {}; unlinked {} mail(s) and {} record(s)\n",
                    named(&record),
                    mail.len(),
                    related.len()
                ))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Merge {
            keep,
            drop: gone,
            output,
        } => {
            let tx = store.begin()?;
            let reader = tx.reader();
            let kept = resolve(&*reader, keep)?;
            let dropped = resolve(&*reader, gone)?;
            if kept.id == dropped.id {
                return Err(Failure::usage(format!(
                    "{} cannot be merged into itself",
                    named(&kept)
                )));
            }
            if kept.module != dropped.module {
                return Err(Failure::usage(format!(
                    "{} and {} are of different modules",
                    named(&kept),
                    named(&dropped)
                )));
            }
            let (Some(k), Some(d)) = (reader.record_row(kept.id)?, reader.record_row(dropped.id)?)
            else {
                return Err(Failure::not_found("a record to merge vanished"));
            };
            drop(reader);
            // KEEP's fields stay; DROP's fill the empty ones.
            let empty = |v: Option<&serde_json::Value>| {
                v.is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
            };
            let mut fill: BTreeMap<String, String> = BTreeMap::new();
            if let Some(map) = d.fields.as_object() {
                for (name, value) in map {
                    if empty(k.fields.get(name)) && !empty(Some(value)) {
                        let text = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_string);
                        fill.insert(name.clone(), text);
                    }
                }
            }
            if k.email.is_none()
                && let Some(e) = &d.email
            {
                fill.insert("email".into(), e.clone());
            }
            let moved = tx.move_links(dropped.id, kept.id)?;
            tx.delete_record(dropped.id)?;
            if !fill.is_empty() {
                tx.update_record(kept.id, &fill, &now)?;
            }
            tx.commit()?;
            let filled: Vec<&String> = fill.keys().collect();
            if wants_json(output.json) {
                let v = json!({
                    "kept": record_json(&kept),
                    "dropped": record_json(&dropped),
                    "moved_mail": moved.mail,
                    "moved_records": moved.records,
                    "filled": filled,
                });
                print(&format!("{v}\n"))?;
            } else {
                print(&format!(
                    "merged {} into {}: {} mail(s) and {} record(s) moved, {} field(s) filled\n",
                    named(&dropped),
                    named(&kept),
                    moved.mail.len(),
                    moved.records.len(),
                    filled.len()
                ))?;
            }
            Ok(Exit::Ok)
        }
        RecordsCommand::Import {
            file,
            format,
            allow_duplicate,
            link_past,
        } => {
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
            let name = file.display().to_string();
            let is_csv = match format.as_deref() {
                Some(f) => f == "csv",
                None => file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
            };
            let entries = if is_csv {
                csv_entries(&text, &name)?
            } else {
                jsonl_entries(&text, &name)?
            };
            let rows = import_rows(config, entries, &name)?;
            let tx = store.begin()?;
            let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
            for row in &rows {
                if let Some(e) = &row.email
                    && !allow_duplicate
                {
                    if let Some(r) = existing(&*tx.reader(), &row.module, e)? {
                        let f = duplicate_error(&row.module, e, &r);
                        return Err(Failure::new(f.exit, anyhow!("{name}:{}: {f}", row.line)));
                    }
                    if !seen.insert((row.module.clone(), e.clone())) {
                        return Err(Failure::data(format!(
                            "{name}:{}: {e} is in the file twice for {}; --allow-duplicate imports both",
                            row.line, row.module
                        )));
                    }
                }
                let (id, _) = tx.create_record(
                    &row.module,
                    &config.prefix_for(&row.module),
                    row.email.as_deref(),
                    &row.fields,
                    &now,
                )?;
                if let Some(s) = &row.status {
                    tx.set_status(id, s, &now)?;
                }
            }
            tx.commit()?;
            let new: Vec<(String, String)> = rows
                .iter()
                .filter_map(|r| r.email.clone().map(|e| (r.module.clone(), e)))
                .collect();
            let (_, linked) = past_mail(store, config, &new, *link_past)?;
            let mut out = format!("imported {} record(s)\n", rows.len());
            if !linked.is_empty() {
                out.push_str(&format!("linked {} earlier mail(s)\n", linked.len()));
            }
            print(&out)?;
            Ok(Exit::Ok)
        }
        RecordsCommand::Close { id } | RecordsCommand::Reopen { id } => {
            let status = if matches!(cmd, RecordsCommand::Close { .. }) {
                "closed"
            } else {
                "open"
            };
            let tx = store.begin()?;
            let record = resolve(&*tx.reader(), id)?;
            tx.set_status(record.id, status, &now)?;
            tx.commit()?;
            print(&format!("{} is {status}\n", named(&record)))?;
            Ok(Exit::Ok)
        }
    }
}

/// One record of an import file.
struct ImportRow {
    /// 1-based line in the file.
    line: usize,
    module: String,
    email: Option<String>,
    status: Option<String>,
    fields: BTreeMap<String, String>,
}

/// One entry of an import file: its line, and its columns by name.
type Entry = (usize, BTreeMap<String, String>);

/// The objects of a JSON Lines import, each with its line; any bad line
/// fails the whole import, named `file:line`.
fn jsonl_entries(text: &str, file: &str) -> Result<Vec<Entry>, Failure> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Failure::data(format!("{file}:{}: {msg}", i + 1));
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(bad("expected an object".into()));
        };
        let mut entry = BTreeMap::new();
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return Err(bad(format!("`{k}` must be a plain value"))),
            };
            entry.insert(k.clone(), v);
        }
        out.push((i + 1, entry));
    }
    Ok(out)
}

/// The rows of a CSV import (a header row first), each with its line;
/// empty cells are left out.
fn csv_entries(text: &str, file: &str) -> Result<Vec<Entry>, Failure> {
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let bad = |line: u64, msg: String| Failure::data(format!("{file}:{line}: {msg}"));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, format!("invalid CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, format!("invalid CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line()) as usize;
        let entry: BTreeMap<String, String> = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        if !entry.is_empty() {
            out.push((line, entry));
        }
    }
    Ok(out)
}

/// Import entries as records to create; any bad one fails the whole
/// import, named `file:line`. The columns the store sets (`id`, `number`,
/// times) are ignored, so `records list --csv` output imports.
fn import_rows(
    config: &Config,
    entries: Vec<Entry>,
    file: &str,
) -> Result<Vec<ImportRow>, Failure> {
    let mut rows = Vec::new();
    for (line, entry) in entries {
        let bad = |msg: String| Failure::data(format!("{file}:{line}: {msg}"));
        let mut row = ImportRow {
            line,
            module: String::new(),
            email: None,
            status: None,
            fields: BTreeMap::new(),
        };
        for (k, v) in entry {
            match k.as_str() {
                "module" => row.module = module(config, &v).map_err(|f| bad(f.to_string()))?,
                "email" => row.email = Some(primary_email(&v).map_err(bad)?),
                "status" => row.status = Some(v),
                k if RESERVED.contains(&k) => {}
                _ => {
                    row.fields.insert(k, v);
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

/// A field's value as text.
fn text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The fields that name a record, in the order tried.
const NAME_FIELDS: &[&str] = &["title", "name", "company"];

/// A record as a table row: number, its name (title, name or company),
/// status, email, id, module, then its other fields.
fn record_cells(r: &RecordRow) -> Vec<String> {
    let fields = r.fields.as_object();
    let name = NAME_FIELDS
        .iter()
        .find_map(|f| fields.and_then(|m| m.get(*f)))
        .map(text)
        .unwrap_or_default();
    let named = NAME_FIELDS
        .iter()
        .find(|f| fields.is_some_and(|m| m.contains_key(**f)));
    let rest: Vec<String> = fields
        .map(|m| {
            m.iter()
                .filter(|(k, _)| Some(&k.as_str()) != named)
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect()
        })
        .unwrap_or_default();
    vec![
        r.number.clone().unwrap_or_default(),
        name,
        r.status.clone(),
        r.email.clone().unwrap_or_default(),
        r.id.to_string(),
        r.module.clone(),
        rest.join(" "),
    ]
}

/// Records as CSV: their columns, then one column per field name any of
/// them has (sorted), empty where a record has none. `records import`
/// reads it back.
fn records_csv(rows: &[RecordRow]) -> Result<String, Failure> {
    let names: BTreeSet<&String> = rows
        .iter()
        .filter_map(|r| r.fields.as_object())
        .flat_map(|m| m.keys())
        .filter(|k| !RESERVED.contains(&k.as_str()))
        .collect();
    // The record's own columns, in RESERVED's order, then its fields.
    let mut headers = RESERVED.to_vec();
    headers.extend(names.iter().map(|n| n.as_str()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.id.to_string(),
                r.module.clone(),
                r.number.clone().unwrap_or_default(),
                r.status.clone(),
                r.email.clone().unwrap_or_default(),
                r.created_at.clone(),
                r.updated_at.clone(),
                r.last_activity.clone().unwrap_or_default(),
            ];
            row.extend(
                names
                    .iter()
                    .map(|n| r.fields.get(n.as_str()).map(text).unwrap_or_default()),
            );
            row
        })
        .collect();
    csv(&headers, &cells)
}

/// Columns of an import (and the first ones of `records list --csv`, in
/// this order) that are not fields: `module`, `email` and `status` are the
/// record's own, the rest are what the store sets.
const RESERVED: &[&str] = &[
    "id",
    "module",
    "number",
    "status",
    "email",
    "created_at",
    "updated_at",
    "last_activity",
];

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
    }

    #[test]
    fn modules_are_the_known_ones_with_a_suggestion() {
        let config = Config::builtin();
        assert_eq!(
            module(&config, " Contacts ").ok().as_deref(),
            Some("contacts")
        );
        let e = module(&config, "contact").expect_err("singular");
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.to_string().contains("did you mean `contacts`"), "{e}");
        let e = module(&config, "../x").expect_err("not a name");
        assert!(e.to_string().contains("known: cases, contacts"), "{e}");
    }
}
