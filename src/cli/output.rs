//! What the browsing commands print on stdout: tables on a terminal, JSON
//! otherwise, and text made safe to show.

use std::io::{IsTerminal, Write};

use anyhow::anyhow;

use crate::exit::Failure;

/// Writes to stdout; a closed pipe is not worth a panic.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Failure::temp(anyhow!("cannot write output: {e}")))
}

/// Human tables only on a terminal and without `--json`.
pub fn wants_json(flag: bool) -> bool {
    flag || !std::io::stdout().is_terminal()
}

/// Removes control characters (terminal escapes included) from text shown
/// in a table; stored data stays verbatim.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// A plain text table: one header row, columns padded to their widest cell
/// (cells cut at 60 characters).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    const MAX: usize = 60;
    let cut = |s: &str| -> String {
        let s = printable(s);
        match s.char_indices().nth(MAX) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s,
        }
    };
    // The last column is never cut: it may be a link to click.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i + 1 == r.len() {
                        printable(c)
                    } else {
                        cut(c)
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                out.push_str(c);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_strips_escapes() {
        assert_eq!(printable("a\u{1b}[31mred\u{7}\r"), "a[31mred");
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["id", "name"],
            &[
                vec!["1".into(), "Ann".into()],
                vec!["100".into(), "B".into()],
            ],
        );
        assert_eq!(t, "ID   NAME\n1    Ann\n100  B\n");
    }
}
