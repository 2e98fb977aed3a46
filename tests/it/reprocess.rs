//! `mailroom reprocess`: stored mail filed again after a rule change, as
//! an administrator meets it: a rule in the wrong order, a dry run, the
//! real run, a second run that changes nothing, `--redo` of processed mail.

use serde_json::Value;

use crate::util::{Env, Run, fixture, with_message_id};

/// The archive rule first: every lead request is archived to nobody.
const WRONG: &str = "mailroom: { handle: crm, own_addresses: [\"*@example.com\"] }
actions:
  - name: everything else
    do: archive
  - name: new leads
    when: { suffix: lead }
    do: create_lead
";

/// The same rules in the right order.
const RIGHT: &str = "mailroom: { handle: crm, own_addresses: [\"*@example.com\"] }
actions:
  - name: new leads
    when: { suffix: lead }
    do: create_lead
  - name: everything else
    do: archive
";

fn lead(n: usize) -> Vec<u8> {
    let raw = String::from_utf8(fixture("lead-plus-address.eml")).expect("utf8");
    raw.replace("bob@prospect.example", &format!("bob{n}@prospect.example"))
        .replace(
            "<lead-1@prospect.example>",
            &format!("<lead-{n}@prospect.example>"),
        )
        .into_bytes()
}

fn write_config(env: &Env, yaml: &str) {
    std::fs::write(env.config.as_ref().expect("config"), yaml).expect("write config");
}

fn reprocess(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["reprocess"];
    all.extend_from_slice(args);
    env.run(&all, b"")
}

/// The JSON lines of a reprocess run, which must succeed.
fn lines(r: &Run) -> Vec<Value> {
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    r.json_lines()
}

