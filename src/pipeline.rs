//! One message through read → parse → route → apply → report: the
//! imperative shell around the pure core.

use anyhow::{Context, Result};

use crate::mail::message::{self, Email};
use crate::report::{AttachmentJson, Report, Status};
use crate::route::plan::{Outcome, Plan};
use crate::route::{self, Analysis};
use crate::rules::Config;
use crate::store::{self, NewEmail, Store, Tx};

/// The dedupe key: the Message-ID, or the SHA-256 of the raw bytes when
/// the message has none.
pub fn dedupe_key(email: Option<&Email>, sha: &str) -> String {
    match email.and_then(|e| e.message_id.clone()) {
        Some(id) => id,
        None => format!("sha256:{sha}"),
    }
}

pub struct Pipeline<'a> {
    pub config: &'a Config,
    pub store: &'a mut dyn Store,
    /// The envelope recipient the MTA gave (`--recipient`).
    pub envelope: Option<&'a str>,
    pub now: String,
}

impl Pipeline<'_> {
    /// Routes without writing: the plan and the report a real run would
    /// print (`explain`, `--dry-run`).
    ///
    /// A message already stored reports `duplicate`, as a real run would;
    /// with `route_stored` it is routed anyway (with a warning), so
    /// `explain` shows what the rules say now.
    pub fn dry_run(&self, raw: &[u8], route_stored: bool) -> Result<(Option<Plan>, Report)> {
        let sha = crate::mail::sha256_hex(raw);
        let email = message::parse(raw);
        let reader = self.store.reader();
        let reader = &*reader;
        let mut stored_as = None;
        if let Some((id, json)) = reader.duplicate(&dedupe_key(email.as_ref(), &sha))? {
            if !route_stored {
                let mut report = duplicate(id, &json);
                report.dry_run = true;
                return Ok((None, report));
            }
            stored_as = Some(id);
        }
        let Some(email) = email else {
            let mut report = Report::empty(Status::Unparsed);
            report.dry_run = true;
            report.reason = Some("not a mail message (no header)".into());
            return Ok((None, report));
        };
        let mut plan = route::explain(&email, self.envelope, self.config, reader)?;
        if let Some(id) = stored_as {
            plan.warnings.push(format!(
                "already stored as mail {id}; a delivery now would be a duplicate"
            ));
        }
        let describe = |id: i64| match reader.record(id) {
            Ok(Some(r)) => (r.module, r.number),
            _ => (String::new(), None),
        };
        let mut report = Report::from_plan(&plan, None, &describe);
        report.warnings.extend(email.warnings.iter().cloned());
        report.message_id = email.message_id.clone();
        report.attachments = email
            .attachments
            .iter()
            .map(|a| {
                let stored = a.size as u64 <= self.config.limits.attachment_bytes;
                AttachmentJson {
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                    stored,
                    reason: (!stored).then(|| "larger than limits.attachment_bytes".into()),
                }
            })
            .collect();
        Ok((Some(plan), report))
    }

    /// Files one message in one transaction and returns its report. The
    /// commit is durable when this returns `Ok`. The message is parsed
    /// before the write lock is taken, so other deliveries do not wait for
    /// the parse.
    pub fn process(&mut self, raw: &[u8]) -> Result<Report> {
        let filing = Filing {
            config: self.config,
            envelope: self.envelope,
            now: &self.now,
        };
        let parsed = filing.prepare(raw);
        let tx = self.store.begin()?;
        let report = filing.file_in(&*tx, raw, &parsed)?;
        tx.commit().context("cannot store the message")?;
        // The message is durable; a failing checkpoint must not turn that
        // into a retry (and a duplicate delivery).
        let _ = self.store.housekeeping();
        Ok(report)
    }
}

/// A message made ready to file by [`Filing::prepare`]: everything that
/// needs no database, so that `maildir` can do it on its parsing threads.
#[derive(Debug)]
pub struct Parsed {
    /// [`crate::mail::sha256_hex`] of the raw bytes.
    sha: String,
    /// `None`: not a mail message; it is stored raw as `unparsed`.
    email: Option<Box<Email>>,
    analysis: Option<Analysis>,
}

