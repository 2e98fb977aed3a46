//! Body rules: pulling `Label: value` pairs out of lead-notification mail
//! bodies (plain text, or HTML-only mail such as web-form tables), normalising
//! labels for matching, converting raw values to typed field values, and
//! generating a ready-to-paste `body_rule` YAML block for learn mode.
//!
//! This module owns only pure string processing: no I/O, no configuration
//! loading, no database access. Input is hostile email, so nothing here panics,
//! the HTML reader never recurses, and all work is linear in the input size.
//!
//! Decisions:
//! - An empty delimiter means the default `:`.
//! - A text line yields a pair at the FIRST delimiter. It is skipped when the
//!   label is empty or over 60 characters, when it is a quoted reply line
//!   (`>`), when the text after the delimiter starts with `//` (a URL such as
//!   `https://…`), when the label is `mailto`, or when a digit sits on both
//!   sides of the delimiter (a time such as `10:15`).
//! - Continuation: a non-blank line indented deeper than the line of the
//!   previous pair continues that pair's value; continuation lines are joined
//!   with `"\n"` so multi-line addresses keep their shape. A pair with an empty
//!   value takes the indented lines as its value. A blank line or any other
//!   line ends the continuation. (Deeper, not merely indented, so forms whose
//!   every line is indented still give one pair per line.)
//! - Duplicates (labels equal under [`normalize_label`]) keep the FIRST
//!   occurrence, and so do its continuation lines; order is preserved.
//! - HTML is read only when the text body is empty or whitespace. A table row
//!   with exactly two non-empty cells gives a pair (the label cell has inner
//!   whitespace collapsed and one trailing delimiter stripped); any other row,
//!   and all other content, goes through the text line parser. `<script>`,
//!   `<style>`, `<title>` and comments are dropped; `&nbsp;` becomes a space.
//! - [`html_to_text`] renders a table row as its non-empty cells joined by a
//!   TAB, one row per line; `<br>` inside a cell becomes a newline.
//! - Values shown in conversion errors are trimmed, cut to 40 characters and
//!   stripped of control characters.

use std::collections::{HashMap, HashSet};

const MAX_LABEL_CHARS: usize = 60;
const DEFAULT_DELIMITER: &str = ":";

/// One `label: value` pair found in a body; `label` is as written, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub label: String,
    pub value: String,
}

/// Type a body-rule field is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Email,
    Phone,
    Number,
    Date,
}

fn effective_delimiter(delimiter: &str) -> &str {
    if delimiter.is_empty() {
        DEFAULT_DELIMITER
    } else {
        delimiter
    }
}

/// Lower-cases (Unicode-aware), trims, and collapses inner whitespace runs to
/// one space, so `"  Contact   First\tNAME "` equals `"contact first name"`.
pub fn normalize_label(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.chars().count() <= MAX_LABEL_CHARS
}

/// Splits one (left-trimmed) line at the first delimiter, applying the skip rules.
fn split_pair<'a>(line: &'a str, delim: &str) -> Option<(&'a str, &'a str)> {
    let pos = line.find(delim)?;
    let label = line.get(..pos)?.trim();
    let rest = line.get(pos + delim.len()..)?;
    let url = rest.starts_with("//") || label.eq_ignore_ascii_case("mailto");
    let time = label.ends_with(|c: char| c.is_ascii_digit())
        && rest.starts_with(|c: char| c.is_ascii_digit());
    if url || time || !valid_label(label) {
        return None;
    }
    Some((label, rest.trim()))
}

#[derive(Default)]
struct Collector<'d> {
    delim: &'d str,
    pairs: Vec<Pair>,
    seen: HashSet<String>,
    /// Indent of the last pair line, and its index (`None`: a dropped duplicate).
    cont: Option<(usize, Option<usize>)>,
}

impl Collector<'_> {
    fn push(&mut self, label: &str, value: String) -> Option<usize> {
        if !self.seen.insert(normalize_label(label)) {
            return None;
        }
        self.pairs.push(Pair {
            label: label.to_string(),
            value,
        });
        Some(self.pairs.len() - 1)
    }

    fn line(&mut self, line: &str) {
        let body = line.trim_start();
        if body.trim_end().is_empty() {
            self.cont = None;
            return;
        }
        let indent = line.len() - body.len();
        if let Some((base, target)) = self.cont
            && indent > base
        {
            if let Some(pair) = target.and_then(|i| self.pairs.get_mut(i)) {
                if !pair.value.is_empty() {
                    pair.value.push('\n');
                }
                pair.value.push_str(body.trim_end());
            }
            return;
        }
        self.cont = None;
        if body.starts_with('>') {
            return;
        }
        if let Some((label, value)) = split_pair(body, self.delim) {
            let target = self.push(label, value.to_string());
            self.cont = Some((indent, target));
        }
    }
}

