//! Security, each test written as the attack or the mistake it prevents:
//! confidential mail read without `--reveal`, a database file read by
//! whoever can read it, a forged X-Original-To, a made-up record address,
//! a flood of records from one sender, a staff reply reopening a case.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use serde_json::Value;

use crate::util::{Env, Run, fixture, sqlite, with_message_id};

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

/// The confidential fixture, delivered for crm+case@ so that it makes a
/// case (titled by its subject, described by its body) and a contact.
fn deliver_confidential(env: &Env) -> Value {
    let r = ok(env.run(
        &["process", "--recipient", "crm+case@example.com"],
        &fixture("confidential.eml"),
    ));
    r.json()
}

const SUBJECT: &str = "Salary negotiation details";
const BODY: &str = "The offer is 95,000 per year.";

#[test]
fn confidential_mail_is_kept_back_everywhere_without_reveal() {
    let env = Env::with_example_config();
    let result = deliver_confidential(&env);
    let case = result["records"][0]["id"].as_i64().expect("case");
    let id = result["email_id"].as_i64().expect("mail").to_string();
    let case_s = case.to_string();
    let out = env.path("offer.pdf").display().to_string();
    // Each way out refuses, or redacts, without --reveal.
    for args in [
        vec!["emails", "attachment", &id, "1", "-o", &out],
        vec!["emails", "raw", &id],
    ] {
        let r = env.run(&args, b"");
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("--reveal"), "{}", r.stderr);
        assert!(!r.stdout.contains("95,000"), "{args:?}");
    }
    assert!(!Path::new(&out).exists());
    for args in [
        vec!["emails", "list", "--json"],
        vec!["emails", "list", "--csv"],
        vec!["emails", "show", &id, "--json"],
        vec!["records", "list", "--json"],
        vec!["records", "list", "--csv"],
        vec!["records", "show", &case_s, "--json"],
    ] {
        let text = ok(env.run(&args, b"")).stdout;
        assert!(
            !text.contains(SUBJECT) && !text.contains("95,000"),
            "{args:?}: {text}"
        );
    }
    let record = ok(env.run(&["records", "show", &case_s, "--json"], b"")).json();
    assert_eq!(record["record"]["confidential"], true);
    assert_eq!(record["record"]["fields"]["title"], "(confidential)");

    // With --reveal, all of it.
    let record = ok(env.run(&["records", "show", &case_s, "--json", "--reveal"], b"")).json();
    assert_eq!(record["record"]["fields"]["title"], SUBJECT);
    let raw = ok(env.run(&["emails", "raw", &id, "--reveal"], b""));
    assert_eq!(raw.stdout.as_bytes(), fixture("confidential.eml"));
    ok(env.run(
        &["emails", "attachment", &id, "1", "-o", &out, "--reveal"],
        b"",
    ));
    assert!(std::fs::read(&out).expect("pdf").starts_with(b"%PDF"));
}

