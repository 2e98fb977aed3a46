//! The README and `docs/` are the manual, so they are checked against the
//! program: the README opens with the two commands and its first command
//! prints the documented result; the JSON result table names exactly the
//! fields the program prints and the exit-code table exactly its codes;
//! every output a page says a command prints is what it prints; every YAML
//! example passes `mailroom check`; every command line shown parses; every
//! link and every path named in backticks leads somewhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mailroom::exit::Exit;

use crate::util::{Env, Run, not_tested, root};

/// README.md and every page under docs/: (path from the root, text).
fn docs() -> Vec<(PathBuf, String)> {
    let mut paths = vec![PathBuf::from("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter_map(|p| p.strip_prefix(root()).ok().map(Path::to_path_buf))
        .collect();
    pages.sort();
    paths.extend(pages);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root().join(&p))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The text under `## heading`, up to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = format!("\n## {heading}\n");
    let rest = text
        .split_once(&start)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no `## {heading}` section"));
    rest.split("\n## ").next().unwrap_or_default()
}

/// A fenced code block: its info string, its lines (without the fence's
/// indentation), and the paragraph just before it, on one line.
struct Block {
    lang: String,
    body: String,
    before: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    // The paragraph being read, and the one before the last blank line.
    let mut paragraph: Vec<&str> = Vec::new();
    let mut previous: Vec<&str> = Vec::new();
    let mut open: Option<(usize, Block)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            Some((_, block)) if trimmed == "```" => {
                out.push(block);
                paragraph.clear();
                previous.clear();
            }
            Some((fence_indent, mut block)) => {
                block.body.push_str(&line[fence_indent.min(indent)..]);
                block.body.push('\n');
                open = Some((fence_indent, block));
            }
            None if trimmed.starts_with("```") => {
                let before = if paragraph.is_empty() {
                    &previous
                } else {
                    &paragraph
                };
                let block = Block {
                    lang: trimmed.trim_start_matches('`').trim().to_string(),
                    body: String::new(),
                    before: before.join(" "),
                };
                open = Some((indent, block));
            }
            None if trimmed.is_empty() => {
                if !paragraph.is_empty() {
                    previous = std::mem::take(&mut paragraph);
                }
            }
            None => paragraph.push(trimmed),
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    out
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Runs a documented `mailroom ...` command line from the project root in
/// `env`: `< FILE` becomes stdin, and `--db` is dropped so the command uses
/// the environment's scratch database.
fn run_documented(env: &Env, command: &str) -> Run {
    assert!(
        !command.contains(['"', '\'']),
        "a documented command with output must not need quoting: {command}"
    );
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("mailroom"), "{command}");
    let mut args: Vec<&str> = Vec::new();
    let mut stdin = Vec::new();
    while let Some(word) = words.next() {
        match word {
            "--db" => {
                words.next();
            }
            "<" => {
                let file = words
                    .next()
                    .unwrap_or_else(|| panic!("{command}: `<` what?"));
                stdin = std::fs::read(root().join(file))
                    .unwrap_or_else(|e| panic!("{command}: {file}: {e}"));
            }
            _ => args.push(word),
        }
    }
    let mut cmd = env.command(&args);
    cmd.current_dir(root());
    crate::util::run(cmd, &stdin)
}

#[test]
fn the_readme_opens_with_the_two_commands() {
    let readme = doc("README.md");
    let first = blocks(&readme).into_iter().next().expect("a code block");
    assert_eq!(
        first.lang, "sh",
        "the README's first code block is the two commands"
    );
    assert!(
        first.body.contains("cargo run --locked -- process")
            && first.body.contains("rules.example.yaml")
            && first.body.contains("fixtures/"),
        "{}",
        first.body
    );
    assert!(first.body.contains("cargo test --locked"), "{}", first.body);
}

/// The first command of the README, as a `mailroom` command line.
fn readme_first_command() -> String {
    let readme = doc("README.md");
    let first = blocks(&readme).into_iter().next().expect("a code block");
    let line = first
        .body
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .expect("a command")
        .to_string();
    let rest = line
        .strip_prefix("cargo run --locked -- ")
        .unwrap_or_else(|| panic!("the first command runs the program: {line}"));
    format!("mailroom {rest}")
}

/// The JSON example under `## JSON result` in docs/reference.md.
fn documented_result() -> String {
    let reference = doc("docs/reference.md");
    let examples: Vec<Block> = blocks(section(&reference, "JSON result"))
        .into_iter()
        .filter(|b| b.lang == "json")
        .collect();
    assert_eq!(
        examples.len(),
        1,
        "one JSON example in the JSON result section"
    );
    examples[0].body.trim().to_string()
}

#[test]
fn the_readme_first_command_prints_the_documented_result_then_a_duplicate() {
    let env = Env::new();
    let command = readme_first_command();
    let r = run_documented(&env, &command);
    assert_eq!(r.code, 0, "{command}: {}", r.stderr);
    assert_eq!(r.stdout.trim(), documented_result(), "{command}");
    // "Run it again and the same message reports duplicate."
    let again = run_documented(&env, &command);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let first = r.report();
    let second = again.report();
    assert_eq!(second.status, mailroom::report::Status::Duplicate);
    assert_eq!(second.email_id, first.email_id);
}

/// The first-column names of the table under `## JSON result`.
fn documented_fields() -> BTreeSet<String> {
    section(&doc("docs/reference.md"), "JSON result")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_result_field_is_documented_and_nothing_else() {
    let env = Env::new();
    let r = run_documented(&env, &readme_first_command());
    let value: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("json");
    let actual: BTreeSet<String> = value.as_object().expect("object").keys().cloned().collect();
    assert_eq!(actual, documented_fields());
}

/// Every exit code the program has. A new variant does not compile here
/// until it is added, and then the table must list it.
fn every_exit_code() -> BTreeSet<i32> {
    let all = [
        Exit::Ok,
        Exit::Usage,
        Exit::DataErr,
        Exit::NoInput,
        Exit::TempFail,
        Exit::Config,
    ];
    for e in all {
        match e {
            Exit::Ok
            | Exit::Usage
            | Exit::DataErr
            | Exit::NoInput
            | Exit::TempFail
            | Exit::Config => {}
        }
    }
    all.iter().map(|e| e.code()).collect()
}

#[test]
fn the_exit_code_table_lists_every_code_and_nothing_else() {
    let reference = doc("docs/reference.md");
    let table = section(&reference, "Exit codes")
        .split("\n### ")
        .next()
        .unwrap_or_default();
    let documented: BTreeSet<i32> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(documented, every_exit_code());
}

#[test]
fn the_example_rules_pass_check() {
    let env = Env::with_example_config();
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains(": ok, ") && r.stdout.contains(" 0 warning(s)"),
        "{}",
        r.stdout
    );
}

/// A `text` or `json` block after a paragraph that ends `... prints:` and
/// names a `mailroom ...` command in backticks is that command's output,
/// on an empty database, from the project root.
#[test]
fn every_documented_output_is_what_its_command_prints() {
    let mut checked = Vec::new();
    for (path, text) in docs() {
        for block in blocks(&text) {
            if !(block.lang == "text" || block.lang == "json") || !block.before.ends_with("prints:")
            {
                continue;
            }
            let command = block
                .before
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|span| span.starts_with("mailroom "))
                .last()
                .unwrap_or_else(|| {
                    panic!(
                        "{}: `prints:` names no `mailroom` command: {}",
                        path.display(),
                        block.before
                    )
                })
                .to_string();
            let env = Env::new();
            let r = run_documented(&env, &command);
            assert_eq!(r.code, 0, "{}: {command}: {}", path.display(), r.stderr);
            if block.lang == "json" {
                assert_eq!(
                    r.stdout.trim(),
                    block.body.trim(),
                    "{}: {command}",
                    path.display()
                );
            } else {
                assert_eq!(r.stdout, block.body, "{}: {command}", path.display());
            }
            checked.push(command);
        }
    }
    for needed in [
        "mailroom explain ",
        "mailroom body-rule learn ",
        "mailroom process ",
    ] {
        assert!(
            checked.iter().any(|c| c.starts_with(needed)),
            "no documented output of `{needed}...` was found; checked {checked:?}"
        );
    }
}

