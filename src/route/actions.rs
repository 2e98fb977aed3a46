//! What each action does once a rule matched: archive, create_case,
//! create_opportunity, and create_lead / contact / organization / record.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::mail::address;
use crate::mail::message::Email;
use crate::route::body_fields::{self, Found};
use crate::route::lookup::Lookup;
use crate::route::parties::Parties;
use crate::route::plan::{NewRecord, Op, Plan, Target, Thread};
use crate::route::thread::{clean_subject, find_thread, follow_up};
use crate::rules::config::{Action, ClosedPolicy, Config, Rule};

/// Links the mail to every record whose primary email is the sender; if
/// none, a To recipient's, then a Cc recipient's. A contact's mail also goes
/// to the contact's oldest open opportunity.
pub(super) fn archive(plan: &mut Plan, email: &Email, store: &dyn Lookup) -> Result<()> {
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

pub(super) fn case(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    config: &Config,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    let mut related_to = None;
    if let Some(found) = find_thread(plan, email, "cases", config, parties, store)? {
        let closed = !found.0.is_open();
        let staff_keeps = parties.staff && !config.cases.staff_reopens;
        if !(closed && config.cases.closed == ClosedPolicy::NewCase) || staff_keeps {
            follow_up(plan, config, &found.0, found.1, parties.staff);
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

pub(super) fn opportunity(
    plan: &mut Plan,
    email: &Email,
    rule: &Rule,
    config: &Config,
    parties: &Parties,
    store: &dyn Lookup,
) -> Result<()> {
    let mut related_to = None;
    if let Some((opp, evidence)) =
        find_thread(plan, email, "opportunities", config, parties, store)?
    {
        if opp.is_open() {
            plan.thread = Some(Thread {
                record_id: opp.id,
                evidence,
            });
            plan.link(Target::Existing(opp.id), Op::Updated);
            return Ok(());
        }
        plan.thread_search.push(format!(
            "opportunity {} is {}; a new one is created",
            opp.id, opp.status
        ));
        related_to = Some(opp.id);
    }
    if related_to.is_none() {
        related_to = plan.thread.take().map(|t| t.record_id);
    }
    let Some(opp) = create_titled(plan, email, rule, parties, store, "opportunities", None)? else {
        return Ok(());
    };
    if let Some(old) = related_to {
        plan.relate(opp, Target::Existing(old), "related");
    }
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
pub(super) fn record(
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
