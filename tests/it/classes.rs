//! Auto-replies, bounces, lists, attachments, confidential mail and
//! forwarding confirmations.

use crate::util::{Env, fixture};
use mailroom::report::Status;

fn example() -> Env {
    Env::with_example_config()
}

#[test]
fn an_rfc3834_auto_reply_creates_no_lead() {
    let env = example();
    let r = env.file(&fixture("auto-reply-rfc3834.eml"));
    assert_eq!(r.class.as_deref(), Some("auto_reply"));
    assert_eq!(r.status, Status::Skipped);
    assert!(
        r.reason
            .as_deref()
            .unwrap_or_default()
            .contains("Auto-Submitted"),
        "{:?}",
        r.reason
    );
    assert_eq!(env.snapshot().records, 0);
}

#[test]
fn an_auto_reply_from_a_known_contact_is_archived_instead() {
    let env = example();
    let contact = env.add("contacts", &["email=hank@customer.example"]);
    let r = env.file(&fixture("auto-reply-rfc3834.eml"));
    assert_eq!(r.status, Status::Processed);
    assert_eq!(
        r.records.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(contact)]
    );
    assert!(
        r.reason
            .as_deref()
            .unwrap_or_default()
            .contains("archived instead")
    );
    assert_eq!(env.records("leads").len(), 0);
}

#[test]
fn an_exchange_out_of_office_opens_no_case() {
    let env = example();
    let r = env.file(&fixture("exchange-ooo.eml"));
    assert_eq!(r.class.as_deref(), Some("auto_reply"));
    assert_eq!(env.records("cases").len(), 0);
}

#[test]
fn a_rule_naming_the_class_may_create() {
    let env = Env::with_config(
        "actions:\n  - name: vacation leads\n    when: { class: auto_reply }\n    do: create_lead\n",
    );
    let r = env.file(&fixture("auto-reply-rfc3834.eml"));
    assert_eq!(r.status, Status::Processed);
    assert_eq!(env.records("leads").len(), 1);
}

#[test]
fn a_postfix_dsn_flags_the_contact_whose_address_failed() {
    let env = example();
    let contact = env.add("contacts", &["email=ann@customer.example"]);
    let r = env.file(&fixture("postfix-dsn.eml"));
    assert_eq!(r.class.as_deref(), Some("bounce"));
    let bounce = r.bounce.clone().expect("bounce");
    assert_eq!(bounce.recipient.as_deref(), Some("ann@customer.example"));
    assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        r.records.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(contact)]
    );
    assert_eq!(
        env.record(contact)["record"]["fields"]["email_bounced"],
        true
    );
    let id = r.email_id.expect("id").to_string();
    let show = env.run(&["emails", "show", &id, "--json"], b"").json();
    assert_eq!(
        show["bounce"],
        serde_json::json!({"recipient": "ann@customer.example", "status": "5.1.1"}),
        "what the bounce said is kept with the mail"
    );
    assert_eq!(env.records("cases").len(), 0);
}

#[test]
fn an_exim_bounce_flags_the_lead() {
    let env = example();
    let lead = env.file(&fixture("lead-plus-address.eml")).records[0]
        .id
        .expect("lead");
    let r = env.file(&fixture("exim-bounce.eml"));
    assert_eq!(r.class.as_deref(), Some("bounce"));
    assert_eq!(
        r.bounce.and_then(|b| b.recipient).as_deref(),
        Some("bob@prospect.example")
    );
    assert_eq!(
        r.records.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(lead)]
    );
    assert_eq!(env.record(lead)["record"]["fields"]["email_bounced"], true);
}

#[test]
fn a_bounce_for_an_unknown_address_is_skipped_and_kept() {
    let env = example();
    let r = env.file(&fixture("postfix-dsn.eml"));
    assert_eq!(r.status, Status::Skipped);
    let emails = env.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(
        (emails[0].id, emails[0].status.as_str()),
        (r.email_id.expect("id"), "skipped")
    );
}

