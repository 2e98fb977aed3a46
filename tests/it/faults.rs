//! Every fault that may pass exits 75 (the MTA keeps the mail and
//! retries), says so in one stderr line, writes nothing partial, and the
//! same mail files once the fault is gone.
//!
//! CI runs as root, where file permissions do not bite: there the faults
//! are made with mounts (a read-only bind mount, a small tmpfs). Where a
//! fault cannot be made at all the test prints `NOT TESTED here` instead
//! of passing silently.
//!
//! Apart from the config faults at the end, these are about SQLite itself:
//! its file, its directory, its disk, its write lock. "Nothing partially
//! written" is read through the store API ([`Env::snapshot`]) and SQLite's
//! integrity check.

use std::path::Path;
use std::time::Duration;

use crate::util::{Env, Run, Snapshot};
use crate::util::{Mount, is_root, message, message_with_attachments, not_tested, sqlite};
use mailroom::report::Status;

/// Exit 75, one stderr line that contains `needle`, and the store as it
/// was before, its file intact.
fn assert_temp_failure(r: &Run, needle: &str, env: &Env, before: &Snapshot) {
    assert_eq!(r.code, 75, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.starts_with("mailroom: "), "{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "`{needle}` in: {}",
        r.stderr.trim()
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // A failure before the message is read (config, database) prints no
    // result; one after prints a `failed` one.
    if !r.stdout.is_empty() {
        assert_eq!(r.report().status, Status::Failed, "{}", r.stdout);
    }
    assert_eq!(sqlite::integrity_check(&env.db), "ok");
    assert_eq!(&env.snapshot(), before, "nothing partially written");
}

fn assert_files(r: &Run) {
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.report().status, Status::Processed, "{}", r.stdout);
}

#[test]
fn a_read_only_database_file_exits_75_and_keeps_the_mail() {
    // SQLite itself: its file made read-only (a read-only PostgreSQL
    // server is tests/it/postgres.rs's).
    let env = Env::with_example_config().on_sqlite();
    assert_files(&env.process(&message(1)));
    let before = env.snapshot();
    let raw = message(2);
    if is_root() {
        let mount = match Mount::read_only(&env.db) {
            Ok(m) => m,
            Err(e) => return not_tested("read-only database file as root", &e),
        };
        let r = env.process(&raw);
        drop(mount);
        assert_temp_failure(&r, "crm.db", &env, &before);
    } else {
        set_mode(&env.db, 0o444);
        let r = env.process(&raw);
        set_mode(&env.db, 0o644);
        assert_temp_failure(&r, "crm.db", &env, &before);
    }
    assert_files(&env.process(&raw));
}

#[test]
fn a_read_only_directory_exits_75_for_a_new_and_an_existing_database() {
    let mut env = Env::with_example_config();
    let dir = env.path("data");
    std::fs::create_dir(&dir).expect("dir");
    env.db = dir.join("crm.db");
    let raw = message(3);

    // No database yet: it cannot be created.
    if let Some(r) = with_read_only_dir(&dir, || env.process(&raw)) {
        assert_temp_failure(&r, "crm.db", &env, &Snapshot::default());
    }
    assert!(!env.db.exists());

    // An existing database whose WAL and shared-memory files cannot be
    // made beside it.
    assert_files(&env.process(&message(4)));
    let before = env.snapshot();
    if let Some(r) = with_read_only_dir(&dir, || env.process(&raw)) {
        assert_temp_failure(&r, "crm.db", &env, &before);
    }
    assert_files(&env.process(&raw));
}

