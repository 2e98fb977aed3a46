//! Loading the YAML configuration: validation with every problem reported
//! as `file:line:column` (and a source snippet), warnings about rules that
//! can never match. The only user of the YAML crate. Documents are read
//! into a generic value first, then each section is checked by hand so
//! that every problem is reported, not just the first one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::RegexBuilder;
use serde_yaml::Value;

use crate::mail::address::Pattern;
use crate::mail::classify::Class;
use crate::mail::seal::Recipients;
use crate::rules::body_rule::{FieldType, normalize_label, parse_field_type};
use crate::rules::condition::{Condition, Field, Op};
use crate::rules::config::{
    Action, BodyField, BodyRule, Cases, ClosedPolicy, Config, Limits, Lookup, OnMissing,
    OnMultiple, PerSender, REGEX_SIZE_LIMIT, Rule, parse_duration, parse_size,
};
use crate::rules::locate::{Seg, locate_in};

/// The keys each map of the config takes; anything else is reported as
/// unknown. [`KEYS`] holds them all, and mailroom-rules(5) names each.
const TOP_KEYS: &[&str] = &[
    "mailroom",
    "limits",
    "cases",
    "modules",
    "confidential",
    "actions",
];
const MAILROOM_KEYS: &[&str] = &[
    "handle",
    "domains",
    "own_addresses",
    "record_secret_file",
    "require_signed",
];
const LIMITS_KEYS: &[&str] = &["attachment_bytes", "message_bytes", "per_sender"];
const PER_SENDER_KEYS: &[&str] = &["records", "per"];
const CASES_KEYS: &[&str] = &[
    "number_prefix",
    "subject_pattern",
    "closed",
    "staff_reopens",
];
const CONFIDENTIAL_KEYS: &[&str] = &["encrypt_to"];
const RULE_KEYS: &[&str] = &[
    "name",
    "when",
    "do",
    "module",
    "set",
    "body_rule",
    "confidential",
    "create_contact",
];
/// A condition's groups, beside the fields of [`Field::NAMES`].
const GROUP_KEYS: &[&str] = &["all", "any", "not"];
/// A field's options, beside the operators of [`Op::NAMES`].
const OPTION_KEYS: &[&str] = &["case_sensitive"];
const HEADER_KEYS: &[&str] = &["name"];
const BODY_RULE_KEYS: &[&str] = &["delimiter", "fields", "always_create"];
const BODY_FIELD_KEYS: &[&str] = &[
    "field",
    "type",
    "module",
    "match_on",
    "on_missing",
    "on_multiple",
];

/// Every key the config takes, but the condition fields and operators
/// ([`Field::NAMES`], [`Op::NAMES`]).
pub const KEYS: &[&[&str]] = &[
    TOP_KEYS,
    MAILROOM_KEYS,
    LIMITS_KEYS,
    PER_SENDER_KEYS,
    CASES_KEYS,
    CONFIDENTIAL_KEYS,
    RULE_KEYS,
    GROUP_KEYS,
    OPTION_KEYS,
    HEADER_KEYS,
    BODY_RULE_KEYS,
    BODY_FIELD_KEYS,
];

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// A warning does not stop the config from loading.
    pub warning: bool,
}

/// Every problem found in one file, with the source for snippets.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
    source: String,
}

impl ConfigError {
    fn io(file: &Path, err: std::io::Error) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            problems: vec![Problem {
                line: 0,
                column: 0,
                message: format!("cannot read config: {err}"),
                warning: false,
            }],
            source: String::new(),
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.warning)
    }

    /// Each problem as `file:line:column: message` and the source line
    /// under it, as `mailroom check` prints them.
    pub fn render(&self) -> String {
        render(&self.file, &self.source, &self.problems)
    }
}

/// One line: the first error and how many more there are.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut errors = self.errors();
        if let Some(p) = errors.next() {
            write!(f, "{}", heading(&self.file, p))?;
            let more = errors.count();
            if more > 0 {
                write!(f, " (and {more} more; run `mailroom check`)")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

fn heading(file: &Path, p: &Problem) -> String {
    let kind = if p.warning { "warning: " } else { "" };
    if p.line == 0 {
        format!("{}: {kind}{}", file.display(), p.message)
    } else {
        format!(
            "{}:{}:{}: {kind}{}",
            file.display(),
            p.line,
            p.column,
            p.message
        )
    }
}

/// Renders problems with their source lines.
pub fn render(file: &Path, source: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&heading(file, p));
        out.push('\n');
        if let Some(line) = p.line.checked_sub(1).and_then(|l| source.lines().nth(l)) {
            out.push_str(&format!("  {:>4} | {line}\n", p.line));
            out.push_str(&format!(
                "       | {}^\n",
                " ".repeat(p.column.saturating_sub(1))
            ));
        }
    }
    out
}

