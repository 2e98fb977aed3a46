//! placeholder
use crate::config::BodyRule;
use crate::message::Email;
use crate::plan::{Plan, Target};
use crate::route::Lookup;
use anyhow::Result;
use std::collections::BTreeMap;
pub struct Found {
    pub fields: BTreeMap<String, String>,
    pub lookups: Vec<(String, Target)>,
}
pub fn apply(_b: &BodyRule, _e: &Email, _s: &dyn Lookup, _p: &mut Plan) -> Result<Found> {
    Ok(Found {
        fields: BTreeMap::new(),
        lookups: Vec::new(),
    })
}
pub fn learn(_raw: &[u8], _d: &str) -> String {
    String::new()
}
