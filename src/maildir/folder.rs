//! A Maildir as `mailroom maildir` sees it: which messages wait in `new/`
//! and in what order, where each one goes in `cur/` once it is stored, and
//! the lock that keeps a second run out.
//!
//! # Ordering
//!
//! Oldest first: by the delivery time a Maildir name starts with (the
//! seconds before the first `.`, as in `1764230400.M12P34.host`), then by
//! the name. A name that does not start with a number is timed by the
//! file's modification time instead. With `--recursive`, the messages of
//! the Maildir++ subfolders (`.Folder/new`) are merged into the same order.
//! Names that begin with a dot are not messages; `tmp/` is never read.
//!
//! # Moving
//!
//! A stored message goes from `new/NAME` to `cur/NAME:2,S`; a name that
//! already carries `:2,FLAGS` keeps its flags, with `S` added and the
//! flags sorted. The rename is the acknowledgement and happens only after
//! the commit that holds the message: a crash in between leaves the file
//! in `new/`, and the next run finds it a duplicate and moves it. A file
//! that another client moved meanwhile has *vanished*, which is not an
//! error.
//!
//! # Locking
//!
//! One run per Maildir: an exclusive, non-blocking `flock` on
//! `DIR/.mailroom.lock`. The kernel drops it when the process dies, so a
//! killed run never leaves a stale lock behind.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};

/// The messages waiting in a Maildir (and its subfolders), oldest first.
#[derive(Debug, Default)]
pub struct Scan {
    /// The Maildir folders read: the root first, then subfolders by name.
    pub folders: Vec<PathBuf>,
    pub messages: Vec<Pending>,
}

/// One message file in some folder's `new/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pending {
    /// Delivery time, seconds since the epoch (first, so it sorts first).
    pub time: u64,
    pub name: OsString,
    /// Index into [`Scan::folders`].
    pub folder: usize,
}

impl Scan {
    /// Where the message is now: `FOLDER/new/NAME`.
    pub fn new_path(&self, p: &Pending) -> PathBuf {
        self.folder(p).join("new").join(&p.name)
    }

    /// Where the message goes once stored: `FOLDER/cur/NAME:2,S`.
    pub fn cur_path(&self, p: &Pending) -> PathBuf {
        self.folder(p).join("cur").join(flagged_name(&p.name, b'S'))
    }

    /// Where a message that can never be filed goes (empty, or over
    /// `limits.message_bytes`): `FOLDER/cur/NAME:2,F`, unread and flagged
    /// for a person to look at, and out of the way of the next run.
    pub fn refused_path(&self, p: &Pending) -> PathBuf {
        self.folder(p).join("cur").join(flagged_name(&p.name, b'F'))
    }

    fn folder(&self, p: &Pending) -> &Path {
        self.folders.get(p.folder).map_or(Path::new(""), |f| f)
    }
}

/// Lists the messages in `root/new/` (and in every `.Folder/new/` with
/// `recursive`), oldest first. `root` must be a Maildir: a folder with a
/// `new/` folder; a missing `cur/` is created.
pub fn scan(root: &Path, recursive: bool) -> Result<Scan> {
    if !root.exists() {
        bail!("maildir `{}` does not exist", root.display());
    }
    if !root.join("new").is_dir() {
        bail!(
            "`{}` is not a Maildir (it has no new/ folder)",
            root.display()
        );
    }
    let mut scan = Scan::default();
    scan.folders.push(root.to_path_buf());
    if recursive {
        let entries = std::fs::read_dir(root)
            .with_context(|| format!("cannot read Maildir `{}`", root.display()))?;
        let mut subfolders = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", root.display()))?;
            let name = entry.file_name();
            let bytes = name.as_bytes();
            if bytes.len() > 1 && bytes[0] == b'.' && bytes != b".." {
                let path = entry.path();
                if path.join("new").is_dir() {
                    subfolders.push(path);
                }
            }
        }
        subfolders.sort();
        scan.folders.extend(subfolders);
    }
    for (index, folder) in scan.folders.iter().enumerate() {
        let cur = folder.join("cur");
        if !cur.is_dir() {
            std::fs::create_dir(&cur)
                .with_context(|| format!("cannot create `{}`", cur.display()))?;
        }
        let new = folder.join("new");
        let entries =
            std::fs::read_dir(&new).with_context(|| format!("cannot read `{}`", new.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", new.display()))?;
            let name = entry.file_name();
            if name.as_bytes().first() == Some(&b'.') {
                continue;
            }
            // A folder inside new/ is not a message; the type usually comes
            // from the directory entry itself, without a stat.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let time = delivery_time(&name).unwrap_or_else(|| modified(&entry.path()));
            scan.messages.push(Pending {
                time,
                name,
                folder: index,
            });
        }
    }
    scan.messages.sort();
    Ok(scan)
}

