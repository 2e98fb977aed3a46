//! A rule's body rule applied to one mail: `Label: value` pairs become
//! typed record fields, lookup fields find or create the records they name,
//! and everything surprising becomes a warning.
//!
//! Pure like routing: the store is read through [`Lookup`]; records to
//! create go into the [`Plan`].

use std::collections::BTreeMap;

use anyhow::Result;

use crate::mail::message::Email;
use crate::route::lookup::Lookup;
use crate::route::plan::{NewRecord, Plan, Target};
use crate::rules::body_rule::{Pair, convert, extract_pairs, normalize_label};
use crate::rules::config::{BodyRule, OnMissing, OnMultiple};

/// The fields a body rule found, and the records its lookup fields point
/// at (field name → record), to relate to the record being created.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub fields: BTreeMap<String, String>,
    pub lookups: Vec<(String, Target)>,
}

/// The pairs of a mail's body: its text, or for HTML-only mail the HTML
/// (so table rows count as lines).
pub fn pairs(email: &Email, delimiter: &str) -> Vec<Pair> {
    if email.text_from_html {
        extract_pairs("", email.html.as_deref(), delimiter)
    } else {
        extract_pairs(&email.text, email.html.as_deref(), delimiter)
    }
}

/// Applies `rule` to `email`. `Ok(None)` means a lookup's `error` policy
/// refused the mail: the plan is then marked skipped with the reason.
pub fn apply(
    rule: &BodyRule,
    email: &Email,
    store: &dyn Lookup,
    plan: &mut Plan,
) -> Result<Option<Found>> {
    let mut found = Found::default();
    let mut seen: Vec<&str> = Vec::new();
    for pair in pairs(email, &rule.delimiter) {
        let label = normalize_label(&pair.label);
        let Some((configured, spec)) = rule.fields.iter().find(|(l, _)| *l == label) else {
            // A `Heading:` line without a value is not a field.
            if !pair.value.trim().is_empty() {
                plan.warnings.push(format!(
                    "body rule: label `{}` is not configured",
                    pair.label
                ));
            }
            continue;
        };
        seen.push(configured);
        let raw = pair.value.trim();
        if raw.is_empty() {
            continue;
        }
        let value = match convert(spec.kind, raw) {
            Ok(v) => v,
            Err(reason) => {
                plan.warnings.push(format!(
                    "body rule: `{}` for field `{}`: {reason}; kept as text",
                    pair.label, spec.field
                ));
                raw.to_string()
            }
        };
        if let Some(lookup) = &spec.lookup {
            let matches = store.by_field(&lookup.module, &lookup.match_on, &value)?;
            let what = format!("{} with {} `{value}`", lookup.module, lookup.match_on);
            let target = match (matches.as_slice(), lookup.on_missing, lookup.on_multiple) {
                ([], OnMissing::Create, _) => Some(plan.create(NewRecord {
                    module: lookup.module.clone(),
                    email: None,
                    fields: BTreeMap::from([(lookup.match_on.clone(), value.clone())]),
                })),
                ([], OnMissing::Skip, _) => {
                    plan.warnings.push(format!(
                        "body rule: no {what}; field `{}` left empty",
                        spec.field
                    ));
                    continue;
                }
                ([], OnMissing::Error, _) => {
                    plan.skip(format!("body rule: no {what} and `on_missing: error`"));
                    return Ok(None);
                }
                ([one], _, _) => Some(Target::Existing(one.id)),
                (many, _, OnMultiple::First) => {
                    plan.warnings.push(format!(
                        "body rule: {} {what} match; used the first (record {})",
                        many.len(),
                        many[0].id
                    ));
                    Some(Target::Existing(many[0].id))
                }
                (many, _, OnMultiple::Error) => {
                    plan.skip(format!(
                        "body rule: {} {what} match and `on_multiple: error`",
                        many.len()
                    ));

                    return Ok(None);
                }
            };
            if let Some(t) = target {
                found.lookups.push((spec.field.clone(), t));
            }
        }
        found.fields.insert(spec.field.clone(), value);
    }
    for (label, spec) in &rule.fields {
        if !seen.contains(&label.as_str()) {
            plan.warnings.push(format!(
                "body rule: label `{}` (field `{}`) not found in the body",
                spec.label, spec.field
            ));
        }
    }

    Ok(Some(found))
}
