//! Fuzzing parse + route with proptest (stable Rust): arbitrary bytes, and
//! messages assembled from the pieces parsers trip on (boundaries,
//! encodings, folds, RFC 2047/2231, NULs, stray `=`), cut and mutated.
//! Nothing may panic. A short run is part of `cargo test`; the long one
//! (`--ignored`) runs in .ci/run.
//!
//! Every crash ever found stays: proptest records the seed under
//! `proptest-regressions/` (replayed first on every run), and the input
//! itself goes into `fixtures/fuzz/`, which the last test replays through
//! the library and the real binary.

use std::path::Path;

use mailroom::pipeline::Pipeline;
use mailroom::rules::Config;
use proptest::prelude::*;

/// parse + route (and the report) for one input, as `--dry-run` does.
fn parse_and_route(raw: &[u8]) {
    thread_local! {
        static CONFIG: Config = {
            let source = std::fs::read_to_string(crate::util::root().join("rules.example.yaml"))
                .unwrap_or_default();
            Config::parse(Path::new("rules.example.yaml"), &source)
                .map(|l| l.config)
                .unwrap_or_else(|_| Config::builtin())
        };
    }
    let mut store = mailroom::store::open_read_only(&mailroom::store::Location::File(
        "/nonexistent/mailroom.db".into(),
    ))
    .expect("store");
    CONFIG.with(|config| {
        let pipeline = Pipeline {
            config,
            store: &mut *store,
            envelope: Some("crm+case@example.com"),
            now: "2026-11-27T10:00:00Z".into(),
        };
        let _ = pipeline.dry_run(raw, true);
    });
}

const PIECES: &[&str] = &[
    "From: Ann <ann@x.example>\r\n",
    "From: \r\n",
    "From: =?utf-8?B?QW5u?= <a@b>, \"q,\\\" x\" <c@d>\r\n",
    "To: crm+case@example.com, crm+345@example.com\r\n",
    "Cc: group: a@b, c@d;\r\n",
    "Subject: Re: [CASE-12] =?iso-8859-1?Q?caf=E9?=\r\n",
    "Subject: =?x-unknown?Q?a?= =?utf-8?B?////?=\r\n",
    "Message-ID: <m@x>\r\n",
    "In-Reply-To: <p@x>\r\nReferences: <a@x> <p@x>\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    "Content-Type: multipart/alternative; boundary=b\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: text/plain; charset=utf-16\r\n",
    "Content-Type: text/html; charset=\"\"\r\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
    "Content-Type: message/delivery-status\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Disposition: attachment; filename*0*=utf-8''a%27b; filename*1=c\r\n",
    "Content-Disposition: attachment;\r\n filename=\r\n \"x.pdf\"\r\n",
    "Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\nList-Id: <l.x>\r\n",
    "Sensitivity: private\r\n",
    " folded continuation\r\n",
    "\r\n",
    "--b\r\n",
    "--b--\r\n",
    "text --b mid-line\r\n",
    "a==3D b =\r\n=FF=\r\n",
    "SGVsbG8gd29ybGQ=\r\n!!!@@@\r\n",
    "Company name: Acme\r\nEmail: x@y\r\n",
    "<p>Hello <b>world</p>\r\n",
    "\0\u{1b}[31m\r",
    "\u{feff}\u{202e}",
];

fn message() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => (0..PIECES.len()).prop_map(|i| PIECES[i].as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (
        proptest::collection::vec(piece, 0..40),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(|(pieces, cut, do_cut)| {
            let mut raw: Vec<u8> = pieces.concat();
            if do_cut && !raw.is_empty() {
                raw.truncate(cut % raw.len());
            }
            raw
        })
}

fn cases(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("MAILROOM_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_and_route(&raw);
    }

    #[test]
    fn assembled_messages_never_panic(raw in message()) {
        parse_and_route(&raw);
    }
}

proptest! {
    #![proptest_config(cases(10_000))]

    #[test]
    #[ignore = "long fuzzing run; run by .ci/run"]
    fn assembled_messages_never_panic_long(raw in message()) {
        parse_and_route(&raw);
    }

    #[test]
    #[ignore = "long fuzzing run; run by .ci/run"]
    fn arbitrary_bytes_never_panic_long(raw in proptest::collection::vec(any::<u8>(), 0..8192)) {
        parse_and_route(&raw);
    }
}

/// Every input the fuzzers ever crashed on, through the library and the
/// binary: exit 0 or 65, no panic.
#[test]
fn every_recorded_crash_stays_fixed() {
    let dir = crate::util::root().join("fixtures/fuzz");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/fuzz")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    let env = crate::util::Env::with_example_config();
    for file in &files {
        let raw = std::fs::read(file).expect("read");
        parse_and_route(&raw);
        let r = env.process(&raw);
        assert!(
            (r.code == 0 || r.code == 65) && !r.stderr.contains("panicked"),
            "{}: exit {}: {}",
            file.display(),
            r.code,
            r.stderr
        );
    }
}
