//! Known defects of mail-parser 0.11, one fixture each
//! (`fixtures/parser-*.eml`), and the message module's workaround for
//! each: what we parse, and what `mailroom process` stores, is right.

use crate::util::{Env, fixture};
use mailroom::mail::message::{Email, parse};

fn parsed(name: &str) -> Email {
    parse(&fixture(name)).unwrap_or_else(|| panic!("{name} parses"))
}

fn names(email: &Email) -> Vec<Option<&str>> {
    email
        .attachments
        .iter()
        .map(|a| a.name.as_deref())
        .collect()
}

#[test]
fn a_boundary_string_in_the_middle_of_a_line_does_not_truncate_the_body() {
    let e = parsed("parser-boundary-midline.eml");
    assert_eq!(
        e.text.trim_end(),
        "The log says:\r\n  separator was --part-sep in the middle of a line\r\n  \
         and the closing one --part-sep-- also mid-line\r\nThe last line must survive."
    );
    assert_eq!(names(&e), vec![Some("build.log")]);
    assert_eq!(
        String::from_utf8_lossy(&e.attachments[0].content).trim_end(),
        "step 1 ok --part-sep not a delimiter\r\nstep 2 ok"
    );
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn folded_filename_parameters_are_read() {
    let e = parsed("parser-folded-filename.eml");
    assert_eq!(
        names(&e),
        vec![Some("quarterly report.pdf"), Some("invoice 2026-11.pdf")]
    );
    assert!(e.attachments.iter().all(|a| a.content == b"%PDF-1.4\n"));
}

#[test]
fn rfc2231_names_keep_their_apostrophes() {
    let e = parsed("parser-rfc2231-apostrophe.eml");
    assert_eq!(
        names(&e),
        vec![
            Some("O'Brien's report.pdf"),
            Some("Customer's notes.txt"),
            Some("Café's menu.txt"),
        ]
    );
}

#[test]
fn quoted_printable_with_a_stray_equals_sign_is_decoded() {
    let e = parsed("parser-qp-double-equals.eml");
    assert_eq!(
        e.text.trim_end(),
        "If a == b then b == a.\r\nCafé prices: x==y\r\nA long line that is soft-wrapped here."
    );
}

#[test]
fn the_binary_stores_what_the_workarounds_read() {
    let env = Env::with_example_config();
    for name in [
        "parser-boundary-midline.eml",
        "parser-folded-filename.eml",
        "parser-rfc2231-apostrophe.eml",
        "parser-qp-double-equals.eml",
    ] {
        let r = env.file(&fixture(name));
        let expected: Vec<Option<String>> = names(&parsed(name))
            .into_iter()
            .map(|n| n.map(str::to_string))
            .collect();
        let got: Vec<Option<String>> = r.attachments.iter().map(|a| a.name.clone()).collect();
        assert_eq!(got, expected, "{name}");
    }
    let id = env
        .emails()
        .iter()
        .find(|e| e.message_id.as_deref() == Some("<parser-qp-double-equals@customer.example>"))
        .expect("filed")
        .id;
    let show = env
        .run(&["emails", "show", &id.to_string(), "--json"], b"")
        .json();
    let text = show["text"].as_str().unwrap_or_default();
    assert!(text.contains("If a == b then b == a."), "{text:?}");
}
