//! `mailroom process`: the pipeline end to end on fixture messages.

use crate::util::{Env, fixture, sqlite};
use mailroom::report::Status;
use mailroom::route::plan::Op;
use mailroom::store::CHUNK_BYTES;

#[test]
fn creates_a_case_and_prints_the_result() {
    let env = Env::with_example_config();
    let r = env.file(&fixture("support-request.eml"));
    assert_eq!(r.status, Status::Processed);
    assert_eq!(r.rule.as_deref(), Some("support cases"));
    assert_eq!(r.action.as_deref(), Some("create_case"));
    assert_eq!(
        r.message_id.as_deref(),
        Some("<support-request-1@customer.example>")
    );
    assert_eq!(r.records[0].module, "cases");
    assert_eq!(r.records[0].number.as_deref(), Some("CASE-1"));
    assert_eq!(r.records[0].op, Op::Created);
    let case = env.record(r.records[0].id.expect("id"));
    assert_eq!(
        case["record"]["fields"]["title"],
        "Printer on floor 3 is broken"
    );
    assert_eq!(case["record"]["fields"]["priority"], "normal");
    assert!(
        case["record"]["fields"]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("blank pages")
    );
    assert_eq!(env.emails().len(), 1);
}

#[test]
fn the_raw_message_is_kept_byte_for_byte() {
    let env = Env::with_example_config();
    let raw = fixture("support-request.eml");
    let id = env.file(&raw).email_id.expect("id");
    assert_eq!(env.read(|r| r.raw(id).expect("raw")), Some(raw));
}

/// Headers and text body are not stored beside the raw message: `emails
/// show` parses them again from it, so what it shows is what the stored
/// bytes say, and follows them when they change.
#[test]
fn headers_and_text_are_shown_from_the_raw_message() {
    let env = Env::with_example_config();
    let raw = fixture("support-request.eml");
    let id = env.file(&raw).email_id.expect("id");
    let show = || {
        env.run(&["emails", "show", &id.to_string(), "--json"], b"")
            .json()
    };
    let shown = show();
    let headers = shown["headers"].as_array().cloned().unwrap_or_default();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "Subject" && h[1] == "Printer on floor 3 is broken"),
        "{headers:?}"
    );
    assert!(
        shown["text"]
            .as_str()
            .unwrap_or_default()
            .contains("blank pages"),
        "{shown}"
    );
    let parsed = mailroom::mail::message::parse(&raw).expect("parses");
    let decoded = mailroom::mail::message::decoded_headers(&raw);
    assert_eq!(shown["headers"], serde_json::json!(decoded));
    assert_eq!(shown["text"], parsed.text);

    // The stored bytes edited behind mailroom's back (with SQL: no store
    // API rewrites a mail): what is shown follows them.
    let other = fixture("deal-original.eml");
    env.replace_raw(id, &other);
    let parsed = mailroom::mail::message::parse(&other).expect("parses");
    let shown = show();
    assert_eq!(
        shown["headers"],
        serde_json::json!(mailroom::mail::message::decoded_headers(&other))
    );
    assert_eq!(shown["text"], parsed.text);
    assert!(!shown.to_string().contains("blank pages"), "{shown}");
}

#[test]
fn a_second_delivery_is_a_duplicate_and_changes_nothing() {
    let env = Env::with_example_config();
    let first = env.file(&fixture("support-request.eml"));
    let second = env.file(&fixture("support-request.eml"));
    assert_eq!(second.status, Status::Duplicate);
    assert_eq!(second.email_id, first.email_id);
    assert_eq!(second.records, first.records);
    let snapshot = env.snapshot();
    assert_eq!((snapshot.emails, snapshot.records), (1, 2));
}

