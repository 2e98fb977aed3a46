//! Rules, virtual addresses and the actions of DESIGN §3, through the binary.

use crate::util::{Env, fixture};
use mailroom::report::Status;
use mailroom::route::plan::Op;

const HEAD: &str =
    "mailroom:\n  handle: crm\n  domains: [example.com]\n  own_addresses: [\"*@example.com\"]\n";

fn rules(body: &str) -> Env {
    Env::with_config(&format!("{HEAD}actions:\n{body}"))
}

/// The rule that matched `fixture` under a one-rule config with `when`.
fn matches(when: &str, fixture_name: &str) -> bool {
    let env = rules(&format!(
        "  - name: probe\n    when: {when}\n    do: archive\n"
    ));
    let r = env.run(&["process", "--dry-run"], &fixture(fixture_name));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.report().rule.as_deref() == Some("probe")
}

#[test]
fn operators_of_every_family() {
    let f = "support-request.eml";
    assert!(matches("{ from: { equals: ann@customer.example } }", f));
    assert!(
        matches("{ from: { equals: ANN@Customer.Example } }", f),
        "case-insensitive by default"
    );
    assert!(!matches(
        "{ from: { equals: ANN@Customer.Example, case_sensitive: true } }",
        f
    ));
    assert!(matches("{ subject: { contains: PRINTER } }", f));
    assert!(matches("{ subject: { starts_with: printer } }", f));
    assert!(matches("{ subject: { ends_with: broken } }", f));
    assert!(matches("{ subject: { regex: 'floor \\d+' } }", f));
    assert!(!matches("{ subject: { regex: '^floor' } }", f));
    assert!(matches(
        "{ from: { in: [x@y.example, ann@customer.example] } }",
        f
    ));
    assert!(matches("{ from: { domain: customer.example } }", f));
    assert!(!matches("{ from: { domain: example } }", f));
    assert!(matches(
        "{ header: { name: Content-Type, contains: utf-8 } }",
        f
    ));
    assert!(matches("{ header: { name: X-Missing, exists: false } }", f));
    assert!(!matches("{ header: { name: X-Missing, exists: true } }", f));
    assert!(matches("{ body: { contains: blank pages } }", f));
    assert!(matches("{ to: { equals: support@example.com } }", f));
    assert!(matches("{ cc: { exists: false } }", f));
    assert!(matches("{ class: human }", f));
    assert!(matches("{ recipient: { contains: support@ } }", f));
}

#[test]
fn all_any_not_nest() {
    let f = "support-request.eml";
    assert!(matches(
        "{ all: [ { subject: { contains: printer } }, { from: { domain: customer.example } } ] }",
        f
    ));
    assert!(!matches(
        "{ all: [ { subject: { contains: printer } }, { from: { domain: other.example } } ] }",
        f
    ));
    assert!(matches(
        "{ any: [ { subject: { contains: nothing } }, { not: { cc: { exists: true } } } ] }",
        f
    ));
    assert!(
        matches(
            "{ subject: { contains: printer }, from: { domain: customer.example } }",
            f
        ),
        "a bare map is all:"
    );
    assert!(!matches("{ not: { subject: { contains: printer } } }", f));
}

#[test]
fn suffix_and_attachment_conditions() {
    assert!(matches("{ suffix: lead }", "lead-plus-address.eml"));
    assert!(!matches("{ suffix: case }", "lead-plus-address.eml"));
    assert!(matches(
        "{ attachment: { exists: false } }",
        "lead-plus-address.eml"
    ));
}

#[test]
fn first_matching_rule_wins() {
    let env = rules(
        "  - name: first\n    when: { suffix: lead }\n    do: create_lead\n  - name: second\n    when: { suffix: lead }\n    do: archive\n",
    );
    assert_eq!(
        env.file(&fixture("lead-plus-address.eml")).rule.as_deref(),
        Some("first")
    );
}

#[test]
fn no_rule_matched_is_skipped_and_kept() {
    let env = rules("  - name: only leads\n    when: { suffix: lead }\n    do: create_lead\n");
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.status, Status::Skipped);
    assert_eq!(r.reason.as_deref(), Some("no rule matched"));
    let list = env.run(&["emails", "list", "--status", "skipped", "--json"], b"");
    assert_eq!(list.json_lines().len(), 1);
}

#[test]
fn built_in_defaults_route_by_suffix_without_a_config() {
    let env = Env::new();
    let r = env.file(&fixture("lead-plus-address.eml"));
    assert_eq!(r.action.as_deref(), Some("create_lead"));
    assert_eq!(r.records[0].module, "leads");
    let r = env.file(&fixture("deal-original.eml"));
    assert_eq!(r.action.as_deref(), Some("create_opportunity"));
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.status, Status::Skipped, "no suffix, no default rule");
}

