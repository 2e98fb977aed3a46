//! Report: the JSON result printed for each message (schema 1).
//!
//! May import `route` and `store`.
//!
//! Fields, all always present:
//!
//! - `schema` (number): 1.
//! - `status`: `processed` | `skipped` | `duplicate` | `unparsed` | `failed`.
//! - `email_id` (number|null): the stored mail; null in a dry run or when
//!   nothing was stored.
//! - `message_id` (string|null): the Message-ID with angle brackets.
//! - `rule` (string|null), `action` (string|null): the first matching rule.
//! - `class`: `human` | `auto_reply` | `bounce` | `list`, null if unparsed.
//! - `reason` (string|null): why a mail was skipped, handled other than its
//!   rule says, or failed.
//! - `thread` ({record_id, evidence, related}|null): the record a
//!   follow-up was filed to and the evidence (`address`, `references`,
//!   `referenced_by`, `shared_reference`, `subject`); `related` lists other
//!   records the mail shows to be the same conversation
//!   ([{record_id, evidence}]), now related to it.
//! - `records` ([{id, module, number, op}]): records created or linked;
//!   `op` is `created`, `linked`, `updated` or `reopened`; `id` is null for
//!   a record a dry run would create.
//! - `attachments` ([{name, content_type, size, stored, reason}]).
//! - `bounce` ({recipient, status}|null): what a delivery-status
//!   notification said.
//! - `verification` ({code, link}|null): a forwarding-confirmation code
//!   and link.
//! - `warnings` ([string]).
//! - `dry_run` (bool).

use serde::{Deserialize, Serialize};

use crate::route::plan::{Applied, BounceInfo, Evidence, Op, Plan, Target, VerificationInfo};
use crate::store::StoredAttachment;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Processed,
    Skipped,
    Duplicate,
    Unparsed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadJson {
    pub record_id: i64,
    pub evidence: Evidence,
    /// Other records the mail shows to be the same conversation, now
    /// related to this one.
    pub related: Vec<RelatedJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelatedJson {
    pub record_id: i64,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordJson {
    pub id: Option<i64>,
    pub module: String,
    pub number: Option<String>,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentJson {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub stored: bool,
    pub reason: Option<String>,
}

impl From<&StoredAttachment> for AttachmentJson {
    fn from(a: &StoredAttachment) -> Self {
        AttachmentJson {
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            stored: a.stored,
            reason: a.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema: u32,
    pub status: Status,
    pub email_id: Option<i64>,
    pub message_id: Option<String>,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub class: Option<String>,
    pub reason: Option<String>,
    pub thread: Option<ThreadJson>,
    pub records: Vec<RecordJson>,
    pub attachments: Vec<AttachmentJson>,
    pub bounce: Option<BounceInfo>,
    pub verification: Option<VerificationInfo>,
    pub warnings: Vec<String>,
    pub dry_run: bool,
}

impl Report {
    pub fn empty(status: Status) -> Report {
        Report {
            schema: SCHEMA,
            status,
            email_id: None,
            message_id: None,
            rule: None,
            action: None,
            class: None,
            reason: None,
            thread: None,
            records: Vec::new(),
            attachments: Vec::new(),
            bounce: None,
            verification: None,
            warnings: Vec::new(),
            dry_run: false,
        }
    }

    /// The report for a routed message; `applied` is what the store did,
    /// `None` in a dry run (records then come from the plan).
    pub fn from_plan(
        plan: &Plan,
        applied: Option<&[Applied]>,
        describe: &dyn Fn(i64) -> (String, Option<String>),
    ) -> Report {
        let status = match plan.outcome {
            crate::route::plan::Outcome::Processed => Status::Processed,
            crate::route::plan::Outcome::Skipped => Status::Skipped,
        };
        let records = match applied {
            Some(applied) => applied
                .iter()
                .map(|a| RecordJson {
                    id: Some(a.id),
                    module: a.module.clone(),
                    number: a.number.clone(),
                    op: a.op,
                })
                .collect(),
            None => plan
                .links
                .iter()
                .map(|l| match l.target {
                    Target::Existing(id) => {
                        let (module, number) = describe(id);
                        RecordJson {
                            id: Some(id),
                            module,
                            number,
                            op: l.op,
                        }
                    }
                    Target::New(i) => RecordJson {
                        id: None,
                        module: plan
                            .creates
                            .get(i)
                            .map(|c| c.module.clone())
                            .unwrap_or_default(),
                        number: None,
                        op: l.op,
                    },
                })
                .collect(),
        };
        Report {
            status,
            rule: plan.rule.clone(),
            action: plan.action.clone(),
            class: Some(plan.class.clone()),
            reason: plan.reason.clone(),
            thread: plan.thread.map(|t| ThreadJson {
                record_id: t.record_id,
                evidence: t.evidence,
                related: plan
                    .joined
                    .iter()
                    .map(|j| RelatedJson {
                        record_id: j.record_id,
                        evidence: j.evidence,
                    })
                    .collect(),
            }),
            records,
            bounce: plan.bounce.clone(),
            verification: plan.verification.clone(),
            warnings: plan.warnings.clone(),
            dry_run: applied.is_none(),
            ..Report::empty(status)
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!("{{\"schema\":1,\"status\":\"failed\",\"reason\":\"{e}\"}}")
        })
    }

    pub fn from_json(json: &str) -> Option<Report> {
        serde_json::from_str(json).ok()
    }
}
