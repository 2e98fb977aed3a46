//! Routing: from one [`Email`] and the [`Config`] to a [`Plan`], pure.
//!
//! The store is consulted only through the read-only [`Lookup`] trait; no
//! clock, no writes. `--dry-run` and `explain` are this module without
//! `apply`.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::address::{self, Virtual};
use crate::body_fields::{self, Found};
use crate::classify;
use crate::condition::Facts;
use crate::config::{Action, ClosedPolicy, Config, Rule};
use crate::message::Email;
use crate::plan::{
    BounceInfo, Evidence, NewRecord, Op, Plan, RuleTrace, Target, Thread, VerificationInfo,
};

/// A stored record as routing needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub email: Option<String>,
    pub status: String,
}

impl RecordInfo {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// The read-only questions routing asks the store. Lists come oldest first.
pub trait Lookup {
    fn record(&self, id: i64) -> Result<Option<RecordInfo>>;
    /// Records whose primary email is `email` (normalised).
    fn by_email(&self, email: &str) -> Result<Vec<RecordInfo>>;
    /// The oldest record of `module` whose primary email is `email`.
    fn oldest_by_email(&self, module: &str, email: &str) -> Result<Option<RecordInfo>> {
        Ok(self
            .by_email(email)?
            .into_iter()
            .filter(|r| r.module == module)
            .min_by_key(|r| r.id))
    }
    /// The newest record of `module` linked to a mail with one of these
    /// Message-IDs.
    fn thread(&self, module: &str, message_ids: &[String]) -> Result<Option<RecordInfo>>;
    fn by_number(&self, module: &str, number: &str) -> Result<Option<RecordInfo>>;
    /// Records of `module` whose field `field` equals `value`, ignoring case.
    fn by_field(&self, module: &str, field: &str, value: &str) -> Result<Vec<RecordInfo>>;
    /// Records related to `id` by a relation of `kind`, either direction.
    fn related(&self, id: i64, kind: &str) -> Result<Vec<RecordInfo>>;
}

/// Who a message is between: the mailroom's addresses, the customer.
#[derive(Debug, Clone, Default)]
pub struct Parties {
    /// The recipients, normalised, in routing order (see `recipients`).
    pub recipients: Vec<String>,
    /// Virtual addresses among the recipients, envelope first.
    pub virtuals: Vec<Virtual>,
    /// The first address in From, To, Cc that is neither ours nor the
    /// mailroom's.
    pub customer: Option<String>,
    pub customer_name: Option<String>,
    pub sender: Option<String>,
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

pub fn parties(email: &Email, envelope: Option<&str>, config: &Config) -> Parties {
    let recipients = recipients(email, envelope);
    let virtuals: Vec<Virtual> = recipients
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
    }
}

/// The per-message values rule conditions test; `parties` is
/// [`parties`] of the same message.
pub fn facts(email: &Email, parties: &Parties, class: &str) -> Facts {
    let addrs = |list: &[crate::message::Mailbox]| {
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

/// What routing reads from the message and the config alone, before any
/// lookup: its class, the values conditions test, who it is between,
/// and what a bounce or a forwarding confirmation says. A `maildir` run
/// computes this on its parsing threads, so the one writer only looks up.
#[derive(Debug, Clone)]
pub struct Analysis {
    class: classify::Classification,
    facts: Facts,
    parties: Parties,
    confidential: bool,
    verification: Option<VerificationInfo>,
    bounce: Option<BounceInfo>,
}

/// The [`Analysis`] of one message; pure.
pub fn analyse(email: &Email, envelope: Option<&str>, config: &Config) -> Analysis {
    let class = classify::classify(email);
    let parties = parties(email, envelope, config);
    Analysis {
        facts: facts(email, &parties, class.class.as_str()),
        parties,
        confidential: email.header("Sensitivity").is_some_and(|s| {
            matches!(
                s.to_ascii_lowercase().as_str(),
                "private" | "company-confidential"
            )
        }),
        verification: classify::find_verification(email).map(|v| VerificationInfo {
            code: v.code,
            link: v.link,
        }),
        bounce: classify::parse_bounce(email, class.class).map(|b| BounceInfo {
            recipient: b.recipient,
            status: b.status,
        }),
        class,
    }
}

/// Decides what to do with one message. Errors are the store's. The plan's
/// `trace` lists only the rule that matched; [`explain`] records every
/// condition.
pub fn decide(
    email: &Email,
    envelope: Option<&str>,
    config: &Config,
    store: &dyn Lookup,
) -> Result<Plan> {
    decide_analysed(email, &analyse(email, envelope, config), config, store)
}

/// [`decide`] with the message's [`analyse`] already done.
pub fn decide_analysed(
    email: &Email,
    analysis: &Analysis,
    config: &Config,
    store: &dyn Lookup,
) -> Result<Plan> {
    decide_with(email, analysis, config, store, false)
}

/// [`decide`], recording each rule and condition evaluated (for `explain`
/// and `--dry-run`; filing skips this work).
pub fn explain(
    email: &Email,
    envelope: Option<&str>,
    config: &Config,
    store: &dyn Lookup,
) -> Result<Plan> {
    decide_with(
        email,
        &analyse(email, envelope, config),
        config,
        store,
        true,
    )
}

fn decide_with(
    email: &Email,
    analysis: &Analysis,
    config: &Config,
    store: &dyn Lookup,
    traced: bool,
) -> Result<Plan> {
    let Analysis {
        class,
        facts,
        parties,
        ..
    } = analysis;
    let mut plan = Plan::new(class.class.as_str());
    plan.confidential = analysis.confidential;
    plan.verification = analysis.verification.clone();
    plan.bounce = analysis.bounce.clone();

    // A mailbox per record: `crm+345@` files the mail to record 345,
    // whatever the rules say.
    for v in &parties.virtuals {
        let Some(id) = v.record_id else { continue };
        match store.record(id)? {
            Some(record) => {
                plan.action = Some("archive".into());
                plan.reason = Some(format!("addressed to the mailbox of record {id}"));
                plan.thread_search
                    .push(format!("address: record {id} found"));
                if matches!(record.module.as_str(), "cases" | "opportunities") {
                    follow_up(&mut plan, config, &record, Evidence::Address);
                } else {
                    plan.link(Target::Existing(id), Op::Linked);
                }
                return Ok(plan);
            }
            None => {
                plan.thread_search
                    .push(format!("address: record {id} does not exist"));
                plan.warnings.push(format!(
                    "record {id} named by the recipient address does not exist; rules apply"
                ));
            }
        }
    }

    let Some(rule) = first_match(&mut plan, config, facts, traced) else {
        if plan.bounce.is_some() && bounced(&mut plan, store)? {
            plan.reason = Some(
                "no rule matched; a bounce is filed to the record of its failed recipient".into(),
            );
        } else {
            plan.skip("no rule matched");
        }
        return Ok(plan);
    };
    plan.rule = Some(rule.name.clone());
    plan.action = Some(rule.action.as_str().to_string());
    plan.confidential |= rule.confidential;

    let creates = !matches!(rule.action, Action::Archive | Action::Skip);
    if creates && class.class != classify::Class::Human && !rule.names_class() {
        let why = format!(
            "class `{}` ({}): non-human mail creates no records unless a rule names its class",
            class.class.as_str(),
            class.reason
        );
        if !(plan.bounce.is_some() && bounced(&mut plan, store)?) {
            archive(&mut plan, email, store)?;
        }
        match plan.outcome {
            crate::plan::Outcome::Processed => {
                plan.reason = Some(format!("{why}; archived instead"))
            }
            crate::plan::Outcome::Skipped => plan.skip(format!("{why}; nothing to archive it to")),
        }
        return Ok(plan);
    }

    match rule.action {
        Action::Skip => plan.skip(format!("rule `{}` says skip", rule.name)),
        // A bounce belongs to the record whose address failed, not to the
        // mailer-daemon that sent it.
        Action::Archive if plan.bounce.is_some() && bounced(&mut plan, store)? => {}
        Action::Archive => archive(&mut plan, email, store)?,
        Action::CreateCase => case(&mut plan, email, rule, config, parties, store)?,
        Action::CreateOpportunity => opportunity(&mut plan, email, rule, parties, store)?,
        Action::CreateLead
        | Action::CreateContact
        | Action::CreateOrganization
        | Action::CreateRecord => record(&mut plan, email, rule, parties, store)?,
    }
    Ok(plan)
}

/// Links a bounce to every record whose primary email is the failed
/// recipient and flags each `email_bounced`. False when none matched.
fn bounced(plan: &mut Plan, store: &dyn Lookup) -> Result<bool> {
    let Some(recipient) = plan.bounce.as_ref().and_then(|b| b.recipient.clone()) else {
        return Ok(false);
    };
    let records = store.by_email(&address::normalize(&recipient))?;
    for r in &records {
        plan.link(Target::Existing(r.id), Op::Linked);
        plan.flags.push((r.id, "email_bounced".into()));
    }
    Ok(!records.is_empty())
}

fn first_match<'c>(
    plan: &mut Plan,
    config: &'c Config,
    facts: &Facts,
    traced: bool,
) -> Option<&'c Rule> {
    for rule in &config.rules {
        let (matched, condition) = if traced {
            let t = rule.when.as_ref().map(|c| c.trace(facts));
            (t.as_ref().is_none_or(|t| t.result), t)
        } else {
            (rule.when.as_ref().is_none_or(|c| c.eval(facts)), None)
        };
        if traced || matched {
            plan.trace.push(RuleTrace {
                rule: rule.name.clone(),
                line: rule.line,
                matched,
                condition,
            });
        }
        if matched {
            return Some(rule);
        }
    }
    None
}

/// Links the mail to every record whose primary email is the sender; if
/// none, a To recipient's, then a Cc recipient's. A contact's mail also goes
/// to the contact's oldest open opportunity.
fn archive(plan: &mut Plan, email: &Email, store: &dyn Lookup) -> Result<()> {
    for list in [&email.from, &email.to, &email.cc] {
        let mut found = false;
        for m in list.iter() {
            for r in store.by_email(&address::normalize(&m.address))? {
                found = true;
                plan.link(Target::Existing(r.id), Op::Linked);
                if r.module == "contacts"
                    && let Some(opp) = store
                        .related(r.id, "contact")?
                        .into_iter()
                        .find(|o| o.module == "opportunities" && o.is_open())
                {
                    plan.link(Target::Existing(opp.id), Op::Linked);
                }
            }
        }
        if found {
            return Ok(());
        }
    }
    plan.skip("no record has the sender's or a recipient's address");
    Ok(())
}

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

/// Fields for a record the rule creates: `set:` presets, then the body
/// rule's fields over them.
fn fields(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    store: &dyn Lookup,
) -> Result<Option<Found>> {
    let mut found = Found {
        fields: rule.set.clone(),
        lookups: Vec::new(),
    };
    if let Some(br) = &rule.body_rule {
        let Some(from_body) = body_fields::apply(br, email, store, plan)? else {
            return Ok(None);
        };
        found.fields.extend(from_body.fields);
        found.lookups = from_body.lookups;
    }
    Ok(Some(found))
}

fn follow_up(plan: &mut Plan, config: &Config, record: &RecordInfo, evidence: Evidence) {
    plan.thread = Some(Thread {
        record_id: record.id,
        evidence,
    });
    let target = Target::Existing(record.id);
    if record.is_open() {
        plan.link(target, Op::Updated);
    } else if record.module == "cases" && config.cases.closed == ClosedPolicy::LinkOnly {
        plan.link(target, Op::Linked);
    } else {
        plan.link(target, Op::Reopened);
        plan.reopen.push(record.id);
    }
}

fn case(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    config: &Config,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    let mut related_to = None;
    if let Some(found) = find_case(plan, email, config, parties, store)? {
        let closed = !found.0.is_open();
        if !(closed && config.cases.closed == ClosedPolicy::NewCase) {
            follow_up(plan, config, &found.0, found.1);
            return Ok(());
        }
        plan.thread_search.push(format!(
            "case {} is closed and `cases.closed` is new_case",
            found.0.id
        ));
        related_to = Some(found.0.id);
    }
    if related_to.is_none() {
        related_to = plan.thread.take().map(|t| t.record_id);
    }
    let description = ("description", email.text.trim().to_string());
    let Some(case) = create_titled(
        plan,
        email,
        rule,
        parties,
        store,
        "cases",
        Some(description),
    )?
    else {
        return Ok(());
    };
    if let Some(old) = related_to {
        plan.relate(case, Target::Existing(old), "related");
    }
    link_contact(plan, case, rule.create_contact, parties, store)
}

/// A new case or opportunity: the rule's fields, a title from the subject
/// (and for cases a description from the body) unless the body rule gave
/// them, the customer's email, and the body rule's lookups related. `None`
/// when the body rule refused the mail (the plan says why).
fn create_titled(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    parties: &Parties,
    store: &dyn Lookup,
    module: &str,
    description: Option<(&str, String)>,
) -> Result<Option<Target>> {
    let Some(Found {
        fields: mut f,
        lookups,
    }) = fields(plan, email, rule, store)?
    else {
        return Ok(None);
    };
    f.entry("title".into()).or_insert_with(|| title(email));
    if let Some((k, v)) = description {
        f.entry(k.into()).or_insert(v);
    }
    let record = plan.create(NewRecord {
        module: module.into(),
        email: parties.customer.clone(),
        fields: f,
    });
    relate_lookups(plan, record, lookups);
    Ok(Some(record))
}

/// Thread evidence for a case, first hit wins: References/In-Reply-To,
/// then a case number in the subject (with the sender guard).
fn find_case(
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

fn thread_by_references(
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

fn opportunity(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    if let Some(opp) = thread_by_references(plan, email, "opportunities", store)? {
        if opp.is_open() {
            plan.thread = Some(Thread {
                record_id: opp.id,
                evidence: Evidence::References,
            });
            plan.link(Target::Existing(opp.id), Op::Updated);
            return Ok(());
        }
        plan.thread_search.push(format!(
            "opportunity {} is {}; a new one is created",
            opp.id, opp.status
        ));
    }
    let Some(opp) = create_titled(plan, email, rule, parties, store, "opportunities", None)? else {
        return Ok(());
    };
    link_contact(plan, opp, rule.create_contact, parties, store)
}

/// A case's or opportunity's title: the subject without reply prefixes.
fn title(email: &Email) -> String {
    let t = clean_subject(&email.subject);
    if t.is_empty() {
        "(no subject)".into()
    } else {
        t
    }
}

/// Relates a new case or opportunity to the customer's contact (creating
/// one when the rule says so) and links the mail to it.
fn link_contact(
    plan: &mut Plan,
    record: Target,
    create: bool,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    let Some(customer) = &parties.customer else {
        return Ok(());
    };
    let contact = store.oldest_by_email("contacts", customer)?;
    let target = match contact {
        Some(c) => {
            plan.link(Target::Existing(c.id), Op::Linked);
            Target::Existing(c.id)
        }
        None if create => plan.create(NewRecord {
            module: "contacts".into(),
            email: Some(customer.clone()),
            fields: name_fields(parties),
        }),
        None => return Ok(()),
    };
    plan.relate(record, target, "contact");
    Ok(())
}

fn name_fields(parties: &Parties) -> BTreeMap<String, String> {
    parties
        .customer_name
        .iter()
        .map(|n| ("name".to_string(), n.trim().to_string()))
        .collect()
}

fn relate_lookups(plan: &mut Plan, record: Target, lookups: Vec<(String, Target)>) {
    for (field, target) in lookups {
        plan.relate(record, target, &field);
    }
}

/// create_lead / create_contact / create_organization / create_record.
fn record(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    let module = match (rule.action.module(), &rule.module) {
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) => {
            plan.skip("the rule names no module");
            return Ok(());
        }
    };
    let always = rule.action == Action::CreateRecord
        || rule.body_rule.as_ref().is_some_and(|b| b.always_create);
    let Some(Found {
        fields: mut f,
        lookups,
    }) = fields(plan, email, rule, store)?
    else {
        return Ok(());
    };
    // The body's email wins; the sender's fills in only when it gave none
    // (one that is not an address stays a text field, with its warning).
    let body_email = f
        .get("email")
        .map(|e| address::normalize(e))
        .filter(|e| e.contains('@'));
    if body_email.is_some() {
        f.remove("email");
    }
    let record_email = body_email.or_else(|| parties.customer.clone());
    if !always
        && let Some(e) = &record_email
        && let Some(r) = store.oldest_by_email(&module, e)?
    {
        plan.reason = Some(format!(
            "{e} is already {} {}; mail linked to it",
            module, r.id
        ));
        plan.link(Target::Existing(r.id), Op::Linked);
        return Ok(());
    }
    if record_email.is_none() && rule.action != Action::CreateRecord && f.is_empty() {
        plan.skip("no customer address to create a record for (every address is the mailroom's or one of own_addresses)");
        return Ok(());
    }
    // The display name is the record's name only when the mail is the
    // record's own, not a form or an agency writing about someone else.
    if rule.body_rule.is_none() {
        for (k, v) in name_fields(parties) {
            f.entry(k).or_insert(v);
        }
    }

    if module == "organizations"
        && !f.contains_key("name")
        && let Some(d) = record_email.as_deref().and_then(address::domain)
    {
        f.insert("name".into(), d);
    }
    let t = plan.create(NewRecord {
        module,
        email: record_email,
        fields: f,
    });
    relate_lookups(plan, t, lookups);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_reply_prefixes() {
        assert_eq!(
            clean_subject("Re: AW: Fwd: Printer broken"),
            "Printer broken"
        );
        assert_eq!(clean_subject("RE[2]: SV: hello"), "hello");
        assert_eq!(clean_subject("Question: why?"), "Question: why?");
        assert_eq!(clean_subject(""), "");
    }

    /// An in-memory store: records, and which Message-IDs are linked to
    /// which record.
    #[derive(Default)]
    struct Fake {
        records: Vec<RecordInfo>,
        threads: Vec<(String, i64)>,
        relations: Vec<(i64, i64, String)>,
    }

    impl Fake {
        fn with(mut self, id: i64, module: &str, email: &str, status: &str) -> Self {
            self.records.push(RecordInfo {
                id,
                module: module.into(),
                number: Some(format!(
                    "{}{id}",
                    if module == "cases" { "CASE-" } else { "X-" }
                )),
                email: Some(email.into()),
                status: status.into(),
            });
            self
        }
    }

    impl Lookup for Fake {
        fn record(&self, id: i64) -> Result<Option<RecordInfo>> {
            Ok(self.records.iter().find(|r| r.id == id).cloned())
        }
        fn by_email(&self, email: &str) -> Result<Vec<RecordInfo>> {
            Ok(self
                .records
                .iter()
                .filter(|r| r.email.as_deref() == Some(email))
                .cloned()
                .collect())
        }
        fn thread(&self, module: &str, ids: &[String]) -> Result<Option<RecordInfo>> {
            for id in ids {
                for (mid, rec) in &self.threads {
                    if mid == id
                        && let Some(r) = self
                            .records
                            .iter()
                            .find(|r| r.id == *rec && r.module == module)
                    {
                        return Ok(Some(r.clone()));
                    }
                }
            }
            Ok(None)
        }
        fn by_number(&self, module: &str, number: &str) -> Result<Option<RecordInfo>> {
            Ok(self
                .records
                .iter()
                .find(|r| r.module == module && r.number.as_deref() == Some(number))
                .cloned())
        }
        fn by_field(&self, _: &str, _: &str, _: &str) -> Result<Vec<RecordInfo>> {
            Ok(Vec::new())
        }
        fn related(&self, id: i64, kind: &str) -> Result<Vec<RecordInfo>> {
            Ok(self
                .relations
                .iter()
                .filter(|(a, b, k)| k == kind && (*a == id || *b == id))
                .filter_map(|(a, b, _)| {
                    self.records
                        .iter()
                        .find(|r| r.id == if *a == id { *b } else { *a })
                        .cloned()
                })
                .collect())
        }
    }

    fn config(yaml: &str) -> Config {
        match Config::parse(std::path::Path::new("test.yaml"), yaml) {
            Ok(l) => l.config,
            Err(e) => panic!("{}", e.render()),
        }
    }

    fn mail(headers: &str) -> Email {
        let raw = format!("{headers}\nMessage-ID: <m@x>\n\nbody\n");
        crate::message::parse(raw.as_bytes()).expect("parses")
    }

    const HANDLE: &str = "mailroom:\n  handle: crm\n  own_addresses: [\"*@example.com\"]\n";

    #[test]
    fn the_customer_is_the_first_address_that_is_not_ours() {
        let c = config(HANDLE);
        let e = mail(
            "From: Agent <agent@example.com>\nTo: crm+case@example.com, Carol <carol@client.example>",
        );
        let p = parties(&e, None, &c);
        assert_eq!(p.customer.as_deref(), Some("carol@client.example"));
        assert_eq!(p.customer_name.as_deref(), Some("Carol"));
        assert_eq!(p.virtuals.len(), 1);
        let e = mail("From: agent@example.com\nTo: crm@example.com");
        assert_eq!(parties(&e, None, &c).customer, None);
    }

    #[test]
    fn the_envelope_comes_before_the_headers() {
        let c = config(HANDLE);
        let e =
            mail("From: a@b.example\nTo: crm+lead@example.com\nDelivered-To: crm+case@example.com");
        let f = facts(&e, &parties(&e, Some("crm+deal@example.com"), &c), "human");
        assert_eq!(f.suffix, vec!["deal", "case", "lead"]);
        assert_eq!(f.recipient[0], "crm+deal@example.com");
    }

    #[test]
    fn first_match_wins_and_the_trace_stops_there() {
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: a\n    when: {{ suffix: lead }}\n    do: skip\n  - name: b\n    when: {{ suffix: case }}\n    do: archive\n  - name: c\n    do: archive\n"
        ));
        let e = mail("From: a@b.example\nTo: crm+case@example.com");
        let plan = explain(&e, None, &c, &Fake::default()).expect("plan");
        assert_eq!(plan.rule.as_deref(), Some("b"));
        assert_eq!(
            plan.trace.iter().map(|t| t.matched).collect::<Vec<_>>(),
            vec![false, true]
        );
        assert!(plan.trace[0].condition.is_some());
        // Filing skips the trace: only the matching rule, no conditions.
        let plan = decide(&e, None, &c, &Fake::default()).expect("plan");
        assert_eq!(plan.rule.as_deref(), Some("b"));
        assert_eq!(plan.trace.len(), 1);
        assert!(plan.trace[0].condition.is_none());
    }

