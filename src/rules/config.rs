//! The compiled configuration the router trusts: [`Config`] and its rules,
//! limits, case settings and built-in defaults. Loading and validating
//! the YAML is `load`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::{Regex, RegexBuilder};

use crate::mail::address::{Mailroom, Pattern};
use crate::mail::seal::Recipients;
use crate::rules::body_rule::FieldType;
use crate::rules::condition::{Condition, Field, Op};

/// Compiled regexes are capped so a rule cannot make evaluation slow or
/// memory-hungry; the regex engine itself is linear-time.
pub(super) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The modules mailroom's own actions create records of.
pub const BUILTIN_MODULES: &[&str] = &[
    "cases",
    "contacts",
    "leads",
    "opportunities",
    "organizations",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from; `None` for the built-in default.
    pub path: Option<PathBuf>,
    pub mailroom: Mailroom,
    pub own_addresses: Vec<Pattern>,
    pub limits: Limits,
    pub cases: Cases,
    pub rules: Vec<Rule>,
    /// True when `rules` are the built-in defaults (no `actions:` given).
    pub default_rules: bool,
    /// Modules declared under `modules:`, beside the built-in ones.
    pub modules: Vec<String>,
    /// `confidential.encrypt_to`: confidential content is stored sealed
    /// to these age recipients.
    pub seal: Option<Recipients>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub attachment_bytes: u64,
    pub message_bytes: u64,
    /// Records one sender's mail may create in a window; `None` for no
    /// limit (`per_sender: none`).
    pub per_sender: Option<PerSender>,
}

/// `limits.per_sender`: at most `records` created by one sender's mail in
/// any `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerSender {
    pub records: u64,
    pub per_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            attachment_bytes: 10 << 20,
            message_bytes: 50 << 20,
            // A mail loop that escapes classification makes a record a
            // minute or more; a person rarely writes twenty new cases an
            // hour.
            per_sender: Some(PerSender {
                records: 20,
                per_seconds: 3600,
            }),
        }
    }
}

/// What a follow-up to a closed case does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedPolicy {
    Reopen,
    NewCase,
    LinkOnly,
}

#[derive(Debug, Clone)]
pub struct Cases {
    /// Case numbers are `<prefix><n>`.
    pub prefix: String,
    /// Finds a case number in a subject; the first capture group that
    /// matched is the number.
    subject_pattern: String,
    /// Compiled when the config loads for a configured pattern (so errors
    /// show in `check`), on first use for the built-in one.
    compiled: std::sync::OnceLock<Option<Regex>>,
    /// For the built-in pattern: words one of which (ASCII lower-case) a
    /// subject must contain for the pattern to match, the prefix or
    /// `case`. Compiling the pattern costs a small delivery more than the
    /// rest of its routing, and most subjects contain neither.
    words: Vec<String>,
    pub closed: ClosedPolicy,
    /// Whether mail from `own_addresses` reopens a closed case it follows
    /// up (`cases.staff_reopens`); by default only the customer's does.
    pub staff_reopens: bool,
}

impl Cases {
    /// The cases settings with the built-in pattern for `prefix`, which is
    /// escaped and cannot fail to compile.
    pub(super) fn builtin(prefix: &str) -> Cases {
        let core = prefix.trim_end_matches(['-', '#', ' ']);
        let escaped = regex::escape(core);
        Cases {
            prefix: prefix.to_string(),
            // ASCII classes keep the compiled program small.
            subject_pattern: format!(
                r"(?-u:\[{escaped}[-# ]?([0-9]+)\]|\b{escaped}[ \t]*[-#][ \t]*([0-9]+)\b|\bcase[ \t]*#[ \t]*([0-9]+)\b)"
            ),
            compiled: std::sync::OnceLock::new(),
            words: vec![core.to_ascii_lowercase(), "case".into()],
            closed: ClosedPolicy::Reopen,
            staff_reopens: false,
        }
    }

