//! Classifies incoming mail as human, auto-reply, bounce or mailing-list
//! traffic, extracts the failed recipient from bounces (RFC 3464 DSNs and the
//! classic Exim/Postfix plain-text reports) and finds forwarding-verification
//! codes and links (Gmail, Outlook.com and similar).
//!
//! Pure functions over an already parsed [`Email`]; no I/O, never panics.
//!
//! Decisions:
//! - Precedence: strong bounce evidence (`multipart/report` with a
//!   delivery-status report, a `message/delivery-status` part, a
//!   `MAILER-DAEMON`/`postmaster` sender, `X-Failed-Recipients`) beats
//!   auto-reply evidence, which beats a null sender (`Return-Path: <>`), which
//!   beats list evidence. A null sender is weak evidence because RFC 3834
//!   auto-replies are also sent with a null sender.
//! - `multipart/report` whose raw `Content-Type` names another report type
//!   (e.g. `disposition-notification`, a read receipt) is an auto-reply.
//! - `Precedence: bulk|junk` with `List-Id`/`List-Unsubscribe` is a list post,
//!   without them an auto-reply; `Precedence: list` is a list post.
//! - Subject heuristics ("Automatic reply:", "Out of Office", ...) never
//!   decide on their own; they turn a null-sender mail into an auto-reply
//!   instead of a bounce.
//! - `Auto-Submitted` counts when non-empty and not `no`; `X-Autoreply` and
//!   `X-Autorespond` count unless their value is `no`/`false`/`0`.
//! - Forwarding verification needs a forwarding phrase ("forwarding
//!   confirmation", "verify your forwarding address", "forward mail", ...) plus
//!   "confirm"/"verif", and at least a code or a matching link.

use crate::mail::message::{Attachment, Email, Mailbox};
use regex::Regex;
use std::sync::LazyLock;

/// Longest text any heuristic scans; the rest of hostile input is ignored.
const MAX_SCAN: usize = 256 * 1024;
/// Longest evidence quoted in a reason, in bytes.
const MAX_QUOTE: usize = 100;
/// Longest diagnostic kept, in bytes.
const MAX_DIAG: usize = 500;

/// The kind of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Human,
    AutoReply,
    Bounce,
    List,
}

impl Class {
    /// Every class's name, as rules and filters write it.
    pub const NAMES: &'static [&'static str] = &["human", "auto_reply", "bounce", "list"];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Human => "human",
            Class::AutoReply => "auto_reply",
            Class::Bounce => "bounce",
            Class::List => "list",
        }
    }

    /// Inverse of [`Class::as_str`]; trims and ignores ASCII case.
    pub fn parse(s: &str) -> Option<Class> {
        [Class::Human, Class::AutoReply, Class::Bounce, Class::List]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// The class and a short lowercase phrase naming the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    pub reason: String,
}

/// What a bounce says about the failed delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounce {
    /// Lower-cased bare address (no `rfc822;`, no `<>`).
    pub recipient: Option<String>,
    /// Enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// Lower-cased DSN action, e.g. `failed`.
    pub action: Option<String>,
    /// Diagnostic without its type prefix, e.g. `550 5.1.1 User unknown`.
    pub diagnostic: Option<String>,
}

/// A forwarding-verification code and/or link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    pub code: Option<String>,
    pub link: Option<String>,
}

/// Headers that mark an auto-reply unless their first token is listed.
const AUTO_HEADERS: [(&str, &[&str]); 5] = [
    ("Auto-Submitted", &["", "no"]),
    ("X-Autoreply", &["no", "false", "0"]),
    ("X-Autorespond", &["no", "false", "0"]),
    ("X-Auto-Response-Suppress", &[]),
    ("X-MS-Exchange-Generated-Message-Source", &[]),
];

type Re = LazyLock<Option<Regex>>;

