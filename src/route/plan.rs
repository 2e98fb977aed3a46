//! The [`Plan`]: what routing decided for one message, before anything is
//! written. `apply` executes it; `explain` and `--dry-run` print it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::condition::Trace;

/// A record the plan refers to: one that exists, or the n-th it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Existing(i64),
    New(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRecord {
    pub module: String,
    /// Primary email, normalised.
    pub email: Option<String>,
    pub fields: BTreeMap<String, String>,
}

/// How the mail relates to a record it is linked to, as reported in the
/// JSON result's `records[].op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Created,
    Linked,
    /// A follow-up: linked and the record's last activity bumped.
    Updated,
    /// A follow-up to a closed record, which is opened again.
    Reopened,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Linked => "linked",
            Op::Updated => "updated",
            Op::Reopened => "reopened",
        }
    }
}

/// A record created or touched by applying a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Link {
    pub target: Target,
    pub op: Op,
}

/// A link between two records (`contact` of a case, `related` case, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    pub from: Target,
    pub to: Target,
    pub kind: String,
}

/// Which evidence found the record a mail follows up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The per-record mailbox address (`crm+345@`).
    Address,
    /// In-Reply-To or References name mail of the record.
    References,
    /// Mail of the record names this mail in its references: a reply filed
    /// before the mail it answers.
    ReferencedBy,
    /// This mail and mail of the record both name an ancestor no stored
    /// mail is: replies to a mail mailroom never saw.
    SharedReference,
    /// A case number in the subject.
    Subject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thread {
    pub record_id: i64,
    pub evidence: Evidence,
}

/// processed: something was linked or created; skipped: nothing was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Processed,
    Skipped,
}

/// One rule as routing saw it, for `explain`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub line: usize,
    pub matched: bool,
    /// `None` for a rule without condition (matches every mail).
    pub condition: Option<Trace>,
}

/// What a bounce said, stored with the mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceInfo {
    pub recipient: Option<String>,
    pub status: Option<String>,
}

/// A forwarding-confirmation code and link found in the mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationInfo {
    pub code: Option<String>,
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub outcome: Outcome,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub class: String,
    /// Why the mail was skipped or handled other than its rule says.
    pub reason: Option<String>,
    pub thread: Option<Thread>,
    pub creates: Vec<NewRecord>,
    pub links: Vec<Link>,
    pub relations: Vec<Relation>,
    /// Records whose status goes back to `open`.
    pub reopen: Vec<i64>,
    /// Records to flag: the field is set to `true` (e.g. `email_bounced`).
    pub flags: Vec<(i64, String)>,
    pub bounce: Option<BounceInfo>,
    pub verification: Option<VerificationInfo>,
    pub confidential: bool,
    pub warnings: Vec<String>,
    /// Every rule tried, in order; evaluation stopped at the last one.
    pub trace: Vec<RuleTrace>,
    /// Thread evidence looked for, in order, and what each found.
    pub thread_search: Vec<String>,
    /// Other records the mail shows to be the same conversation as
    /// `thread` (it answers one and is answered by the other): related to
    /// it, not merged.
    pub joined: Vec<Thread>,
}

impl Plan {
    pub fn new(class: &str) -> Plan {
        Plan {
            outcome: Outcome::Skipped,
            rule: None,
            action: None,
            class: class.to_string(),
            reason: None,
            thread: None,
            creates: Vec::new(),
            links: Vec::new(),
            relations: Vec::new(),
            reopen: Vec::new(),
            flags: Vec::new(),
            bounce: None,
            verification: None,
            confidential: false,
            warnings: Vec::new(),
            trace: Vec::new(),
            thread_search: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// Adds a record to create and links the mail to it.
    pub fn create(&mut self, record: NewRecord) -> Target {
        self.creates.push(record);
        let t = Target::New(self.creates.len() - 1);
        self.link(t, Op::Created);
        t
    }

    /// Links the mail to a record once; a stronger op replaces a weaker one.
    pub fn link(&mut self, target: Target, op: Op) {
        self.outcome = Outcome::Processed;
        match self.links.iter_mut().find(|l| l.target == target) {
            Some(l) if l.op == Op::Linked => l.op = op,
            Some(_) => {}
            None => self.links.push(Link { target, op }),
        }
    }

    pub fn relate(&mut self, from: Target, to: Target, kind: &str) {
        let r = Relation {
            from,
            to,
            kind: kind.to_string(),
        };
        if !self.relations.contains(&r) {
            self.relations.push(r);
        }
    }

    pub fn skip(&mut self, reason: impl Into<String>) {
        self.outcome = Outcome::Skipped;
        self.reason = Some(reason.into());
    }
}
