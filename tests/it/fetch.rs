//! getmail and fetchmail calling mailroom as their MDA, for real: each
//! fetches from a real IMAP server (Dovecot, `servers/dovecot.conf`, on a
//! loopback port of its own) with the shipped recipe (`contrib/getmail/`,
//! `contrib/fetchmail/`), as the delivery user. Fetched mail is filed and
//! deleted from the server; while mailroom exits 75 the message stays on
//! the server, and the next run files it once.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::site::{self, Site, USER};
use crate::util::{Run, fixture};

/// A Dovecot IMAP server of the site's, on a loopback port; stopped when
/// dropped.
pub struct Imap {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Imap {
    /// `None` (NOT TESTED) when Dovecot's IMAP server is not installed.
    pub fn start(site: &Site) -> Option<Imap> {
        let dovecot = site::debian_program("dovecot")?;
        site::program(
            "Dovecot's IMAP server (dovecot-imapd)",
            &[PathBuf::from("/usr/lib/dovecot/imap")],
        )?;
        let dir = site.path("imap");
        for sub in [
            "run",
            "state",
            "mail/crm/Maildir/new",
            "mail/crm/Maildir/cur",
            "mail/crm/Maildir/tmp",
        ] {
            std::fs::create_dir_all(dir.join(sub)).expect("imap dirs");
        }
        for sub in [
            "mail",
            "mail/crm",
            "mail/crm/Maildir",
            "mail/crm/Maildir/new",
            "mail/crm/Maildir/cur",
            "mail/crm/Maildir/tmp",
        ] {
            site::chown(&dir.join(sub), USER);
        }
        let group = String::from_utf8_lossy(
            &Command::new("id")
                .args(["-gn", USER])
                .output()
                .expect("id")
                .stdout,
        )
        .trim()
        .to_string();
        let conf = dir.join("dovecot.conf");
        // Another test may take the port between our look and Dovecot's
        // bind: then Dovecot exits and we try another.
        for _ in 0..5 {
            let port = site::free_port();
            let text = include_str!("servers/dovecot.conf")
                .replace("@DIR@", &dir.display().to_string())
                .replace("@USER@", USER)
                .replace("@GROUP@", &group)
                .replace("@PORT@", &port.to_string());
            std::fs::write(&conf, text).expect("dovecot.conf");
            let child = Command::new(&dovecot)
                .arg("-c")
                .arg(&conf)
                .arg("-F")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dovecot");
            let mut imap = Imap {
                child,
                dir: dir.clone(),
                port,
            };
            if imap.listening() {
                return Some(imap);
            }
        }
        panic!(
            "Dovecot did not start: {}",
            std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
        );
    }

    /// Waits until the server greets on its port, or has exited.
    fn listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("Dovecot did not listen on port {} within 60 s", self.port);
    }

    fn maildir(&self) -> PathBuf {
        self.dir.join("mail/crm/Maildir")
    }

    /// `message` in the mailbox, as a mail server delivers it.
    pub fn deliver(&self, name: &str, message: &[u8]) {
        let file = self.maildir().join("new").join(name);
        std::fs::write(&file, message).expect("deliver");
        site::chown(&file, USER);
    }