/// The seconds a Maildir name starts with: `1764230400.M1P2.host` → 1764230400.
pub fn delivery_time(name: &OsStr) -> Option<u64> {
    let bytes = name.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || bytes.get(digits) != Some(&b'.') {
        return None;
    }
    std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()
}

/// A file's modification time; a file that cannot be read sorts last and
/// fails (or has vanished) when it is read.
fn modified(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(u64::MAX, |d| d.as_secs())
}

/// The name a message gets in `cur/`: `:2,` info with the `S` (seen) flag
/// added to the flags it had, sorted and without repeats.
pub fn seen_name(name: &OsStr) -> OsString {
    flagged_name(name, b'S')
}

/// The name with `flag` added to its `:2,` flags, sorted, without repeats.
fn flagged_name(name: &OsStr, flag: u8) -> OsString {
    let bytes = name.as_bytes();
    let (base, flags) = match bytes.windows(3).rposition(|w| w == b":2,") {
        Some(at) => (&bytes[..at], &bytes[at + 3..]),
        None => (bytes, &b""[..]),
    };
    let mut flags: Vec<u8> = flags.iter().copied().chain([flag]).collect();
    flags.sort_unstable();
    flags.dedup();
    let mut out = Vec::with_capacity(base.len() + 3 + flags.len());
    out.extend_from_slice(base);
    out.extend_from_slice(b":2,");
    out.extend_from_slice(&flags);
    OsString::from_vec(out)
}

/// What became of a message file that was to be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Moved,
    /// Another client moved or deleted it first.
    Vanished,
}

/// Renames `from` to `to`; a source that is gone has vanished.
pub fn move_file(from: &Path, to: &Path) -> io::Result<Moved> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(Moved::Moved),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Moved::Vanished),
        Err(e) => Err(e),
    }
}

/// The run lock of a Maildir, held until dropped (or the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file's name, in the Maildir's root.
pub const LOCK_FILE: &str = ".mailroom.lock";

/// Takes the run lock of `root` without waiting: `None` when another run
/// holds it.
pub fn lock(root: &Path) -> Result<Option<Lock>> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock `{}`", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn delivery_time_is_the_leading_number() {
        assert_eq!(delivery_time(&os("1764230400.M1P2.host")), Some(1764230400));
        assert_eq!(delivery_time(&os("17.x")), Some(17));
        assert_eq!(delivery_time(&os("message.eml")), None);
        assert_eq!(delivery_time(&os("1764230400")), None);
        assert_eq!(delivery_time(&os("99999999999999999999999.x")), None);
    }

    #[test]
    fn seen_names_keep_flags_sorted() {
        assert_eq!(seen_name(&os("1.M1.host")), os("1.M1.host:2,S"));
        assert_eq!(seen_name(&os("1.M1.host:2,")), os("1.M1.host:2,S"));
        assert_eq!(seen_name(&os("1.M1.host:2,RF")), os("1.M1.host:2,FRS"));
        assert_eq!(seen_name(&os("1.M1.host:2,ST")), os("1.M1.host:2,ST"));
        assert_eq!(seen_name(&os("a:b")), os("a:b:2,S"));
    }

    #[test]
    fn scans_oldest_first_and_skips_dot_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["new", "cur", "tmp", ".Sub/new", ".Sub/cur", "notafolder"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        for name in ["20.b", "10.z", "20.a", ".hidden"] {
            std::fs::write(root.join("new").join(name), "x").expect("write");
        }
        std::fs::write(root.join("tmp/5.t"), "x").expect("write");
        std::fs::write(root.join(".Sub/new/15.s"), "x").expect("write");
        let names = |s: &Scan| -> Vec<String> {
            s.messages
                .iter()
                .map(|p| {
                    s.new_path(p)
                        .strip_prefix(root)
                        .expect("inside")
                        .display()
                        .to_string()
                })
                .collect()
        };
        let flat = scan(root, false).expect("scan");
        assert_eq!(names(&flat), ["new/10.z", "new/20.a", "new/20.b"]);
        let deep = scan(root, true).expect("scan");
        assert_eq!(
            names(&deep),
            ["new/10.z", ".Sub/new/15.s", "new/20.a", "new/20.b"]
        );
        assert!(scan(&root.join("new"), false).is_err());
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = lock(dir.path()).expect("lock");
        assert!(first.is_some());
        assert!(lock(dir.path()).expect("lock").is_none());
        drop(first);
        assert!(lock(dir.path()).expect("lock").is_some());
    }

    #[test]
    fn moving_a_vanished_file_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("gone");
        let to = dir.path().join("there");
        assert_eq!(move_file(&from, &to).expect("move"), Moved::Vanished);
        std::fs::write(&from, "x").expect("write");
        assert_eq!(move_file(&from, &to).expect("move"), Moved::Moved);
    }
}
