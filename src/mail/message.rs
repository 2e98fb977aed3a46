//! Bytes in, owned [`Email`] out: the only module that touches mail-parser.
//!
//! Everything downstream works on the owned, plain [`Email`], so the parser's
//! borrowed types and quirks stop here.

use std::borrow::Cow;
use std::sync::LazyLock;

use mail_parser::{
    Address, Encoding, HeaderName, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::quirks;

/// One mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    /// As written in the header; compare through [`crate::mail::address::normalize`].
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
    /// What was left out of this parse and why (the raw message is always
    /// stored whole).
    pub warnings: Vec<String>,
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

/// Bounds on what one message may make us hold and work through; past
/// them, routing sees a prefix and the raw message is still stored whole.
/// Mailboxes per address header.
const MAX_MAILBOXES: usize = 1_000;
/// Message-IDs in References (the first, the thread root, and the newest).
const MAX_REFERENCES: usize = 100;
/// Bytes of one header value (and the subject) kept in the parsed view.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Bytes of the text body kept for routing, body rules and the stored text
/// copy. Each copy of the body (the database binding, its record, a case
/// description) costs its size again, so a 4 MB log pasted into a mail
/// would cost eight times its size; the raw message keeps all of it.
const MAX_TEXT_BYTES: usize = 256 * 1024;
/// MIME part delimiters and Content-Type lines: past this the body is not
/// parsed (10,000 nested multiparts cost mail-parser ~16x their size).
const MAX_PARTS: usize = 1_000;

/// A copy of the message whose header fields longer than
/// `MAX_HEADER_BYTES` are cut, or `None` when none is. mail-parser
/// expands a header into its own structures (a 100,000-address To line
/// costs it ~4x its size), so a monster header is cut before it sees it.
/// References and In-Reply-To keep their first id (the thread root) and
/// their end (the newest); other fields keep their start.
fn trim_long_headers(raw: &[u8], warnings: &mut Vec<String>) -> Option<Vec<u8>> {
    let end = header_end(raw);
    let fields = header_fields(&raw[..end]);
    if fields.iter().all(|f| f.len() <= MAX_HEADER_BYTES) {
        return None;
    }
    let mut out = Vec::with_capacity(end.min(raw.len()));
    for field in fields {
        if field.len() <= MAX_HEADER_BYTES {
            out.extend_from_slice(field);
            continue;
        }
        let colon = field.iter().position(|&b| b == b':').unwrap_or(0);
        let name = String::from_utf8_lossy(&field[..colon]).trim().to_string();
        warnings.push(format!(
            "{name}: longer than {MAX_HEADER_BYTES} bytes; only part of it was read"
        ));
        let keep = MAX_HEADER_BYTES / 2;
        let is_ids =
            name.eq_ignore_ascii_case("references") || name.eq_ignore_ascii_case("in-reply-to");
        let head_end = if is_ids {
            // Up to the end of the first id.
            field[..keep]
                .iter()
                .position(|&b| b == b'>')
                .map_or(colon + 1, |p| p + 1)
        } else {
            // Up to the last separator, so no address is cut in two.
            field[..keep]
                .iter()
                .rposition(|&b| b == b',' || b == b' ' || b == b'\t')
                .unwrap_or(keep)
        };
        out.extend_from_slice(&field[..head_end]);
        if is_ids {
            let from = field.len() - keep;
            let tail = field[from..]
                .iter()
                .position(|&b| b == b'<')
                .map_or(&field[field.len()..], |p| &field[from + p..]);
            out.push(b' ');
            out.extend(tail.iter().filter(|&&b| b != b'\r' && b != b'\n'));
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&raw[end..]);
    Some(out)
}

/// Where the header section ends: the start of the blank line, or the end.
fn header_end(raw: &[u8]) -> usize {
    let mut at = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" || line == b"\r\n" {
            return at;
        }
        at += line.len();
    }
    raw.len()
}

/// The header section cut into fields, each with its continuation lines
/// and line ends.
fn header_fields(headers: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in headers.split_inclusive(|&b| b == b'\n') {
        let continues = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if at > start && !continues {
            fields.push(&headers[start..at]);
            start = at;
        }
        at += line.len();
    }
    if at > start {
        fields.push(&headers[start..at]);
    }
    fields
}

