//! Threads that survive real mail order: replies filed before the mail
//! they answer, replies to mail mailroom never saw, two cases that turn
//! out to be one conversation, ids that identify nothing, and a whole
//! conversation out of order in one Maildir batch.

use mailroom::report::{Report, Status};
use mailroom::route::plan::{Evidence, Op};

use crate::util::{Env, make_maildir};

/// Every mail a case, as a helpdesk's catch-all does; deals by suffix.
const CASES: &str =
    "mailroom: { handle: crm, domains: [example.com], own_addresses: [\"*@example.com\"] }
actions:
  - name: deals
    when: { suffix: deal }
    do: create_opportunity
  - name: every mail a case
    do: create_case
    create_contact: true
";

/// A mail with its own Message-ID and the ids it names.
fn mail(from: &str, id: &str, in_reply_to: &[&str], references: &[&str], subject: &str) -> Vec<u8> {
    let mut head =
        format!("From: {from}\nTo: crm@example.com\nSubject: {subject}\nMessage-ID: <{id}>\n");
    if !in_reply_to.is_empty() {
        let ids: Vec<String> = in_reply_to.iter().map(|i| format!("<{i}>")).collect();
        head.push_str(&format!("In-Reply-To: {}\n", ids.join(" ")));
    }
    if !references.is_empty() {
        let ids: Vec<String> = references.iter().map(|i| format!("<{i}>")).collect();
        head.push_str(&format!("References: {}\n", ids.join(" ")));
    }
    format!("{head}\n{subject}: body\n").into_bytes()
}

const ANN: &str = "Ann <ann@customer.example>";

fn case_count(env: &Env) -> usize {
    env.records("cases").len()
}

fn thread(r: &Report) -> Option<(i64, Evidence)> {
    r.thread.as_ref().map(|t| (t.record_id, t.evidence))
}

#[test]
fn a_reply_filed_before_its_original_keeps_one_case() {
    let env = Env::with_config(CASES);
    // The answer arrives first (a delayed relay): a new case.
    let reply = env.file(&mail(
        ANN,
        "r1@customer.example",
        &["o@customer.example"],
        &["o@customer.example"],
        "Re: Printer",
    ));
    let case = reply
        .records
        .iter()
        .find(|r| r.module == "cases")
        .and_then(|r| r.id)
        .expect("case");
    // The original, with no references of its own, belongs to it.
    let original = env.file(&mail(ANN, "o@customer.example", &[], &[], "Printer"));
    assert_eq!(
        thread(&original),
        Some((case, Evidence::ReferencedBy)),
        "{original:?}"
    );
    // A later reply to the original follows the same case.
    let later = env.file(&mail(
        ANN,
        "r2@customer.example",
        &["o@customer.example"],
        &["o@customer.example"],
        "Re: Printer",
    ));
    assert_eq!(thread(&later), Some((case, Evidence::References)));
    assert_eq!(case_count(&env), 1);
    // explain says which ids it tried.
    let explain = env.run(
        &["explain", "-"],
        &mail(
            ANN,
            "r3@customer.example",
            &["o@customer.example"],
            &[],
            "Re: Printer",
        ),
    );
    assert!(
        explain.stdout.contains("references: mail of record"),
        "{}",
        explain.stdout
    );
    assert!(
        explain.stdout.contains("<o@customer.example>"),
        "{}",
        explain.stdout
    );
}

#[test]
fn two_cases_that_turn_out_to_be_one_conversation_are_related() {
    let env = Env::with_config(CASES);
    // P opens case B.
    let p = env.file(&mail(ANN, "p@customer.example", &[], &[], "Quote"));
    let b = p
        .records
        .iter()
        .find(|r| r.module == "cases")
        .and_then(|r| r.id)
        .expect("b");
    // A reply to O (which answers P) arrives before O, naming only O: case A.
    let r1 = env.file(&mail(
        ANN,
        "r1@customer.example",
        &["o@customer.example"],
        &["o@customer.example"],
        "Re: Re: Quote",
    ));
    let a = r1
        .records
        .iter()
        .find(|r| r.module == "cases")
        .and_then(|r| r.id)
        .expect("a");
    assert_ne!(a, b);
    // O arrives: it answers P (case B) and is answered by R1 (case A).
    let o = env.file(&mail(
        ANN,
        "o@customer.example",
        &["p@customer.example"],
        &["p@customer.example"],
        "Re: Quote",
    ));
    let t = o.thread.clone().expect("thread");
    assert_eq!((t.record_id, t.evidence), (b, Evidence::References));
    assert_eq!(t.related.len(), 1, "{o:?}");
    assert_eq!(
        (t.related[0].record_id, t.related[0].evidence),
        (a, Evidence::ReferencedBy)
    );
    // Related, not merged.
    assert_eq!(case_count(&env), 2);
    let related = env.record(b)["relations"].clone();
    assert!(
        related
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["id"] == a && x["kind"] == "related")),
        "{related}"
    );
}

