//! From a parsed command line to an exit code: resolves the config and the
//! database, runs the command, prints one line per failure on stderr.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{CommandFactory, Parser};

use crate::cli::args::{BodyRuleCommand, Cli, Command};
use crate::cli::output::print;
use crate::cli::{browse, clock, explain, learn, progress};
use crate::exit::{Exit, Failure};
use crate::mail::input;
use crate::maildir::{self, sweep};
use crate::pipeline::Pipeline;
use crate::report::{Report, Status};
use crate::rules::Config;
use crate::rules::load::render;
use crate::store::{self, Store};

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
            let store = open_store(&cli)?;
            browse::emails(&*store, cmd).map_err(browse::failure)
        }
        Command::Records(cmd) => {
            let mut store = open_store(&cli)?;
            let config = load_config(&cli)?;
            browse::records(&mut *store, &config, cmd)
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "mailroom", &mut out);
            print(&String::from_utf8_lossy(&out))?;
            Ok(Exit::Ok)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Failure::temp(anyhow!("cannot render the man page: {e}")))?;
            print(&String::from_utf8_lossy(&out))?;
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
    match &cli.config {
        None => Ok(Config::builtin()),
        Some(path) => Config::load(path)
            .map(|l| l.config)
            .map_err(|e| Failure::new(Exit::TempFail, anyhow!("{e}"))),
    }
}

pub fn db_path(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(db) = &cli.db {
        return Ok(db.clone());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .ok_or_else(|| {
            Failure::new(
                Exit::TempFail,
                anyhow!("no database: pass --db, set MAILROOM_DB, or set HOME"),
            )
        })?;
    Ok(data.join("mailroom").join("mailroom.db"))
}

fn open_store(cli: &Cli) -> Result<Box<dyn Store>, Failure> {
    store::open(&db_path(cli)?).map_err(|e| failure(e.into()))
}

/// `explain` writes nothing: an existing database is opened read-only, a
/// missing one is replaced by an empty one in memory.
fn open_read_only(cli: &Cli) -> Result<Box<dyn Store>, Failure> {
    store::open_read_only(&db_path(cli)?).map_err(|e| failure(e.into()))
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
    let db = db_path(cli)?;
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
                    .map_err(|e| failure(e.context(format!("database `{}`", db.display()))))
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
    Ok(exit)
}

fn check(cli: &Cli) -> Result<Exit, Failure> {
    let Some(path) = &cli.config else {
        return Err(Failure::usage(
            "no config to check: pass --config FILE or set MAILROOM_CONFIG",
        ));
    };
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
