//! Real mail delivery agents piping into mailroom with the shipped recipes
//! (`contrib/procmail/`, `contrib/maildrop/`, `contrib/sieve/`): procmail,
//! maildrop and Dovecot's Sieve from Debian (installed by `.ci/run`). A
//! missing program fails the test under CI and is reported, not silently
//! passed, elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::site::{chmod, debian_program as program, recipe_at};
use crate::util::{Env, fixture, fixture_path, root};

fn maildir(root: &Path) -> PathBuf {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("maildir");
    }
    root.to_path_buf()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The shipped recipe `path` with this test's program, the example rules
/// and `db`.
fn shipped(path: &str, program: Option<&Path>, db: &Path) -> String {
    recipe_at(path, program, &root().join("rules.example.yaml"), db, &[])
}

/// The shipped procmailrc piping to mailroom with `db`, after the lines
/// that give procmail its fallback Maildir and log.
fn procmailrc(env: &Env, db: &Path) -> PathBuf {
    let inbox = maildir(&env.path("Mail/inbox"));
    let rc = env.path("procmailrc");
    let program = Path::new(env!("CARGO_BIN_EXE_mailroom"));
    std::fs::write(
        &rc,
        format!(
            "SHELL=/bin/sh\nDEFAULT={}/\nLOGFILE={}\n{}",
            inbox.display(),
            env.path("procmail.log").display(),
            shipped("procmail/procmailrc", Some(program), db)
        ),
    )
    .expect("rc");
    rc
}

fn procmail(env: &Env, rc: &Path, recipient: &str, message: &Path) -> i32 {
    let input = std::fs::File::open(message).expect("message");
    let status = Command::new("procmail")
        .arg("-m")
        .arg(rc)
        .arg(recipient)
        .env("HOME", env.dir.path())
        .env_remove("MAILROOM_CONFIG")
        .stdin(input)
        .status()
        .expect("procmail runs");
    status.code().unwrap_or(-1)
}

#[test]
fn procmail_files_a_delivery_and_keeps_mail_on_temporary_failure() {
    if program("procmail").is_none() {
        return;
    }
    let env = Env::new();
    // The recipient procmail is given ($1) routes the mail: +case.
    let rc = procmailrc(&env, &env.db);
    assert_eq!(
        procmail(
            &env,
            &rc,
            "crm+case@example.com",
            &fixture_path("lead-plus-address.eml")
        ),
        0
    );
    assert_eq!(actions(&env), ["create_case"]);
    assert!(
        files_in(&env.path("Mail/inbox/new")).is_empty(),
        "filed, not kept"
    );

    // The database cannot be opened: mailroom exits 75, procmail keeps
    // the mail in its fallback Maildir.
    let broken = env.path("db-is-a-directory");
    std::fs::create_dir(&broken).expect("dir");
    let rc = procmailrc(&env, &broken);
    assert_eq!(
        procmail(
            &env,
            &rc,
            "crm+lead@example.com",
            &fixture_path("support-request.eml")
        ),
        0
    );
    let kept = files_in(&env.path("Mail/inbox/new"));
    assert_eq!(kept.len(), 1, "the mail is kept in the fallback mailbox");
    let log = std::fs::read_to_string(env.path("procmail.log")).unwrap_or_default();
    assert!(log.contains("cannot open database"), "{log}");

    // The fault is gone: redelivering the kept copy files it once.
    let rc = procmailrc(&env, &env.db);
    assert_eq!(procmail(&env, &rc, "crm+lead@example.com", &kept[0]), 0);
    assert_eq!(procmail(&env, &rc, "crm+lead@example.com", &kept[0]), 0);
    let ids: Vec<_> = env.emails().into_iter().map(|e| e.message_id).collect();
    assert_eq!(
        ids,
        [
            Some("<lead-1@prospect.example>".to_string()),
            Some("<support-request-1@customer.example>".to_string())
        ],
        "the kept copy is filed once"
    );
}

/// The action of every mail stored, oldest first.
fn actions(env: &Env) -> Vec<String> {
    env.emails()
        .into_iter()
        .map(|e| e.action.unwrap_or_default())
        .collect()
}

fn mailfilter(env: &Env, db: &Path) -> PathBuf {
    let f = env.path("mailfilter");
    let program = Path::new(env!("CARGO_BIN_EXE_mailroom"));
    std::fs::write(&f, shipped("maildrop/mailfilter", Some(program), db)).expect("filter");
    chmod(&f, 0o600);
    f
}

fn maildrop(env: &Env, filter: &Path, message: &[u8]) -> i32 {
    let mut cmd = Command::new("maildrop");
    cmd.arg(filter)
        .env("HOME", env.dir.path())
        .env_remove("MAILROOM_CONFIG");
    crate::util::run(cmd, message).code
}

