//! Postfix, for real: Debian's Postfix started by root with a
//! configuration directory of its own (`servers/postfix-*.cf` around the
//! shipped lines in `contrib/postfix/`). Mail injected with `sendmail` is
//! filed through the `pipe(8)` service, routed by the envelope recipient;
//! while mailroom exits 75 the message waits in the deferred queue
//! (`mailq`), and `postqueue -f` files it exactly once when the fault is
//! gone. The alias recipe is delivered by `local(8)` the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::site::{self, Site, USER, wait_until};
use crate::util::fixture_path;

/// A Postfix whose configuration, queue and log live in the site; stopped
/// when dropped.
pub struct Postfix {
    conf: PathBuf,
    dir: PathBuf,
    started: bool,
}

impl Postfix {
    /// A Postfix configured with the tests' `main.cf` and `master.cf`
    /// followed by `main` and `master`; `None` (NOT TESTED) when Postfix
    /// is not installed.
    pub fn new(site: &Site, main: &str, master: &str) -> Option<Postfix> {
        site::debian_program("postfix")?;
        let dir = site.path("postfix");
        let conf = dir.join("conf");
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).expect("postfix dirs");
        }
        site::chown(&dir.join("data"), "postfix");
        let (uid, gid) = site::ids(USER);
        let tests_main = include_str!("servers/postfix-main.cf")
            .replace("@DIR@", &dir.display().to_string())
            .replace("@UID@", &uid.to_string())
            .replace("@GID@", &gid.to_string());
        let tests_master = include_str!("servers/postfix-master.cf");
        std::fs::write(conf.join("main.cf"), tests_main + main).expect("main.cf");
        std::fs::write(conf.join("master.cf"), tests_master.to_string() + master)
            .expect("master.cf");
        std::fs::write(conf.join("virtual"), "bench@maildir.example  Maildir/\n").expect("virtual");
        Some(Postfix {
            conf,
            dir,
            started: false,
        })
    }

    /// Where a lookup table of this Postfix goes.
    pub fn table(&self, name: &str) -> PathBuf {
        self.conf.join(name)
    }

    /// Writes the table `name` and builds it with `tool` (postmap or
    /// postalias).
    pub fn write_table(&self, tool: &str, name: &str, text: &str) {
        let table = self.table(name);
        std::fs::write(&table, text).expect("table");
        let mut cmd = Command::new(tool);
        cmd.arg("-c").arg(&self.conf).arg(&table);
        self.run(cmd, tool);
    }

    pub fn start(&mut self) {
        for action in ["check", "start"] {
            let mut cmd = Command::new("postfix");
            cmd.arg("-c").arg(&self.conf).arg(action);
            self.run(cmd, &format!("postfix {action}"));
        }
        self.started = true;
    }

    fn run(&self, cmd: Command, what: &str) -> String {
        site::succeed(cmd, what, || self.log())
    }

    /// `sendmail` hands `message` for `recipient` to Postfix.
    pub fn send(&self, recipient: &str, message: &Path) {
        let mut cmd = Command::new("sendmail");
        cmd.arg("-C")
            .arg(&self.conf)
            .args(["-i", "-f", "sender@customer.example", "--", recipient])
            .stdin(std::fs::File::open(message).expect("message"));
        self.run(cmd, "sendmail");
    }

    /// `mailq`: what waits in the queue, with the reason of a deferral.
    pub fn mailq(&self) -> String {
        let mut cmd = Command::new("sendmail");
        cmd.arg("-C").arg(&self.conf).arg("-bp");
        self.run(cmd, "mailq")
    }

    pub fn queue_is_empty(&self) -> bool {
        self.mailq().contains("Mail queue is empty")
    }

    /// `postqueue -f`: every queued message tried again now.
    pub fn flush(&self) {
        let mut cmd = Command::new("postqueue");
        cmd.arg("-c").arg(&self.conf).arg("-f");
        self.run(cmd, "postqueue -f");
    }

    /// Waits until Postfix has logged `n` deliveries and its queue is
    /// empty: mailroom has exited (and committed) before Postfix logs one.
    pub fn wait_sent(&self, n: usize) {
        wait_until(&format!("{n} deliveries logged"), || {
            self.log().matches("status=sent").count() >= n && self.queue_is_empty()
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    fn master_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let pid = self.master_pid();
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .output();
        let Some(pid) = pid else {
            return;
        };
        // The master takes its processes with it; give it a while.
        let alive = || Path::new(&format!("/proc/{pid}")).exists();
        let deadline = Instant::now() + Duration::from_secs(20);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            // SAFETY: kill has no memory preconditions; pid is the
            // master this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn postfix_pipe_files_mail_and_defers_it_while_mailroom_says_75() {
    let Some(site) = Site::new("Postfix") else {
        return;
    };
    let transport = site.path("postfix/conf/transport");
    let transport = transport.display().to_string();
    let main = site::recipe("postfix/main.cf", &[("/etc/postfix/transport", &transport)]);
    let user = format!("user={USER}");
    let master = site.recipe("postfix/master.cf", &[("user=mailroom", &user)]);
    let Some(mut postfix) = Postfix::new(&site, &main, &master) else {
        return;
    };
    postfix.write_table(
        "postmap",
        "transport",
        &site::recipe("postfix/transport", &[]),
    );
    postfix.start();

    // Nothing in this message's headers names the mailroom (the Bcc line
    // is never read): the envelope recipient routes it, +lead.
    postfix.send("crm+lead@example.com", &fixture_path("bcc-header-only.eml"));
    postfix.wait_sent(1);
    assert_eq!(site.filed(), ["<bcc-2@customer.example>"]);
    assert_eq!(site.actions(), ["create_lead"]);

    // The database is out of reach: mailroom exits 75 and Postfix defers
    // the message, keeping it in its queue with mailroom's reason.
    site.break_database();
    postfix.send("crm+deal@example.com", &fixture_path("deal-original.eml"));
    wait_until("the deferral in mailq", || {
        postfix.mailq().contains("(temporary failure")
    });
    let mailq = postfix.mailq();
    assert!(
        mailq.contains("crm+deal@example.com") && mailq.contains("cannot open database"),
        "{mailq}"
    );
    assert!(
        postfix.log().contains("status=deferred"),
        "{}",
        postfix.log()
    );
    assert_eq!(site.filed().len(), 1, "nothing filed meanwhile");

    // The fault is gone: postqueue -f files it, once.
    site.mend_database();
    postfix.flush();
    postfix.wait_sent(2);
    assert_eq!(
        site.filed(),
        ["<bcc-2@customer.example>", "<deal-1@buyer.example>"]
    );
    assert_eq!(site.actions(), ["create_lead", "create_opportunity"]);
    let delivered = postfix
        .log()
        .lines()
        .filter(|l| l.contains("relay=mailroom") && l.contains("status=sent"))
        .count();
    assert_eq!(delivered, 2, "{}", postfix.log());
}

#[test]
fn postfix_alias_files_mail_as_the_alias_database_owner() {
    let Some(site) = Site::new("Postfix aliases") else {
        return;
    };
    let aliases = site.path("postfix/conf/mailroom-aliases");
    // Commands in aliases run as the owner of the alias database; anyone
    // else (`default_privs`) could not open this site's database.
    let main = format!(
        "recipient_delimiter = +\nlocal_transport = local\nalias_maps = hash:{}\ndefault_privs = daemon\n",
        aliases.display()
    );
    let Some(mut postfix) = Postfix::new(&site, &main, "") else {
        return;
    };
    postfix.write_table(
        "postalias",
        "mailroom-aliases",
        &site.recipe("postfix/aliases", &[]),
    );
    site::chown(&aliases.with_extension("db"), USER);
    postfix.start();

    postfix.send("crm+lead@example.com", &fixture_path("bcc-header-only.eml"));
    postfix.wait_sent(1);
    assert_eq!(site.actions(), ["create_lead"], "{}", postfix.log());
}