/// Extracts `label: value` pairs from a mail body. `text` is used unless it is
/// empty or whitespace, in which case `html` (if any) is read instead. See the
/// module docs for the exact rules.
pub fn extract_pairs(text: &str, html: Option<&str>, delimiter: &str) -> Vec<Pair> {
    let delim = effective_delimiter(delimiter);
    let mut c = Collector {
        delim,
        ..Collector::default()
    };
    match html {
        Some(html) if text.trim().is_empty() => {
            for block in html_blocks(html) {
                c.cont = None;
                match block {
                    Block::Line(line) => c.line(&line),
                    Block::Row(cells) => {
                        if let [label, value] = cells.as_slice()
                            && let Some(label) = row_label(label, delim)
                        {
                            c.push(&label, value.clone());
                            continue;
                        }
                        for line in cells.iter().flat_map(|cell| cell.lines()) {
                            c.line(line);
                        }
                    }
                }
            }
        }
        _ => {
            for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
                c.line(line);
            }
        }
    }
    c.pairs
}

fn row_label(cell: &str, delim: &str) -> Option<String> {
    let flat = cell.split_whitespace().collect::<Vec<_>>().join(" ");
    let label = flat.strip_suffix(delim.trim()).unwrap_or(&flat).trim();
    (valid_label(label) && !label.contains(delim)).then(|| label.to_string())
}

/// Converts HTML to plain text: block tags end lines, tags are stripped,
/// entities decoded, `<script>`/`<style>`/`<title>` dropped, and each table row
/// rendered as its non-empty cells joined by a TAB.
pub fn html_to_text(html: &str) -> String {
    let lines: Vec<String> = html_blocks(html)
        .into_iter()
        .map(|b| match b {
            Block::Line(line) => line,
            Block::Row(cells) => cells.join("\t"),
        })
        .collect();
    lines.join("\n")
}

enum Block {
    Line(String),
    /// Non-empty cells, each trimmed; `<br>` inside a cell is `\n`.
    Row(Vec<String>),
}

struct OpenRow {
    depth: usize,
    cells: Vec<String>,
    in_cell: bool,
}

/// Appends HTML text, collapsing whitespace runs to one space.
fn push_collapsed(buf: &mut String, s: &str) {
    for c in s.chars() {
        if !c.is_whitespace() {
            buf.push(c);
        } else if !buf.is_empty() && !buf.ends_with([' ', '\n']) {
            buf.push(' ');
        }
    }
}

#[derive(Default)]
struct HtmlBuilder {
    blocks: Vec<Block>,
    line: String,
    rows: Vec<OpenRow>,
    depth: usize,
}

const BREAK_TAGS: &str = "br p div li ul ol h1 h2 h3 h4 h5 h6 hr blockquote pre dl dt dd section article header footer form fieldset legend address caption center";

impl HtmlBuilder {
    fn cell(&mut self) -> Option<&mut String> {
        self.rows
            .last_mut()
            .filter(|r| r.in_cell)
            .and_then(|r| r.cells.last_mut())
    }

    fn text(&mut self, s: &str) {
        match self.cell() {
            Some(cell) => push_collapsed(cell, s),
            None => push_collapsed(&mut self.line, s),
        }
    }

    /// Ends the current line (or starts a new line inside the current cell).
    fn brk(&mut self) {
        if let Some(cell) = self.cell() {
            cell.truncate(cell.trim_end().len());
            if !cell.is_empty() {
                cell.push('\n');
            }
            return;
        }
        let line = std::mem::take(&mut self.line);
        if !line.trim().is_empty() {
            self.blocks.push(Block::Line(line.trim().to_string()));
        }
    }

    fn close_row(&mut self) {
        if let Some(row) = self.rows.pop() {
            // Cells never hold blank lines or spaces around `\n` (see `brk`).
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            if !cells.is_empty() {
                self.blocks.push(Block::Row(cells));
            }
        }
    }

    fn top_row_here(&self) -> bool {
        self.rows.last().is_some_and(|r| r.depth == self.depth)
    }

    fn tag(&mut self, name: &str, closing: bool) {
        match (name, closing) {
            ("table", false) => {
                self.brk();
                self.depth += 1;
            }
            ("table", true) => {
                while self.rows.last().is_some_and(|r| r.depth >= self.depth) {
                    self.close_row();
                }
                self.depth = self.depth.saturating_sub(1);
                self.brk();
            }
            ("tr", _) => {
                if self.top_row_here() {
                    self.close_row();
                }
                self.brk();
                if !closing {
                    let row = OpenRow {
                        depth: self.depth,
                        cells: Vec::new(),
                        in_cell: false,
                    };
                    self.rows.push(row);
                }
            }
            ("td" | "th", false) => {
                if !self.top_row_here() {
                    self.tag("tr", false);
                }
                if let Some(row) = self.rows.last_mut() {
                    row.cells.push(String::new());
                    row.in_cell = true;
                }
            }
            ("td" | "th", true) => {
                if self.top_row_here()
                    && let Some(row) = self.rows.last_mut()
                {
                    row.in_cell = false;
                }
            }
            _ if BREAK_TAGS.split(' ').any(|t| t == name) => self.brk(),
            _ => {}
        }
    }