/// A loaded config and the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
    pub source: String,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
        Config::parse(path, &source)
    }

    /// Validates config text; `path` only names the file in problems.
    pub fn parse(path: &Path, source: &str) -> Result<Loaded, ConfigError> {
        let doc = Config::yaml(path, source)?;
        Config::from_doc(path, source, &doc)
    }

    /// The YAML's value tree, or the problem that `source` is not YAML.
    fn yaml(path: &Path, source: &str) -> Result<Value, ConfigError> {
        let mut cx = Cx::new(source);
        cx.yaml().ok_or_else(|| cx.error(path))
    }

    /// Validates the config whose YAML `source` parsed into `doc`.
    fn from_doc(path: &Path, source: &str, doc: &Value) -> Result<Loaded, ConfigError> {
        let mut cx = Cx::new(source);
        let config = cx.config(path, doc);
        if cx.problems.iter().any(|p| !p.warning) {
            return Err(cx.error(path));
        }
        cx.sort();
        Ok(Loaded {
            config,
            warnings: cx.problems,
            source: source.to_string(),
        })
    }
}
/// Validation state: the source (for locating) and the problems so far.
struct Cx<'s> {
    source: &'s str,
    /// The source split into lines once: every rule's line is located.
    lines: Vec<&'s str>,
    problems: Vec<Problem>,
}

