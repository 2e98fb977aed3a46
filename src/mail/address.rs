//! Address normalisation, `own_addresses` patterns and virtual addresses
//! (`handle+suffix@`, `handle+345@`, `handle+archive+345@`).

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
}

/// Which addresses count as the mailroom's own.
#[derive(Debug, Clone, Default)]
pub struct Mailroom {
    /// Local part before `+`; `None` means any local part counts.
    pub handle: Option<String>,
    /// Empty means any domain.
    pub domains: Vec<String>,
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
            match tag.parse::<i64>() {
                Ok(id) if id > 0 && tag.bytes().all(|b| b.is_ascii_digit()) => {
                    v.record_id = Some(id);
                    break;
                }
                _ if v.suffix.is_none() => v.suffix = Some(tag.to_string()),
                _ => {}
            }
        }
        (v.suffix.is_some() || v.record_id.is_some()).then_some(v)
    }
}

#[cfg(test)]
mod tests {
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
        };
        let p = |a| m.parse(a);
        assert_eq!(
            p("crm+case@example.com"),
            Some(Virtual {
                suffix: Some("case".into()),
                record_id: None
            })
        );
        assert_eq!(
            p("CRM+345@Example.com"),
            Some(Virtual {
                suffix: None,
                record_id: Some(345)
            })
        );
        assert_eq!(
            p("crm+archive+345@example.com"),
            Some(Virtual {
                suffix: Some("archive".into()),
                record_id: Some(345)
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
