//! Address normalisation, `own_addresses` patterns and virtual addresses
//! (`handle+suffix@`, `handle+345@`, `handle+archive+345@`), and the tags
//! that sign a per-record address (`handle+345.k7q2m9ab@`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Case-folded, trimmed, without angle brackets or a `mailto:` prefix.
pub fn normalize(address: &str) -> String {
    let a = address.trim();
    let a = a.strip_prefix("mailto:").unwrap_or(a);
    let a = a.trim_start_matches('<').trim_end_matches('>');
    a.trim().to_lowercase()
}

/// True for a plain `local@domain.tld` address (after [`normalize`]): one
/// `@`, something on both sides, a dot in the domain, no spaces, commas,
/// angle brackets or quotes. Not the whole of RFC 5322: what a CRM
/// record's primary email should look like.
pub fn is_valid(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "@,<>\"()[];:\\".contains(c))
    };
    plain(local)
        && plain(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// The domain part of an address (after the last `@`), lower-case.
pub fn domain(address: &str) -> Option<String> {
    let a = normalize(address);
    a.rsplit_once('@').map(|(_, d)| d.to_string())
}

/// An `own_addresses` entry: an exact address or a glob where `*` matches
/// any run of characters (`*@example.com`, `support-*@example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(pattern: &str) -> Self {
        Pattern(normalize(pattern))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, address: &str) -> bool {
        glob(self.0.as_bytes(), normalize(address).as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative wildcard match with single-star backtracking: linear in
    // practice, no recursion on hostile input.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a recipient address says about routing: `crm+case+345@` is
/// suffix `case` and record 345.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Virtual {
    pub suffix: Option<String>,
    pub record_id: Option<i64>,
    /// The tag after the record id (`345.k7q2m9ab`), if any.
    pub tag: Option<String>,
}

/// What a per-record address's tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// No record secret is configured: tags are not checked.
    Unchecked,
    Valid,
    Missing,
    Wrong,
}

/// Bytes of HMAC-SHA256 kept in a tag: 40 bits, eight base32 letters. A
/// forger must guess them per record; a mail server rejects far fewer
/// tries than 2^40.
const TAG_BYTES: usize = 5;

/// The tag of record `id` under `secret`: a truncated HMAC-SHA256 of the
/// id in decimal, in lower-case base32 (RFC 4648, no padding).
pub fn record_tag(secret: &[u8], id: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(id.to_string().as_bytes());
    let digest = mac.finalize().into_bytes();
    base32(digest.get(..TAG_BYTES).unwrap_or_default())
}