/// Counts lines that open or type a MIME part, stopping past `MAX_PARTS`.
/// Line starts are found with memchr: a byte-at-a-time split took a tenth
/// of a 10 MB delivery's CPU.
fn too_many_parts(raw: &[u8]) -> bool {
    let mut count = 0;
    let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', raw).map(|i| i + 1));
    for start in starts {
        // The rest of the message from the line's start: the prefixes
        // checked hold no newline, so they match only within the line.
        let line = &raw[start..];
        if line.starts_with(b"--")
            || line
                .get(..13)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"content-type:"))
        {
            count += 1;
            if count > MAX_PARTS {
                return true;
            }
        }
    }
    false
}

/// mail-parser as set up here: its own parsing for the headers read
/// through it (addresses, ids, dates, the subject, MIME), every other
/// header kept raw. Its default also parses `Received` chains, `List-*`
/// and the like, which nothing here reads parsed (the header list comes
/// from the raw values); `Received` alone took a tenth of the parse.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .with_message_ids()
        .with_date_headers()
        .header_text(HeaderName::Subject)
        .default_header_raw()
});

/// Reads every header as text, decoding RFC 2047 encoded words: what
/// `emails show` prints.
static DISPLAY: LazyLock<MessageParser> =
    LazyLock::new(|| MessageParser::new().default_header_text());

/// Every header of a raw message as (name, value) with encoded words
/// (`=?utf-8?q?...?=`) decoded and folding undone, in message order, for
/// showing to people. A value the parser cannot read as text is shown as
/// written.
pub fn decoded_headers(raw: &[u8]) -> Vec<(String, String)> {
    let end = header_end(raw);
    let Some(message) = DISPLAY.parse_headers(&raw[..end.min(raw.len())]) else {
        return Vec::new();
    };
    message
        .headers()
        .iter()
        .map(|h| {
            let name = h.name.as_str();
            // Ids are shown as written, with their angle brackets.
            let ids = ["message-id", "in-reply-to", "references", "content-id"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n));
            let value = match &h.value {
                _ if ids => {
                    let at = h.offset_start as usize..h.offset_end as usize;
                    unfold(&String::from_utf8_lossy(raw.get(at).unwrap_or_default()))
                }
                HeaderValue::Text(t) => t.to_string(),
                HeaderValue::TextList(list) => list.join(", "),
                HeaderValue::Address(a) => {
                    let shown = |m: &mail_parser::Addr| {
                        let address = m.address.as_deref().unwrap_or_default();
                        match m.name.as_deref().filter(|n| !n.trim().is_empty()) {
                            Some(name) => format!("{name} <{address}>"),
                            None => address.to_string(),
                        }
                    };
                    a.iter().map(shown).collect::<Vec<_>>().join(", ")
                }
                _ => {
                    let at = h.offset_start as usize..h.offset_end as usize;
                    unfold(&String::from_utf8_lossy(raw.get(at).unwrap_or_default()))
                }
            };
            (name.to_string(), value.trim().to_string())
        })
        .collect()
}

