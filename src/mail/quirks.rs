//! Workarounds for known defects of mail-parser 0.11, each with a fixture
//! in `fixtures/parser-*.eml` (tests/parser_defects.rs):
//!
//! 1. A boundary string in the middle of a line ends the part there,
//!    truncating the body: such occurrences are hidden from the parser
//!    behind a placeholder byte and put back afterwards.
//! 2. A `filename=` whose value is folded onto the next line is lost, and
//! 3. an RFC 2231 name containing an apostrophe (`O'Brien`) is cut at it:
//!    attachment names are read again from the part's raw header here.
//! 4. Quoted-printable with a stray `=` (`==3D`) fails to decode as a
//!    whole and the raw text comes back: such parts are decoded again
//!    here, leaving each invalid `=` as it is (RFC 2045 6.7, note 1).

use std::borrow::Cow;

/// Boundaries considered when hiding mid-line occurrences.
const MAX_BOUNDARIES: usize = 64;

/// A copy of `raw` in which every `--<boundary>` that does not start a
/// line has its second `-` replaced by `placeholder`, a byte that occurs
/// nowhere in `raw` (nor as a quoted-printable `=XX` escape). `None` when
/// there is nothing to hide or no free byte.
pub fn hide_midline_boundaries(raw: &[u8]) -> Option<(Vec<u8>, u8)> {
    let boundaries = boundaries(raw);
    if boundaries.is_empty() {
        return None;
    }
    // A SIMD literal search (memchr) rather than a byte loop: this runs
    // over every message, attachments included. Not a regex: compiling
    // one cost a small delivery more than the search.
    let mut hits = Vec::new();
    let mut from = 0;
    while let Some(at) = raw
        .get(from..)
        .and_then(|rest| memchr::memmem::find(rest, b"--"))
    {
        let i = from + at;
        let line_start = i == 0 || raw[i - 1] == b'\n';
        let rest = &raw[i + 2..];
        if !line_start && boundaries.iter().any(|bd| rest.starts_with(bd)) {
            hits.push(i + 1);
            from = i + 2;
        } else {
            // `---boundary`: the next `--` may start at the second dash.
            from = i + 1;
        }
    }
    if hits.is_empty() {
        return None;
    }
    let placeholder = free_byte(raw)?;
    let mut copy = raw.to_vec();
    for at in hits {
        copy[at] = placeholder;
    }
    Some((copy, placeholder))
}

/// Every `boundary=` parameter value in the message (the name in any
/// case): each `=` found by memchr whose eight bytes before it spell
/// `boundary`.
fn boundaries(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let keys = memchr::memchr_iter(b'=', raw)
        .filter(|&eq| eq >= 8 && raw[eq - 8..eq].eq_ignore_ascii_case(b"boundary"));
    for eq in keys {
        if out.len() >= MAX_BOUNDARIES {
            break;
        }
        let i = eq + 1;
        let value: &[u8] = if raw.get(i) == Some(&b'"') {
            let rest = &raw[i + 1..];
            let end = rest.iter().position(|&b| b == b'"' || b == b'\n');
            &rest[..end.unwrap_or(rest.len())]
        } else {
            let rest = &raw[i..];
            let end = rest
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace());
            &rest[..end.unwrap_or(rest.len())]
        };
        if !value.is_empty() && !out.iter().any(|v| v == value) {
            out.push(value.to_vec());
        }
    }
    out
}

/// A control byte that appears neither in `raw` nor, hex-escaped, as a
/// quoted-printable `=XX` in it.
fn free_byte(raw: &[u8]) -> Option<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    // One pass: the bytes present, and the bytes written as `=XX`.
    let mut used = [false; 256];
    for (i, &b) in raw.iter().enumerate() {
        used[b as usize] = true;
        if b == b'='
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            used[(h * 16 + l) as usize] = true;
        }
    }
    (0x01u8..=0x08)
        .chain(0x0e..=0x1f)
        .find(|&b| !used[b as usize])
}

