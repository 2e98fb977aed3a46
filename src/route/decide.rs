//! Routing one message: its class and facts ([`analyse`]), the first rule
//! that matches, and the action's plan ([`decide`]). Pure: the store is
//! read only through [`Lookup`]; no clock, no writes.

use anyhow::Result;

use crate::mail::address::{self, Signature};
use crate::mail::classify;
use crate::mail::message::Email;
use crate::route::actions;
use crate::route::lookup::Lookup;
use crate::route::parties::{Parties, facts, parties};
use crate::route::plan::{BounceInfo, Evidence, Op, Plan, RuleTrace, Target, VerificationInfo};
use crate::route::thread::follow_up;
use crate::rules::condition::Facts;
use crate::rules::config::{Action, Config, Rule};

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
    /// Where the flood limit's window starts (`limits.per_sender`), from
    /// the `now` the message is filed at.
    since: Option<String>,
}

/// The [`Analysis`] of one message filed at `now` (RFC 3339, as stored);
/// pure.
pub fn analyse(email: &Email, envelope: Option<&str>, config: &Config, now: &str) -> Analysis {
    let class = classify::classify(email);
    let parties = parties(email, envelope, config);
    Analysis {
        since: config
            .limits
            .per_sender
            .and_then(|l| crate::clock::before(now, l.per_seconds)),
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
    now: &str,
) -> Result<Plan> {
    decide_analysed(email, &analyse(email, envelope, config, now), config, store)
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
    now: &str,
) -> Result<Plan> {
    decide_with(
        email,
        &analyse(email, envelope, config, now),
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
    // whatever the rules say. With a record secret, a tag that does not
    // match never attaches; under `require_signed` neither does none.
    for v in &parties.virtuals {
        let Some(id) = v.record_id else { continue };
        let refused = match config.mailroom.signature(v) {
            Signature::Wrong => Some("its tag is wrong"),
            Signature::Missing if config.mailroom.require_signed => {
                Some("it is not signed and `require_signed` is set")
            }
            _ => None,
        };
        if let Some(why) = refused {
            plan.thread_search
                .push(format!("address: record {id} refused: {why}"));
            plan.warnings.push(format!(
                "the recipient address of record {id} is refused ({why}); rules apply"
            ));
            continue;
        }
        match store.record(id)? {
            Some(record) => {
                plan.action = Some("archive".into());
                plan.reason = Some(format!("addressed to the mailbox of record {id}"));
                plan.thread_search
                    .push(format!("address: record {id} found"));
                if matches!(record.module.as_str(), "cases" | "opportunities") {
                    follow_up(&mut plan, config, &record, Evidence::Address, parties.staff);
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
            actions::archive(&mut plan, email, store)?;
        }
        match plan.outcome {
            crate::route::plan::Outcome::Processed => {
                plan.reason = Some(format!("{why}; archived instead"))
            }
            crate::route::plan::Outcome::Skipped => {
                plan.skip(format!("{why}; nothing to archive it to"))
            }
        }
        return Ok(plan);
    }

    match rule.action {
        Action::Skip => plan.skip(format!("rule `{}` says skip", rule.name)),
        // A bounce belongs to the record whose address failed, not to the
        // mailer-daemon that sent it.
        Action::Archive if plan.bounce.is_some() && bounced(&mut plan, store)? => {}
        Action::Archive => actions::archive(&mut plan, email, store)?,
        Action::CreateCase => actions::case(&mut plan, email, rule, config, parties, store)?,
        Action::CreateOpportunity => {
            actions::opportunity(&mut plan, email, rule, config, parties, store)?
        }
        Action::CreateLead
        | Action::CreateContact
        | Action::CreateOrganization
        | Action::CreateRecord => actions::record(&mut plan, email, rule, parties, store)?,
    }
    flood_limit(&mut plan, config, parties, analysis.since.as_deref(), store)?;
    Ok(plan)
}

/// `limits.per_sender`: a sender whose mail created that many records in
/// the window creates no more; the mail is still stored and linked to
/// what it follows up. Our own addresses are exempt.
fn flood_limit(
    plan: &mut Plan,
    config: &Config,
    parties: &Parties,
    since: Option<&str>,
    store: &dyn Lookup,
) -> Result<()> {
    let (Some(limit), Some(since), Some(sender)) =
        (config.limits.per_sender, since, parties.sender.as_deref())
    else {
        return Ok(());
    };
    if plan.creates.is_empty() || parties.staff {
        return Ok(());
    }
    let made = store.created_by_sender(sender, since)?;
    if made + plan.creates.len() as u64 <= limit.records {
        return Ok(());
    }
    let why = format!(
        "rate limited: {sender} created {made} record(s) since {since} (limits.per_sender allows {})",
        limit.records
    );
    plan.creates.clear();
    plan.links
        .retain(|l| matches!(l.target, Target::Existing(_)));
    plan.relations
        .retain(|r| matches!((r.from, r.to), (Target::Existing(_), Target::Existing(_))));
    if plan.links.is_empty() {
        plan.skip(why);
    } else {
        plan.reason = Some(why);
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::lookup::RecordInfo;
    use crate::route::thread::clean_subject;

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
        /// What `created_by_sender` answers.
        created: u64,
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
        fn created_by_sender(&self, _: &str, _: &str) -> Result<u64> {
            Ok(self.created)
        }
        fn referenced_by(&self, _: &str, _: &str) -> Result<Option<RecordInfo>> {
            Ok(None)
        }
        fn shared_reference(&self, _: &str, _: &[String]) -> Result<Option<(RecordInfo, String)>> {
            Ok(None)
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
        crate::mail::message::parse(raw.as_bytes()).expect("parses")
    }

    const NOW: &str = "2026-11-27T10:00:00Z";

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
    fn only_the_envelope_names_virtual_addresses() {
        let c = config(HANDLE);
        let e = mail(
            "From: a@b.example\nTo: crm+lead@example.com\nDelivered-To: crm+case@example.com\nDelivered-To: crm+7@example.com",
        );
        // The MTA's envelope recipient: nothing in the headers counts.
        let f = facts(&e, &parties(&e, Some("crm+deal@example.com"), &c), "human");
        assert_eq!(f.suffix, vec!["deal"]);
        assert_eq!(f.recipient[0], "crm+deal@example.com");
        // Without it, the topmost Delivered-To (our MTA's) and no other.
        let p = parties(&e, None, &c);
        assert_eq!(facts(&e, &p, "human").suffix, vec!["case"]);
        assert!(p.virtuals.iter().all(|v| v.record_id.is_none()));
        // With neither, To and Cc.
        let e = mail("From: a@b.example\nTo: crm+lead@example.com\nCc: crm+case@example.com");
        assert_eq!(
            facts(&e, &parties(&e, None, &c), "human").suffix,
            vec!["lead", "case"]
        );
    }

    #[test]
    fn first_match_wins_and_the_trace_stops_there() {
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: a\n    when: {{ suffix: lead }}\n    do: skip\n  - name: b\n    when: {{ suffix: case }}\n    do: archive\n  - name: c\n    do: archive\n"
        ));
        let e = mail("From: a@b.example\nTo: crm+case@example.com");
        let plan = explain(&e, None, &c, &Fake::default(), NOW).expect("plan");
        assert_eq!(plan.rule.as_deref(), Some("b"));
        assert_eq!(
            plan.trace.iter().map(|t| t.matched).collect::<Vec<_>>(),
            vec![false, true]
        );
        assert!(plan.trace[0].condition.is_some());
        // Filing skips the trace: only the matching rule, no conditions.
        let plan = decide(&e, None, &c, &Fake::default(), NOW).expect("plan");
        assert_eq!(plan.rule.as_deref(), Some("b"));
        assert_eq!(plan.trace.len(), 1);
        assert!(plan.trace[0].condition.is_none());
    }

    #[test]
    fn a_mailbox_address_overrides_the_rules() {
        let c = config(&format!("{HANDLE}actions:\n  - name: drop\n    do: skip\n"));
        let store = Fake::default().with(345, "contacts", "ann@x.example", "open");
        let e = mail("From: agent@example.com\nTo: crm+345@example.com");
        let plan = decide(&e, None, &c, &store, NOW).expect("plan");
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
        let plan = decide(&e, None, &c, &store, NOW).expect("plan");
        assert_eq!(
            plan.thread.map(|t| (t.record_id, t.evidence)),
            Some((2, Evidence::References))
        );
        let e = mail("From: eve@evil.example\nTo: crm@example.com\nSubject: Re: [CASE-1]");
        let plan = decide(&e, None, &c, &store, NOW).expect("plan");
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
        let plan = decide(&e, None, &c, &Fake::default(), NOW).expect("plan");
        assert!(plan.creates.is_empty());
        assert_eq!(plan.outcome, crate::route::plan::Outcome::Skipped);
        let c = config(&format!(
            "{HANDLE}actions:\n  - name: leads\n    when: {{ class: auto_reply }}\n    do: create_lead\n"
        ));
        let plan = decide(&e, None, &c, &Fake::default(), NOW).expect("plan");
        assert_eq!(plan.creates.len(), 1);
    }
}
