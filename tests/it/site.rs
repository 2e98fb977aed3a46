//! A small mail site for the tests of real mail programs (`exim.rs`,
//! `postfix.rs`, `fetch.rs`, `mta.rs`, `units.rs`): the recipes shipped in
//! `contrib/` with this site's paths put in, an unprivileged delivery user
//! (`nobody`) with a database directory it may or may not use, the
//! programs and servers, and waiting with a deadline.
//!
//! The mail servers here deliver as a user that is not root, as they do
//! on a real machine, so a site needs root to set that user up; without
//! root (or a program) a test says NOT TESTED, which fails under CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{Env, not_tested, root};

/// The user the mail programs deliver as, in place of the recipes'
/// `mailroom`.
pub const USER: &str = "nobody";

/// A shipped recipe, `contrib/PATH`, with each `(from, to)` swapped in.
/// Each `from` must be in it: a recipe that changed would otherwise be
/// tested with its old text.
pub fn recipe(path: &str, swaps: &[(&str, &str)]) -> String {
    let file = root().join("contrib").join(path);
    let mut text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the recipe {}: {e}", file.display()));
    for (from, to) in swaps {
        assert!(
            text.contains(from),
            "the recipe contrib/{path} no longer says `{from}`"
        );
        text = text.replace(from, to);
    }
    text
}

/// [`recipe`] with `program` (when the recipe names its path), `config`
/// and `db` in place of the ones the recipes name, then `more`.
pub fn recipe_at(
    path: &str,
    program: Option<&Path>,
    config: &Path,
    db: &Path,
    more: &[(&str, &str)],
) -> String {
    let program = program.map(|p| p.display().to_string());
    let config = config.display().to_string();
    let db = db.display().to_string();
    let mut swaps = vec![
        ("/etc/mailroom/mailroom.yaml", config.as_str()),
        ("/var/lib/mailroom/crm.db", db.as_str()),
    ];
    if let Some(p) = &program {
        swaps.push(("/usr/bin/mailroom", p.as_str()));
    }
    swaps.extend_from_slice(more);
    recipe(path, &swaps)
}

/// The first program of `candidates` (paths) that exists; NOT TESTED
/// when none does.
pub fn program(what: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let found = candidates.iter().find(|p| p.exists()).cloned();
    if found.is_none() {
        not_tested(
            what,
            &format!("none of {candidates:?} is installed (.ci/run installs it from Debian)"),
        );
    }
    found
}

/// The program `name` where Debian (or a local install) puts it.
pub fn debian_program(name: &str) -> Option<PathBuf> {
    let candidates =
        ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"].map(|d| Path::new(d).join(name));
    program(name, &candidates)
}

/// True as root; NOT TESTED otherwise.
pub fn root_for(what: &str) -> bool {
    let root = crate::util::is_root();
    if !root {
        not_tested(
            what,
            "needs root, to run the mail system and deliver as another user",
        );
    }
    root
}

/// A user's numeric uid and gid.
pub fn ids(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no user `{user}` here"))
    };
    (id("-u"), id("-g"))
}

pub fn chmod(path: &Path, mode: u32) {
    let mut perms = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, mode);
    std::fs::set_permissions(path, perms).expect("chmod");
}

