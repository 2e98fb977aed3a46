//! Finds where a node of a YAML document sits (line and column), so that
//! config errors found after parsing still name `file:line:column`.
//!
//! The YAML crate keeps no positions in its values; this walks the source
//! text by indentation instead. It understands block style fully and flow
//! style (`{ a: 1 }`) well enough to find a key; when a path cannot be
//! followed, the deepest position found so far is returned.

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// 1-based line and column of the node at `path` (or its nearest parent).
pub fn locate(src: &str, path: &[Seg]) -> (usize, usize) {
    locate_in(&src.lines().collect::<Vec<_>>(), path)
}

/// [`locate`] in a document already split into lines, for a caller that
/// locates many nodes (the config names every rule's line).
pub fn locate_in(lines: &[&str], path: &[Seg]) -> (usize, usize) {
    // The range of lines [start, end) and the column from which to search.
    let (mut start, mut end, mut col) = (0usize, lines.len(), 0usize);
    let mut found = (1, 1);
    for seg in path {
        let hit = match seg {
            Seg::Key(key) => find_key(lines, start, end, col, key),
            Seg::Index(i) => find_item(lines, start, end, col, *i),
        };
        let Some((line, c)) = hit else { break };
        found = (line + 1, c + 1);
        let block_end = block_end(lines, line, indent_of(lines[line]), end);
        start = line;
        end = block_end;
        col = c + 1;
    }
    found
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// First line after `line` whose indentation is not deeper than `indent`.
fn block_end(lines: &[&str], line: usize, indent: usize, limit: usize) -> usize {
    (line + 1..limit)
        .find(|&l| !is_blank(lines[l]) && indent_of(lines[l]) <= indent)
        .unwrap_or(limit)
}

fn find_key(
    lines: &[&str],
    start: usize,
    end: usize,
    col: usize,
    key: &str,
) -> Option<(usize, usize)> {
    // Built once per key, not per line: the config locates every rule.
    let candidates = [key.to_string(), format!("\"{key}\""), format!("'{key}'")];
    let finders = candidates.each_ref().map(memchr::memmem::Finder::new);
    for (l, line) in lines.iter().enumerate().take(end).skip(start) {
        let from = if l == start { col.min(line.len()) } else { 0 };
        let Some(hay) = line.get(from..) else {
            continue;
        };
        for (candidate, finder) in candidates.iter().zip(&finders) {
            let mut search = 0;
            while let Some(pos) = hay.get(search..).and_then(|h| finder.find(h.as_bytes())) {
                let at = search + pos;
                let before_ok = hay[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-'));
                let after = hay[at + candidate.len()..].trim_start();
                if before_ok && after.starts_with(':') {
                    return Some((l, from + at));
                }
                search = at + candidate.len();
            }
        }
    }
    None
}

fn find_item(
    lines: &[&str],
    start: usize,
    end: usize,
    col: usize,
    index: usize,
) -> Option<(usize, usize)> {
    let mut item_indent = None;
    let mut seen = 0;
    for (l, line) in lines.iter().enumerate().take(end).skip(start) {
        let from = if l == start { col.min(line.len()) } else { 0 };
        let Some(rest) = line.get(from..) else {
            continue;
        };
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("- ") && trimmed != "-" {
            continue;
        }
        let at = from + (rest.len() - trimmed.len());
        match item_indent {
            None => item_indent = Some(at),
            Some(i) if i != at => continue,
            _ => {}
        }
        if seen == index {
            return Some((l, at + 2.min(trimmed.len())));
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    const DOC: &str = "mailroom:\n  handle: crm\nactions:\n  - name: one\n    do: archive\n  - name: two\n    when: { subject: { regex: \"(\" } }\n    do: skip\n";

    #[test]
    fn finds_block_and_flow_keys() {
        assert_eq!(locate(DOC, &[key("mailroom"), key("handle")]), (2, 3));
        assert_eq!(locate(DOC, &[key("actions"), Seg::Index(1)]), (6, 5));
        assert_eq!(
            locate(DOC, &[key("actions"), Seg::Index(1), key("do")]),
            (8, 5)
        );
        assert_eq!(
            locate(
                DOC,
                &[
                    key("actions"),
                    Seg::Index(1),
                    key("when"),
                    key("subject"),
                    key("regex")
                ]
            ),
            (7, 24)
        );
    }

    #[test]
    fn missing_path_gives_nearest_parent() {
        assert_eq!(
            locate(DOC, &[key("actions"), Seg::Index(0), key("nope")]),
            (4, 5)
        );
        assert_eq!(locate("", &[key("x")]), (1, 1));
    }
}
