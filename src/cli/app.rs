//! From a parsed command line to an exit code: resolves the config and the
//! database, runs the command, prints one line per failure on stderr.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{CommandFactory, Parser};

use crate::cli::args::{BodyRuleCommand, Cli, Command};
use crate::cli::output::print;
use crate::cli::{browse, explain, learn, man, progress, records};
use crate::clock;
use crate::exit::{Exit, Failure};
use crate::mail::input;
use crate::maildir::{self, sweep};
use crate::pipeline::Pipeline;
use crate::report::{Report, Status};
use crate::rules::Config;
use crate::rules::load::render;
use crate::store::{self, Location, Store};

/// The program: parses the command line and runs it.
pub fn main() -> Exit {
    match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(e) => {
            // clap prints help and version too; only real errors are 64.
            let _ = e.print();
            if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            }
        }
    }
}

/// The failure for an error: a store error says what it means for the
/// mail; anything else may pass later.
pub fn failure(error: anyhow::Error) -> Failure {
    let exit = store::error_in(&error).map_or(Exit::TempFail, store::Error::exit);
    Failure::new(exit, error)
}

/// Runs a parsed command line; the exit code is the caller's to use.
pub fn run(cli: Cli) -> Exit {
    // A maildir run from cron with --quiet must still say why it failed.
    let quiet = cli.quiet && !matches!(cli.command, Command::Maildir { .. });
    match dispatch(cli) {
        Ok(code) => code,
        Err(f) => {
            if !quiet {
                eprintln!("mailroom: {f}");
            }
            f.exit
        }
    }
}

fn dispatch(cli: Cli) -> Result<Exit, Failure> {
    match &cli.command {
        Command::Process {
            files,
            recipient,
            dry_run,
        } => process(&cli, files, recipient.as_deref(), *dry_run),
        Command::Maildir {
            dir,
            recursive,
            keep,
            quiet,
        } => maildir(&cli, dir, *recursive, *keep, *quiet),
        Command::Check => check(&cli),
        Command::Explain {
            file,
            recipient,
            json,
        } => {
            let config = load_config(&cli)?;
            let raw = read_input(file, config.limits.message_bytes)?;
            let mut store = open_read_only(&cli)?;
            let pipeline = Pipeline {
                config: &config,
                store: &mut *store,
                envelope: recipient.as_deref(),
                now: clock::now(),
            };
            let (plan, report) = pipeline.dry_run(&raw, true).map_err(failure)?;
            let out = if *json {
                explain::json(plan.as_ref(), &report)
            } else {
                explain::text(plan.as_ref(), &report)
            };
            print(&out)?;
            Ok(Exit::Ok)
        }
        Command::Emails(cmd) => {
            let mut store = open_store(&cli)?;
            browse::emails(&mut *store, cmd, cli.identity.as_deref())
        }
        Command::Records(cmd) => {
            let config = load_config(&cli)?;
            let mut store = open_store(&cli)?;
            records::records(&mut *store, &config, cmd, cli.identity.as_deref())
        }
        Command::Reprocess {
            ids,
            status,
            since,
            until,
            rule,
            from,
            redo,
            dry_run,
        } => {
            let selection = Selection {
                ids,
                statuses: status,
                since: since.as_deref(),
                until: until.as_deref(),
                rule: rule.as_deref(),
                from: from.as_deref(),
            };
            reprocess(&cli, &selection, *redo, *dry_run)
        }
        Command::Address { record } => {
            let config = load_config(&cli)?;
            let store = open_read_only(&cli)?;
            let r = records::resolve(&*store.reader(), record)?;
            let address = config.mailroom.address_of(r.id).ok_or_else(|| {
                Failure::usage(
                    "a record's address needs `mailroom.handle` and `mailroom.domains` in the config",
                )
            })?;
            print(&format!("{address}\n"))?;
            Ok(Exit::Ok)
        }
        Command::MigrateStore { from, to } => migrate_store(from, to),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "mailroom", &mut out);
            print(&String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
        Command::Man { dir: None } => {
            print(&String::from_utf8_lossy(&man::main_page()?))?;
            Ok(Exit::Ok)
        }
        Command::Man { dir: Some(dir) } => {
            let written = man::write_all(dir)?;
            print(&(written.join("\n") + "\n"))?;
            Ok(Exit::Ok)
        }
        Command::BodyRule(BodyRuleCommand::Learn { sample, delimiter }) => {
            let raw = std::fs::read(sample).map_err(|e| {
                Failure::new(
                    Exit::NoInput,
                    anyhow!("cannot read `{}`: {e}", sample.display()),
                )
            })?;
            print(&learn::learn(&raw, delimiter))?;
            Ok(Exit::Ok)
        }
    }
}

