//! One message through read → parse → route → apply → report: the
//! imperative shell around the pure core.

use anyhow::{Context, Result};

use crate::mail::message::{self, Email};
use crate::mail::seal::Recipients;
use crate::report::{AttachmentJson, Report, Status};
use crate::route::plan::{Outcome, Plan};
use crate::route::{self, Analysis};
use crate::rules::Config;
use crate::store::{self, Filed, NewEmail, Reader, Store, Tx};

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
        let mut plan = route::explain(&email, self.envelope, self.config, reader, &self.now)?;
        if let Some(id) = stored_as {
            plan.warnings.push(format!(
                "already stored as mail {id}; a delivery now would be a duplicate"
            ));
        }
        let report = preview(self.config, reader, &email, &plan);
        Ok((Some(plan), report))
    }

    /// Files one message in one transaction and returns its report. The
    /// commit is durable when this returns `Ok`. A transaction that lost a
    /// race is run again ([`store::write`]). The message is parsed
    /// before the write lock is taken, so other deliveries do not wait for
    /// the parse.
    pub fn process(&mut self, raw: &[u8]) -> Result<Report> {
        let filing = Filing {
            config: self.config,
            envelope: self.envelope,
            now: &self.now,
        };
        let parsed = filing.prepare(raw);
        // A transaction that lost a race (PostgreSQL: another server filed
        // the same mail meanwhile) runs again and sees what won.
        let report = store::write(self.store, Some(&parsed.claims()), |tx| {
            filing.file_in(tx, raw, &parsed)
        })
        .context("cannot store the message")?;
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
    /// The first From address, normalised.
    sender: Option<String>,
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
            .map(|e| route::analyse(e, self.envelope, self.config, self.now));
        let sender = email
            .as_deref()
            .and_then(|e| e.from.first())
            .map(|m| crate::mail::address::normalize(&m.address));
        Parsed {
            sha,
            email,
            sender,
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
        let key = dedupe_key(parsed.email.as_deref(), &parsed.sha);
        if let Some((id, json)) = tx.reader().duplicate(&key)? {
            return Ok(duplicate(id, &json));
        }
        let plan = self.decide(&*tx.reader(), parsed)?;
        if let Some(plan) = &plan {
            tx.claim(&self.claims_of(plan))?;
        }
        let seal = self.seal(plan.as_ref());
        let sealed = seal
            .map(|to| to.seal(raw))
            .transpose()
            .map_err(|e| anyhow::anyhow!("cannot seal a confidential mail: {e}"))?;
        let mut filed = parsed.filed(plan.as_ref());
        if sealed.is_some() {
            filed.subject = None;
        }
        let id = tx.insert_email(&NewEmail {
            dedupe_key: &key,
            sha256: &parsed.sha,
            received_at: self.now,
            envelope_recipient: self.envelope,
            raw: sealed.as_deref().unwrap_or(raw),
            sealed: sealed.is_some(),
            filed,
        })?;
        self.apply(tx, id, parsed, plan.as_ref(), true)
    }

    /// What the records `plan` creates claim ([`store::claim`]): their
    /// email, and the values of the fields body rules look records up by.
    fn claims_of(&self, plan: &Plan) -> Vec<String> {
        let looked_up = self.config.looked_up_fields();
        let mut keys = Vec::new();
        for r in &plan.creates {
            keys.extend(r.email.as_deref().map(store::claim::address));
            for (field, value) in &r.fields {
                if looked_up.contains(&(r.module.as_str(), field.as_str())) {
                    keys.push(store::claim::field(&r.module, field, value));
                }
            }
        }
        keys
    }

    /// Stores the Message-IDs a mail refers to, for the replies and
    /// follow-ups filed after it (see `route::thread`).
    fn store_refs(&self, tx: &dyn Tx, id: i64, parsed: &Parsed) -> Result<()> {
        let ids = parsed
            .email
            .as_deref()
            .map(crate::route::thread::evidence_ids)
            .unwrap_or_default();
        Ok(tx.set_refs(id, &ids)?)
    }

    /// The recipients a mail's content is sealed to: those of
    /// `confidential.encrypt_to`, when the plan says the mail is
    /// confidential.
    pub fn seal(&self, plan: Option<&Plan>) -> Option<&Recipients> {
        self.config
            .seal
            .as_ref()
            .filter(|_| plan.is_some_and(|p| p.confidential))
    }

    /// Routes a prepared message against what the store holds now; `None`
    /// for bytes that are not mail.
    pub fn decide(&self, reader: &dyn Reader, parsed: &Parsed) -> Result<Option<Plan>> {
        match parsed.email.as_deref().zip(parsed.analysis.as_ref()) {
            Some((email, analysis)) => Ok(Some(route::decide_analysed(
                email,
                analysis,
                self.config,
                reader,
            )?)),
            None => Ok(None),
        }
    }

    /// Applies a mail's plan inside the caller's transaction (links,
    /// records, and the attachments when `attachments`), stores its result
    /// and returns it.
    pub fn apply(
        &self,
        tx: &dyn Tx,
        id: i64,
        parsed: &Parsed,
        plan: Option<&Plan>,
        attachments: bool,
    ) -> Result<Report> {
        let Some((email, plan)) = parsed.email.as_deref().zip(plan) else {
            let mut report = Report::empty(Status::Unparsed);
            report.email_id = Some(id);
            report.reason = Some("not a mail message (no header); stored raw".into());
            tx.set_result(id, &report.to_json())?;
            return Ok(report);
        };
        self.store_refs(tx, id, parsed)?;
        let config = self.config;
        let seal = self.seal(Some(plan));
        let applied = store::apply(tx, plan, id, &|m| config.prefix_for(m), seal, self.now)?;
        let stored = if attachments {
            store::store_attachments(
                tx,
                id,
                &email.attachments,
                config.limits.attachment_bytes,
                seal.is_some(),
            )?
        } else {
            tx.reader().attachments(id)?
        };
        let mut report = Report::from_plan(plan, Some(&applied), &|_| (String::new(), None));
        report.email_id = Some(id);
        report.warnings.extend(email.warnings.iter().cloned());
        report.message_id = email.message_id.clone();
        report.attachments = stored.iter().map(AttachmentJson::from).collect();
        if seal.is_some() {
            // What is stored in clear of a sealed mail says nothing of its
            // content: warnings and a forwarding code may quote it.
            let mut kept = report.clone();
            kept.warnings.clear();
            kept.verification = None;
            tx.set_result(id, &kept.to_json())?;
        } else {
            tx.set_result(id, &report.to_json())?;
        }
        Ok(report)
    }
}