fn re(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

static REPORT_TYPE: Re = LazyLock::new(|| re(r#"(?i)report-type\s*=\s*"?([a-z0-9._-]+)"#));
static AUTO_SUBJECT: Re = LazyLock::new(|| {
    re(r"(?i)^\s*(?:automatic reply|auto[- ]?reply|auto[- ]?response|out of (?:the )?office\b)")
});
static STATUS: Re =
    LazyLock::new(|| re(r"(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.\D|\.?$)"));
static EXIM_RCPT: Re = LazyLock::new(|| {
    re(r#"(?i)following address(?:\(es\)|es)?\s+failed:\s*<?([^\s<>"(),;:]+@[a-z0-9.\-]+)"#)
});
static POSTFIX_RCPT: Re =
    LazyLock::new(|| re(r#"(?im)^\s*<([^\s<>"]+@[a-z0-9.\-]+)>(?:\s*\([^)\n]*\))?:"#));
static GENERIC_RCPT: Re =
    LazyLock::new(|| re(r#"(?i)(?:delivered|delivery) to\s+<?([^\s<>"(),;:]+@[a-z0-9.\-]+)"#));
static SAID: Re = LazyLock::new(|| re(r"(?i)said:\s*([^\r\n]+)"));
static SMTP_LINE: Re = LazyLock::new(|| re(r"(?m)^[ \t]*([45]\d\d[ -][^\r\n]+)"));
static PERMANENT: Re = LazyLock::new(|| re(r"(?im)permanent|(?:said:|^)[ \t]*5\d\d[ -]"));
static FORWARDING: Re = LazyLock::new(|| {
    re(
        r"(?i)\bforwarding\s+(?:confirmation|verification|address|request)\b|\b(?:confirm|verify)\w*\s+(?:(?:your|the|this|a|new|mail|email)\s+){0,2}forwarding\b|\bforward\s+(?:mail|email|e-mail|messages)\b",
    )
});
static SUBJECT_CODE: Re = LazyLock::new(|| re(r"\(#(\d{6,12})\)"));
static BODY_CODE: Re = LazyLock::new(|| re(r"(?i)\bcode\b\s*(?:is\b)?\s*[:#]?\s*(\d{6,12})\b"));
static LINK: Re = LazyLock::new(|| re(r#"https://[^\s<>"'()\[\]{}]+"#));

/// First capture group of `r` in `s`.
fn cap1<'a>(r: &Re, s: &'a str) -> Option<&'a str> {
    r.as_ref()?.captures(s)?.get(1).map(|m| m.as_str())
}

fn is_match(r: &Re, s: &str) -> bool {
    r.as_ref().is_some_and(|r| r.is_match(s))
}

/// `s` cut to at most `max` bytes on a char boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// Evidence safe to embed in a reason: clipped, control characters blanked.
fn quote(s: &str) -> String {
    let c = clip(s, MAX_QUOTE);
    let q = c.chars().map(|ch| if ch.is_control() { ' ' } else { ch });
    q.chain((c.len() < s.len()).then_some('…')).collect()
}

/// The trimmed, lower-cased value before any `;` parameters.
fn token(v: &str) -> String {
    let t = v.split_once(';').map_or(v, |(t, _)| t);
    t.trim().to_ascii_lowercase()
}

fn hdr(name: &str, value: &str) -> String {
    format!("header `{name}: {}`", quote(value))
}

fn is_type(content_type: &str, wanted: &str) -> bool {
    content_type.trim().eq_ignore_ascii_case(wanted)
}

fn is_dsn_part(a: &Attachment) -> bool {
    let t = a.content_type.as_str();
    is_type(t, "message/delivery-status") || is_type(t, "message/global-delivery-status")
}

fn is_daemon(m: &Mailbox) -> bool {
    let addr = m.address.trim().trim_matches(['<', '>']);
    let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
    let local = local.trim().trim_matches('"').to_ascii_lowercase();
    local == "mailer-daemon" || local == "postmaster"
}

/// Classifies `email`; see the module docs for the order of evidence.
pub fn classify(email: &Email) -> Classification {
    let (class, reason) = evidence(email);
    Classification { class, reason }
}

fn evidence(e: &Email) -> (Class, String) {
    let raw_ct = e.header("Content-Type").unwrap_or(&e.content_type);
    // Cheap substring checks first: compiling a regex costs more than
    // classifying an ordinary message.
    let report_type = if raw_ct.to_ascii_lowercase().contains("report-type") {
        cap1(&REPORT_TYPE, clip(raw_ct, MAX_SCAN)).map(str::to_ascii_lowercase)
    } else {
        None
    };
    let is_report = is_type(&e.content_type, "multipart/report");
    let ct_reason = || format!("content type `{}`", quote(raw_ct));
    if report_type.as_deref() == Some("delivery-status") || (is_report && report_type.is_none()) {
        return (Class::Bounce, ct_reason());
    }
    if let Some(a) = e.attachments.iter().find(|a| is_dsn_part(a)) {
        return (
            Class::Bounce,
            format!("attachment `{}`", quote(&a.content_type)),
        );
    }
    if let Some(m) = e.from.iter().find(|m| is_daemon(m)) {
        return (Class::Bounce, format!("sender `{}`", quote(&m.address)));
    }
    if let Some(v) = e.header("X-Failed-Recipients")
        && !v.is_empty()
    {
        return (Class::Bounce, hdr("X-Failed-Recipients", v));
    }
    for (name, off) in AUTO_HEADERS {
        if let Some(v) = e.header(name)
            && !off.contains(&token(v).as_str())
        {
            return (Class::AutoReply, hdr(name, v));
        }
    }
    let list_header = ["List-Id", "List-Unsubscribe"]
        .into_iter()
        .find(|n| e.header(n).is_some());
    let subject_lc = clip(&e.subject, MAX_SCAN).to_ascii_lowercase();
    let auto_subject = (subject_lc.contains("auto") || subject_lc.contains("office"))
        && is_match(&AUTO_SUBJECT, clip(&e.subject, MAX_SCAN));

    let with_subject = |r: String| match auto_subject {
        true => format!("{r} and subject `{}`", quote(&e.subject)),
        false => r,
    };
    let precedence = e.header("Precedence").map(|v| (token(v), v));
    if let Some((t, v)) = &precedence
        && (t == "auto_reply" || (list_header.is_none() && (t == "bulk" || t == "junk")))
    {
        return (Class::AutoReply, with_subject(hdr("Precedence", v)));
    }
    if is_report {
        return (Class::AutoReply, ct_reason());
    }
    let return_path = e
        .header("Return-Path")
        .map(|v| v.split_whitespace().collect::<String>());
    if return_path.as_deref() == Some("<>") {
        return match auto_subject {
            true => (Class::AutoReply, with_subject("null sender".into())),
            false => (Class::Bounce, "header `Return-Path: <>`".into()),
        };
    }
    if let Some(n) = list_header {
        return (Class::List, format!("header `{n}`"));
    }
    match precedence {
        Some((t, v)) if t == "list" || t == "bulk" || t == "junk" => {
            (Class::List, hdr("Precedence", v))
        }
        _ => (Class::Human, "no automation headers".into()),
    }
}

/// Bare lower-cased address from `rfc822; <User@X>`, `<user@x>` or `user@x`;
/// `None` unless it looks like `local@domain`.
fn norm_addr(v: &str) -> Option<String> {
    let v = v.split_once(';').map_or(v, |(_, a)| a).trim();
    let a = v.trim_matches(['<', '>']).trim().trim_end_matches('.');
    let (l, d) = a.split_once('@')?;
    let ok = !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace);
    ok.then(|| a.to_ascii_lowercase())
}

fn find_status(s: &str) -> Option<String> {
    cap1(&STATUS, s).map(str::to_string)
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let (_, v) = block.iter().find(|(n, _)| n == name)?;
    Some(v)
}

/// The chosen recipient block of a `message/delivery-status` body.
fn parse_dsn(content: &[u8]) -> Option<Bounce> {
    let text = String::from_utf8_lossy(content.get(..MAX_SCAN).unwrap_or(content));
    let mut blocks: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        let Some(cur) = blocks.last_mut() else { break };
        if line.trim().is_empty() {
            blocks.push(Vec::new());
        } else if line.starts_with([' ', '\t'])
            && let Some((_, v)) = cur.last_mut()
        {
            v.push(' ');
            v.push_str(line.trim());
        } else if let Some((n, v)) = line.split_once(':') {
            cur.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut recipients = blocks.iter().filter(|b| {
        field(b, "final-recipient")
            .or(field(b, "original-recipient"))
            .is_some()
    });
    let first = recipients.clone().next()?;
    let b = recipients
        .find(|b| field(b, "action").is_some_and(|a| token(a) == "failed"))
        .unwrap_or(first);
    let diagnostic = field(b, "diagnostic-code").map(|d| {
        let d = match d.split_once(';') {
            Some((t, rest)) if !t.trim().contains(' ') => rest,
            _ => d,
        };
        clip(d.trim(), MAX_DIAG).to_string()
    });
    let addr = |name: &str| field(b, name).and_then(norm_addr);
    Some(Bounce {
        recipient: addr("final-recipient").or_else(|| addr("original-recipient")),
        status: field(b, "status")
            .or(diagnostic.as_deref())
            .and_then(find_status),
        action: field(b, "action").map(token).filter(|a| !a.is_empty()),
        diagnostic: diagnostic.filter(|d| !d.is_empty()),
    })
}

/// Extracts the failure details of a bounce; `None` unless `class` (what
/// [`classify`] said of it) is [`Class::Bounce`]. Fields that cannot be
/// found stay `None`.
///
/// Sources, in order: the first `message/delivery-status` part (its first
/// recipient block with `Action: failed`, else its first recipient block),
/// then `X-Failed-Recipients`, then the text body (Exim "following
/// address(es) failed:", Postfix `<user@x>: ...`, "delivered to user@x").
/// A permanent failure without a status code gets `5.0.0`; a `5.x.x` status
/// without an action gets `failed`.
pub fn parse_bounce(email: &Email, class: Class) -> Option<Bounce> {
    if class != Class::Bounce {
        return None;
    }
    let mut parts = email.attachments.iter().filter(|a| is_dsn_part(a));
    let mut b = parts
        .find_map(|a| parse_dsn(&a.content))
        .unwrap_or_default();
    let text = clip(&email.text, MAX_SCAN);
    let failed = email.header("X-Failed-Recipients");
    b.recipient = b
        .recipient
        .or_else(|| failed?.split(',').find_map(norm_addr));
    b.recipient = b.recipient.or_else(|| {
        let mut rcpt = [&EXIM_RCPT, &POSTFIX_RCPT, &GENERIC_RCPT].into_iter();
        rcpt.find_map(|r| norm_addr(cap1(r, text)?))
    });
    b.diagnostic = b.diagnostic.or_else(|| {
        let d = cap1(&SAID, text).or_else(|| cap1(&SMTP_LINE, text))?;
        Some(clip(d.trim(), MAX_DIAG).to_string())
    });
    b.status = b.status.or_else(|| {
        let diagnostic = b.diagnostic.as_deref().unwrap_or("");
        let found = find_status(diagnostic).or_else(|| find_status(text));
        found.or_else(|| is_match(&PERMANENT, text).then(|| "5.0.0".into()))
    });
    if b.action.is_none() && b.status.as_deref().is_some_and(|s| s.starts_with('5')) {
        b.action = Some("failed".into());
    }
    Some(b)
}

fn find_link(s: &str) -> Option<String> {
    let urls = LINK.as_ref()?.find_iter(s);
    let mut urls = urls.map(|m| m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']));
    let hit = urls.find(|u| {
        let l = u.to_ascii_lowercase();
        ["vf-", "verify", "confirm", "forward"]
            .iter()
            .any(|k| l.contains(k))
    });
    hit.map(str::to_string)
}

/// Finds the code and/or link of a forwarding-verification mail; `None` for
/// anything else. Code: `(#NNN)` in the subject, else 6-12 digits after
/// "code"; link: the first matching https URL of the text body, else of the
/// HTML body.
pub fn find_verification(email: &Email) -> Option<Verification> {
    let subject = clip(&email.subject, 4096);
    let text = clip(&email.text, MAX_SCAN);
    let hay = format!("{subject}\n{text}").to_ascii_lowercase();
    let confirm = hay.contains("confirm") || hay.contains("verif");
    if !confirm || !is_match(&FORWARDING, &hay) {
        return None;
    }
    let code = cap1(&SUBJECT_CODE, subject).or_else(|| cap1(&BODY_CODE, text));
    let html = || find_link(clip(email.html.as_deref()?, MAX_SCAN));
    let link = find_link(text).or_else(html);
    let code = code.map(str::to_string);
    (code.is_some() || link.is_some()).then_some(Verification { code, link })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an `Email` by hand from a mini message: `Name: value` header
    /// lines, a blank line, the text body, then optionally `--html--` and an
    /// HTML body, or `--dsn--` and a `message/delivery-status` part (sent
    /// with CRLF line ends).
    fn mail(raw: &str) -> Email {
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
        let (text, html) = body.split_once("\n--html--\n").unwrap_or((body, ""));
        let (text, dsn) = text.split_once("\n--dsn--\n").unwrap_or((text, ""));
        let mut e = Email::default();
        (e.text, e.html) = (text.into(), (!html.is_empty()).then(|| html.into()));
        if !dsn.is_empty() {
            let dsn = dsn.replace('\n', "\r\n");
            let headers = part("text/rfc822-headers", b"From: a@b.example");
            e.attachments = vec![headers, part("message/delivery-status", dsn.as_bytes())];
        }
        for (n, v) in head.lines().filter_map(|l| l.split_once(':')) {
            let v = v.trim();
            match n.to_ascii_lowercase().as_str() {
                "from" => e.from.push(Mailbox {
                    name: v.split_once('<').map(|(name, _)| name.trim().into()),
                    address: v.split_once('<').map_or(v, |(_, a)| a).replace('>', ""),
                }),
                "subject" => e.subject = v.into(),
                "content-type" => e.content_type = token(v),
                _ => {}
            }
            e.headers.push((n.into(), v.into()));
        }
        e
    }

    fn part(content_type: &str, content: &[u8]) -> Attachment {
        let (name, size, content_type) = (None, content.len(), content_type.into());
        Attachment {
            name,
            content_type,
            size,
            content: content.to_vec(),
        }
    }

    /// Runs `cases` (separated by `---`); each starts with a line of
    /// ` | `-separated expectations, `-` meaning `None`.
    fn each_case(cases: &str, check: impl Fn(&[Option<&str>], Email, &str)) {
        for case in cases.split("\n---\n") {
            let (want, raw) = case.split_once('\n').unwrap_or((case, ""));
            let want: Vec<_> = want.split(" | ").map(|w| (w != "-").then_some(w)).collect();
            check(&want, mail(raw), case);
        }
    }

    const CLASSIFY: &str = r#"auto_reply | header `Auto-Submitted: Auto-Replied; owner=a@x`
auto-submitted:  Auto-Replied; owner=a@x
Return-Path: <>
---
human | no automation headers
Auto-Submitted: NO
---
auto_reply | header `X-Auto-Response-Suppress: All`
From: Carol <carol@corp.example>
Subject: Automatic reply: Quote 42
X-Auto-Response-Suppress: All
---
auto_reply | header `X-Autoreply: yes`
X-Autoreply: yes
---
human | no automation headers
X-Autorespond: no
---
auto_reply | header `Precedence: AUTO_REPLY`
Precedence: AUTO_REPLY
---
auto_reply | header `Precedence: bulk`
Precedence: bulk
---
auto_reply | header `Precedence: junk` and subject `Out of Office: back soon`
Subject: Out of Office: back soon
Precedence: junk
---
list | header `List-Unsubscribe`
Precedence: junk
List-Unsubscribe: <mailto:u@example.com>
---
list | header `List-Id`
From: eve@example.com
List-Id: Dev <dev.lists.example.com>
Auto-Submitted: no
---
list | header `Precedence: List`
PRECEDENCE:  List 
---
bounce | header `Return-Path: <>`
Subject: Undeliverable
Return-Path:  < > 
---
auto_reply | null sender and subject `Autoreply: away`
Subject: Autoreply: away
Return-Path: <>
---
bounce | content type `multipart/report; report-type="delivery-status"; boundary=x`
Content-Type: multipart/report; report-type="delivery-status"; boundary=x
---
bounce | content type `multipart/REPORT`
Content-Type: multipart/REPORT
---
auto_reply | content type `multipart/report; report-type=disposition-notification`
Content-Type: multipart/report; report-type=disposition-notification
---
bounce | attachment `message/delivery-status`
From: ops@example.net

Delivery failed.
--dsn--
Final-Recipient: rfc822; a@b.example
---
bounce | header `X-Failed-Recipients: a@b.example`
X-Failed-Recipients: a@b.example
---
bounce | sender `POSTMASTER@outlook.com`
From: Postmaster <POSTMASTER@outlook.com>
List-Id: x
---
human | no automation headers
From: Frank <frank@example.com>
Subject: Out of office? Let's meet
Return-Path: <frank@example.com>

Can we confirm the meeting? Call 12345678. Looking forward to it.
https://example.com/confirm
---
human | no automation headers
Subject: Order confirmation (#12345678)

Please confirm your order, code: 12345678. We look forward to serving you.
Freight forwarding by ACME. https://shop.example/confirm?o=12345678"#;

    #[test]
    fn classification() {
        each_case(CLASSIFY, |want, e, case| {
            let c = classify(&e);
            let got = (Some(c.class), Some(c.reason.as_str()));
            assert_eq!(got, (want[0].and_then(Class::parse), want[1]), "{case}");
            let bounce = parse_bounce(&e, classify(&e).class).is_some();
            assert_eq!(bounce, c.class == Class::Bounce, "{case}");
            assert_eq!(find_verification(&e), None, "{case}");
        });
    }

    const BOUNCES: &str = r#"gone.user@example.org | 5.1.1 | failed | 550 5.1.1 <gone.user@example.org>: Recipient address rejected: User unknown
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

I'm sorry to have to inform you that your message could not be delivered.
--dsn--
Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; alive@example.org
Action: delayed
Status: 4.4.1

Final-Recipient: rfc822; <Gone.User@Example.ORG>
Action: failed
Original-Recipient: rfc822;gone.user@example.org
Status: 5.1.1 (bad mailbox)
Diagnostic-Code: smtp; 550 5.1.1 <gone.user@example.org>: Recipient address
    rejected: User unknown
---
a@b.example | 4.4.7 | delayed | -
From: postmaster@example.net

x
--dsn--
Reporting-MTA: dns; x

Original-Recipient: rfc822; A@B.example
Action: Delayed
Status: 4.4.7

Final-Recipient: rfc822; c@d.example
Action: relayed
---
nobody@example.com | 5.0.0 | failed | 550 Mailbox does not exist
From: Mail Delivery System <Mailer-Daemon@host.example>
X-Failed-Recipients: Nobody@Example.com, other@example.com
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  Nobody@Example.com
    host mx.example.com [192.0.2.1]
    SMTP error from remote mail server after RCPT TO:<nobody@example.com>:
    550 Mailbox does not exist
---
nobody@example.com | 5.7.1 | failed | 550 5.7.1 relaying denied
From: Mailer-Daemon@host.example

This message was created automatically by mail delivery software.
The following address(es) failed:

  <Nobody@Example.com>:
    host mx.example.com [192.0.2.1] said: 550 5.7.1 relaying denied
---
lost@example.org | 5.1.1 | failed | 550 5.1.1 user unknown (in reply to RCPT TO command)
From: postmaster@mx.example.net

<Lost@Example.org> (expanded from <info@x.example>): host
    mx.example.org[192.0.2.7] said: 550 5.1.1 user unknown (in reply to RCPT TO command)
---
ann@x.org | - | - | -
From: mailer-daemon@googlemail.com

Your message wasn't delivered to Ann@X.org.
---
- | - | - | -
From: MAILER-DAEMON
Subject: forwarding confirmation (#1)

:
--dsn--
	x
Final-Recipient: ;
	Action:
Status: x
Diagnostic-Code: ;"#;

    #[test]
    fn bounces() {
        each_case(BOUNCES, |want, e, case| {
            let b = parse_bounce(&e, classify(&e).class).unwrap_or_default();
            let got = [&b.recipient, &b.status, &b.action, &b.diagnostic].map(|f| f.as_deref());
            assert_eq!(got[..], want[..], "{case}");
        });
    }

    const VERIFICATIONS: &str = r#"123456789 | https://mail-settings.google.com/mail/vf-%5BANGjdJ8%5D-abc123
From: Gmail Team <forwarding-noreply@google.com>
Subject: (#123456789) Gmail Forwarding Confirmation - Receive Mail from user@gmail.com

user@gmail.com has requested to automatically forward mail to your email
address crm@example.com. Confirmation code: 987654321
To allow user@gmail.com to automatically forward mail to your address, please
click the link below to confirm the request:
https://mail-settings.google.com/mail/vf-%5BANGjdJ8%5D-abc123.
See https://support.google.com/mail
---
84213377 | https://account.live.com/confirm?c=abc&amp;x=1
From: Microsoft <account-security-noreply@accountprotection.microsoft.com>
Subject: Verify your forwarding address

To finish setting up forwarding, use this security code: 84213377
--html--
<p>See <a href="https://outlook.live.com/help">help</a> or
<a href="https://account.live.com/confirm?c=abc&amp;x=1">Verify</a></p>
---
- | https://outlook.live.com/mail/forwarding/verify?t=x
From: no-reply@example.com
Subject: Confirm forwarding

Please confirm forwarding of messages: https://outlook.live.com/mail/forwarding/verify?t=x, thanks."#;

    #[test]
    fn verifications() {
        each_case(VERIFICATIONS, |want, e, case| {
            let v = find_verification(&e).unwrap_or_default();
            let got = [v.code.as_deref(), v.link.as_deref()];
            assert_eq!(got[..], want[..], "{case}");
        });
    }

    #[test]
    fn class_round_trips() {
        for c in [Class::Human, Class::AutoReply, Class::Bounce, Class::List] {
            assert_eq!(Class::parse(c.as_str()), Some(c));
        }
        assert_eq!(Class::parse(" AUTO_REPLY "), Some(Class::AutoReply));
        assert_eq!((Class::parse("spam"), Class::parse("")), (None, None));
    }

    #[test]
    fn hostile_input_never_panics() {
        let empty = Email::default();
        assert_eq!(classify(&empty).class, Class::Human);
        assert_eq!(parse_bounce(&empty, classify(&empty).class), None);
        assert_eq!(find_verification(&empty), None);

        let huge = "é".repeat(400_000) + "<>@;:(#\r\n\0";
        let mut e = mail("");
        e.from = vec![Mailbox::default(); 2];
        e.from[0].address.clone_from(&huge);
        (e.subject, e.text, e.html) = (huge.clone(), huge.clone(), Some(huge.clone()));
        for n in ["Auto-Submitted", "Content-Type", "", "X-Failed-Recipients"] {
            e.headers.push((n.into(), huge.clone()));
        }
        let garbage = [0xff, 0xfe, b'\n', b' ', b':'];
        e.attachments = vec![part("message/delivery-status", &garbage)];
        let c = classify(&e);
        assert_eq!(c.class, Class::Bounce);
        assert!(c.reason.len() < 200 && !c.reason.contains(['\r', '\n', '\0']));
        assert_eq!(
            parse_bounce(&e, classify(&e).class).map(|b| b.recipient),
            Some(None)
        );
        assert_eq!(find_verification(&e), None);
        // A DSN part larger than the scan limit is still read from its start.
        let big = format!(
            "Final-Recipient: rfc822; a@b.example\n{}",
            "x: é\n".repeat(70_000)
        );
        e.attachments = vec![part("message/delivery-status", big.as_bytes())];
        let b = parse_bounce(&e, classify(&e).class).unwrap_or_default();
        assert_eq!(b.recipient.as_deref(), Some("a@b.example"));
        let clipped = (quote("a\r\nb"), clip("éé", 3), clip("é", 1));
        assert_eq!(clipped, ("a  b".into(), "é", ""));
    }
}