    /// The Message-IDs of the mail still on the server, sorted.
    pub fn mailbox(&self) -> Vec<String> {
        let mut ids: Vec<String> = ["new", "cur"]
            .iter()
            .flat_map(|sub| {
                std::fs::read_dir(self.maildir().join(sub))
                    .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .filter_map(|path| message_id(&path))
            .collect();
        ids.sort();
        ids
    }
}

impl Drop for Imap {
    fn drop(&mut self) {
        let pid = i32::try_from(self.child.id()).unwrap_or(0);
        // SAFETY: kill has no memory preconditions; pid is our child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn message_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("message-id"))
        })
        .map(|(_, id)| id.trim().to_string())
}

/// A directory the delivery user owns, for a fetcher's state.
fn home(site: &Site, name: &str) -> PathBuf {
    let dir = site.path(name);
    std::fs::create_dir(&dir).expect("home");
    site::chown(&dir, USER);
    dir
}

/// A site, the fetcher `name`, an IMAP server and a home for the
/// fetcher; `None` (NOT TESTED) when any is missing.
fn fetcher(name: &str) -> Option<(Site, PathBuf, Imap, PathBuf)> {
    let site = Site::new(name)?;
    let program = site::debian_program(name)?;
    let imap = Imap::start(&site)?;
    let dir = home(&site, name);
    Some((site, program, imap, dir))
}

/// The story both fetchers must tell: filed and deleted; kept on the
/// server while mailroom exits 75 (`fetch` says why); filed once later.
fn fetch_story(site: &Site, imap: &Imap, fetch: impl Fn() -> Run) {
    imap.deliver("1764230400.M1P1.mail", &fixture("lead-plus-address.eml"));
    let run = fetch();
    assert_eq!(
        site.filed(),
        ["<lead-1@prospect.example>"],
        "{}",
        run.stderr
    );
    assert_eq!(site.actions(), ["create_lead"]);
    assert_eq!(
        imap.mailbox(),
        Vec::<String>::new(),
        "filed mail is deleted"
    );

    site.break_database();
    imap.deliver("1764230460.M2P1.mail", &fixture("deal-original.eml"));
    let run = fetch();
    let said = run.stdout + &run.stderr;
    assert!(
        said.contains("75"),
        "the fetcher says mailroom exited 75: {said}"
    );
    assert_eq!(
        imap.mailbox(),
        ["<deal-1@buyer.example>"],
        "the mail stays on the server"
    );
    assert_eq!(site.filed().len(), 1, "nothing filed meanwhile");

    site.mend_database();
    let run = fetch();
    assert_eq!(
        site.filed(),
        ["<lead-1@prospect.example>", "<deal-1@buyer.example>"],
        "{}",
        run.stderr
    );
    assert_eq!(site.actions(), ["create_lead", "create_opportunity"]);
    assert_eq!(imap.mailbox(), Vec::<String>::new());
    fetch();
    assert_eq!(site.filed().len(), 2, "a later run files nothing again");
}

#[test]
fn getmail_files_fetched_mail_and_leaves_it_on_the_server_while_mailroom_says_75() {
    let Some((site, getmail, imap, dir)) = fetcher("getmail") else {
        return;
    };
    let server = format!("server = 127.0.0.1\nport = {}", imap.port);
    let rc = site.recipe(
        "getmail/getmailrc",
        &[
            (
                "type = SimpleIMAPSSLRetriever",
                "type = SimpleIMAPRetriever",
            ),
            ("server = imap.example.com", &server),
        ],
    );
    std::fs::write(dir.join("getmailrc"), rc).expect("getmailrc");
    fetch_story(&site, &imap, || {
        let mut cmd = site::as_user(&getmail);
        cmd.arg("--getmaildir")
            .arg(&dir)
            .args(["--rcfile", "getmailrc"])
            .env("HOME", &dir);
        crate::util::run(cmd, b"")
    });
}

#[test]
fn fetchmail_files_fetched_mail_and_leaves_it_on_the_server_while_mailroom_says_75() {
    let Some((site, fetchmail, imap, dir)) = fetcher("fetchmail") else {
        return;
    };
    // The test's server speaks no TLS.
    let poll = format!("poll 127.0.0.1 port {}", imap.port);
    let rc = site.recipe(
        "fetchmail/fetchmailrc",
        &[
            ("poll imap.example.com", &poll),
            (" ssl\n", " sslproto ''\n"),
        ],
    );
    let rc_file = dir.join("fetchmailrc");
    std::fs::write(&rc_file, rc).expect("fetchmailrc");
    site::chown(&rc_file, USER);
    site::chmod(&rc_file, 0o600);
    fetch_story(&site, &imap, || {
        let mut cmd = site::as_user(&fetchmail);
        cmd.arg("-f")
            .arg(&rc_file)
            .arg("--nodetach")
            .env("HOME", &dir);
        crate::util::run(cmd, b"")
    });
}
