//! The command line, as clap sees it. Validated into commands by `app`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    about = "Files incoming email into a small CRM database by ordered YAML rules",
    after_help = "Examples:\n  mailroom process --config rules.yaml < message.eml\n  mailroom process --recipient crm+case@example.com < message.eml\n  mailroom check --config rules.yaml\n  mailroom explain message.eml\n  mailroom records add contacts email=ann@example.org name=Ann\n  mailroom emails list --status skipped\n  mailroom maildir --quiet ~/Maildir"
)]
pub struct Cli {
    /// Rules file (YAML); without one the built-in default actions apply.
    #[arg(long, global = true, env = "MAILROOM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database file [default: $XDG_DATA_HOME/mailroom/mailroom.db].
    #[arg(long, global = true, env = "MAILROOM_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// More on stderr: a line per message (-v), timings too (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less output: `process` prints nothing on stderr (the exit code still
    /// tells); `maildir` prints the summary and failures only.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// File messages: one from stdin, or each FILE; one JSON line per message.
    #[command(
        after_help = "Examples:\n  mailroom process < message.eml\n  mailroom process a.eml b.eml\n  mailroom process --dry-run --recipient crm+case@example.com < message.eml"
    )]
    Process {
        /// Message files (.eml); stdin when none.
        files: Vec<PathBuf>,
        /// The envelope recipient the MTA knows (Postfix ${original_recipient}, procmail $1);
        /// Postfix's local delivery sets ORIGINAL_RECIPIENT for pipes in aliases and .forward.
        #[arg(long, value_name = "ADDR", env = "ORIGINAL_RECIPIENT")]
        recipient: Option<String>,
        /// Route and print the result without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// File every message in a Maildir's new/, oldest first; each moves to cur/ once stored.
    #[command(
        after_help = "Examples:\n  mailroom maildir ~/Maildir\n  mailroom maildir --recursive --quiet ~/Maildir\n\nExit codes: 0 done (or another run holds the lock), 75 some message failed\ntemporarily and stays in new/ for the next run."
    )]
    Maildir {
        /// The Maildir (the folder holding new/, cur/ and tmp/).
        dir: PathBuf,
        /// Also the Maildir++ subfolders (.Folder/new).
        #[arg(long)]
        recursive: bool,
        /// Leave the files in new/ (dedupe still files each message once).
        #[arg(long)]
        keep: bool,
        /// No JSON lines and no progress bar: the summary only.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Validate the config; print every problem with file:line:column.
    #[command(after_help = "Examples:\n  mailroom check --config rules.yaml")]
    Check,
    /// Show each rule and condition tried, the thread evidence and the plan; writes nothing.
    #[command(
        after_help = "Examples:\n  mailroom explain message.eml\n  mailroom explain --json --recipient crm+case@example.com message.eml"
    )]
    Explain {
        /// The message file; `-` for stdin.
        file: PathBuf,
        #[arg(long, value_name = "ADDR")]
        recipient: Option<String>,
        /// Print JSON instead of the readable trace.
        #[arg(long)]
        json: bool,
    },
    /// Browse received mail.
    #[command(subcommand)]
    Emails(EmailsCommand),
    /// Browse and seed records.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Body rules: turn `Label: value` lines into record fields.
    #[command(subcommand, name = "body-rule")]
    BodyRule(BodyRuleCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  mailroom completions bash > /etc/bash_completion.d/mailroom\n  mailroom completions zsh > ~/.zfunc/_mailroom\n  mailroom completions fish > ~/.config/fish/completions/mailroom.fish"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    #[command(after_help = "Examples:\n  mailroom man > /usr/local/share/man/man1/mailroom.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct Output {
    /// JSON output (the default when stdout is not a terminal).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EmailsCommand {
    /// List received mail, oldest first.
    #[command(
        after_help = "Examples:\n  mailroom emails list --status skipped --limit 20\n  mailroom emails list --from ann@example.org --json"
    )]
    List {
        /// processed, skipped, duplicate or unparsed.
        #[arg(long)]
        status: Option<String>,
        /// Name of the rule that matched.
        #[arg(long)]
        rule: Option<String>,
        /// human, auto_reply, bounce or list.
        #[arg(long)]
        class: Option<String>,
        /// Received at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Sender address.
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// Only forwarding confirmations, with their code and link.
        #[arg(long)]
        verification: bool,
        /// Show subjects of confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Output,
    },
    /// One mail: headers, text body, links, attachments and its JSON result.
    #[command(after_help = "Examples:\n  mailroom emails show 42")]
    Show {
        id: i64,
        /// Show subject, body and attachments of confidential mail.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Export attachment N (1-based) of mail ID.
    #[command(after_help = "Examples:\n  mailroom emails attachment 42 1 -o invoice.pdf")]
    Attachment {
        id: i64,
        n: i64,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// List the records of a module (all modules when none is given).
    #[command(
        after_help = "Examples:\n  mailroom records list contacts\n  mailroom records list cases --json"
    )]
    List {
        module: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        output: Output,
    },
    /// One record with its fields, relations and linked mail.
    #[command(after_help = "Examples:\n  mailroom records show 7")]
    Show {
        id: i64,
        /// Show subjects of confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Create a record: `email=` is its primary email, other keys are fields.
    #[command(
        after_help = "Examples:\n  mailroom records add contacts email=ann@example.org name=\"Ann Smith\""
    )]
    Add {
        module: String,
        /// key=value pairs.
        fields: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Change fields of a record (`status=` and `email=` too).
    #[command(after_help = "Examples:\n  mailroom records update 7 priority=high status=won")]
    Update {
        id: i64,
        fields: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Create records from a JSON Lines file, all or nothing.
    #[command(
        after_help = "Each line is an object with `module`, optionally `email` and `status`, and any\nother keys as fields.\n\nExamples:\n  mailroom records import contacts.jsonl\n  echo '{\"module\":\"contacts\",\"email\":\"ann@example.org\",\"name\":\"Ann\"}' | mailroom records import -"
    )]
    Import {
        /// The file; `-` for stdin.
        file: PathBuf,
    },
    /// Set a record's status to closed.
    Close { id: i64 },

    /// Set a record's status to open.
    Reopen { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum BodyRuleCommand {
    /// Print the labels found in a sample body and a `body_rule:` block for them.
    #[command(
        after_help = "Examples:\n  mailroom body-rule learn sample.txt\n  mailroom body-rule learn form.eml --delimiter '='"
    )]
    Learn {
        /// A text file or an .eml message.
        sample: PathBuf,
        #[arg(long, default_value = ":")]
        delimiter: String,
    },
}

