//! `mailroom man`: mailroom(1), a page per subcommand (`mailroom-process(1)`,
//! …) rendered from the same clap definition as `--help`, and
//! mailroom-rules(5), the configuration reference.

use std::path::Path;

use anyhow::anyhow;
use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::exit::Failure;

/// mailroom(1).
pub fn main_page() -> Result<Vec<u8>, Failure> {
    render(Cli::command())
}

fn render(cmd: clap::Command) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Failure::temp(anyhow!("cannot render a man page: {e}")))?;
    Ok(out)
}

/// Writes every page into `dir` (`man1/` and `man5/` beneath it, as
/// `/usr/local/share/man` has them) and returns their paths.
pub fn write_all(dir: &Path) -> Result<Vec<String>, Failure> {
    let mut pages: Vec<(String, Vec<u8>)> = vec![("man1/mailroom.1".into(), main_page()?)];
    // Each page is named for its whole command line, as the page above
    // it refers to it: mailroom-emails(1), mailroom-emails-list(1).
    let mut todo: Vec<(Vec<String>, clap::Command)> = Cli::command()
        .get_subcommands()
        .map(|s| (vec![s.get_name().to_string()], s.clone()))
        .collect();
    while let Some((words, sub)) = todo.pop() {
        for nested in sub.get_subcommands().filter(|n| n.get_name() != "help") {
            let mut more = words.clone();
            more.push(nested.get_name().to_string());
            todo.push((more, nested.clone()));
        }
        let name = format!("mailroom-{}", words.join("-"));
        let page = sub
            .name(name.clone())
            .bin_name(format!("mailroom {}", words.join(" ")));
        pages.push((format!("man1/{name}.1"), render(page)?));
    }
    pages.sort();
    pages.push(("man5/mailroom-rules.5".into(), RULES.as_bytes().to_vec()));
    let mut written = Vec::new();
    for (rel, bytes) in pages {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::temp(anyhow!("cannot create `{}`: {e}", parent.display())))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| Failure::temp(anyhow!("cannot write `{}`: {e}", path.display())))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// mailroom-rules(5): every key of the configuration file.
