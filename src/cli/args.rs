//! The command line, as clap sees it. Validated into commands by `app`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    disable_help_subcommand = true,
    about = "Files incoming email into a small CRM database by ordered YAML rules",
    after_help = "Examples:\n  mailroom process --config rules.yaml < message.eml\n  mailroom process --recipient crm+case@example.com < message.eml\n  mailroom check --config rules.yaml\n  mailroom explain message.eml\n  mailroom records add contacts email=ann@example.org name=Ann\n  mailroom emails list --status skipped\n  mailroom maildir --quiet ~/Maildir"
)]
pub struct Cli {
    /// Rules file (YAML); without one the built-in default actions apply.
    #[arg(long, global = true, env = "MAILROOM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: a SQLite file, or a postgres://user@host/dbname URL [default: $XDG_DATA_HOME/mailroom/mailroom.db].
    #[arg(long, global = true, env = "MAILROOM_DB", value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
    /// An age identity file (age-keygen) that opens confidential mail stored sealed, for --reveal and reprocess.
    #[arg(long, global = true, env = "MAILROOM_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// More on stderr: a line per message (-v), timings too (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less on stderr: failures only (the exit code still tells).
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
        /// The envelope recipient to route as, as `process --recipient` takes it.
        #[arg(long, value_name = "ADDR")]
        recipient: Option<String>,
        /// Print JSON instead of the readable trace.
        #[arg(long)]
        json: bool,
    },
    /// File stored mail again with the current config (skipped and unparsed mail by default).
    #[command(
        after_help = "Processed mail is filed again only with --redo, which first undoes what it did:\nits links go, and the records it created unless other mail or records refer to\nthem. Each mail is one transaction; a second identical run changes nothing.\n\nExamples:\n  mailroom reprocess --dry-run\n  mailroom reprocess\n  mailroom reprocess --from ann@example.org\n  mailroom reprocess --redo --rule \"new leads\" --since 2026-12-01\n  mailroom reprocess --redo 42 43"
    )]
    Reprocess {
        /// Mail ids; all mail that matches the filters when none.
        ids: Vec<i64>,
        /// Only mail with this status (repeatable): skipped, unparsed, processed.
        #[arg(long, value_name = "STATUS")]
        status: Vec<String>,
        /// Received at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Received before this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        until: Option<String>,
        /// Only mail the rule of this name matched.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// Only mail from this sender.
        #[arg(long, value_name = "ADDR")]
        from: Option<String>,
        /// Also file processed mail again, undoing what it did first.
        #[arg(long)]
        redo: bool,
        /// Print old decision, new decision and plan; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a record's mailbox address (signed when a record secret is configured).
    #[command(
        after_help = "Mail to this address files to the record whatever the rules say. With\n`mailroom.record_secret_file`, the address carries a tag no one can make without\nthe secret.\n\nExamples:\n  mailroom address CASE-12\n  mailroom address 345"
    )]
    Address {
        /// The record: an id or a number (CASE-12).
        record: String,
    },
    /// Browse received mail.
    #[command(subcommand, disable_help_subcommand = true)]
    Emails(EmailsCommand),
    /// Browse and seed records.
    #[command(subcommand, disable_help_subcommand = true)]
    Records(RecordsCommand),
    /// Body rules: turn `Label: value` lines into record fields.
    #[command(subcommand, name = "body-rule", disable_help_subcommand = true)]
    BodyRule(BodyRuleCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  mailroom completions bash > /etc/bash_completion.d/mailroom\n  mailroom completions zsh > ~/.zfunc/_mailroom\n  mailroom completions fish > ~/.config/fish/completions/mailroom.fish"
    )]
    Completions { shell: clap_complete::Shell },
    /// Move every record and mail, with their ids, into an empty store: SQLite to PostgreSQL or back.
    #[command(
        name = "migrate-store",
        after_help = "FROM and TO are each a SQLite file or a postgres:// URL. TO is written in one\ntransaction and must hold no record and no mail; FROM is only read. Stop\ndeliveries into FROM first (park the MTA's transport, or let it defer on 75).\n\nExamples:\n  mailroom migrate-store /var/lib/mailroom/crm.db postgres://mailroom@db.example.com/crm\n  mailroom migrate-store postgres://mailroom@db.example.com/crm backup.db"
    )]
    MigrateStore {
        /// The store to read: a file or a postgres:// URL.
        #[arg(value_name = "FROM")]
        from: PathBuf,
        /// The empty store to fill (made when missing).
        #[arg(value_name = "TO")]
        to: PathBuf,
    },
    /// Print mailroom(1), or write every page (one per subcommand, and mailroom-rules(5)) into DIR.
    #[command(
        after_help = "Examples:\n  mailroom man > mailroom.1\n  sudo mailroom man --dir /usr/local/share/man && sudo mandb -q"
    )]
    Man {
        /// A man directory: pages go to DIR/man1 and DIR/man5.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Output {
    /// JSON output (the default when stdout is not a terminal).
    #[arg(long)]
    pub json: bool,
}

/// How a list is printed: a table on a terminal, JSON Lines otherwise.
#[derive(Debug, Args)]
pub struct Listing {
    /// JSON Lines (the default when stdout is not a terminal).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
}

