//! `mailroom maildir DIR` (issue 5): order, flags, subfolders, the lock,
//! vanished and failing files, group commit with its fallback, reruns, and
//! kill -9 at random points of a large run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::{
    Env, Run, corpus_messages, fill_maildir, fixture, make_maildir, names_in, with_message_id,
};
use mailroom::report::Status;
use mailroom::route::plan::Evidence;

fn maildir(env: &Env, dir: &Path, extra: &[&str]) -> Run {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec!["maildir"];
    args.extend_from_slice(extra);
    args.push(path);
    env.run(&args, b"")
}

fn deliver(dir: &Path, name: &str, raw: &[u8]) {
    std::fs::write(dir.join("new").join(name), raw).expect("deliver");
}

/// The summary line's count of `what` (e.g. "processed").
fn summary(run: &Run, what: &str) -> u64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("messages/s"))
        .unwrap_or_else(|| panic!("no summary in: {}", run.stderr));
    line.split([',', ':', ';'])
        .map(str::trim)
        .find_map(|part| part.strip_suffix(what)?.trim().parse().ok())
        .unwrap_or(0)
}

const THREADING: &str = "mailroom:\n  handle: crm\n  domains: [example.com]\n  own_addresses: [\"*@example.com\"]\nactions:\n  - name: support\n    when:\n      any:\n        - recipient: { contains: \"support@\" }\n        - suffix: case\n    do: create_case\n    create_contact: true\n";

#[test]
fn files_oldest_first_and_moves_each_to_cur_with_the_seen_flag() {
    let env = Env::with_config(THREADING);
    let md = env.path("Maildir");
    make_maildir(&md);
    // The reply is delivered later but sorts first by name: the time in
    // the name decides, so the case exists when the reply is filed.
    deliver(
        &md,
        "1700000020.A.host",
        &fixture("case-reply-references.eml"),
    );
    deliver(&md, "1700000003.Z.host", &fixture("support-request.eml"));
    deliver(&md, "1700000010.B.host:2,RF", &fixture("no-message-id.eml"));
    deliver(&md, ".hidden", b"not a message");
    std::fs::write(md.join("tmp/1700000000.T.host"), b"half delivered").expect("tmp");

    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), 3, "{}", r.stdout);
    assert_eq!(reports[0].records[0].number.as_deref(), Some("CASE-1"));
    assert_eq!(reports[1].message_id, None);
    let thread = reports[2].thread.clone().expect("the reply threads");
    assert_eq!(thread.evidence, Evidence::References);
    assert_eq!(
        names_in(&md, "cur"),
        [
            "1700000003.Z.host:2,S",
            "1700000010.B.host:2,FRS",
            "1700000020.A.host:2,S"
        ]
    );
    assert_eq!(names_in(&md, "new"), [".hidden"]);
    assert_eq!(names_in(&md, "tmp"), ["1700000000.T.host"]);
    assert_eq!(summary(&r, "processed"), 2);
    assert_eq!(env.emails().len(), 3);
    // Not a terminal: the summary only, no progress bar.
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn each_json_line_is_the_object_process_prints() {
    let piped = Env::with_example_config();
    let expected = piped.process(&fixture("support-request.eml"));
    assert_eq!(expected.code, 0, "{}", expected.stderr);

    let env = Env::with_example_config();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.a", &fixture("support-request.eml"));
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, expected.stdout);
}

#[test]
fn a_run_started_during_another_exits_0_and_leaves_it_alone() {
    let env = Env::with_example_config();
    let md = env.path("Maildir");
    let n = 1500;
    fill_maildir(&md, &corpus_messages(), n);
    let path = md.to_str().expect("utf-8 path").to_string();
    let mut first = env.command(&["maildir", "--quiet", &path]);
    first.stdout(Stdio::null()).stderr(Stdio::null());
    let mut first = first.spawn().expect("spawn");
    // Wait until the first run is filing (its first batch is in cur/).
    let deadline = Instant::now() + Duration::from_secs(60);
    while names_in(&md, "cur").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = maildir(&env, &md, &[]);
    let first_done = first.try_wait().expect("wait").is_some();
    let status = first.wait().expect("wait");
    assert!(status.success());
    assert_eq!(second.code, 0, "{}", second.stderr);
    if !first_done {
        assert_eq!(second.stdout, "");
        assert_eq!(second.stderr.lines().count(), 1, "{}", second.stderr);
        assert!(second.stderr.contains("another run"), "{}", second.stderr);
    }
    assert_eq!(names_in(&md, "cur").len(), n);
    assert_eq!(env.emails().len(), n);
}