fn read_input(file: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    if file == Path::new("-") {
        input::read(std::io::stdin().lock(), "stdin", limit)
    } else {
        input::read_file(file, limit)
    }
}

/// The config file, or the built-in default when none is named. A named
/// file that is missing or invalid is a temporary failure: the MTA keeps
/// the mail until the administrator fixes it.
pub fn load_config(cli: &Cli) -> Result<Config, Failure> {
    match config_path(cli) {
        None => Ok(Config::builtin()),
        Some(path) => Config::load(&path)
            .map(|l| l.config)
            .map_err(|e| Failure::new(Exit::TempFail, anyhow!("{e}"))),
    }
}

/// A variable's value, when it is set and not empty.
fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where the config is looked for when none is named: the system-wide
/// file, then the user's (`$XDG_CONFIG_HOME`, or `~/.config`).
/// `MAILROOM_SYSCONFDIR` moves `/etc` (for packagers and tests).
pub fn config_places() -> Vec<PathBuf> {
    let etc = var("MAILROOM_SYSCONFDIR").unwrap_or_else(|| PathBuf::from("/etc"));
    let mut places = vec![etc.join("mailroom/mailroom.yaml")];
    if let Some(user) = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config"))) {
        places.push(user.join("mailroom/mailroom.yaml"));
    }
    places
}

/// The config file: `--config` / `MAILROOM_CONFIG`, else the first of
/// [`config_places`] that exists; `None` for the built-in defaults.
pub fn config_path(cli: &Cli) -> Option<PathBuf> {
    cli.config
        .clone()
        .or_else(|| config_places().into_iter().find(|p| p.exists()))
}

/// The database: `--db` / `MAILROOM_DB` (a file, or a `postgres://`
/// URL), else the XDG data path. A home that does not exist (as a mail
/// server's pipe user often has) is never created: that is a temporary
/// failure naming `--db`.
pub fn db_location(cli: &Cli) -> Result<Location, Failure> {
    if let Some(db) = &cli.db {
        return Ok(Location::parse(db.as_os_str()));
    }
    let data = match (var("XDG_DATA_HOME"), var("HOME")) {
        (Some(data), _) => data,
        (None, Some(home)) if home.is_dir() => home.join(".local/share"),
        (None, Some(home)) => {
            return Err(Failure::temp(anyhow!(
                "no database: the home directory `{}` does not exist; pass --db or set MAILROOM_DB",
                home.display()
            )));
        }
        (None, None) => {
            return Err(Failure::temp(anyhow!(
                "no database: pass --db or set MAILROOM_DB (HOME is not set)"
            )));
        }
    };
    Ok(Location::File(data.join("mailroom").join("mailroom.db")))
}

/// `migrate-store FROM TO`: everything FROM holds, copied with its ids
/// into TO in one transaction of TO; prints what moved as one JSON line.
fn migrate_store(from: &Path, to: &Path) -> Result<Exit, Failure> {
    let (from, to) = (
        Location::parse(from.as_os_str()),
        Location::parse(to.as_os_str()),
    );
    if let Location::File(path) = &from
        && !path.exists()
    {
        return Err(Failure::new(
            Exit::NoInput,
            anyhow!("no store at `{}`", path.display()),
        ));
    }
    if from.to_string() == to.to_string() {
        return Err(Failure::usage("FROM and TO are the same store"));
    }
    let source = store::open_read_only(&from).map_err(|e| failure(e.into()))?;
    if holdings(&*source.reader())? == (0, 0) {
        // A mistyped file or schema opens as an empty store.
        return Err(Failure::new(
            Exit::NoInput,
            anyhow!("`{from}` holds no mail and no records: nothing to move"),
        ));
    }
    let mut target = store::open(&to).map_err(|e| failure(e.into()))?;
    let tx = target.begin().map_err(|e| failure(e.into()))?;
    let holds = holdings(&*tx.reader())?;
    if holds != (0, 0) {
        return Err(Failure::new(
            Exit::DataErr,
            anyhow!(
                "`{to}` already holds {} mail and {} records: migrate-store fills only an empty store",
                holds.0,
                holds.1
            ),
        ));
    }
    let moved = store::copy::copy(&*source.reader(), &*tx)
        .and_then(|moved| tx.commit().map(|()| moved))
        .map_err(|e| {
            failure(anyhow::Error::from(e).context(format!("cannot move `{from}` to `{to}`")))
        })?;
    let line =
        serde_json::json!({ "from": from.to_string(), "to": to.to_string(), "moved": moved });
    print(&format!("{line}\n"))?;
    Ok(Exit::Ok)
}

