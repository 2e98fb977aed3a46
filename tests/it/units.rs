//! The shipped ways to run `mailroom maildir` on a schedule: the systemd
//! service and timer (`contrib/systemd/`) pass `systemd-analyze verify`
//! and its offline security check, and the cron line (`contrib/cron/`),
//! run by `sh` as the delivery user, files a Maildir and prints something
//! (which cron mails) only when a run did not succeed.

use std::process::Command;

use crate::site::{self, Site};
use crate::util::{fill_maildir, fixture, names_in};

const UNITS: [&str; 2] = ["mailroom-maildir.service", "mailroom-maildir.timer"];

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = site::debian_program("systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // verify insists the program named in ExecStart= exists.
    let program = env!("CARGO_BIN_EXE_mailroom");
    for unit in UNITS {
        let text =
            site::recipe(&format!("systemd/{unit}"), &[]).replace("/usr/bin/mailroom", program);
        std::fs::write(dir.path().join(unit), text).expect("unit");
    }
    // verify looks up the man page in Documentation=: the one the package
    // installs, made by the program itself.
    let man = dir.path().join("man");
    let made = Command::new(program)
        .arg("man")
        .arg("--dir")
        .arg(&man)
        .output()
        .expect("mailroom man");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = Command::new(&analyze)
        .arg("verify")
        .args(UNITS.map(|u| dir.path().join(u)))
        .env("MANPATH", &man)
        .output()
        .expect("systemd-analyze verify");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("mailroom"),
        "systemd-analyze has something to say about the units: {said}"
    );

    // The hardening, as systemd scores it: 0 is locked down, 10 is not at
    // all; "OK" ends at 3.9 and no more is allowed.
    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=39", "--no-pager"])
        .arg(dir.path().join(UNITS[0]))
        .output()
        .expect("systemd-analyze security");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_cron_line_files_a_maildir_and_speaks_only_on_failure() {
    let Some(site) = Site::new("the cron line") else {
        return;
    };
    let maildir = site.path("Maildir");
    // The log beside, not in, the database directory the fault takes away.
    let logs = site.path("logs");
    std::fs::create_dir(&logs).expect("logs/");
    site::chown(&logs, site::USER);
    let log = logs.join("maildir.log");
    let text = site.recipe(
        "cron/mailroom",
        &[
            ("/var/lib/mailroom/Maildir", &maildir.display().to_string()),
            ("/var/lib/mailroom/maildir.log", &log.display().to_string()),
        ],
    );
    // The one job: five time fields, the user, then the command.
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a job");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[..6], ["*", "*", "*", "*", "*", "mailroom"], "{line}");
    let command = fields[6..].join(" ");
    assert!(
        !command.contains('%'),
        "cron reads % as a newline: {command}"
    );
    let cron = || {
        let mut cmd = site::as_user("/bin/sh");
        cmd.arg("-c").arg(&command).current_dir(&logs);
        crate::util::run(cmd, b"")
    };

    fill_maildir(&maildir, &[fixture("lead-plus-address.eml")], 2);
    for sub in ["", "new", "cur", "tmp"] {
        site::chown(&maildir.join(sub), site::USER);
    }
    for name in names_in(&maildir, "new") {
        site::chown(&maildir.join("new").join(name), site::USER);
    }
    let run = cron();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "", "a run that succeeds prints nothing");
    assert_eq!(site.filed().len(), 2);
    assert_eq!(names_in(&maildir, "new").len(), 0);
    assert!(
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("2 processed")),
        "the summary goes to the log"
    );

    // Mail that cannot be filed stays in new/, and cron gets a line to
    // mail.
    site.break_database();
    std::fs::write(
        maildir.join("new/1800000000.M9P1.test"),
        fixture("deal-original.eml"),
    )
    .expect("deliver");
    site::chown(&maildir.join("new/1800000000.M9P1.test"), site::USER);
    let run = cron();
    assert!(
        run.stdout.starts_with("mailroom maildir exited 75"),
        "{}",
        run.stdout
    );
    site.mend_database();
    let run = cron();
    assert_eq!(run.stdout, "");
    assert_eq!(site.filed().len(), 3);
}
