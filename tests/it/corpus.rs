//! Every message of the shared corpus goes through the real binary without
//! a panic, is stored exactly once, and a second pass only finds duplicates.

use crate::util::{Env, corpus_files};
use mailroom::report::Status;

#[test]
fn the_whole_corpus_files_without_a_panic() {
    let files = corpus_files();
    assert!(
        files.len() > 200,
        "corpus not found at {}",
        crate::util::corpus_dir().display()
    );
    let env = Env::with_example_config();
    let args: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut argv = vec!["process".to_string()];
    argv.extend(args);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let r = env.run(&argv, b"");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.code == 0 || r.code == 65, "exit {}: {}", r.code, r.stderr);
    let reports = r.reports();
    assert_eq!(reports.len(), files.len());
    for (file, report) in files.iter().zip(&reports) {
        assert!(
            report.status != Status::Failed
                || report
                    .reason
                    .as_deref()
                    .unwrap_or_default()
                    .contains("empty message"),
            "{}: {:?}",
            file.display(),
            report.reason
        );
    }
    // Messages sharing a Message-ID count once; everything else is stored.
    let stored = reports
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                Status::Processed | Status::Skipped | Status::Unparsed
            )
        })
        .count();
    assert_eq!(env.emails().len(), stored);

    let again = env.run(&argv, b"");
    for report in again.reports() {
        assert!(
            matches!(report.status, Status::Duplicate | Status::Failed),
            "{report:?}"
        );
    }
    assert_eq!(env.emails().len(), stored);
}

#[test]
fn every_corpus_message_parses_without_a_panic_in_process() {
    // The library entry point too, for a clearer failure than a subprocess.
    for file in corpus_files() {
        let raw = std::fs::read(&file).expect("read");
        let _ = mailroom::mail::message::parse(&raw);
    }
}