#[test]
fn the_envelope_recipient_comes_first() {
    let env = rules(
        "  - name: cases\n    when: { suffix: case }\n    do: create_case\n  - name: leads\n    when: { suffix: lead }\n    do: create_lead\n",
    );
    // To says +lead; the MTA's envelope says +case.
    let r = env.process_to("crm+case@example.com", &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report().rule.as_deref(), Some("cases"));
    // Delivered-To alone is enough.
    let r = env.file(&fixture("envelope-only.eml"));
    assert_eq!(r.rule.as_deref(), Some("cases"));
}

#[test]
fn create_lead_only_for_a_new_sender() {
    let env = Env::new();
    let a = env.file(&fixture("lead-plus-address.eml"));
    assert_eq!(a.records[0].op, Op::Created);
    let lead = env.record(a.records[0].id.expect("id"));
    assert_eq!(lead["record"]["email"], "bob@prospect.example");
    assert_eq!(lead["record"]["fields"]["name"], "Bob Prospect");
    let again = String::from_utf8(fixture("lead-plus-address.eml"))
        .expect("utf8")
        .replace("<lead-1@", "<lead-2@");
    let b = env.file(again.as_bytes());
    assert_eq!(b.records.len(), 1);
    assert_eq!(b.records[0].op, Op::Linked);
    assert_eq!(b.records[0].id, a.records[0].id);
    assert_eq!(env.records("leads").len(), 1);
}

#[test]
fn create_contact_and_organization() {
    let env = rules(
        "  - name: contacts\n    when: { suffix: contact }\n    do: create_contact\n  - name: orgs\n    when: { suffix: org }\n    do: create_organization\n",
    );
    let raw = String::from_utf8(fixture("lead-plus-address.eml")).expect("utf8");
    let r = env.file(raw.replace("crm+lead@", "crm+contact@").as_bytes());
    assert_eq!(r.records[0].module, "contacts");
    let r = env.file(
        raw.replace("crm+lead@", "crm+org@")
            .replace("<lead-1@", "<org-1@")
            .as_bytes(),
    );
    assert_eq!(r.records[0].module, "organizations");
    let org = env.record(r.records[0].id.expect("id"));
    assert_eq!(org["record"]["fields"]["name"], "Bob Prospect");
}

#[test]
fn create_record_makes_a_record_of_any_module() {
    let env = rules(
        "  - name: tickets\n    when: { body: { contains: quote } }\n    do: create_record\n    module: quotes\n    set: { source: mail }\n",
    );
    let r = env.file(&fixture("lead-plus-address.eml"));
    assert_eq!(r.records[0].module, "quotes");
    assert_eq!(r.records[0].number.as_deref(), Some("QUOTES-1"));
    let q = env.record(r.records[0].id.expect("id"));
    assert_eq!(q["record"]["fields"]["source"], "mail");
}

#[test]
fn skip_files_nothing_but_keeps_the_mail() {
    let env = rules("  - name: drop\n    do: skip\n");
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.status, Status::Skipped);
    assert_eq!(r.action.as_deref(), Some("skip"));
    let snapshot = env.snapshot();
    assert_eq!((snapshot.records, snapshot.emails), (0, 1));
}

#[test]
fn archive_links_from_then_to_and_the_open_opportunity() {
    let env = rules("  - name: archive\n    do: archive\n");
    let contact = env.add("contacts", &["email=ann@customer.example", "name=Ann"]);
    let r = env.file(&fixture("archive-from-contact.eml"));
    assert_eq!(r.status, Status::Processed);
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].id, Some(contact));
    // Our agent writes to the contact: From is ours, To finds her.
    let r = env.file(&fixture("archive-to-contact.eml"));
    assert_eq!(
        r.records.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(contact)]
    );
    // Unknown sender and recipients: skipped, but kept.
    let r = env.file(&fixture("lead-plus-address.eml"));
    assert_eq!(r.status, Status::Skipped);
    assert!(r.reason.unwrap_or_default().contains("no record"));
}