#[test]
fn a_list_post_is_classified_and_usable_in_rules() {
    let env = Env::with_config(
        "mailroom:\n  handle: crm\nactions:\n  - name: lists\n    when: { class: list }\n    do: skip\n  - name: leads\n    when: { suffix: lead }\n    do: create_lead\n",
    );
    let r = env.file(&fixture("list-post.eml"));
    assert_eq!(r.class.as_deref(), Some("list"));
    assert_eq!(r.rule.as_deref(), Some("lists"));
    let env = example();
    let r = env.file(&fixture("list-post.eml"));
    assert_eq!(r.class.as_deref(), Some("list"));
    assert_eq!(
        env.records("leads").len(),
        0,
        "a list post never creates a lead"
    );
    let human = env.file(&fixture("support-request.eml"));
    assert_eq!(human.class.as_deref(), Some("human"));
}

/// `emails attachment ID 1 -o OUT`.
fn export(env: &Env, id: &str, out: &std::path::Path) -> crate::util::Run {
    env.run(
        &[
            "emails",
            "attachment",
            id,
            "1",
            "-o",
            out.to_str().unwrap_or_default(),
        ],
        b"",
    )
}

/// A message with one attachment (base64 encoded).
fn with_attachment(id: &str, name: &str, content: &[u8]) -> Vec<u8> {
    with_attachments(id, &[(name, content)])
}

/// A message with these attachments, in this order (base64 encoded).
fn with_attachments(id: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut raw = format!(
        "From: Ann Customer <ann@customer.example>\r\nTo: crm@example.com\r\nSubject: files\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    );
    for (name, content) in files {
        let encoded = crate::util::base64(content);
        raw.push_str(&format!(
            "--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
        ));
    }
    raw.push_str("--XX--\r\n");
    raw.into_bytes()
}

/// Attachment content is not copied out of the raw message (the schema
/// has no place for it): export decodes it from the stored message, and
/// identical content has one SHA-256. That export really reads the stored
/// message is `an_attachment_that_no_longer_matches_its_checksum_...`.
#[test]
fn attachments_are_exported_byte_for_byte_from_the_stored_message() {
    let env = example();
    env.add("contacts", &["email=ann@customer.example"]);
    let content: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let a = env.file(&with_attachment("att-1@x", "../../etc/passwd", &content));
    let b = env.file(&with_attachment("att-2@x", "copy.bin", &content));
    assert!(a.attachments[0].stored && b.attachments[0].stored);
    assert_eq!(a.attachments[0].size, content.len());
    assert_eq!(
        a.attachments[0].name.as_deref(),
        Some("../../etc/passwd"),
        "names are kept verbatim"
    );
    let sha256 = |id: Option<i64>| {
        env.read(|r| r.attachment(id.expect("id"), 1).expect("attachment"))
            .and_then(|a| a.sha256)
    };
    let (sha_a, sha_b) = (sha256(a.email_id), sha256(b.email_id));
    assert!(sha_a.is_some(), "a stored attachment has a SHA-256");
    assert_eq!(sha_a, sha_b, "identical content, one SHA-256");
    let out = env.path("export.bin");
    let id = a.email_id.expect("id").to_string();
    let r = export(&env, &id, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&out).expect("exported"), content);
    // The stored name is never used as a path: only the requested file
    // was written.
    let mut written: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("crm.db"))
        .collect();
    written.sort();
    assert_eq!(written, vec!["export.bin"]);
    let r = env.run(&["emails", "attachment", &id, "1"], b"");
    assert_eq!(r.stdout, String::from_utf8_lossy(&content));
}

#[test]
fn an_attachment_over_the_limit_is_listed_not_stored() {
    let env = example();
    let big = vec![0x5au8; 11 * 1024 * 1024];
    let r = env.file(&with_attachment("big-1@x", "video.mp4", &big));
    let a = &r.attachments[0];
    assert!(!a.stored);
    assert_eq!(a.size, big.len());
    assert!(
        a.reason
            .as_deref()
            .unwrap_or_default()
            .contains("attachment_bytes")
    );
    let email_id = r.email_id.expect("id");
    let found = env
        .read(|r| r.attachment(email_id, 1).expect("attachment"))
        .expect("listed");
    assert!(!found.stored);
    assert_eq!(found.sha256, None, "no SHA-256 of content not kept");
    let id = email_id.to_string();
    let r = env.run(&["emails", "attachment", &id, "1"], b"");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("was not stored"), "{}", r.stderr);
}