/// `path` owned by `user` (and its group).
pub fn chown(path: &Path, user: &str) {
    let (uid, gid) = ids(user);
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// A command that runs as [`USER`].
pub fn as_user(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let (uid, gid) = ids(USER);
    let mut cmd = Command::new(program);
    std::os::unix::process::CommandExt::uid(&mut cmd, uid);
    std::os::unix::process::CommandExt::gid(&mut cmd, gid);
    cmd
}

/// Runs `cmd` (a mail program's), which must succeed; its stdout. A
/// failure shows the program's stderr and then `log()`.
pub fn succeed(mut cmd: Command, what: &str, log: impl FnOnce() -> String) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `done` until it holds, for at most a minute.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after 60 s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where a site keeps things, in its temporary directory: the config (the
/// example rules), the database directory `lib/` ([`Env::db`] is
/// `lib/crm.db`) and a `mailroom` the delivery user can run.
pub struct Site {
    pub env: Env,
    pub config: PathBuf,
    pub bin: PathBuf,
}

impl Site {
    /// A site whose database the delivery user may write; `None` (NOT
    /// TESTED) without root.
    pub fn new(what: &str) -> Option<Site> {
        if !root_for(what) {
            return None;
        }
        let mut env = Env::new();
        chmod(env.dir.path(), 0o755);
        let lib = env.path("lib");
        std::fs::create_dir(&lib).expect("lib/");
        env.db = lib.join("crm.db");
        let config = env.path("mailroom.yaml");
        std::fs::copy(root().join("rules.example.yaml"), &config).expect("config");
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_mailroom"));
        let bin = if runnable_by_others(&bin) {
            bin
        } else {
            let copy = env.path("mailroom");
            std::fs::copy(&bin, &copy).expect("copy mailroom");
            copy
        };
        let site = Site { env, config, bin };
        site.mend_database();
        Some(site)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// [`recipe`] with this site's program, config and database swapped
    /// in, then `more`.
    pub fn recipe(&self, path: &str, more: &[(&str, &str)]) -> String {
        recipe_at(path, Some(&self.bin), &self.config, &self.env.db, more)
    }

    /// The fault: the database directory is root's alone, as after a
    /// restore with the wrong owner. mailroom cannot open the database
    /// and exits 75.
    pub fn break_database(&self) {
        let lib = self.path("lib");
        chown(&lib, "root");
        chmod(&lib, 0o700);
    }

    /// The database directory is the delivery user's again, and so is
    /// what is in it (the tests read the database as root, which may leave
    /// a file of root's there).
    pub fn mend_database(&self) {
        let lib = self.path("lib");
        chown(&lib, USER);
        chmod(&lib, 0o750);
        for entry in std::fs::read_dir(&lib).expect("lib/").flatten() {
            chown(&entry.path(), USER);
        }
    }

    /// The Message-IDs of the mail filed, oldest first.
    pub fn filed(&self) -> Vec<String> {
        self.env
            .emails()
            .into_iter()
            .map(|e| e.message_id.unwrap_or_default())
            .collect()
    }

    /// The action each mail filed got, oldest first.
    pub fn actions(&self) -> Vec<String> {
        self.env
            .emails()
            .into_iter()
            .map(|e| e.action.unwrap_or_default())
            .collect()
    }
}

/// Whether every directory above `path`, and `path` itself, lets others
/// in (the checkout may sit in a private home).
fn runnable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().all(|p| {
        p.as_os_str().is_empty()
            || std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}

/// The guide's recipes are the shipped files: each fenced block after a
/// `<!-- recipe: contrib/PATH -->` line in the README or `docs/` is that
/// file, byte for byte, and the guide shows every shipped recipe.
#[test]
fn every_recipe_shown_is_the_shipped_file() {
    const MARK: &str = "<!-- recipe: ";
    let mut shown = std::collections::BTreeSet::new();
    let mut pages = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
    {
        pages.push(entry.path());
    }
    for page in pages
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
    {
        let text = std::fs::read_to_string(page).expect("page");
        for (_, rest) in text.match_indices(MARK).map(|(i, _)| text.split_at(i)) {
            let (mark, after) = rest.split_once('\n').expect("a line");
            let path = mark[MARK.len()..].trim_end_matches("-->").trim();
            let body = fenced(after)
                .unwrap_or_else(|| panic!("{}: no code block after `{mark}`", page.display()));
            let file = std::fs::read_to_string(root().join(path))
                .unwrap_or_else(|e| panic!("{}: `{path}`: {e}", page.display()));
            assert_eq!(body, file, "{}: the block shown for {path}", page.display());
            shown.insert(path.to_string());
        }
    }
    let guide = std::fs::read_to_string(root().join("docs/mail-servers.md")).expect("guide");
    for dir in [
        "procmail",
        "maildrop",
        "postfix",
        "exim",
        "sieve",
        "getmail",
        "fetchmail",
        "cron",
        "systemd",
    ] {
        for entry in std::fs::read_dir(root().join("contrib").join(dir))
            .expect("contrib")
            .flatten()
        {
            let name = entry.file_name();
            let path = format!("contrib/{dir}/{}", name.to_string_lossy());
            assert!(
                shown.contains(&path) && guide.contains(&format!("{MARK}{path} -->")),
                "docs/mail-servers.md does not show {path}"
            );
        }
    }
}

/// The body of the fenced block `text` starts with, without the fence's
/// indentation (a block in a list item is indented).
fn fenced(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let fence = lines.next()?;
    let indent = &fence[..fence.len() - fence.trim_start().len()];
    fence.trim_start().starts_with("```").then_some(())?;
    let mut body = String::new();
    for line in lines {
        let line = line.strip_prefix(indent).unwrap_or(line);
        if line == "```" {
            return Some(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}
