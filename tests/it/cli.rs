//! Command-line conventions: help with examples, completions, man page,
//! version, verbosity.

use crate::util::{Env, fixture};

const SUBCOMMANDS: &[&[&str]] = &[
    &["process"],
    &["check"],
    &["explain"],
    &["emails", "list"],
    &["emails", "show"],
    &["emails", "attachment"],
    &["emails", "raw"],
    &["emails", "link"],
    &["emails", "unlink"],
    &["reprocess"],
    &["address"],
    &["records", "list"],
    &["records", "show"],
    &["records", "add"],
    &["records", "update"],
    &["records", "delete"],
    &["records", "merge"],
    &["records", "import"],
    &["records", "close"],
    &["records", "reopen"],
    &["body-rule", "learn"],
    &["completions"],
    &["man"],
];

#[test]
fn help_has_examples_everywhere() {
    let env = Env::new();
    let r = env.run(&["--help"], b"");
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    for cmd in SUBCOMMANDS {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = env.run(&args, b"");
        assert_eq!(r.code, 0, "{cmd:?}");
        assert!(
            r.stdout.contains("Examples:\n  mailroom "),
            "{cmd:?} has no examples:\n{}",
            r.stdout
        );
    }
}

#[test]
fn version_prints_the_crate_version() {
    let r = Env::new().run(&["--version"], b"");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.trim(),
        format!("mailroom {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "_mailroom()"),
        ("zsh", "#compdef mailroom"),
        ("fish", "complete -c mailroom"),
    ] {
        let r = env.run(&["completions", shell], b"");
        assert_eq!(r.code, 0, "{shell}");
        assert!(
            r.stdout.contains(marker),
            "{shell}: {}",
            &r.stdout[..r.stdout.len().min(200)]
        );
        assert!(r.stdout.contains("process"), "{shell}");
    }
    assert_eq!(env.run(&["completions", "tcsh"], b"").code, 64);
}

#[test]
fn the_man_page_comes_from_the_same_definition() {
    let r = Env::new().run(&["man"], b"");
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains(".TH mailroom 1"));
    assert!(
        r.stdout.contains("mailroom\\-process(1)") && r.stdout.contains("\\-\\-config"),
        "{}",
        r.stdout
    );
}

#[test]
fn verbose_and_quiet() {
    let env = Env::new();
    let r = env.run(&["process", "-v"], &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("mailroom: -: processed rule=lead action=create_lead"),
        "{}",
        r.stderr
    );
    let r = env.run(&["process", "-q"], b"");
    assert_eq!(r.code, 65);
    assert_eq!(r.stderr, "");
    let r = env.run(&["process"], b"");
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn postfix_original_recipient_is_the_envelope() {
    let env = Env::new();
    let mut cmd = env.command(&["process"]);
    // To says +lead; Postfix's local delivery says the mail came for +case.
    cmd.env("ORIGINAL_RECIPIENT", "crm+case@example.com");
    let r = crate::util::run(cmd, &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report().action.as_deref(), Some("create_case"));
}

#[test]
fn no_color_anywhere() {
    let env = Env::new();
    let mut cmd = env.command(&["--help"]);
    cmd.env("NO_COLOR", "1");
    let r = crate::util::run(cmd, b"");
    assert!(!r.stdout.contains('\u{1b}'));
}

#[test]
fn maildir_quiet_still_reports_failures() {
    let env = Env::new();
    let missing = env.path("no-such-maildir");
    let r = env.run(
        &["maildir", "--quiet", missing.to_str().unwrap_or_default()],
        b"",
    );
    assert_eq!(r.code, 75);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-maildir"), "{}", r.stderr);
}