fn statuses(env: &Env) -> Vec<String> {
    env.run(&["emails", "list", "--json"], b"")
        .json_lines()
        .iter()
        .map(|m| m["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn lead_count(env: &Env) -> usize {
    env.records("leads").len()
}

#[test]
fn a_wrong_rule_order_is_mended_by_reprocess() {
    let env = Env::with_config(WRONG);
    for n in 1..=3 {
        assert_eq!(env.file(&lead(n)).rule.as_deref(), Some("everything else"));
    }
    assert_eq!(statuses(&env), ["skipped"; 3]);
    write_config(&env, RIGHT);

    // The dry run says what would change and writes nothing.
    let dry = lines(&reprocess(&env, &["--dry-run"]));
    assert_eq!(dry.len(), 3);
    for line in &dry {
        assert_eq!(line["changed"], true, "{line}");
        assert_eq!(line["dry_run"], true);
        assert_eq!(line["before"]["status"], "skipped");
        assert_eq!(line["before"]["rule"], "everything else");
        assert_eq!(line["result"]["rule"], "new leads");
        assert_eq!(line["result"]["records"][0]["op"], "created");
        assert_eq!(line["result"]["records"][0]["id"], Value::Null);
    }
    assert_eq!(statuses(&env), ["skipped"; 3]);
    assert_eq!(lead_count(&env), 0);

    // For real: each mail creates its lead.
    let run = reprocess(&env, &[]);
    let real = lines(&run);
    assert_eq!(real.len(), 3);
    assert!(
        real.iter()
            .all(|l| l["changed"] == true && l["dry_run"] == false)
    );
    assert!(
        run.stderr
            .contains("3 mail(s), 3 changed, 0 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(statuses(&env), ["processed"; 3]);
    assert_eq!(lead_count(&env), 3);
    let show = env.run(&["emails", "show", "1", "--json"], b"").json();
    assert_eq!(show["email"]["rule"], "new leads");
    assert_eq!(show["result"]["rule"], "new leads");
    assert_eq!(show["links"][0]["module"], "leads");

    // Again: nothing is skipped any more, nothing changes.
    let again = reprocess(&env, &[]);
    assert!(lines(&again).is_empty(), "{}", again.stdout);
    assert_eq!(lead_count(&env), 3);

    // A redelivery is still a duplicate of the refiled mail.
    let dup = env.file(&lead(2));
    assert_eq!(dup.status, mailroom::report::Status::Duplicate);
    assert_eq!(dup.rule.as_deref(), Some("new leads"));
}

#[test]
fn redo_undoes_a_processed_mail_and_a_second_redo_changes_nothing() {
    let env = Env::with_config(RIGHT);
    let first = env.file(&lead(1));
    let lead_id = first.records[0].id.expect("lead");
    // Another lead request from someone else stays out of it.
    env.file(&lead(2));
    assert_eq!(lead_count(&env), 2);

    // With the lead rule gone, the mail is archived: its lead goes.
    write_config(&env, "actions:\n  - name: archive all\n    do: archive\n");
    let r = lines(&reprocess(&env, &["--redo", "1"]));
    assert_eq!(r.len(), 1);
    let line = &r[0];
    assert_eq!(line["changed"], true);
    assert_eq!(line["before"]["rule"], "new leads");
    assert_eq!(line["undone"]["deleted"][0]["id"], lead_id);
    assert_eq!(line["undone"]["kept"], serde_json::json!([]));
    assert_eq!(line["result"]["rule"], "archive all");
    assert_eq!(line["result"]["status"], "skipped");
    assert_eq!(lead_count(&env), 1);
    let gone = env.run(&["records", "show", &lead_id.to_string()], b"");
    assert_eq!(gone.code, 66, "{}", gone.stderr);

    // Back to the lead rule, twice: the second changes nothing.
    write_config(&env, RIGHT);
    let once = lines(&reprocess(&env, &["--redo", "1"]));
    assert_eq!(once[0]["changed"], true);
    assert_eq!(lead_count(&env), 2);
    let twice = lines(&reprocess(&env, &["--redo", "1"]));
    assert_eq!(twice[0]["changed"], false, "{}", twice[0]);
    assert_eq!(lead_count(&env), 2);
    assert_eq!(twice[0]["result"], once[0]["result"]);
}

#[test]
fn redo_keeps_a_created_record_that_other_mail_refers_to() {
    let env = Env::with_config(RIGHT);
    let first = env.file(&lead(1));
    let lead_id = first.records[0].id.expect("lead");
    // An agent's note to the lead's mailbox links a second mail to it.
    let note = format!(
        "From: agent@example.com\nTo: crm+{lead_id}@example.com\nSubject: called\nMessage-ID: <note@example.com>\n\nCalled Bob.\n"
    );
    assert_eq!(env.file(note.as_bytes()).records[0].id, Some(lead_id));

    write_config(&env, "actions:\n  - name: archive all\n    do: archive\n");
    let line = &lines(&reprocess(&env, &["--redo", "1"]))[0];
    assert_eq!(line["undone"]["deleted"], serde_json::json!([]));
    assert_eq!(line["undone"]["kept"][0]["id"], lead_id);
    assert!(
        line["undone"]["kept"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("mail 2"),
        "{line}"
    );
    // Archived now: the lead it made stays, and the mail is linked to it
    // as any mail from Bob is.
    assert_eq!(line["result"]["status"], "processed");
    assert_eq!(line["result"]["records"][0]["id"], lead_id);
    assert_eq!(line["result"]["records"][0]["op"], "linked");
    assert_eq!(lead_count(&env), 1);
}

#[test]
fn processed_mail_is_refiled_only_with_redo() {
    let env = Env::with_config(RIGHT);
    env.file(&lead(1));
    let r = reprocess(&env, &["--status", "processed"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--redo"), "{}", r.stderr);
    // Named by id without --redo: left alone, and said why.
    let line = &lines(&reprocess(&env, &["1"]))[0];
    assert_eq!(line["changed"], false);
    assert!(
        line["note"].as_str().unwrap_or_default().contains("--redo"),
        "{line}"
    );
    for bad in [
        &["--status", "skiped"][..],
        &["--since", "yesterday"],
        &["--until", "2026-13-01"],
    ] {
        let r = reprocess(&env, bad);
        assert_eq!(r.code, 64, "{bad:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    let missing = reprocess(&env, &["99"]);
    assert_eq!(missing.code, 66, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no mail with id 99"),
        "{}",
        missing.stderr
    );
}

#[test]
fn filters_pick_the_mail_to_refile() {
    let env = Env::with_config(WRONG);
    for n in 1..=3 {
        env.file(&lead(n));
    }
    // Unparsed bytes are picked by default, and stay unparsed.
    env.file(b"\x00\x01 not mail at all");
    write_config(&env, RIGHT);
    let by_sender = lines(&reprocess(
        &env,
        &["--dry-run", "--from", "BOB2@prospect.example"],
    ));
    assert_eq!(
        by_sender
            .iter()
            .map(|l| l["email_id"].clone())
            .collect::<Vec<_>>(),
        [2]
    );
    let by_rule = lines(&reprocess(
        &env,
        &["--dry-run", "--rule", "everything else"],
    ));
    assert_eq!(by_rule.len(), 3);
    let by_status = lines(&reprocess(&env, &["--dry-run", "--status", "unparsed"]));
    assert_eq!(by_status.len(), 1);
    assert_eq!(by_status[0]["changed"], false);
    // MAILROOM_NOW files them all at 2026-11-27T10:00:00Z.
    let before = lines(&reprocess(&env, &["--dry-run", "--until", "2026-11-27"]));
    assert!(before.is_empty());
    let after = lines(&reprocess(
        &env,
        &["--dry-run", "--since", "2026-11-27T10:00:00+00:00"],
    ));
    assert_eq!(after.len(), 4);
    let offset = lines(&reprocess(
        &env,
        &["--dry-run", "--since", "2026-11-27T11:00:01+01:00"],
    ));
    assert!(offset.is_empty(), "11:00:01+01:00 is after 10:00:00Z");
    let ids = lines(&reprocess(&env, &["--dry-run", "3", "1"]));
    assert_eq!(
        ids.iter()
            .map(|l| l["email_id"].clone())
            .collect::<Vec<_>>(),
        [3, 1]
    );
}

#[test]
fn a_copy_of_mail_filed_again_keeps_its_own_envelope() {
    // The envelope recipient the MTA gave is stored and used again.
    let env = Env::with_config(WRONG);
    let raw = with_message_id(&fixture("support-request.eml"), "env-1@customer.example");
    let r = env.run(&["process", "--recipient", "crm+lead@example.com"], &raw);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report().rule.as_deref(), Some("everything else"));
    write_config(&env, RIGHT);
    let line = &lines(&reprocess(&env, &[]))[0];
    assert_eq!(line["result"]["rule"], "new leads", "{line}");
}

/// A Maildir-sized store: thousands of real messages filed by the wrong
/// rules, then filed again; the second run finds nothing left to do.
#[test]
#[ignore = "long: 3,000 messages (cargo test --test it -- --ignored reprocess)"]
fn a_store_of_thousands_is_refiled_once() {
    use crate::util::{corpus_messages, fill_maildir};
    let env = Env::with_config("actions:\n  - name: skip all\n    do: skip\n");
    let md = env.path("Maildir");
    let n = 3000;
    fill_maildir(&md, &corpus_messages(), n);
    let r = env.run(&["maildir", "--quiet", &md.display().to_string()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    write_config(&env, "actions:\n  - name: archive all\n    do: archive\n");
    let first = reprocess(&env, &["--quiet"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!("{n} mail(s), ")) && first.stderr.contains(" 0 failed"),
        "{}",
        first.stderr
    );
    let skipped = |env: &Env| {
        env.run(&["emails", "list", "--status", "skipped", "--json"], b"")
            .json_lines()
            .len()
    };
    let left = skipped(&env);
    let second = reprocess(&env, &["--quiet"]);
    assert!(
        second.stderr.contains(&format!(
            "{left} mail(s), 0 changed, {left} unchanged, 0 failed"
        )),
        "{}",
        second.stderr
    );
    assert_eq!(skipped(&env), left);
}