pub const RULES: &str = r#".TH mailroom-rules 5 "" "mailroom" "File Formats"
.SH NAME
mailroom-rules \- the configuration of mailroom(1)
.SH SYNOPSIS
.B /etc/mailroom/mailroom.yaml
.br
.B $XDG_CONFIG_HOME/mailroom/mailroom.yaml
.SH DESCRIPTION
One YAML document. \fBmailroom check\fR validates it and names every problem
as \fIfile\fR:\fIline\fR:\fIcolumn\fR. Without a file the built-in defaults
apply: one rule per virtual suffix (\fB+archive\fR, \fB+case\fR, \fB+lead\fR,
\fB+opportunity\fR and \fB+deal\fR, \fB+contact\fR, \fB+org\fR).
.SH MAILROOM
.TP
.B mailroom.handle
The local part of the mailroom's address (\fBcrm\fR for crm@, crm+case@,
crm+345@). Without it, any recipient's +suffix counts.
.TP
.B mailroom.domains
A list; the mailroom's addresses are at these domains (any domain when absent).
.TP
.B mailroom.own_addresses
A list of addresses or globs (\fB*@example.com\fR): our own users, never
taken as the customer, exempt from the flood limit, and not reopening a
closed case they reply to.
.TP
.B mailroom.record_secret_file
A file of 16 or more secret bytes (a relative name is beside the config
file): each record's mailbox address then
carries a tag (\fBcrm+345.k7q2m9ab@\fR) that \fBmailroom address\fR prints
and only the secret makes. A wrong tag never files to the record.
.TP
.B mailroom.require_signed
\fBtrue\fR: an untagged record address falls through to the rules too.
.SH LIMITS
.TP
.B limits.attachment_bytes
Attachments larger than this (\fB10MB\fR by default) are listed, not stored.
.TP
.B limits.message_bytes
Larger input is refused with exit 65 (\fB50MB\fR by default). Sizes are
binary: 1MB is 1,048,576 bytes.
.TP
.B limits.per_sender
A map of \fBrecords\fR (how many) and \fBper\fR (the window: \fB30m\fR,
\fB1h\fR, \fB1d\fR), \fB{ records: 20, per: 1h }\fR by default: past that
many records created by one sender's mail in the window, its mail is
stored and threaded but creates nothing (\fBrate limited\fR); \fBnone\fR
for no limit.
.SH CASES
.TP
.B cases.number_prefix
Case numbers are \fIprefix\fIn\fR (\fBCASE-\fR by default).
.TP
.B cases.subject_pattern
A regex whose first capturing group that matches is the case number quoted
in a subject.
.TP
.B cases.closed
What a follow-up to a closed case does: \fBreopen\fR (the default),
\fBnew_case\fR (a new case related to it) or \fBlink_only\fR.
.TP
.B cases.staff_reopens
\fBtrue\fR: a reply from one of own_addresses reopens a closed case too
(by default it is linked and the case stays closed).
.SH CONFIDENTIAL
.TP
.B confidential.encrypt_to
A list of age recipients (\fBage1...\fR, from \fBage-keygen\fR): the
content of confidential mail (its raw message, hence subject, body and
attachments, and the fields of records made from it) is stored encrypted to
them; \fB--reveal --identity FILE\fR shows it.
.SH MODULES
.TP
.B modules
A list of record modules beyond the built-in ones (cases, contacts, leads,
opportunities, organizations) that \fBrecords add\fR and \fBrecords import\fR
accept. Modules that a \fBcreate_record\fR rule or a body-rule lookup names
are known without it.
.SH ACTIONS
.B actions
is a list of rules, tried top to bottom; the first that matches decides, one
action per mail. Each rule has:
.TP
.B name
Unique; reported as the JSON result's \fBrule\fR.
.TP
.B when
A condition (below); a rule without one matches every mail.
.TP
.B do
\fBarchive\fR, \fBcreate_case\fR, \fBcreate_opportunity\fR, \fBcreate_lead\fR,
\fBcreate_contact\fR, \fBcreate_organization\fR, \fBcreate_record\fR or
\fBskip\fR.
.TP
.B module
For \fBcreate_record\fR: the module of the record it creates.
.TP
.B set
A map of field presets for the records the action creates.
.TP
.B body_rule
\fBLabel: value\fR lines of the body as fields (below).
.TP
.B confidential
\fBtrue\fR: the mail is confidential whatever its headers say.
.TP
.B create_contact
\fBtrue\fR: a case's or opportunity's unknown customer gets a contact.
.SH CONDITIONS
A map of tests, all of which must hold; \fBall:\fR and \fBany:\fR take a
list of conditions, \fBnot:\fR one. A test is a field and an operator:
\fBsubject: { contains: invoice }\fR. \fBsubject: invoice\fR is short for
\fBequals\fR. Text is compared ignoring case unless \fBcase_sensitive: true\fR.
.TP
.B Fields
\fBfrom\fR, \fBto\fR, \fBcc\fR, \fBrecipient\fR (the envelope recipient,
Delivered-To, X-Original-To, To, Cc), \fBsuffix\fR (the virtual-address
suffix), \fBsubject\fR, \fBbody\fR, \fBheader\fR (with \fBname:\fR),
\fBattachment\fR (a file name), \fBclass\fR.
.TP
.B Operators
\fBequals\fR, \fBcontains\fR, \fBstarts_with\fR, \fBends_with\fR, \fBregex\fR,
\fBin\fR (a list), \fBdomain\fR (an address's domain, written without @),
\fBexists\fR (true or false).
.TP
.B class
\fBhuman\fR, \fBauto_reply\fR, \fBbounce\fR or \fBlist\fR, with \fBequals\fR
or \fBin\fR. Mail that is not \fBhuman\fR creates no records unless a rule
names its class.
.SH BODY RULES
.TP
.B body_rule.delimiter
Between label and value (\fB:\fR by default).
.TP
.B body_rule.fields
A map from label to field name, or to a map with \fBfield\fR, \fBtype\fR
(\fBtext\fR, \fBemail\fR, \fBphone\fR, \fBnumber\fR, \fBdate\fR) and, for a
lookup field, \fBmodule\fR, \fBmatch_on\fR (\fBname\fR by default),
\fBon_missing\fR (\fBcreate\fR, \fBskip\fR, \fBerror\fR) and \fBon_multiple\fR
(\fBfirst\fR, \fBerror\fR).
.TP
.B body_rule.always_create
\fBtrue\fR: a new record per mail even when the sender is known.
.SH SEE ALSO
mailroom(1), mailroom-check(1), mailroom-explain(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the config loader takes is in the reference, as a term
    /// (`.B key`, `.B section.key`, a section's `.B section.`) or in bold.
    #[test]
    fn the_rules_page_names_every_key() {
        for key in crate::rules::load::KEYS.iter().copied().flatten() {
            let named = [
                format!(".B {key}\n"),
                format!(".B {key}."),
                format!(".{key}\n"),
                format!("\\fB{key}\\fR"),
                format!("\\fB{key}:"),
            ];
            assert!(
                named.iter().any(|n| RULES.contains(n.as_str())),
                "`{key}` is not in mailroom-rules(5)"
            );
        }
        for name in crate::rules::condition::Field::NAMES
            .iter()
            .chain(crate::rules::condition::Op::NAMES)
            .chain(crate::mail::classify::Class::NAMES)
        {
            assert!(RULES.contains(&format!("\\fB{name}\\fR")), "`{name}`");
        }
    }
}