    #[test]
    fn a_mailbox_address_overrides_the_rules() {
        let c = config(&format!("{HANDLE}actions:\n  - name: drop\n    do: skip\n"));
        let store = Fake::default().with(345, "contacts", "ann@x.example", "open");
        let e = mail("From: agent@example.com\nTo: crm+345@example.com");
        let plan = decide(&e, None, &c, &store).expect("plan");
        assert_eq!(plan.rule, None);
        assert_eq!(plan.links.len(), 1);
        assert_eq!(plan.links[0].target, Target::Existing(345));
    }

    #[test]
    fn references_beat_the_subject_and_a_stranger_cannot_use_the_number() {
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: cases\n    do: create_case\n"
        ));
        let mut store = Fake::default()
            .with(1, "cases", "ann@x.example", "open")
            .with(2, "cases", "bob@x.example", "open");
        store.threads.push(("<orig@x>".into(), 2));
        let e = mail(
            "From: ann@x.example\nTo: crm@example.com\nSubject: Re: [CASE-1]\nReferences: <orig@x>",
        );
        let plan = decide(&e, None, &c, &store).expect("plan");
        assert_eq!(
            plan.thread.map(|t| (t.record_id, t.evidence)),
            Some((2, Evidence::References))
        );
        let e = mail("From: eve@evil.example\nTo: crm@example.com\nSubject: Re: [CASE-1]");
        let plan = decide(&e, None, &c, &store).expect("plan");
        assert_eq!(plan.thread, None);
        assert_eq!(plan.creates.len(), 1);
        assert!(
            plan.relations
                .iter()
                .any(|r| r.to == Target::Existing(1) && r.kind == "related")
        );
    }

    #[test]
    fn non_human_mail_creates_nothing_unless_the_rule_names_its_class() {
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: leads\n    do: create_lead\n"
        ));
        let e = mail("From: a@b.example\nTo: crm+lead@example.com\nAuto-Submitted: auto-replied");
        let plan = decide(&e, None, &c, &Fake::default()).expect("plan");
        assert!(plan.creates.is_empty());
        assert_eq!(plan.outcome, crate::plan::Outcome::Skipped);
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: leads\n    when: {{ class: auto_reply }}\n    do: create_lead\n"
        ));
        let plan = decide(&e, None, &c, &Fake::default()).expect("plan");
        assert_eq!(plan.creates.len(), 1);
    }
}
