//! Rule conditions: the compiled `when:` tree and its pure evaluation
//! against the [`Facts`] of one message, with a trace for `explain`.

use regex::Regex;
use serde::Serialize;

/// A message property a condition can test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    From,
    To,
    Cc,
    Recipient,
    Suffix,
    Subject,
    Body,
    Header(String),
    Attachment,
    Class,
}

impl Field {
    pub const NAMES: &'static [&'static str] = &[
        "from",
        "to",
        "cc",
        "recipient",
        "suffix",
        "subject",
        "body",
        "header",
        "attachment",
        "class",
    ];

    pub fn name(&self) -> String {
        match self {
            Field::From => "from".into(),
            Field::To => "to".into(),
            Field::Cc => "cc".into(),
            Field::Recipient => "recipient".into(),
            Field::Suffix => "suffix".into(),
            Field::Subject => "subject".into(),
            Field::Body => "body".into(),
            Field::Header(h) => format!("header {h}"),
            Field::Attachment => "attachment".into(),
            Field::Class => "class".into(),
        }
    }
}

/// A comparison. Text operands are stored lower-case unless the test is
/// case-sensitive; regexes carry their own case flag.
#[derive(Debug, Clone)]
pub enum Op {
    Equals(String),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Regex(Regex),
    In(Vec<String>),
    Domain(String),
    Exists(bool),
}

impl Op {
    pub const NAMES: &'static [&'static str] = &[
        "equals",
        "contains",
        "starts_with",
        "ends_with",
        "regex",
        "in",
        "domain",
        "exists",
    ];

    fn describe(&self) -> String {
        match self {
            Op::Equals(s) => format!("equals {s:?}"),
            Op::Contains(s) => format!("contains {s:?}"),
            Op::StartsWith(s) => format!("starts_with {s:?}"),
            Op::EndsWith(s) => format!("ends_with {s:?}"),
            Op::Regex(r) => format!("regex {:?}", r.as_str()),
            Op::In(list) => format!("in {list:?}"),
            Op::Domain(d) => format!("domain {d:?}"),
            Op::Exists(e) => format!("exists {e}"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        field: Field,
        op: Op,
        case_sensitive: bool,
    },
}

/// The values of each field for one message, computed once. Addresses are
/// normalised; the envelope recipient comes first in `recipient`.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub recipient: Vec<String>,
    pub suffix: Vec<String>,
    pub subject: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<String>,
    pub class: String,
}

impl Facts {
    fn values(&self, field: &Field) -> Vec<&str> {
        fn all(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        match field {
            Field::From => all(&self.from),
            Field::To => all(&self.to),
            Field::Cc => all(&self.cc),
            Field::Recipient => all(&self.recipient),
            Field::Suffix => all(&self.suffix),
            Field::Subject => vec![self.subject.as_str()],
            Field::Body => vec![self.body.as_str()],
            Field::Header(name) => self
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect(),
            Field::Attachment => all(&self.attachments),
            Field::Class => vec![self.class.as_str()],
        }
    }
}

/// What one condition evaluated to, for `explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub condition: String,
    /// The message's values for a test (shortened), empty for all/any/not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    pub result: bool,
    /// Sub-conditions evaluated before the outcome was settled; the rest
    /// were not evaluated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Trace>,
}

impl Condition {
    pub fn eval(&self, facts: &Facts) -> bool {
        match self {
            Condition::All(c) => c.iter().all(|c| c.eval(facts)),
            Condition::Any(c) => c.iter().any(|c| c.eval(facts)),
            Condition::Not(c) => !c.eval(facts),
            Condition::Test {
                field,
                op,
                case_sensitive,
            } => test(&facts.values(field), op, *case_sensitive),
        }
    }

    /// Like [`Condition::eval`], recording each step.
    pub fn trace(&self, facts: &Facts) -> Trace {
        match self {
            Condition::All(c) | Condition::Any(c) => {
                let is_all = matches!(self, Condition::All(_));
                let mut children = Vec::new();
                for cond in c {
                    let t = cond.trace(facts);
                    let decisive = t.result != is_all;
                    children.push(t);
                    if decisive {
                        break;
                    }
                }
                let result = if is_all {
                    children.iter().all(|t| t.result)
                } else {
                    children.iter().any(|t| t.result)
                };
                Trace {
                    condition: if is_all { "all" } else { "any" }.into(),
                    values: Vec::new(),
                    result,
                    children,
                }
            }
            Condition::Not(c) => {
                let t = c.trace(facts);
                Trace {
                    condition: "not".into(),
                    values: Vec::new(),
                    result: !t.result,
                    children: vec![t],
                }
            }
            Condition::Test {
                field,
                op,
                case_sensitive,
            } => {
                let values = facts.values(field);
                Trace {
                    condition: format!(
                        "{} {}{}",
                        field.name(),
                        op.describe(),
                        if *case_sensitive {
                            " (case-sensitive)"
                        } else {
                            ""
                        }
                    ),
                    result: test(&values, op, *case_sensitive),
                    values: values.iter().map(|v| shorten(v)).collect(),
                    children: Vec::new(),
                }
            }
        }
    }

