//! What an administrator meets after day one: mistakes caught with the
//! valid choices, defaults where admins look, typed filters, exit codes
//! that mean what sysexits says, data out (raw, CSV), tables that fit the
//! terminal, man pages.

use std::path::Path;

use serde_json::Value;

use crate::util::{Env, Run, fixture, fixture_path, make_maildir, on_a_terminal, with_message_id};

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

/// One stderr line, containing `want`, and the exit code `code`.
fn refused(r: &Run, code: i32, want: &str) {
    assert_eq!(r.code, code, "stderr: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(want), "`{want}` in: {}", r.stderr);
}

#[test]
fn a_misspelt_class_is_an_error_with_the_right_name() {
    let env = Env::with_config(
        "actions:\n  - name: no loops\n    when: { not: { class: autoreply } }\n    do: create_case\n  - name: lists\n    when: { class: lists }\n    do: skip\n",
    );
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 78, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("rules.yaml:3:20: rule `no loops`: unknown class `autoreply`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("did you mean `auto_reply`?"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rules.yaml:6:13"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `list`?"), "{}", r.stdout);
    // A delivery with a broken config keeps the mail (75).
    assert_eq!(env.process(&fixture("support-request.eml")).code, 75);
}

#[test]
fn the_config_is_found_where_admins_put_it() {
    let env = Env::new();
    let etc = env.path("etc/mailroom");
    let user = env.path("xdg/mailroom");
    let config = |dir: &Path, rule: &str| {
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(
            dir.join("mailroom.yaml"),
            format!("actions:\n  - name: {rule}\n    do: create_case\n"),
        )
        .expect("write");
    };
    let rule_of = |env: &Env, id: &str, xdg: bool| -> (String, String) {
        let mut cmd = env.command(&["process"]);
        if xdg {
            cmd.env("XDG_CONFIG_HOME", env.path("xdg"));
        }
        let raw = with_message_id(&fixture("support-request.eml"), id);
        let r = crate::util::run(cmd, &raw);
        assert_eq!(r.code, 0, "{}", r.stderr);
        (r.report().rule.unwrap_or_default(), r.stderr)
    };
    // None: the built-in defaults, said once on stderr.
    let (rule, stderr) = rule_of(&env, "c0@x", false);
    assert_eq!(rule, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("built-in defaults"), "{stderr}");
    assert!(stderr.contains("etc/mailroom/mailroom.yaml"), "{stderr}");
    // The user's file, then the system's before it.
    config(&user, "from the user");
    assert_eq!(
        rule_of(&env, "c1@x", true),
        ("from the user".into(), String::new())
    );
    config(&env.path(".config/mailroom"), "from home");
    assert_eq!(rule_of(&env, "c2@x", false).0, "from home");
    config(&etc, "from etc");
    assert_eq!(rule_of(&env, "c3@x", true).0, "from etc");
    // `check` finds it too.
    assert!(
        ok(env.run(&["check"], b""))
            .stdout
            .contains("etc/mailroom/mailroom.yaml: ok")
    );
}

#[test]
fn a_home_that_does_not_exist_is_never_created() {
    let env = Env::new();
    let mut cmd = env.command(&["process"]);
    cmd.env_remove("MAILROOM_DB")
        .env("HOME", env.path("nonexistent"));
    let r = crate::util::run(cmd, &fixture("support-request.eml"));
    refused(&r, 75, "--db");
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(!env.path("nonexistent").exists());
}

#[test]
fn filters_are_typed_and_compared_as_instants() {
    let env = Env::with_example_config();
    env.file(&fixture("support-request.eml"));
    let list = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["emails", "list", "--json"];
        all.extend_from_slice(args);
        ok(env.run(&all, b"")).json_lines()
    };
    // Filed at 2026-11-27T10:00:00Z (MAILROOM_NOW).
    assert_eq!(list(&["--since", "2026-11-27T10:00:00Z"]).len(), 1);
    assert_eq!(list(&["--since", "2026-11-27T10:59:00+01:00"]).len(), 1);
    assert_eq!(list(&["--since", "2026-11-27T11:00:01+01:00"]).len(), 0);
    assert_eq!(
        list(&["--since", "2026-11-27", "--until", "2026-11-28"]).len(),
        1
    );
    assert_eq!(list(&["--until", "2026-11-27"]).len(), 0);
    for (args, want) in [
        (
            &["emails", "list", "--since", "yesterday"][..],
            "`yesterday` is not a date",
        ),
        (
            &["emails", "list", "--status", "bogus"],
            "unknown status `bogus`",
        ),
        (
            &["emails", "list", "--class", "humans"],
            "unknown class `humans`",
        ),
        (&["records", "list", "case"], "unknown module `case`"),
        (
            &["records", "list", "--since", "soon"],
            "`soon` is not a date",
        ),
    ] {
        refused(&env.run(args, b""), 64, want);
    }
    // records list by status and creation time.
    let records = |args: &[&str]| -> usize {
        let mut all = vec!["records", "list", "--json"];
        all.extend_from_slice(args);
        ok(env.run(&all, b"")).json_lines().len()
    };
    assert_eq!(records(&[]), 2);
    ok(env.run(&["records", "close", "CASE-1"], b""));
    assert_eq!(records(&["--status", "closed"]), 1);
    assert_eq!(records(&["--status", "open"]), 1);
    assert_eq!(records(&["--since", "2026-11-27T10:00:00Z"]), 2);
    assert_eq!(records(&["--since", "2026-11-28"]), 0);
}

#[test]
fn what_does_not_exist_is_never_try_again_later() {
    let env = Env::with_config("limits:\n  attachment_bytes: 10\n");
    let mail = env.file(&fixture("nested-rfc822.eml"));
    let id = mail.email_id.expect("id").to_string();
    refused(
        &env.run(&["emails", "show", "99"], b""),
        66,
        "no mail with id 99",
    );
    refused(
        &env.run(&["emails", "raw", "99"], b""),
        66,
        "no mail with id 99",
    );
    refused(
        &env.run(&["emails", "attachment", "99", "1"], b""),
        66,
        "no mail with id 99",
    );
    refused(
        &env.run(&["emails", "attachment", &id, "9"], b""),
        66,
        "has no attachment 9",
    );
    refused(
        &env.run(&["emails", "attachment", &id, "1"], b""),
        65,
        "was not stored",
    );
    refused(
        &env.run(&["records", "show", "99"], b""),
        66,
        "no record with id 99",
    );
    refused(
        &env.run(&["records", "update", "CON-9", "a=b"], b""),
        66,
        "CON-9",
    );
}

#[test]
fn the_original_bytes_come_back_out() {
    let env = Env::with_example_config();
    let raw = fixture("nested-rfc822.eml");
    let id = env.file(&raw).email_id.expect("id").to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["emails", "raw", &id])
        .envs(
            env.command(&[])
                .get_envs()
                .filter_map(|(k, v)| Some((k, v?))),
        )
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(out.stdout, raw, "stdout is the message byte for byte");
    let file = env.path("copy.eml");
    let path = file.display().to_string();
    ok(env.run(&["emails", "raw", &id, "-o", &path], b""));
    assert_eq!(std::fs::read(&file).expect("copy"), raw);
    std::fs::write(&file, b"keep me").expect("write");
    refused(
        &env.run(&["emails", "raw", &id, "-o", &path], b""),
        64,
        "--force",
    );
    assert_eq!(std::fs::read(&file).expect("kept"), b"keep me");
    ok(env.run(&["emails", "raw", &id, "-o", &path, "--force"], b""));
    assert_eq!(std::fs::read(&file).expect("copy"), raw);
}