/// An age key pair: the identity written to a file, the recipient.
fn keys(env: &Env, name: &str) -> (PathBuf, String) {
    let identity = age::x25519::Identity::generate();
    let path = env.path(name);
    std::fs::write(
        &path,
        format!(
            "# created: by the test\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        ),
    )
    .expect("identity");
    (path, identity.to_public().to_string())
}

/// Every byte of the database's files, and what SQLite itself dumps; on
/// PostgreSQL, what `pg_dump` writes.
fn everything_stored(env: &Env) -> Vec<u8> {
    if let Some(schema) = &env.schema {
        return schema.dump();
    }
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let mut path = env.db.clone().into_os_string();
        path.push(suffix);
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    bytes.extend(sqlite::dump(&env.db).into_bytes());
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn encrypted_confidential_mail_is_not_in_the_database_in_clear() {
    let env = Env::new();
    let (identity, recipient) = keys(&env, "identity.txt");
    let example =
        std::fs::read_to_string(crate::util::root().join("rules.example.yaml")).expect("example");
    let config = env.path("rules.yaml");
    std::fs::write(
        &config,
        format!("{example}\nconfidential:\n  encrypt_to: [{recipient}]\n"),
    )
    .expect("config");
    let mut env = env;
    env.config = Some(config);
    let result = deliver_confidential(&env);
    let id = result["email_id"].as_i64().expect("mail").to_string();
    let case = result["records"][0]["id"]
        .as_i64()
        .expect("case")
        .to_string();
    // What routing needs stays in clear; the content does not.
    let stored = everything_stored(&env);
    for secret in [SUBJECT, "95,000", "offer.pdf", "JVBERi0xLjQK"] {
        assert!(
            !holds(&stored, secret),
            "`{secret}` is in the database in clear"
        );
    }
    assert!(
        holds(&stored, "ann@customer.example"),
        "metadata stays clear"
    );
    assert!(holds(&stored, "<confidential-1@customer.example>"));

    // Without the identity, --reveal cannot; with a wrong one neither.
    let r = env.run(&["emails", "show", &id, "--reveal"], b"");
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--identity"), "{}", r.stderr);
    let (wrong, _) = keys(&env, "wrong.txt");
    let wrong = wrong.display().to_string();
    let r = env.run(
        &["emails", "raw", &id, "--reveal", "--identity", &wrong],
        b"",
    );
    assert_eq!(r.code, 65, "{}", r.stderr);

    // With it, every byte comes back.
    let identity = identity.display().to_string();
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--reveal", "--identity", &identity]);
        ok(env.run(&all, b""))
    };
    assert_eq!(
        with(&["emails", "raw", &id]).stdout.as_bytes(),
        fixture("confidential.eml")
    );
    let shown = with(&["emails", "show", &id, "--json"]).json();
    assert_eq!(shown["email"]["subject"], SUBJECT);
    assert!(
        shown["text"]
            .as_str()
            .unwrap_or_default()
            .contains("95,000")
    );
    assert_eq!(shown["attachments"][0]["name"], "offer.pdf");
    let record = with(&["records", "show", &case, "--json"]).json();
    assert_eq!(record["record"]["fields"]["title"], SUBJECT);
    assert_eq!(record["record"]["fields"]["description"], BODY);
    let list = with(&["emails", "list", "--json"]).json_lines();
    assert_eq!(list[0]["subject"], SUBJECT);

    // Reprocess needs the identity, and says so.
    let r = ok(env.run(&["reprocess", "--redo", &id], b""));
    assert!(
        r.json_lines()[0]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("--identity"),
        "{}",
        r.stdout
    );
    let r = ok(env.run(&["reprocess", "--redo", &id, "--identity", &identity], b""));
    assert_eq!(
        r.json_lines()[0]["changed"],
        false,
        "the same decision: {}",
        r.stdout
    );
    assert!(!holds(&everything_stored(&env), SUBJECT));

    // The dump would show a raw message in clear: ordinary mail's body
    // (stored nowhere but in the raw message) is found.
    env.file(&crate::util::fixture("support-request.eml"));
    assert!(holds(&everything_stored(&env), "blank pages"));
}

#[test]
fn a_forged_original_to_cannot_attach_mail_to_a_record() {
    let env = Env::with_example_config();
    let victim = env.add("contacts", &["email=victim@customer.example"]);
    let forged = format!(
        "From: stranger@evil.example\nTo: crm+lead@example.com\nX-Original-To: crm+{victim}@example.com\nDelivered-To: crm+{victim}@example.com\nSubject: hello\nMessage-ID: <forged@evil.example>\n\nbuy now\n"
    );
    // The MTA vouches for the envelope: crm+lead@, a new lead.
    let r = ok(env.run(
        &["process", "--recipient", "crm+lead@example.com"],
        forged.as_bytes(),
    ));
    let result = r.json();
    assert_eq!(result["rule"], "new leads", "{result}");
    assert!(
        ok(env.run(&["records", "show", &victim.to_string(), "--json"], b"")).json()["emails"]
            .as_array()
            .is_some_and(|m| m.is_empty())
    );

    // Without --recipient only the topmost Delivered-To counts, the one our
    // MTA added: a forged one below it is not read.
    let below = format!(
        "Delivered-To: crm+lead@example.com\nFrom: stranger@evil.example\nTo: crm@example.com\nDelivered-To: crm+{victim}@example.com\nSubject: again\nMessage-ID: <forged-2@evil.example>\n\nbuy now\n"
    );
    let result = ok(env.run(&["process"], below.as_bytes())).json();
    assert_eq!(result["rule"], "new leads", "{result}");
    assert_eq!(
        result["records"][0]["module"], "leads",
        "not the victim's record: {result}"
    );
}

/// A config with a record secret; `require_signed` as given.
fn signed_env(require: bool) -> Env {
    let env = Env::new();
    let secret = env.path("record.key");
    std::fs::write(&secret, b"0123456789abcdef0123456789abcdef").expect("secret");
    let config = format!(
        "mailroom:\n  handle: crm\n  domains: [example.com]\n  own_addresses: [\"*@example.com\"]\n  record_secret_file: {}\n  require_signed: {require}\nactions:\n  - name: new leads\n    when: {{ suffix: lead }}\n    do: create_lead\n  - name: everything else\n    do: archive\n",
        secret.display()
    );
    let path = env.path("rules.yaml");
    std::fs::write(&path, config).expect("config");
    let mut env = env;
    env.config = Some(path);
    env
}

fn to(address: &str, id: &str) -> Vec<u8> {
    format!(
        "From: someone@outside.example\nTo: {address}\nSubject: for the record\nMessage-ID: <{id}@outside.example>\n\nhello\n"
    )
    .into_bytes()
}

#[test]
fn record_addresses_cannot_be_made_up_without_the_secret() {
    let env = signed_env(true);
    let record = env
        .add("contacts", &["email=ann@customer.example"])
        .to_string();
    let address = ok(env.run(&["address", &record], b""))
        .stdout
        .trim()
        .to_string();
    assert!(
        address.starts_with(&format!("crm+{record}.")) && address.ends_with("@example.com"),
        "{address}"
    );
    assert_eq!(
        ok(env.run(&["address", "CON-1"], b"")).stdout.trim(),
        address
    );
    // Signed: filed to the record.
    let r = ok(env.run(&["process"], &to(&address, "signed"))).json();
    assert_eq!(r["records"][0]["id"].to_string(), record, "{r}");
    assert_eq!(
        r["reason"],
        format!("addressed to the mailbox of record {record}")
    );
    // Unsigned, or wrongly signed: the rules decide, with a warning.
    for (address, id) in [
        (format!("crm+{record}@example.com"), "unsigned"),
        (format!("crm+{record}.aaaaaaaa@example.com"), "wrong"),
    ] {
        let r = ok(env.run(&["process"], &to(&address, id))).json();
        assert_eq!(r["rule"], "everything else", "{address}: {r}");
        assert!(
            r["warnings"].to_string().contains("refused"),
            "{address}: {r}"
        );
        assert!(r["records"].as_array().is_some_and(|l| l.is_empty()), "{r}");
    }

    // Without require_signed, unsigned addresses still work (nothing
    // breaks on upgrade) but a wrong tag never does.
    let env = signed_env(false);
    let record = env
        .add("contacts", &["email=ann@customer.example"])
        .to_string();
    let r = ok(env.run(&["process"], &to(&format!("crm+{record}@example.com"), "u"))).json();
    assert_eq!(r["records"][0]["id"].to_string(), record, "{r}");
    let r = ok(env.run(
        &["process"],
        &to(&format!("crm+{record}.bbbbbbbb@example.com"), "w"),
    ))
    .json();
    assert_eq!(r["rule"], "everything else", "{r}");
}

#[test]
fn one_sender_cannot_flood_the_crm_with_records() {
    let env = Env::with_config(
        "mailroom: { handle: crm, own_addresses: [\"*@example.com\"] }\nlimits:\n  per_sender: { records: 20, per: 1h }\nactions:\n  - name: cases\n    do: create_case\n",
    );
    let mail = |n: usize, from: &str| {
        format!(
            "From: {from}\nTo: crm@example.com\nSubject: Out of office {n}\nMessage-ID: <loop-{n}-{from}>\n\nI am away.\n"
        )
        .into_bytes()
    };
    let mut limited = 0;
    for n in 0..50 {
        let r = env.file(&mail(n, "loop@customer.example"));
        if r.reason
            .as_deref()
            .is_some_and(|w| w.contains("rate limited"))
        {
            limited += 1;
            assert_eq!(r.status, mailroom::report::Status::Skipped);
        }
    }
    assert_eq!(limited, 30);
    assert_eq!(env.records("cases").len(), 20, "twenty cases, no more");
    assert_eq!(env.emails().len(), 50, "every mail is stored");
    // A follow-up of the sender's still threads to its case.
    let reply = "From: loop@customer.example\nTo: crm@example.com\nSubject: Re: Out of office 0\nIn-Reply-To: <loop-0-loop@customer.example>\nMessage-ID: <reply@x>\n\nstill away\n";
    let r = env.file(reply.as_bytes());
    assert_eq!(r.thread.map(|t| t.record_id), Some(1));
    // Our own addresses are exempt, and so is everyone else.
    for n in 0..25 {
        assert!(
            env.file(&mail(n, "agent@example.com"))
                .records
                .iter()
                .any(|r| r.module == "cases")
        );
    }
    assert!(env.file(&mail(0, "other@customer.example")).records.len() == 1);
}

#[test]
fn a_staff_reply_does_not_reopen_a_closed_case() {
    let env = Env::with_example_config();
    let first = env.file(&fixture("support-request.eml"));
    let case = first.records[0].id.expect("case").to_string();
    ok(env.run(&["records", "close", &case], b""));
    // The agent logs a reply by Bcc to the case's address.
    let reply = "From: Agent <agent@example.com>\nTo: ann@customer.example\nSubject: Re: Printer\nMessage-ID: <agent-reply@example.com>\n\nWe sent a technician.\n";
    let r = ok(env.run(
        &[
            "process",
            "--recipient",
            &format!("crm+case+{case}@example.com"),
        ],
        reply.as_bytes(),
    ))
    .json();
    assert_eq!(r["records"][0]["op"], "linked", "{r}");
    let status = |env: &Env| env.record(case.parse().expect("id"))["record"]["status"].clone();
    assert_eq!(status(&env), "closed");
    // The customer's answer does reopen it.
    let answer = with_message_id(
        &fixture("case-reply-references.eml"),
        "ann-again@customer.example",
    );
    let r = env.file(&answer);
    assert_eq!(r.records[0].op, mailroom::route::plan::Op::Reopened);
    assert_eq!(status(&env), "open");
}