/// Puts back the `-` that [`hide_midline_boundaries`] hid.
pub fn restore(s: &mut String, placeholder: u8) {
    let p = placeholder as char;
    if s.contains(p) {
        *s = s.replace(p, "-");
    }
}

pub fn restore_bytes(bytes: &mut [u8], placeholder: u8) {
    for b in bytes.iter_mut().filter(|b| **b == placeholder) {
        *b = b'-';
    }
}

/// Decodes quoted-printable leniently: soft line breaks joined, `=XX`
/// decoded, any other `=` kept as written.
pub fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        // A soft line break: `=`, optional trailing blanks, line end.
        let mut j = i + 1;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        if bytes.get(j) == Some(&b'\n') {
            i = j + 1;
            continue;
        }
        if bytes.get(j) == Some(&b'\r') && bytes.get(j + 1) == Some(&b'\n') {
            i = j + 2;
            continue;
        }
        match (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// Bytes in `charset` as text; unknown charsets are read as UTF-8 with
/// replacement characters.
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    match charset
        .filter(|c| !c.eq_ignore_ascii_case("utf-8") && !c.eq_ignore_ascii_case("us-ascii"))
        .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
    {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// An attachment name read from a part's raw header: `filename` of
/// Content-Disposition, else `name` of Content-Type, with folding undone
/// and RFC 2231 (`name*=charset'lang'value`, continuations `name*0*`)
/// decoded. `extended` is true when it came from RFC 2231 parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct PartName {
    pub name: String,
    pub extended: bool,
}

pub fn part_name(header: &[u8]) -> Option<PartName> {
    let header = String::from_utf8_lossy(header);
    let fields = unfolded_fields(&header);
    let value = |field: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(field))
            .map(|(_, v)| v.as_str())
    };
    value("content-disposition")
        .and_then(|v| parameter(v, "filename"))
        .or_else(|| value("content-type").and_then(|v| parameter(v, "name")))
}

/// Header fields as (name, value) with line folds removed.
fn unfolded_fields(header: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in header.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.to_string()));
        }
    }
    out
}

/// Splits `a; b="x;y"; c` on the semicolons outside quotes.
fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

fn unquote(v: &str) -> Cow<'_, str> {
    let v = v.trim();
    match v.strip_prefix('"') {
        Some(inner) => {
            let inner = inner.strip_suffix('"').unwrap_or(inner);
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            Cow::Owned(out)
        }
        None => Cow::Borrowed(v),
    }
}