/// Where exported bytes go.
#[derive(Debug, Args)]
pub struct Export {
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum EmailsCommand {
    /// List received mail, newest first.
    #[command(
        after_help = "Examples:\n  mailroom emails list --status skipped --limit 20\n  mailroom emails list --from ann@example.org --json\n  mailroom emails list --since 2026-12-01 --csv > december.csv"
    )]
    List {
        /// processed, skipped or unparsed.
        #[arg(long)]
        status: Option<String>,
        /// Name of the rule that matched.
        #[arg(long)]
        rule: Option<String>,
        /// human, auto_reply, bounce or list.
        #[arg(long)]
        class: Option<String>,
        /// Received at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Received before this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        until: Option<String>,
        /// Sender address.
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// Only forwarding confirmations, with their code and link.
        #[arg(long)]
        verification: bool,
        /// Oldest first.
        #[arg(long)]
        oldest: bool,
        /// Show subjects of confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Listing,
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
        /// Export it from confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        export: Export,
    },
    /// Write the original bytes of mail ID, as received.
    #[command(
        after_help = "Examples:\n  mailroom emails raw 42 > message.eml\n  mailroom emails raw 42 -o message.eml"
    )]
    Raw {
        id: i64,
        /// Write it for confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        export: Export,
    },
    /// Link mail ID to a record (by id or number, CASE-12).
    #[command(after_help = "Examples:\n  mailroom emails link 42 CON-3")]
    Link {
        id: i64,
        record: String,
        #[command(flatten)]
        output: Output,
    },
    /// Remove the link between mail ID and a record; link it elsewhere to move it.
    #[command(
        after_help = "Examples:\n  mailroom emails unlink 42 CASE-7\n  mailroom emails link 42 CASE-9"
    )]
    Unlink {
        id: i64,
        record: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// List the records of a module (all modules when none is given).
    #[command(
        after_help = "Examples:\n  mailroom records list contacts\n  mailroom records list cases --status open --json\n  mailroom records list contacts --csv > contacts.csv"
    )]
    List {
        module: Option<String>,
        /// Only records with this status (open, closed, ...).
        #[arg(long)]
        status: Option<String>,
        /// Created at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// Show the fields of records made from confidential mail too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Listing,
    },
    /// One record (by id or number) with its fields, relations and linked mail.
    #[command(after_help = "Examples:\n  mailroom records show 7\n  mailroom records show CASE-12")]
    Show {
        id: String,
        /// Show confidential fields and subjects too.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Create a record: `email=` is its primary email, other keys are fields.
    #[command(
        after_help = "A contact, lead or organization whose email has skipped mail from it says so;\n--link-past files that mail again at once.\n\nExamples:\n  mailroom records add contacts email=ann@example.org name=\"Ann Smith\"\n  mailroom records add contacts email=ann@example.org --link-past"
    )]
    Add {
        module: String,
        /// key=value pairs.
        fields: Vec<String>,
        /// Add it even though a record of the module has this email.
        #[arg(long)]
        allow_duplicate: bool,
        /// File skipped mail from this email again (`reprocess --from`).
        #[arg(long)]
        link_past: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Change fields of a record (`status=` and `email=` too).
    #[command(after_help = "Examples:\n  mailroom records update 7 priority=high status=won")]
    Update {
        id: String,
        fields: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a record; its mail is kept. Refused while mail or records are linked, unless --force.
    #[command(
        after_help = "Examples:\n  mailroom records delete CON-3\n  mailroom records delete 7 --force"
    )]
    Delete {
        id: String,
        /// Unlink its mail and records first.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Merge DROP into KEEP: DROP's mail and record links move, its fields fill KEEP's empty ones.
    #[command(after_help = "Examples:\n  mailroom records merge CON-1 CON-4")]
    Merge {
        keep: String,
        drop: String,
        #[command(flatten)]
        output: Output,
    },
    /// Create records from a JSON Lines or CSV file, all or nothing.
    #[command(
        after_help = "JSON Lines: each line an object with `module`, optionally `email` and `status`,\nand any other keys as fields. CSV: a header row naming the same columns (a file\nending in .csv, or --format csv). Empty CSV cells are left out.\n\nExamples:\n  mailroom records import contacts.jsonl\n  mailroom records import contacts.csv\n  echo '{\"module\":\"contacts\",\"email\":\"ann@example.org\",\"name\":\"Ann\"}' | mailroom records import -"
    )]
    Import {
        /// The file; `-` for stdin.
        file: PathBuf,
        /// jsonl or csv; by default csv for a file ending in .csv.
        #[arg(long, value_parser = ["jsonl", "csv"])]
        format: Option<String>,
        /// Import a record even though one of its module has its email.
        #[arg(long)]
        allow_duplicate: bool,
        /// File skipped mail from the imported emails again.
        #[arg(long)]
        link_past: bool,
    },
    /// Set a record's status to closed.
    #[command(after_help = "Examples:\n  mailroom records close CASE-12")]
    Close { id: String },

    /// Set a record's status to open.
    #[command(after_help = "Examples:\n  mailroom records reopen CASE-12")]
    Reopen { id: String },
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