/// Parses one raw message. `None` means the bytes are not a mail message
/// (they do not open with a header, or carry none of the usual ones); the
/// caller stores them raw as `unparsed`.
pub fn parse(raw: &[u8]) -> Option<Email> {
    if !starts_with_header(raw) {
        return None;
    }
    let mut warnings = Vec::new();
    let trimmed = trim_long_headers(raw, &mut warnings);
    let raw: &[u8] = trimmed.as_deref().unwrap_or(raw);
    let hidden = quirks::hide_midline_boundaries(raw);
    let raw: &[u8] = hidden.as_ref().map_or(raw, |(copy, _)| copy.as_slice());
    let parser = &*PARSER;
    let mut message = if too_many_parts(raw) {
        warnings.push(format!(
            "more than {MAX_PARTS} MIME parts: only the headers were read; the raw message is stored"
        ));
        parser.parse_headers(raw)?
    } else {
        parser.parse(raw)?
    };
    if !message
        .headers_raw()
        .any(|(name, _)| MAIL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)))
    {
        return None;
    }
    let mut long_headers = Vec::new();
    let headers: Vec<(String, String)> = message
        .headers_raw()
        .map(|(name, value)| {
            let mut value = unfold(value);
            if cut(&mut value, MAX_HEADER_BYTES) {
                long_headers.push(name.to_string());
            }
            (name.to_string(), value)
        })
        .collect();
    long_headers.dedup();
    for name in long_headers {
        warnings.push(format!(
            "{name}: longer than {MAX_HEADER_BYTES} bytes; only the start was read"
        ));
    }
    let header_list = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(|a| strip_angles(a.trim()).to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };

    // One string built in place: collecting the parts and joining them
    // held every body twice.
    let mut text = String::new();
    for part in message.text_bodies() {
        let piece = match &part.body {
            PartType::Text(t) => {
                redecoded_text(raw, part).map_or(Cow::Borrowed(t.as_ref()), Cow::Owned)
            }
            PartType::Html(h) => {
                let h = redecoded_text(raw, part).map_or(Cow::Borrowed(h.as_ref()), Cow::Owned);
                mail_parser::decoders::html::html_to_text(&h).into()
            }
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    // body_html renders a text part as HTML when there is no HTML part;
    // only a real HTML part counts here.
    let html = message
        .html_bodies()
        .find(|p| matches!(p.body, PartType::Html(_)))
        .and_then(|part| match &part.body {
            PartType::Html(h) => Some(redecoded_text(raw, part).unwrap_or_else(|| h.to_string())),
            _ => None,
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
    if cut(&mut text, MAX_TEXT_BYTES) {
        text.shrink_to_fit();
        warnings.push(format!(
            "text body longer than {MAX_TEXT_BYTES} bytes: only the start was read; the raw message is stored whole"
        ));
    }

    let mut email = Email {
        from: mailboxes(message.from(), &mut warnings, "From"),
        to: mailboxes(message.to(), &mut warnings, "To"),
        cc: mailboxes(message.cc(), &mut warnings, "Cc"),
        reply_to: mailboxes(message.reply_to(), &mut warnings, "Reply-To"),
        delivered_to: capped(header_list("Delivered-To"), &mut warnings, "Delivered-To"),
        x_original_to: capped(header_list("X-Original-To"), &mut warnings, "X-Original-To"),
        subject: {
            let mut subject = message.subject().unwrap_or_default().trim().to_string();
            cut(&mut subject, MAX_HEADER_BYTES);
            subject
        },
        message_id: message
            .message_id()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| format!("<{id}>")),
        in_reply_to: ids(message.in_reply_to(), &mut warnings, "In-Reply-To"),
        references: ids(message.references(), &mut warnings, "References"),
        date: message.date().map(|d| d.to_rfc3339()),
        text,
        html,
        text_from_html,

        attachments: Vec::new(),
        content_type: content_type_of(message.root_part().content_type()),
        headers,
        warnings,
    };
    email.attachments = take_attachments(&mut message, raw, hidden.as_ref().map(|(_, p)| *p));
    if let Some((_, p)) = hidden {
        restore_all(&mut email, p);
    }
    replace_nul(&mut email);
    Some(email)
}

/// [`parse`], with a parser panic taken as "not a mail message": a
/// mail-parser defect must not stop a Maildir run at the same message
/// every minute, bounce a delivery for ever, or make stored mail
/// unreadable. Filing uses it, and so do `emails show` and `emails
/// attachment`, which parse the stored raw message again for the headers,
/// text body and attachments that are not stored a second time.
pub fn parse_guarded(raw: &[u8]) -> Option<Email> {
    std::panic::catch_unwind(|| parse(raw)).ok().flatten()
}

/// The attachments. Decoded content is moved out of the parsed message
/// rather than copied (a 10 MB attachment is held once, not twice), except
/// where a mail-parser defect makes us decode the part again ourselves.
/// `hidden` is the byte quirk 1 hid from the parser, to put back.
fn take_attachments(
    message: &mut mail_parser::Message,
    raw: &[u8],
    hidden: Option<u8>,
) -> Vec<Attachment> {
    let ids = message.attachments.clone();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(part) = message.parts.get_mut(id as usize) else {
            continue;
        };
        let name = attachment_name(raw, part);
        let content_type = content_type_of(part.content_type());
        let redone = match &part.body {
            PartType::Text(_) | PartType::Html(_) => {
                redecoded_text(raw, part).map(String::into_bytes)
            }
            PartType::Binary(_) | PartType::InlineBinary(_) => redecoded(raw, part),
            _ => None,
        };
        let mut content: Vec<u8> = match redone {
            Some(c) => c,
            None => match std::mem::take(&mut part.body) {
                PartType::Text(t) | PartType::Html(t) => t.into_owned().into_bytes(),
                PartType::Binary(b) | PartType::InlineBinary(b) => b.into_owned(),
                // A nested message is kept whole, as it arrived.
                PartType::Message(m) => m.raw_message().to_vec(),
                PartType::Multipart(_) => Vec::new(),
            },
        };
        if let Some(p) = hidden
            && part.encoding != Encoding::Base64
        {
            quirks::restore_bytes(&mut content, p);
        }
        out.push(Attachment {
            name,
            content_type,
            size: content.len(),
            content,
        });
    }
    out
}

/// Puts back every `-` hidden from the parser (quirk 1) in the text
/// fields; attachment contents were restored as they were read.
fn restore_all(email: &mut Email, p: u8) {
    each_text(email, |s| quirks::restore(s, p));
}

/// Replaces each NUL in the decoded text with U+FFFD. A NUL is never
/// meant in mail text (it comes from UTF-16 cut at an odd byte, or a
/// stray `=00`), and PostgreSQL's `text` cannot hold one: replacing it
/// here makes a message read the same from either store. The raw
/// message keeps its bytes.
fn replace_nul(email: &mut Email) {
    each_text(email, |s| {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{fffd}");
        }
    });
}