#[test]
fn without_message_id_the_raw_bytes_dedupe() {
    let env = Env::new();
    let raw = fixture("no-message-id.eml");
    assert_eq!(env.file(&raw).status, Status::Processed);
    assert_eq!(env.file(&raw).status, Status::Duplicate);
    let mut changed = raw.clone();
    changed.extend_from_slice(b"P.S. one more line\n");
    assert_eq!(env.file(&changed).status, Status::Processed);
    assert_eq!(env.emails().len(), 2);
}

#[test]
fn crlf_and_lf_messages_file_the_same() {
    let lf = Env::with_example_config();
    let crlf = Env::with_example_config();
    let raw = fixture("support-request.eml");
    let raw_crlf = String::from_utf8(raw.clone())
        .expect("utf8")
        .replace('\n', "\r\n");
    let a = lf.file(&raw);
    let b = crlf.file(raw_crlf.as_bytes());
    assert_eq!(a.records, b.records);
    assert_eq!(a.rule, b.rule);
    assert_eq!(
        lf.record(1)["record"]["fields"]["title"],
        crlf.record(1)["record"]["fields"]["title"]
    );
}

#[test]
fn several_files_print_one_line_each() {
    let env = Env::with_example_config();
    let a = crate::util::fixture_path("support-request.eml");
    let b = crate::util::fixture_path("lead-plus-address.eml");
    let r = env.run(
        &[
            "process",
            a.to_str().unwrap_or_default(),
            b.to_str().unwrap_or_default(),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].action.as_deref(), Some("create_case"));
    assert_eq!(reports[1].action.as_deref(), Some("create_lead"));
}

#[test]
fn empty_input_exits_65_with_one_line() {
    let env = Env::new();
    let r = env.process(b"");
    assert_eq!(r.code, 65);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("empty message"));
}