/// What filing a message needs besides the transaction: the body of
/// [`Pipeline::process`], shared with `maildir`, which files many messages
/// per transaction (group commit).
pub struct Filing<'a> {
    pub config: &'a Config,
    /// The envelope recipient the MTA gave (`--recipient`).
    pub envelope: Option<&'a str>,
    pub now: &'a str,
}

impl Filing<'_> {
    /// Hashes, parses and analyses `raw` (see [`route::analyse`]); pure.
    /// A message the parser cannot read (or panics on) is stored raw, as
    /// unparsed.
    pub fn prepare(&self, raw: &[u8]) -> Parsed {
        let sha = crate::mail::sha256_hex(raw);
        let email = message::parse_guarded(raw).map(Box::new);
        let analysis = email
            .as_deref()
            .map(|e| route::analyse(e, self.envelope, self.config));
        Parsed {
            sha,
            email,
            analysis,
        }
    }

    /// Files one message inside the caller's transaction and returns its
    /// report; nothing is committed. `parsed` is [`Filing::prepare`] of
    /// `raw`, which the caller may have run on another thread.
    ///
    /// Earlier messages of the same transaction are seen: a second message
    /// with the same Message-ID is a duplicate, and routing finds records
    /// and threads created before it.
    pub fn file_in(&self, tx: &dyn Tx, raw: &[u8], parsed: &Parsed) -> Result<Report> {
        let sha = parsed.sha.as_str();
        let email = parsed.email.as_deref();
        let key = dedupe_key(email, sha);
        let config = self.config;
        let envelope = self.envelope;
        let now = self.now;
        if let Some((id, json)) = tx.reader().duplicate(&key)? {
            return Ok(duplicate(id, &json));
        }
        let report = match email.zip(parsed.analysis.as_ref()) {
            None => {
                let id = tx.insert_email(&NewEmail {
                    dedupe_key: &key,
                    message_id: None,
                    sha256: sha,
                    received_at: now,
                    sender: None,
                    subject: None,
                    date: None,
                    status: "unparsed",
                    rule: None,
                    action: None,
                    class: None,
                    confidential: false,
                    envelope_recipient: envelope,
                    raw,
                })?;
                let mut report = Report::empty(Status::Unparsed);
                report.email_id = Some(id);
                report.reason = Some("not a mail message (no header); stored raw".into());
                tx.set_result(id, &report.to_json())?;
                report
            }
            Some((email, analysis)) => {
                let plan = route::decide_analysed(email, analysis, config, &*tx.reader())?;
                let status = match plan.outcome {
                    Outcome::Processed => "processed",
                    Outcome::Skipped => "skipped",
                };
                let sender = email
                    .from
                    .first()
                    .map(|m| crate::mail::address::normalize(&m.address));
                let id = tx.insert_email(&NewEmail {
                    dedupe_key: &key,
                    message_id: email.message_id.as_deref(),
                    sha256: sha,
                    received_at: now,
                    sender: sender.as_deref(),
                    subject: Some(&email.subject),
                    date: email.date.as_deref(),
                    status,
                    rule: plan.rule.as_deref(),
                    action: plan.action.as_deref(),
                    class: Some(&plan.class),
                    confidential: plan.confidential,
                    envelope_recipient: envelope,
                    raw,
                })?;
                let applied = store::apply(tx, &plan, id, &|m| config.prefix_for(m), now)?;
                let attachments = store::store_attachments(
                    tx,
                    id,
                    &email.attachments,
                    config.limits.attachment_bytes,
                )?;
                let mut report =
                    Report::from_plan(&plan, Some(&applied), &|_| (String::new(), None));
                report.email_id = Some(id);
                report.warnings.extend(email.warnings.iter().cloned());
                report.message_id = email.message_id.clone();
                report.attachments = attachments.iter().map(AttachmentJson::from).collect();
                tx.set_result(id, &report.to_json())?;
                report
            }
        };
        Ok(report)
    }
}

/// The first delivery's report, marked as a duplicate.
fn duplicate(id: i64, json: &str) -> Report {
    let mut report = Report::from_json(json).unwrap_or_else(|| Report::empty(Status::Duplicate));
    report.status = Status::Duplicate;
    report.email_id = Some(id);
    report.dry_run = false;
    report
}
