//! The tree keeps the pipeline's layers (DESIGN §4, `src/lib.rs`): each
//! top-level module imports only those below it, and each third-party
//! crate that stands for an outside format or system is used by one layer
//! only. Code after a file's first `#[cfg(test)]` is not checked.

use std::path::{Path, PathBuf};

use crate::util::root;

/// Bottom to top.
const LAYERS: &[&str] = &[
    "exit",
    "clock",
    "mail",
    "rules",
    "route",
    "store",
    "report",
    "pipeline",
    "reprocess",
    "maildir",
    "cli",
];

/// Crates (and words) only one folder may name.
const OWNERS: &[(&str, &str)] = &[
    ("mail_parser", "mail"),
    ("serde_yaml", "rules"),
    ("rusqlite", "store"),
    ("age::", "mail"),
    ("hmac", "mail"),
    ("PRAGMA", "store"),
    ("clap", "cli"),
    ("indicatif", "cli"),
];

/// Every `.rs` file under `src/`, with its top-level module.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read src")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&src).ok()?.to_path_buf();
            let first = rel.components().next()?.as_os_str().to_string_lossy();
            let top = first.trim_end_matches(".rs").to_string();
            Some((path, top))
        })
        .filter(|(_, top)| top != "lib" && top != "main")
        .collect()
}

/// The file's text before its tests, without `//` comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names, with their line: each
/// `crate::x`, and the members of `use crate::{x, y::z}`.
fn named_modules(code: &str) -> Vec<(usize, String)> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let inner = group.split('}').next().unwrap_or_default();
                out.extend(inner.split(',').map(|item| (line, ident(item))));
            }
            None => out.push((line, ident(rest))),
        }
    }
    out.retain(|(_, m)| !m.is_empty());
    out
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let files = sources();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut wrong = Vec::new();
    for (path, top) in &files {
        let Some(own) = rank(top) else {
            wrong.push(format!("{}: `{top}` has no layer", path.display()));
            continue;
        };
        for (line, m) in named_modules(&code(path)) {
            if rank(&m).is_some_and(|r| r >= own && m != *top) {
                wrong.push(format!(
                    "{}:{line}: `{top}` imports `{m}`, which is not below it",
                    path.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

/// `word` in `line` as a name of its own, not the end of a longer one
/// (`age::` in `message::` is not the age crate).
fn names(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn outside_crates_stay_in_their_layer() {
    let mut wrong = Vec::new();
    for (path, top) in sources() {
        for (n, line) in (1..).zip(code(&path).lines()) {
            for (word, owner) in OWNERS {
                if names(line, word) && top != *owner {
                    wrong.push(format!(
                        "{}:{n}: `{word}` belongs to `{owner}`: {}",
                        path.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The check itself finds a module that reaches up.
#[test]
fn the_layer_check_sees_imports_of_every_form() {
    let names =
        |code: &str| -> Vec<String> { named_modules(code).into_iter().map(|(_, m)| m).collect() };
    assert!(super::layers::names("use age::x25519;", "age::"));
    assert!(!super::layers::names(
        "use crate::mail::message::Email;",
        "age::"
    ));
    assert_eq!(names("use crate::store::Store;"), ["store"]);
    assert_eq!(
        names("use crate::{\n    cli,\n    route::plan::Plan,\n};"),
        ["cli", "route"]
    );
    assert_eq!(names("let x = crate::mail::sha256_hex(b);"), ["mail"]);
    assert_eq!(named_modules("a\nb crate::cli::x")[0].0, 2);
}