#[test]
fn oversized_input_exits_65_and_stores_nothing() {
    let env = Env::with_config("limits:\n  message_bytes: 1KB\n");
    let mut raw = fixture("support-request.eml");
    raw.extend(std::iter::repeat_n(b'x', 2000));
    let r = env.process(&raw);
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.stderr.contains("limits.message_bytes"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(env.emails().is_empty());
}

#[test]
fn a_missing_file_argument_exits_66() {
    let env = Env::new();
    let r = env.run(&["process", "/nonexistent/message.eml"], b"");
    assert_eq!(r.code, 66);
    assert!(r.stderr.contains("/nonexistent/message.eml"));
}

#[test]
fn a_bad_command_line_exits_64() {
    let env = Env::new();
    assert_eq!(env.run(&["process", "--no-such-flag"], b"").code, 64);
    assert_eq!(env.run(&["frobnicate"], b"").code, 64);
    assert_eq!(env.run(&["--help"], b"").code, 0);
}

#[test]
fn bytes_that_are_not_mail_are_stored_unparsed() {
    let env = Env::new();
    let raw = b"\x00\x01\x02 this is not a mail message at all\n";
    let r = env.file(raw);
    assert_eq!(r.status, Status::Unparsed);
    let id = r.email_id.expect("id");
    let emails = env.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!((emails[0].id, emails[0].status.as_str()), (id, "unparsed"));
    assert_eq!(
        env.read(|r| r.raw(id).expect("raw")).as_deref(),
        Some(&raw[..])
    );
    assert_eq!(env.file(raw).status, Status::Duplicate);
}

#[test]
fn a_missing_or_invalid_config_exits_75() {
    let mut env = Env::new();
    env.config = Some(env.path("missing.yaml"));
    let r = env.process(&fixture("support-request.eml"));
    assert_eq!(r.code, 75);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
    let env = Env::with_config(BROKEN);
    let r = env.process(&fixture("support-request.eml"));
    assert_broken_config(&r, "rules.yaml");
    // SQLite: not even an empty database file is made.
    assert!(!env.db.exists(), "nothing is written with a broken config");
}

/// A config whose only rule has an unknown action (line 3, column 5).
const BROKEN: &str = "actions:\n  - name: x\n    do: explode\n";

/// Exit 75 and one line on stderr naming `file`, line, column and rule.
fn assert_broken_config(r: &crate::util::Run, file: &str) {
    assert_eq!(r.code, 75);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let want = format!("{file}:3:5: rule `x`: unknown action `explode`");
    assert!(r.stderr.contains(&want), "{}", r.stderr);
}

#[test]
fn a_broken_config_beside_an_existing_database_files_nothing() {
    // The config is loaded before an existing database is opened; its
    // error is the one reported, and the mail is not filed.
    let mut env = Env::with_example_config();
    env.file(&fixture("support-request.eml"));
    let broken = env.path("broken.yaml");
    std::fs::write(&broken, BROKEN).expect("write");
    env.config = Some(broken);
    let r = env.process(&crate::util::with_message_id(
        &fixture("deal-original.eml"),
        "after-break@customer.example",
    ));
    assert_broken_config(&r, "broken.yaml");
    assert_eq!(env.emails().len(), 1);

    // Both broken: the config's error is the one reported.
    let mut both = Env::new();
    both.config = Some(env.path("broken.yaml"));
    both.db = env.path("no-such-dir-file");
    std::fs::create_dir(&both.db).expect("a directory where the database should be");
    let r = both.process(&fixture("support-request.eml"));
    assert_eq!(r.code, 75);
    assert!(r.stderr.contains("broken.yaml"), "{}", r.stderr);
}

/// A read-only database or directory is `faults.rs`'s (with mounts when
/// run as root); a path that is a directory fails for everyone.
#[test]
fn a_database_path_that_is_a_directory_exits_75() {
    let env = Env::new();
    let mut cmd = env.command(&["process"]);
    cmd.env("MAILROOM_DB", env.dir.path());
    let r = crate::util::run(cmd, &fixture("support-request.eml"));
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn the_database_defaults_to_the_xdg_data_path() {
    let env = Env::new();
    let mut cmd = env.command(&["process"]);
    cmd.env_remove("MAILROOM_DB");
    let r = crate::util::run(cmd, &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        env.dir
            .path()
            .join(".local/share/mailroom/mailroom.db")
            .exists()
    );
    let mut cmd = env.command(&["process"]);
    cmd.env_remove("MAILROOM_DB")
        .env("XDG_DATA_HOME", env.path("xdg"));
    assert_eq!(
        crate::util::run(cmd, &fixture("lead-plus-address.eml")).code,
        0
    );
    assert!(env.path("xdg/mailroom/mailroom.db").exists());
}

/// About SQLite itself: its journal mode and `user_version`.
#[test]
fn the_store_uses_wal_and_tracks_its_schema_version() {
    let env = Env::new().on_sqlite();
    env.file(&fixture("lead-plus-address.eml"));
    let conn = sqlite::connect(&env.db);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    let current = mailroom::store::sqlite::MIGRATIONS.len();
    assert_eq!(version, i64::try_from(current).expect("a few migrations"));
}

/// About SQLite itself: the WAL's size and the file's integrity.
#[test]
fn the_wal_stays_short_across_many_deliveries() {
    // Each process rebuilds the WAL index from the WAL when it opens the
    // database alone, so a WAL that only grew would slow every delivery:
    // past 1 MB a delivery copies it into the database and truncates it.
    let env = Env::with_example_config().on_sqlite();
    let wal = wal_of(&env);
    let limit = 1 << 20;
    let mut largest = 0;
    let mut truncated = 0;
    for i in 0..60 {
        let raw = crate::util::with_message_id(
            &fixture("support-request.eml"),
            &format!("wal-{i}@customer.example"),
        );
        assert_eq!(env.file(&raw).status, Status::Processed);
        let size = file_size(&wal);
        largest = largest.max(size);
        if size == 0 {
            truncated += 1;
        }
    }
    assert!(largest > 0, "deliveries go through the WAL");
    assert!(largest <= limit, "the WAL grew to {largest} bytes");
    assert!(truncated >= 1, "the WAL was never truncated");

    // A large message takes the WAL past the limit at once: truncated too.
    let line = format!("{}\n", "x".repeat(75));
    let big = format!(
        "From: Ann <ann@customer.example>\nTo: crm@example.com\nSubject: logs\nMessage-ID: <big@customer.example>\n\n{}",
        line.repeat(20_000)
    );
    env.file(big.as_bytes());
    assert_eq!(file_size(&wal), 0, "a large delivery truncates the WAL");
    assert_eq!(env.emails().len(), 61);
    assert_eq!(sqlite::integrity_check(&env.db), "ok");
}

/// A message of 1 MB or more is stored whole, in chunks, under its own
/// id, as mail and as bytes that are not mail; a second delivery is a
/// duplicate that stores nothing more.
#[test]
fn large_messages_are_filed_once_and_whole() {
    let env = Env::with_example_config();
    let small = env.file(&fixture("support-request.eml"));
    assert_eq!(small.email_id, Some(1));
    let line = format!("{}\n", "y".repeat(75));
    let big = format!(
        "From: Ann <ann@customer.example>\nTo: crm+case@example.com\nSubject: logs\nMessage-ID: <big-staged@customer.example>\n\n{}",
        line.repeat(20_000)
    )
    .into_bytes();
    let first = env.file(&big);
    assert_eq!(first.status, Status::Processed);
    assert_eq!(first.email_id, Some(2));
    assert_eq!(env.read(|r| r.raw(2).expect("raw")).as_ref(), Some(&big));

    let again = env.file(&big);
    assert_eq!(again.status, Status::Duplicate);
    assert_eq!(again.email_id, Some(2));

    let mut not_mail = vec![0u8; 1 << 20];
    not_mail.extend_from_slice(b"binary, no header");
    let unparsed = env.file(&not_mail);
    assert_eq!(unparsed.status, Status::Unparsed);
    assert_eq!(unparsed.email_id, Some(3));
    assert_eq!(
        env.read(|r| r.raw(3).expect("raw")).as_ref(),
        Some(&not_mail)
    );

    let snapshot = env.snapshot();
    assert_eq!(snapshot.emails, 3);
    assert_eq!(snapshot.half_filed, 0);
    let small_raw = fixture("support-request.eml");
    assert_eq!(
        snapshot.raw_bytes,
        small_raw.len() + big.len() + not_mail.len()
    );
    // The chunk rows (the same layout in both stores).
    assert_eq!(env.chunk_sizes(1), [small_raw.len()]);
    for (id, raw) in [(2, &big), (3, &not_mail)] {
        let sizes = env.chunk_sizes(id);
        assert!(sizes.len() > 1, "mail {id} in one chunk");
        assert!(sizes.iter().all(|&n| n <= CHUNK_BYTES), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), raw.len(), "mail {id}");
    }
    if env.schema.is_some() {
        return; // PostgreSQL checks foreign keys as each row is written.
    }
    // SQLite checks them only when asked.
    let conn = sqlite::connect(&env.db);
    let broken: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("foreign_key_check");
    assert_eq!(broken, 0);
}

fn wal_of(env: &Env) -> std::path::PathBuf {
    let mut p = env.db.clone().into_os_string();
    p.push("-wal");
    p.into()
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn html_only_mail_is_stored_as_readable_text() {
    let env = Env::new();
    let r = env.file(&fixture("html-only.eml"));
    let id = r.email_id.expect("id").to_string();
    let show = env.run(&["emails", "show", &id, "--json"], b"").json();
    let text = show["text"].as_str().unwrap_or_default();
    assert!(text.contains("Hello sales team"), "{text:?}");
    assert!(text.contains("a demo & a quote"), "{text:?}");
    assert!(!text.contains("color: red"), "{text:?}");
}