#[test]
fn recursive_also_files_maildir_plus_plus_subfolders() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    make_maildir(&md.join(".Customers"));
    make_maildir(&md.join(".Customers.Archive"));
    deliver(&md, "1700000002.top", &fixture("support-request.eml"));
    deliver(
        &md.join(".Customers"),
        "1700000001.sub",
        &fixture("deal-original.eml"),
    );
    deliver(
        &md.join(".Customers.Archive"),
        "1700000003.deeper",
        &fixture("html-only.eml"),
    );

    let flat = maildir(&env, &md, &[]);
    assert_eq!(flat.code, 0, "{}", flat.stderr);
    assert_eq!(flat.reports().len(), 1);
    assert_eq!(names_in(&md.join(".Customers"), "new"), ["1700000001.sub"]);

    let deep = maildir(&env, &md, &["--recursive"]);
    assert_eq!(deep.code, 0, "{}", deep.stderr);
    assert_eq!(deep.reports().len(), 2);
    assert_eq!(
        names_in(&md.join(".Customers"), "cur"),
        ["1700000001.sub:2,S"]
    );
    assert_eq!(
        names_in(&md.join(".Customers.Archive"), "cur"),
        ["1700000003.deeper:2,S"]
    );
    assert_eq!(env.emails().len(), 3);
}

#[test]
fn a_second_run_while_one_is_active_exits_0_at_once() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.a", &fixture("support-request.eml"));
    let held = mailroom::maildir::lock(&md).expect("lock").expect("free");
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("another run"), "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), ["1700000001.a"]);
    drop(held);
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), Vec::<String>::new());
}

#[test]
fn a_run_that_cannot_start_its_threads_leaves_everything_for_the_next() {
    // A process limit can refuse threads (here: a stack no mmap can
    // give). The run says so, files nothing it cannot read, exits 75 and
    // leaves every message in new/; the next run files them all.
    let env = Env::with_example_config();
    let md = env.path("Maildir");
    let names = fill_maildir(&md, &corpus_messages()[..3], 3);
    let mut cmd = env.command(&["maildir", md.to_str().expect("utf-8 path")]);
    cmd.env("RUST_MIN_STACK", (1_u64 << 40).to_string());
    let r = crate::util::run(cmd, b"");
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot start the reading thread"),
        "{}",
        r.stderr
    );
    assert_eq!(summary(&r, "left for the next run"), 3, "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), names);
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), Vec::<String>::new());
    assert_eq!(names_in(&md, "cur").len(), 3);
    assert_eq!(env.emails().len(), 3);
}

#[test]
fn a_vanished_file_is_not_an_error() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.a", &fixture("support-request.eml"));
    // Listed, then gone when read: what another client moving it looks like.
    std::os::unix::fs::symlink(env.path("nowhere"), md.join("new/1700000002.gone"))
        .expect("symlink");
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.reports().len(), 1);
    assert_eq!(summary(&r, "vanished"), 1);
    assert_eq!(summary(&r, "failed"), 0);
}

#[test]
fn a_temporary_failure_stays_in_new_and_exits_75() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.a", &fixture("support-request.eml"));
    // Opens, then fails to read: an I/O error.
    std::fs::create_dir(env.path("a-folder")).expect("mkdir");
    std::os::unix::fs::symlink(env.path("a-folder"), md.join("new/1700000002.unreadable"))
        .expect("symlink");
    deliver(&md, "1700000003.c", &fixture("deal-original.eml"));
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 75, "{}", r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[1].status, Status::Failed);
    assert!(reports[2].email_id.is_some(), "{:?}", reports[2]);
    assert!(r.stderr.contains("1700000002.unreadable"), "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), ["1700000002.unreadable"]);
    assert_eq!(summary(&r, "failed"), 1);
}