    fn finish(mut self) -> Vec<Block> {
        while !self.rows.is_empty() {
            self.close_row();
        }
        self.brk();
        self.blocks
    }
}

/// Index just past the end of the markup starting with `<` at `i`, or `None`
/// when this `<` is literal text. Quotes are honoured for 1024 characters at
/// most and an unterminated tag runs to the end (as in browsers), which keeps
/// hostile input linear.
fn markup_end(lower: &str, i: usize) -> Option<usize> {
    let rest = lower.get(i..)?;
    if let Some(body) = rest.strip_prefix("<!--") {
        return Some(body.find("-->").map_or(lower.len(), |p| i + 4 + p + 3));
    }
    let next = *rest.as_bytes().get(1)?;
    if !(next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?')) {
        return None;
    }
    let mut quote = None;
    for (k, c) in rest.char_indices().skip(1).take(1024) {
        match (quote, c) {
            (None, '>') => return Some(i + k + 1),
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    Some(rest.find('>').map_or(lower.len(), |k| i + k + 1))
}

fn html_blocks(html: &str) -> Vec<Block> {
    let lower = html.to_ascii_lowercase();
    let mut b = HtmlBuilder::default();
    let (mut i, mut text_start) = (0, 0);
    while let Some(off) = lower.get(i..).and_then(|r| r.find('<')) {
        let lt = i + off;
        let Some(end) = markup_end(&lower, lt) else {
            i = lt + 1;
            continue;
        };
        b.text(&decode_entities(
            html.get(text_start..lt).unwrap_or_default(),
        ));
        let inner = lower.get(lt + 1..end - 1).unwrap_or_default();
        let closing = inner.starts_with('/');
        let name = inner.trim_start_matches('/');
        let name = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default();
        i = end;
        if !closing && matches!(name, "script" | "style" | "title") {
            let close = format!("</{name}");
            i = match lower.get(end..).and_then(|r| r.find(&close)) {
                Some(p) => lower
                    .get(end + p..)
                    .and_then(|r| r.find('>'))
                    .map_or(lower.len(), |q| end + p + q + 1),
                None => lower.len(),
            };
        } else {
            b.tag(name, closing);
        }
        text_start = i;
    }
    b.text(&decode_entities(html.get(text_start..).unwrap_or_default()));
    b.finish()
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(rest.get(..p).unwrap_or_default());
        let after = rest.get(p + 1..).unwrap_or_default();
        let semi = after.char_indices().take(12).find(|&(_, c)| c == ';');
        let semi = semi.map(|(q, _)| q).filter(|&q| q > 0);
        match semi.and_then(|q| Some((q, entity(after.get(..q)?)?))) {
            Some((q, c)) => {
                out.push(c);
                rest = after.get(q + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return Some(
            char::from_u32(code)
                .filter(|&c| c != '\0')
                .unwrap_or('\u{FFFD}'),
        );
    }
    let named = [
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", ' '),
    ];
    if let Some(&(_, c)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(c);
    }
    // Names and accented letters in web forms: the Latin-1 letters and
    // the usual typographic marks, matched case-sensitively (`Eacute` is
    // not `eacute`).
    LATIN1.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

const LATIN1: &[(&str, char)] = &[
    ("Agrave", 'À'),
    ("Aacute", 'Á'),
    ("Acirc", 'Â'),
    ("Atilde", 'Ã'),
    ("Auml", 'Ä'),
    ("Aring", 'Å'),
    ("AElig", 'Æ'),
    ("Ccedil", 'Ç'),
    ("Egrave", 'È'),
    ("Eacute", 'É'),
    ("Ecirc", 'Ê'),
    ("Euml", 'Ë'),
    ("Igrave", 'Ì'),
    ("Iacute", 'Í'),
    ("Icirc", 'Î'),
    ("Iuml", 'Ï'),
    ("ETH", 'Ð'),
    ("Ntilde", 'Ñ'),
    ("Ograve", 'Ò'),
    ("Oacute", 'Ó'),
    ("Ocirc", 'Ô'),
    ("Otilde", 'Õ'),
    ("Ouml", 'Ö'),
    ("Oslash", 'Ø'),
    ("Ugrave", 'Ù'),
    ("Uacute", 'Ú'),
    ("Ucirc", 'Û'),
    ("Uuml", 'Ü'),
    ("Yacute", 'Ý'),
    ("THORN", 'Þ'),
    ("szlig", 'ß'),
    ("agrave", 'à'),
    ("aacute", 'á'),
    ("acirc", 'â'),
    ("atilde", 'ã'),
    ("auml", 'ä'),
    ("aring", 'å'),
    ("aelig", 'æ'),
    ("ccedil", 'ç'),
    ("egrave", 'è'),
    ("eacute", 'é'),
    ("ecirc", 'ê'),
    ("euml", 'ë'),
    ("igrave", 'ì'),
    ("iacute", 'í'),
    ("icirc", 'î'),
    ("iuml", 'ï'),
    ("eth", 'ð'),
    ("ntilde", 'ñ'),
    ("ograve", 'ò'),
    ("oacute", 'ó'),
    ("ocirc", 'ô'),
    ("otilde", 'õ'),
    ("ouml", 'ö'),
    ("oslash", 'ø'),
    ("ugrave", 'ù'),
    ("uacute", 'ú'),
    ("ucirc", 'û'),
    ("uuml", 'ü'),
    ("yacute", 'ý'),
    ("thorn", 'þ'),
    ("yuml", 'ÿ'),
    ("copy", '©'),
    ("reg", '®'),
    ("euro", '€'),
    ("pound", '£'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
];

/// Parses a field type name (`text|email|phone|number|date`, case-insensitive).
pub fn parse_field_type(s: &str) -> Option<FieldType> {
    match s.trim().to_ascii_lowercase().as_str() {
        "text" => Some(FieldType::Text),
        "email" => Some(FieldType::Email),
        "phone" => Some(FieldType::Phone),
        "number" => Some(FieldType::Number),
        "date" => Some(FieldType::Date),
        _ => None,
    }
}

/// Converts a raw value to its normalized form, or gives a short lowercase reason.
/// Text is trimmed; email is `local@domain` with a lower-cased domain; phone is
/// `+digits` or digits; number is the shortest decimal text; date is `YYYY-MM-DD`.
pub fn convert(kind: FieldType, raw: &str) -> Result<String, String> {
    match kind {
        FieldType::Text => Ok(raw.trim().to_string()),
        FieldType::Email => convert_email(raw),
        FieldType::Phone => convert_phone(raw),
        FieldType::Number => convert_number(raw),
        FieldType::Date => convert_date(raw),
    }
}

fn reject(raw: &str, what: &str) -> String {
    format!("`{}` is not {what}", shown(raw))
}

fn shown(raw: &str) -> String {
    let t = raw.trim();
    let mut out: String = t
        .chars()
        .take(40)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if t.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> &'a str {
    match s.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => s.get(prefix.len()..).unwrap_or(s),
        _ => s,
    }
}

fn strip_angles(s: &str) -> &str {
    let s = s.trim();
    match (s.strip_suffix('>'), s.rfind('<')) {
        (Some(body), Some(open)) => body.get(open + 1..).unwrap_or(s).trim(),
        _ => s,
    }
}

fn convert_email(raw: &str) -> Result<String, String> {
    let err = || reject(raw, "an email address (expected local@domain.tld)");
    let s = strip_angles(strip_prefix_ci(strip_angles(raw), "mailto:"));
    let (local, domain) = s.split_once('@').ok_or_else(err)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"@".contains(c));
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld_ok = labels.last().is_some_and(|t| {
        t.chars().count() >= 2 && (t.chars().all(char::is_alphabetic) || t.starts_with("xn--"))
    });
    if !local_ok || s.len() > 254 || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(err());
    }
    Ok(format!("{local}@{domain}"))
}

fn convert_phone(raw: &str) -> Result<String, String> {
    let err = || {
        reject(
            raw,
            "a phone number (expected 5 to 20 digits, optional leading +)",
        )
    };
    let s = strip_prefix_ci(raw.trim(), "tel:").trim();
    let (plus, body) = match s.strip_prefix('+') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')') {
            return Err(err());
        }
    }
    if !(5..=20).contains(&digits.len()) {
        return Err(err());
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

/// Commas are accepted only as thousands separators in the integer part
/// (`1,234.50`); anything else (`1,5`, `1.234,50`) is rejected, not guessed.
fn convert_number(raw: &str) -> Result<String, String> {
    let err = || reject(raw, "a number");
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.contains(',') {
        return Err(err());
    }
    if int.contains(',') {
        let mut groups = int.trim_start_matches(['+', '-']).split(',');
        let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
        if !first_ok || !groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())) {
            return Err(err());
        }
    }
    let cleaned = s.replace(',', "");
    let charset = cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if !charset || !cleaned.chars().any(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    match cleaned.parse::<f64>() {
        // `+ 0.0` turns `-0` into `0`.
        Ok(f) if f.is_finite() => Ok((f + 0.0).to_string()),
        _ => Err(err()),
    }
}

const MONTHS: &str =
    "january february march april may june july august september october november december";

fn digits(t: &str, min: usize, max: usize) -> Option<u32> {
    let ok = (min..=max).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
    if ok { t.parse().ok() } else { None }
}

fn month_number(t: &str) -> Option<u32> {
    let t = t.trim_end_matches('.').to_lowercase();
    if t == "sept" {
        return Some(9);
    }
    let found = MONTHS
        .split(' ')
        .zip(1..)
        .find(|(m, _)| *m == t || (t.len() == 3 && m.starts_with(&t)));
    found.map(|(_, n)| n)
}

fn day_number(t: &str) -> Option<u32> {
    let t = t.trim_end_matches('.');
    let lower = t.to_ascii_lowercase();
    let t = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    digits(t, 1, 2)
}

/// Recognizes the format only; returns `(year, month, day)` unvalidated.
fn parse_date(s: &str) -> Option<(u32, u32, u32)> {
    for sep in ['-', '.', '/'] {
        if let [a, b, c] = s.split(sep).collect::<Vec<_>>().as_slice() {
            return match sep {
                '-' => Some((digits(a, 4, 4)?, digits(b, 1, 2)?, digits(c, 1, 2)?)),
                '.' => Some((digits(c, 4, 4)?, digits(b, 1, 2)?, digits(a, 1, 2)?)),
                _ => Some((digits(c, 4, 4)?, digits(a, 1, 2)?, digits(b, 1, 2)?)),
            };
        }
    }
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let [a, b, c] = tokens.as_slice() else {
        return None;
    };
    let year = digits(c, 4, 4)?;
    match month_number(a) {
        Some(m) => Some((year, m, day_number(b)?)),
        None => Some((year, month_number(b)?, day_number(a)?)),
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// ISO `YYYY-MM-DD`, `DD.MM.YYYY` (day first), `MM/DD/YYYY` (US, month first),
/// `4 March 2026`, `March 4, 2026` (English month names, full or 3-letter).
fn convert_date(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let Some((y, m, d)) = parse_date(s) else {
        return Err(reject(
            raw,
            "a date (expected YYYY-MM-DD, DD.MM.YYYY, MM/DD/YYYY or e.g. 3 March 2026)",
        ));
    };
    if y == 0 || d == 0 || d > days_in_month(y, m) {
        return Err(reject(raw, "a real calendar date"));
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// Field name for a label: lower-cased alphanumerics (Unicode kept), every run
/// of other characters one `_`, trimmed; empty gives `field`, a leading digit
/// gets an `f_` prefix. `"Best Phone #"` → `best_phone`.
pub fn snake_case(label: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in label.chars() {
        if c.is_alphanumeric() {
            if sep && !out.is_empty() {
                out.push('_');
            }
            sep = false;
            out.extend(c.to_lowercase());
        } else {
            sep = true;
        }
    }
    if out.is_empty() {
        return "field".to_string();
    }
    if out.starts_with(|c: char| c.is_numeric()) {
        out.insert_str(0, "f_");
    }
    out
}

/// YAML double-quoted scalar: `"` and `\` escaped, control characters as escapes.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Learn mode: a ready-to-paste `body_rule` block. Labels (as written) and the
/// delimiter are double-quoted; labels equal under [`normalize_label`] appear
/// once; field names are made unique with `_2`, `_3`…; names YAML would read
/// as booleans or null (`yes`, `no`, `on`, `null`…) are quoted.
pub fn learn_yaml(pairs: &[Pair], delimiter: &str) -> String {
    let delim = yaml_quote(effective_delimiter(delimiter));
    let mut out = format!("body_rule:\n  delimiter: {delim}\n  fields:");
    let (mut labels, mut names) = (HashSet::new(), HashSet::new());
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    for pair in pairs {
        if !labels.insert(normalize_label(&pair.label)) {
            continue;
        }
        let base = snake_case(&pair.label);
        let mut name = base.clone();
        let n = next_suffix.entry(base.clone()).or_insert(2);
        while names.contains(&name) {
            name = format!("{base}_{n}");
            *n += 1;
        }
        let reserved = ["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
        let shown = if reserved.contains(&name.as_str()) {
            yaml_quote(&name)
        } else {
            name.clone()
        };
        out.push_str(&format!("\n    {}: {shown}", yaml_quote(&pair.label)));
        names.insert(name);
    }
    if names.is_empty() {
        out.push_str(" {}");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "Company name: Applibase\nContact first name: John\nContact last name: Smith\nJob title: President & CEO\nBest Phone: 213-344-4234\nEmail: john@applibase.example\nCity: Newport Beach\n";

    /// Renders pairs as `label=value|label=value` for compact comparisons.
    fn kv(pairs: &[Pair]) -> String {
        let items: Vec<String> = pairs
            .iter()
            .map(|p| format!("{}={}", p.label, p.value))
            .collect();
        items.join("|")
    }

    fn text(t: &str) -> String {
        kv(&extract_pairs(t, None, ":"))
    }

    fn html(h: &str) -> String {
        kv(&extract_pairs(" \r\n", Some(h), ":"))
    }

    #[test]
    fn example_form_gives_all_seven_pairs() {
        let got = extract_pairs(FORM, None, ":");
        assert_eq!(got.len(), 7);
        assert_eq!(
            got[3],
            Pair {
                label: "Job title".into(),
                value: "President & CEO".into()
            }
        );
        assert_eq!(
            kv(&got),
            "Company name=Applibase|Contact first name=John|Contact last name=Smith|Job title=President & CEO|Best Phone=213-344-4234|Email=john@applibase.example|City=Newport Beach"
        );
    }

    #[test]
    fn crlf_and_bare_cr_line_endings() {
        assert_eq!(text(&FORM.replace('\n', "\r\n")), text(FORM));
        assert_eq!(text("A: 1\rB: 2\r"), "A=1|B=2");
        assert_eq!(
            text("Address:\r\n  1 Main St\r\n  Suite 5\r\nCity: X\r\n"),
            "Address=1 Main St\nSuite 5|City=X"
        );
    }

    #[test]
    fn labels_with_odd_spacing_and_case_normalize_equal() {
        assert_eq!(
            normalize_label("  Contact   First\tNAME "),
            "contact first name"
        );
        assert_eq!(normalize_label("ÉCOLE  Ünï"), "école ünï");
        let got = extract_pairs("  CONTACT  first   Name :  John  ", None, ":");
        assert_eq!(kv(&got), "CONTACT  first   Name=John");
        assert_eq!(
            normalize_label(&got[0].label),
            normalize_label("Contact first name")
        );
    }

    #[test]
    fn multi_line_indented_values() {
        let t = "Address: 12 Harbor Rd\n    Suite 400\n\tNewport Beach, CA 92660\nCity: Newport Beach\n  more: city\n\nNote: x\n  \n  after blank";
        assert_eq!(
            text(t),
            "Address=12 Harbor Rd\nSuite 400\nNewport Beach, CA 92660|City=Newport Beach\nmore: city|Note=x"
        );
        assert_eq!(
            text("Message:\n  Hello: there\n  Bye\nX: y"),
            "Message=Hello: there\nBye|X=y"
        );
        // Every line indented alike: one pair per line, only deeper lines continue.
        assert_eq!(
            text("  Name: John\n  Email: j@x.example\n      line 2\n"),
            "Name=John|Email=j@x.example\nline 2"
        );
    }

    #[test]
    fn urls_times_and_quotes_are_not_labels() {
        let t = "https://example.com/lead?id=1: x\nSee http://x.example\nmailto:john@x.example\nSent at 10:15 today\n> Name: Quoted\n  > Email: q@x\nName: Real";
        assert_eq!(text(t), "Name=Real");
    }

    #[test]
    fn empty_long_and_duplicate_labels() {
        let (y60, x61) = ("y".repeat(60), "x".repeat(61));
        let t = format!(
            ": no label\n{x61}: too long\n{y60}: ok\nName: First\n  cont\nNAME: Second\n  dropped\nName : Third"
        );
        assert_eq!(text(&t), format!("{y60}=ok|Name=First\ncont"));
    }

    #[test]
    fn custom_and_empty_delimiters() {
        assert_eq!(
            kv(&extract_pairs(
                "Name = John = Jr\nCity=Paris\nx: y",
                None,
                "="
            )),
            "Name=John = Jr|City=Paris"
        );
        assert_eq!(
            kv(&extract_pairs("Name - John\nCity: Paris", None, " - ")),
            "Name=John"
        );
        assert_eq!(kv(&extract_pairs("A: b", None, "")), "A=b");
    }

    #[test]
    fn html_table_form_with_entities() {
        let h = "<html><body><table border=\"1\">\n<tr><th>Company name:</th><td>Applibase &amp; Co</td></tr>\n<tr><td>Contact&nbsp;first name :</td><td><b>John</b></td></tr>\n<TR><TD>Job title</TD><TD>President &amp; CEO &lt;3 &quot;x&quot; &#39;y&#39; &#233;&#xE9;</TD></TR>\n<tr><td>Address:</td><td>1 Main St<br>Suite 5</td></tr>\n<tr><td></td><td>Only one</td><td> </td></tr>\n<tr><td>a</td><td>b</td><td>c</td></tr>\n<tr><td colspan=2>Email: j@x.example</td></tr>\n</table><p>Thanks,<br>Bot</p></body></html>";
        assert_eq!(
            html(h),
            "Company name=Applibase & Co|Contact first name=John|Job title=President & CEO <3 \"x\" 'y' éé|Address=1 Main St\nSuite 5|Email=j@x.example"
        );
    }

    #[test]
    fn html_document_with_style_script_and_comments() {
        let h = "<!DOCTYPE html><html><head><title>T: x</title><style>td { color: red; } a:hover{}</style>\n<script type='text/javascript'>var a = '<tr><td>X:</td><td>Y</td></tr>';</script></head>\n<body><!-- Hidden: yes --><div>Name: <span>John</span></div><p>Phone: 555-1234</p>Email: j@x.example<br/>City:<br>Paris<ul><li>Source: Web</li></ul></body></html>";
        assert_eq!(
            html(h),
            "Name=John|Phone=555-1234|Email=j@x.example|City=|Source=Web"
        );
        assert!(!html_to_text(h).contains("color"));
    }

    #[test]
    fn html_to_text_renders_rows_with_tab() {
        let h = "<p>Hello&nbsp;&nbsp;there</p><table><tr><td>Name:</td><td>John</td><td></td></tr><tr><td>Addr</td><td>A<br>B</td></tr></table>bye";
        assert_eq!(html_to_text(h), "Hello there\nName:\tJohn\nAddr\tA\nB\nbye");
        assert_eq!(
            html_to_text("a < b &unknown; &amp &#0; &#xZZ; &AMP;"),
            "a < b &unknown; &amp \u{FFFD} &#xZZ; &"
        );
    }

    #[test]
    fn html_ignored_when_text_present_and_tolerant_of_junk() {
        assert_eq!(
            kv(&extract_pairs("Name: Text", Some("<p>Name: Html</p>"), ":")),
            "Name=Text"
        );
        assert!(extract_pairs("", None, ":").is_empty());
        let nested = "<table><tr><td><table><tr><td>Name:</td><td>John</td></tr><tr><td>City:</td><td>Paris</td></tr></table></td></tr></table>";
        assert_eq!(html(nested), "Name=John|City=Paris");
        assert_eq!(
            html("<table><tr><td>Name:<td>John<tr><td>City:<td>Paris"),
            "Name=John|City=Paris"
        );
        for junk in "<|<<<>>>|<a href='x>|</table></tr></td>|<td>x|<!--|<script>|&#99999999999;&|é<é>&é;|<p\u{e9}>x</p>|<x y=\"é>\">z".split('|') {
            let _ = (html(junk), html_to_text(junk));
        }
    }

    #[test]
    fn field_type_names_and_text() {
        let names: Vec<_> = "text|email|phone|number| Date |INT"
            .split('|')
            .map(parse_field_type)
            .collect();
        use FieldType::*;
        assert_eq!(
            names,
            [
                Some(Text),
                Some(Email),
                Some(Phone),
                Some(Number),
                Some(Date),
                None
            ]
        );
        assert_eq!(convert(Text, "  a b  "), Ok("a b".to_string()));
    }

    /// Checks `input=>expected` cases (`|`-separated) and that every `bad` case is rejected.
    fn check(kind: FieldType, good: &str, bad: &str) {
        for case in good.split('|') {
            let (input, want) = case.split_once("=>").unwrap_or((case, case));
            assert_eq!(convert(kind, input), Ok(want.to_string()), "{input}");
        }
        for input in bad.split('|') {
            assert!(convert(kind, input).is_err(), "{input}");
        }
    }

    #[test]
    fn email_accept_and_reject() {
        check(
            FieldType::Email,
            " John.Smith@Applibase.EXAMPLE =>John.Smith@applibase.example|mailto:j@x.example=>j@x.example|<MAILTO:j@X.example>=>j@x.example|John Smith <j+lead@x.co.uk>=>j+lead@x.co.uk|j@xn--bcher-kva.xn--p1ai",
            "|john|@x.com|j@|j@x|j@x.c|a@b@c.com|j k@x.com|j@x..com|.j@x.com|j..k@x.com|j@-x.com|j@x.c0m|a@b.com, c@d.com",
        );
        let err = convert(FieldType::Email, "john");
        assert_eq!(
            err,
            Err("`john` is not an email address (expected local@domain.tld)".into())
        );
    }

    #[test]
    fn phone_accept_and_reject() {
        check(
            FieldType::Phone,
            "213-344-4234=>2133444234|+49 (0)30 / 123.456=>+49030123456|tel:+1-213-344-4234=>+12133444234|12345",
            "1234|123456789012345678901|213-344-4234 ext 5|1+2345678|++12345|phone|",
        );
    }

    #[test]
    fn number_accept_and_reject() {
        check(
            FieldType::Number,
            "1,234.50=>1234.5|1234|-3.5| 1 000 000 =>1000000|-0.0=>0|0.1|1e3=>1000|+7=>7|.5=>0.5",
            "|abc|1.234,50|1,5|12,34|1,2345|NaN|inf|1e999|$5|1.2.3|-|.",
        );
    }

    #[test]
    fn date_accept_and_reject() {
        check(
            FieldType::Date,
            "2026-03-04|04.03.2026=>2026-03-04|03/04/2026=>2026-03-04|4 March 2026=>2026-03-04|March 4, 2026=>2026-03-04| 4th mar. 2026 =>2026-03-04|Sept 30 2026=>2026-09-30|2024-02-29|29.02.2000=>2000-02-29|2026-3-4=>2026-03-04",
            "2026-02-29|1900-02-29|2026-04-31|2026-13-01|0000-01-01|31/12/2026|2026-3|March 2026|4 Marchy 2026|26-03-04|",
        );
        let msg = "`not-a-date` is not a date (expected YYYY-MM-DD, DD.MM.YYYY, MM/DD/YYYY or e.g. 3 March 2026)";
        assert_eq!(convert(FieldType::Date, "not-a-date"), Err(msg.into()));
        assert_eq!(
            convert(FieldType::Date, "2026-02-29"),
            Err("`2026-02-29` is not a real calendar date".into())
        );
        let long = convert(FieldType::Date, &format!("x\u{7}{}", "y".repeat(100)));
        assert!(long.is_err_and(|e| e.starts_with("`x y") && e.contains("…`")));
    }

    #[test]
    fn snake_case_cases() {
        let cases = "Contact first name=>contact_first_name|E-Mail=>e_mail|Best Phone #=>best_phone|  __Zip/Postal  code__ =>zip_postal_code|Straße Größe=>straße_größe|1st choice=>f_1st_choice|#!?=>field|=>field";
        for (input, want) in cases.split('|').filter_map(|c| c.split_once("=>")) {
            assert_eq!(snake_case(input), want, "{input}");
        }
    }

    #[test]
    fn learn_yaml_from_extracted_pairs() {
        let got = extract_pairs(
            "Company name: Applibase\nContact first name: John",
            None,
            ":",
        );
        let want = "body_rule:\n  delimiter: \":\"\n  fields:\n    \"Company name\": company_name\n    \"Contact first name\": contact_first_name\n";
        assert_eq!(learn_yaml(&got, ":"), want);
        assert_eq!(
            learn_yaml(&[], ""),
            "body_rule:\n  delimiter: \":\"\n  fields: {}\n"
        );
    }

    #[test]
    fn learn_yaml_escapes_and_dedupes() {
        let labels = [
            "Say \"hi\"",
            "Path\\to",
            "Name",
            "name!",
            "NAME",
            "Name 2",
            "Yes",
            "a\tb\u{1}",
        ];
        let pairs: Vec<Pair> = labels
            .iter()
            .map(|l| Pair {
                label: l.to_string(),
                value: String::new(),
            })
            .collect();
        let want = r#"body_rule:
  delimiter: "\"=\\"
  fields:
    "Say \"hi\"": say_hi
    "Path\\to": path_to
    "Name": name
    "name!": name_2
    "Name 2": name_2_2
    "Yes": "yes"
    "a\tb\u0001": a_b
"#;
        assert_eq!(learn_yaml(&pairs, "\"=\\"), want);
    }

    #[test]
    fn hostile_inputs_complete() {
        for unit in ["<a\"", "&", "<a '", "x: y\n  ", "<table><tr><td>"] {
            let big = unit.repeat(200_000 / unit.len());
            let _ = (html(&big), text(&big), html_to_text(&big));
        }
        // `i` spelled in punctuation: distinct labels, all `a` in snake_case.
        let spell = |i: usize| {
            i.to_string()
                .chars()
                .filter_map(|d| "!#$%&*+,./".chars().nth(d.to_digit(10)? as usize))
                .collect::<String>()
        };
        let labels: Vec<Pair> = (0..20_000)
            .map(|i| Pair {
                label: format!("a{}", spell(i)),
                value: String::new(),
            })
            .collect();
        assert!(learn_yaml(&labels, ":").contains("\"a$\": a_3\n    \"a%\": a_4\n"));
    }

    #[test]
    fn hostile_fragment_mixes_never_panic() {
        let frags: Vec<&str> = "<|>|&|;|#|é|€|\r|\n|\t| |:|//|<td|</tr>|<tr>|&#x|<!--|-->|<script>|'|\"|0|@|-|.|/|,|Mar".split('|').collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s.push_str(frags[usize::try_from(seed >> 33).unwrap_or(0) % frags.len()]);
            }
            let _ = (
                extract_pairs(&s, None, ":"),
                extract_pairs("", Some(&s), "é"),
                snake_case(&s),
            );
            let _ = learn_yaml(&extract_pairs("", Some(&s), ":"), &s);
            for kind in [
                FieldType::Email,
                FieldType::Phone,
                FieldType::Number,
                FieldType::Date,
            ] {
                let _ = convert(kind, &s);
            }
        }
    }
}