#[test]
fn nested_messages_and_encoded_names_are_kept() {
    let env = example();
    let r = env.file(&fixture("nested-rfc822.eml"));
    let names: Vec<_> = r
        .attachments
        .iter()
        .map(|a| (a.name.clone(), a.content_type.clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            (Some("complaint.eml".into()), "message/rfc822".into()),
            (Some("Résumé notes.txt".into()), "text/plain".into())
        ]
    );
    let out = env.path("inner.eml");
    let id = r.email_id.expect("id").to_string();
    export(&env, &id, &out);
    let inner = std::fs::read_to_string(&out).expect("inner");
    assert!(inner.contains("Subject: The complaint") && inner.contains("Everything went wrong."));
}

#[test]
fn confidential_mail_is_redacted_unless_revealed() {
    let env = example();
    let contact = env.add("contacts", &["email=ann@customer.example"]);
    let r = env.file(&fixture("confidential.eml"));
    let id = r.email_id.expect("id").to_string();
    let list = env.run(&["emails", "list", "--json"], b"").json_lines();
    assert_eq!(list[0]["subject"], "(confidential)");
    assert_eq!(list[0]["sender"], "ann@customer.example");
    let show = env.run(&["emails", "show", &id, "--json"], b"").json();
    assert_eq!(show["redacted"], true);
    assert!(show["text"].is_null());
    assert_eq!(show["attachments"].as_array().map(Vec::len), Some(0));
    assert_eq!(show["links"][0]["id"], contact);
    let text = env.run(&["emails", "show", &id], b"").stdout;
    assert!(
        !text.contains("95,000") && !text.contains("Salary"),
        "{text}"
    );
    let shown = env
        .run(&["emails", "show", &id, "--reveal", "--json"], b"")
        .json();
    assert!(
        shown["text"]
            .as_str()
            .unwrap_or_default()
            .contains("95,000")
    );
    assert_eq!(shown["attachments"].as_array().map(Vec::len), Some(1));
    let record = env.record(contact);
    assert_eq!(record["emails"][0]["subject"], "(confidential)");
}

#[test]
fn a_rule_can_mark_mail_confidential() {
    let env = Env::with_config(
        "actions:\n  - name: hr\n    when: { subject: { contains: printer } }\n    do: archive\n    confidential: true\n",
    );
    env.file(&fixture("support-request.eml"));
    let list = env.run(&["emails", "list", "--json"], b"").json_lines();
    assert_eq!(list[0]["subject"], "(confidential)");
    assert_eq!(list[0]["confidential"], true);
}