#[test]
fn one_bad_message_in_a_batch_costs_only_itself() {
    let env = Env::new();
    let md = env.path("Maildir");
    let messages = corpus_messages();
    let names = fill_maildir(&md, &messages, 40);
    // A message the database refuses: the batch is rolled back and filed
    // again one message per transaction.
    let bad = with_message_id(&fixture("support-request.eml"), "bad@test.example");
    deliver(&md, "1700000020.M999P1.bad", &bad);
    let init = env.run(&["emails", "list", "--json"], b"");
    assert_eq!(init.code, 0, "{}", init.stderr);
    env.refuse_mail("<bad@test.example>");

    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert_eq!(summary(&r, "failed"), 1, "{}", r.stderr);
    assert_eq!(names_in(&md, "new"), ["1700000020.M999P1.bad"]);
    assert_eq!(names_in(&md, "cur").len(), names.len());
    assert_eq!(env.emails().len(), names.len());
    let failed: Vec<_> = r
        .reports()
        .into_iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("bad"),
        "{:?}",
        failed[0].reason
    );
}

#[test]
fn a_stored_message_that_cannot_be_moved_waits_in_new_for_the_next_run() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.a", &fixture("support-request.eml"));
    deliver(&md, "1700000002.b", &fixture("deal-original.eml"));
    // A folder with something in it where the first message's move would
    // land: the rename fails (for root too).
    let blocker = md.join("cur/1700000001.a:2,S");
    std::fs::create_dir_all(blocker.join("x")).expect("mkdir");
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(
        r.stderr.contains("stored `")
            && r.stderr
                .contains("1700000001.a` but cannot move it to cur/"),
        "{}",
        r.stderr
    );
    assert_eq!(summary(&r, "not moved"), 1, "{}", r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.email_id.is_some()), "{reports:?}");
    assert_eq!(names_in(&md, "new"), ["1700000001.a"]);
    assert_eq!(env.emails().len(), 2);

    std::fs::remove_dir_all(&blocker).expect("rm");
    let again = maildir(&env, &md, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(summary(&again, "duplicate"), 1, "{}", again.stderr);
    assert_eq!(names_in(&md, "new"), Vec::<String>::new());
    assert_eq!(
        names_in(&md, "cur"),
        ["1700000001.a:2,S", "1700000002.b:2,S"]
    );
    assert_eq!(env.emails().len(), 2);
}