/// How many mail and records a store holds.
fn holdings(r: &dyn store::Reader) -> Result<(usize, usize), Failure> {
    let emails = r.email_ids().map_err(|e| failure(e.into()))?.len();
    let records = r
        .records(&store::RecordFilter::default())
        .map_err(|e| failure(e.into()))?
        .len();
    Ok((emails, records))
}

fn open_store(cli: &Cli) -> Result<Box<dyn Store>, Failure> {
    store::open(&db_location(cli)?).map_err(|e| failure(e.into()))
}

/// `explain` writes nothing: an existing database is opened read-only, a
/// missing one is replaced by an empty one in memory.
fn open_read_only(cli: &Cli) -> Result<Box<dyn Store>, Failure> {
    store::open_read_only(&db_location(cli)?).map_err(|e| failure(e.into()))
}

fn process(
    cli: &Cli,
    files: &[PathBuf],
    recipient: Option<&str>,
    dry_run: bool,
) -> Result<Exit, Failure> {
    // The config first: a broken one opens (or creates) nothing, and its
    // error is the one reported.
    let config = load_config(cli)?;
    let built_in = config.path.is_none();
    let db = db_location(cli)?;
    let store = if dry_run {
        store::open_read_only(&db)
    } else {
        store::open(&db)
    };
    let mut store = store.map_err(|e| failure(e.into()))?;
    let mut pipeline = Pipeline {
        config: &config,
        store: &mut *store,
        envelope: recipient,
        now: clock::now(),
    };
    let stdin = [PathBuf::from("-")];
    let inputs = if files.is_empty() { &stdin[..] } else { files };
    let mut exit = Exit::Ok;
    let started = std::time::Instant::now();
    for file in inputs {
        let result = read_input(file, config.limits.message_bytes).and_then(|raw| {
            if dry_run {
                pipeline
                    .dry_run(&raw, false)
                    .map(|(_, r)| r)
                    .map_err(failure)
            } else {
                pipeline
                    .process(&raw)
                    .map_err(|e| failure(e.context(format!("database `{db}`"))))
            }
        });
        let report = match result {
            Ok(report) => report,
            Err(f) => {
                if !cli.quiet {
                    eprintln!("mailroom: {f}");
                }
                exit = exit.worst(f.exit);
                let mut report = Report::empty(Status::Failed);
                report.reason = Some(f.to_string());
                report.dry_run = dry_run;
                report
            }
        };
        if cli.verbose > 0 {
            eprintln!(
                "mailroom: {}: {} rule={} action={}{}",
                file.display(),
                serde_json::to_value(report.status)
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .unwrap_or_default(),
                report.rule.as_deref().unwrap_or("-"),
                report.action.as_deref().unwrap_or("-"),
                if cli.verbose > 1 {
                    format!(" ({:.1} ms)", started.elapsed().as_secs_f64() * 1000.0)
                } else {
                    String::new()
                }
            );
        }
        print(&(report.to_json() + "\n"))?;
    }
    // Said once, after the results, so that a failure stays one line.
    if built_in && exit == Exit::Ok && !cli.quiet {
        eprintln!("mailroom: {}", no_config_note());
    }
    Ok(exit)
}

/// What `process` says when it files with the built-in defaults.
fn no_config_note() -> String {
    let places: Vec<String> = config_places()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "no config file (none of {}; --config or MAILROOM_CONFIG names one): filed with the built-in defaults",
        places.join(", ")
    )
}