impl Parsed {
    /// What a delivery of this mail claims before routing
    /// ([`store::claim::of_mail`]).
    pub fn claims(&self) -> Vec<String> {
        let email = self.email.as_deref();
        let ids = email
            .map(crate::route::thread::evidence_ids)
            .unwrap_or_default();
        store::claim::of_mail(
            self.sender.as_deref(),
            email
                .and_then(|e| e.message_id.as_ref())
                .into_iter()
                .chain(&ids),
        )
    }

    /// What the mail says and what `plan` decided, as stored.
    pub fn filed<'p>(&'p self, plan: Option<&'p Plan>) -> Filed<'p> {
        let email = self.email.as_deref();
        Filed {
            message_id: email.and_then(|e| e.message_id.as_deref()),
            sender: self.sender.as_deref(),
            subject: email.map(|e| e.subject.as_str()),
            date: email.and_then(|e| e.date.as_deref()),
            status: match plan.map(|p| p.outcome) {
                None => "unparsed",
                Some(Outcome::Processed) => "processed",
                Some(Outcome::Skipped) => "skipped",
            },
            rule: plan.and_then(|p| p.rule.as_deref()),
            action: plan.and_then(|p| p.action.as_deref()),
            class: plan.map(|p| p.class.as_str()),
            confidential: plan.is_some_and(|p| p.confidential),
        }
    }

    /// The parsed message, `None` for bytes that are not mail.
    pub fn email(&self) -> Option<&Email> {
        self.email.as_deref()
    }
}

/// The report filing `email` by `plan` would print, with nothing written:
/// records to create have no id yet.
pub fn preview(config: &Config, reader: &dyn Reader, email: &Email, plan: &Plan) -> Report {
    let describe = |id: i64| match reader.record(id) {
        Ok(Some(r)) => (r.module, r.number),
        _ => (String::new(), None),
    };
    let mut report = Report::from_plan(plan, None, &describe);
    report.warnings.extend(email.warnings.iter().cloned());
    report.message_id = email.message_id.clone();
    report.attachments = email
        .attachments
        .iter()
        .map(|a| {
            let stored = a.size as u64 <= config.limits.attachment_bytes;
            AttachmentJson {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                stored,
                reason: (!stored).then(|| "larger than limits.attachment_bytes".into()),
            }
        })
        .collect();
    report
}

/// The first delivery's report, marked as a duplicate.
fn duplicate(id: i64, json: &str) -> Report {
    let mut report = Report::from_json(json).unwrap_or_else(|| Report::empty(Status::Duplicate));
    report.status = Status::Duplicate;
    report.email_id = Some(id);
    report.dry_run = false;
    report
}
