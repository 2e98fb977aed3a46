//! Bytes in, owned [`Email`] out: the only module that touches mail-parser.
//!
//! Everything downstream works on the owned, plain [`Email`], so the parser's
//! borrowed types and quirks stop here.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

/// One mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    /// As written in the header; compare through [`crate::address::normalize`].
    pub address: String,
}

/// One attachment (or nested message) with its decoded content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Decoded file name (RFC 2047/2231). Never used as a path.
    pub name: Option<String>,
    /// `type/subtype`, lower-case.
    pub content_type: String,
    pub size: usize,
    pub content: Vec<u8>,
}

/// The parsed message, owned and parser-independent.
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub delivered_to: Vec<String>,
    pub x_original_to: Vec<String>,
    pub subject: String,
    /// With angle brackets, e.g. `<abc@example.com>`.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// RFC 3339, when the Date header parsed.
    pub date: Option<String>,
    /// Text body; HTML-only mail converted to readable text.
    pub text: String,
    /// The first HTML body as sent, if any.
    pub html: Option<String>,
    /// True when the message had no text part and `text` was made from
    /// its HTML.
    pub text_from_html: bool,
    pub attachments: Vec<Attachment>,
    /// Every header as (name, unfolded value), in message order.
    pub headers: Vec<(String, String)>,
    /// `type/subtype` of the top-level part, lower-case.
    pub content_type: String,
}

impl Email {
    /// The first header with this name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Headers at least one of which a mail message has.
const MAIL_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "delivered-to",
    "mime-version",
    "content-type",
    "sender",
    "reply-to",
];

/// True when the bytes open with a header field (`Name:`), after an
/// optional mbox `From ` line. mail-parser takes any text for headers;
/// this is what tells mail from arbitrary bytes.
fn starts_with_header(raw: &[u8]) -> bool {
    let mut lines = raw.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    match first.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => first[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// Parses one raw message. `None` means the bytes are not a mail message
/// (they do not open with a header, or carry none of the usual ones); the
/// caller stores them raw as `unparsed`.
pub fn parse(raw: &[u8]) -> Option<Email> {
    if !starts_with_header(raw) {
        return None;
    }
    let mut message = MessageParser::default().parse(raw)?;
    if !message
        .headers_raw()
        .any(|(name, _)| MAIL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)))
    {
        return None;
    }
    let headers: Vec<(String, String)> = message
        .headers_raw()
        .map(|(name, value)| (name.to_string(), unfold(value)))
        .collect();
    let header_list = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(|a| strip_angles(a.trim()).to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };

    let mut text = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(t) => Some(t.to_string()),
            PartType::Html(h) => Some(mail_parser::decoders::html::html_to_text(h)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let html = message.body_html(0).and_then(|h| {
        // body_html renders a text part as HTML when there is no HTML part;
        // only a real HTML part counts here.
        message
            .html_bodies()
            .any(|p| matches!(p.body, PartType::Html(_)))
            .then(|| h.into_owned())
    });
    let text_from_html = !message
        .text_bodies()
        .any(|p| matches!(p.body, PartType::Text(_)))
        && html.is_some();
    if text.trim().is_empty()
        && let Some(h) = &html
    {
        text = mail_parser::decoders::html::html_to_text(h);
    }

    let mut email = Email {
        from: mailboxes(message.from()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        reply_to: mailboxes(message.reply_to()),
        delivered_to: header_list("Delivered-To"),
        x_original_to: header_list("X-Original-To"),
        subject: message.subject().unwrap_or_default().trim().to_string(),
        message_id: message
            .message_id()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| format!("<{id}>")),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        date: message.date().map(|d| d.to_rfc3339()),
        text,
        html,
        text_from_html,

        attachments: Vec::new(),
        content_type: content_type_of(message.root_part().content_type()),
        headers,
    };
    email.attachments = take_attachments(&mut message);
    Some(email)
}

/// The attachments, their decoded content moved out of the parsed message
/// rather than copied: a 10 MB attachment is held once, not twice.
fn take_attachments(message: &mut mail_parser::Message) -> Vec<Attachment> {
    let ids = message.attachments.clone();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(part) = message.parts.get_mut(id as usize) else {
            continue;
        };
        let name = part.attachment_name().map(str::to_string);
        let content_type = content_type_of(part.content_type());
        let content: Vec<u8> = match std::mem::take(&mut part.body) {
            PartType::Text(t) | PartType::Html(t) => t.into_owned().into_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b.into_owned(),
            // A nested message is kept whole, as it arrived.
            PartType::Message(m) => m.raw_message().to_vec(),
            PartType::Multipart(_) => Vec::new(),
        };
        out.push(Attachment {
            name,
            content_type,
            size: content.len(),
            content,
        });
    }
    out
}

fn mailboxes(address: Option<&Address>) -> Vec<Mailbox> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    let address = addr.address.as_deref()?.trim();
                    (!address.is_empty()).then(|| Mailbox {
                        name: addr.name.as_deref().map(str::to_string),
                        address: address.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn ids(value: &HeaderValue) -> Vec<String> {
    let wrap = |id: &str| format!("<{}>", id.trim());
    match value {
        HeaderValue::Text(id) if !id.trim().is_empty() => vec![wrap(id)],
        HeaderValue::TextList(list) => list
            .iter()
            .filter(|id| !id.trim().is_empty())
            .map(|id| wrap(id))
            .collect(),
        _ => Vec::new(),
    }
}

fn content_type_of(ct: Option<&mail_parser::ContentType>) -> String {
    match ct {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 && !line.is_empty() {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    out.trim().to_string()
}

fn strip_angles(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_routing_needs() {
        let raw = b"From: Ann <ann@example.org>\r\nTo: crm+case@example.com, b@x.org\r\nCc: c@x.org\r\nDelivered-To: crm+lead@example.com\r\nSubject: Hello\r\n there\r\nMessage-ID: <m1@x>\r\nIn-Reply-To: <p@x>\r\nReferences: <a@x> <p@x>\r\n\r\nBody\r\n";
        let e = parse(raw).expect("parses");
        assert_eq!(e.from[0].address, "ann@example.org");
        assert_eq!(e.from[0].name.as_deref(), Some("Ann"));
        assert_eq!(e.to.len(), 2);
        assert_eq!(e.delivered_to, vec!["crm+lead@example.com"]);
        assert_eq!(e.subject, "Hello there");
        assert_eq!(e.message_id.as_deref(), Some("<m1@x>"));
        assert_eq!(e.in_reply_to, vec!["<p@x>"]);
        assert_eq!(e.references, vec!["<a@x>", "<p@x>"]);
        assert_eq!(e.text.trim(), "Body");
        assert_eq!(e.header("subject"), Some("Hello there"));
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@x\nContent-Type: text/html\n\n<p>Hello <b>world</b></p>";
        let e = parse(raw).expect("parses");
        assert!(e.text.contains("Hello world"), "{:?}", e.text);
        assert!(e.html.is_some());
    }

    #[test]
    fn bytes_without_headers_are_not_a_message() {
        assert!(parse(b"").is_none());
        assert!(parse(b"just text\nno headers here").is_none());
        assert!(parse(b"\x00\x01\x02").is_none());
        assert!(parse(b"X-Only: custom\n\nbody").is_none());
        assert!(parse(b"Subject: only a header").is_some());
        assert!(parse(b"From a@b Mon Jan 1 00:00:00 2024\nSubject: hi\n\nbody").is_some());
    }
}