fn percent_decode(v: &str) -> Vec<u8> {
    let bytes = v.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The parameter `key` of a header value: plain (`key=v`), RFC 2231
/// extended (`key*=charset'lang'v`) or continued (`key*0`, `key*1*`, ...).
fn parameter(value: &str, key: &str) -> Option<PartName> {
    let mut plain = None;
    let mut extended = None;
    let mut sections: Vec<(u32, bool, String)> = Vec::new();
    for param in split_params(value).into_iter().skip(1) {
        let Some((name, v)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let Some(rest) = name.strip_prefix(key) else {
            continue;
        };
        if rest.is_empty() {
            plain = Some(unquote(v).into_owned());
        } else if rest == "*" {
            extended = Some(unquote(v).into_owned());
        } else if let Some(section) = rest.strip_prefix('*') {
            let (n, encoded) = match section.strip_suffix('*') {
                Some(n) => (n, true),
                None => (section, false),
            };
            if let Ok(n) = n.parse::<u32>() {
                sections.push((n, encoded, unquote(v).into_owned()));
            }
        }
    }
    if let Some(v) = extended {
        return Some(PartName {
            name: decode_extended(&v, true),
            extended: true,
        });
    }
    if !sections.is_empty() {
        sections.sort_by_key(|(n, _, _)| *n);
        let first_encoded = sections[0].1;
        let charset = if first_encoded {
            charset_of(&sections[0].2)
        } else {
            None
        };
        let mut bytes = Vec::new();
        for (i, (_, encoded, v)) in sections.iter().enumerate() {
            let v = if i == 0 && first_encoded {
                strip_charset(v)
            } else {
                v.as_str()
            };
            if *encoded {
                bytes.extend(percent_decode(v));
            } else {
                bytes.extend_from_slice(v.as_bytes());
            }
        }
        return Some(PartName {
            name: decode_charset(&bytes, charset),
            extended: true,
        });
    }
    plain.filter(|p| !p.trim().is_empty()).map(|name| PartName {
        name: name.trim().to_string(),
        extended: false,
    })
}

/// `charset'lang'value`: the charset, split at the first two apostrophes
/// only, so that apostrophes in the value stay.
fn charset_of(v: &str) -> Option<&str> {
    let (charset, rest) = v.split_once('\'')?;
    rest.contains('\'')
        .then_some(charset)
        .filter(|c| !c.is_empty())
}

fn strip_charset(v: &str) -> &str {
    v.split_once('\'')
        .and_then(|(_, rest)| rest.split_once('\''))
        .map_or(v, |(_, value)| value)
}

fn decode_extended(v: &str, with_charset: bool) -> String {
    let charset = if with_charset { charset_of(v) } else { None };
    let value = if charset.is_some() || v.starts_with("''") {
        strip_charset(v)
    } else {
        v
    };
    decode_charset(&percent_decode(value), charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_keeps_stray_equals() {
        assert_eq!(
            quoted_printable(
                b"1 + 1 ==3D 2\r\nx==y\r\nend=3D=3D\r\nsoft =\r\nbreak=  \r\nab==\r\ncd="
            ),
            b"1 + 1 == 2\r\nx==y\r\nend==\r\nsoft breakab=cd="
        );
    }

    #[test]
    fn names_with_apostrophes_and_folds() {
        let name = |h: &str| part_name(h.as_bytes()).map(|n| n.name);
        assert_eq!(
            name("Content-Disposition: attachment; filename*=UTF-8''O'Brien%27s%20report.pdf"),
            Some("O'Brien's report.pdf".into())
        );
        assert_eq!(
            name("Content-Disposition: attachment; filename*=utf-8'en'John's file.pdf"),
            Some("John's file.pdf".into())
        );
        assert_eq!(
            name(
                "Content-Disposition: attachment; filename*0*=UTF-8''Ann's%20;\r\n filename*1=\"notes.pdf\""
            ),
            Some("Ann's notes.pdf".into())
        );
        assert_eq!(
            name("Content-Disposition: attachment;\r\n\tfilename=\r\n \"second.pdf\""),
            Some("second.pdf".into())
        );
        assert_eq!(
            name("Content-Type: application/pdf; name=\"a \\\"q\\\" b.pdf\""),
            Some("a \"q\" b.pdf".into())
        );
        assert_eq!(
            name("Content-Disposition: attachment; filename*=iso-8859-1''caf%E9.txt"),
            Some("café.txt".into())
        );
        assert_eq!(name("Content-Type: text/plain"), None);
    }

    #[test]
    fn midline_boundaries_are_hidden_and_restored() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n--sep\r\n\r\nsay --sep here\r\n--sep--\r\n";
        let (copy, p) = hide_midline_boundaries(raw).expect("hidden");
        assert_eq!(copy.len(), raw.len());
        let text = String::from_utf8_lossy(&copy).into_owned();
        assert!(text.contains("\r\n--sep\r\n") && text.contains("\r\n--sep--\r\n"));
        assert!(!text.contains("say --sep"));
        let mut text = text;
        restore(&mut text, p);
        assert_eq!(text.as_bytes(), raw);
        assert!(hide_midline_boundaries(b"Subject: none\r\n\r\nno -- parts").is_none());
        // The placeholder is neither in the message nor written as =XX.
        assert_eq!(free_byte(b"\x01 =02 =0d"), Some(0x03));
        assert_eq!(free_byte(b"=0E"), Some(0x01));
    }
}
