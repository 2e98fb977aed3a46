//! What a delivery claims: the things its routing looks up and its filing
//! writes, each as a key. Two deliveries that claim one key file one after
//! the other, the second seeing what the first committed; deliveries that
//! share none file at once ([`super::Store::begin_delivery`]). A store
//! whose writers file one at a time anyway (SQLite) takes no notice.
//!
//! A delivery claims, before it routes, its sender and its Message-IDs
//! (its own and those it refers to: [`of_mail`]); each lookup claims what
//! it looks for (an address, Message-IDs, a body-rule lookup's value); and
//! before filing, the records it creates claim their email and the values
//! of the fields body rules look up by. So two new mails of one sender make
//! one contact, a reply and the mail it answers find one case, and one
//! order number looked up twice makes one order.

/// A normalised email address: records by email, the flood count.
pub fn address(normalised: &str) -> String {
    format!("address\u{1f}{normalised}")
}

/// A Message-ID: threading, whichever mail comes first.
pub fn message(id: &str) -> String {
    format!("message\u{1f}{id}")
}

/// A field value a body rule looks records up by; compared trimmed and
/// ignoring case, as the lookup does.
pub fn field(module: &str, field: &str, value: &str) -> String {
    format!(
        "field\u{1f}{module}\u{1f}{field}\u{1f}{}",
        value.trim().to_lowercase()
    )
}

/// What a mail claims before routing: its sender, its own Message-ID and
/// the ones it refers to.
pub fn of_mail<'a>(
    sender: Option<&str>,
    message_ids: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    sender
        .map(address)
        .into_iter()
        .chain(message_ids.into_iter().map(|id| message(id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_key_never_meet() {
        assert_ne!(address("a@example.com"), message("a@example.com"));
        assert_eq!(
            field("orders", "number", " AB-12 "),
            field("orders", "number", "ab-12")
        );
        assert_ne!(
            field("orders", "number", "1"),
            field("order", "snumber", "1")
        );
    }
}
