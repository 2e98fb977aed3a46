//! The command line, as clap sees it. Validated into commands by `app`.

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

/// The command line of this process.
pub fn parse() -> Result<Cli, clap::Error> {
    Cli::try_parse()
}