    /// The settings with a configured pattern, compiled now.
    pub(super) fn configured(prefix: &str, pattern: &str) -> Result<Cases, regex::Error> {
        let regex = compile_case_pattern(pattern)?;
        let cases = Cases {
            subject_pattern: pattern.to_string(),
            compiled: std::sync::OnceLock::from(Some(regex)),
            words: Vec::new(),
            ..Cases::builtin(prefix)
        };
        Ok(cases)
    }

    pub(super) fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| compile_case_pattern(&self.subject_pattern).ok())
            .as_ref()
    }

    /// The case number quoted in a subject, if any (first capture group
    /// that matched).
    pub fn number_in(&self, subject: &str) -> Option<i64> {
        // No digit (or none of the words), no number: most subjects never
        // need the regex compiled.
        if !subject.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        if !self.words.is_empty() {
            let lower = subject.to_ascii_lowercase();
            if !self.words.iter().any(|w| lower.contains(w.as_str())) {
                return None;
            }
        }
        let caps = self.regex()?.captures(subject)?;
        caps.iter()
            .skip(1)
            .flatten()
            .find_map(|m| m.as_str().parse().ok())
    }
}

fn compile_case_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Archive,
    CreateCase,
    CreateOpportunity,
    CreateLead,
    CreateContact,
    CreateOrganization,
    CreateRecord,
    Skip,
}

impl Action {
    pub(super) const ALL: &'static [(&'static str, Action)] = &[
        ("archive", Action::Archive),
        ("create_case", Action::CreateCase),
        ("create_opportunity", Action::CreateOpportunity),
        ("create_lead", Action::CreateLead),
        ("create_contact", Action::CreateContact),
        ("create_organization", Action::CreateOrganization),
        ("create_record", Action::CreateRecord),
        ("skip", Action::Skip),
    ];

    pub fn as_str(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("skip", |(n, _)| n)
    }

    pub(super) fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }

    /// The module of the records this action creates.
    pub fn module(self) -> Option<&'static str> {
        match self {
            Action::CreateCase => Some("cases"),
            Action::CreateOpportunity => Some("opportunities"),
            Action::CreateLead => Some("leads"),
            Action::CreateContact => Some("contacts"),
            Action::CreateOrganization => Some("organizations"),
            _ => None,
        }
    }
}

