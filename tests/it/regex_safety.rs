//! Rule regexes are size-limited when the config is loaded, and evaluated
//! in linear time (the regex crate has no backtracking): hostile subjects
//! and bodies of megabytes against the example rules and against patterns
//! that are catastrophic for backtracking engines complete, with the
//! right answer. Timings are in `examples/reliability_bench.rs`; the bound
//! here is only a generous sanity check.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::Env;
use mailroom::mail::message::{Email, Mailbox};
use mailroom::route;
use mailroom::rules::Config;

fn config(yaml: &str) -> Config {
    Config::parse(Path::new("rules.yaml"), yaml)
        .unwrap_or_else(|e| panic!("config: {e}"))
        .config
}

fn hostile_email(subject: String, body: String) -> Email {
    Email {
        from: vec![Mailbox {
            name: Some("Mallory".into()),
            address: "mallory@evil.example".into(),
        }],
        to: vec![Mailbox {
            name: None,
            address: "crm@example.com".into(),
        }],
        subject,
        text: body,
        message_id: Some("<regex@evil.example>".into()),
        content_type: "text/plain".into(),
        ..Email::default()
    }
}

const SANITY: Duration = Duration::from_secs(60);

#[test]
fn a_regex_over_the_size_limit_is_refused_at_load_time() {
    let yaml = "actions:\n  - name: huge\n    when: { subject: { regex: \"(\\\\w{100}){100}\" } }\n    do: archive\n";
    let text = match Config::parse(Path::new("rules.yaml"), yaml) {
        Ok(_) => panic!("a regex over the size limit was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(text.contains("huge"), "names the rule: {text}");
    assert!(text.contains("rules.yaml:3"), "names the line: {text}");

    // `check` says so, and `process` keeps the mail (75) meanwhile.
    let env = Env::with_config(yaml);
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 78, "{}", r.stdout);
    assert!(r.stdout.contains("huge"), "{}", r.stdout);
    let r = env.process(b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n");
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn a_megabyte_subject_against_the_example_rules_completes() {
    let source =
        std::fs::read_to_string(crate::util::root().join("rules.example.yaml")).expect("read");
    let config = config(&source);
    let store = mailroom::store::open_read_only(&mailroom::store::Location::File(
        "/nonexistent/mailroom.db".into(),
    ))
    .expect("store");
    let reader = store.reader();
    let subject = "Re: [CASE-".repeat(100_000) + "x";
    let body = "Company name: ".repeat(300_000);
    let email = hostile_email(subject, body);
    let start = Instant::now();
    let plan = route::decide(&email, None, &config, &*reader, NOW).expect("decides");
    assert!(start.elapsed() < SANITY, "took {:?}", start.elapsed());
    assert_eq!(plan.rule.as_deref(), Some("everything else"));
}

/// When the mail is routed (it sets the flood limit's window).
const NOW: &str = "2026-11-27T10:00:00Z";

#[test]
fn backtracking_bombs_run_in_linear_time_with_the_right_answer() {
    let config = config(
        "actions:\n\
         \x20 - name: nested plus\n    when: { subject: { regex: \"^(a+)+$\" } }\n    do: skip\n\
         \x20 - name: alternation\n    when: { subject: { regex: \"^(a|aa)*b$\" } }\n    do: skip\n\
         \x20 - name: repeated dot star\n    when: { body: { regex: \"(.*a){12}z\" } }\n    do: skip\n\
         \x20 - name: fallback\n    do: archive\n",
    );
    let store = mailroom::store::open_read_only(&mailroom::store::Location::File(
        "/nonexistent/mailroom.db".into(),
    ))
    .expect("store");
    let reader = store.reader();
    // "aaaa…a!" defeats a backtracking engine at a few dozen characters.
    let subject = "a".repeat(1 << 20) + "!";
    let body = "a".repeat(1 << 20);
    let start = Instant::now();
    let plan = route::decide(&hostile_email(subject, body), None, &config, &*reader, NOW)
        .expect("decides");
    assert!(start.elapsed() < SANITY, "took {:?}", start.elapsed());
    assert_eq!(plan.rule.as_deref(), Some("fallback"));

    // And they still match what they should.
    let plan = route::decide(
        &hostile_email("a".repeat(10_000), String::new()),
        None,
        &config,
        &*reader,
        NOW,
    )
    .expect("decides");
    assert_eq!(plan.rule.as_deref(), Some("nested plus"));
}