/// Runs `f` while `dir` is read-only; `None` when that cannot be made.
fn with_read_only_dir(dir: &Path, f: impl FnOnce() -> Run) -> Option<Run> {
    if is_root() {
        match Mount::read_only(dir) {
            Ok(mount) => {
                let r = f();
                drop(mount);
                Some(r)
            }
            Err(e) => {
                not_tested("read-only directory as root", &e);
                None
            }
        }
    } else {
        set_mode(dir, 0o555);
        let r = f();
        set_mode(dir, 0o755);
        Some(r)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_full_disk_exits_75_and_the_mail_files_once_there_is_room() {
    let mut env = Env::with_example_config();
    let dir = env.path("small");
    let mount = match Mount::tmpfs(&dir, 512 * 1024) {
        Ok(m) => m,
        Err(e) => return not_tested("a full disk on a small tmpfs", &e),
    };
    env.db = dir.join("crm.db");
    assert_files(&env.process(&message(5)));
    let before = env.snapshot();
    // Four 300 KB attachments do not fit in what is left of 512 KB.
    let raw = message_with_attachments(6, 4, 300 * 1024);
    let r = env.process(&raw);
    assert_temp_failure(&r, "crm.db", &env, &before);
    mount.resize(16 * 1024 * 1024).expect("grow the tmpfs");
    assert_files(&env.process(&raw));
    let after = env.snapshot();
    assert_eq!(after.emails, before.emails + 1);
    assert_eq!(after.attachments, before.attachments + 4);
}

#[test]
fn a_file_size_limit_exits_75_instead_of_a_signal() {
    // `ulimit -f` works for root too. Without ignoring SIGXFSZ the kernel
    // would kill the process at the limit (exit by signal, 153 from sh).
    let env = Env::with_example_config().on_sqlite();
    assert_files(&env.process(&message(7)));
    let before = env.snapshot();
    let raw = message_with_attachments(8, 2, 200 * 1024);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        // 1,000 blocks of 512 or 1,024 bytes (it varies by shell): at most
        // 1 MB; the attachments make the WAL grow past it.
        .arg("ulimit -f 1000 && exec \"$0\" process")
        .arg(env!("CARGO_BIN_EXE_mailroom"))
        .env_remove("MAILROOM_CONFIG")
        .env(
            "MAILROOM_CONFIG",
            crate::util::root().join("rules.example.yaml"),
        )
        .env("MAILROOM_DB", &env.db)
        .env("HOME", env.dir.path());
    let r = crate::util::run(cmd, &raw);
    assert_temp_failure(&r, "crm.db", &env, &before);
    assert_files(&env.process(&raw));
}

#[test]
fn a_lock_held_past_the_busy_timeout_exits_75() {
    let env = Env::with_example_config().on_sqlite();
    assert_files(&env.process(&message(9)));
    let before = env.snapshot();
    let raw = message(10);

    // A second connection holding SQLite's write lock.
    let mut holder = sqlite::connect(&env.db);
    let tx = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("hold the write lock");
    let mut cmd = env.command(&["process"]);
    cmd.env("MAILROOM_BUSY_TIMEOUT_MS", "300");
    let r = crate::util::run(cmd, &raw);
    tx.rollback().expect("release");
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    drop(holder);
    assert_temp_failure(&r, "write transaction", &env, &before);
    assert_files(&env.process(&raw));
}

#[test]
fn a_lock_held_shorter_than_the_busy_timeout_only_delays() {
    // The default 30 s timeout: a writer holding the lock for a second is
    // waited for, not reported as "database is locked".
    let env = Env::with_example_config().on_sqlite();
    assert_files(&env.process(&message(11)));
    let db = env.db.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        // A second connection holding SQLite's write lock.
        let mut conn = sqlite::connect(&db);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("lock");
        locked_tx.send(()).expect("send");
        std::thread::sleep(Duration::from_millis(1000));
        tx.commit().expect("release");
    });
    locked_rx.recv().expect("locked");
    let r = env.process(&message(12));
    holder.join().expect("holder");
    assert_files(&r);
}

#[test]
fn a_missing_or_invalid_config_exits_75_and_the_mail_files_once_fixed() {
    let mut env = Env::new();
    let config = env.path("rules.yaml");
    env.config = Some(config.clone());
    let raw = message(13);

    let r = env.process(&raw);
    assert_temp_failure(&r, "rules.yaml", &env, &Snapshot::default());

    std::fs::write(&config, "actions:\n  - name: broken\n    do: [\n").expect("write");
    let r = env.process(&raw);
    assert_temp_failure(&r, "rules.yaml", &env, &Snapshot::default());

    std::fs::write(
        &config,
        "actions:\n  - name: bad regex\n    when: { subject: { regex: \"(\" } }\n    do: archive\n",
    )
    .expect("write");
    let r = env.process(&raw);
    assert_temp_failure(&r, "bad regex", &env, &Snapshot::default());

    std::fs::copy(crate::util::root().join("rules.example.yaml"), &config).expect("copy");
    let r = env.process(&raw);
    assert_files(&r);
    assert_eq!(r.report().action.as_deref(), Some("create_case"));
}
