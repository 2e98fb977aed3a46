//! What the browsing commands print on stdout: tables on a terminal, JSON
//! otherwise, and text made safe to show.

use std::io::{IsTerminal, Write};

use anyhow::anyhow;
use console::{measure_text_width, truncate_str};

use crate::cli::args::Export;
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

/// The terminal's width in columns (80 when it cannot be told).
pub fn terminal_width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
        .max(20)
}

/// A plain text table for the terminal: one header row, columns padded to
/// their widest cell. When that is wider than the terminal, the `elastic`
/// columns (free text such as a subject) share what the others leave,
/// each cut (with `…`) to its share; the rest (ids, dates, statuses) stay
/// whole. Widths are display columns.
pub fn table(headers: &[&str], elastic: &[&str], rows: &[Vec<String>]) -> String {
    table_within(headers, elastic, rows, terminal_width())
}

/// [`table`] for a given width.
pub fn table_within(
    headers: &[&str],
    elastic: &[&str],
    rows: &[Vec<String>],
    width: usize,
) -> String {
    /// No column is cut narrower than this.
    const NARROWEST: usize = 6;
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| measure_text_width(h)).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(measure_text_width(c));
            }
        }
    }
    // What the elastic columns may take, shared out: a column that needs
    // less than an equal share keeps its width and leaves the rest.
    let gaps = 2 * headers.len().saturating_sub(1);
    let rigid: usize = (0..headers.len())
        .filter(|&i| !elastic.contains(&headers[i]))
        .map(|i| widths[i])
        .sum();
    let mut room = width.saturating_sub(gaps + rigid);
    let mut open: Vec<usize> = (0..headers.len())
        .filter(|&i| elastic.contains(&headers[i]))
        .collect();
    while !open.is_empty() {
        let share = room / open.len();
        let (fits, cut): (Vec<usize>, Vec<usize>) = open.iter().partition(|&&i| widths[i] <= share);
        if fits.is_empty() {
            for &i in &cut {
                widths[i] = share.max(NARROWEST);
            }
            break;
        }
        room -= fits.iter().map(|&i| widths[i]).sum::<usize>();
        open = cut;
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let cell = truncate_str(c, w, "…");
            out.push_str(&cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w.saturating_sub(measure_text_width(&cell)) + 2));
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

/// CSV with a header row, every cell quoted as needed.
pub fn csv(headers: &[&str], rows: &[Vec<String>]) -> Result<String, Failure> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let written = w
        .write_record(headers)
        .and_then(|()| rows.iter().try_for_each(|r| w.write_record(r)));
    let bytes = written
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()))
        .map_err(|e| Failure::temp(anyhow!("cannot write CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes exported bytes where the command line says: stdout, or a file
/// that is not overwritten unless `force`. The name stored with the data
/// is never used as a path.
pub fn export(bytes: &[u8], to: &Export) -> Result<(), Failure> {
    let Some(path) = &to.output else {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|_| out.flush())
            .map_err(|e| Failure::temp(anyhow!("cannot write output: {e}")));
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if to.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!(
                "`{}` exists; --force overwrites it",
                path.display()
            ))
        } else {
            Failure::temp(anyhow!("cannot write `{}`: {e}", path.display()))
        }
    })?;
    let mut file = file;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| Failure::temp(anyhow!("cannot write `{}`: {e}", path.display())))
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
        let t = table_within(
            &["id", "name"],
            &["name"],
            &[
                vec!["1".into(), "Ann".into()],
                vec!["100".into(), "B".into()],
            ],
            80,
        );
        assert_eq!(t, "ID   NAME\n1    Ann\n100  B\n");
    }

    #[test]
    fn tables_fit_the_width_in_display_columns() {
        let long = "x".repeat(200);
        let date = "2026-11-27 09:15".to_string();
        let rows = vec![vec![
            "1".into(),
            date.clone(),
            "日本語のテキスト".repeat(10),
            long.clone(),
            "short".into(),
        ]];
        let t = table_within(
            &["id", "date", "subject", "body", "note"],
            &["subject", "body", "note"],
            &rows,
            80,
        );
        for line in t.lines() {
            assert!(measure_text_width(line) <= 80, "{line}");
        }
        assert!(t.contains('…'));
        // Rigid columns, and an elastic one under its share, stay whole.
        let row = t.lines().nth(1).unwrap_or_default();
        assert!(row.starts_with(&format!("1   {date}  ")), "{row}");
        assert!(row.ends_with("short"), "{row}");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let out = csv(
            &["id", "name"],
            &[vec!["1".into(), "Smith, \"Ann\"".into()]],
        )
        .expect("csv");
        assert_eq!(out, "id,name\n1,\"Smith, \"\"Ann\"\"\"\n");
    }
}