/// Calls `f` on every decoded text field of the message.
fn each_text(email: &mut Email, mut f: impl FnMut(&mut String)) {
    f(&mut email.subject);
    f(&mut email.text);
    email.html.iter_mut().for_each(&mut f);
    email.message_id.iter_mut().for_each(&mut f);
    email.date.iter_mut().for_each(&mut f);
    f(&mut email.content_type);
    for (name, value) in &mut email.headers {
        f(name);
        f(value);
    }
    for list in [
        &mut email.delivered_to,
        &mut email.x_original_to,
        &mut email.in_reply_to,
        &mut email.references,
        &mut email.warnings,
    ] {
        list.iter_mut().for_each(&mut f);
    }
    for m in email
        .from
        .iter_mut()
        .chain(&mut email.to)
        .chain(&mut email.cc)
        .chain(&mut email.reply_to)
    {
        f(&mut m.address);
        m.name.iter_mut().for_each(&mut f);
    }
    for a in &mut email.attachments {
        a.name.iter_mut().for_each(&mut f);
        f(&mut a.content_type);
    }
}

/// The part's body decoded again when mail-parser failed on its
/// quoted-printable (quirk 4); `None` to keep mail-parser's.
fn redecoded(raw: &[u8], part: &MessagePart) -> Option<Vec<u8>> {
    // On a decoding failure mail-parser resets the part's encoding to
    // none, so the header says what it was.
    let quoted_printable = part
        .content_transfer_encoding()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("quoted-printable"));
    if !quoted_printable || !part.is_encoding_problem {
        return None;
    }
    let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
    Some(quirks::quoted_printable(body))
}

fn redecoded_text(raw: &[u8], part: &MessagePart) -> Option<String> {
    let bytes = redecoded(raw, part)?;
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    Some(quirks::decode_charset(&bytes, charset))
}

/// mail-parser's name, unless it lost a folded `filename=` (quirk 2) or
/// cut an RFC 2231 name at an apostrophe (quirk 3): then ours, read from
/// the part's raw header.
fn attachment_name(raw: &[u8], part: &MessagePart) -> Option<String> {
    let ours = raw
        .get(part.offset_header as usize..part.offset_body as usize)
        .and_then(quirks::part_name);
    match (part.attachment_name(), ours) {
        (_, Some(n)) if n.extended => Some(n.name),
        (None, Some(n)) => Some(n.name),
        (theirs, _) => theirs.map(str::to_string),
    }
}

fn mailboxes(address: Option<&Address>, warnings: &mut Vec<String>, header: &str) -> Vec<Mailbox> {
    let all = address.map(|a| {
        a.iter().filter_map(|addr| {
            let address = addr.address.as_deref()?.trim();
            (!address.is_empty()).then(|| Mailbox {
                name: addr.name.as_deref().map(str::to_string),
                address: address.to_string(),
            })
        })
    });
    let list: Vec<Mailbox> = all.into_iter().flatten().take(MAX_MAILBOXES + 1).collect();
    capped(list, warnings, header)
}

/// The first `MAX_MAILBOXES`, with a warning when there were more.
fn capped<T>(mut list: Vec<T>, warnings: &mut Vec<String>, header: &str) -> Vec<T> {
    if list.len() > MAX_MAILBOXES {
        list.truncate(MAX_MAILBOXES);
        warnings.push(format!(
            "{header}: more than {MAX_MAILBOXES} addresses; only the first {MAX_MAILBOXES} were read"
        ));
    }
    list
}

