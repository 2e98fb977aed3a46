//! Moving a store to another location, of either backend (`mailroom
//! migrate-store FROM TO`): every record, number, sequence, mail (its raw
//! bytes, references and attachments), link and relation, with the ids
//! they have, and the highest ids given out so far, so that a deleted
//! record's id is not given out again in the new place either.
//!
//! The source is read one mail at a time, so a large store is moved in
//! the memory of its largest message; the target is written in one
//! transaction, so a failed move leaves it as it was.

use serde::Serialize;

use super::{Reader, RecordFilter, Result, Tx};

/// One mail as stored, every column, with its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCopy {
    pub id: i64,
    pub dedupe_key: String,
    pub message_id: Option<String>,
    pub sha256: String,
    pub received_at: String,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub status: String,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub class: Option<String>,
    pub confidential: bool,
    pub envelope_recipient: Option<String>,
    pub bounce: Option<String>,
    pub verification: Option<String>,
    pub result: String,
    pub sealed: bool,
    pub raw: Vec<u8>,
}

/// An attachment row, every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentCopy {
    pub position: i64,
    pub attachment: super::StoredAttachment,
    pub sha256: Option<String>,
}

/// What was moved, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub records: u64,
    pub sequences: u64,
    pub emails: u64,
    pub raw_bytes: u64,
    pub references: u64,
    pub attachments: u64,
    pub email_links: u64,
    pub record_links: u64,
    /// The highest record id given out (the next record gets a higher
    /// one).
    pub highest_record_id: i64,
    pub highest_email_id: i64,
}

/// Copies everything `from` holds into `to`, which must hold nothing;
/// nothing is committed.
pub fn copy(from: &dyn Reader, to: &dyn Tx) -> Result<Copied> {
    let mut moved = Copied::default();
    for record in from.records(&RecordFilter::default())? {
        to.import_record(&record)?;
        moved.records += 1;
    }
    for (module, last) in from.sequences()? {
        to.import_sequence(&module, last)?;
        moved.sequences += 1;
    }
    for id in from.email_ids()? {
        let Some(email) = from.email_copy(id)? else {
            continue;
        };
        to.import_email(&email)?;
        moved.emails += 1;
        moved.raw_bytes += email.raw.len() as u64;
        let refs = from.refs_of(id)?;
        to.set_refs(id, &refs)?;
        moved.references += refs.len() as u64;
        for a in from.attachment_copies(id)? {
            to.insert_attachment(id, a.position, &a.attachment, a.sha256.as_deref())?;
            moved.attachments += 1;
        }
        for (op, record) in from.links_of(id)? {
            to.import_link(id, record.id, &op)?;
            moved.email_links += 1;
        }
    }
    for (from_id, to_id, kind) in from.record_links()? {
        to.relate(from_id, to_id, &kind)?;
        moved.record_links += 1;
    }
    let (records, emails) = from.highest_ids()?;
    to.reserve_ids(records, emails)?;
    moved.highest_record_id = records;
    moved.highest_email_id = emails;
    Ok(moved)
}
