//! `mailroom body-rule learn`: the labels of a sample and a `body_rule:`
//! block for them.

use crate::cli::output::printable;
use crate::mail::message;
use crate::route::body_fields::pairs;
use crate::rules::body_rule::{extract_pairs, learn_yaml};

/// `body-rule learn`: the labels of a sample (a text file or a message)
/// with their values, as YAML comments, then a `body_rule:` block to paste
/// into a rule.
pub fn learn(raw: &[u8], delimiter: &str) -> String {
    let mut found = match message::parse(raw) {
        Some(email) if !email.from.is_empty() || !email.subject.is_empty() => {
            pairs(&email, delimiter)
        }
        _ => extract_pairs(&String::from_utf8_lossy(raw), None, delimiter),
    };
    found.retain(|p| !p.value.trim().is_empty());

    if found.is_empty() {
        return format!("# no `Label{delimiter} value` lines found\n");
    }
    let mut out = String::from("# labels found (label: sample value)\n");
    for p in &found {
        let value = p.value.replace('\n', " / ");
        out.push_str(&format!("#   {}: {}\n", p.label, printable(&value)));
    }
    out.push_str(&learn_yaml(&found, delimiter));
    out
}
