//! A `mailroom process` killed with SIGKILL at any moment leaves either
//! nothing or the whole message, never a half-filed one, and a
//! redelivery completes it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::Env;
use crate::util::{Snapshot, message, message_with_attachments, sqlite, xorshift};
use mailroom::report::Status;

/// A message big enough (4 attachments of 256 KB) that filing it takes a
/// while: the kill lands in parsing, hashing, the inserts or the commit.
/// Over 1 MB, it is stored in several chunks.
fn victim() -> Vec<u8> {
    let raw = message_with_attachments(1, 4, 256 * 1024);
    assert!(raw.len() >= 1 << 20);
    raw
}

fn command(env: &Env, file: &std::path::Path) -> Command {
    let mut cmd = env.command(&["process", &file.display().to_string()]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// The database after a clean run of `victim`, from `before`.
fn reference(with_earlier_mail: bool) -> (Snapshot, Snapshot, Duration) {
    let env = Env::with_example_config();
    if with_earlier_mail {
        env.file(&message(0));
    }
    let before = env.snapshot();
    let file = env.path("victim.eml");
    std::fs::write(&file, victim()).expect("write");
    let start = Instant::now();
    let status = command(&env, &file).status().expect("run");
    let took = start.elapsed();
    assert!(status.success());
    let full = env.snapshot();
    assert_eq!(full.half_filed, 0, "{full:?}");
    (before, full, took)
}

/// What the store holds after a kill. About SQLite itself: the file must
/// pass its integrity check, and a file whose schema the kill stopped
/// before it committed (`user_version` 0) holds nothing.
fn after_kill(env: &Env, delay: Duration) -> Snapshot {
    assert_eq!(
        sqlite::integrity_check(&env.db),
        "ok",
        "killed after {delay:?}"
    );
    if env.db.exists() {
        let version: i64 = sqlite::connect(&env.db)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("user_version");
        if version == 0 {
            return Snapshot::default();
        }
    }
    env.snapshot()
}

fn kill_at_random_points(runs: usize, seed: u64) {
    let mut rng = seed;
    let mut outcomes = [0usize; 3]; // nothing, whole, finished before the kill
    for with_earlier_mail in [false, true] {
        let (before, full, took) = reference(with_earlier_mail);
        assert_ne!(before, full);
        // Kill points spread over the whole run and a little past it.
        let window = took.as_micros() as u64 * 6 / 5 + 1;
        println!("a clean run takes {took:?}");
        for _ in 0..runs / 2 {
            rng = xorshift(rng);
            let delay = Duration::from_micros(rng % window);
            let env = Env::with_example_config();
            if with_earlier_mail {
                env.file(&message(0));
            }
            let file = env.path("victim.eml");
            std::fs::write(&file, victim()).expect("write");
            let mut child = command(&env, &file).spawn().expect("spawn");
            std::thread::sleep(delay);
            let killed = child.try_wait().expect("poll").is_none();
            let _ = child.kill();
            let _ = child.wait();

            let after = after_kill(&env, delay);
            assert!(
                after == before || after == full,
                "killed after {delay:?}: half-filed\nbefore {before:?}\nafter {after:?}\nfull {full:?}"
            );
            outcomes[match (killed, after == full) {
                (true, false) => 0,
                (true, true) => 1,
                (false, _) => 2,
            }] += 1;

            let r = env.process(&victim());
            assert_eq!(
                r.code, 0,
                "redelivery after a kill at {delay:?}: {}",
                r.stderr
            );
            let expected = if after == full {
                Status::Duplicate
            } else {
                Status::Processed
            };
            assert_eq!(r.report().status, expected);
            assert_eq!(env.snapshot(), full, "redelivery completes it");
        }
    }
    println!(
        "{runs} kills: {} left nothing, {} left the whole message, {} came after the exit",
        outcomes[0], outcomes[1], outcomes[2]
    );
}

#[test]
fn sigkill_at_random_points_leaves_nothing_or_the_whole_message() {
    kill_at_random_points(16, 0x5eed_0001);
}

#[test]
#[ignore = "long: 150 kills; run by .ci/run"]
fn sigkill_at_many_random_points_leaves_nothing_or_the_whole_message() {
    kill_at_random_points(150, 0x5eed_0002);
}