/// The command line of this process: [`parse_process`] when it takes it,
/// clap otherwise.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    match parse_process(&args, |name| std::env::var_os(name)) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

/// `mailroom process` as a mail server runs it, once per message, read
/// without building clap's whole command tree (every subcommand, argument
/// and help text: about 0.3 ms of a 6 ms delivery, `benches/pipe.py`).
///
/// Only the plainest forms are taken: `process` first, then any of
/// `--db FILE`, `--config FILE`, `--recipient ADDR` (each at most once,
/// also as `--db=FILE`) and `-q`/`--quiet` (once), and nothing else; the
/// environment (`MAILROOM_DB`, `MAILROOM_CONFIG`, `ORIGINAL_RECIPIENT`)
/// fills what is not given, as clap's `env` does. Everything else returns
/// `None` and goes to clap: other arguments and subcommands, message
/// files, a repeated option, help, and any value clap might refuse or read
/// differently (empty, starting with `-`, a recipient that is not UTF-8),
/// so errors and their messages stay clap's. A property test checks that
/// whatever this takes, clap parses to the same [`Cli`].
pub fn parse_process(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> Option<Cli> {
    let mut rest = args.iter().skip(1);
    if rest.next()? != "process" {
        return None;
    }
    let (mut db, mut config, mut recipient, mut quiet) = (None, None, None, false);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if arg == "-q" || arg == "--quiet" {
            if quiet {
                return None;
            }
            quiet = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (arg, None),
        };
        let slot = match name {
            "--db" => &mut db,
            "--config" => &mut config,
            "--recipient" => &mut recipient,
            _ => return None,
        };
        let value = match inline {
            Some(value) => value,
            None => rest.next()?.clone(),
        };
        if slot.is_some() || !plain(&value) {
            return None;
        }
        *slot = Some(value);
    }
    let or_env = |given: Option<OsString>, var: &str| match given {
        Some(value) => Some(Some(value)),
        None => match env(var) {
            None => Some(None),
            Some(value) if plain(&value) => Some(Some(value)),
            Some(_) => None,
        },
    };
    let db = or_env(db, "MAILROOM_DB")?;
    let config = or_env(config, "MAILROOM_CONFIG")?;
    let recipient = match or_env(recipient, "ORIGINAL_RECIPIENT")? {
        Some(r) => Some(r.into_string().ok()?),
        None => None,
    };
    Some(Cli {
        config: config.map(PathBuf::from),
        db: db.map(PathBuf::from),
        verbose: 0,
        quiet,
        command: Command::Process {
            files: Vec::new(),
            recipient,
            dry_run: false,
        },
    })
}