#[test]
fn emails_list_filters() {
    let env = example();
    env.file(&fixture("support-request.eml"));
    env.file(&fixture("auto-reply-rfc3834.eml"));
    env.file(&fixture("lead-plus-address.eml"));
    let ids = |args: &[&str]| -> Vec<i64> {
        let mut a = vec!["emails", "list", "--json"];
        a.extend_from_slice(args);
        env.run(&a, b"")
            .json_lines()
            .iter()
            .filter_map(|v| v["id"].as_i64())
            .collect()
    };
    // Newest first, unless --oldest.
    assert_eq!(ids(&[]), vec![3, 2, 1]);
    assert_eq!(ids(&["--oldest"]), vec![1, 2, 3]);
    assert_eq!(ids(&["--status", "skipped"]), vec![2]);
    assert_eq!(ids(&["--rule", "support cases"]), vec![1]);
    assert_eq!(ids(&["--class", "auto_reply"]), vec![2]);
    assert_eq!(ids(&["--from", "BOB@prospect.example"]), vec![3]);
    assert_eq!(ids(&["--limit", "2"]), vec![3, 2], "the newest two");
    assert_eq!(ids(&["--limit", "2", "--oldest"]), vec![1, 2]);
    assert_eq!(ids(&["--since", "2026-11-27"]), vec![3, 2, 1]);
    assert_eq!(ids(&["--since", "2026-11-28"]), Vec::<i64>::new());
    let show = env.run(&["emails", "show", "1", "--json"], b"").json();
    assert_eq!(show["result"]["rule"], "support cases");
    assert!(
        show["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h[0] == "Subject")
    );
}

#[test]
fn forwarding_confirmation_codes_are_extracted_and_listed() {
    let env = example();
    let r = env.file(&fixture("gmail-forwarding-confirmation.eml"));
    let v = r.verification.clone().expect("verification");
    assert_eq!(v.code.as_deref(), Some("482913755"));
    assert!(
        v.link
            .as_deref()
            .unwrap_or_default()
            .starts_with("https://mail-settings.google.com/mail/vf-")
    );
    env.file(&fixture("support-request.eml"));
    let listed = env
        .run(&["emails", "list", "--verification", "--json"], b"")
        .json_lines();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["verification"]["code"], "482913755");
    assert_eq!(
        env.file(&fixture("lead-plus-address.eml")).verification,
        None
    );
}

/// A 1 MB attachment: its message is stored in several chunk rows, and
/// the export puts the message back together and decodes it exactly.
#[test]
fn a_large_attachment_is_exported_from_a_message_stored_in_chunks() {
    let env = example();
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i * 13 % 255) as u8).collect();
    let r = env.file(&with_attachment("att-big@x", "scan.bin", &content));
    let id = r.email_id.expect("id").to_string();
    // About SQLite itself: the chunk layout.
    assert!(
        env.chunk_sizes(r.email_id.expect("id")).len() >= 4,
        "a 1.3 MB message is more than four 256 KB chunks"
    );
    let out = env.path("scan.bin");
    let run = export(&env, &id, &out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).expect("exported"), content);
}

/// Should the stored message's attachments come out in another order (a
/// later parser numbering them differently), each is still exported by
/// the SHA-256 recorded at filing, not by its new position.
#[test]
fn an_attachment_is_found_by_its_checksum_when_the_parts_are_renumbered() {
    let env = example();
    let (first, second): (&[u8], &[u8]) = (b"first file's bytes", b"second file's bytes");
    let r = env.file(&with_attachments(
        "att-two@x",
        &[("a.txt", first), ("b.txt", second)],
    ));
    let id = r.email_id.expect("id").to_string();
    let swapped = with_attachments("att-two@x", &[("b.txt", second), ("a.txt", first)]);
    // With SQL: no store API rewrites a stored mail.
    env.replace_raw(r.email_id.expect("id"), &swapped);
    for (n, want) in [("1", first), ("2", second)] {
        let run = env.run(&["emails", "attachment", &id, n], b"");
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout.as_bytes(), want, "attachment {n}");
    }
}

/// Content that no longer decodes to the SHA-256 recorded at filing is an
/// error naming the attachment, and nothing is written: export never hands
/// out a different file under the attachment's name.
#[test]
fn an_attachment_that_no_longer_matches_its_checksum_is_not_exported() {
    let env = example();
    let content: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = env.file(&with_attachment("att-x@x", "report.pdf", &content));
    let id = r.email_id.expect("id").to_string();
    let other = with_attachment("att-x@x", "report.pdf", b"something else entirely");
    // With SQL: no store API rewrites a stored mail.
    env.replace_raw(r.email_id.expect("id"), &other);
    let out = env.path("report.pdf");
    let run = export(&env, &id, &out);
    assert_eq!(run.code, 65, "a data error: {}", run.stderr);
    assert!(
        run.stderr.contains("attachment 1 of mail")
            && run.stderr.contains("report.pdf")
            && run.stderr.contains("no longer decodes"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!out.exists(), "nothing written");
}