fn check(cli: &Cli) -> Result<Exit, Failure> {
    let Some(path) = config_path(cli) else {
        return Err(Failure::usage(format!(
            "no config to check: pass --config FILE or set MAILROOM_CONFIG (none of {} exists)",
            config_places()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let path = &path;
    match Config::load(path) {
        Ok(loaded) => {
            let warnings = render(path, &loaded.source, &loaded.warnings);
            print(&format!(
                "{warnings}{}: ok, {} rule(s), {} warning(s)\n",
                path.display(),
                loaded.config.rules.len(),
                loaded.warnings.len()
            ))?;
            Ok(Exit::Ok)
        }
        Err(e) => {
            let n = e.errors().count();
            print(&format!("{}{}: {n} error(s)\n", e.render(), path.display()))?;
            Ok(Exit::Config)
        }
    }
}

/// `mailroom maildir`: see `maildir` (the folder) and `sweep` (the run).
fn maildir(
    cli: &Cli,
    dir: &Path,
    recursive: bool,
    keep: bool,
    quiet: bool,
) -> Result<Exit, Failure> {
    let config = load_config(cli)?;
    if !dir.is_dir() {
        return Err(Failure::temp(anyhow!(
            "maildir `{}` does not exist",
            dir.display()
        )));
    }
    let Some(_lock) = maildir::lock(dir).map_err(Failure::temp)? else {
        eprintln!(
            "mailroom: maildir `{}` is being processed by another run; nothing to do",
            dir.display()
        );
        return Ok(Exit::Ok);
    };
    let scan = maildir::scan(dir, recursive).map_err(Failure::temp)?;
    let mut store = open_store(cli)?;
    let now = clock::now();
    let options = sweep::Options {
        config: &config,
        now: &now,
        keep,
        limits: sweep::Limits::default(),
    };
    let mut progress = progress::Progress::new(scan.messages.len() as u64, quiet);
    let summary = sweep::run(&scan, &mut *store, &options, &mut progress);
    progress.finish();
    eprintln!("mailroom: {}", summary.line(dir));
    if let Some(e) = progress.write_error {
        eprintln!("mailroom: cannot write output: {e}");
        return Ok(Exit::TempFail);
    }
    Ok(summary.exit())
}

/// Which stored mail `reprocess` takes.
struct Selection<'a> {
    ids: &'a [i64],
    statuses: &'a [String],
    since: Option<&'a str>,
    until: Option<&'a str>,
    rule: Option<&'a str>,
    from: Option<&'a str>,
}

/// `mailroom reprocess`: see [`crate::reprocess`]. One JSON line per mail on
/// stdout, a progress bar on a terminal, a summary on stderr.
fn reprocess(cli: &Cli, selection: &Selection, redo: bool, dry_run: bool) -> Result<Exit, Failure> {
    for s in selection.statuses {
        if !store::STATUSES.contains(&s.as_str()) {
            return Err(Failure::usage(format!(
                "unknown status `{s}` (stored mail is {})",
                store::STATUSES.join(", ")
            )));
        }
        if s == "processed" && !redo {
            return Err(Failure::usage(
                "processed mail is filed again only with --redo",
            ));
        }
    }
    let instant = |v: Option<&str>| v.map(clock::instant).transpose().map_err(Failure::usage);
    let filter = store::EmailFilter {
        statuses: if !selection.statuses.is_empty() {
            selection.statuses.to_vec()
        } else if redo {
            Vec::new()
        } else {
            vec!["skipped".into(), "unparsed".into()]
        },
        rule: selection.rule.map(str::to_string),
        since: instant(selection.since)?,
        until: instant(selection.until)?,
        from: selection.from.map(str::to_string),
        oldest_first: true,
        ..store::EmailFilter::default()
    };
    let config = load_config(cli)?;
    let mut store = open_store(cli)?;
    let ids: Vec<i64> = if selection.ids.is_empty() {
        store
            .reader()
            .emails(&filter)?
            .iter()
            .map(|e| e.id)
            .collect()
    } else {
        selection.ids.to_vec()
    };
    let now = clock::now();
    let identities = cli
        .identity
        .as_deref()
        .map(crate::mail::seal::Identities::read)
        .transpose()
        .map_err(Failure::usage)?;
    let options = crate::reprocess::Options {
        config: &config,
        now: &now,
        redo,
        dry_run,
        identities: identities.as_ref(),
    };
    let mut progress = progress::Progress::new(ids.len() as u64, cli.quiet);
    let (mut changed, mut failed) = (0, 0);
    let mut exit = Exit::Ok;
    for &id in &ids {
        match crate::reprocess::one(&mut *store, id, &options) {
            Ok(refiled) => {
                changed += usize::from(refiled.changed);
                let line = serde_json::to_string(&refiled).unwrap_or_default();
                progress.line(&line);
            }
            Err(e) => {
                let f = failure(e.context(format!("mail {id}")));
                sweep::Sink::warn(&mut progress, &f.to_string());
                exit = exit.worst(f.exit);
                failed += 1;
            }
        }
        sweep::Sink::tick(&mut progress);
    }
    progress.finish();
    let _ = store.housekeeping();
    eprintln!(
        "mailroom: reprocess: {} mail(s), {changed} changed, {} unchanged, {failed} failed{}",
        ids.len(),
        ids.len() - changed - failed,
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    if let Some(e) = progress.write_error {
        eprintln!("mailroom: cannot write output: {e}");
        return Ok(Exit::TempFail);
    }
    Ok(exit)
}
