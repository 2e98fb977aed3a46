//! Correcting what was filed: records added after their mail, merged,
//! deleted; mail linked and unlinked by hand; records named by number;
//! duplicates and typos refused.

use serde_json::Value;

use crate::util::{Env, Run, fixture, with_message_id};

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    ok(env.run(&all, b"")).json()
}

fn mail_ids(record: &Value) -> Vec<i64> {
    record["emails"]
        .as_array()
        .map(|m| m.iter().filter_map(|e| e["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// Ann's mail with its own Message-ID.
fn from_ann(id: &str) -> Vec<u8> {
    with_message_id(&fixture("archive-from-contact.eml"), id)
}

#[test]
fn a_contact_added_later_can_take_the_mail_skipped_before() {
    let env = Env::with_example_config();
    for id in ["a1@customer.example", "a2@customer.example"] {
        assert_eq!(
            env.file(&from_ann(id)).status,
            mailroom::report::Status::Skipped
        );
    }
    // Without the flag: the mail is named and the command to file it.
    let r = ok(env.run(
        &[
            "records",
            "add",
            "contacts",
            "email=ann@customer.example",
            "--json",
        ],
        b"",
    ));
    assert_eq!(r.json()["skipped_mail"], serde_json::json!([1, 2]));
    assert_eq!(r.json()["linked_mail"], serde_json::json!([]));
    assert!(
        r.stderr
            .contains("`mailroom reprocess --from ann@customer.example`"),
        "{}",
        r.stderr
    );
    // Doing what it says links both.
    ok(env.run(&["reprocess", "--from", "ann@customer.example"], b""));
    assert_eq!(mail_ids(&env.record(1)), [1, 2]);

    // With --link-past it happens at once.
    let env = Env::with_example_config();
    env.file(&from_ann("b1@customer.example"));
    let r = ok(env.run(
        &[
            "records",
            "add",
            "contacts",
            "email=ann@customer.example",
            "--link-past",
            "--json",
        ],
        b"",
    ));
    assert_eq!(r.json()["linked_mail"], serde_json::json!([1]));
    assert_eq!(mail_ids(&env.record(1)), [1]);
    let shown = json(&env, &["emails", "show", "1"]);
    assert_eq!(shown["email"]["status"], "processed");

    // An import says it too.
    let env = Env::with_example_config();
    env.file(&from_ann("c1@customer.example"));
    let file = env.path("people.jsonl");
    std::fs::write(
        &file,
        "{\"module\":\"contacts\",\"email\":\"ann@customer.example\",\"name\":\"Ann\"}\n",
    )
    .expect("write");
    let path = file.display().to_string();
    let r = ok(env.run(&["records", "import", &path, "--link-past"], b""));
    assert!(
        r.stdout.contains("linked 1 earlier mail(s)"),
        "{}",
        r.stdout
    );
    assert_eq!(mail_ids(&env.record(1)), [1]);
}

#[test]
fn two_contacts_with_mail_on_both_merge_into_one() {
    let env = Env::with_example_config();
    let keep = env.add("contacts", &["email=ann@customer.example", "name=Ann"]);
    let drop = env.add(
        "contacts",
        &[
            "email=ann.smith@customer.example",
            "name=Ann Smith",
            "phone=+44 1",
        ],
    );
    let mail = |id: &str, from: &str| {
        let raw = String::from_utf8(from_ann(id))
            .expect("utf8")
            .replace("ANN@Customer.example", from);
        env.file(raw.as_bytes())
    };
    let _ = mail("m1@customer.example", "ann@customer.example");
    let m2 = mail("m2@customer.example", "ann.smith@customer.example");
    let m3 = mail("m3@customer.example", "ann.smith@customer.example");
    let merged = json(&env, &["records", "merge", "CON-1", "CON-2"]);
    assert_eq!(merged["kept"]["id"], keep);
    assert_eq!(merged["dropped"]["id"], drop);
    assert_eq!(
        merged["moved_mail"],
        serde_json::json!([m2.email_id, m3.email_id])
    );
    assert_eq!(merged["filled"], serde_json::json!(["phone"]));
    let kept = env.record(keep);
    assert_eq!(mail_ids(&kept), [1, 2, 3]);
    assert_eq!(
        kept["record"]["fields"]["name"], "Ann",
        "KEEP's fields stay"
    );
    assert_eq!(
        kept["record"]["fields"]["phone"], "+44 1",
        "empty ones filled"
    );
    assert_eq!(
        env.run(&["records", "show", &drop.to_string()], b"").code,
        66
    );
    let links = json(&env, &["emails", "show", "2"]);
    assert_eq!(links["links"][0]["id"], keep);

    // Different modules, or a record with itself, do not merge.
    let lead = env.add("leads", &["email=x@y.example"]);
    let r = env.run(&["records", "merge", "CON-1", &lead.to_string()], b"");
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert_eq!(env.run(&["records", "merge", "1", "CON-1"], b"").code, 64);
}

#[test]
fn a_linked_record_is_deleted_only_with_force_and_its_mail_stays() {
    let env = Env::with_example_config();
    let r = env.file(&fixture("support-request.eml"));
    let case = r.records[0].id.expect("case");
    let refused = env.run(&["records", "delete", "CASE-1"], b"");
    assert_eq!(refused.code, 65, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(env.record(case)["record"]["id"], case);

    let deleted = json(&env, &["records", "delete", "CASE-1", "--force"]);
    assert_eq!(deleted["deleted"]["id"], case);
    assert_eq!(deleted["unlinked_mail"], serde_json::json!([1]));
    assert_eq!(env.run(&["records", "show", "CASE-1"], b"").code, 66);
    // The mail is still there, linked to what is left (its contact).
    let mail = json(&env, &["emails", "show", "1"]);
    assert_eq!(mail["email"]["id"], 1);
    let linked: Vec<&Value> = mail["links"].as_array().expect("links").iter().collect();
    assert!(linked.iter().all(|l| l["module"] != "cases"), "{mail}");

    // A record nothing refers to goes without --force.
    let lone = env.add("contacts", &["email=lone@x.example"]);
    ok(env.run(&["records", "delete", &lone.to_string()], b""));
    assert_eq!(
        env.run(&["records", "delete", &lone.to_string()], b"").code,
        66
    );
}

#[test]
fn mail_is_linked_unlinked_and_moved_by_hand() {
    let env = Env::with_example_config();
    env.file(&fixture("support-request.eml"));
    let other = env.add("cases", &["title=The right case"]);
    // Move mail 1 from CASE-1 to CASE-2: unlink, then link.
    let un = json(&env, &["emails", "unlink", "1", "case-1"]);
    assert_eq!(un["unlinked"], true);
    let again = json(&env, &["emails", "unlink", "1", "CASE-1"]);
    assert_eq!(again["unlinked"], false);
    let link = json(&env, &["emails", "link", "1", "CASE-2"]);
    assert_eq!(link["linked"], true);
    assert_eq!(link["record"]["id"], other);
    assert_eq!(
        json(&env, &["emails", "link", "1", "CASE-2"])["linked"],
        false
    );
    assert_eq!(mail_ids(&env.record(other)), [1]);
    assert!(mail_ids(&env.record(1)).is_empty());
    assert_eq!(env.run(&["emails", "link", "9", "CASE-2"], b"").code, 66);
    assert_eq!(env.run(&["emails", "link", "1", "CASE-9"], b"").code, 66);
}

#[test]
fn records_are_named_by_number_as_well_as_by_id() {
    let env = Env::with_example_config();
    let r = env.file(&fixture("support-request.eml"));
    let case = r.records[0].id.expect("case");
    assert_eq!(
        json(&env, &["records", "show", "CASE-1"])["record"]["id"],
        case
    );
    assert_eq!(
        json(&env, &["records", "show", "case-1"])["record"]["id"],
        case
    );
    ok(env.run(&["records", "update", "CASE-1", "priority=high"], b""));
    assert_eq!(env.record(case)["record"]["fields"]["priority"], "high");
    ok(env.run(&["records", "close", "CASE-1"], b""));
    assert_eq!(env.record(case)["record"]["status"], "closed");
    ok(env.run(&["records", "reopen", "CASE-1"], b""));
    assert_eq!(env.record(case)["record"]["status"], "open");
    let missing = env.run(&["records", "close", "CASE-7"], b"");
    assert_eq!(missing.code, 66, "{}", missing.stderr);
    assert!(missing.stderr.contains("CASE-7"), "{}", missing.stderr);
}

#[test]
fn duplicates_typos_and_bad_addresses_are_refused() {
    let env = Env::new();
    let ann = env.add("contacts", &["email=ann@customer.example"]);
    let dup = env.run(
        &["records", "add", "contacts", "email=ANN@customer.example"],
        b"",
    );
    assert_eq!(dup.code, 65, "{}", dup.stderr);
    assert!(
        dup.stderr.contains(&format!("(id {ann})")),
        "{}",
        dup.stderr
    );
    ok(env.run(
        &[
            "records",
            "add",
            "contacts",
            "email=ann@customer.example",
            "--allow-duplicate",
        ],
        b"",
    ));
    // The same address is fine in another module.
    env.add("leads", &["email=ann@customer.example"]);

    let typo = env.run(&["records", "add", "contact", "email=b@x.example"], b"");
    assert_eq!(typo.code, 64, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("did you mean `contacts`"),
        "{}",
        typo.stderr
    );
    let list = env.run(&["records", "list", "case"], b"");
    assert_eq!(list.code, 64, "{}", list.stderr);
    let bad = env.run(&["records", "add", "contacts", "email=not-an-address"], b"");
    assert_eq!(bad.code, 64, "{}", bad.stderr);

    // A module a rule creates, or one the config declares, is known.
    let env = Env::with_config(
        "modules: [projects]\nactions:\n  - name: tickets\n    do: create_record\n    module: tickets\n",
    );
    env.add("tickets", &["title=x"]);
    env.add("projects", &["title=y"]);

    // An import is all or nothing: a duplicate line names itself.
    let env = Env::new();
    env.add("contacts", &["email=ann@customer.example"]);
    let file = env.path("import.jsonl");
    std::fs::write(
        &file,
        "{\"module\":\"contacts\",\"email\":\"new@x.example\"}\n{\"module\":\"contacts\",\"email\":\"ann@customer.example\"}\n",
    )
    .expect("write");
    let path = file.display().to_string();
    let r = env.run(&["records", "import", &path], b"");
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.stderr.contains("import.jsonl:2:"), "{}", r.stderr);
    assert_eq!(env.records("contacts").len(), 1, "nothing imported");
    std::fs::write(
        &file,
        "{\"module\":\"contacts\",\"email\":\"twice@x.example\"}\n{\"module\":\"contacts\",\"email\":\"twice@x.example\"}\n",
    )
    .expect("write");
    let r = env.run(&["records", "import", &path], b"");
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.stderr.contains("twice"), "{}", r.stderr);
    ok(env.run(&["records", "import", &path, "--allow-duplicate"], b""));
    assert_eq!(env.records("contacts").len(), 3);
}