    /// A canonical text form, used to spot rules shadowed by an earlier
    /// rule with the same condition.
    pub fn canonical(&self) -> String {
        match self {
            Condition::All(c) => format!(
                "all({})",
                c.iter()
                    .map(Condition::canonical)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Condition::Any(c) => format!(
                "any({})",
                c.iter()
                    .map(Condition::canonical)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Condition::Not(c) => format!("not({})", c.canonical()),
            Condition::Test {
                field,
                op,
                case_sensitive,
            } => format!("{}:{}:{case_sensitive}", field.name(), op.describe()),
        }
    }
}

fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    match v.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &v[..i]),
        None => v.to_string(),
    }
}

fn test(values: &[&str], op: &Op, case_sensitive: bool) -> bool {
    if let Op::Exists(want) = op {
        return values.iter().any(|v| !v.trim().is_empty()) == *want;
    }
    values.iter().any(|v| {
        let folded;
        let v: &str = if case_sensitive || matches!(op, Op::Regex(_)) {
            v
        } else {
            folded = v.to_lowercase();
            &folded
        };
        match op {
            Op::Equals(s) => v.trim() == s,
            Op::Contains(s) => v.contains(s.as_str()),
            Op::StartsWith(s) => v.trim_start().starts_with(s.as_str()),
            Op::EndsWith(s) => v.trim_end().ends_with(s.as_str()),
            Op::Regex(r) => r.is_match(v),
            Op::In(list) => list.iter().any(|s| v.trim() == s),
            Op::Domain(d) => v
                .rsplit_once('@')
                .is_some_and(|(_, dom)| dom.eq_ignore_ascii_case(d)),
            Op::Exists(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(field: Field, op: Op) -> Condition {
        Condition::Test {
            field,
            op,
            case_sensitive: false,
        }
    }

    fn facts() -> Facts {
        Facts {
            from: vec!["ann@customer.org".into()],
            to: vec!["crm+case@example.com".into()],
            recipient: vec!["crm+case@example.com".into()],
            suffix: vec!["case".into()],
            subject: "Printer BROKEN again".into(),
            headers: vec![("X-Priority".into(), "1".into())],
            class: "human".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn operators() {
        let f = facts();
        assert!(t(Field::From, Op::Equals("ann@customer.org".into())).eval(&f));
        assert!(t(Field::Subject, Op::Contains("broken".into())).eval(&f));
        assert!(t(Field::Subject, Op::StartsWith("printer".into())).eval(&f));
        assert!(t(Field::Subject, Op::EndsWith("again".into())).eval(&f));
        let re = regex::RegexBuilder::new("broken")
            .case_insensitive(true)
            .build()
            .expect("valid");
        assert!(t(Field::Subject, Op::Regex(re)).eval(&f));
        assert!(t(Field::Suffix, Op::In(vec!["lead".into(), "case".into()])).eval(&f));
        assert!(t(Field::From, Op::Domain("Customer.org".into())).eval(&f));
        assert!(t(Field::Header("x-priority".into()), Op::Exists(true)).eval(&f));
        assert!(t(Field::Cc, Op::Exists(false)).eval(&f));
        assert!(!t(Field::From, Op::Domain("org".into())).eval(&f));
    }

    #[test]
    fn case_sensitive_tests_do_not_fold() {
        let f = facts();
        let c = Condition::Test {
            field: Field::Subject,
            op: Op::Contains("broken".into()),
            case_sensitive: true,
        };
        assert!(!c.eval(&f));
    }

    #[test]
    fn nesting_and_trace_stop_at_the_decisive_child() {
        let f = facts();
        let c = Condition::Any(vec![
            t(Field::Suffix, Op::Equals("case".into())),
            t(Field::Subject, Op::Contains("never evaluated".into())),
        ]);
        let tr = c.trace(&f);
        assert!(tr.result);
        assert_eq!(tr.children.len(), 1);
        let n = Condition::Not(Box::new(c));
        assert!(!n.eval(&f));
        let all = Condition::All(vec![
            t(Field::Class, Op::Equals("human".into())),
            t(Field::From, Op::Equals("nobody@x".into())),
        ]);
        assert!(!all.eval(&f));
        assert_eq!(all.trace(&f).children.len(), 2);
    }
}
