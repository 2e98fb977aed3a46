//! The read-only seam between routing and the store: the questions
//! routing asks ([`Lookup`]) and what it sees of a record ([`RecordInfo`]).
//! The store implements it; route's tests fake it.

use anyhow::Result;

/// A stored record as routing needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    pub id: i64,
    pub module: String,
    pub number: Option<String>,
    pub email: Option<String>,
    pub status: String,
}

impl RecordInfo {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// The read-only questions routing asks the store. Lists come oldest first.
pub trait Lookup {
    fn record(&self, id: i64) -> Result<Option<RecordInfo>>;
    /// Records whose primary email is `email` (normalised).
    fn by_email(&self, email: &str) -> Result<Vec<RecordInfo>>;
    /// The oldest record of `module` whose primary email is `email`.
    fn oldest_by_email(&self, module: &str, email: &str) -> Result<Option<RecordInfo>> {
        Ok(self
            .by_email(email)?
            .into_iter()
            .filter(|r| r.module == module)
            .min_by_key(|r| r.id))
    }
    /// The newest record of `module` linked to a mail with one of these
    /// Message-IDs.
    fn thread(&self, module: &str, message_ids: &[String]) -> Result<Option<RecordInfo>>;
    fn by_number(&self, module: &str, number: &str) -> Result<Option<RecordInfo>>;
    /// Records of `module` whose field `field` equals `value`, ignoring case.
    fn by_field(&self, module: &str, field: &str, value: &str) -> Result<Vec<RecordInfo>>;
    /// Records related to `id` by a relation of `kind`, either direction.
    fn related(&self, id: i64, kind: &str) -> Result<Vec<RecordInfo>>;
    /// The newest record of `module` linked to a mail that names
    /// `message_id` in its In-Reply-To or References: a reply filed before
    /// the mail it answers.
    fn referenced_by(&self, module: &str, message_id: &str) -> Result<Option<RecordInfo>>;
    /// The newest record of `module` linked to a mail that names one of
    /// `ids` (tried in order) in its references, where that id is the
    /// Message-ID of no stored mail (an ancestor mailroom never saw);
    /// with the id.
    fn shared_reference(
        &self,
        module: &str,
        ids: &[String],
    ) -> Result<Option<(RecordInfo, String)>>;
    /// How many records mail from `sender` (normalised) received at or
    /// after `since` created.
    fn created_by_sender(&self, sender: &str, since: &str) -> Result<u64>;
}