/// A value [`parse_process`] may take as it is: not empty and not
/// starting with `-`.
fn plain(value: &OsString) -> bool {
    !value.is_empty() && !value.as_encoded_bytes().starts_with(b"-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "process",
        "--db",
        "--config",
        "--recipient",
        "-q",
        "--quiet",
        "-v",
        "-qv",
        "--dry-run",
        "--help",
        "--",
        "a.db",
        "r.yaml",
        "crm+case@example.com",
        "-x",
        "",
        "--db=a.db",
        "--db=",
        "--config=r.yaml",
        "--recipient=crm@example.com",
        "m.eml",
        "check",
    ];

    fn clap_parse(args: &[OsString]) -> Option<String> {
        Cli::try_parse_from(args).ok().map(|c| format!("{c:?}"))
    }

    fn args(tokens: &[&str]) -> Vec<OsString> {
        std::iter::once("mailroom")
            .chain(tokens.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn takes_the_plain_forms_and_leaves_the_rest_to_clap() {
        let env = |_: &str| None;
        let cli = parse_process(
            &args(&["process", "--db", "a.db", "--config=r.yaml", "-q"]),
            env,
        )
        .expect("taken");
        assert_eq!(cli.db, Some(PathBuf::from("a.db")));
        assert_eq!(cli.config, Some(PathBuf::from("r.yaml")));
        assert!(cli.quiet);
        for other in [
            &["process", "m.eml"][..],
            &["process", "--dry-run"],
            &["process", "-v"],
            &["process", "-q", "-q"],
            &["process", "--db", "a.db", "--db", "b.db"],
            &["process", "--db", "-x"],
            &["process", "--db="],
            &["process", "--db"],
            &["--db", "a.db", "process"],
            &["check"],
        ] {
            assert!(parse_process(&args(other), env).is_none(), "{other:?}");
        }
    }

    #[test]
    fn the_environment_fills_what_is_not_given() {
        let env = |name: &str| match name {
            "MAILROOM_DB" => Some(OsString::from("env.db")),
            "ORIGINAL_RECIPIENT" => Some(OsString::from("crm+case@example.com")),
            _ => None,
        };
        let cli = parse_process(&args(&["process", "--db", "a.db"]), env).expect("taken");
        assert_eq!(cli.db, Some(PathBuf::from("a.db")), "the argument wins");
        assert_eq!(cli.config, None);
        let Command::Process { recipient, .. } = &cli.command else {
            panic!("process");
        };
        assert_eq!(recipient.as_deref(), Some("crm+case@example.com"));
        let cli = parse_process(&args(&["process"]), env).expect("taken");
        assert_eq!(cli.db, Some(PathBuf::from("env.db")));
        // An empty variable is an error in clap: left to it.
        let empty = |name: &str| (name == "MAILROOM_DB").then(OsString::new);
        assert!(parse_process(&args(&["process"]), empty).is_none());
    }

    /// Every command line of up to three arguments after `process`, from
    /// the tokens above: whatever the fast path takes, clap parses to the
    /// same command line (both read this process's real environment).
    #[test]
    fn agrees_with_clap_on_every_short_command_line() {
        let mut taken = 0;
        let mut lines: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<&str>> = lines
                .iter()
                .filter(|l| l.len() == lines.last().map_or(0, Vec::len))
                .flat_map(|l| {
                    TOKENS.iter().map(move |t| {
                        let mut l = l.clone();
                        l.push(t);
                        l
                    })
                })
                .collect();
            lines.extend(longer);
        }
        for line in &lines {
            let tokens: Vec<&str> = std::iter::once("process")
                .chain(line.iter().copied())
                .collect();
            let argv = args(&tokens);
            if let Some(fast) = parse_process(&argv, |name| std::env::var_os(name)) {
                taken += 1;
                assert_eq!(Some(format!("{fast:?}")), clap_parse(&argv), "{tokens:?}");
            }
        }
        assert!(taken > 100, "only {taken} command lines taken");
    }

    proptest! {
        /// The same for longer command lines.
        #[test]
        fn agrees_with_clap(picks in proptest::collection::vec(0..TOKENS.len(), 0..9)) {
            let tokens: Vec<&str> = std::iter::once("process")
                .chain(picks.iter().map(|&i| TOKENS[i]))
                .collect();
            let argv = args(&tokens);
            if let Some(fast) = parse_process(&argv, |name| std::env::var_os(name)) {
                prop_assert_eq!(Some(format!("{fast:?}")), clap_parse(&argv), "{:?}", tokens);
            }
        }
    }
}