#[test]
fn maildrop_passes_mailroom_exit_codes_through() {
    if program("maildrop").is_none() {
        return;
    }
    let env = Env::new();
    assert_eq!(
        maildrop(
            &env,
            &mailfilter(&env, &env.db),
            &fixture("lead-plus-address.eml")
        ),
        0
    );
    assert_eq!(actions(&env), ["create_lead"]);
    let broken = env.path("db-is-a-directory");
    std::fs::create_dir(&broken).expect("dir");
    assert_eq!(
        maildrop(
            &env,
            &mailfilter(&env, &broken),
            &fixture("deal-original.eml")
        ),
        75
    );
    assert_eq!(
        maildrop(
            &env,
            &mailfilter(&env, &env.db),
            &fixture("deal-original.eml")
        ),
        0
    );
    assert_eq!(env.emails().len(), 2);
}

#[test]
fn every_envelope_path_leads_to_the_suffix() {
    let env = Env::new();
    let raw = String::from_utf8(fixture("support-request.eml")).expect("utf8");
    let variants = [
        (
            "delivered-to",
            raw.replace("Subject:", "Delivered-To: crm+lead@example.com\nSubject:"),
            None,
            None,
        ),
        (
            "x-original-to",
            raw.replace("Subject:", "X-Original-To: crm+lead@example.com\nSubject:"),
            None,
            None,
        ),
        (
            "--recipient",
            raw.clone(),
            Some("crm+lead@example.com"),
            None,
        ),
        (
            "ORIGINAL_RECIPIENT",
            raw.clone(),
            None,
            Some("crm+lead@example.com"),
        ),
    ];
    for (i, (name, message, arg, original)) in variants.into_iter().enumerate() {
        let message = message.replace("<support-request-1@", &format!("<envelope-{i}@"));
        let mut args = vec!["process"];
        if let Some(a) = arg {
            args.extend(["--recipient", a]);
        }
        let mut cmd = env.command(&args);
        if let Some(o) = original {
            cmd.env("ORIGINAL_RECIPIENT", o);
        }
        let r = crate::util::run(cmd, message.as_bytes());
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_eq!(r.report().action.as_deref(), Some("create_lead"), "{name}");
    }
}

/// Runs Dovecot's `sieve-test` with the extprograms plugin on `script`,
/// executing its actions. Dovecot refuses to run mail delivery as root, so
/// as root it runs as `nobody`.
fn sieve_test(dir: &Path, script: &str, message: &Path) -> (i32, String) {
    let conf = dir.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_location = maildir:{0}/Maildir\nplugin {{\n  sieve_plugins = sieve_extprograms\n  sieve_global_extensions = +vnd.dovecot.pipe\n  sieve_pipe_bin_dir = {0}/bin\n}}\n",
            dir.display()
        ),
    )
    .expect("conf");
    let sieve = dir.join("script.sieve");
    std::fs::write(&sieve, script).expect("script");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "sieve-test"]);
        c
    } else {
        Command::new("sieve-test")
    };
    cmd.arg("-c")
        .arg(&conf)
        .args(["-e", "-t", "-"])
        .arg(&sieve)
        .arg(message)
        .env("HOME", dir)
        .env_remove("MAILROOM_CONFIG");
    let out = cmd.output().expect("sieve-test runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn sieve_pipe_files_mail_and_keeps_it_when_mailroom_fails() {
    if program("sieve-test").is_none() {
        return;
    }
    let mut env = Env::new();
    let dir = env.path("sieve");
    std::fs::create_dir_all(dir.join("bin")).expect("bin");
    // A copy of the binary the unprivileged user can surely execute.
    std::fs::copy(env!("CARGO_BIN_EXE_mailroom"), dir.join("bin/mailroom")).expect("copy");
    std::fs::create_dir(dir.join("db-is-a-directory")).expect("dir");
    for p in [
        env.dir.path().to_path_buf(),
        dir.clone(),
        dir.join("bin"),
        dir.join("db-is-a-directory"),
    ] {
        chmod(&p, 0o777);
    }
    // The database file where `nobody` may write it.
    env.db = dir.join("crm.db");
    // The example rules, where `nobody` may read them.
    let rules = dir.join("mailroom.yaml");
    std::fs::copy(root().join("rules.example.yaml"), &rules).expect("rules");
    let script = |db: &Path| recipe_at("sieve/mailroom.sieve", None, &rules, db, &[]);
    let (code, log) = sieve_test(
        &dir,
        &script(&env.db),
        &fixture_path("lead-plus-address.eml"),
    );
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("piped message to program `mailroom'"), "{log}");
    assert_eq!(actions(&env), ["create_lead"]);

    // mailroom exits 75: the pipe fails and Sieve's implicit keep stores
    // the mail in INBOX.
    let (_, log) = sieve_test(
        &dir,
        &script(&dir.join("db-is-a-directory")),
        &fixture_path("deal-original.eml"),
    );
    assert!(log.contains("non-zero exit code 75"), "{log}");
    assert!(log.contains("implicit keep"), "{log}");
}