#[test]
fn messages_larger_than_the_read_ahead_are_all_filed_in_order() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    // Each is more than a worker's share of the 8 MB read-ahead, so every
    // worker waits for the writer after each one.
    let line = format!("{}\n", "x".repeat(75));
    let body = line.repeat((5 << 20) / line.len());
    let mut names = Vec::new();
    for i in 0..6 {
        let name = format!("{}.big{i}", 1_700_000_000 + i);
        let raw = format!(
            "From: a{i}@example.org\nTo: crm@example.com\nSubject: big {i}\nMessage-ID: <big{i}@example.org>\n\n{body}"
        );
        deliver(&md, &name, raw.as_bytes());
        names.push(format!("{name}:2,S"));
    }
    let r = maildir(&env, &md, &["--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names_in(&md, "cur"), names);
    let ids: Vec<Option<String>> = env.emails().into_iter().map(|e| e.message_id).collect();
    let expected: Vec<Option<String>> = (0..6)
        .map(|i| Some(format!("<big{i}@example.org>")))
        .collect();
    assert_eq!(ids, expected, "filed oldest first");
    // About SQLite itself: 30 MB went through the WAL; the next piped
    // delivery must not have to re-read it.
    let mut wal = env.db.clone().into_os_string();
    wal.push("-wal");
    let wal = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is truncated after the run");
}

#[test]
fn unparsable_mail_is_stored_and_moved() {
    let env = Env::new();
    let md = env.path("Maildir");
    make_maildir(&md);
    deliver(&md, "1700000001.junk", b"\x00\x01 this is not mail at all");
    let r = maildir(&env, &md, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report().status, Status::Unparsed);
    assert_eq!(names_in(&md, "cur"), ["1700000001.junk:2,S"]);
    assert_eq!(summary(&r, "unparsed"), 1);
}

#[test]
fn reruns_and_redeliveries_file_nothing_twice() {
    let env = Env::with_example_config();
    let md = env.path("Maildir");
    let messages = corpus_messages();
    let names = fill_maildir(&md, &messages, 60);
    let first = maildir(&env, &md, &["--keep"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(names_in(&md, "new"), names, "--keep leaves files in new/");
    assert_eq!(env.emails().len(), 60);

    let second = maildir(&env, &md, &["--quiet"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout, "", "--quiet prints no JSON lines");
    assert_eq!(summary(&second, "duplicate"), 60);
    assert_eq!(names_in(&md, "new"), Vec::<String>::new());
    assert_eq!(names_in(&md, "cur").len(), 60);

    let third = maildir(&env, &md, &[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.stdout, "");
    assert_eq!(env.emails().len(), 60);
}

#[test]
fn a_missing_maildir_is_a_temporary_failure() {
    let env = Env::new();
    let r = maildir(&env, &env.path("nowhere"), &[]);
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(r.stderr.contains("nowhere"), "{}", r.stderr);
}

/// A pseudo-random number from the clock: enough to vary kill points.
fn jitter(max: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % max.max(1)
}

/// Kills `mailroom maildir` with SIGKILL at varied points, `rounds` times,
/// then lets a run finish: every message is stored exactly once and in cur/.
fn survive_kill_9(n: usize, rounds: usize) {
    let env = Env::with_example_config();
    let md = env.path("Maildir");
    let names = fill_maildir(&md, &corpus_messages(), n);
    let path = md.to_str().expect("utf-8 path").to_string();
    let mut killed_mid_run = 0;
    for round in 0..rounds {
        let before = names_in(&md, "cur").len();
        let mut cmd: Command = env.command(&["maildir", "--quiet", &path]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn");
        if round % 2 == 0 {
            // At a random moment: startup, scanning, inside a batch.
            std::thread::sleep(Duration::from_millis(5 + jitter(400)));
        } else {
            // Right after a commit, while the files are being moved.
            let target = before + 1 + jitter(200) as usize;
            let deadline = Instant::now() + Duration::from_secs(30);
            while names_in(&md, "cur").len() < target
                && Instant::now() < deadline
                && child.try_wait().ok().flatten().is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if child.try_wait().expect("wait").is_none() {
            killed_mid_run += 1;
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    let moved_before_the_last_run = names_in(&md, "cur").len();
    assert!(
        moved_before_the_last_run > 0,
        "no killed run got as far as a commit"
    );
    let started = Instant::now();
    let r = maildir(&env, &md, &["--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(killed_mid_run > 0, "every run finished before its kill");
    let emails = env.emails();
    assert_eq!(emails.len(), n);
    let distinct: std::collections::BTreeSet<_> = emails.iter().map(|e| &e.message_id).collect();
    assert_eq!(distinct.len(), n, "each message stored once");
    assert!(emails.iter().all(|e| e.message_id.is_some()));
    assert_eq!(names_in(&md, "new"), Vec::<String>::new());
    let mut expected: Vec<String> = names.iter().map(|n| format!("{n}:2,S")).collect();
    expected.sort();
    assert_eq!(names_in(&md, "cur"), expected);
}

#[test]
fn kill_9_at_random_points_then_rerun_stores_everything_exactly_once() {
    survive_kill_9(2000, 6);
}

#[test]
#[ignore = "long: 20,000 messages, 20 kills (cargo test --test maildir -- --ignored)"]
fn kill_9_many_times_on_a_large_maildir() {
    survive_kill_9(20_000, 20);
}
