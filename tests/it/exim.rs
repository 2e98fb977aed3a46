//! Exim, for real: Debian's Exim 4 run by root with a configuration of its
//! own (`servers/exim.conf`) around the shipped router and transport
//! (`contrib/exim/`). Mail injected with `exim -odi` is filed, routed by
//! the envelope recipient; while mailroom exits 75 Exim defers and keeps
//! the message in its queue, and a queue run once the fault is gone files
//! it exactly once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::site::{self, Site, USER};
use crate::util::fixture_path;

/// Exim's program: the one `.ci/run` unpacked beside Postfix
/// (`MAILROOM_TEST_EXIM`: the two Debian packages conflict), or an
/// installed one.
pub fn exim_program() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("MAILROOM_TEST_EXIM")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(["/usr/sbin/exim4", "/usr/sbin/exim"].map(PathBuf::from));
    site::program("Exim", &candidates)
}

/// An Exim whose spool, log and configuration live in the site.
pub struct Exim {
    program: PathBuf,
    conf: PathBuf,
    dir: PathBuf,
}

impl Exim {
    pub fn new(site: &Site, program: PathBuf) -> Exim {
        let dir = site.path("exim");
        for sub in ["spool", "log"] {
            std::fs::create_dir_all(dir.join(sub)).expect("exim dirs");
        }
        let user = format!("user = {USER}");
        let conf = dir.join("exim.conf");
        let text = include_str!("servers/exim.conf")
            .replace("@ROUTER@", &site::recipe("exim/router", &[]))
            .replace(
                "@TRANSPORT@",
                &site.recipe("exim/transport", &[("user = mailroom", &user)]),
            )
            .replace("@EXIM@", &program.display().to_string())
            .replace("@DIR@", &dir.display().to_string())
            .replace("@USER@", USER);
        std::fs::write(&conf, text).expect("exim.conf");
        // Exim reads no configuration that others may write.
        site::chmod(&conf, 0o644);
        Exim { program, conf, dir }
    }

    fn exim(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-C").arg(&self.conf);
        cmd
    }

    fn run(&self, cmd: Command, what: &str) -> String {
        site::succeed(cmd, what, || self.log())
    }

    /// Exim takes `message` for `recipient` and delivers it before it
    /// returns (`-odi`).
    pub fn send(&self, recipient: &str, message: &Path) {
        let mut cmd = self.exim();
        cmd.args(["-odi", "-f", "sender@customer.example", "--", recipient])
            .stdin(std::fs::File::open(message).expect("message"));
        self.run(cmd, "exim -odi");
    }

    /// `exim -bp`: what waits in the queue.
    pub fn queue(&self) -> String {
        let mut cmd = self.exim();
        cmd.arg("-bp");
        self.run(cmd, "exim -bp")
    }

    /// `exim -qf`: one queue run, every message tried again now.
    pub fn run_queue(&self) {
        let mut cmd = self.exim();
        cmd.arg("-qf");
        self.run(cmd, "exim -qf");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/mainlog")).unwrap_or_default()
    }
}

#[test]
fn exim_files_mail_and_keeps_it_queued_while_mailroom_says_75() {
    let Some(site) = Site::new("Exim") else {
        return;
    };
    let Some(program) = exim_program() else {
        return;
    };
    let exim = Exim::new(&site, program);

    // Nothing in this message's headers names the mailroom (the Bcc line
    // is never read): the envelope recipient routes it, +lead.
    exim.send("crm+lead@example.com", &fixture_path("bcc-header-only.eml"));
    assert_eq!(site.filed(), ["<bcc-2@customer.example>"], "{}", exim.log());
    assert_eq!(site.actions(), ["create_lead"]);
    assert_eq!(exim.queue(), "", "delivered, nothing left in the queue");

    // The database is out of reach: mailroom exits 75 and Exim keeps the
    // message, deferred.
    site.break_database();
    exim.send("crm+deal@example.com", &fixture_path("deal-original.eml"));
    let queue = exim.queue();
    assert!(queue.contains("crm+deal@example.com"), "{queue}");
    let log = exim.log();
    let deferred = log
        .lines()
        .find(|l| {
            l.contains("== crm@example.com <crm+deal@example.com> R=mailroom T=mailroom_pipe defer")
        })
        .unwrap_or_else(|| panic!("no deferral in the log:\n{log}"));
    assert!(deferred.contains("returned 75"), "{deferred}");
    assert_eq!(site.filed().len(), 1, "nothing filed meanwhile");

    // The fault is gone: a queue run files it, once.
    site.mend_database();
    exim.run_queue();
    assert_eq!(
        site.filed(),
        ["<bcc-2@customer.example>", "<deal-1@buyer.example>"],
        "{}",
        exim.log()
    );
    assert_eq!(site.actions(), ["create_lead", "create_opportunity"]);
    assert_eq!(exim.queue(), "");
    exim.run_queue();
    assert_eq!(
        site.filed().len(),
        2,
        "a later queue run files nothing again"
    );
}