/// What to do when a lookup field finds no record, or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    Create,
    Skip,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMultiple {
    First,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub module: String,
    pub match_on: String,
    pub on_missing: OnMissing,
    pub on_multiple: OnMultiple,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyField {
    /// The label as written in the config, for messages.
    pub label: String,
    pub field: String,
    pub kind: FieldType,
    pub lookup: Option<Lookup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRule {
    pub delimiter: String,
    /// Normalised label → field.
    pub fields: Vec<(String, BodyField)>,
    pub always_create: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Option<Condition>,
    pub action: Action,
    /// For `create_record`: the module; otherwise the action's own.
    pub module: Option<String>,
    pub set: BTreeMap<String, String>,
    pub body_rule: Option<BodyRule>,
    pub confidential: bool,
    pub create_contact: bool,
    /// 1-based line of the rule in its file (0 for built-in rules).
    pub line: usize,
}

impl Rule {
    /// True when the rule's condition names `class` explicitly, which lets
    /// non-human mail create records.
    pub fn names_class(&self) -> bool {
        fn walk(c: &Condition) -> bool {
            match c {
                Condition::All(v) | Condition::Any(v) => v.iter().any(walk),
                Condition::Not(c) => walk(c),
                Condition::Test { field, .. } => *field == Field::Class,
            }
        }
        self.when.as_ref().is_some_and(walk)
    }
}

impl Config {
    /// The config used when no file is given: any `+suffix` counts, the
    /// built-in actions apply.
    pub fn builtin() -> Config {
        Config {
            path: None,
            mailroom: Mailroom::default(),
            own_addresses: Vec::new(),
            limits: Limits::default(),
            cases: default_cases(),
            rules: default_rules(),
            default_rules: true,
            modules: Vec::new(),
            seal: None,
        }
    }

    /// Every module records may be of: the built-in ones, those rules
    /// create (`create_record`) or look up (body-rule lookups), and those
    /// declared under `modules:`; sorted.
    pub fn known_modules(&self) -> Vec<String> {
        let mut all: Vec<String> = BUILTIN_MODULES.iter().map(|m| m.to_string()).collect();
        for rule in &self.rules {
            all.extend(rule.module.clone());
            for (_, field) in rule.body_rule.iter().flat_map(|b| &b.fields) {
                all.extend(field.lookup.as_ref().map(|l| l.module.clone()));
            }
        }
        all.extend(self.modules.iter().cloned());
        all.sort();
        all.dedup();
        all
    }

    /// The (module, field) pairs body-rule lookups find records by.
    pub fn looked_up_fields(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .rules
            .iter()
            .flat_map(|r| r.body_rule.iter().flat_map(|b| &b.fields))
            .filter_map(|(_, f)| f.lookup.as_ref())
            .map(|l| (l.module.as_str(), l.match_on.as_str()))
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// The number prefix of a module's records (`CASE-` for cases, as
    /// configured; `LEAD-`, `CON-`, ... for the others).
    pub fn prefix_for(&self, module: &str) -> String {
        match module {
            "cases" => self.cases.prefix.clone(),
            "leads" => "LEAD-".into(),
            "contacts" => "CON-".into(),
            "organizations" => "ORG-".into(),
            "opportunities" => "OPP-".into(),
            other => format!("{}-", other.to_uppercase()),
        }
    }
}

pub(super) fn default_cases() -> Cases {
    Cases::builtin("CASE-")
}

/// One rule per virtual suffix, as DESIGN §2 lists them.
fn default_rules() -> Vec<Rule> {
    let rule = |name: &str, suffixes: &[&str], action: Action| Rule {
        name: name.to_string(),
        when: Some(Condition::Test {
            field: Field::Suffix,
            op: Op::In(suffixes.iter().map(|s| s.to_string()).collect()),
            case_sensitive: false,
        }),
        action,
        module: None,
        set: BTreeMap::new(),
        body_rule: None,
        confidential: false,
        create_contact: false,
        line: 0,
    };
    vec![
        rule("archive", &["archive"], Action::Archive),
        rule("case", &["case"], Action::CreateCase),
        rule("lead", &["lead"], Action::CreateLead),
        rule(
            "opportunity",
            &["opportunity", "deal"],
            Action::CreateOpportunity,
        ),
        rule("contact", &["contact"], Action::CreateContact),
        rule("organization", &["org"], Action::CreateOrganization),
    ]
}

/// Parses a duration such as `1h`, `30m`, `1d` or `90s`; a plain number is
/// seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&d| d > 0)
}

/// Parses a size such as `10MB`, `512 KB`, `1GiB` or `1048576`. Units are
/// binary (1 MB = 1,048,576 bytes), as mail administrators size mailboxes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_case_pattern_compiles_and_finds_numbers() {
        let c = default_cases();
        for (subject, number) in [
            ("Re: [CASE-12] printer", Some(12)),
            ("Case #7 still open", Some(7)),
            ("case-9: news", Some(9)),
            ("Showcase 12", None),
            ("[case 5] and CASE-6", Some(5)),
            ("CASE - 8 ", Some(8)),
            ("CASE-8x", None),
            ("[CASE-99999999999999999999]", None),
        ] {
            assert_eq!(c.number_in(subject), number, "{subject}");
        }
        assert!(c.regex().is_some(), "the built-in pattern compiles");

        let c = Cases::builtin("Ticket-");
        assert_eq!(c.number_in("Printer on floor 3"), None);
        assert!(
            c.compiled.get().is_none(),
            "compiled only when it can match"
        );
        assert_eq!(c.number_in("Re: [ticket-41] printer"), Some(41));
        assert_eq!(c.number_in("about case #3"), Some(3));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("512 kb"), Some(512 << 10));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("99999999999999GB"), None);
    }
}