type Path_ = Vec<Seg>;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn with(path: &[Seg], seg: Seg) -> Path_ {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'s> Cx<'s> {
    fn new(source: &'s str) -> Cx<'s> {
        Cx {
            source,
            lines: source.lines().collect(),
            problems: Vec::new(),
        }
    }

    /// The problems found so far, as the config's error, in file order.
    fn error(mut self, path: &Path) -> ConfigError {
        self.sort();
        ConfigError {
            file: path.to_path_buf(),
            problems: self.problems,
            source: self.source.to_string(),
        }
    }

    /// Problems in file order (each section is checked in turn, so one
    /// found late may sit early in the file).
    fn sort(&mut self) {
        self.problems.sort_by_key(|p| (p.line, p.column));
    }

    fn problem(&mut self, path: &[Seg], message: impl Into<String>) {
        let (line, column) = locate_in(&self.lines, path);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
            warning: false,
        });
    }

    /// A problem with the value of the key at `path`: placed at the value
    /// (`regex: "(["` points at the quote, not at `regex`).
    fn problem_at_value(&mut self, path: &[Seg], message: impl Into<String>) {
        let (line, column) = locate_in(&self.lines, path);
        let key = match path.last() {
            Some(Seg::Key(k)) => k.len(),
            _ => 0,
        };
        let text = line
            .checked_sub(1)
            .and_then(|l| self.lines.get(l))
            .copied()
            .unwrap_or_default();
        // After the key, its colon and the spaces that follow.
        let after_key = column.saturating_sub(1) + key;
        let rest = text.get(after_key..).unwrap_or_default();
        let skipped = rest.len() - rest.trim_start_matches([':', ' ']).len();
        let value_column = if rest.starts_with(':') && skipped < rest.len() {
            after_key + skipped + 1
        } else {
            column
        };
        self.problems.push(Problem {
            line,
            column: value_column,
            message: message.into(),
            warning: false,
        });
    }

    fn warn(&mut self, path: &[Seg], message: impl Into<String>) {
        let (line, column) = locate_in(&self.lines, path);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
            warning: true,
        });
    }

    /// The entries of a map with string keys, reporting keys not in `known`.
    fn map<'v>(
        &mut self,
        v: &'v Value,
        path: &[Seg],
        what: &str,
        known: &[&str],
    ) -> Vec<(String, &'v Value)> {
        let Value::Mapping(m) = v else {
            self.problem(
                path,
                format!("{what} must be a map, found {}", type_name(v)),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, val) in m {
            let Some(k) = scalar(k) else {
                self.problem(path, format!("{what} has a key that is not text"));
                continue;
            };
            if !known.is_empty() && !known.contains(&k.as_str()) {
                self.problem(
                    &with(path, key(&k)),
                    format!("unknown key `{k}` in {what} {}", expected(&k, known)),
                );
                continue;
            }
            out.push((k, val));
        }
        out
    }

    fn string(&mut self, v: &Value, path: &[Seg], what: &str) -> Option<String> {
        match scalar(v) {
            Some(s) if !matches!(v, Value::Bool(_)) => Some(s),
            _ => {
                self.problem(
                    path,
                    format!("`{what}` must be text, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn bool(&mut self, v: &Value, path: &[Seg], what: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(
                    path,
                    format!("`{what}` must be true or false, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, path: &[Seg], what: &str) -> Vec<String> {
        match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &with(path, Seg::Index(i)), what))
                .collect(),
            other => self.string(other, path, what).into_iter().collect(),
        }
    }

    /// The YAML's value tree, or the problem that it is not YAML.
    fn yaml(&mut self) -> Option<Value> {
        match serde_yaml::from_str(self.source) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                let message = e.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                self.problems.push(Problem {
                    line,
                    column,
                    message: format!("invalid YAML: {message}"),
                    warning: false,
                });
                None
            }
        }
    }

    fn config(&mut self, path: &Path, doc: &Value) -> Config {
        let mut config = Config::builtin();
        config.path = Some(path.to_path_buf());
        if doc.is_null() {
            return config;
        }
        let top = self.map(doc, &[], "the config", TOP_KEYS);
        let mut actions = None;
        for (k, v) in top {
            let p = [key(&k)];
            match k.as_str() {
                "mailroom" => self.mailroom(v, &p, &mut config),
                "limits" => self.limits(v, &p, &mut config.limits),
                "cases" => self.cases(v, &p, &mut config.cases),
                "modules" => config.modules = self.modules(v, &p),
                "confidential" => config.seal = self.confidential(v, &p),
                _ => actions = Some(v),
            }
        }
        if let Some(v) = actions {
            config.rules = self.rules(v, &[key("actions")]);
            config.default_rules = false;
            // Rules that failed to load would shift the positions.
            if !self.problems.iter().any(|p| !p.warning) {
                self.shadowed(&config.rules);
            }
        }
        config
    }

    fn mailroom(&mut self, v: &Value, path: &[Seg], config: &mut Config) {
        for (k, v) in self.map(v, path, "`mailroom`", MAILROOM_KEYS) {
            let p = with(path, key(&k));
            match k.as_str() {
                "handle" => {
                    if let Some(h) = self.string(v, &p, "handle") {
                        let h = h.trim().to_lowercase();
                        if h.is_empty() || h.contains(['@', '+', ' ']) {
                            self.problem(
                                &p,
                                format!(
                                    "`handle` must be a bare local part such as `crm`, found `{h}`"
                                ),
                            );
                        } else {
                            config.mailroom.handle = Some(h);
                        }
                    }
                }
                "domains" => {
                    config.mailroom.domains = self
                        .strings(v, &p, "domains")
                        .into_iter()
                        .map(|d| d.trim().to_lowercase())
                        .collect()
                }
                "own_addresses" => {
                    config.own_addresses = self
                        .strings(v, &p, "own_addresses")
                        .iter()
                        .map(|a| Pattern::new(a))
                        .collect()
                }
                "record_secret_file" => {
                    if let Some(file) = self.string(v, &p, "record_secret_file") {
                        // A relative name is beside the config file.
                        let dir = config.path.as_deref().and_then(Path::parent);
                        let file = match dir {
                            Some(d) if Path::new(&file).is_relative() => d.join(&file),
                            _ => PathBuf::from(&file),
                        };
                        config.mailroom.secret = self.secret(&file.display().to_string(), &p);
                    }
                }
                _ => {
                    config.mailroom.require_signed =
                        self.bool(v, &p, "require_signed").unwrap_or(false)
                }
            }
        }
        if config.mailroom.require_signed && config.mailroom.secret.is_none() {
            self.problem(
                &with(path, key("require_signed")),
                "`require_signed` needs `record_secret_file`",
            );
        }
    }

    /// The record secret: the bytes of a file only its owner should read
    /// (`head -c 32 /dev/urandom > record.key`), at least 16 of them.
    fn secret(&mut self, file: &str, path: &[Seg]) -> Option<Vec<u8>> {
        match std::fs::read(file) {
            Ok(bytes) if bytes.len() >= 16 => Some(bytes),
            Ok(bytes) => {
                self.problem(
                    path,
                    format!(
                        "`record_secret_file` `{file}` holds {} bytes; it needs 16 or more (head -c 32 /dev/urandom > {file})",
                        bytes.len()
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(
                    path,
                    format!("cannot read `record_secret_file` `{file}`: {e}"),
                );
                None
            }
        }
    }

    /// `confidential: { encrypt_to: [age1...] }`: the age recipients
    /// confidential content is sealed to.
    fn confidential(&mut self, v: &Value, path: &[Seg]) -> Option<Recipients> {
        let mut out = None;
        for (k, val) in self.map(v, path, "`confidential`", CONFIDENTIAL_KEYS) {
            let p = with(path, key(&k));
            let keys = self.strings(val, &p, "encrypt_to");
            match Recipients::parse(&keys) {
                Ok(r) => out = Some(r),
                Err(e) => self.problem(&p, e),
            }
        }
        out
    }

    /// `modules: [tickets, projects]`: names of record modules beyond the
    /// built-in ones, for `records add` and `import`.
    fn modules(&mut self, v: &Value, path: &[Seg]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, m) in self.strings(v, path, "modules").into_iter().enumerate() {
            let name = m.trim().to_lowercase();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                self.problem(
                    &with(path, Seg::Index(i)),
                    format!("`{m}` is not a module name (letters, digits, _)"),
                );
            } else {
                out.push(name);
            }
        }
        out
    }

    fn limits(&mut self, v: &Value, path: &[Seg], limits: &mut Limits) {
        for (k, v) in self.map(v, path, "`limits`", LIMITS_KEYS) {
            let p = with(path, key(&k));
            if k == "per_sender" {
                limits.per_sender = self.per_sender(v, &p);
                continue;
            }
            let size = scalar(v).as_deref().and_then(parse_size);
            match size {
                Some(n) if n > 0 => {
                    if k == "attachment_bytes" {
                        limits.attachment_bytes = n
                    } else {
                        limits.message_bytes = n
                    }
                }
                _ => self.problem(
                    &p,
                    format!("`{k}` must be a size such as `10MB` or `1048576`"),
                ),
            }
        }
    }

    /// `per_sender: { records: 20, per: 1h }`, or `none`.
    fn per_sender(&mut self, v: &Value, path: &[Seg]) -> Option<PerSender> {
        if scalar(v).is_some_and(|s| s == "none") {
            return None;
        }
        let mut limit = Limits::default().per_sender;
        for (k, val) in self.map(v, path, "`per_sender`", PER_SENDER_KEYS) {
            let p = with(path, key(&k));
            let text = scalar(val).unwrap_or_default();
            match (k.as_str(), limit.as_mut()) {
                ("records", Some(l)) => match text.trim().parse::<u64>() {
                    Ok(n) if n > 0 => l.records = n,
                    _ => self.problem(
                        &p,
                        "`records` must be a whole number above 0 (or `per_sender: none`)",
                    ),
                },
                (_, Some(l)) => match parse_duration(&text) {
                    Some(d) => l.per_seconds = d,
                    None => {
                        self.problem(&p, "`per` must be a duration such as `1h`, `30m` or `1d`")
                    }
                },
                (_, None) => {}
            }
        }
        limit
    }

    fn cases(&mut self, v: &Value, path: &[Seg], cases: &mut Cases) {
        let mut prefix = cases.prefix.clone();
        let mut pattern = None;
        let mut closed = cases.closed;
        let mut staff_reopens = cases.staff_reopens;
        for (k, v) in self.map(v, path, "`cases`", CASES_KEYS) {
            let p = with(path, key(&k));
            match k.as_str() {
                "number_prefix" => {
                    if let Some(s) = self.string(v, &p, "number_prefix") {
                        prefix = s;
                    }
                }
                "subject_pattern" => {
                    pattern = self.string(v, &p, "subject_pattern").map(|s| (s, p))
                }
                "staff_reopens" => {
                    staff_reopens = self.bool(v, &p, "staff_reopens").unwrap_or(false)
                }
                _ => match self.string(v, &p, "closed").as_deref() {
                    Some("reopen") => closed = ClosedPolicy::Reopen,
                    Some("new_case") => closed = ClosedPolicy::NewCase,
                    Some("link_only") => closed = ClosedPolicy::LinkOnly,
                    Some(other) => self.problem(
                        &p,
                        format!(
                            "unknown `closed` policy `{other}` {}",
                            expected(other, &["reopen", "new_case", "link_only"])
                        ),
                    ),
                    None => {}
                },
            }
        }
        let Some((pattern, p)) = pattern else {
            let mut builtin = Cases::builtin(&prefix);
            builtin.closed = closed;
            builtin.staff_reopens = staff_reopens;
            *cases = builtin;
            return;
        };
        match Cases::configured(&prefix, &pattern) {
            Ok(mut c) => {
                if c.regex().is_some_and(|r| r.captures_len() < 2) {
                    self.problem(
                        &p,
                        "`subject_pattern` needs a capture group for the case number",
                    );
                }
                c.closed = closed;
                c.staff_reopens = staff_reopens;
                *cases = c;
            }
            Err(e) => {
                self.problem(
                    &p,
                    format!("invalid `subject_pattern`: {}", one_line(&e.to_string())),
                );
            }
        }
    }

    fn rules(&mut self, v: &Value, path: &[Seg]) -> Vec<Rule> {
        let Value::Sequence(items) = v else {
            if !v.is_null() {
                self.problem(
                    path,
                    format!("`actions` must be a list of rules, found {}", type_name(v)),
                );
            }
            return Vec::new();
        };
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut rules = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = with(path, Seg::Index(i));
            if let Some(rule) = self.rule(item, &p, i) {
                if let Some(first) = names.get(&rule.name) {
                    self.problem(
                        &with(&p, key("name")),
                        format!(
                            "rule name `{}` is used twice (first at rule {})",
                            rule.name,
                            first + 1
                        ),
                    );
                }
                names.insert(rule.name.clone(), i);
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(&mut self, v: &Value, path: &[Seg], index: usize) -> Option<Rule> {
        let entries = self.map(v, path, "a rule", RULE_KEYS);
        let get = |k: &str| entries.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let (line, _) = locate_in(&self.lines, path);
        let name = match get("name") {
            Some(n) => self.string(n, &with(path, key("name")), "name"),
            None => {
                self.problem(path, format!("rule {} has no `name`", index + 1));
                None
            }
        };
        let label = name.clone().unwrap_or_else(|| format!("#{}", index + 1));
        let action = match get("do") {
            Some(a) => {
                let p = with(path, key("do"));
                let s = self.string(a, &p, "do");
                let action = s.as_deref().and_then(Action::parse);
                if action.is_none()
                    && let Some(s) = s
                {
                    let known: Vec<_> = Action::ALL.iter().map(|(n, _)| *n).collect();
                    self.problem(
                        &p,
                        format!(
                            "rule `{label}`: unknown action `{s}` {}",
                            expected(&s, &known)
                        ),
                    );
                }
                action
            }
            None => {
                self.problem(path, format!("rule `{label}` has no `do:` action"));
                None
            }
        };
        let when = get("when").and_then(|w| self.condition(w, &with(path, key("when")), &label));
        let module = match get("module") {
            Some(m) => self
                .string(m, &with(path, key("module")), "module")
                .map(|m| m.trim().to_lowercase()),
            None => None,
        };
        if action == Some(Action::CreateRecord) && module.as_deref().is_none_or(str::is_empty) {
            self.problem(
                path,
                format!("rule `{label}`: `create_record` needs `module:`"),
            );
        }
        if let (Some(a), Some(_)) = (action, &module)
            && a != Action::CreateRecord
        {
            self.problem(
                &with(path, key("module")),
                format!("rule `{label}`: `module:` only applies to `create_record`"),
            );
        }
        let mut set = BTreeMap::new();
        if let Some(s) = get("set") {
            let p = with(path, key("set"));
            for (k, v) in self.map(s, &p, "`set`", &[]) {
                match scalar(v) {
                    Some(val) => {
                        set.insert(k, val);
                    }
                    None => self.problem(
                        &with(&p, key(&k)),
                        format!("rule `{label}`: `set.{k}` must be a plain value"),
                    ),
                }
            }
        }
        let body_rule =
            get("body_rule").and_then(|b| self.body_rule(b, &with(path, key("body_rule")), &label));
        let flag = |cx: &mut Self, k: &str| {
            get(k)
                .and_then(|v| cx.bool(v, &with(path, key(k)), k))
                .unwrap_or(false)
        };
        let confidential = flag(self, "confidential");
        let create_contact = flag(self, "create_contact");
        Some(Rule {
            name: name?,
            when,
            action: action?,
            module,
            set,
            body_rule,
            confidential,
            create_contact,
            line,
        })
    }

    fn condition(&mut self, v: &Value, path: &[Seg], rule: &str) -> Option<Condition> {
        let mut known: Vec<&str> = GROUP_KEYS.to_vec();
        known.extend_from_slice(Field::NAMES);
        let empty = matches!(v, Value::Mapping(m) if m.is_empty()) || v.is_null();
        let errors_before = self.problems.len();
        let entries = self.map(v, path, &format!("the condition of rule `{rule}`"), &known);
        if self.problems.len() > errors_before {
            return None;
        }
        if empty || entries.is_empty() {
            self.problem(
                path,
                format!("rule `{rule}`: empty condition (leave out `when:` to match every mail)"),
            );
            return None;
        }
        let mut all = Vec::new();
        let mut ok = true;
        for (k, val) in entries {
            let p = with(path, key(&k));
            let c = match k.as_str() {
                "all" | "any" => self.condition_list(val, &p, rule).map(|list| {
                    if k == "all" {
                        Condition::All(list)
                    } else {
                        Condition::Any(list)
                    }
                }),
                "not" => self
                    .condition(val, &p, rule)
                    .map(|c| Condition::Not(Box::new(c))),
                field => self.test(field, val, &p, rule),
            };
            match c {
                Some(c) => all.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        if all.len() == 1 {
            all.pop()
        } else {
            Some(Condition::All(all))
        }
    }

    fn condition_list(&mut self, v: &Value, path: &[Seg], rule: &str) -> Option<Vec<Condition>> {
        let Value::Sequence(items) = v else {
            self.problem(
                path,
                format!(
                    "rule `{rule}`: `all:`/`any:` take a list of conditions, found {}",
                    type_name(v)
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.problem(path, format!("rule `{rule}`: empty condition list"));
            return None;
        }
        let list: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.condition(item, &with(path, Seg::Index(i)), rule))
            .collect();
        list.into_iter().collect()
    }

    fn test(&mut self, field: &str, v: &Value, path: &[Seg], rule: &str) -> Option<Condition> {
        // `subject: foo` is short for `subject: { equals: foo }`.
        if let Some(s) = scalar(v).filter(|_| field != "header") {
            let op = Op::Equals(s.to_lowercase());
            if field == "class" && !self.classes(&op, path, rule) {
                return None;
            }
            return Some(Condition::Test {
                field: parse_field(field, None)?,
                op,
                case_sensitive: false,
            });
        }
        let mut known: Vec<&str> = Op::NAMES.to_vec();
        known.extend_from_slice(OPTION_KEYS);
        if field == "header" {
            known.extend_from_slice(HEADER_KEYS);
        }
        let entries = self.map(v, path, &format!("`{field}` in rule `{rule}`"), &known);
        let get = |k: &str| entries.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let case_sensitive = get("case_sensitive")
            .and_then(|c| self.bool(c, &with(path, key("case_sensitive")), "case_sensitive"))
            .unwrap_or(false);
        let header = match (field, get("name")) {
            ("header", Some(n)) => Some(self.string(n, &with(path, key("name")), "name")?),
            ("header", None) => {
                self.problem(path, format!("rule `{rule}`: `header` needs `name:`"));
                return None;
            }
            _ => None,
        };
        let ops: Vec<_> = entries
            .iter()
            .filter(|(k, _)| Op::NAMES.contains(&k.as_str()))
            .collect();
        let [(op_name, op_value)] = ops.as_slice() else {
            self.problem(
                path,
                format!(
                    "rule `{rule}`: `{field}` needs exactly one operator ({})",
                    Op::NAMES.join(", ")
                ),
            );
            return None;
        };
        let p = with(path, key(op_name));
        let fold = |s: String| if case_sensitive { s } else { s.to_lowercase() };
        let op = match op_name.as_str() {
            "equals" => Op::Equals(fold(self.string(op_value, &p, op_name)?)),
            "contains" => Op::Contains(fold(self.string(op_value, &p, op_name)?)),
            "starts_with" => Op::StartsWith(fold(self.string(op_value, &p, op_name)?)),
            "ends_with" => Op::EndsWith(fold(self.string(op_value, &p, op_name)?)),
            "domain" => {
                let written = self.string(op_value, &p, op_name)?;
                let domain = written.trim().to_lowercase();
                match domain.strip_prefix('@') {
                    _ if domain.trim_start_matches('@').contains('@') => {
                        self.problem(
                            &p,
                            format!(
                                "rule `{rule}`: `domain` takes a domain such as `example.com`, not an address (`{written}`); use `equals` for one address"
                            ),
                        );
                        return None;
                    }
                    Some(bare) => {
                        self.warn(
                            &p,
                            format!("rule `{rule}`: `domain` is written without `@`: `{bare}`"),
                        );
                        Op::Domain(bare.to_string())
                    }
                    None => Op::Domain(domain),
                }
            }
            "in" => {
                let Value::Sequence(_) = op_value else {
                    self.problem(&p, format!("rule `{rule}`: `in` takes a list"));
                    return None;
                };
                Op::In(
                    self.strings(op_value, &p, "in")
                        .into_iter()
                        .map(fold)
                        .collect(),
                )
            }
            "exists" => Op::Exists(self.bool(op_value, &p, "exists")?),
            _ => {
                let pattern = self.string(op_value, &p, "regex")?;
                match RegexBuilder::new(&pattern)
                    .case_insensitive(!case_sensitive)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(re) => Op::Regex(re),
                    Err(e) => {
                        let quoting = if pattern.contains('\\') {
                            "; in YAML write it in single quotes ('\\d+'), or double each backslash in double quotes (\"\\\\d+\")"
                        } else {
                            ""
                        };
                        self.problem_at_value(
                            &p,
                            format!(
                                "rule `{rule}`: invalid regex: {}{quoting}",
                                one_line(&e.to_string())
                            ),
                        );
                        return None;
                    }
                }
            }
        };
        if field == "class" && !self.classes(&op, &p, rule) {
            return None;
        }
        Some(Condition::Test {
            field: parse_field(field, header)?,
            op,
            case_sensitive,
        })
    }

    /// A `class:` test names classes that exist, by `equals` or `in`: a
    /// misspelt class never matches, which would let auto-replies create
    /// records (the mail-loop risk the class guard exists for).
    fn classes(&mut self, op: &Op, path: &[Seg], rule: &str) -> bool {
        let names: Vec<&str> = match op {
            Op::Equals(v) => vec![v.as_str()],
            Op::In(vs) => vs.iter().map(String::as_str).collect(),
            _ => {
                self.problem(
                    path,
                    format!("rule `{rule}`: `class` is tested with `equals` or `in`"),
                );
                return false;
            }
        };
        let mut ok = true;
        for name in names {
            if !CLASSES.contains(&name) {
                self.problem(
                    path,
                    format!(
                        "rule `{rule}`: unknown class `{name}` {}",
                        expected(name, CLASSES)
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    fn body_rule(&mut self, v: &Value, path: &[Seg], rule: &str) -> Option<BodyRule> {
        let entries = self.map(
            v,
            path,
            &format!("`body_rule` of rule `{rule}`"),
            BODY_RULE_KEYS,
        );
        let mut br = BodyRule {
            delimiter: ":".into(),
            fields: Vec::new(),
            always_create: false,
        };
        for (k, val) in entries {
            let p = with(path, key(&k));
            match k.as_str() {
                "delimiter" => match self.string(val, &p, "delimiter") {
                    Some(d) if !d.is_empty() && !d.contains('\n') => br.delimiter = d,
                    Some(_) => self.problem(
                        &p,
                        format!(
                            "rule `{rule}`: `delimiter` must be one or more characters on one line"
                        ),
                    ),
                    None => {}
                },
                "always_create" => {
                    br.always_create = self.bool(val, &p, "always_create").unwrap_or(false)
                }
                _ => {
                    for (label, spec) in self.map(val, &p, "`fields`", &[]) {
                        let lp = with(&p, key(&label));
                        if let Some(mut f) = self.body_field(spec, &lp, rule) {
                            f.label = label.clone();
                            br.fields.push((normalize_label(&label), f));
                        }
                    }
                }
            }
        }
        if br.fields.is_empty() {
            self.problem(
                path,
                format!("rule `{rule}`: `body_rule` needs at least one entry in `fields`"),
            );
        }
        Some(br)
    }

    fn body_field(&mut self, v: &Value, path: &[Seg], rule: &str) -> Option<BodyField> {
        if let Some(field) = scalar(v) {
            return Some(BodyField {
                label: String::new(),
                field,
                kind: FieldType::Text,
                lookup: None,
            });
        }
        let entries = self.map(
            v,
            path,
            &format!("a body-rule field of rule `{rule}`"),
            BODY_FIELD_KEYS,
        );
        let get = |k: &str| entries.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let text =
            |cx: &mut Self, k: &str| get(k).and_then(|v| cx.string(v, &with(path, key(k)), k));
        let Some(field) = text(self, "field") else {
            self.problem(
                path,
                format!("rule `{rule}`: a body-rule field given as a map needs `field:`"),
            );
            return None;
        };
        let kind = match text(self, "type") {
            None => FieldType::Text,
            Some(t) => match parse_field_type(&t) {
                Some(kind) => kind,
                None => {
                    self.problem(
                        &with(path, key("type")),
                        format!(
                            "rule `{rule}`: unknown field type `{t}` {}",
                            expected(&t, &["text", "email", "phone", "number", "date"])
                        ),
                    );
                    FieldType::Text
                }
            },
        };
        let lookup = match text(self, "module") {
            Some(module) => {
                let on_missing = match text(self, "on_missing").as_deref() {
                    None | Some("create") => OnMissing::Create,
                    Some("skip") => OnMissing::Skip,
                    Some("error") => OnMissing::Error,
                    Some(other) => {
                        self.problem(
                            &with(path, key("on_missing")),
                            format!(
                                "rule `{rule}`: unknown `on_missing` policy `{other}` {}",
                                expected(other, &["create", "skip", "error"])
                            ),
                        );
                        OnMissing::Create
                    }
                };
                let on_multiple = match text(self, "on_multiple").as_deref() {
                    None | Some("first") => OnMultiple::First,
                    Some("error") => OnMultiple::Error,
                    Some(other) => {
                        self.problem(
                            &with(path, key("on_multiple")),
                            format!(
                                "rule `{rule}`: unknown `on_multiple` policy `{other}` {}",
                                expected(other, &["first", "error"])
                            ),
                        );
                        OnMultiple::First
                    }
                };
                Some(Lookup {
                    module: module.trim().to_lowercase(),
                    match_on: text(self, "match_on").unwrap_or_else(|| "name".into()),
                    on_missing,
                    on_multiple,
                })
            }
            None => {
                for k in ["match_on", "on_missing", "on_multiple"] {
                    if get(k).is_some() {
                        self.problem(&with(path, key(k)), format!("rule `{rule}`: `{k}` only applies to a lookup field (one with `module:`)"));
                    }
                }
                None
            }
        };
        Some(BodyField {
            label: String::new(),
            field,
            kind,
            lookup,
        })
    }

    /// Warns about rules an earlier rule always pre-empts: one after a rule
    /// without condition, or with the same condition as an earlier one.
    fn shadowed(&mut self, rules: &[Rule]) {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        let mut catch_all: Option<&str> = None;
        for (i, rule) in rules.iter().enumerate() {
            let p = [key("actions"), Seg::Index(i)];
            if let Some(earlier) = catch_all {
                self.warn(&p, format!("rule `{}` can never match: rule `{earlier}` before it has no condition and matches every mail", rule.name));
                continue;
            }
            match &rule.when {
                None => catch_all = Some(&rule.name),
                Some(c) => {
                    let canon = c.canonical();
                    if let Some(earlier) = seen.get(&canon) {
                        self.warn(&p, format!("rule `{}` can never match: rule `{earlier}` before it has the same condition", rule.name));
                    } else {
                        seen.insert(canon, &rule.name);
                    }
                }
            }
        }
    }
}

/// `(expected one of: a, b; did you mean `b`?)` for a value not among
/// `choices`.
fn expected(value: &str, choices: &[&str]) -> String {
    let nearest = choices
        .iter()
        .map(|c| (strsim::levenshtein(c, &value.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    format!("(expected one of: {}{nearest})", choices.join(", "))
}

/// The class names a `class:` condition can test.
const CLASSES: &[&str] = Class::NAMES;

fn parse_field(name: &str, header: Option<String>) -> Option<Field> {
    Some(match name {
        "from" => Field::From,
        "to" => Field::To,
        "cc" => Field::Cc,
        "recipient" => Field::Recipient,
        "suffix" => Field::Suffix,
        "subject" => Field::Subject,
        "body" => Field::Body,
        "header" => Field::Header(header?),
        "attachment" => Field::Attachment,
        "class" => Field::Class,
        _ => return None,
    })
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Loaded, ConfigError> {
        Config::parse(Path::new("rules.yaml"), src)
    }

    #[test]
    fn loads_a_full_config() {
        let src = "mailroom:\n  handle: crm\n  domains: [example.com]\n  own_addresses: [\"*@example.com\"]\nlimits:\n  message_bytes: 1MB\nactions:\n  - name: support\n    when:\n      any:\n        - recipient: { contains: \"support@\" }\n        - suffix: case\n    do: create_case\n    set: { priority: normal }\n";
        let l = parse(src).expect("valid");
        assert_eq!(l.config.rules.len(), 1);
        assert_eq!(l.config.rules[0].line, 8);
        assert_eq!(l.config.limits.message_bytes, 1 << 20);
        assert_eq!(l.config.mailroom.handle.as_deref(), Some("crm"));
        assert!(!l.config.default_rules);
    }

    #[test]
    fn enumerated_values_are_checked_with_a_suggestion_in_file_order() {
        let src = "actions:\n  - name: a\n    when: { class: lists }\n    do: create_case\n  - name: b\n    when: { not: { class: { in: [human, autoreply] } } }\n    do: create_cas\n  - name: c\n    when: { from: { domain: ann@x.example } }\n    do: archive\n  - name: d\n    when: { class: { contains: auto } }\n    do: archive\ncases: { closed: reopn }\n";
        let e = parse(src).expect_err("invalid");
        let lines: Vec<usize> = e.problems.iter().map(|p| p.line).collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        assert_eq!(lines, sorted, "in file order: {}", e.render());
        let text = e.render();
        for want in [
            "unknown class `lists` (expected one of: human, auto_reply, bounce, list; did you mean `list`?)",
            "unknown class `autoreply`",
            "did you mean `auto_reply`?",
            "unknown action `create_cas`",
            "did you mean `create_case`?",
            "`domain` takes a domain such as `example.com`, not an address",
            "`class` is tested with `equals` or `in`",
            "unknown `closed` policy `reopn`",
            "did you mean `reopen`?",
        ] {
            assert!(text.contains(want), "`{want}` in:\n{text}");
        }
        // A leading @ is a fix-it warning; the rule still matches.
        let l = parse("actions:\n  - name: a\n    when: { from: { domain: \"@x.example\" } }\n    do: archive\n")
            .expect("a warning only");
        assert!(
            l.warnings[0].message.contains("without `@`: `x.example`"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn reports_every_problem_with_its_position() {
        let src = "mailroom:\n  handel: crm\nactions:\n  - name: a\n    do: create_thing\n  - name: b\n    when: { subject: { regex: \"(\" } }\n    do: skip\n";
        let e = parse(src).expect_err("invalid");
        let got: Vec<_> = e.problems.iter().map(|p| (p.line, p.column)).collect();
        // The regex's problem is at the regex (column 31), not its key.
        assert_eq!(got, vec![(2, 3), (5, 5), (7, 31)], "{}", e.render());
        assert!(
            e.render()
                .contains("rules.yaml:5:5: rule `a`: unknown action `create_thing`")
        );
    }

    #[test]
    fn yaml_syntax_errors_have_positions() {
        let e = parse("actions:\n  - name: a\n   do: [\n").expect_err("invalid");
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].line >= 2, "{:?}", e.problems);
    }

    #[test]
    fn warns_about_shadowed_rules() {
        let src = "actions:\n  - name: a\n    when: { suffix: case }\n    do: create_case\n  - name: b\n    when: { suffix: case }\n    do: archive\n  - name: all\n    do: archive\n  - name: never\n    when: { suffix: lead }\n    do: create_lead\n";
        let l = parse(src).expect("valid with warnings");
        let msgs: Vec<_> = l
            .warnings
            .iter()
            .map(|w| (w.line, w.message.clone()))
            .collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[0].0, 5);
        assert!(msgs[1].1.contains("`never`"));
    }
}