fn ids(value: &HeaderValue, warnings: &mut Vec<String>, header: &str) -> Vec<String> {
    let wrap = |id: &str| format!("<{}>", id.trim());
    let mut list: Vec<String> = match value {
        HeaderValue::Text(id) if !id.trim().is_empty() => vec![wrap(id)],
        HeaderValue::TextList(list) => list
            .iter()
            .filter(|id| !id.trim().is_empty())
            .map(|id| wrap(id))
            .collect(),
        _ => Vec::new(),
    };
    if list.len() > MAX_REFERENCES {
        // The thread root and the newest ids are what threading needs.
        let newest = list.split_off(list.len() - (MAX_REFERENCES - 1));
        list.truncate(1);
        list.extend(newest);
        warnings.push(format!(
            "{header}: more than {MAX_REFERENCES} message ids; the first and the newest {} were read",
            MAX_REFERENCES - 1
        ));
    }
    list
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

/// Cuts `s` to at most `max` bytes at a character boundary; true if it was
/// longer.
fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
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
mod display_tests {
    #[test]
    fn shown_headers_are_decoded() {
        let raw = b"From: =?utf-8?q?J=C3=B6rg?= <j@x.example>\r\nSubject: =?iso-8859-1?b?R3L832U=?=\r\n X\r\nX-Plain: a  b\r\nMessage-ID: <m@x>\r\n\r\nbody =?utf-8?q?no?=\r\n";
        let h = super::decoded_headers(raw);
        assert_eq!(h[0], ("From".to_string(), "Jörg <j@x.example>".to_string()));
        assert_eq!(h[1].1, "Grüße X");
        assert_eq!(h[2], ("X-Plain".to_string(), "a  b".to_string()));
        assert_eq!(h[3], ("Message-ID".to_string(), "<m@x>".to_string()));
        assert_eq!(h.len(), 4);
    }
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
    fn monster_headers_are_cut_and_say_so() {
        let to: Vec<String> = (0..5_000)
            .map(|i| format!("P{i} <p{i}@x.example>"))
            .collect();
        let refs: Vec<String> = (0..5_000).map(|i| format!("<r{i}@x>")).collect();
        let raw = format!(
            "From: a@x\r\nTo: {}\r\nReferences: {}\r\nSubject: {}\r\n\r\nbody\r\n",
            to.join(",\r\n "),
            refs.join("\r\n "),
            "s".repeat(100_000)
        );
        let e = parse(raw.as_bytes()).expect("parses");
        assert_eq!(e.to.len(), MAX_MAILBOXES);
        assert_eq!(e.to[0].address, "p0@x.example");
        assert_eq!(e.references.len(), MAX_REFERENCES);
        assert_eq!(e.references[0], "<r0@x>", "the thread root stays");
        assert_eq!(e.references.last().map(String::as_str), Some("<r4999@x>"));
        assert!(e.subject.len() <= MAX_HEADER_BYTES);
        assert_eq!(e.text.trim(), "body");
        assert!(
            e.warnings.iter().any(|w| w.starts_with("To:")),
            "{:?}",
            e.warnings
        );
        assert!(e.warnings.iter().any(|w| w.starts_with("References:")));
        assert!(e.warnings.iter().any(|w| w.starts_with("Subject:")));
    }

    #[test]
    fn too_many_parts_reads_only_the_headers() {
        let mut raw = String::from(
            "From: a@x\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n",
        );
        for i in 0..=MAX_PARTS {
            raw.push_str(&format!("--p\r\nContent-Type: text/plain\r\n\r\n{i}\r\n"));
        }
        let e = parse(raw.as_bytes()).expect("parses");
        assert_eq!(e.subject, "parts");
        assert!(e.attachments.is_empty());
        assert!(e.warnings[0].contains("MIME parts"), "{:?}", e.warnings);
        assert!(
            parse(b"From: a@x\r\nSubject: few\r\n\r\n--p\r\n")
                .is_some_and(|e| e.warnings.is_empty())
        );
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

    #[test]
    fn a_nul_in_decoded_text_becomes_a_replacement_character() {
        let raw = b"Subject: =?utf-8?q?a=00b?=\r\nFrom: x@example.com\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\nc=00d";
        let email = parse(raw).unwrap();
        assert_eq!(email.subject, "a\u{fffd}b");
        assert_eq!(email.text, "c\u{fffd}d");
    }
}
