//! What a piped delivery asks the kernel to make durable, watched with
//! strace (installed by `.ci/run`): the WAL is synced with fdatasync before
//! exit 0, and SQLite syncs the directory that holds a new WAL. A strace
//! that is missing or may not trace here fails under CI and says NOT
//! TESTED elsewhere. About SQLite itself: its files and their syncs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, fixture, with_message_id};

/// strace, when it is installed and allowed to trace on this machine.
fn strace() -> Option<PathBuf> {
    let Some(found) = ["/usr/bin/strace", "/bin/strace"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        crate::util::not_tested("syncs", "strace is not installed (apt-get install strace)");
        return None;
    };
    let traces = Command::new(&found)
        .args(["-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|st| st.success());
    if !traces {
        crate::util::not_tested("syncs", "strace cannot trace here (ptrace is not allowed)");
        return None;
    }
    Some(found)
}

/// Delivers `raw` under strace and returns the sync calls it made, each
/// as `call path` (`fdatasync /tmp/x/crm.db-wal`).
fn syncs(strace: &Path, env: &Env, raw: &[u8]) -> Vec<String> {
    let log = env.path("strace.log");
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-y", "-e", "trace=fsync,fdatasync,sync_file_range"])
        .arg("-o")
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_mailroom"))
        .arg("process");
    let probe = env.command(&[]);
    for (k, v) in probe.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let run = crate::util::run(cmd, raw);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let text = std::fs::read_to_string(&log).expect("strace log");
    text.lines()
        .filter_map(|line| {
            // `1234 fdatasync(4</tmp/x/crm.db-wal>) = 0`
            let call = line.split_whitespace().nth(1)?;
            let (name, rest) = call.split_once('(')?;
            let path = rest.split_once('<')?.1.split_once('>')?.0;
            Some(format!("{name} {path}"))
        })
        .collect()
}

#[test]
fn a_delivery_syncs_its_wal_and_a_new_wal_has_its_directory_synced() {
    let Some(strace) = strace() else { return };
    let env = Env::with_example_config().on_sqlite();
    // strace prints resolved paths.
    let dir = env
        .db
        .parent()
        .expect("a folder")
        .canonicalize()
        .expect("dir");
    let name = env.db.file_name().expect("a file name");
    let wal = format!("{}-wal", dir.join(name).display());
    let dir = dir.display().to_string();
    let raw = fixture("support-request.eml");

    for (round, id) in ["sync-1@example.com", "sync-2@example.com"]
        .iter()
        .enumerate()
    {
        let calls = syncs(&strace, &env, &with_message_id(&raw, id));
        assert!(
            calls.contains(&format!("fdatasync {wal}")),
            "round {round}: the WAL must be synced by fdatasync: {calls:?}"
        );
        if round == 0 {
            // A new database: the WAL's name is made durable too.
            assert!(
                calls.iter().any(|s| s.ends_with(&format!(" {dir}"))),
                "a new WAL's directory is synced: {calls:?}"
            );
        }
    }
    assert_eq!(env.emails().len(), 2);
}