#[test]
fn archive_also_files_to_the_contacts_first_open_opportunity() {
    let env = Env::with_config(&format!(
        "{HEAD}actions:\n  - name: deals\n    when: {{ suffix: deal }}\n    do: create_opportunity\n  - name: archive\n    do: archive\n"
    ));
    let contact = env.add("contacts", &["email=gina@buyer.example"]);
    let deal = env.file(&fixture("deal-original.eml"));
    let opp = deal
        .records
        .iter()
        .find(|r| r.module == "opportunities")
        .and_then(|r| r.id);
    let raw = String::from_utf8(fixture("archive-from-contact.eml"))
        .expect("utf8")
        .replace("ANN@Customer.example", "gina@buyer.example");
    let r = env.file(raw.as_bytes());
    let ids: Vec<_> = r.records.iter().map(|x| x.id).collect();
    assert!(
        ids.contains(&Some(contact)) && ids.contains(&opp),
        "{ids:?}"
    );
}

#[test]
fn the_per_record_mailbox_files_to_that_record_whatever_the_rules() {
    let env = rules("  - name: drop\n    do: skip\n");
    let id = env.add("contacts", &["email=ann@customer.example"]);
    assert_eq!(id, 1);
    for f in ["record-mailbox.eml", "record-mailbox-archive.eml"] {
        let r = env.file(&fixture(f));
        assert_eq!(r.status, Status::Processed, "{f}");
        assert_eq!(r.rule, None);
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.records[0].id, Some(1));
        assert_eq!(r.records[0].op, Op::Linked);
    }
    let shown = env.record(1);
    assert_eq!(shown["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_mailbox_for_a_missing_record_warns_and_falls_back_to_rules() {
    let env = rules("  - name: drop\n    do: skip\n");
    let r = env.file(&fixture("record-mailbox.eml"));
    assert_eq!(r.rule.as_deref(), Some("drop"));
    assert!(r.warnings[0].contains("record 1"));
}

#[test]
fn own_addresses_are_never_the_customer() {
    let env = rules(
        "  - name: cases\n    when: { suffix: case }\n    do: create_case\n    create_contact: true\n",
    );
    let r = env.file(&fixture("forwarded-by-own.eml"));
    let contact = r
        .records
        .iter()
        .find(|x| x.module == "contacts")
        .expect("contact");
    let c = env.record(contact.id.expect("id"));
    assert_eq!(c["record"]["email"], "carol@client.example");
}

#[test]
fn bcc_is_never_read() {
    let env = rules("  - name: cases\n    when: { suffix: case }\n    do: create_case\n");
    // The Bcc header names crm+case@, but only the envelope may route.
    let r = env.file(&fixture("bcc-header-only.eml"));
    assert_eq!(r.status, Status::Skipped);
    let r = env.file(&fixture("bcc-helpdesk.eml"));
    assert_eq!(r.action.as_deref(), Some("create_case"));
}

#[test]
fn without_a_handle_any_plus_suffix_counts() {
    let env = Env::with_config(
        "actions:\n  - name: leads\n    when: { suffix: lead }\n    do: create_lead\n",
    );
    let raw = String::from_utf8(fixture("lead-plus-address.eml"))
        .expect("utf8")
        .replace("crm+lead@example.com", "sales+lead@anything.example");
    let r = env.file(raw.as_bytes());
    assert_eq!(r.rule.as_deref(), Some("leads"));
    let lead = env.record(r.records[0].id.expect("id"));
    assert_eq!(lead["record"]["email"], "bob@prospect.example");
}

#[test]
fn records_import_seeds_contacts_all_or_nothing() {
    let env = rules("  - name: archive\n    do: archive\n");
    let file = env.path("contacts.jsonl");
    std::fs::write(
        &file,
        "{\"module\":\"contacts\",\"email\":\"Ann@Customer.example\",\"name\":\"Ann\"}\n\n{\"module\":\"organizations\",\"name\":\"Customer Inc\",\"status\":\"open\",\"employees\":40}\n",
    )
    .expect("write");
    let r = env.run(
        &["records", "import", file.to_str().unwrap_or_default()],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(env.records("contacts")[0]["email"], "ann@customer.example");
    assert_eq!(env.records("organizations")[0]["fields"]["employees"], "40");
    // The contact now exists, so archive finds it.
    assert_eq!(
        env.file(&fixture("archive-from-contact.eml")).status,
        Status::Processed
    );

    std::fs::write(&file, "{\"module\":\"contacts\",\"email\":\"x@y.example\"}\n{\"email\":\"no-module@y.example\"}\n").expect("write");
    let r = env.run(
        &["records", "import", file.to_str().unwrap_or_default()],
        b"",
    );
    assert_eq!(r.code, 65);
    assert!(
        r.stderr.contains("contacts.jsonl:2: `module` is missing"),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.records("contacts").len(),
        1,
        "nothing of a bad file is imported"
    );
}
