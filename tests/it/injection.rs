//! Injection: SQL quotes, control characters, terminal escapes and path
//! separators in subjects, names, record fields and file names are stored
//! verbatim and printed safely; no SQL is built from data; an attachment
//! is exported only where asked.

use std::path::Path;

use crate::util::{Env, on_a_terminal};

const NASTY: &str = "Robert'); DROP TABLE emails;-- \"q\" \u{1b}[31mred\u{1b}[0m \u{1b}]0;owned\u{7} a\rb ../../etc/passwd C:\\x";

fn hostile_message() -> Vec<u8> {
    format!(
        "From: =?utf-8?B?{from}?= <mallory@evil.example>\r\n\
         To: crm+case@example.com\r\n\
         Subject: =?utf-8?B?{subject}?=\r\n\
         Message-ID: <inject'1\"@evil.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nbody with \u{1b}[2J clear\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"../../evil.sh\"\r\n\r\nrm -rf /\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename*=utf-8''%2Fetc%2Fcron.d%2F%1B%5B31mx\r\n\r\nx\r\n\
         --b--\r\n",
        from = crate::util::base64_line(NASTY.as_bytes()),
        subject = crate::util::base64_line(NASTY.as_bytes()),
    )
    .into_bytes()
}

#[test]
fn hostile_fields_are_stored_verbatim() {
    let env = Env::with_example_config();
    let r = env.file(&hostile_message());
    let id = r.email_id.expect("stored");
    let (row, names) = env.read(|r| {
        let row = r.email(id).expect("email").expect("stored").row;
        let attachments = r.attachments(id).expect("attachments");
        let names: Vec<Option<String>> = attachments.into_iter().map(|a| a.name).collect();
        (row, names)
    });
    assert_eq!(row.subject.as_deref(), Some(NASTY));
    assert_eq!(row.message_id.as_deref(), Some("<inject'1\"@evil.example>"));
    assert_eq!(
        names,
        [Some("../../evil.sh"), Some("/etc/cron.d/\u{1b}[31mx")].map(|n| n.map(String::from))
    );
    // Everything is all still there, and the case title is the subject.
    let snapshot = env.snapshot();
    assert_eq!((snapshot.emails, snapshot.records), (1, 2), "{snapshot:?}");
    let case = env.record(r.records[0].id.expect("case id"));
    assert_eq!(case["record"]["fields"]["title"], NASTY);

    // Record fields given on the command line, the same.
    let rid = env.add(
        "contacts",
        &[&format!("name={NASTY}"), "email=o'brien@x.example"],
    );
    let rec = env.record(rid);
    assert_eq!(rec["record"]["fields"]["name"], NASTY);
    assert_eq!(rec["record"]["email"], "o'brien@x.example");
}

#[test]
fn tables_and_views_print_no_control_characters() {
    let env = Env::with_example_config();
    let r = env.file(&hostile_message());
    let id = r.email_id.expect("id");
    let case = r.records[0].id.expect("case");
    for args in [
        "emails list".to_string(),
        format!("emails show {id} --reveal"),
        "records list".to_string(),
        format!("records show {case}"),
    ] {
        let Some(run) = on_a_terminal(&env, &args) else {
            return;
        };
        assert_eq!(run.code, 0, "{args}: {}", run.stdout);
        // The terminal turns \n into \r\n; anything else is ours.
        let text = run.stdout.replace("\r\n", "\n");
        let bad: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            bad.is_empty(),
            "{args}: control characters {bad:?} in\n{text}"
        );
        // Lists cut long cells to fit the terminal; views show them whole.
        let shown = if args.contains("list") {
            "Robert')"
        } else {
            "DROP TABLE"
        };
        assert!(
            text.contains(shown),
            "{args}: the text is shown, only cleaned:\n{text}"
        );
    }
    // JSON escapes them instead.
    let json = env.run(
        &["emails", "show", &id.to_string(), "--json", "--reveal"],
        b"",
    );
    assert!(!json.stdout.contains('\u{1b}'));
    assert!(json.stdout.contains("\\u001b[31m"), "{}", json.stdout);
}

#[test]
fn an_attachment_is_exported_only_where_asked() {
    let env = Env::with_example_config();
    let r = env.file(&hostile_message());
    let id = r.email_id.expect("id").to_string();
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).expect("dir");
    let before = listing(env.dir.path());
    let target = out_dir.join("export.bin");
    let to = target.display().to_string();
    let export = |n: &str, force: bool| {
        let mut args = vec!["emails", "attachment", &id, n, "-o", &to];
        if force {
            args.push("--force");
        }
        env.run(&args, b"")
    };
    let first = export("1", false);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // An existing file is overwritten only with --force.
    let refused = export("2", false);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert_eq!(std::fs::read(&target).expect("read"), b"rm -rf /");
    let forced = export("2", true);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let mut after = listing(env.dir.path());
    after.retain(|p| !before.contains(p));
    assert_eq!(after, vec!["out/export.bin".to_string()]);
    assert_eq!(std::fs::read(&target).expect("read"), b"x");
    // To stdout, the bytes as stored.
    let run = env.run(&["emails", "attachment", &id, "1"], b"");
    assert_eq!(run.stdout, "rm -rf /");
}

/// Every file under `dir`, relative, sorted (the database's WAL files
/// come and go, so they are left out).
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                let rel = rel.display().to_string();
                if !rel.starts_with("crm.db") {
                    out.push(rel);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// No SQL is built from data: every `format!` that makes SQL only splices
/// in constants (`{EMAIL_COLS}`), never a runtime value.
#[test]
fn no_sql_is_built_by_string_concatenation() {
    let src = crate::util::root().join("src");
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    walk(&src, &mut files);
    let sql = [
        "SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", "VALUES",
    ];
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, _) in text.match_indices("format!(") {
            let rest = &text[i..];
            let Some(open) = rest.find('"') else { continue };
            let lit = &rest[open + 1..];
            let mut escaped = false;
            let Some(close) = lit.char_indices().find_map(|(j, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end.then_some(j)
            }) else {
                continue;
            };
            let lit = &lit[..close];
            if !sql.iter().any(|k| lit.contains(k)) {
                continue;
            }
            checked += 1;
            for hole in lit.split('{').skip(1) {
                let name = hole.split('}').next().unwrap_or_default();
                assert!(
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()),
                    "{}: SQL built with `{{{name}}}`: {lit}",
                    file.display()
                );
            }
        }
    }
    assert!(checked > 0, "the check found no SQL at all");
}