/// A YAML example as a whole config: a whole config as it is, a list of
/// rules under `actions:`.
fn as_config(path: &Path, body: &str) -> String {
    let indent = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = body
        .lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect();
    let first = lines
        .iter()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{}: an empty YAML example", path.display()));
    if first.starts_with("- ") {
        let rules: Vec<String> = lines.iter().map(|l| format!("  {l}")).collect();
        format!("actions:\n{}\n", rules.join("\n"))
    } else if [
        "mailroom:",
        "limits:",
        "cases:",
        "modules:",
        "confidential:",
        "actions:",
    ]
    .iter()
    .any(|k| first.starts_with(k))
    {
        lines.join("\n") + "\n"
    } else {
        panic!(
            "{}: a YAML example is a whole config or a list of rules, so that `check` can test it:\n{body}",
            path.display()
        )
    }
}

#[test]
fn every_yaml_example_passes_check() {
    let env = Env::new();
    let config = env.path("example.yaml");
    // The record secret an example names, beside the config.
    std::fs::write(env.path("record.key"), [7u8; 32]).expect("a secret");
    let mut checked = 0;
    for (path, text) in docs() {
        for block in blocks(&text).into_iter().filter(|b| b.lang == "yaml") {
            let yaml = as_config(&path, &block.body);
            std::fs::write(&config, &yaml).expect("write the example");
            let r = env.run(&["check", "--config", config.to_str().expect("utf-8")], b"");
            assert_eq!(
                r.code,
                0,
                "{}: the example fails check:\n{yaml}\n{}",
                path.display(),
                r.stdout
            );
            assert!(
                r.stdout.contains(" 0 warning(s)"),
                "{}: the example has warnings:\n{yaml}\n{}",
                path.display(),
                r.stdout
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} YAML examples found");
}

/// The arguments of a `mailroom` invocation in a line of a code block: in
/// a `sh` block a line that starts `mailroom ` (or `$ mailroom `), in any
/// block a word naming `.../bin/mailroom` (recipes:
/// `argv=/usr/local/bin/mailroom`, `"|/usr/local/bin/mailroom`). Shell
/// syntax ends it; quotes are dropped and `$VARIABLES` become a
/// placeholder value.
fn invocation(line: &str, sh: bool) -> Option<Vec<String>> {
    let line = line.trim_start();
    let line = line.strip_prefix("$ ").unwrap_or(line);
    let mut words = line.split_whitespace();
    if !(sh && line.starts_with("mailroom ")) {
        words.find(|w| {
            let w = w.trim_start_matches(['"', '|']);
            let w = w.rsplit('=').next().unwrap_or(w);
            w.ends_with("/bin/mailroom")
        })?;
    } else {
        words.next();
    }
    let args: Vec<String> = words
        .take_while(|w| {
            !["|", "||", "&&", ";", "#"].contains(w)
                && !w.starts_with('>')
                && !w.starts_with('<')
                && !w.starts_with("2>")
        })
        .map(|w| w.trim_matches(['"', '\'', '[', ']', ',', ';']))
        .map(|w| {
            if w.starts_with('$') || w.contains("${") {
                "x".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    (!args.is_empty()).then_some(args)
}

#[test]
fn every_command_line_shown_parses() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for (path, text) in docs() {
        for block in blocks(&text) {
            if ["text", "json", "yaml"].contains(&block.lang.as_str()) {
                continue;
            }
            for line in block.body.lines() {
                let Some(args) = invocation(line, block.lang == "sh") else {
                    continue;
                };
                // clap reads every option before it acts on `--help`, so an
                // unknown command or option still fails.
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
                    .args(&args)
                    .arg("--help")
                    .env_remove("MAILROOM_CONFIG")
                    .env_remove("MAILROOM_DB")
                    .current_dir(scratch.path())
                    .output()
                    .expect("run mailroom");
                assert!(
                    out.status.success(),
                    "{}: `{line}` does not parse: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} command lines found");
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text).lines() {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = anchor(heading.trim_start_matches('#'));
        let mut name = base.clone();
        let mut n = 0;
        while seen.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        seen.insert(name);
    }
    seen
}

#[test]
fn every_link_and_path_named_leads_somewhere() {
    let mut checked = 0;
    for (path, text) in docs() {
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let prose = prose(&text);
        for link in prose.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file.is_empty() {
                path.clone()
            } else {
                dir.join(file)
            };
            let on_disk = root().join(&linked);
            if !on_disk.exists() {
                if linked == Path::new("docs/BENCHMARKS.md") {
                    not_tested(
                        "the link to docs/BENCHMARKS.md",
                        "that page is not written yet",
                    );
                    continue;
                }
                panic!("{}: the link `{target}` leads nowhere", path.display());
            }
            if !fragment.is_empty() {
                let page = std::fs::read_to_string(&on_disk).unwrap_or_default();
                assert!(
                    anchors(&page).contains(fragment),
                    "{}: the link `{target}` names no heading of {}",
                    path.display(),
                    linked.display()
                );
            }
            checked += 1;
        }
        for span in prose.split('`').skip(1).step_by(2) {
            let named = [
                "src/",
                "tests/",
                "fixtures/",
                "examples/",
                "benches/",
                ".ci/",
                ".cargo/",
            ]
            .iter()
            .any(|p| span.starts_with(p));
            if named && !span.contains(['*', ' ']) {
                assert!(
                    root().join(span).exists(),
                    "{}: `{span}` does not exist",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} links and paths found");
}

/// A `sh` block that opens with `# run:` is a story: its `mailroom` lines
/// run in order on one scratch database, from the project root, and each
/// must succeed. At least the `reprocess` and `--link-past` stories of the
/// guide are there.
#[test]
fn every_story_in_the_docs_runs() {
    let mut stories = Vec::new();
    for (path, text) in docs() {
        for block in blocks(&text) {
            if block.lang != "sh" || !block.body.starts_with("# run:") {
                continue;
            }
            let env = Env::new();
            let mut last = None;
            for line in block.body.lines().filter(|l| l.starts_with("mailroom ")) {
                let r = run_documented(&env, line);
                assert_eq!(r.code, 0, "{}: {line}: {}", path.display(), r.stderr);
                last = Some(r);
            }
            let last = last.unwrap_or_else(|| panic!("{}: a story runs nothing", path.display()));
            assert!(
                !last.stdout.trim().is_empty(),
                "{}: the story ends silent",
                path.display()
            );
            stories.push(block.body.clone());
        }
    }
    for needed in ["mailroom reprocess ", "--link-past"] {
        assert!(
            stories.iter().any(|s| s.contains(needed)),
            "no story runs `{needed}`"
        );
    }
}
