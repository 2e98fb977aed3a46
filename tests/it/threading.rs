//! Cases and opportunities follow their threads (DESIGN §3).

use crate::util::{Env, fixture};
use mailroom::report::{Report, Status};
use mailroom::route::plan::{Evidence, Op};

const CONFIG: &str = "mailroom:\n  handle: crm\n  domains: [example.com]\n  own_addresses: [\"*@example.com\"]\nactions:\n  - name: support\n    when:\n      any:\n        - recipient: { contains: \"support@\" }\n        - suffix: case\n    do: create_case\n    create_contact: true\n  - name: deals\n    when: { suffix: deal }\n    do: create_opportunity\n";

fn env() -> Env {
    Env::with_config(CONFIG)
}

fn case_count(env: &Env) -> usize {
    env.records("cases").len()
}

fn case_of(r: &Report) -> i64 {
    r.records
        .iter()
        .find(|x| x.module == "cases")
        .and_then(|x| x.id)
        .expect("a case")
}

/// The original support request: CASE-1, record 1, contact record 2.
fn opened(env: &Env) -> Report {
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.records[0].number.as_deref(), Some("CASE-1"));
    assert_eq!(r.thread, None);
    r
}

#[test]
fn a_reply_with_references_lands_on_its_case() {
    let env = env();
    let original = opened(&env);
    let r = env.file(&fixture("case-reply-references.eml"));
    let thread = r.thread.clone().expect("thread");
    assert_eq!(thread.record_id, case_of(&original));
    assert_eq!(thread.evidence, Evidence::References);
    assert_eq!(
        r.records.iter().find(|x| x.module == "cases").map(|x| x.op),
        Some(Op::Updated)
    );
    assert_eq!(case_count(&env), 1);
    let case = env.record(case_of(&original));
    assert_eq!(case["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_rewritten_subject_still_threads_by_references() {
    let env = env();
    let original = opened(&env);
    let r = env.file(&fixture("case-reply-rewritten.eml"));
    assert_eq!(
        r.thread.map(|t| (t.record_id, t.evidence)),
        Some((case_of(&original), Evidence::References))
    );
    assert_eq!(case_count(&env), 1);
}

#[test]
fn the_case_number_in_the_subject_from_the_contact_threads() {
    let env = env();
    let original = opened(&env);
    let r = env.file(&fixture("case-reply-subject.eml"));
    assert_eq!(
        r.thread.map(|t| (t.record_id, t.evidence)),
        Some((case_of(&original), Evidence::Subject))
    );
    assert_eq!(case_count(&env), 1);
}

#[test]
fn a_stranger_quoting_the_number_gets_a_new_related_case() {
    let env = env();
    let original = opened(&env);
    let r = env.file(&fixture("case-stranger-subject.eml"));
    assert_eq!(r.thread, None);
    assert!(
        r.warnings.iter().any(|w| w.contains("CASE-1")),
        "{:?}",
        r.warnings
    );
    let new_case = case_of(&r);
    assert_ne!(new_case, case_of(&original));
    assert_eq!(case_count(&env), 2);
    let shown = env.record(new_case);
    let related: Vec<_> = shown["relations"]
        .as_array()
        .expect("relations")
        .iter()
        .filter(|x| x["kind"] == "related")
        .map(|x| x["id"].as_i64())
        .collect();
    assert_eq!(related, vec![Some(case_of(&original))]);
    // The old case got no mail from the stranger.
    assert_eq!(
        env.record(case_of(&original))["emails"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn an_own_address_may_quote_the_number() {
    let env = env();
    let original = opened(&env);
    let raw = String::from_utf8(fixture("case-stranger-subject.eml"))
        .expect("utf8")
        .replace(
            "Mallory <mallory@stranger.example>",
            "Agent <agent@example.com>",
        );
    let r = env.file(raw.as_bytes());
    assert_eq!(r.thread.map(|t| t.record_id), Some(case_of(&original)));
}

#[test]
fn the_case_mailbox_address_threads() {
    let env = env();
    let original = opened(&env);
    let r = env.file(&fixture("case-by-address.eml"));
    assert_eq!(
        r.thread.map(|t| (t.record_id, t.evidence)),
        Some((case_of(&original), Evidence::Address))
    );
    assert_eq!(case_count(&env), 1);
}

#[test]
fn a_follow_up_reopens_a_closed_case_by_default() {
    let env = env();
    let id = case_of(&opened(&env));
    assert_eq!(env.run(&["records", "close", &id.to_string()], b"").code, 0);
    assert_eq!(env.record(id)["record"]["status"], "closed");
    let r = env.file(&fixture("case-reply-references.eml"));
    assert_eq!(
        r.records.iter().find(|x| x.id == Some(id)).map(|x| x.op),
        Some(Op::Reopened)
    );
    assert_eq!(env.record(id)["record"]["status"], "open");
}

#[test]
fn closed_policy_new_case_and_link_only() {
    let env = Env::with_config(&CONFIG.replace("actions:", "cases:\n  closed: new_case\nactions:"));
    let id = case_of(&opened(&env));
    env.run(&["records", "close", &id.to_string()], b"");
    let r = env.file(&fixture("case-reply-references.eml"));
    assert_ne!(case_of(&r), id);
    assert_eq!(env.record(id)["record"]["status"], "closed");
    assert_eq!(case_count(&env), 2);

    let env =
        Env::with_config(&CONFIG.replace("actions:", "cases:\n  closed: link_only\nactions:"));
    let id = case_of(&opened(&env));
    env.run(&["records", "close", &id.to_string()], b"");
    let r = env.file(&fixture("case-reply-references.eml"));
    assert_eq!(case_of(&r), id);
    assert_eq!(env.record(id)["record"]["status"], "closed");
}

#[test]
fn the_case_prefix_and_subject_pattern_are_configurable() {
    let env = Env::with_config(&CONFIG.replace(
        "actions:",
        "cases:\n  number_prefix: \"T-\"\n  subject_pattern: 'ticket (\\d+)'\nactions:",
    ));
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.records[0].number.as_deref(), Some("T-1"));
    let raw = String::from_utf8(fixture("case-reply-subject.eml"))
        .expect("utf8")
        .replace("[CASE-1]", "ticket 1");
    let r = env.file(raw.as_bytes());
    assert_eq!(r.thread.map(|t| t.evidence), Some(Evidence::Subject));
}

#[test]
fn titles_lose_reply_prefixes() {
    let env = env();
    let raw = String::from_utf8(fixture("support-request.eml"))
        .expect("utf8")
        .replace("Subject: Printer", "Subject: Re: AW: Fwd: SV: Printer");
    let r = env.file(raw.as_bytes());
    assert_eq!(
        env.record(case_of(&r))["record"]["fields"]["title"],
        "Printer on floor 3 is broken"
    );
}

#[test]
fn user_to_helpdesk_links_the_existing_contact() {
    let env = env();
    let contact = env.add("contacts", &["email=ann@customer.example", "name=Ann"]);
    let r = env.file(&fixture("support-request.eml"));
    assert!(
        r.records
            .iter()
            .any(|x| x.id == Some(contact) && x.op == Op::Linked)
    );
    assert_eq!(env.records("contacts").len(), 1, "no second contact");
    let case = env.record(case_of(&r));
    assert!(
        case["relations"]
            .as_array()
            .expect("rel")
            .iter()
            .any(|x| x["kind"] == "contact" && x["id"] == contact)
    );
}

#[test]
fn user_to_contact_with_helpdesk_in_cc() {
    let env = env();
    let contact = env.add("contacts", &["email=ann@customer.example"]);
    let r = env.file(&fixture("contact-cc-helpdesk.eml"));
    assert_eq!(r.action.as_deref(), Some("create_case"));
    assert!(r.records.iter().any(|x| x.id == Some(contact)));
}

#[test]
fn helpdesk_in_bcc_only() {
    let env = env();
    let r = env.file(&fixture("bcc-helpdesk.eml"));
    assert_eq!(r.action.as_deref(), Some("create_case"));
    let contact = r
        .records
        .iter()
        .find(|x| x.module == "contacts")
        .and_then(|x| x.id)
        .expect("contact");
    assert_eq!(
        env.record(contact)["record"]["email"],
        "frank@customer.example"
    );
    assert_eq!(
        env.file(&fixture("bcc-header-only.eml")).status,
        Status::Skipped
    );
}

#[test]
fn forwarded_by_an_own_address_the_customer_is_the_first_other() {
    let env = env();
    let r = env.file(&fixture("forwarded-by-own.eml"));
    let case = env.record(case_of(&r));
    assert_eq!(case["record"]["email"], "carol@client.example");
    assert_eq!(case["record"]["fields"]["title"], "Our invoice is wrong");
}

#[test]
fn opportunities_follow_replies_while_open() {
    let env = env();
    let contact = env.add("contacts", &["email=gina@buyer.example"]);
    let first = env.file(&fixture("deal-original.eml"));
    let opp = first
        .records
        .iter()
        .find(|x| x.module == "opportunities")
        .and_then(|x| x.id)
        .expect("opp");
    assert!(first.records.iter().any(|x| x.id == Some(contact)));
    assert_eq!(env.record(opp)["record"]["status"], "open");
    let reply = env.file(&fixture("deal-reply.eml"));
    assert_eq!(
        reply.thread.map(|t| (t.record_id, t.evidence)),
        Some((opp, Evidence::References))
    );
    assert_eq!(env.records("opportunities").len(), 1);

    // Won: a further reply starts a new opportunity.
    assert_eq!(
        env.run(&["records", "update", &opp.to_string(), "status=won"], b"")
            .code,
        0
    );
    let raw = String::from_utf8(fixture("deal-reply.eml"))
        .expect("utf8")
        .replace("<deal-2@", "<deal-3@");
    let r = env.file(raw.as_bytes());
    assert_eq!(r.thread, None);
    assert_eq!(env.records("opportunities").len(), 2);
}

#[test]
fn explain_traces_rules_evidence_and_plan_without_writing() {
    let env = env();
    opened(&env);
    let before = env.snapshot();
    let path = crate::util::fixture_path("case-reply-references.eml");
    let r = env.run(&["explain", path.to_str().unwrap_or_default()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("1. support (line 6): MATCH, evaluation stops here"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("true  recipient contains \"support@\" <- \"support@example.com\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("references: mail of record 1 found"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("link mail -> record 1 (updated)"),
        "{}",
        r.stdout
    );
    let j = env.run(
        &["explain", "--json", path.to_str().unwrap_or_default()],
        b"",
    );
    let v = j.json();
    assert_eq!(v["plan"]["trace"][0]["matched"], true);
    assert_eq!(v["result"]["thread"]["evidence"], "references");
    assert_eq!(v["result"]["dry_run"], true);
    assert_eq!(env.snapshot(), before, "explain wrote nothing");
}

#[test]
fn explain_shows_where_evaluation_stopped() {
    let env = env();
    let path = crate::util::fixture_path("deal-original.eml");
    let r = env.run(&["explain", path.to_str().unwrap_or_default()], b"");
    assert!(
        r.stdout.contains("1. support (line 6): no match"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("2. deals (line 13): MATCH"),
        "{}",
        r.stdout
    );
    // SQLite: not even an empty database file is made.
    assert!(!env.db.exists(), "explain created no database");
}

#[test]
fn dry_run_prints_the_result_and_writes_nothing() {
    let env = env();
    opened(&env);
    let before = env.snapshot();
    assert_eq!(before.emails, 1);
    let r = env.run(
        &["process", "--dry-run"],
        &fixture("case-reply-references.eml"),
    );
    let report = r.report();
    assert!(report.dry_run);
    assert_eq!(report.email_id, None);
    assert_eq!(
        report.thread.map(|t| t.evidence),
        Some(Evidence::References)
    );
    assert_eq!(env.snapshot(), before, "--dry-run wrote nothing");
    let r = env.run(&["process", "--dry-run"], &fixture("lead-plus-address.eml"));
    assert_eq!(r.report().status, Status::Skipped);
}