#[test]
fn records_go_out_as_csv_and_come_back_in() {
    let env = Env::with_example_config();
    env.file(&fixture("support-request.eml"));
    env.add(
        "contacts",
        &["email=bob@x.example", "name=Smith, \"Bob\"", "city=Zürich"],
    );
    let csv = ok(env.run(&["records", "list", "--csv"], b"")).stdout;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,module,number,status,email,created_at,updated_at,last_activity,city,description,name,priority,title"
        )
    );
    assert!(csv.contains("\"Smith, \"\"Bob\"\"\""), "{csv}");
    let file = env.path("records.csv");
    std::fs::write(&file, &csv).expect("write");

    let other = Env::with_example_config();
    let r = ok(other.run(&["records", "import", &file.display().to_string()], b""));
    assert!(r.stdout.contains("imported 3 record(s)"), "{}", r.stdout);
    let strip = |env: &Env| -> Vec<(String, String, Value)> {
        ok(env.run(&["records", "list", "--json"], b""))
            .json_lines()
            .iter()
            .map(|r| {
                (
                    r["module"].as_str().unwrap_or_default().to_string(),
                    r["email"].as_str().unwrap_or_default().to_string(),
                    r["fields"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&other), strip(&env));

    // Mail as CSV: a header row, newest first unless --oldest.
    env.file(&with_message_id(&fixture("deal-original.eml"), "later@x"));
    let mails = ok(env.run(&["emails", "list", "--csv"], b"")).stdout;
    let ids: Vec<&str> = mails
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(ids, ["2", "1"]);
    assert!(mails.starts_with("id,received_at,date,status,"), "{mails}");
    let json = ok(env.run(&["emails", "list", "--json", "--oldest"], b"")).json_lines();
    assert_eq!(json[0]["id"], 1);
    assert_eq!(json[0]["date"], "2026-11-27T09:15:00Z");
}

#[test]
fn tables_fit_an_80_column_terminal_and_headers_are_decoded() {
    let env = Env::with_example_config();
    let long = "Very long subject ".repeat(20);
    let raw = format!(
        "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@customer.example>\nTo: crm+case@example.com\nSubject: {long}\nMessage-ID: <wide@x>\n\n{}\n",
        "Body line. ".repeat(100)
    );
    env.file(raw.as_bytes());
    env.add(
        "contacts",
        &[
            "email=wide@x.example",
            &format!("name={long}"),
            &format!("note={long}"),
        ],
    );
    for args in ["emails list", "records list", "records show 1"] {
        let Some(r) = on_a_terminal(&env, args) else {
            return;
        };
        assert_eq!(r.code, 0, "{args}: {}", r.stdout);
        for line in r.stdout.lines() {
            let width = line.trim_end_matches('\r').chars().count();
            if args != "records show 1"
                || line.starts_with("ID")
                || line.starts_with(char::is_numeric)
            {
                assert!(width <= 80, "{args}: {width} columns: {line}");
            }
        }
    }
    let r = on_a_terminal(&env, "records list").expect("terminal");
    assert!(r.stdout.starts_with("NUMBER  NAME"), "{}", r.stdout);
    let show = ok(env.run(&["emails", "show", "1", "--json"], b"")).json();
    let from = show["headers"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h[0] == "From"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(from[1], "Jörg Müller <jorg@customer.example>");
}

#[test]
fn man_pages_are_written_for_every_command_and_the_rules() {
    let env = Env::new();
    let dir = env.path("man");
    let r = ok(env.run(&["man", "--dir", &dir.display().to_string()], b""));
    assert!(dir.join("man5/mailroom-rules.5").is_file());
    for page in [
        "mailroom",
        "mailroom-process",
        "mailroom-reprocess",
        "mailroom-emails-raw",
        "mailroom-records-merge",
    ] {
        assert!(
            dir.join(format!("man1/{page}.1")).is_file(),
            "{page}: {}",
            r.stdout
        );
    }
    // Every page a page refers to exists.
    for entry in std::fs::read_dir(dir.join("man1")).expect("man1").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("page");
        for (at, _) in text.match_indices("(1)") {
            let name: String = text[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '\\')
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
                .replace('\\', "");
            if name.starts_with("mailroom") {
                assert!(
                    dir.join(format!("man1/{name}.1")).is_file(),
                    "{name}(1) in {:?}",
                    entry.path()
                );
            }
        }
    }
    let rules = std::fs::read_to_string(dir.join("man5/mailroom-rules.5")).expect("rules");
    assert!(rules.contains("create_opportunity") && rules.contains("on_multiple"));
}

#[test]
fn a_message_that_can_never_be_filed_is_reported_once() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    std::fs::write(md.join("new/1700000000.empty"), b"").expect("empty");
    std::fs::copy(
        fixture_path("lead-plus-address.eml"),
        md.join("new/1700000001.lead"),
    )
    .expect("copy");
    let dir = md.display().to_string();
    let first = env.run(&["maildir", "--quiet", &dir], b"");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("empty message"), "{}", first.stderr);
    assert!(first.stderr.contains("1 rejected"), "{}", first.stderr);
    // Out of new/, unread and flagged for a person.
    assert!(md.join("cur/1700000000.empty:2,F").is_file());
    let second = env.run(&["maildir", "--quiet", &dir], b"");
    assert_eq!(second.code, 0);
    assert!(!second.stderr.contains("empty"), "{}", second.stderr);
    let missing = env.run(
        &["maildir", &env.path("nowhere").display().to_string()],
        b"",
    );
    refused(&missing, 75, "does not exist");
}