/// Checks a tag in constant time.
fn tag_is_valid(secret: &[u8], id: i64, tag: &str) -> bool {
    let Some(bytes) = unbase32(tag).filter(|b| b.len() == TAG_BYTES) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(id.to_string().as_bytes());
    mac.verify_truncated_left(&bytes).is_ok()
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&b| b == c.to_ascii_lowercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// Which addresses count as the mailroom's own, and how its per-record
/// addresses are signed.
#[derive(Debug, Clone, Default)]
pub struct Mailroom {
    /// Local part before `+`; `None` means any local part counts.
    pub handle: Option<String>,
    /// Empty means any domain.
    pub domains: Vec<String>,
    /// The record secret (`record_secret_file`): per-record addresses
    /// carry a tag made with it.
    pub secret: Option<Vec<u8>>,
    /// An unsigned or wrongly signed per-record address falls through to
    /// the rules.
    pub require_signed: bool,
}

impl Mailroom {
    /// True when `address` is the mailroom's own (`handle@` or
    /// `handle+...@` at one of its domains). Without a handle, only
    /// plus-addresses count, since every address would otherwise.
    pub fn is_own(&self, address: &str) -> bool {
        let a = normalize(address);
        let Some((local, dom)) = a.rsplit_once('@') else {
            return false;
        };
        if !self.domains.is_empty() && !self.domains.iter().any(|d| d == dom) {
            return false;
        }
        match &self.handle {
            Some(h) => local.split('+').next() == Some(h.as_str()),
            None => local.contains('+'),
        }
    }

    /// The suffix and record id of a mailroom address, or `None` when the
    /// address is not ours or carries no `+` part.
    pub fn parse(&self, address: &str) -> Option<Virtual> {
        if !self.is_own(address) {
            return None;
        }
        let a = normalize(address);
        let (local, _) = a.rsplit_once('@')?;
        let mut tags = local.split('+').skip(1).filter(|t| !t.is_empty());
        let mut v = Virtual::default();
        for tag in tags.by_ref() {
            let (id, signed) = match tag.split_once('.') {
                Some((id, signed)) => (id, Some(signed)),
                None => (tag, None),
            };
            match id.parse::<i64>() {
                Ok(n) if n > 0 && id.bytes().all(|b| b.is_ascii_digit()) => {
                    v.record_id = Some(n);
                    v.tag = signed.map(str::to_string);
                    break;
                }
                _ if v.suffix.is_none() => v.suffix = Some(tag.to_string()),
                _ => {}
            }
        }
        (v.suffix.is_some() || v.record_id.is_some()).then_some(v)
    }

    /// What the tag of a per-record address says.
    pub fn signature(&self, v: &Virtual) -> Signature {
        let (Some(secret), Some(id)) = (&self.secret, v.record_id) else {
            return Signature::Unchecked;
        };
        match &v.tag {
            None => Signature::Missing,
            Some(tag) if tag_is_valid(secret, id, tag) => Signature::Valid,
            Some(_) => Signature::Wrong,
        }
    }

    /// The mailbox address of record `id`: `handle+id@domain`, with its
    /// tag when a record secret is set. `None` without a handle and a
    /// domain to write it with.
    pub fn address_of(&self, id: i64) -> Option<String> {
        let handle = self.handle.as_ref()?;
        let domain = self.domains.first()?;
        let tag = self
            .secret
            .as_ref()
            .map(|s| format!(".{}", record_tag(s, id)))
            .unwrap_or_default();
        Some(format!("{handle}+{id}{tag}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_tags_verify_and_nothing_else_does() {
        use super::*;
        let secret = b"0123456789abcdef0123456789abcdef";
        let tag = record_tag(secret, 345);
        assert_eq!(tag.len(), 8);
        assert!(tag_is_valid(secret, 345, &tag));
        assert!(tag_is_valid(secret, 345, &tag.to_uppercase()));
        assert!(!tag_is_valid(secret, 346, &tag), "another record");
        assert!(!tag_is_valid(b"another secret..", 345, &tag));
        assert!(!tag_is_valid(secret, 345, &tag[..7]), "cut short");
        assert!(!tag_is_valid(secret, 345, "aaaaaaaa"));
        assert!(!tag_is_valid(secret, 345, "!!"));
        assert_eq!(unbase32(&base32(b"hello")).as_deref(), Some(&b"hello"[..]));
        let m = Mailroom {
            handle: Some("crm".into()),
            domains: vec!["example.com".into()],
            secret: Some(secret.to_vec()),
            require_signed: true,
        };
        let address = m.address_of(345).expect("address");
        assert_eq!(address, format!("crm+345.{tag}@example.com"));
        let v = m.parse(&address).expect("virtual");
        assert_eq!(
            (v.record_id, m.signature(&v)),
            (Some(345), Signature::Valid)
        );
        let v = m.parse("crm+archive+345@example.com").expect("virtual");
        assert_eq!(m.signature(&v), Signature::Missing);
        let v = m.parse("crm+345.aaaaaaaa@example.com").expect("virtual");
        assert_eq!(m.signature(&v), Signature::Wrong);
    }

    #[test]
    fn valid_addresses_are_plain_ones() {
        use super::is_valid;
        for good in ["ann@example.org", "o'brien@x.example", "a.b+c@mail.co.uk"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "ann@@x.org",
            "a n@x.org",
            "ann@x.org,bob@y.org",
            "<ann@x.org>",
            "ann@.org",
            "ann@x.",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize(" <Ann@Example.ORG> "), "ann@example.org");
        assert_eq!(normalize("mailto:a@b"), "a@b");
        assert_eq!(domain("x@Example.com").as_deref(), Some("example.com"));
    }

    #[test]
    fn patterns() {
        let p = Pattern::new("*@Example.com");
        assert!(p.matches("Support@example.com"));
        assert!(!p.matches("a@example.com.evil"));
        assert!(!p.matches("a@sub.example.org"));
        assert!(Pattern::new("support@example.com").matches("SUPPORT@example.com"));
        assert!(Pattern::new("help-*@x.org").matches("help-desk@x.org"));
        assert!(!Pattern::new("help-*@x.org").matches("desk@x.org"));
    }

    #[test]
    fn virtual_addresses_with_handle() {
        let m = Mailroom {
            handle: Some("crm".into()),
            domains: vec!["example.com".into()],
            ..Mailroom::default()
        };
        let p = |a| m.parse(a);
        assert_eq!(
            p("crm+case@example.com"),
            Some(Virtual {
                suffix: Some("case".into()),
                record_id: None,
                tag: None,
            })
        );
        assert_eq!(
            p("CRM+345@Example.com"),
            Some(Virtual {
                suffix: None,
                record_id: Some(345),
                tag: None,
            })
        );
        assert_eq!(
            p("crm+archive+345@example.com"),
            Some(Virtual {
                suffix: Some("archive".into()),
                record_id: Some(345),
                tag: None,
            })
        );
        assert_eq!(p("crm@example.com"), None);
        assert_eq!(p("crm+case@other.org"), None);
        assert_eq!(p("sales+case@example.com"), None);
        assert!(m.is_own("crm@example.com"));
    }

    #[test]
    fn without_handle_any_plus_address_counts() {
        let m = Mailroom::default();
        assert_eq!(
            m.parse("anything+lead@anywhere.org").and_then(|v| v.suffix),
            Some("lead".into())
        );
        assert!(!m.is_own("plain@anywhere.org"));
    }
}