#[test]
fn replies_to_an_agent_message_never_filed_share_its_case() {
    let env = Env::with_config(CASES);
    // The agent answered from a mail client: <agent-1@example.com> was never
    // filed. Ann answers it.
    let first = env.file(&mail(
        ANN,
        "c1@customer.example",
        &["agent-1@example.com"],
        &["agent-1@example.com"],
        "Re: Your printer",
    ));
    let case = first
        .records
        .iter()
        .find(|r| r.module == "cases")
        .and_then(|r| r.id)
        .expect("case");
    // Ann again, answering the same unseen mail: the same case.
    let second = env.file(&mail(
        ANN,
        "c2@customer.example",
        &["agent-1@example.com"],
        &["agent-1@example.com"],
        "Re: Your printer",
    ));
    assert_eq!(
        thread(&second),
        Some((case, Evidence::SharedReference)),
        "{second:?}"
    );
    assert_eq!(second.records[0].op, Op::Updated);
    // A stranger naming the same id gets a case of his own, related.
    let eve = env.file(&mail(
        "Eve <eve@elsewhere.example>",
        "e1@elsewhere.example",
        &["agent-1@example.com"],
        &[],
        "Re: Your printer",
    ));
    assert_eq!(eve.thread, None);
    let new = eve
        .records
        .iter()
        .find(|r| r.module == "cases")
        .and_then(|r| r.id)
        .expect("eve's case");
    assert_ne!(new, case);
    let related = env.record(new)["relations"].clone();
    assert!(related.to_string().contains("\"related\""), "{related}");
    assert_eq!(case_count(&env), 2);
}

#[test]
fn ids_that_identify_nothing_are_never_evidence() {
    let env = Env::with_config(CASES);
    // `git send-email --in-reply-to=yes` writes `<yes>` into every patch.
    for n in 1..=3 {
        let r = env.file(&mail(
            ANN,
            &format!("patch-{n}@customer.example"),
            &["yes"],
            &["yes"],
            &format!("[PATCH {n}/3] fix"),
        ));
        assert_eq!(r.thread, None, "patch {n}: {r:?}");
    }
    // Nor a mail's own id, nor ids without @.
    let own = env.file(&mail(
        ANN,
        "self@customer.example",
        &["self@customer.example"],
        &["no-at-sign"],
        "Hello",
    ));
    assert_eq!(own.thread, None);
    assert_eq!(case_count(&env), 4);
}

#[test]
fn a_whole_conversation_out_of_order_in_one_maildir_batch_is_one_case() {
    let env = Env::with_config(CASES);
    let md = env.path("Maildir");
    make_maildir(&md);
    // Oldest name first, as the run takes them: the replies before the
    // original they answer.
    let files = [
        (
            "1700000001.a",
            mail(
                ANN,
                "r2@customer.example",
                &["r1@customer.example"],
                &["o@customer.example", "r1@customer.example"],
                "Re: Re: Printer",
            ),
        ),
        (
            "1700000002.b",
            mail(
                ANN,
                "r1@customer.example",
                &["o@customer.example"],
                &["o@customer.example"],
                "Re: Printer",
            ),
        ),
        (
            "1700000003.c",
            mail(ANN, "o@customer.example", &[], &[], "Printer"),
        ),
    ];
    for (name, raw) in &files {
        std::fs::write(md.join("new").join(name), raw).expect("deliver");
    }
    let r = env.run(&["maildir", &md.display().to_string()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r.status == Status::Processed));
    assert_eq!(case_count(&env), 1, "{}", r.stdout);
}

#[test]
fn opportunities_follow_the_same_evidence() {
    let env = Env::with_config(CASES);
    let deal = |id: &str, irt: &[&str], subject: &str| {
        let raw = String::from_utf8(mail("Gina <gina@buyer.example>", id, irt, irt, subject))
            .expect("utf8");
        raw.replace("To: crm@example.com", "To: crm+deal@example.com")
            .into_bytes()
    };
    let reply = env.file(&deal(
        "d2@buyer.example",
        &["d1@buyer.example"],
        "Re: 500 licences",
    ));
    let opp = reply
        .records
        .iter()
        .find(|r| r.module == "opportunities")
        .and_then(|r| r.id)
        .expect("opp");
    let original = env.file(&deal("d1@buyer.example", &[], "500 licences"));
    assert_eq!(thread(&original), Some((opp, Evidence::ReferencedBy)));
    assert_eq!(env.records("opportunities").len(), 1);
}
